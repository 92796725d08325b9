"""Job conditions as upstream sets them: the interim ``FailureTarget`` /
``SuccessCriteriaMet`` first (while pods are still being cleaned up), then the terminal
``Failed`` / ``Complete`` with the same reason and message."""

from __future__ import annotations

from typing import Any

from kubesmith.api.types import Obj
from kubesmith.controllers.util import get_condition

COMPLETE = "Complete"
FAILED = "Failed"
FAILURE_TARGET = "FailureTarget"
SUCCESS_CRITERIA_MET = "SuccessCriteriaMet"
SUSPENDED = "Suspended"

REASON_BACKOFF_LIMIT = "BackoffLimitExceeded"
MESSAGE_BACKOFF_LIMIT = "Job has reached the specified backoff limit"
REASON_DEADLINE = "DeadlineExceeded"
MESSAGE_DEADLINE = "Job was active longer than specified deadline"
REASON_POD_FAILURE_POLICY = "PodFailurePolicy"
REASON_MAX_FAILED_INDEXES = "MaxFailedIndexesExceeded"
MESSAGE_MAX_FAILED_INDEXES = "Job has exceeded the specified maximal number of failed indexes"
REASON_FAILED_INDEXES = "FailedIndexes"
MESSAGE_FAILED_INDEXES = "Job has failed indexes"
REASON_COMPLETIONS_REACHED = "CompletionsReached"
MESSAGE_COMPLETIONS_REACHED = "Reached expected number of succeeded pods"
REASON_SUCCESS_POLICY = "SuccessPolicy"

Condition = dict[str, Any]


def new_condition(type_: str, status: str, reason: str, message: str, now: str) -> Condition:
    """A JobCondition stamped ``now`` (probe and transition time alike)."""
    return {"type": type_, "status": status, "lastProbeTime": now, "lastTransitionTime": now,
            "reason": reason, "message": message}


def has_true_condition(job: Obj, type_: str) -> bool:
    """Whether the condition ``type_`` is True."""
    cond = get_condition(job, type_)
    return cond is not None and cond.get("status") == "True"


def finished_type(job: Obj) -> str | None:
    """``Complete`` or ``Failed`` when the Job has finished, else None."""
    for cond in (job.get("status") or {}).get("conditions") or ():
        if cond.get("type") in (COMPLETE, FAILED) and cond.get("status") == "True":
            return str(cond["type"])
    return None


def is_finished(job: Obj) -> bool:
    """Whether the Job is Complete or Failed."""
    return finished_type(job) is not None


def ensure_condition(status: dict[str, Any], type_: str, cond_status: str, reason: str,
                     message: str, now: str) -> bool:
    """Set a condition (replacing it wholesale when anything differs); a False condition
    is never added where none was. Returns whether the list changed."""
    conditions: list[Condition] = status.setdefault("conditions", [])
    for i, cond in enumerate(conditions):
        if cond.get("type") != type_:
            continue
        if cond.get("status") == cond_status and cond.get("reason") == reason and \
                cond.get("message") == message:
            return False
        conditions[i] = new_condition(type_, cond_status, reason, message, now)
        return True
    if cond_status == "False":
        return False
    conditions.append(new_condition(type_, cond_status, reason, message, now))
    return True
