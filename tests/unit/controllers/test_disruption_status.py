"""PodDisruptionBudget status arithmetic: IntOrString scaling, healthy pods, the pruning of
disruptedPods, the DisruptionAllowed condition and stale DisruptionTarget conditions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kubesmith.controllers.disruption import (
    BudgetError,
    budget_count,
    budget_status,
    count_healthy,
    go_selector_string,
    prune_disrupted_pods,
    stale_disruption_wait,
)

NOW = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


def stamp(delta: timedelta) -> str:
    return (NOW + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


def pod(name: str, ready: bool = True, deleting: bool = False,
        conditions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "ns"}
    if deleting:
        meta["deletionTimestamp"] = stamp(timedelta())
    conds = conditions if conditions is not None else [
        {"type": "Ready", "status": "True" if ready else "False"}]
    return {"metadata": meta, "status": {"phase": "Running", "conditions": conds}}


@pytest.mark.parametrize(("value", "total", "expected"), [
    (3, 10, 3), ("50%", 3, 2), ("25%", 4, 1), ("10%", 1, 1), ("0%", 7, 0), ("100%", 7, 7)])
def test_budget_count_rounds_up(value: Any, total: int, expected: int) -> None:
    assert budget_count(value, total) == expected


@pytest.mark.parametrize(("value", "message"), [
    ("3", "invalid value for IntOrString: invalid type: string is not a percentage"),
    ("x%", 'invalid value for IntOrString: invalid value "x%": strconv.Atoi: parsing "x": '
           "invalid syntax"),
    (None, "invalid value for IntOrString: invalid type: neither int nor percentage")])
def test_budget_count_errors(value: Any, message: str) -> None:
    with pytest.raises(BudgetError) as err:
        budget_count(value, 3)
    assert str(err.value) == message


def test_healthy_pods_exclude_deleting_and_disrupted() -> None:
    pods = [pod("a"), pod("b"), pod("c", ready=False), pod("d", deleting=True)]
    assert count_healthy(pods, {}, NOW) == 2
    assert count_healthy(pods, {"a": stamp(timedelta(seconds=-10))}, NOW) == 1
    # a disruption older than the deletion timeout no longer counts against the pod
    assert count_healthy(pods, {"a": stamp(timedelta(minutes=-3))}, NOW) == 2


def test_disrupted_pods_pruned() -> None:
    pods = [pod("fresh"), pod("old"), pod("deleting", deleting=True)]
    result = prune_disrupted_pods(pods, {
        "fresh": stamp(timedelta(seconds=-30)), "old": stamp(timedelta(minutes=-5)),
        "deleting": stamp(timedelta()), "gone": stamp(timedelta())}, NOW)
    assert result.kept == {"fresh": stamp(timedelta(seconds=-30))}
    assert result.recheck == NOW + timedelta(seconds=90)
    assert [p["metadata"]["name"] for p in result.not_deleted] == ["old"]


def test_budget_status_and_condition() -> None:
    pdb: dict[str, Any] = {"metadata": {"generation": 2}, "status": {}}
    status = budget_status(pdb, current_healthy=3, desired_healthy=2, expected=3, disrupted={})
    assert status is not None
    assert {k: status[k] for k in ("currentHealthy", "desiredHealthy", "expectedPods",
                                   "disruptionsAllowed", "observedGeneration")} == \
        {"currentHealthy": 3, "desiredHealthy": 2, "expectedPods": 3,
         "disruptionsAllowed": 1, "observedGeneration": 2}
    [cond] = status["conditions"]
    assert (cond["type"], cond["status"], cond["reason"], cond["message"],
            cond["observedGeneration"]) == ("DisruptionAllowed", "True", "SufficientPods", "", 2)
    assert "disruptedPods" not in status
    # written once, nothing more to write
    assert budget_status({**pdb, "status": status}, 3, 2, 3, {}) is None
    # no expected pods: no disruption allowed whatever the counts say
    empty = budget_status(pdb, current_healthy=1, desired_healthy=0, expected=0, disrupted={})
    assert empty is not None and empty["disruptionsAllowed"] == 0
    assert empty["conditions"][0]["reason"] == "InsufficientPods"


def test_selector_as_go_prints_it() -> None:
    assert go_selector_string({"matchLabels": {"b": "2", "a": "1"}, "matchExpressions": [
        {"key": "k", "operator": "In", "values": ["x", "y"]}]}) == (
        "&LabelSelector{MatchLabels:map[string]string{a: 1,b: 2,},MatchExpressions:"
        "[]LabelSelectorRequirement{LabelSelectorRequirement{Key:k,Operator:In,"
        "Values:[x y],},},}")


def test_stale_disruption_target() -> None:
    def target(status: str, since: timedelta, reason: str = "EvictionByEvictionAPI"
               ) -> list[dict[str, Any]]:
        return [{"type": "DisruptionTarget", "status": status, "reason": reason,
                 "lastTransitionTime": stamp(since)}]

    assert stale_disruption_wait(pod("a", conditions=target("True", timedelta(minutes=-1))),
                                 NOW) == 60
    assert stale_disruption_wait(pod("a", conditions=target("True", timedelta(minutes=-5))),
                                 NOW) == 0
    assert stale_disruption_wait(pod("a", conditions=target("False", timedelta())), NOW) \
        is None
    assert stale_disruption_wait(pod("a", conditions=target(
        "True", timedelta(minutes=-5), reason="TerminationByKubelet")), NOW) is None
    assert stale_disruption_wait(pod("a", deleting=True, conditions=target(
        "True", timedelta(minutes=-5))), NOW) is None
