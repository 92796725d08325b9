"""Which PersistentVolume satisfies a claim (upstream's ``findMatchingVolume``): pure
functions over API objects, so the rules can be tested without a cluster.

A volume matches when it is not being deleted, not bound or pre-bound to another claim, has
the claim's storage class and volume mode, offers every requested access mode, has at least
the requested capacity and carries labels the claim's selector accepts. A volume pre-bound to
this claim (``spec.claimRef`` naming it) wins outright; otherwise the smallest fit wins, so
large volumes stay free for large claims.
"""

from __future__ import annotations

from typing import Any

from kubesmith.api.selectors import label_selector_from_object
from kubesmith.api.types import Obj
from kubesmith.api.validation.quantity import QuantityError, parse_quantity


def storage_bytes(value: Any) -> int | None:
    """A ``storage`` quantity in bytes (rounded up), or None if unparseable/absent."""
    if value is None:
        return None
    try:
        nanos = parse_quantity(value).nanos
    except QuantityError:
        return None
    return -(-nanos // 1_000_000_000)


def claim_class(claim: Obj) -> str:
    """The claim's storage class name ('' = no class)."""
    return str((claim.get("spec") or {}).get("storageClassName") or "")


def volume_class(volume: Obj) -> str:
    """The volume's storage class name ('' = no class)."""
    return str((volume.get("spec") or {}).get("storageClassName") or "")


def claim_request(claim: Obj) -> int:
    """Requested bytes (0 when unset)."""
    requests = ((claim.get("spec") or {}).get("resources") or {}).get("requests") or {}
    return storage_bytes(requests.get("storage")) or 0


def is_prebound_to(volume: Obj, claim: Obj) -> bool:
    """Whether ``volume.spec.claimRef`` names ``claim`` (uid, when set, must match too)."""
    ref = (volume.get("spec") or {}).get("claimRef")
    if not ref:
        return False
    meta = claim.get("metadata") or {}
    if ref.get("name") != meta.get("name") or ref.get("namespace") != meta.get("namespace"):
        return False
    return not ref.get("uid") or ref.get("uid") == meta.get("uid")


def _volume_mode(obj: Obj) -> str:
    return str((obj.get("spec") or {}).get("volumeMode") or "Filesystem")


def mismatch(volume: Obj, claim: Obj) -> str | None:
    """Why ``volume`` cannot serve ``claim`` (None when it can)."""
    vspec = volume.get("spec") or {}
    cspec = claim.get("spec") or {}
    if (volume.get("metadata") or {}).get("deletionTimestamp"):
        return "being deleted"
    if vspec.get("claimRef") and not is_prebound_to(volume, claim):
        return "bound to another claim"
    if volume_class(volume) != claim_class(claim):
        return "storage class differs"
    if _volume_mode(volume) != _volume_mode(claim):
        return "volume mode differs"
    offered = set(vspec.get("accessModes") or ())
    if not set(cspec.get("accessModes") or ()) <= offered:
        return "access modes not offered"
    capacity = storage_bytes((vspec.get("capacity") or {}).get("storage")) or 0
    if capacity < claim_request(claim):
        return "too small"
    selector = cspec.get("selector")
    if selector and not label_selector_from_object(selector).matches(
            (volume.get("metadata") or {}).get("labels") or {}):
        return "labels not selected"
    return None


def find_matching_volume(claim: Obj, volumes: list[Obj]) -> Obj | None:
    """The volume ``claim`` should bind to, or None."""
    best: Obj | None = None
    best_size = 0
    for volume in volumes:
        if mismatch(volume, claim) is not None:
            continue
        phase = (volume.get("status") or {}).get("phase")
        if phase in ("Released", "Failed"):
            continue
        if is_prebound_to(volume, claim):
            return volume
        size = storage_bytes(((volume.get("spec") or {}).get("capacity") or {})
                             .get("storage")) or 0
        if best is None or size < best_size:
            best, best_size = volume, size
    return best
