"""Which surplus pods a ReplicaSet deletes first (upstream ``getPodsToDelete`` and
``ActivePodsWithRanks``): unscheduled, pending, not ready, lower ``pod-deletion-cost``,
doubled up on a node with pods of the same owner, ready for less time (log scale), more
restarts, newer (log scale)."""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from datetime import UTC, datetime

from kubesmith.api.types import Obj
from kubesmith.controllers.util import (
    get_condition,
    is_pod_active,
    is_pod_ready,
    meta,
    parse_rfc3339,
    pod_phase,
)

#: ``controller.kubernetes.io/pod-deletion-cost``: lower is deleted first.
POD_DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"

_PHASE_ORDINAL = {"Pending": 0, "Unknown": 1, "Running": 2}


def _deletion_cost(pod: Obj) -> int:
    raw = (meta(pod).get("annotations") or {}).get(POD_DELETION_COST)
    try:
        value = int(str(raw)) if raw is not None else 0
    except ValueError:
        return 0
    return value if -(2 ** 31) <= value < 2 ** 31 else 0


def _ready_since(pod: Obj) -> datetime | None:
    cond = get_condition(pod, "Ready")
    if cond is None or cond.get("status") != "True":
        return None
    return parse_rfc3339(cond.get("lastTransitionTime"))


def _max_restarts(pod: Obj) -> int:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return max((int(c.get("restartCount") or 0) for c in statuses), default=0)


def _log_bucket(moment: datetime, now: datetime) -> int:
    # The age's binary order of magnitude in nanoseconds: pods of "about the same age" tie.
    age = (now - moment).total_seconds() * 1e9
    return int(math.log2(age)) if age > 0 else -1


def _newer_first(a: datetime | None, b: datetime | None, now: datetime,
                 uid_a: str, uid_b: str) -> int:
    """-1 when ``a`` should go first: unknown times first, then the newer on a log scale
    (ties broken by uid for a stable pseudo-random order)."""
    if a is None or b is None:
        return -1 if a is None else 1
    diff = _log_bucket(a, now) - _log_bucket(b, now)
    if diff == 0:
        return -1 if uid_a < uid_b else (1 if uid_a > uid_b else 0)
    return -1 if diff < 0 else 1


def _compare_for_deletion(a: tuple[Obj, int], b: tuple[Obj, int], now: datetime) -> int:
    pa, rank_a = a
    pb, rank_b = b
    node_a = (pa.get("spec") or {}).get("nodeName") or ""
    node_b = (pb.get("spec") or {}).get("nodeName") or ""
    if node_a != node_b and (not node_a or not node_b):
        return -1 if not node_a else 1
    phase_a = _PHASE_ORDINAL.get(pod_phase(pa), 0)
    phase_b = _PHASE_ORDINAL.get(pod_phase(pb), 0)
    if phase_a != phase_b:
        return -1 if phase_a < phase_b else 1
    ready_a, ready_b = is_pod_ready(pa), is_pod_ready(pb)
    if ready_a != ready_b:
        return -1 if not ready_a else 1
    cost_a, cost_b = _deletion_cost(pa), _deletion_cost(pb)
    if cost_a != cost_b:
        return -1 if cost_a < cost_b else 1
    if rank_a != rank_b:
        return -1 if rank_a > rank_b else 1
    uid_a, uid_b = str(meta(pa).get("uid") or ""), str(meta(pb).get("uid") or "")
    if ready_a and ready_b:
        since_a, since_b = _ready_since(pa), _ready_since(pb)
        if since_a != since_b:
            return _newer_first(since_a, since_b, now, uid_a, uid_b)
    restarts_a, restarts_b = _max_restarts(pa), _max_restarts(pb)
    if restarts_a != restarts_b:
        return -1 if restarts_a > restarts_b else 1
    created_a = parse_rfc3339(meta(pa).get("creationTimestamp"))
    created_b = parse_rfc3339(meta(pb).get("creationTimestamp"))
    if created_a != created_b:
        return _newer_first(created_a, created_b, now, uid_a, uid_b)
    return 0


def pods_to_delete(pods: list[Obj], related: Iterable[Obj], count: int,
                   now: datetime | None = None) -> list[Obj]:
    """The ``count`` pods to delete first (upstream ``getPodsToDelete``). ``related`` are
    the active pods of every ReplicaSet with the same owner: a pod sharing its node with
    more of them is "doubled up" and goes first."""
    if count >= len(pods):
        return list(pods)
    on_node: dict[str, int] = {}
    for pod in related:
        if is_pod_active(pod):
            node = str((pod.get("spec") or {}).get("nodeName") or "")
            on_node[node] = on_node.get(node, 0) + 1
    ranked = [(pod, on_node.get(str((pod.get("spec") or {}).get("nodeName") or ""), 0))
              for pod in pods]
    moment = now or datetime.now(UTC)

    def compare(a: tuple[Obj, int], b: tuple[Obj, int]) -> int:
        return _compare_for_deletion(a, b, moment)

    ranked.sort(key=functools.cmp_to_key(compare))
    return [pod for pod, _ in ranked[:count]]
