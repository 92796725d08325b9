"""What the scheduler needs to know about a pod, computed once per pod version.

A :class:`PodInfo` wraps the pod object (never modified: it is the informer's) with its
request vectors, host ports, tolerations and compiled affinity, anti-affinity and
topology-spread terms, so plugins compare integers and call compiled matchers instead of
walking the pod's JSON for every node (upstream's ``framework.PodInfo`` does the same).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kubesmith.api.selectors import (
    NOTHING,
    LabelSelector,
    Operator,
    Requirement,
    SelectorError,
    label_selector_from_object,
)
from kubesmith.api.types import Obj
from kubesmith.scheduler.matching import RequiredNodeAffinity, Toleration
from kubesmith.scheduler.resources import pod_requests

#: Labels of a namespace by name (InterPodAffinity's namespaceSelector needs them).
NamespaceLabels = Callable[[str], Mapping[str, str]]

HostPort = tuple[str, str, int]  # (hostIP, protocol, hostPort)


def _selector(obj: Mapping[str, Any] | None) -> LabelSelector:
    """A structured selector; an invalid one matches nothing, as upstream's callers treat
    the conversion error."""
    try:
        return label_selector_from_object(obj)
    except SelectorError:
        return NOTHING


def _with_label_keys(selector: LabelSelector, labels: Mapping[str, str],
                     match_keys: Any, mismatch_keys: Any = ()) -> LabelSelector:
    """``matchLabelKeys`` / ``mismatchLabelKeys``: the pod's own values of those keys become
    ``In`` / ``NotIn`` requirements of the selector."""
    extra: list[Requirement] = []
    for key in match_keys or ():
        if key in labels:
            extra.append(Requirement(str(key), Operator.IN, (labels[key],)))
    for key in mismatch_keys or ():
        if key in labels:
            extra.append(Requirement(str(key), Operator.NOT_IN, (labels[key],)))
    if not extra or selector.matches_nothing:
        return selector
    return LabelSelector((*selector.requirements, *extra))


@dataclass(frozen=True, slots=True)
class AffinityTerm:
    """A compiled ``PodAffinityTerm``: which pods (namespaces + labels) in which topology."""

    selector: LabelSelector
    namespaces: frozenset[str]
    namespace_selector: LabelSelector | None
    topology_key: str

    @classmethod
    def from_object(cls, term: Mapping[str, Any], pod_namespace: str,
                    pod_labels: Mapping[str, str]) -> AffinityTerm:
        """Compile; no namespaces and no namespaceSelector mean the pod's own namespace."""
        selector = _with_label_keys(_selector(term.get("labelSelector")), pod_labels,
                                    term.get("matchLabelKeys"), term.get("mismatchLabelKeys"))
        namespaces = frozenset(str(n) for n in term.get("namespaces") or ())
        raw_ns_selector = term.get("namespaceSelector")
        ns_selector = _selector(raw_ns_selector) if raw_ns_selector is not None else None
        if not namespaces and ns_selector is None:
            namespaces = frozenset((pod_namespace,))
        return cls(selector, namespaces, ns_selector, str(term.get("topologyKey") or ""))

    def matches(self, pod: PodInfo, namespace_labels: NamespaceLabels) -> bool:
        """Whether ``pod`` is one of the pods this term selects."""
        if pod.namespace not in self.namespaces:
            if self.namespace_selector is None or self.namespace_selector.matches_nothing:
                return False
            if not self.namespace_selector.empty and \
                    not self.namespace_selector.matches(namespace_labels(pod.namespace)):
                return False
        return self.selector.matches(pod.labels)


@dataclass(frozen=True, slots=True)
class WeightedAffinityTerm:
    """A preferred (anti-)affinity term with its weight."""

    term: AffinityTerm
    weight: int


@dataclass(frozen=True, slots=True)
class SpreadConstraint:
    """A compiled ``TopologySpreadConstraint``."""

    max_skew: int
    topology_key: str
    hard: bool  # whenUnsatisfiable: DoNotSchedule
    selector: LabelSelector
    min_domains: int
    honor_node_affinity: bool  # nodeAffinityPolicy (default Honor)
    honor_node_taints: bool  # nodeTaintsPolicy (default Ignore)

    @classmethod
    def from_object(cls, obj: Mapping[str, Any], pod_labels: Mapping[str, str]
                    ) -> SpreadConstraint:
        """Compile, merging ``matchLabelKeys`` into the selector."""
        selector = _with_label_keys(_selector(obj.get("labelSelector")), pod_labels,
                                    obj.get("matchLabelKeys"))
        return cls(max_skew=int(obj.get("maxSkew") or 1),
                   topology_key=str(obj.get("topologyKey") or ""),
                   hard=obj.get("whenUnsatisfiable", "DoNotSchedule") == "DoNotSchedule",
                   selector=selector,
                   min_domains=int(obj.get("minDomains") or 1),
                   honor_node_affinity=obj.get("nodeAffinityPolicy", "Honor") != "Ignore",
                   honor_node_taints=obj.get("nodeTaintsPolicy", "Ignore") == "Honor")


def _weighted(terms: Any, namespace: str, labels: Mapping[str, str]
              ) -> tuple[WeightedAffinityTerm, ...]:
    if not terms:
        return ()
    return tuple(WeightedAffinityTerm(
        AffinityTerm.from_object(t.get("podAffinityTerm") or {}, namespace, labels),
        int(t.get("weight") or 0)) for t in terms or ())


