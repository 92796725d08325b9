"""Rollout arithmetic: surge/unavailability fenceposts, the new ReplicaSet's allowance,
saturation, the active-or-latest choice and proportional scaling."""

from __future__ import annotations

from typing import Any

import pytest

from kubesmith.controllers.deployment import revisions
from kubesmith.controllers.deployment.replicas import (
    by_size,
    find_active_or_latest,
    is_saturated,
    max_surge,
    max_unavailable,
    new_rs_new_replicas,
    proportional_sizes,
    resolve_fenceposts,
    terminating_replicas,
)


def deployment(replicas: int, surge: int | str = "25%", unavailable: int | str = "25%",
               strategy: str = "RollingUpdate", status_replicas: int = 0) -> dict[str, Any]:
    spec: dict[str, Any] = {"replicas": replicas, "strategy": {"type": strategy}}
    if strategy == "RollingUpdate":
        spec["strategy"]["rollingUpdate"] = {"maxSurge": surge, "maxUnavailable": unavailable}
    return {"metadata": {"name": "d", "generation": 1}, "spec": spec,
            "status": {"replicas": status_replicas}}


def replica_set(name: str, replicas: int, created: str = "2024-01-01T00:00:00Z", *,
                available: int = 0, desired: int | None = None,
                max_replicas: int | None = None) -> dict[str, Any]:
    annotations = {}
    if desired is not None:
        annotations[revisions.DESIRED_REPLICAS] = str(desired)
    if max_replicas is not None:
        annotations[revisions.MAX_REPLICAS] = str(max_replicas)
    return {"metadata": {"name": name, "uid": name, "creationTimestamp": created,
                         "annotations": annotations},
            "spec": {"replicas": replicas}, "status": {"availableReplicas": available}}


@pytest.mark.parametrize(("surge", "unavailable", "desired", "expected"), [
    ("0%", "0%", 0, (0, 1)),          # never both zero: the rollout could not move
    ("39%", "39%", 10, (4, 3)),       # surge rounds up, unavailability down
    ("25%", "25%", 4, (1, 1)),
    (1, 0, 4, (1, 0)),
    (0, "50%", 4, (0, 2)),
    ("100%", 0, 3, (3, 0)),
    (None, None, 5, (0, 1)),
], ids=["zero-percent", "rounding", "defaults", "ints", "percent-unavailable", "full-surge",
        "unset"])
def test_fenceposts(surge: Any, unavailable: Any, desired: int,
                    expected: tuple[int, int]) -> None:
    assert resolve_fenceposts(surge, unavailable, desired) == expected


def test_bad_fencepost_is_an_error_and_counts_as_zero() -> None:
    with pytest.raises(ValueError, match="not a percentage"):
        resolve_fenceposts("5", 0, 10)
    assert max_surge(deployment(10, surge="5")) == 0


def test_max_unavailable_is_capped_and_zero_for_recreate() -> None:
    assert max_unavailable(deployment(2, unavailable=5)) == 2
    assert max_unavailable(deployment(0)) == 0
    assert max_unavailable(deployment(4, strategy="Recreate")) == 0
    assert max_surge(deployment(4, strategy="Recreate")) == 0


@pytest.mark.parametrize(("replicas", "old", "new", "expected"), [
    (4, 4, 0, 1),    # surge 1: the new one may take one pod beyond the old four
    (4, 3, 1, 2),
    (4, 4, 1, 1),    # at the ceiling already
    (4, 0, 3, 4),    # never more than the deployment wants
], ids=["first-step", "next-step", "at-ceiling", "capped"])
def test_new_replica_set_allowance(replicas: int, old: int, new: int, expected: int) -> None:
    d = deployment(replicas)
    new_rs = replica_set("new", new, "2024-01-02T00:00:00Z")
    assert new_rs_new_replicas(d, [replica_set("old", old), new_rs], new_rs) == expected


