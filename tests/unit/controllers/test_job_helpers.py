"""The Job controller's pure parts: index intervals, pod failure policy matching, failure
backoff, success policy and removal order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kubesmith.controllers.job.backoff import BackoffStore, remaining_for_failures
from kubesmith.controllers.job.failure_policy import (
    COUNT,
    FAIL_INDEX,
    FAIL_JOB,
    IGNORE,
    match_pod_failure_policy,
)
from kubesmith.controllers.job.indexed import (
    COMPLETION_INDEX_ANNOTATION,
    Intervals,
    add_completion_index_env,
    completion_index,
    first_pending_indexes,
    generate_name_with_index,
    template_for_index,
)
from kubesmith.controllers.job.per_index import (
    add_failure_count_annotations,
    is_index_failed,
    match_success_policy,
)
from kubesmith.controllers.job.pods import finished_time, is_pod_failed, removal_order_key

T0 = datetime(2026, 5, 1, 10, 0, 0, tzinfo=UTC)


def stamp(offset: float = 0) -> str:
    return (T0 + timedelta(seconds=offset)).strftime("%Y-%m-%dT%H:%M:%SZ")


def pod(name: str = "p", *, phase: str = "Failed", exit_code: int | None = None,
        container: str = "main", conditions: list[dict[str, Any]] | None = None,
        annotations: dict[str, str] | None = None, **meta: Any) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": phase, "conditions": conditions or []}
    if exit_code is not None:
        status["containerStatuses"] = [{"name": container, "state": {"terminated": {
            "exitCode": exit_code, "finishedAt": stamp(30)}}}]
    return {"metadata": {"name": name, "namespace": "ns", "annotations": annotations or {},
                         **meta}, "status": status}


# ---- intervals ------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "completions", "expected", "total"), [
    ("", 5, "", 0),
    ("0-4", 5, "0-4", 5),
    ("0,1,2", 5, "0-2", 3),
    ("1,3-5,7", 10, "1,3-5,7", 5),
    ("1,3-9", 5, "1,3,4", 3),
    ("x,2,3-y,4", 10, "2,4", 2),
    ("6,7", 5, "", 0),
])
def test_parse_intervals(text: str, completions: int, expected: str, total: int) -> None:
    intervals = Intervals.parse(text, completions)
    assert str(intervals) == expected
    assert intervals.total() == total


def test_interval_union_and_membership() -> None:
    merged = Intervals.parse("0,4-5", 10).with_indexes([1, 2, 3, 8])
    assert str(merged) == "0-5,8"
    assert [i for i in range(10) if merged.has(i)] == [0, 1, 2, 3, 4, 5, 8]
    assert str(Intervals.parse("0-2", 9).merge(Intervals.parse("1-4,7", 9))) == "0-4,7"


def test_first_pending_indexes() -> None:
    taken = Intervals.parse("0,2-3,6", 10)
    assert first_pending_indexes(3, 10, taken) == [1, 4, 5]
    assert first_pending_indexes(10, 8, taken) == [1, 4, 5, 7]
    assert first_pending_indexes(0, 10, taken) == []


def test_index_annotation_and_template() -> None:
    template = {"metadata": {"labels": {"a": "b"}},
                "spec": {"containers": [{"name": "c", "env": [{"name": "X", "value": "1"}]}],
                         "initContainers": [{"name": "i"}]}}
    add_completion_index_env(template)
    add_completion_index_env(template)
    field = {"fieldRef": {"fieldPath": f"metadata.labels['{COMPLETION_INDEX_ANNOTATION}']"}}
    assert template["spec"]["containers"][0]["env"] == [
        {"name": "X", "value": "1"}, {"name": "JOB_COMPLETION_INDEX", "valueFrom": field}]
    assert template["spec"]["initContainers"][0]["env"] == [
        {"name": "JOB_COMPLETION_INDEX", "valueFrom": field}]
    for_three = template_for_index(template, "work", 3)
    assert for_three["metadata"]["annotations"] == {COMPLETION_INDEX_ANNOTATION: "3"}
    assert for_three["metadata"]["labels"] == {"a": "b", COMPLETION_INDEX_ANNOTATION: "3"}
    assert for_three["spec"]["hostname"] == "work-3"
    assert "annotations" not in template["metadata"]
    assert completion_index(for_three) == 3
    assert completion_index(pod(annotations={COMPLETION_INDEX_ANNOTATION: "-1"})) is None
    assert completion_index(pod(annotations={COMPLETION_INDEX_ANNOTATION: "x"})) is None
    assert generate_name_with_index("a" * 70, 12) == "a" * 54 + "-12-"
    assert generate_name_with_index("job", 0) == "job-0-"


# ---- pod failure policy ------------------------------------------------------------------

POLICY = {"rules": [
    {"action": IGNORE, "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
    {"action": FAIL_JOB, "onExitCodes": {"containerName": "main", "operator": "In",
                                         "values": [42]}},
    {"action": COUNT, "onExitCodes": {"operator": "NotIn", "values": [1, 2]}},
    {"action": FAIL_INDEX, "onExitCodes": {"operator": "In", "values": [2]}},
]}


def test_fail_job_on_exit_code() -> None:
    match = match_pod_failure_policy(POLICY, pod("w-1", exit_code=42))
    assert match.action == FAIL_JOB and match.counts
    assert match.fail_job_message == ("Container main for pod ns/w-1 failed with exit code 42 "
                                      "matching FailJob rule at index 1")


def test_ignore_on_disruption_condition() -> None:
    evicted = pod(exit_code=42, conditions=[{"type": "DisruptionTarget", "status": "True"}])
    match = match_pod_failure_policy(POLICY, evicted)
    assert match.action == IGNORE and not match.counts and match.fail_job_message is None


def test_rule_order_and_operators() -> None:
    assert match_pod_failure_policy(POLICY, pod(exit_code=42, container="side")).action == COUNT
    assert match_pod_failure_policy(POLICY, pod(exit_code=2)).action == FAIL_INDEX
    unmatched = match_pod_failure_policy(POLICY, pod(exit_code=1))
    assert unmatched.action is None and unmatched.counts
    # A container still running (no exit code) matches no exit-code rule.
    assert match_pod_failure_policy(POLICY, pod()).action is None
    assert match_pod_failure_policy(None, pod(exit_code=42)).counts


def test_fail_job_on_pod_condition() -> None:
    policy = {"rules": [{"action": FAIL_JOB, "onPodConditions": [
        {"type": "ConfigIssue", "status": "True"}]}]}
    match = match_pod_failure_policy(policy, pod("w", conditions=[
        {"type": "ConfigIssue", "status": "True"}]))
    assert match.fail_job_message == ("Pod ns/w has condition ConfigIssue matching FailJob rule "
                                      "at index 0")


# ---- failure counting and backoff ------------------------------------------------------

def test_which_pods_count_as_failed() -> None:
    job: dict[str, Any] = {"spec": {}}
    deleting = pod(phase="Running", deletionTimestamp=stamp())
    assert is_pod_failed(pod(), job)
    assert is_pod_failed(deleting, job)
    assert not is_pod_failed(pod(phase="Succeeded", deletionTimestamp=stamp()), job)
    # podReplacementPolicy Failed (or a failure policy): wait for the Failed phase.
    assert not is_pod_failed(deleting, {"spec": {"podReplacementPolicy": "Failed"}})
    assert not is_pod_failed(deleting, {"spec": {"podFailurePolicy": {"rules": []}}})


def test_backoff_doubles_and_is_capped() -> None:
    assert remaining_for_failures(T0, 10, 600, 0, T0) == 0
    assert remaining_for_failures(T0, 10, 600, 1, T0) == 10
    assert remaining_for_failures(T0 + timedelta(seconds=4), 10, 600, 3, T0) == 36
    assert remaining_for_failures(T0, 10, 600, 20, T0) == 600
    assert remaining_for_failures(T0 + timedelta(seconds=50), 10, 600, 2, T0) == 0


def test_backoff_record_counts_failures_after_the_last_success() -> None:
    store = BackoffStore()
    failed = [pod("a", exit_code=1), pod("b", exit_code=1)]
    record = store.next_record("ns/j", [], failed)
    assert record.failures_after_last_success == 2
    assert record.last_failure_time == T0 + timedelta(seconds=30)
    store.update(record)
    succeeded = pod("s", phase="Succeeded", exit_code=0)
    succeeded["status"]["containerStatuses"][0]["state"]["terminated"]["finishedAt"] = stamp(40)
    later = pod("c", exit_code=1)
    later["status"]["containerStatuses"][0]["state"]["terminated"]["finishedAt"] = stamp(50)
    record = store.next_record("ns/j", [succeeded], [later, pod("d", exit_code=1)])
    assert record.failures_after_last_success == 1
    assert record.last_failure_time == T0 + timedelta(seconds=50)
    assert store.next_record("ns/j", [succeeded], []).failures_after_last_success == 0


def test_finished_time_fallbacks() -> None:
    ready_false = pod(conditions=[{"type": "Ready", "status": "False",
                                   "lastTransitionTime": stamp(7)}])
    assert finished_time(ready_false) == T0 + timedelta(seconds=7)
    deleted = pod(deletionTimestamp=stamp(60), deletionGracePeriodSeconds=30)
    assert finished_time(deleted) == T0 + timedelta(seconds=30)
    assert finished_time(pod(creationTimestamp=stamp(1))) == T0 + timedelta(seconds=1)


# ---- per-index and success policy ------------------------------------------------------

def test_index_failure_counts() -> None:
    job = {"spec": {"backoffLimitPerIndex": 1}}
    first = pod(exit_code=1, annotations={COMPLETION_INDEX_ANNOTATION: "2"})
    assert not is_index_failed(job, first)
    template: dict[str, Any] = {"metadata": {}}
    add_failure_count_annotations(template, job, first)
    assert template["metadata"]["annotations"] == {
        "batch.kubernetes.io/job-index-failure-count": "1"}
    second = pod(exit_code=1, annotations=template["metadata"]["annotations"])
    assert is_index_failed(job, second)
    fail_index = {"spec": {"backoffLimitPerIndex": 5, "podFailurePolicy": POLICY}}
    assert is_index_failed(fail_index, pod(exit_code=2))
    ignored: dict[str, Any] = {"metadata": {}}
    add_failure_count_annotations(ignored, fail_index, pod(exit_code=3, conditions=[
        {"type": "DisruptionTarget", "status": "True"}]))
    assert ignored["metadata"]["annotations"] == {
        "batch.kubernetes.io/job-index-failure-count": "0",
        "batch.kubernetes.io/job-index-ignored-failure-count": "1"}


def test_success_policy() -> None:
    policy = {"rules": [{"succeededIndexes": "0,2-3"},
                        {"succeededIndexes": "5-9", "succeededCount": 2},
                        {"succeededCount": 4}]}
    assert match_success_policy(policy, 10, Intervals.parse("0,2", 10)) is None
    assert match_success_policy(policy, 10, Intervals.parse("0,2-3", 10)) == \
        "Matched rules at index 0"
    assert match_success_policy(policy, 10, Intervals.parse("6,8", 10)) == \
        "Matched rules at index 1"
    assert match_success_policy(policy, 10, Intervals.parse("1,4,6", 10)) is None
    assert match_success_policy(policy, 10, Intervals.parse("1,4,6,7", 10)) == \
        "Matched rules at index 1"
    assert match_success_policy(None, 10, Intervals.parse("0-9", 10)) is None


# ---- removal order and expectations ------------------------------------------------------

def test_removal_order_prefers_cheap_pods() -> None:
    def active(name: str, **extra: Any) -> dict[str, Any]:
        p = {"metadata": {"name": name, "creationTimestamp": extra.pop("created", stamp())},
             "spec": {"nodeName": extra.pop("node", "n1")},
             "status": {"phase": extra.pop("phase", "Running"), "conditions": []}}
        if extra.pop("ready_since", None) is not None:
            p["status"]["conditions"] = [{"type": "Ready", "status": "True",
                                          "lastTransitionTime": extra["since"]}]
        return p
    pods = [
        active("ready-long", ready_since=True, since=stamp(0)),
        active("ready-short", ready_since=True, since=stamp(50)),
        active("running-not-ready"),
        active("pending", phase="Pending"),
        active("unscheduled", node="", phase="Pending"),
        active("older-not-ready", created=stamp(-100)),
    ]
    order = [p["metadata"]["name"] for p in sorted(pods, key=removal_order_key)]
    assert order == ["unscheduled", "pending", "running-not-ready", "older-not-ready",
                     "ready-short", "ready-long"]

