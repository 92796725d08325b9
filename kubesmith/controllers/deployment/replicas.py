"""Replica arithmetic of a rollout (upstream ``deployment/util``): how far a rolling update
may surge above or dip below the desired count, how many pods the new ReplicaSet may have,
and how a scaling event is shared among the ReplicaSets of a rollout in progress.

Pure functions over plain objects; ``None`` stands for "no new ReplicaSet yet".
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from kubesmith.api.types import Obj
from kubesmith.controllers.deployment import revisions
from kubesmith.controllers.util import int_value, scaled_value

RECREATE = "Recreate"
ROLLING_UPDATE = "RollingUpdate"


def spec_replicas(obj: Obj) -> int:
    """``spec.replicas`` (1 when unset, the API default)."""
    value = (obj.get("spec") or {}).get("replicas", 1)
    return int_value(value)


def status_count(obj: Obj, field: str) -> int:
    """A ``status`` counter (0 when unset)."""
    return int_value((obj.get("status") or {}).get(field))


def total_replicas(rss: Iterable[Obj | None]) -> int:
    """The ReplicaSets' desired pods (``GetReplicaCountForReplicaSets``)."""
    return sum(spec_replicas(rs) for rs in rss if rs is not None)


def sum_status(rss: Iterable[Obj | None], field: str) -> int:
    """A status counter summed over the ReplicaSets."""
    return sum(status_count(rs, field) for rs in rss if rs is not None)


def terminating_replicas(rss: Iterable[Obj | None]) -> int | None:
    """Pods being deleted, or None when a ReplicaSet does not report them yet (a brand new
    ReplicaSet without a status is skipped)."""
    total = 0
    for rs in rss:
        if rs is None:
            continue
        status = rs.get("status") or {}
        if "terminatingReplicas" not in status:
            if int_value(status.get("observedGeneration")) == 0:
                continue
            return None
        total += int_value(status["terminatingReplicas"])
    return total


def active(rss: Iterable[Obj | None]) -> list[Obj]:
    """The ReplicaSets that want pods."""
    return [rs for rs in rss if rs is not None and spec_replicas(rs) > 0]


def is_rolling_update(d: Obj) -> bool:
    """Whether ``d`` rolls out with the RollingUpdate strategy."""
    strategy = (d.get("spec") or {}).get("strategy") or {}
    return bool(strategy.get("type") == ROLLING_UPDATE)


def _rolling_params(d: Obj) -> dict[str, Any]:
    strategy = (d.get("spec") or {}).get("strategy") or {}
    found: dict[str, Any] = strategy.get("rollingUpdate") or {}
    return found


