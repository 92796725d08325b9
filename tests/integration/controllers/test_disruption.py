"""The disruption controller against a real API server: PodDisruptionBudget status for an
integer minAvailable, percentages resolved against the pods' controllers (a bare
ReplicaSet, a Deployment through its ReplicaSet), maxUnavailable, the fail-safe SyncFailed
condition, and pruning of disruptedPods.

Workload objects are made by hand (no workload controllers run) and pods are marked
Running/Ready by patching their status, as a kubelet would."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kubesmith.client import Client, Resource
from kubesmith.client.rest import (
    DEPLOYMENTS,
    EVENTS,
    PODDISRUPTIONBUDGETS,
    PODS,
    REPLICASETS,
)
from kubesmith.controllers.util import now_rfc3339
from tests.conftest import RunningServer
from tests.integration.controllers.conftest import running_registered
from tests.integration.controllers.helpers import until
from tests.integration.controllers.objects import (
    delete_crd,
    make_crd,
    owner_ref,
    pod,
    set_pod_status,
)

pytestmark = pytest.mark.integration

DISRUPTION = "disruption-controller"
LABELS = {"app": "web"}


@pytest.fixture
async def disruption(server: RunningServer,
                     monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[None]:
    async with running_registered(server, monkeypatch, DISRUPTION,
                                  "kubesmith.controllers.disruption:DisruptionController"):
        yield


async def make_pods(admin: Client, namespace: str, count: int, ready: int,
                    *owners: dict[str, Any]) -> None:
    for i in range(count):
        await admin.create(PODS, pod(f"web-{i}", *owners, labels=LABELS), namespace)
        if i < ready:
            await set_pod_status(admin, namespace, f"web-{i}", None, ready=True)


async def make_pdb(admin: Client, namespace: str, name: str, **spec: Any) -> None:
    await admin.create(PODDISRUPTIONBUDGETS, {
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": name},
        "spec": {"selector": {"matchLabels": LABELS}, **spec}}, namespace)


async def status_becomes(admin: Client, namespace: str, name: str,
                         **wanted: Any) -> dict[str, Any]:
    """Wait until the budget's status has ``wanted`` (and is for its generation)."""
    async def check() -> dict[str, Any] | None:
        pdb = await admin.get(PODDISRUPTIONBUDGETS, name, namespace)
        status = pdb.get("status") or {}
        if status.get("observedGeneration") != pdb["metadata"].get("generation"):
            return None
        current = {k: status.get(k) for k in wanted}
        return status if current == wanted else None

    found: dict[str, Any] = await until(check, f"{name} status {wanted}")
    return found


def allowed_condition(status: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == "DisruptionAllowed")


async def test_min_available_integer(admin: Client, ns: str, disruption: None) -> None:
    await make_pods(admin, ns, 3, 3)
    await make_pdb(admin, ns, "web", minAvailable=2)

    status = await status_becomes(admin, ns, "web", currentHealthy=3, desiredHealthy=2,
                                  expectedPods=3, disruptionsAllowed=1)
    cond = allowed_condition(status)
    assert (cond["status"], cond["reason"]) == ("True", "SufficientPods")

    await set_pod_status(admin, ns, "web-2", None, ready=False)
    status = await status_becomes(admin, ns, "web", currentHealthy=2, disruptionsAllowed=0)
    cond = allowed_condition(status)
    assert (cond["status"], cond["reason"]) == ("False", "InsufficientPods")

    # a pod relabelled out of the selector no longer counts
    await admin.patch(PODS, "web-1", {"metadata": {"labels": {"app": "other"}}}, ns)
    await status_becomes(admin, ns, "web", currentHealthy=1, expectedPods=2,
                         disruptionsAllowed=0)


async def test_percentages_use_the_controllers_scale(admin: Client, ns: str,
                                                     disruption: None) -> None:
    rs = await admin.create(REPLICASETS, {
        "apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web"},
        "spec": {"replicas": 4, "selector": {"matchLabels": LABELS},
                 "template": {"metadata": {"labels": LABELS}, "spec": pod("x")["spec"]}}}, ns)
    # three of the four replicas exist, all ready: the scale, not the pod count, is expected
    await make_pods(admin, ns, 3, 3, owner_ref(rs, controller=True, block=True))
    await make_pdb(admin, ns, "half", minAvailable="50%")
    await make_pdb(admin, ns, "quarter", maxUnavailable="25%")

    await status_becomes(admin, ns, "half", expectedPods=4, desiredHealthy=2,
                         currentHealthy=3, disruptionsAllowed=1)
    await status_becomes(admin, ns, "quarter", expectedPods=4, desiredHealthy=3,
                         currentHealthy=3, disruptionsAllowed=0)

    # scaling the ReplicaSet changes the expected count at the next sync
    await admin.patch(REPLICASETS, "web", {"spec": {"replicas": 3}}, ns)
    # a pod event triggers the sync, as upstream
    await set_pod_status(admin, ns, "web-0", None, ready=True)
    await status_becomes(admin, ns, "quarter", expectedPods=3, desiredHealthy=2,
                         disruptionsAllowed=1)


