"""Taints against tolerations and nodes against node selectors, as upstream's
``component-helpers/scheduling/corev1`` decides them. Shared by the plugins that need them
(TaintToleration, NodeUnschedulable, NodeAffinity, PodTopologySpread, VolumeBinding).

Everything is compiled once (per pod, per node, per PersistentVolume) into small objects
with a ``matches`` method, so the per-node checks of a scheduling cycle do no parsing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kubesmith.api.selectors import Operator, Requirement, SelectorError

NO_SCHEDULE = "NoSchedule"
PREFER_NO_SCHEDULE = "PreferNoSchedule"
NO_EXECUTE = "NoExecute"


@dataclass(frozen=True, slots=True)
class Taint:
    """A node taint."""

    key: str
    value: str
    effect: str

    @classmethod
    def from_object(cls, obj: Mapping[str, Any]) -> Taint:
        """From a ``v1.Taint``."""
        return cls(str(obj.get("key") or ""), str(obj.get("value") or ""),
                   str(obj.get("effect") or ""))


@dataclass(frozen=True, slots=True)
class Toleration:
    """A pod toleration."""

    key: str
    operator: str
    value: str
    effect: str

    @classmethod
    def from_object(cls, obj: Mapping[str, Any]) -> Toleration:
        """From a ``v1.Toleration`` (operator defaults to Equal)."""
        return cls(str(obj.get("key") or ""), str(obj.get("operator") or "Equal"),
                   str(obj.get("value") or ""), str(obj.get("effect") or ""))

    def tolerates(self, taint: Taint) -> bool:
        """Upstream ``Toleration.ToleratesTaint``: an empty effect matches every effect, an
        empty key with ``Exists`` matches every key."""
        if self.effect and self.effect != taint.effect:
            return False
        if self.key and self.key != taint.key:
            return False
        if self.operator == "Exists":
            return True
        if self.operator == "Equal":
            return self.value == taint.value
        return False


def tolerated(taint: Taint, tolerations: Sequence[Toleration]) -> bool:
    """Whether any toleration tolerates ``taint``."""
    for toleration in tolerations:  # noqa: SIM110 - hot path, plain loop
        if toleration.tolerates(taint):
            return True
    return False


def first_untolerated(taints: Sequence[Taint], tolerations: Sequence[Toleration],
                      effects: frozenset[str]) -> Taint | None:
    """The first taint with one of ``effects`` that no toleration tolerates."""
    for taint in taints:
        if taint.effect in effects and not tolerated(taint, tolerations):
            return taint
    return None


_NODE_OPERATORS = {"In": Operator.IN, "NotIn": Operator.NOT_IN, "Exists": Operator.EXISTS,
                   "DoesNotExist": Operator.DOES_NOT_EXIST, "Gt": Operator.GREATER_THAN,
                   "Lt": Operator.LESS_THAN}


def _requirements(exprs: Sequence[Mapping[str, Any]]) -> tuple[Requirement, ...] | None:
    """Compiled node selector requirements, or None when one is invalid (upstream then
    treats the whole term as not matching)."""
    out: list[Requirement] = []
    for expr in exprs:
        op = _NODE_OPERATORS.get(str(expr.get("operator") or ""))
        if op is None:
            return None
        try:
            out.append(Requirement.new(str(expr.get("key") or ""), op,
                                       [str(v) for v in expr.get("values") or ()]))
        except SelectorError:
            return None
    return tuple(out)


@dataclass(frozen=True, slots=True)
class NodeSelectorTerm:
    """One ``nodeSelectorTerm``: all its label expressions and field expressions (only
    ``metadata.name`` exists) must match. An empty or invalid term matches nothing."""

    labels: tuple[Requirement, ...]
    fields: tuple[Requirement, ...]
    valid: bool

    @classmethod
    def from_object(cls, term: Mapping[str, Any]) -> NodeSelectorTerm:
        """Compile a ``v1.NodeSelectorTerm``."""
        exprs = term.get("matchExpressions") or ()
        fields = term.get("matchFields") or ()
        label_reqs = _requirements(exprs)
        field_reqs: list[Requirement] = []
        valid = label_reqs is not None and bool(exprs or fields)
        for expr in fields:
            op = str(expr.get("operator") or "")
            values = [str(v) for v in expr.get("values") or ()]
            if expr.get("key") != "metadata.name" or op not in ("In", "NotIn") \
                    or len(values) != 1:
                valid = False
                continue
            field_reqs.append(Requirement("metadata.name", _NODE_OPERATORS[op], tuple(values)))
        return cls(label_reqs or (), tuple(field_reqs), valid)

    def matches(self, labels: Mapping[str, str], fields: Mapping[str, str]) -> bool:
        """Whether a node with ``labels`` and ``fields`` ({"metadata.name": ...}) matches."""
        if not self.valid:
            return False
        for req in self.labels:
            if not req.matches(labels):
                return False
        for req in self.fields:  # noqa: SIM110
            if not req.matches(fields):
                return False
        return True

    def node_names(self) -> frozenset[str] | None:
        """The node names this term is limited to by ``metadata.name In``, if it is."""
        names: frozenset[str] | None = None
        for req in self.fields:
            if req.operator is Operator.IN:
                names = frozenset(req.values) if names is None else names & set(req.values)
        return names


@dataclass(frozen=True, slots=True)
class NodeSelector:
    """A ``v1.NodeSelector``: its terms are ORed."""

    terms: tuple[NodeSelectorTerm, ...]

    @classmethod
    def from_object(cls, selector: Mapping[str, Any]) -> NodeSelector:
        """Compile a ``v1.NodeSelector``."""
        return cls(tuple(NodeSelectorTerm.from_object(t)
                         for t in selector.get("nodeSelectorTerms") or ()))

    def matches(self, labels: Mapping[str, str], name: str) -> bool:
        """Whether the node ``name`` with ``labels`` matches any term."""
        fields = {"metadata.name": name}
        for term in self.terms:  # noqa: SIM110
            if term.matches(labels, fields):
                return True
        return False


@dataclass(frozen=True, slots=True)
class RequiredNodeAffinity:
    """``spec.nodeSelector`` AND ``requiredDuringSchedulingIgnoredDuringExecution``
    (upstream ``nodeaffinity.RequiredNodeAffinity``)."""

    node_selector: tuple[tuple[str, str], ...]
    affinity: NodeSelector | None

    @classmethod
    def from_pod_spec(cls, spec: Mapping[str, Any]) -> RequiredNodeAffinity | None:
        """None when the pod constrains nothing (the common case: no check per node)."""
        selector = spec.get("nodeSelector") or {}
        required = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
                    .get("requiredDuringSchedulingIgnoredDuringExecution"))
        if not selector and required is None:
            return None
        return cls(tuple((str(k), str(v)) for k, v in selector.items()),
                   NodeSelector.from_object(required) if required is not None else None)

    def matches(self, labels: Mapping[str, str], name: str) -> bool:
        """Whether a node with ``labels`` and ``name`` satisfies both parts."""
        for key, val in self.node_selector:
            if labels.get(key) != val:
                return False
        return self.affinity is None or self.affinity.matches(labels, name)
