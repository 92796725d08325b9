"""Pods: Pending on create, graceful deletion once bound to a node."""

from __future__ import annotations

from kubesmith.api.strategies.base import Strategy
from kubesmith.api.types import Obj

DEFAULT_GRACE = 30


class PodStrategy(Strategy):
    def initial_status(self, obj: Obj) -> None:
        obj["status"] = {"phase": "Pending", "qosClass": qos_class(obj)}

    def prepare_for_create(self, obj: Obj) -> None:
        super().prepare_for_create(obj)
        # Pods do not carry a generation in their spec semantics until 1.35's
        # observedGeneration; upstream sets it to 1.
        obj["metadata"]["generation"] = 1

    def delete_grace_period(self, obj: Obj, requested: int | None) -> int:
        spec = obj.get("spec", {})
        phase = obj.get("status", {}).get("phase")
        # Unscheduled or finished pods have nothing to stop: they go at once (upstream).
        if not spec.get("nodeName") or phase in ("Succeeded", "Failed"):
            return 0
        if requested is not None:
            return max(requested, 0) if requested > 0 else 0
        grace = spec.get("terminationGracePeriodSeconds")
        return int(grace) if isinstance(grace, int) and grace >= 0 else DEFAULT_GRACE


def qos_class(pod: Obj) -> str:
    """Guaranteed / Burstable / BestEffort, from container requests and limits."""
    spec = pod.get("spec", {})
    containers = list(spec.get("containers") or []) + list(spec.get("initContainers") or [])
    any_set = False
    guaranteed = True
    for c in containers:
        res = c.get("resources") or {}
        req = res.get("requests") or {}
        lim = res.get("limits") or {}
        if req or lim:
            any_set = True
        for r in ("cpu", "memory"):
            if r not in lim or (r in req and str(req[r]) != str(lim[r])):
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"
