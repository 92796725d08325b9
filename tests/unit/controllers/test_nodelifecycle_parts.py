"""Node lifecycle pieces without an API server: heartbeat bookkeeping, conditions set
Unknown, taint swaps, tolerations, zone states and the rate-limited tainting queue."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from kubesmith.controllers.nodelifecycle.evictor import (
    RateLimitedTimedQueue,
    TimedValue,
    TokenBucket,
    ZoneState,
    compute_zone_state,
    zone_qps,
)
from kubesmith.controllers.nodelifecycle.health import (
    observe_lease,
    observe_status,
    set_conditions_unknown,
)
from kubesmith.controllers.nodelifecycle.nodes import swapped_taints, zone_key
from kubesmith.controllers.nodelifecycle.taint_eviction import (
    matching_tolerations,
    min_toleration_seconds,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def node(heartbeat: str | None, transition: str = "2024-01-01T00:00:00Z",
         status: str = "True") -> dict[str, Any]:
    conditions = [] if heartbeat is None else [
        {"type": "Ready", "status": status, "lastHeartbeatTime": heartbeat,
         "lastTransitionTime": transition}]
    return {"metadata": {"name": "n", "creationTimestamp": "2024-01-01T00:00:00Z"},
            "status": {"conditions": conditions}}


def test_heartbeats_and_leases_move_the_probe_time() -> None:
    created = datetime(2024, 1, 1, tzinfo=UTC).timestamp()
    # Never posted: counted from creation (the startup grace applies).
    health = observe_status(None, node(None), 5000.0)
    assert (health.probe, health.ready) == (created, None)
    health = observe_status(health, node("2024-01-01T00:00:10Z"), 5001.0)
    assert health.probe == 5001.0
    # Same heartbeat: nothing new.
    assert observe_status(health, node("2024-01-01T00:00:10Z"), 5002.0).probe == 5001.0
    # New heartbeat; the condition flipped, so the transition moves too.
    health = observe_status(health, node("2024-01-01T00:00:20Z", "2024-01-01T00:00:20Z",
                                         "False"), 5003.0)
    assert (health.probe, health.ready_transition) == (5003.0, 5003.0)
    lease = {"spec": {"renewTime": "2024-01-01T00:01:00.500000Z"}}
    observe_lease(health, lease, 5004.0)
    assert health.probe == 5004.0
    observe_lease(health, lease, 5005.0)  # not renewed since
    assert health.probe == 5004.0
    # A later status keeps what we know of the lease.
    health = observe_status(health, node("2024-01-01T00:00:30Z", "2024-01-01T00:00:20Z",
                                         "False"), 5006.0)
    assert health.lease_renew is not None
    assert health.ready_transition == 5003.0


def test_conditions_set_unknown() -> None:
    silent = node("2024-01-01T00:00:10Z")
    set_conditions_unknown(silent, "2024-01-01T00:10:00Z")
    by_type = {c["type"]: c for c in silent["status"]["conditions"]}
    assert set(by_type) == {"Ready", "MemoryPressure", "DiskPressure", "PIDPressure"}
    ready = by_type["Ready"]
    assert (ready["status"], ready["reason"], ready["message"], ready["lastTransitionTime"],
            ready["lastHeartbeatTime"]) == (
        "Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status.",
        "2024-01-01T00:10:00Z", "2024-01-01T00:00:10Z")
    memory = by_type["MemoryPressure"]
    assert (memory["reason"], memory["message"]) == ("NodeStatusNeverUpdated",
                                                     "Kubelet never posted node status.")
    # Already Unknown: the transition time stays.
    set_conditions_unknown(silent, "2024-01-01T00:20:00Z")
    assert by_type["Ready"]["lastTransitionTime"] == "2024-01-01T00:10:00Z"


def test_taint_swaps_keep_time_added_of_unchanged_taints() -> None:
    unreachable = {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}
    not_ready = {"key": "node.kubernetes.io/not-ready", "effect": "NoExecute"}
    user = {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}
    taints = swapped_taints([user, dict(not_ready, timeAdded="2024-01-01T00:00:00Z")],
                            [unreachable], [not_ready])
    assert [t["key"] for t in taints] == ["dedicated", "node.kubernetes.io/unreachable"]
    assert "timeAdded" in taints[1]
    again = swapped_taints(taints, [unreachable], [not_ready])
    assert again == taints
    noschedule = swapped_taints([], [{"key": "node.kubernetes.io/unschedulable",
                                      "effect": "NoSchedule"}], [])
    assert noschedule == [{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}]


UNREACHABLE = [{"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}]


@pytest.mark.parametrize(("tolerations", "tolerated", "seconds"), [
    ([], False, None),
    ([{"key": "node.kubernetes.io/unreachable", "operator": "Exists",
       "effect": "NoExecute", "tolerationSeconds": 1}], True, 1.0),
    ([{"key": "node.kubernetes.io/unreachable", "operator": "Exists",
       "effect": "NoExecute"}], True, -1.0),
    ([{"operator": "Exists"}], True, -1.0),
    ([{"key": "node.kubernetes.io/unreachable", "operator": "Exists",
       "tolerationSeconds": -5}], True, 0.0),
    ([{"key": "node.kubernetes.io/not-ready", "operator": "Exists"}], False, None),
], ids=["none", "1s", "forever", "wildcard", "negative", "other-key"])
def test_tolerations(tolerations: list[dict[str, Any]], tolerated: bool,
                     seconds: float | None) -> None:
    ok, used = matching_tolerations(UNREACHABLE, tolerations)
    assert ok is tolerated
    if seconds is not None:
        assert min_toleration_seconds(used) == seconds


def test_zone_states_and_rates() -> None:
    assert compute_zone_state(["True", "True"]) == (0, ZoneState.NORMAL)
    assert compute_zone_state(["Unknown", None]) == (2, ZoneState.FULL_DISRUPTION)
    assert compute_zone_state(["True", "False", "Unknown", None]) == \
        (3, ZoneState.PARTIAL_DISRUPTION)
    assert compute_zone_state(["True", "True", "False", "Unknown"]) == (2, ZoneState.NORMAL)
    assert zone_qps(ZoneState.PARTIAL_DISRUPTION, 10) == 0.0
    assert zone_qps(ZoneState.PARTIAL_DISRUPTION, 100) == 0.01
    assert zone_qps(ZoneState.FULL_DISRUPTION, 10) == 0.1
    assert zone_key({"metadata": {"labels": {"topology.kubernetes.io/zone": "a"}}}) == ":\x00:a"
    assert zone_key({"metadata": {}}) == ""


def test_token_bucket() -> None:
    clock = Clock()
    bucket = TokenBucket(0.5, 1, clock)
    assert bucket.try_accept()
    assert not bucket.try_accept()
    clock.now += 2
    assert bucket.try_accept()
    assert not TokenBucket(0.0, 1, clock).try_accept()


async def test_tainting_queue_is_rate_limited_and_remembers_processed_nodes() -> None:
    clock = Clock()
    queue = RateLimitedTimedQueue(0.1, clock)
    done: list[str] = []

    async def taint(value: TimedValue) -> tuple[bool, float]:
        done.append(value.value)
        return True, 0.0

    assert queue.add("a") and queue.add("b")
    assert not queue.add("a")
    await queue.try_process(taint)
    assert done == ["a"]  # burst 1
    clock.now += 10
    await queue.try_process(taint)
    assert done == ["a", "b"]
    # Processed nodes stay known until removed (the node became healthy).
    assert not queue.add("a")
    assert queue.remove("a") and queue.add("a")
    queue.swap_limiter(0.0)
    clock.now += 100
    await queue.try_process(taint)
    assert done == ["a", "b"]
    queue.swap_limiter(0.1)
    clock.now += 10
    await queue.try_process(taint)
    assert done == ["a", "b", "a"]


async def test_failed_tainting_is_retried_later() -> None:
    clock = Clock()
    queue = RateLimitedTimedQueue(100.0, clock)
    attempts: list[float] = []

    async def flaky(value: TimedValue) -> tuple[bool, float]:
        attempts.append(clock.now)
        return len(attempts) > 1, 5.0

    queue.add("a")
    await queue.try_process(flaky)
    await queue.try_process(flaky)
    assert attempts == [1000.0]  # not due yet
    clock.now += 6
    await queue.try_process(flaky)
    assert attempts == [1000.0, 1006.0]
    assert len(queue) == 0