def _required(terms: Any, namespace: str, labels: Mapping[str, str]
              ) -> tuple[AffinityTerm, ...]:
    if not terms:
        return ()
    return tuple(AffinityTerm.from_object(t, namespace, labels) for t in terms or ())


def _host_ports(spec: Mapping[str, Any]) -> tuple[HostPort, ...]:
    ports: list[HostPort] = []
    for group in ("initContainers", "containers"):
        for container in spec.get(group) or ():
            if group == "initContainers" and container.get("restartPolicy") != "Always":
                continue
            for port in container.get("ports") or ():
                host_port = int(port.get("hostPort") or 0)
                if host_port > 0:
                    ports.append((str(port.get("hostIP") or "0.0.0.0"),
                                  str(port.get("protocol") or "TCP"), host_port))
    return tuple(ports)


def parse_time(text: Any) -> float:
    """Seconds since the epoch of an RFC 3339 timestamp; 0 for none."""
    if not text:
        return 0.0
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


class PodInfo:
    """A pod and everything the plugins precompute from it (see the module docstring)."""

    __slots__ = (
        "affinity", "anti_affinity", "creation", "deleting", "host_ports", "key", "labels",
        "name", "namespace", "node_affinity", "node_name", "nominated_node_name",
        "non_zero_cpu", "non_zero_memory", "pod", "preemption_never", "preferred_affinity",
        "preferred_anti_affinity", "priority", "requests", "scheduler_name",
        "scheduling_gated", "spread_constraints", "start_time", "tolerations", "uid",
        "volume_claims",
    )

    def __init__(self, pod: Obj) -> None:
        meta = pod.get("metadata") or {}
        spec = pod.get("spec") or {}
        status = pod.get("status") or {}
        self.pod = pod
        self.namespace: str = meta.get("namespace") or ""
        self.name: str = meta.get("name") or ""
        self.key = f"{self.namespace}/{self.name}"
        self.uid: str = meta.get("uid") or ""
        self.labels: dict[str, str] = meta.get("labels") or {}
        self.deleting = bool(meta.get("deletionTimestamp"))
        self.creation = parse_time(meta.get("creationTimestamp"))
        self.start_time = parse_time(status.get("startTime")) or self.creation
        self.node_name: str = spec.get("nodeName") or ""
        self.nominated_node_name: str = status.get("nominatedNodeName") or ""
        self.scheduler_name: str = spec.get("schedulerName") or "default-scheduler"
        self.scheduling_gated = bool(spec.get("schedulingGates"))
        self.priority = int(spec.get("priority") or 0)
        self.preemption_never = spec.get("preemptionPolicy") == "Never"
        self.requests = pod_requests(spec)
        nz = pod_requests(spec, non_zero=True)
        self.non_zero_cpu = nz.milli_cpu
        self.non_zero_memory = nz.memory
        self.host_ports = _host_ports(spec)
        tolerations = spec.get("tolerations")
        self.tolerations = tuple(Toleration.from_object(t) for t in tolerations) \
            if tolerations else ()
        self.node_affinity = RequiredNodeAffinity.from_pod_spec(spec)
        affinity = spec.get("affinity")
        pod_aff = (affinity.get("podAffinity") or {}) if affinity else {}
        anti = (affinity.get("podAntiAffinity") or {}) if affinity else {}
        ns, labels = self.namespace, self.labels
        self.affinity = _required(
            pod_aff.get("requiredDuringSchedulingIgnoredDuringExecution"), ns, labels)
        self.anti_affinity = _required(
            anti.get("requiredDuringSchedulingIgnoredDuringExecution"), ns, labels)
        self.preferred_affinity = _weighted(
            pod_aff.get("preferredDuringSchedulingIgnoredDuringExecution"), ns, labels)
        self.preferred_anti_affinity = _weighted(
            anti.get("preferredDuringSchedulingIgnoredDuringExecution"), ns, labels)
        constraints = spec.get("topologySpreadConstraints")
        self.spread_constraints = tuple(
            SpreadConstraint.from_object(c, labels) for c in constraints) if constraints else ()
        self.volume_claims = _volume_claims(self.name, spec) if spec.get("volumes") else ()

    @property
    def typed(self) -> Obj:
        """The pod with ``kind`` and ``apiVersion`` (items of a LIST come without them, and
        an Event's involvedObject needs them); the cached object itself is not changed."""
        pod = self.pod
        if pod.get("kind") == "Pod" and pod.get("apiVersion") == "v1":
            return pod
        return {**pod, "kind": "Pod", "apiVersion": "v1"}

    @property
    def has_affinity_terms(self) -> bool:
        """Whether the pod has any pod (anti-)affinity term, required or preferred."""
        return bool(self.affinity or self.anti_affinity or self.preferred_affinity
                    or self.preferred_anti_affinity)

    def __repr__(self) -> str:
        return f"PodInfo({self.key})"


def _volume_claims(pod_name: str, spec: Mapping[str, Any]) -> tuple[str, ...]:
    """Names of the PersistentVolumeClaims a pod uses (generic ephemeral volumes included:
    their claim is ``<pod>-<volume>``)."""
    claims: list[str] = []
    for volume in spec.get("volumes") or ():
        pvc = volume.get("persistentVolumeClaim")
        if pvc:
            claims.append(str(pvc.get("claimName") or ""))
        elif volume.get("ephemeral"):
            claims.append(f"{pod_name}-{volume.get('name')}")
    return tuple(claims)

