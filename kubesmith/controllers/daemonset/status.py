"""A DaemonSet's status counters, computed from the node -> pods map (upstream
``updateDaemonSetStatus``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from kubesmith.api.types import Obj
from kubesmith.controllers.daemonset.placement import Placement
from kubesmith.controllers.daemonset.rollout import is_pod_updated
from kubesmith.controllers.util import is_pod_available, is_pod_ready, meta

COUNTERS = ("desiredNumberScheduled", "currentNumberScheduled", "numberMisscheduled",
            "numberReady", "updatedNumberScheduled", "numberAvailable", "numberUnavailable")


def oldest_first(pods: Sequence[Obj]) -> list[Obj]:
    """Scheduled pods first, then by creation time and name (upstream
    ``podByCreationTimestampAndPhase``)."""
    return sorted(pods, key=lambda p: (not (p.get("spec") or {}).get("nodeName"),
                                       str(meta(p).get("creationTimestamp") or ""),
                                       str(meta(p).get("name") or "")))


def compute_counters(ds: Obj, nodes: Sequence[Obj], node_pods: Mapping[str, Sequence[Obj]],
                     placement: Placement, hash_: str, generation: int | None,
                     now: datetime) -> dict[str, int]:
    """The status counters; each node counts once, judged by its oldest daemon pod."""
    min_ready = int((ds.get("spec") or {}).get("minReadySeconds") or 0)
    counts = dict.fromkeys(COUNTERS, 0)
    for node in nodes:
        should_run, _ = placement.evaluate(node)
        pods = node_pods.get(str(meta(node).get("name") or "")) or ()
        if not should_run:
            if pods:
                counts["numberMisscheduled"] += 1
            continue
        counts["desiredNumberScheduled"] += 1
        if not pods:
            continue
        counts["currentNumberScheduled"] += 1
        pod = oldest_first(pods)[0]
        if is_pod_ready(pod):
            counts["numberReady"] += 1
            if is_pod_available(pod, min_ready, now):
                counts["numberAvailable"] += 1
        if is_pod_updated(pod, hash_, generation):
            counts["updatedNumberScheduled"] += 1
    counts["numberUnavailable"] = counts["desiredNumberScheduled"] - counts["numberAvailable"]
    return counts


def status_current(ds: Obj, counts: Mapping[str, int]) -> bool:
    """Whether ``ds.status`` already holds ``counts`` for its current generation."""
    status = ds.get("status") or {}
    if any(int(status.get(k) or 0) != v for k, v in counts.items()):
        return False
    return int(status.get("observedGeneration") or 0) >= int(meta(ds).get("generation") or 0)
