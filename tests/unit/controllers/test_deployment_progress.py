"""Deployment status and conditions: Available, the Progressing reasons and messages
upstream writes, the progress deadline and promoted ReplicaSet failures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from kubesmith.controllers.deployment import conditions as c
from kubesmith.controllers.deployment.progress import (
    deployment_timed_out,
    rollout_status,
    stuck_check_delay,
)
from kubesmith.controllers.deployment.status import calculate_status, same_status

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def deployment(status: dict[str, Any] | None = None, deadline: int | None = 600,
               replicas: int = 3) -> dict[str, Any]:
    spec: dict[str, Any] = {"replicas": replicas, "strategy": {
        "type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}}
    if deadline is not None:
        spec["progressDeadlineSeconds"] = deadline
    return {"metadata": {"name": "web", "generation": 2}, "spec": spec,
            "status": status or {}}


def rs(name: str, replicas: int, ready: int, available: int,
       conditions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {"replicas": replicas, "readyReplicas": ready,
                              "availableReplicas": available, "observedGeneration": 1,
                              "terminatingReplicas": 0}
    if conditions:
        status["conditions"] = conditions
    return {"metadata": {"name": name}, "spec": {"replicas": replicas}, "status": status}


def test_calculated_status_and_availability() -> None:
    new, old = rs("new", 2, 2, 1), rs("old", 2, 2, 2)
    status = calculate_status([old, new], new, deployment(), NOW)
    assert status["replicas"] == 4 and status["updatedReplicas"] == 2
    assert status["readyReplicas"] == 4 and status["availableReplicas"] == 3
    assert status["unavailableReplicas"] == 1 and status["observedGeneration"] == 2
    assert status["terminatingReplicas"] == 0
    available = c.get_condition(status, c.AVAILABLE)
    assert available is not None
    assert (available["status"], available["reason"], available["message"]) == \
        ("True", "MinimumReplicasAvailable", "Deployment has minimum availability.")
    short = calculate_status([rs("new", 3, 0, 0)], None, deployment(), NOW)
    cond = c.get_condition(short, c.AVAILABLE)
    assert cond is not None and cond["reason"] == "MinimumReplicasUnavailable"
    assert cond["message"] == "Deployment does not have minimum availability."
    assert "updatedReplicas" not in short   # zero counters are omitted, as Go writes them


def test_complete_rollout_reports_new_replica_set_available() -> None:
    new = rs("web-abc", 3, 3, 3)
    status = rollout_status(deployment(), [new], new, NOW)
    cond = c.get_condition(status, c.PROGRESSING)
    assert cond is not None
    assert (cond["status"], cond["reason"], cond["message"]) == \
        ("True", "NewReplicaSetAvailable", 'ReplicaSet "web-abc" has successfully progressed.')


def test_progress_refreshes_update_time_but_keeps_transition() -> None:
    earlier = stamp(NOW - timedelta(minutes=5))
    old_status = {"replicas": 3, "updatedReplicas": 1, "conditions": [
        {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated",
         "message": 'ReplicaSet "web-abc" is progressing.', "lastUpdateTime": earlier,
         "lastTransitionTime": earlier}]}
    new = rs("web-abc", 2, 0, 0)
    status = rollout_status(deployment(old_status), [rs("old", 2, 2, 2), new], new, NOW)
    cond = c.get_condition(status, c.PROGRESSING)
    assert cond is not None
    assert cond["lastUpdateTime"] == stamp(NOW) and cond["lastTransitionTime"] == earlier


def test_deadline_exceeded_when_nothing_moves() -> None:
    long_ago = stamp(NOW - timedelta(seconds=10))
    old_status = {"replicas": 3, "updatedReplicas": 3, "conditions": [
        {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated",
         "message": "x", "lastUpdateTime": long_ago, "lastTransitionTime": long_ago}]}
    d = deployment(old_status, deadline=2)
    new = rs("web-abc", 3, 0, 0)
    status = rollout_status(d, [new], new, NOW)
    cond = c.get_condition(status, c.PROGRESSING)
    assert cond is not None
    assert (cond["status"], cond["reason"], cond["message"]) == \
        ("False", "ProgressDeadlineExceeded", 'ReplicaSet "web-abc" has timed out progressing.')
    assert deployment_timed_out(d, status, NOW)
    # Before the deadline nothing changes, and a look is scheduled for when it passes.
    recent = deployment({**old_status, "conditions": [
        {**old_status["conditions"][0], "lastUpdateTime": stamp(NOW)}]}, deadline=2)
    unchanged = rollout_status(recent, [new], new, NOW)
    assert c.get_condition(unchanged, c.PROGRESSING)["reason"] == "ReplicaSetUpdated"  # type: ignore[index]
    assert stuck_check_delay(recent, unchanged, NOW) == 3.0


def test_no_deadline_drops_progressing() -> None:
    new = rs("web-abc", 3, 3, 3)
    status = rollout_status(deployment(deadline=None), [new], new, NOW)
    assert c.get_condition(status, c.PROGRESSING) is None
    assert stuck_check_delay(deployment(deadline=None), status, NOW) is None


def test_replica_failure_is_promoted_and_cleared() -> None:
    failure = {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
               "message": "quota", "lastTransitionTime": stamp(NOW)}
    new = rs("web-abc", 1, 0, 0, [failure])
    status = rollout_status(deployment(), [new], new, NOW)
    promoted = c.get_condition(status, c.REPLICA_FAILURE)
    assert promoted is not None
    assert promoted["reason"] == "FailedCreate" and promoted["lastUpdateTime"] == stamp(NOW)
    healed = rollout_status(deployment(status), [rs("web-abc", 1, 0, 0)], new, NOW)
    assert c.get_condition(healed, c.REPLICA_FAILURE) is not None  # the new RS still fails
    cleared = rollout_status(deployment(status), [rs("x", 1, 0, 0)], rs("x", 1, 0, 0), NOW)
    assert c.get_condition(cleared, c.REPLICA_FAILURE) is None


def test_set_condition_rules() -> None:
    status: dict[str, Any] = {}
    first = c.new_condition("Available", "True", "A", "one", NOW)
    c.set_condition(status, first)
    later = c.new_condition("Available", "True", "A", "two", NOW + timedelta(hours=1))
    c.set_condition(status, later)
    assert status["conditions"] == [first]          # same status and reason: untouched
    other = c.new_condition("Available", "True", "B", "three", NOW + timedelta(hours=1))
    c.set_condition(status, other)
    assert status["conditions"][0]["lastTransitionTime"] == stamp(NOW)
    assert status["conditions"][0]["reason"] == "B"
    assert same_status({"replicas": 0, "conditions": []}, {})
