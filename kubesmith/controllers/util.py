"""Small helpers every controller needs: owner references, the namespace index, pod state,
conditions, timestamps and what an API refusal means — one definition each so controllers
agree on what "active" or "ready" means."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from kubesmith.api import gofmt
from kubesmith.api.selectors import LabelSelector, label_selector_from_object
from kubesmith.api.types import Obj
from kubesmith.client import ApiError

#: Informer index of objects by namespace (:func:`index_by_namespace`). One name for every
#: controller: informers are shared, so the index is built once per resource.
NAMESPACE_INDEX = "namespace"


def now_rfc3339() -> str:
    """The current time as the API writes timestamps (seconds precision, UTC)."""
    return format_rfc3339(datetime.now(UTC))


def format_rfc3339(when: datetime) -> str:
    """``when`` (a UTC time) as the API writes timestamps (seconds precision)."""
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


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


def uid_of(obj: Obj) -> str:
    """``metadata.uid`` ('' when missing)."""
    return str(meta(obj).get("uid") or "")


def index_by_namespace(obj: Obj) -> list[str]:
    """Informer index function for :data:`NAMESPACE_INDEX`: the object's namespace."""
    return [str(meta(obj).get("namespace") or "")]


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


def int_value(value: Any, default: int = 0) -> int:
    """``value`` when it is an integer (a bool is not), else ``default``: a numeric field
    read from a decoded object."""
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def labels_of(obj: Obj) -> dict[str, str]:
    """``metadata.labels`` (empty when missing)."""
    found: dict[str, str] = meta(obj).get("labels") or {}
    return found


# ---- API errors ---------------------------------------------------------------------------

def is_namespace_terminating(exc: ApiError) -> bool:
    """Whether the server refused a create because the namespace is being deleted (the
    ``NamespaceTerminating`` cause, or the lifecycle admission's message): expected while
    a namespace goes away, so controllers record no failure for it."""
    causes = (exc.details or {}).get("causes") or []
    return any(isinstance(c, dict) and c.get("type") == "NamespaceTerminating"
               for c in causes) or "being terminated" in exc.message


def error_message(error: BaseException) -> str:
    """What an error says (an API Status's message, as upstream's ``err.Error()``)."""
    if isinstance(error, ApiError):
        return error.message
    return str(error) or type(error).__name__


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


# ---- int-or-percent -----------------------------------------------------------------------

def scaled_value(value: Any, total: int, *, round_up: bool,
                 default: int | str | None = 0) -> int:
    """An IntOrString as a count of ``total`` (upstream
    ``intstr.GetScaledValueFromIntOrPercent``): integers as they are, ``"N%"`` of ``total``
    rounded up or down. ``default`` stands in for a missing value (None: a missing value is
    invalid too). Raises ValueError with upstream's message for a bad value."""
    if value is None:
        value = default
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if not isinstance(value, str):
        raise ValueError("invalid value for IntOrString: invalid type: neither int nor "
                         "percentage")
    if not value.endswith("%"):
        raise ValueError("invalid value for IntOrString: invalid type: string is not a "
                         "percentage")
    digits = value[:-1]
    try:
        percent = int(digits)
    except ValueError:
        raise ValueError(f"invalid value for IntOrString: invalid value {gofmt.quote(value)}: "
                         f"strconv.Atoi: parsing {gofmt.quote(digits)}: invalid syntax"
                         ) from None
    exact = percent * total / 100
    return math.ceil(exact) if round_up else math.floor(exact)
