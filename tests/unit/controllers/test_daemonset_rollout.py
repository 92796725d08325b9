"""One step of a DaemonSet rolling update, decided from a node -> pods map."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from kubesmith.controllers.daemonset.rollout import (
    RolloutInput,
    plan_rolling_update,
    updated_and_old,
)

NOW = datetime(2024, 1, 1, tzinfo=UTC)


def pod(name: str, new: bool, ready: bool = True, deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": {
        "controller-revision-hash": "new" if new else "old"}}
    if deleting:
        meta["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    return {"metadata": meta, "status": {"conditions": [
        {"type": "Ready", "status": "True" if ready else "False",
         "lastTransitionTime": "2023-12-31T00:00:00Z"}]}}


def ds(max_unavailable: int | str = 1, max_surge: int | str = 0) -> dict[str, Any]:
    return {"spec": {"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {
        "maxUnavailable": max_unavailable, "maxSurge": max_surge}}}}


def plan(daemonset: dict[str, Any], node_pods: dict[str, list[dict[str, Any]]],
         leaving: frozenset[str] = frozenset()) -> tuple[list[str], list[str]]:
    result = plan_rolling_update(RolloutInput(
        daemonset, node_pods, len(node_pods) - len(leaving), "new", None,
        lambda name: name not in leaving, NOW))
    return sorted(result.delete), sorted(result.create_on)


def test_updated_and_old_ignores_deleting_pods_and_flags_duplicates() -> None:
    assert updated_and_old([pod("a", True), pod("b", False, deleting=True)], "new", None) \
        == (pod("a", True), None, True)
    assert updated_and_old([pod("a", True), pod("b", True)], "new", None)[2] is False


def test_without_surge_deletes_within_max_unavailable() -> None:
    nodes = {f"n{i}": [pod(f"p{i}", False)] for i in range(4)}
    delete, create = plan(ds(1), nodes)
    assert len(delete) == 1 and create == []
    assert len(plan(ds("50%"), nodes)[0]) == 2


def test_without_surge_waits_while_a_new_pod_is_unavailable() -> None:
    nodes = {"n0": [pod("p0", True, ready=False)], "n1": [pod("p1", False)]}
    assert plan(ds(1), nodes) == ([], [])
    # An old pod that is not available anyway is always replaced.
    nodes["n2"] = [pod("p2", False, ready=False)]
    assert plan(ds(1), nodes) == (["p2"], [])


def test_without_surge_counts_empty_nodes_as_unavailable() -> None:
    assert plan(ds(1), {"n0": [], "n1": [pod("p1", False)]}) == ([], [])


def test_surge_creates_first_and_deletes_old_once_new_is_available() -> None:
    nodes = {"n0": [pod("p0", False)], "n1": [pod("p1", False)]}
    assert plan(ds(0, 1), nodes) == ([], ["n0"]) or plan(ds(0, 1), nodes) == ([], ["n1"])
    nodes["n0"].append(pod("p0-new", True, ready=False))
    assert plan(ds(0, 1), nodes) == ([], [])
    nodes["n0"][1] = pod("p0-new", True)
    assert plan(ds(0, 1), nodes) == (["p0"], ["n1"])


def test_surge_keeps_pods_on_leaving_nodes_until_enough_are_available() -> None:
    nodes = {"n0": [pod("p0", True)], "gone": [pod("pg", False)]}
    assert plan(ds(0, 1), nodes, frozenset({"gone"})) == (["pg"], [])
    nodes["n0"] = [pod("p0", True, ready=False)]
    assert plan(ds(0, 1), nodes, frozenset({"gone"})) == ([], [])


@pytest.mark.parametrize("bad", ["x", "5"], ids=["word", "no-percent"])
def test_invalid_max_unavailable_is_an_error(bad: str) -> None:
    with pytest.raises(ValueError, match="IntOrString"):
        plan(ds(bad), {"n0": [pod("p0", False)]})
