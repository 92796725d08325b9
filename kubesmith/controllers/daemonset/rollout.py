"""A DaemonSet's rolling update, as decisions over a node -> pods map (no API calls).

Without surge (``maxSurge`` 0), old pods are deleted while the number of unavailable nodes
stays within ``maxUnavailable``; the manage loop then creates the new pods. With surge, a new
pod is created next to an available old one on up to ``maxSurge`` nodes and the old pod is
deleted once the new one is available (upstream ``rollingUpdate``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kubesmith.api.types import Obj
from kubesmith.controllers.daemonset.placement import TEMPLATE_GENERATION_LABEL
from kubesmith.controllers.history import REVISION_HASH_LABEL
from kubesmith.controllers.util import (
    is_pod_available,
    is_terminating,
    labels_of,
    meta,
    scaled_value,
)


def is_pod_updated(pod: Obj, hash_: str, generation: int | None) -> bool:
    """Whether ``pod`` runs the current template (by revision hash, or by the template
    generation label of older pods)."""
    labels = labels_of(pod)
    if generation is not None and labels.get(TEMPLATE_GENERATION_LABEL) == str(generation):
        return True
    return bool(hash_) and labels.get(REVISION_HASH_LABEL) == hash_


def updated_and_old(pods: Sequence[Obj], hash_: str, generation: int | None
                    ) -> tuple[Obj | None, Obj | None, bool]:
    """``(new, old, ok)`` among the non-deleted pods of one node; ``ok`` is False when
    there are several of either kind (the manage loop prunes those first)."""
    new: Obj | None = None
    old: Obj | None = None
    for pod in pods:
        if is_terminating(pod):
            continue
        if is_pod_updated(pod, hash_, generation):
            if new is not None:
                return None, None, False
            new = pod
        else:
            if old is not None:
                return None, None, False
            old = pod
    return new, old, True


def _rolling(ds: Obj) -> dict[str, Any] | None:
    strategy = (ds.get("spec") or {}).get("updateStrategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return None
    rolling: dict[str, Any] = strategy.get("rollingUpdate") or {}
    return rolling


def surge_count(ds: Obj, desired: int) -> int:
    """``maxSurge`` as a number of nodes (0 unless rolling); ValueError when invalid."""
    rolling = _rolling(ds)
    if rolling is None:
        return 0
    return scaled_value(rolling.get("maxSurge"), desired, round_up=True)


def unavailable_count(ds: Obj, desired: int) -> int:
    """``maxUnavailable`` as a number of nodes (0 unless rolling); ValueError when invalid."""
    rolling = _rolling(ds)
    if rolling is None:
        return 0
    return scaled_value(rolling.get("maxUnavailable"), desired, round_up=True)


def allows_surge(ds: Obj) -> bool:
    """Whether the DaemonSet may run a new pod next to an old one on a node."""
    try:
        return surge_count(ds, 1) != 0
    except ValueError:
        return False


@dataclass(slots=True)
class RolloutPlan:
    """What one rolling-update step does."""

    delete: list[str] = field(default_factory=list)
    create_on: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class RolloutInput:
    """The state a rolling-update step decides from."""

    ds: Obj
    #: node name -> the DaemonSet's pods there; nodes that should run one but have none
    #: are present with an empty list.
    node_pods: Mapping[str, Sequence[Obj]]
    desired: int
    hash: str
    generation: int | None
    should_run: Callable[[str], bool]
    now: datetime


def plan_rolling_update(state: RolloutInput) -> RolloutPlan:
    """The pods to delete and the nodes to surge onto in this step; ValueError when
    maxSurge/maxUnavailable are invalid."""
    max_surge = surge_count(state.ds, state.desired)
    max_unavailable = unavailable_count(state.ds, state.desired)
    # A configuration allowing neither falls back to one unavailable node (as upstream).
    if state.desired > 0 and max_unavailable == 0 and max_surge == 0:
        max_unavailable = 1
    if max_surge == 0:
        return _replace_in_place(state, max_unavailable)
    return _surge(state, max_surge)


def _available(state: RolloutInput, pod: Obj) -> bool:
    min_ready = int((state.ds.get("spec") or {}).get("minReadySeconds") or 0)
    return is_pod_available(pod, min_ready, state.now)


def _replace_in_place(state: RolloutInput, max_unavailable: int) -> RolloutPlan:
    unavailable = 0
    replacements: list[str] = []
    candidates: list[str] = []
    for pods in state.node_pods.values():
        new, old, ok = updated_and_old(pods, state.hash, state.generation)
        if not ok or (new is None) == (old is None):
            # Nothing, or one of each: the manage loop creates or prunes; count it down.
            unavailable += 1
        elif new is not None:
            if not _available(state, new):
                unavailable += 1
        elif old is not None:
            if not _available(state, old):
                replacements.append(meta(old)["name"])
                unavailable += 1
            elif unavailable < max_unavailable:
                candidates.append(meta(old)["name"])
    room = max(0, min(max_unavailable - unavailable, len(candidates)))
    return RolloutPlan(delete=[*replacements, *candidates[:room]])


def _surge(state: RolloutInput, max_surge: int) -> RolloutPlan:
    plan = RolloutPlan()
    leaving: list[str] = []  # available old pods on nodes that no longer want one
    allowed: list[str] = []
    candidates: list[str] = []
    surging = 0
    available = 0
    for node_name, pods in state.node_pods.items():
        new, old, ok = updated_and_old(pods, state.hash, state.generation)
        if not ok:
            surging += 1
            continue
        counted = old if old is not None else new
        if counted is not None and _available(state, counted):
            available += 1
        if old is None:
            continue
        if new is None:
            if not _available(state, old):
                if state.should_run(node_name):
                    allowed.append(node_name)
                else:
                    plan.delete.append(meta(old)["name"])
            elif not state.should_run(node_name):
                leaving.append(meta(old)["name"])
            elif surging < max_surge:
                candidates.append(node_name)
            continue
        if not _available(state, new):
            surging += 1
            continue
        plan.delete.append(meta(old)["name"])
    # Keep full availability: a pod leaving a node goes only once enough pods elsewhere are
    # available.
    deletable = available - state.desired
    if deletable > 0:
        plan.delete.extend(leaving[:deletable])
    room = max(0, min(max_surge - surging, len(candidates)))
    plan.create_on = [*allowed, *candidates[:room]]
    return plan
