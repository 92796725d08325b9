"""The namespace controller's judgement of remaining content and its status conditions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from kubesmith.client.discovery import APIResource
from kubesmith.controllers.namespace import (
    NamespaceConditions,
    pods_grace_estimate,
    remaining_result,
)

PODS = APIResource("", "v1", "pods", "Pod", True, frozenset({"delete", "list"}))
WIDGETS = APIResource("x.io", "v1", "widgets", "Widget", True, frozenset({"delete", "list"}))


def _item(*finalizers: str) -> dict[str, Any]:
    return {"metadata": {"name": "x", "finalizers": list(finalizers)}}


def _by_type(status: dict[str, Any]) -> dict[str, tuple[str, str, str]]:
    return {c["type"]: (c["status"], c["reason"], c["message"]) for c in status["conditions"]}


def test_all_clear_sets_the_five_ok_conditions() -> None:
    status: dict[str, Any] = {"phase": "Terminating"}
    assert NamespaceConditions().apply(status, now="2025-01-01T00:00:00Z")
    assert _by_type(status) == {
        "NamespaceDeletionDiscoveryFailure":
            ("False", "ResourcesDiscovered", "All resources successfully discovered"),
        "NamespaceDeletionGroupVersionParsingFailure":
            ("False", "ParsedGroupVersions", "All legacy kube types successfully parsed"),
        "NamespaceDeletionContentFailure":
            ("False", "ContentDeleted",
             "All content successfully deleted, may be waiting on finalization"),
        "NamespaceContentRemaining":
            ("False", "ContentRemoved", "All content successfully removed"),
        "NamespaceFinalizersRemaining":
            ("False", "ContentHasNoFinalizers", "All content-preserving finalizers finished"),
    }
    assert not NamespaceConditions().apply(status)  # nothing changed, nothing to write


def test_failures_and_remaining_content() -> None:
    status: dict[str, Any] = {}
    NamespaceConditions().apply(status, now="2025-01-01T00:00:00Z")
    conditions = NamespaceConditions()
    conditions.discovery_failed("Discovery failed for some groups, 1 failing: x")
    conditions.content_failed("b failed")
    conditions.content_failed("a failed")
    conditions.content_totals({"pods.": 2, "widgets.x.io": 1, "secrets.": 0},
                              {"z/hold": 1, "a/hold": 3})
    assert conditions.apply(status, now="2025-01-01T00:01:00Z")
    found = _by_type(status)
    assert found["NamespaceDeletionDiscoveryFailure"] == (
        "True", "DiscoveryFailed", "Discovery failed for some groups, 1 failing: x")
    assert found["NamespaceDeletionContentFailure"] == (
        "True", "ContentDeletionFailed",
        "Failed to delete all resource types, 2 remaining: a failed, b failed")
    assert found["NamespaceContentRemaining"] == (
        "True", "SomeResourcesRemain",
        "Some resources are remaining: pods. has 2 resource instances, widgets.x.io has 1 "
        "resource instances")
    assert found["NamespaceFinalizersRemaining"] == (
        "True", "SomeFinalizersRemain",
        "Some content in the namespace has finalizers remaining: a/hold in 3 resource "
        "instances, z/hold in 1 resource instances")
    times = {c["type"]: c["lastTransitionTime"] for c in status["conditions"]}
    assert times["NamespaceContentRemaining"] == "2025-01-01T00:01:00Z"
    assert times["NamespaceDeletionGroupVersionParsingFailure"] == "2025-01-01T00:00:00Z"


def test_remaining_content_rules() -> None:
    assert remaining_result("ns", PODS, [], 30).remaining == 0
    waiting = remaining_result("ns", PODS, [_item(), _item()], 30)
    assert (waiting.estimate, waiting.remaining, waiting.error) == (30, 2, "")
    held = remaining_result("ns", WIDGETS, [_item("a/hold"), _item()], 0)
    assert (held.estimate, held.remaining, dict(held.finalizers)) == (15, 2, {"a/hold": 1})
    stuck = remaining_result("ns", PODS, [_item()], 0)
    assert stuck.error == "unexpected items still remain in namespace: ns for gvr: /v1, " \
                          "Resource=pods"


def test_pod_grace_estimate() -> None:
    now = datetime(2025, 1, 1, tzinfo=UTC)
    pods: list[dict[str, Any]] = [
        {"spec": {"terminationGracePeriodSeconds": 30}, "status": {"phase": "Running"}},
        {"spec": {"terminationGracePeriodSeconds": 90}, "status": {"phase": "Failed"}},
        {"spec": {"terminationGracePeriodSeconds": 10}}]
    assert pods_grace_estimate(pods, now - timedelta(seconds=5), now) == 30
    # the namespace has been terminating for longer than any grace period
    assert pods_grace_estimate(pods, now - timedelta(seconds=31), now) == 0
