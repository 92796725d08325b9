"""A ReplicaSet's (or ReplicationController's) status from its claimed pods (upstream
``calculateStatus``), the ``ReplicaFailure`` condition that reports a failed create or
delete, and the comparison that skips writing a status that did not change."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from kubesmith.api.selectors import label_selector_from_set
from kubesmith.api.types import Obj
from kubesmith.controllers.replicaset.kinds import ReplicaKind
from kubesmith.controllers.util import (
    error_message,
    get_condition,
    int_value,
    is_pod_available,
    is_pod_ready,
    labels_of,
    meta,
    now_rfc3339,
)

REPLICA_FAILURE = "ReplicaFailure"


def calculate_status(owner: Obj, kind: ReplicaKind, active: list[Obj],
                     terminating: list[Obj], error: Exception | None,
                     now: datetime | None = None) -> dict[str, Any]:
    """The owner's new status from its claimed pods (upstream ``calculateStatus``)."""
    spec = owner.get("spec") or {}
    status: dict[str, Any] = copy.deepcopy(owner.get("status") or {})
    template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels")
    template_selector = label_selector_from_set(template_labels or {})
    min_ready = int_value(spec.get("minReadySeconds"))
    moment = now or datetime.now(UTC)
    fully_labeled = ready = available = 0
    for pod in active:
        if template_selector.matches(labels_of(pod)):
            fully_labeled += 1
        if is_pod_ready(pod):
            ready += 1
            if is_pod_available(pod, min_ready, moment):
                available += 1
    failure = get_condition(owner, REPLICA_FAILURE)
    if error is not None and failure is None:
        diff = len(active) - int_value(spec.get("replicas", 1))
        reason = "FailedCreate" if diff < 0 else ("FailedDelete" if diff > 0 else "")
        failure = {"type": REPLICA_FAILURE, "status": "True",
                   "lastTransitionTime": now_rfc3339(), "message": error_message(error)}
        if reason:
            failure["reason"] = reason
        status["conditions"] = [*(status.get("conditions") or []), failure]
    elif error is None and failure is not None:
        status["conditions"] = [c for c in status.get("conditions") or []
                                if c.get("type") != REPLICA_FAILURE]
    status["replicas"] = len(active)
    status["fullyLabeledReplicas"] = fully_labeled
    status["readyReplicas"] = ready
    status["availableReplicas"] = available
    if kind.terminating_status:
        status["terminatingReplicas"] = len(terminating)
    return without_empty_fields(status)


_OMIT_ZERO = ("fullyLabeledReplicas", "readyReplicas", "availableReplicas",
              "observedGeneration")


def without_empty_fields(status: dict[str, Any]) -> dict[str, Any]:
    """Drop zero counters and empty conditions, as Go's ``omitempty`` writes a status."""
    out = {k: v for k, v in status.items() if not (k in _OMIT_ZERO and not v)}
    if not out.get("conditions"):
        out.pop("conditions", None)
    out.setdefault("replicas", 0)
    return out


def status_unchanged(owner: Obj, status: dict[str, Any]) -> bool:
    """Whether writing ``status`` would change nothing (and the generation is observed)."""
    old = without_empty_fields(owner.get("status") or {})
    observed = old.pop("observedGeneration", 0)
    new = without_empty_fields(status)
    new.pop("observedGeneration", None)
    return old == new and observed == int_value(meta(owner).get("generation"))
