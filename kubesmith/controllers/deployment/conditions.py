"""Deployment conditions with upstream's reasons, messages and update rules.

Setting a condition whose status and reason are unchanged changes nothing (not even the
message), and ``lastTransitionTime`` survives a change that keeps the status — the rules
``kubectl rollout status`` and the progress deadline rely on.
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from kubesmith.controllers.util import format_rfc3339

AVAILABLE = "Available"
PROGRESSING = "Progressing"
REPLICA_FAILURE = "ReplicaFailure"

# Progressing reasons.
REPLICASET_UPDATED = "ReplicaSetUpdated"
FAILED_RS_CREATE = "ReplicaSetCreateError"
NEW_REPLICASET_CREATED = "NewReplicaSetCreated"
FOUND_NEW_REPLICASET = "FoundNewReplicaSet"
NEW_RS_AVAILABLE = "NewReplicaSetAvailable"
TIMED_OUT = "ProgressDeadlineExceeded"
PAUSED = "DeploymentPaused"
RESUMED = "DeploymentResumed"
# Available reasons.
MINIMUM_REPLICAS_AVAILABLE = "MinimumReplicasAvailable"
MINIMUM_REPLICAS_UNAVAILABLE = "MinimumReplicasUnavailable"

Condition = dict[str, Any]


def new_condition(type_: str, status: str, reason: str, message: str,
                  now: datetime) -> Condition:
    """A condition updated and transitioned ``now``."""
    stamp = format_rfc3339(now)
    return {"type": type_, "status": status, "lastUpdateTime": stamp,
            "lastTransitionTime": stamp, "reason": reason, "message": message}


def get_condition(status: dict[str, Any] | None, type_: str) -> Condition | None:
    """The condition of ``type_`` in ``status``, if any."""
    for cond in (status or {}).get("conditions") or ():
        if cond.get("type") == type_:
            found: Condition = cond
            return found
    return None


def set_condition(status: dict[str, Any], condition: Condition) -> None:
    """Add or replace ``condition`` (upstream ``SetDeploymentCondition``); it goes last."""
    current = get_condition(status, condition["type"])
    if current is not None and current.get("status") == condition["status"] and \
            current.get("reason") == condition["reason"]:
        return
    condition = copy.deepcopy(condition)
    if current is not None and current.get("status") == condition["status"]:
        condition["lastTransitionTime"] = current.get("lastTransitionTime")
    status["conditions"] = [*(c for c in status.get("conditions") or ()
                              if c.get("type") != condition["type"]), condition]


def remove_condition(status: dict[str, Any], type_: str) -> None:
    """Drop the condition of ``type_``."""
    status["conditions"] = [c for c in status.get("conditions") or ()
                            if c.get("type") != type_]


def from_replicaset_condition(cond: dict[str, Any]) -> Condition:
    """A ReplicaSet's condition as a Deployment condition (its failures are promoted)."""
    promoted = {"type": cond.get("type"), "status": cond.get("status"),
                "lastUpdateTime": cond.get("lastTransitionTime"),
                "lastTransitionTime": cond.get("lastTransitionTime"),
                "reason": cond.get("reason"), "message": cond.get("message")}
    return {k: v for k, v in promoted.items() if v not in (None, "")}
