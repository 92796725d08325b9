"""Expectations shared by the workload controllers: counts (ReplicaSet, DaemonSet, Job),
deletions tracked per pod (ReplicaSet) and finalizer removals (Job)."""

from __future__ import annotations

from kubesmith.controllers.expectations import (
    ControllerExpectations,
    FinalizerRemovalExpectations,
    UIDTrackingExpectations,
)


def test_counts_wait_for_every_observation() -> None:
    expectations = ControllerExpectations()
    assert expectations.satisfied("ns/j")  # nothing pending
    expectations.expect_creations("ns/j", 2)
    assert not expectations.satisfied("ns/j")
    expectations.creation_observed("ns/j")
    assert not expectations.satisfied("ns/j")
    expectations.creation_observed("ns/j")
    assert expectations.satisfied("ns/j")
    expectations.expect_deletions("ns/j", 1)
    assert not expectations.satisfied("ns/j")
    expectations.deletion_observed("ns/j")
    assert expectations.satisfied("ns/j")


def test_lower_forgets_what_was_never_attempted_and_delete_forgets_all() -> None:
    expectations = ControllerExpectations()
    expectations.expect("ns/ds", 2, 1)
    expectations.creation_observed("ns/ds")
    expectations.deletion_observed("ns/ds")
    assert not expectations.satisfied("ns/ds")
    expectations.lower("ns/ds", 1, 0)  # the second creation was never attempted
    assert expectations.satisfied("ns/ds")
    expectations.expect("ns/ds", 1, 0)
    expectations.delete("ns/ds")
    assert expectations.satisfied("ns/ds")


def test_stale_expectations_count_as_met() -> None:
    stale = ControllerExpectations(timeout=0.0)
    stale.expect("ns/ds", 5, 5)
    assert stale.satisfied("ns/ds")
    expectations = ControllerExpectations()
    expectations.expect_deletions("ns/j", 1)
    expectations.timeout = 0
    assert expectations.satisfied("ns/j")


def test_deletions_tracked_per_pod_count_once() -> None:
    expectations = UIDTrackingExpectations()
    expectations.expect_deletions("ns/rs", ["ns/a", "ns/b"])
    expectations.deletion_observed("ns/rs", "ns/a")
    expectations.deletion_observed("ns/rs", "ns/a")  # seen terminating, then gone
    assert not expectations.satisfied("ns/rs")
    expectations.deletion_observed("ns/rs", "ns/other")  # not one we deleted
    assert not expectations.satisfied("ns/rs")
    expectations.deletion_observed("ns/rs", "ns/b")
    assert expectations.satisfied("ns/rs")
    expectations.expect_creations("ns/rs", 1)
    assert not expectations.satisfied("ns/rs")
    expectations.delete("ns/rs")
    assert expectations.satisfied("ns/rs")


def test_finalizer_removals() -> None:
    uids = FinalizerRemovalExpectations()
    uids.expect_removed("ns/j", ["a", "b"])
    uids.removal_observed("ns/j", "a")
    assert uids.expected("ns/j") == {"b"}
    uids.delete("ns/j")
    assert uids.expected("ns/j") == set()
