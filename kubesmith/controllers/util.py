"""Small helpers every controller needs: owner references, pod state, conditions and
timestamps — one definition each so controllers agree on what "active" or "ready" means."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kubesmith.api.selectors import LabelSelector, label_selector_from_object
from kubesmith.api.types import Obj


def now_rfc3339() -> str:
    """The current time as the API writes timestamps (seconds precision, UTC)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(value: str | None) -> datetime | None:
    """Parse an API timestamp (seconds or fractional precision); None when absent/bad."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def meta(obj: Obj) -> dict[str, Any]:
    """``obj.metadata`` (an empty dict when missing)."""
    found: dict[str, Any] = obj.get("metadata") or {}
    return found


def owner_reference(owner: Obj, *, controller: bool = True,
                    block_owner_deletion: bool = True) -> dict[str, Any]:
    """An ownerReference to ``owner`` (as a controller of what it creates)."""
    m = meta(owner)
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": m["name"],
            "uid": m["uid"], "controller": controller,
            "blockOwnerDeletion": block_owner_deletion}


def controller_ref(obj: Obj) -> dict[str, Any] | None:
    """The ownerReference with ``controller: true``, if any."""
    for ref in meta(obj).get("ownerReferences") or ():
        if ref.get("controller"):
            found: dict[str, Any] = ref
            return found
    return None


def is_controlled_by(obj: Obj, owner: Obj) -> bool:
    """Whether ``owner`` is ``obj``'s controller (by uid)."""
    ref = controller_ref(obj)
    return ref is not None and ref.get("uid") == meta(owner).get("uid")


def is_terminating(obj: Obj) -> bool:
    """Whether deletion of ``obj`` has begun."""
    return bool(meta(obj).get("deletionTimestamp"))


def selector_of(obj: Obj) -> LabelSelector:
    """``spec.selector`` (a LabelSelector object) compiled; an absent selector matches
    nothing, as for workload controllers."""
    sel = (obj.get("spec") or {}).get("selector")
    if not sel:
        return label_selector_from_object({"matchExpressions": [
            {"key": "kubesmith.io/never", "operator": "In", "values": ["never"]}]})
    return label_selector_from_object(sel)


def labels_of(obj: Obj) -> dict[str, str]:
    """``metadata.labels`` (empty when missing)."""
    found: dict[str, str] = meta(obj).get("labels") or {}
    return found


# ---- pods ---------------------------------------------------------------------------------

def pod_phase(pod: Obj) -> str:
    """``status.phase`` ('' when unset)."""
    return str((pod.get("status") or {}).get("phase") or "")


def is_pod_active(pod: Obj) -> bool:
    """Not finished and not being deleted (upstream's ``IsPodActive``)."""
    return pod_phase(pod) not in ("Succeeded", "Failed") and not is_terminating(pod)


def get_condition(obj: Obj, type_: str) -> dict[str, Any] | None:
    """The ``status.conditions`` entry of type ``type_``, if any."""
    for cond in (obj.get("status") or {}).get("conditions") or ():
        if cond.get("type") == type_:
            found: dict[str, Any] = cond
            return found
    return None


def is_pod_ready(pod: Obj) -> bool:
    """Whether the pod's Ready condition is True."""
    cond = get_condition(pod, "Ready")
    return cond is not None and cond.get("status") == "True"


def is_pod_available(pod: Obj, min_ready_seconds: int, now: datetime | None = None) -> bool:
    """Ready for at least ``min_ready_seconds`` (upstream's ``IsPodAvailable``)."""
    cond = get_condition(pod, "Ready")
    if cond is None or cond.get("status") != "True":
        return False
    if min_ready_seconds <= 0:
        return True
    since = parse_rfc3339(cond.get("lastTransitionTime"))
    if since is None:
        return False
    return (now or datetime.now(UTC)).timestamp() - since.timestamp() >= min_ready_seconds


# ---- conditions ---------------------------------------------------------------------------

def set_condition(status: dict[str, Any], type_: str, cond_status: str, reason: str,
                  message: str, *, now: str | None = None,
                  with_update_time: bool = False) -> bool:
    """Set a condition in ``status.conditions``; ``lastTransitionTime`` changes only when
    the status flips (as upstream). Returns whether anything changed."""
    stamp = now or now_rfc3339()
    conditions: list[dict[str, Any]] = status.setdefault("conditions", [])
    for cond in conditions:
        if cond.get("type") != type_:
            continue
        if cond.get("status") == cond_status and cond.get("reason") == reason and \
                cond.get("message") == message:
            return False
        if cond.get("status") != cond_status:
            cond["lastTransitionTime"] = stamp
        cond.update(status=cond_status, reason=reason, message=message)
        if with_update_time:
            cond["lastUpdateTime"] = stamp
        return True
    new: dict[str, Any] = {"type": type_, "status": cond_status, "reason": reason,
                           "message": message, "lastTransitionTime": stamp}
    if with_update_time:
        new["lastUpdateTime"] = stamp
    conditions.append(new)
    return True


def remove_condition(status: dict[str, Any], type_: str) -> bool:
    """Drop the condition of type ``type_``; returns whether one was there."""
    conditions = status.get("conditions") or []
    kept = [c for c in conditions if c.get("type") != type_]
    if len(kept) == len(conditions):
        return False
    status["conditions"] = kept
    return True
