"""A Deployment's status computed from its ReplicaSets (upstream ``calculateStatus``), and
the comparison that decides whether it needs writing."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from kubesmith.api.types import Obj
from kubesmith.controllers.deployment import conditions as c
from kubesmith.controllers.deployment.replicas import (
    max_unavailable,
    spec_replicas,
    sum_status,
    terminating_replicas,
    total_replicas,
)
from kubesmith.controllers.util import meta

_COUNTERS = ("observedGeneration", "replicas", "updatedReplicas", "readyReplicas",
             "availableReplicas", "unavailableReplicas")


def canonical(status: dict[str, Any] | None) -> dict[str, Any]:
    """``status`` as Go writes it: zero counters and empty conditions omitted."""
    out = {k: v for k, v in (status or {}).items()
           if v is not None and not (k in _COUNTERS and not v)}
    if not out.get("conditions"):
        out.pop("conditions", None)
    return out


def same_status(a: dict[str, Any] | None, b: dict[str, Any] | None) -> bool:
    """Whether two statuses say the same."""
    return canonical(a) == canonical(b)


def calculate_status(all_rss: list[Obj | None], new_rs: Obj | None, d: Obj,
                     now: datetime) -> dict[str, Any]:
    """Counts over every ReplicaSet, the current conditions and ``Available``."""
    available = sum_status(all_rss, "availableReplicas")
    old = d.get("status") or {}
    status: dict[str, Any] = {
        "observedGeneration": meta(d).get("generation", 0),
        "replicas": sum_status(all_rss, "replicas"),
        "updatedReplicas": sum_status([new_rs], "replicas"),
        "readyReplicas": sum_status(all_rss, "readyReplicas"),
        "availableReplicas": available,
        # More available than wanted (scaling down) is not negative unavailability.
        "unavailableReplicas": max(total_replicas(all_rss) - available, 0),
        "conditions": copy.deepcopy(old.get("conditions") or []),
    }
    if old.get("collisionCount") is not None:
        status["collisionCount"] = old["collisionCount"]
    terminating = terminating_replicas(all_rss)
    if terminating is not None:
        status["terminatingReplicas"] = terminating
    if available >= spec_replicas(d) - max_unavailable(d):
        c.set_condition(status, c.new_condition(
            c.AVAILABLE, "True", c.MINIMUM_REPLICAS_AVAILABLE,
            "Deployment has minimum availability.", now))
    else:
        c.set_condition(status, c.new_condition(
            c.AVAILABLE, "False", c.MINIMUM_REPLICAS_UNAVAILABLE,
            "Deployment does not have minimum availability.", now))
    return canonical(status)
