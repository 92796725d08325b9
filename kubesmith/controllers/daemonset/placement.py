"""Which nodes a DaemonSet runs on, and the pods it creates for them.

Upstream places daemon pods with the default scheduler: the controller only decides that a
node should run one (node name, nodeSelector, required node affinity, taints against the
template's tolerations plus the default daemon tolerations) and creates the pod with a
required node affinity ``metadata.name In [node]``; the scheduler binds it there.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from kubesmith.api.types import Obj
from kubesmith.controllers.history import REVISION_HASH_LABEL
from kubesmith.controllers.util import labels_of, meta
from kubesmith.scheduler.matching import (
    NO_EXECUTE,
    NO_SCHEDULE,
    RequiredNodeAffinity,
    Taint,
    Toleration,
    first_untolerated,
)

#: Label with the DaemonSet's template generation its pods were made from.
TEMPLATE_GENERATION_LABEL = "pod-template-generation"
#: Annotation (set by the API server) holding the DaemonSet's template generation.
TEMPLATE_GENERATION_ANNOTATION = "deprecated.daemonset.template.generation"

# Daemon pods survive the node conditions that evict or repel ordinary pods: they are often
# what fixes the node (upstream AddOrUpdateDaemonPodTolerations).
_DEFAULT_TOLERATIONS: tuple[tuple[str, str], ...] = (
    ("node.kubernetes.io/not-ready", NO_EXECUTE),
    ("node.kubernetes.io/unreachable", NO_EXECUTE),
    ("node.kubernetes.io/disk-pressure", NO_SCHEDULE),
    ("node.kubernetes.io/memory-pressure", NO_SCHEDULE),
    ("node.kubernetes.io/pid-pressure", NO_SCHEDULE),
    ("node.kubernetes.io/unschedulable", NO_SCHEDULE),
)
# Only host-network pods can run before the node's network is up.
_HOST_NETWORK_TOLERATION = ("node.kubernetes.io/network-unavailable", NO_SCHEDULE)

_NO_EXECUTE = frozenset({NO_EXECUTE})
_NO_EXECUTE_OR_SCHEDULE = frozenset({NO_EXECUTE, NO_SCHEDULE})


def add_daemon_tolerations(pod_spec: dict[str, Any]) -> None:
    """Add the default daemon tolerations to ``pod_spec`` (in place); an existing toleration
    with the same key, operator, value and effect is replaced, others are kept."""
    wanted = list(_DEFAULT_TOLERATIONS)
    if pod_spec.get("hostNetwork"):
        wanted.append(_HOST_NETWORK_TOLERATION)
    tolerations: list[dict[str, Any]] = list(pod_spec.get("tolerations") or [])
    for key, effect in wanted:
        toleration = {"key": key, "operator": "Exists", "effect": effect}
        for i, existing in enumerate(tolerations):
            if existing.get("key") == key and existing.get("effect") == effect and \
                    existing.get("operator") == "Exists" and not existing.get("value"):
                tolerations[i] = toleration
                break
        else:
            tolerations.append(toleration)
    pod_spec["tolerations"] = tolerations


def template_generation(ds: Obj) -> int | None:
    """The template generation the API server recorded, if any (upstream
    ``GetTemplateGeneration``)."""
    raw = (meta(ds).get("annotations") or {}).get(TEMPLATE_GENERATION_ANNOTATION)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class Placement:
    """A DaemonSet's node constraints, compiled once per sync (upstream
    ``NodeShouldRunDaemonPod``)."""

    node_name: str
    affinity: RequiredNodeAffinity | None
    tolerations: tuple[Toleration, ...]

    @classmethod
    def of(cls, ds: Obj) -> Placement:
        """Compile ``ds``'s template constraints (with the default daemon tolerations)."""
        spec = copy.deepcopy(((ds.get("spec") or {}).get("template") or {}).get("spec") or {})
        add_daemon_tolerations(spec)
        return cls(str(spec.get("nodeName") or ""), RequiredNodeAffinity.from_pod_spec(spec),
                   tuple(Toleration.from_object(t) for t in spec["tolerations"]))

    def evaluate(self, node: Obj) -> tuple[bool, bool]:
        """``(should_run, should_continue_running)`` for ``node``: whether a new daemon pod
        belongs there, and whether one already there may stay (it may when only NoSchedule
        taints are not tolerated)."""
        name = str(meta(node).get("name") or "")
        if self.node_name and self.node_name != name:
            return False, False
        if self.affinity is not None and not self.affinity.matches(labels_of(node), name):
            return False, False
        taints = [Taint.from_object(t) for t in (node.get("spec") or {}).get("taints") or ()]
        if not taints or first_untolerated(taints, self.tolerations,
                                           _NO_EXECUTE_OR_SCHEDULE) is None:
            return True, True
        return False, first_untolerated(taints, self.tolerations, _NO_EXECUTE) is None


def target_node(pod: Obj) -> str | None:
    """The node a daemon pod runs on or is meant for: ``spec.nodeName``, else the
    ``metadata.name In [node]`` of its required node affinity (upstream
    ``GetTargetNodeName``)."""
    spec = pod.get("spec") or {}
    if spec.get("nodeName"):
        return str(spec["nodeName"])
    required = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution") or {})
    for term in required.get("nodeSelectorTerms") or ():
        for expr in term.get("matchFields") or ():
            if expr.get("key") == "metadata.name" and expr.get("operator") == "In":
                values = expr.get("values") or []
                return str(values[0]) if len(values) == 1 else None
    return None


def pod_template(ds: Obj, generation: int | None, hash_: str) -> Obj:
    """The template new daemon pods are made from: the DaemonSet's, with the default
    tolerations and the generation and revision-hash labels (upstream
    ``CreatePodTemplate``)."""
    template = copy.deepcopy((ds.get("spec") or {}).get("template") or {})
    template_meta = template.setdefault("metadata", {})
    labels = dict(template_meta.get("labels") or {})
    if generation is not None:
        labels[TEMPLATE_GENERATION_LABEL] = str(generation)
    if hash_:
        labels[REVISION_HASH_LABEL] = hash_
    template_meta["labels"] = labels
    add_daemon_tolerations(template.setdefault("spec", {}))
    return template


def pin_to_node(pod_spec: dict[str, Any], node_name: str) -> None:
    """Make ``pod_spec`` require ``node_name`` (in place), replacing any required node
    terms: the controller already checked the node satisfies them (upstream
    ``ReplaceDaemonSetPodNodeNameNodeAffinity``)."""
    terms = [{"matchFields": [{"key": "metadata.name", "operator": "In",
                               "values": [node_name]}]}]
    affinity = pod_spec.setdefault("affinity", {}) or {}
    pod_spec["affinity"] = affinity
    node_affinity = affinity.setdefault("nodeAffinity", {}) or {}
    affinity["nodeAffinity"] = node_affinity
    required = node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or {}
    required["nodeSelectorTerms"] = terms
    node_affinity["requiredDuringSchedulingIgnoredDuringExecution"] = required
