"""``spec.podFailurePolicy``: which rule a failed pod matches and what that means."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubesmith.api.types import Obj
from kubesmith.controllers.util import meta

FAIL_JOB = "FailJob"
FAIL_INDEX = "FailIndex"
IGNORE = "Ignore"
COUNT = "Count"


@dataclass(frozen=True, slots=True)
class PolicyMatch:
    """The outcome for one failed pod."""

    #: The Job failure message when a FailJob rule matched.
    fail_job_message: str | None = None
    #: Whether the failure counts towards backoffLimit (False after an Ignore rule).
    counts: bool = True
    #: The action of the matching rule, None when no rule matched.
    action: str | None = None


NO_MATCH = PolicyMatch()


def _terminated_container(statuses: list[dict[str, Any]], requirement: dict[str, Any]
                          ) -> dict[str, Any] | None:
    name = requirement.get("containerName")
    values = set(requirement.get("values") or ())
    operator = requirement.get("operator")
    for status in statuses:
        terminated = (status.get("state") or {}).get("terminated")
        # A container still terminating has no exit code to match yet.
        if not terminated:
            continue
        if name is not None and name != status.get("name"):
            continue
        code = terminated.get("exitCode") or 0
        if code == 0:
            continue
        if (operator == "In" and code in values) or (operator == "NotIn" and code not in values):
            return status
    return None


def _matching_condition(pod_status: dict[str, Any], patterns: list[dict[str, Any]]
                        ) -> dict[str, Any] | None:
    for condition in pod_status.get("conditions") or ():
        for pattern in patterns:
            if condition.get("type") == pattern.get("type") and \
                    condition.get("status") == pattern.get("status", "True"):
                return dict(condition)
    return None


def match_pod_failure_policy(policy: dict[str, Any] | None, pod: Obj) -> PolicyMatch:
    """The first rule of ``policy`` that ``pod`` (a failed pod) matches, upstream's
    ``matchPodFailurePolicy`` with its messages."""
    if not policy:
        return NO_MATCH
    status = pod.get("status") or {}
    pod_meta = meta(pod)
    where = f"{pod_meta.get('namespace')}/{pod_meta.get('name')}"
    for index, rule in enumerate(policy.get("rules") or ()):
        action = rule.get("action")
        if rule.get("onExitCodes") is not None:
            requirement = rule["onExitCodes"]
            container = _terminated_container(status.get("containerStatuses") or [],
                                              requirement) or \
                _terminated_container(status.get("initContainerStatuses") or [], requirement)
            if container is None:
                continue
            if action == FAIL_JOB:
                code = container["state"]["terminated"].get("exitCode")
                return PolicyMatch(
                    f"Container {container.get('name')} for pod {where} failed with exit code "
                    f"{code} matching {action} rule at index {index}", True, FAIL_JOB)
        elif rule.get("onPodConditions") is not None:
            condition = _matching_condition(status, rule["onPodConditions"])
            if condition is None:
                continue
            if action == FAIL_JOB:
                return PolicyMatch(
                    f"Pod {where} has condition {condition.get('type')} matching {action} "
                    f"rule at index {index}", True, FAIL_JOB)
        else:
            continue
        if action == IGNORE:
            return PolicyMatch(None, False, IGNORE)
        if action in (FAIL_INDEX, COUNT):
            return PolicyMatch(None, True, action)
        # An unknown action (a newer API) falls through to the next rule, as upstream.
    return NO_MATCH