async def test_deployment_scale_through_its_replicaset(admin: Client, ns: str,
                                                       disruption: None) -> None:
    template = {"metadata": {"labels": LABELS}, "spec": pod("x")["spec"]}
    deploy = await admin.create(DEPLOYMENTS, {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": 5, "selector": {"matchLabels": LABELS}, "template": template}},
        ns)
    rs = await admin.create(REPLICASETS, {
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": "web-1", "ownerReferences": [
            owner_ref(deploy, controller=True, block=True)]},
        "spec": {"replicas": 2, "selector": {"matchLabels": LABELS}, "template": template}},
        ns)
    await make_pods(admin, ns, 2, 2, owner_ref(rs, controller=True, block=True))
    await make_pdb(admin, ns, "web", minAvailable="20%")

    await status_becomes(admin, ns, "web", expectedPods=5, desiredHealthy=1,
                         currentHealthy=2, disruptionsAllowed=1)


async def test_custom_controller_scale_subresource(admin: Client, ns: str,
                                                   disruption: None) -> None:
    await make_crd(admin, "pdb.kubesmith.test", "fleets", "Fleet", subresources={
        "scale": {"specReplicasPath": ".spec.replicas",
                  "statusReplicasPath": ".status.replicas"}})
    try:
        fleet = await admin.create(Resource("pdb.kubesmith.test", "v1", "fleets"), {
            "apiVersion": "pdb.kubesmith.test/v1", "kind": "Fleet",
            "metadata": {"name": "f"}, "spec": {"replicas": 6}}, ns)
        await make_pods(admin, ns, 3, 3, owner_ref(fleet, controller=True))
        await make_pdb(admin, ns, "web", maxUnavailable="50%")

        await status_becomes(admin, ns, "web", expectedPods=6, desiredHealthy=3,
                             currentHealthy=3, disruptionsAllowed=0)
    finally:
        await delete_crd(admin, "fleets.pdb.kubesmith.test")


async def test_unknown_controller_fails_safe(admin: Client, ns: str,
                                             disruption: None) -> None:
    ghost = {"apiVersion": "nope.kubesmith.test/v1", "kind": "Nope", "name": "ghost",
             "uid": str(uuid.uuid4()), "controller": True}
    await make_pods(admin, ns, 2, 2, ghost)
    await make_pdb(admin, ns, "web", maxUnavailable=1)

    async def sync_failed() -> dict[str, Any] | None:
        pdb = await admin.get(PODDISRUPTIONBUDGETS, "web", ns)
        conds = (pdb.get("status") or {}).get("conditions") or []
        return next((c for c in conds if c["type"] == "DisruptionAllowed"
                     and c["reason"] == "SyncFailed"), None)

    cond = await until(sync_failed, "the SyncFailed condition")
    assert cond["status"] == "False"
    assert cond["message"] == 'no matches for kind "Nope" in version "nope.kubesmith.test/v1"'
    pdb = await admin.get(PODDISRUPTIONBUDGETS, "web", ns)
    assert pdb["status"]["disruptionsAllowed"] == 0

    async def event() -> bool:
        page = await admin.list(EVENTS, ns)
        return any(e.get("reason") == "CalculateExpectedPodCountFailed" for e in page.items)

    await until(event, "a CalculateExpectedPodCountFailed event")


async def test_disrupted_pods_are_pruned(admin: Client, ns: str, disruption: None) -> None:
    await make_pods(admin, ns, 3, 3)
    await make_pdb(admin, ns, "web", minAvailable=1)
    await status_becomes(admin, ns, "web", currentHealthy=3, disruptionsAllowed=2)

    # what the eviction API records: web-0 just evicted, web-1 evicted long ago
    pdb = await admin.get(PODDISRUPTIONBUDGETS, "web", ns)
    long_ago = (datetime.now(UTC) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    pdb["status"]["disruptedPods"] = {"web-0": now_rfc3339(), "web-1": long_ago,
                                      "gone": now_rfc3339()}
    await admin.replace(PODDISRUPTIONBUDGETS, pdb, subresource="status")

    status = await status_becomes(admin, ns, "web", currentHealthy=2, disruptionsAllowed=1)
    assert list(status["disruptedPods"]) == ["web-0"]

    async def not_deleted() -> bool:
        page = await admin.list(EVENTS, ns)
        return any(e.get("reason") == "NotDeleted" and e["involvedObject"]["name"] == "web-1"
                   for e in page.items)

    await until(not_deleted, "a NotDeleted event for web-1")