def resolve_fenceposts(max_surge: int | str | None, max_unavailable: int | str | None,
                       desired: int) -> tuple[int, int]:
    """Surge (rounded up) and unavailability (rounded down) as pod counts; both zero would
    stall a rollout, so unavailability becomes 1. Raises ValueError for a bad value."""
    surge = scaled_value(max_surge, desired, round_up=True)
    unavailable = scaled_value(max_unavailable, desired, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def max_surge(d: Obj) -> int:
    """How many pods above ``spec.replicas`` a rolling update may run (0 otherwise)."""
    if not is_rolling_update(d):
        return 0
    params = _rolling_params(d)
    try:
        surge, _ = resolve_fenceposts(params.get("maxSurge"), params.get("maxUnavailable"),
                                      spec_replicas(d))
    except ValueError:
        return 0
    return surge


def max_unavailable(d: Obj) -> int:
    """How many of ``spec.replicas`` may be unavailable during a rolling update."""
    desired = spec_replicas(d)
    if not is_rolling_update(d) or desired == 0:
        return 0
    params = _rolling_params(d)
    try:
        _, unavailable = resolve_fenceposts(params.get("maxSurge"),
                                            params.get("maxUnavailable"), desired)
    except ValueError:
        return 0
    return min(unavailable, desired)


def new_rs_new_replicas(d: Obj, all_rss: Sequence[Obj | None], new_rs: Obj) -> int:
    """How many replicas the new ReplicaSet may have now (upstream ``NewRSNewReplicas``).
    Raises ValueError for a bad maxSurge."""
    desired = spec_replicas(d)
    if not is_rolling_update(d):
        return desired
    params = _rolling_params(d)
    surge = scaled_value(params.get("maxSurge"), desired, round_up=True)
    current = total_replicas(all_rss)
    ceiling = desired + surge
    if current >= ceiling:
        return spec_replicas(new_rs)
    scale_up = min(ceiling - current, desired - spec_replicas(new_rs))
    return spec_replicas(new_rs) + scale_up


def is_saturated(d: Obj, rs: Obj | None) -> bool:
    """Whether ``rs`` runs all of ``d``'s replicas, all available, for the current size."""
    if rs is None:
        return False
    desired = revisions.desired_replicas(rs)
    if desired is None:
        return False
    wanted = spec_replicas(d)
    return spec_replicas(rs) == wanted and desired == wanted and \
        status_count(rs, "availableReplicas") == wanted


# ---- ordering -----------------------------------------------------------------------------

creation_key = revisions.creation_key


def oldest_first(rss: Iterable[Obj]) -> list[Obj]:
    """The ReplicaSets, oldest first."""
    return sorted(rss, key=creation_key)


def by_size(rss: Iterable[Obj], *, newer_first: bool) -> list[Obj]:
    """Largest first; among equals newer first (the order to scale up in) or older first
    (the order to scale down in)."""
    by_age = sorted(rss, key=creation_key, reverse=newer_first)
    return sorted(by_age, key=spec_replicas, reverse=True)  # stable: ties keep the age order


def find_active_or_latest(new_rs: Obj | None, old_rss: Sequence[Obj]) -> Obj | None:
    """The only ReplicaSet with pods, the newest one when none has pods, or None when
    several have pods (then scaling is proportional)."""
    if new_rs is None and not old_rss:
        return None
    newest_old_first = sorted(old_rss, key=creation_key, reverse=True)
    running = active([*newest_old_first, new_rs])
    if not running:
        return new_rs if new_rs is not None else newest_old_first[0]
    if len(running) == 1:
        return running[0]
    return None


# ---- proportional scaling -----------------------------------------------------------------

def _round_half_away(value: float) -> int:
    return math.floor(abs(value) + 0.5) * (1 if value >= 0 else -1)


def _fraction(rs: Obj, d: Obj) -> int:
    """How many replicas ``rs`` gains (or loses) if the deployment's new size is shared
    in proportion to the size it had before (its max-replicas annotation)."""
    if spec_replicas(d) == 0:
        return -spec_replicas(rs)
    new_max = spec_replicas(d) + max_surge(d)
    old_max = revisions.max_replicas(rs)
    if not old_max:
        # Someone edited the annotation away: fall back to the deployment's current size.
        old_max = status_count(d, "replicas")
        if old_max == 0:
            return 0
    return _round_half_away(spec_replicas(rs) * new_max / old_max) - spec_replicas(rs)


def proportion(rs: Obj | None, d: Obj, to_add: int, added: int) -> int:
    """The share of ``to_add`` that ``rs`` gets, given ``added`` already handed out."""
    if rs is None or spec_replicas(rs) == 0 or to_add == 0 or to_add == added:
        return 0
    fraction = _fraction(rs, d)
    allowed = to_add - added
    return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)


def proportional_sizes(d: Obj, rss: Sequence[Obj]) -> tuple[list[tuple[Obj, int]], str]:
    """New sizes for the active ReplicaSets ``rss`` of a rolling update being scaled, in the
    order to apply them, and the direction ("up", "down" or "" when the total is right).
    Leftovers from rounding go to the first (largest) ReplicaSet."""
    current = total_replicas(rss)
    allowed = spec_replicas(d) + max_surge(d) if spec_replicas(d) > 0 else 0
    to_add = allowed - current
    if to_add > 0:
        ordered, operation = by_size(rss, newer_first=True), "up"
    elif to_add < 0:
        ordered, operation = by_size(rss, newer_first=False), "down"
    else:
        ordered, operation = list(rss), ""
    added = 0
    sizes: list[int] = []
    for rs in ordered:
        share = proportion(rs, d, to_add, added) if to_add else 0
        sizes.append(spec_replicas(rs) + share)
        added += share
    if ordered and to_add:
        sizes[0] = max(sizes[0] + to_add - added, 0)
    return list(zip(ordered, sizes, strict=True)), operation
