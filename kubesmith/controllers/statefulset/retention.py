"""``persistentVolumeClaimRetentionPolicy``: which owner references a pod's claims carry so
the garbage collector deletes them at the right time (upstream KEP-1847 logic).

* Retain/Retain — no reference from the set or the pod: claims outlive both.
* whenDeleted Delete — the set controls the claim: deleting the set deletes it.
* whenScaled Delete — a claim of a pod scaled away is controlled by that pod: it goes
  with the pod.

Claims controlled by something else, or referring to an earlier set or pod of the same
name (a stale uid), are left alone.
"""

from __future__ import annotations

from typing import Any

from kubesmith.api.types import Obj
from kubesmith.controllers.statefulset.identity import in_ordinal_range
from kubesmith.controllers.util import meta, owner_reference

RETAIN, DELETE = "Retain", "Delete"
SET_REF = ("apps/v1", "StatefulSet")
POD_REF = ("v1", "Pod")


def retention_policy(sts: Obj) -> tuple[str, str]:
    """``(whenDeleted, whenScaled)``; unknown values are treated as Retain."""
    policy = (sts.get("spec") or {}).get("persistentVolumeClaimRetentionPolicy") or {}
    when_deleted = policy.get("whenDeleted") or RETAIN
    when_scaled = policy.get("whenScaled") or RETAIN
    return (when_deleted if when_deleted in (RETAIN, DELETE) else RETAIN,
            when_scaled if when_scaled in (RETAIN, DELETE) else RETAIN)


def _refs(claim: Obj) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = meta(claim).get("ownerReferences") or []
    return found


def _refers_to(ref: dict[str, Any], obj: Obj, kind: tuple[str, str]) -> bool:
    """Whether ``ref`` names ``obj`` (by apiVersion, kind and name — not uid)."""
    return (ref.get("apiVersion"), ref.get("kind")) == kind and \
        ref.get("name") == meta(obj).get("name")


def _has_ref(claim: Obj, owner: Obj) -> bool:
    uid = meta(owner).get("uid")
    return bool(uid) and any(r.get("uid") == uid for r in _refs(claim))


def has_stale_ref(claim: Obj, owner: Obj, kind: tuple[str, str]) -> bool:
    """Whether the claim refers to an earlier object with ``owner``'s name."""
    for ref in _refs(claim):
        if _refers_to(ref, owner, kind):
            return bool(ref.get("uid") != meta(owner).get("uid"))
    return False


def has_unexpected_controller(claim: Obj, sts: Obj, pod: Obj) -> bool:
    """Whether, under a deleting policy, something other than this set or pod controls the
    claim (or a stale set/pod reference is there)."""
    if retention_policy(sts) == (RETAIN, RETAIN):
        return False
    for ref in _refs(claim):
        if _refers_to(ref, sts, SET_REF):
            if ref.get("uid") != meta(sts).get("uid"):
                return True
            continue
        if _refers_to(ref, pod, POD_REF):
            if ref.get("uid") != meta(pod).get("uid"):
                return True
            continue
        if ref.get("controller"):
            return True
    return False


def _has_non_controller_ref(claim: Obj, sts: Obj, pod: Obj) -> bool:
    uids = {meta(sts).get("uid"), meta(pod).get("uid")} - {None, ""}
    return any(r.get("uid") in uids and not r.get("controller") for r in _refs(claim))


def claim_owner_up_to_date(claim: Obj, sts: Obj, pod: Obj) -> bool:
    """Whether the claim's owner references already follow the retention policy (claims
    in a state the controller must not touch count as up to date)."""
    if has_stale_ref(claim, sts, SET_REF) or has_stale_ref(claim, pod, POD_REF):
        return True
    if has_unexpected_controller(claim, sts, pod):
        return not (_has_ref(claim, sts) or _has_ref(claim, pod))
    if _has_non_controller_ref(claim, sts, pod):
        return False
    when_deleted, when_scaled = retention_policy(sts)
    set_ref, pod_ref = _has_ref(claim, sts), _has_ref(claim, pod)
    scaled_down = not in_ordinal_range(pod, sts)
    if when_scaled == RETAIN:
        return set_ref == (when_deleted == DELETE) and not pod_ref
    if when_deleted == RETAIN:
        return not set_ref and pod_ref == scaled_down
    return set_ref != scaled_down and pod_ref == scaled_down


def _controller_ref(owner: Obj, kind: tuple[str, str]) -> dict[str, Any]:
    # The objects may come without apiVersion/kind (list items): take them from ``kind``.
    return owner_reference({**owner, "apiVersion": kind[0], "kind": kind[1]})


def owner_refs_for_policy(claim: Obj, sts: Obj, pod: Obj) -> list[dict[str, Any]]:
    """The claim's owner references as the retention policy wants them: references to
    this set and pod are rebuilt (as controller references), others are kept."""
    unexpected = has_unexpected_controller(claim, sts, pod)
    refs = [r for r in _refs(claim)
            if not (_refers_to(r, sts, SET_REF) or _refers_to(r, pod, POD_REF))]
    if unexpected:
        return refs
    when_deleted, when_scaled = retention_policy(sts)
    scaled_down = not in_ordinal_range(pod, sts)
    if when_scaled == DELETE and scaled_down:
        refs.append(_controller_ref(pod, POD_REF))
    elif when_deleted == DELETE and (when_scaled == RETAIN or not scaled_down):
        refs.append(_controller_ref(sts, SET_REF))
    return refs
