"""How the Job controller looks at pods: the tracking finalizer, when a pod counts as
failed, finish times and the order in which surplus active pods are removed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from kubesmith.api.types import Obj
from kubesmith.controllers.util import (
    get_condition,
    is_pod_ready,
    is_terminating,
    meta,
    parse_rfc3339,
    pod_phase,
)

TRACKING_FINALIZER = "batch.kubernetes.io/job-tracking"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def has_tracking_finalizer(pod: Obj) -> bool:
    """Whether the pod still carries ``batch.kubernetes.io/job-tracking``."""
    return TRACKING_FINALIZER in (meta(pod).get("finalizers") or ())


def remove_tracking_finalizer_patch(pod: Obj) -> dict[str, Any] | None:
    """The strategic merge patch that drops the tracking finalizer (None if absent)."""
    if not has_tracking_finalizer(pod):
        return None
    return {"metadata": {"$deleteFromPrimitiveList/finalizers": [TRACKING_FINALIZER]}}


def only_replace_failed_pods(job: Obj) -> bool:
    """Replacement pods wait for terminating ones to fail (podReplacementPolicy: Failed,
    implied by a podFailurePolicy)."""
    spec = job.get("spec") or {}
    return spec.get("podReplacementPolicy") == "Failed" or \
        spec.get("podFailurePolicy") is not None


def is_pod_failed(pod: Obj, job: Obj) -> bool:
    """Failed phase; or, unless only failed pods are replaced, deleted before succeeding
    (an orphan may never reach the Failed phase)."""
    phase = pod_phase(pod)
    if phase == "Failed":
        return True
    if only_replace_failed_pods(job):
        return False
    return is_terminating(pod) and phase != "Succeeded"


def is_counted_terminating(pod: Obj) -> bool:
    """Being deleted but not finished (upstream's ``CountTerminatingPods``)."""
    return is_terminating(pod) and pod_phase(pod) not in ("Succeeded", "Failed")


def _time(value: Any) -> datetime | None:
    return parse_rfc3339(value) if isinstance(value, str) else None


def finished_time(pod: Obj) -> datetime:
    """When the pod finished: the last container to terminate, else the Ready=False
    transition, else its deletion time less the grace period, else its creation."""
    status = pod.get("status") or {}
    latest: datetime | None = None
    statuses = status.get("containerStatuses") or []
    for container in statuses:
        terminated = (container.get("state") or {}).get("terminated") or {}
        finished = _time(terminated.get("finishedAt"))
        if finished is None:
            latest = None
            break
        latest = finished if latest is None or finished > latest else latest
    if latest is not None:
        return latest
    ready = get_condition(pod, "Ready")
    if ready is not None and ready.get("status") == "False":
        since = _time(ready.get("lastTransitionTime"))
        if since is not None:
            return since
    pod_meta = meta(pod)
    deleted = _time(pod_meta.get("deletionTimestamp"))
    if deleted is not None:
        return deleted - timedelta(seconds=int(pod_meta.get("deletionGracePeriodSeconds") or 0))
    return _time(pod_meta.get("creationTimestamp")) or _EPOCH


def _restarts(pod: Obj) -> int:
    status = pod.get("status") or {}
    return sum(int(c.get("restartCount") or 0)
               for c in (status.get("containerStatuses") or []))


_PHASE_RANK = {"Pending": 0, "Unknown": 1, "Running": 2}


def removal_order_key(pod: Obj) -> tuple[Any, ...]:
    """Sort key putting first the pods cheapest to lose (upstream's ``ActivePods``):
    unscheduled, pending, not ready, ready for the shortest time, most restarts, newest."""
    spec = pod.get("spec") or {}
    ready = is_pod_ready(pod)
    # Among ready pods, an unknown ready time sorts first, then the most recently ready.
    ready_rank = 0.0
    if ready:
        since = _time((get_condition(pod, "Ready") or {}).get("lastTransitionTime"))
        ready_rank = -since.timestamp() if since else float("-inf")
    created = _time(meta(pod).get("creationTimestamp"))
    return (
        1 if spec.get("nodeName") else 0,
        _PHASE_RANK.get(pod_phase(pod), 3),
        1 if ready else 0,
        ready_rank,
        -_restarts(pod),
        -created.timestamp() if created else float("-inf"),
    )


def restart_count_total(pod: Obj) -> int:
    """Restarts of every (init) container, for restartPolicy OnFailure backoff."""
    status = pod.get("status") or {}
    return sum(int(c.get("restartCount") or 0)
               for key in ("initContainerStatuses", "containerStatuses")
               for c in (status.get(key) or []))