def test_recreate_new_replica_set_gets_everything() -> None:
    d = deployment(5, strategy="Recreate")
    new_rs = replica_set("new", 0)
    assert new_rs_new_replicas(d, [replica_set("old", 5), new_rs], new_rs) == 5


def test_saturation_needs_size_annotation_and_availability() -> None:
    d = deployment(3)
    assert is_saturated(d, replica_set("n", 3, available=3, desired=3))
    assert not is_saturated(d, replica_set("n", 3, available=2, desired=3))
    assert not is_saturated(d, replica_set("n", 3, available=3, desired=2))
    assert not is_saturated(d, replica_set("n", 3, available=3))
    assert not is_saturated(d, None)


def test_active_or_latest() -> None:
    old1 = replica_set("old1", 0, "2024-01-01T00:00:00Z")
    old2 = replica_set("old2", 0, "2024-01-02T00:00:00Z")
    new = replica_set("new", 0, "2024-01-03T00:00:00Z")
    assert find_active_or_latest(new, [old1, old2]) is new
    assert find_active_or_latest(None, [old1, old2]) is old2
    busy = replica_set("busy", 2, "2024-01-01T00:00:00Z")
    assert find_active_or_latest(new, [busy, old2]) is busy
    assert find_active_or_latest(replica_set("n", 1), [busy]) is None
    assert find_active_or_latest(None, []) is None


def test_size_orders() -> None:
    a = replica_set("a", 2, "2024-01-01T00:00:00Z")
    b = replica_set("b", 2, "2024-01-02T00:00:00Z")
    c = replica_set("c", 5, "2024-01-03T00:00:00Z")
    assert [r["metadata"]["name"] for r in by_size([a, b, c], newer_first=True)] == \
        ["c", "b", "a"]
    assert [r["metadata"]["name"] for r in by_size([a, b, c], newer_first=False)] == \
        ["c", "a", "b"]


def test_proportional_scale_up_during_rollout() -> None:
    # 10 replicas, surge 3: a rollout stuck at old 8 + new 5 (13 = the old maximum) is
    # scaled to 20 (new maximum 23): each grows in proportion, leftovers to the largest.
    d = deployment(20, surge=3, unavailable=2)
    old = replica_set("old", 8, "2024-01-01T00:00:00Z", desired=10, max_replicas=13)
    new = replica_set("new", 5, "2024-01-02T00:00:00Z", desired=10, max_replicas=13)
    plan, operation = proportional_sizes(d, [old, new])
    sizes = {rs["metadata"]["name"]: size for rs, size in plan}
    assert operation == "up"
    assert sizes == {"old": 14, "new": 9}
    assert sum(sizes.values()) == 23


def test_proportional_scale_down_and_to_zero() -> None:
    d = deployment(5, surge=1, unavailable=0)
    old = replica_set("old", 6, "2024-01-01T00:00:00Z", max_replicas=11)
    new = replica_set("new", 5, "2024-01-02T00:00:00Z", max_replicas=11)
    plan, operation = proportional_sizes(d, [old, new])
    assert operation == "down"
    assert sum(size for _, size in plan) == 6
    zero, op = proportional_sizes(deployment(0, surge=1, unavailable=0), [old, new])
    assert op == "down" and [size for _, size in zero] == [0, 0]


def test_proportional_without_annotation_falls_back_to_status() -> None:
    d = deployment(8, surge=0, unavailable=1, status_replicas=4)
    old = replica_set("old", 2, "2024-01-01T00:00:00Z")
    new = replica_set("new", 2, "2024-01-02T00:00:00Z")
    plan, _ = proportional_sizes(d, [old, new])
    assert sorted(size for _, size in plan) == [4, 4]


def test_terminating_replicas_unknown_until_reported() -> None:
    fresh = {"status": {}}
    reporting = {"status": {"observedGeneration": 1, "terminatingReplicas": 2}}
    silent = {"status": {"observedGeneration": 1}}
    assert terminating_replicas([fresh, reporting, None]) == 2
    assert terminating_replicas([reporting, silent]) is None
