"""The eviction subresource honours PodDisruptionBudgets (with the in-process disruption
controller keeping their status): refused with 429 and upstream's message while the budget
allows no disruption, charged when it does, so two evictions cannot overdraw it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from kubesmith.client import ApiError, Client
from kubesmith.client.rest import NAMESPACES, PODDISRUPTIONBUDGETS, PODS
from tests.conftest import RunningServer

pytestmark = pytest.mark.integration

NS = "evict"


@pytest.fixture(scope="module")
def server(server_factory: Any) -> RunningServer:
    """The whole control plane: the disruption controller keeps the budgets' status."""
    started: RunningServer = server_factory()
    return started


@pytest.fixture
async def client(server: RunningServer) -> AsyncIterator[Client]:
    async with Client.from_kubeconfig(str(server.kubeconfig)) as c:
        await c.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace",
                                    "metadata": {"name": NS}})
        yield c


async def _running_pod(client: Client, name: str) -> None:
    await client.create(PODS, {"apiVersion": "v1", "kind": "Pod",
                               "metadata": {"name": name, "namespace": NS,
                                            "labels": {"app": "guarded"}},
                               "spec": {"containers": [{"name": "c", "image": "nginx"}]}})
    now = "2026-01-01T00:00:00Z"
    await client.patch(PODS, name, {"status": {"phase": "Running", "conditions": [
        {"type": "Ready", "status": "True", "lastTransitionTime": now}]}}, NS,
        subresource="status")


async def _evict(client: Client, name: str) -> Any:
    body = {"apiVersion": "policy/v1", "kind": "Eviction",
            "metadata": {"name": name, "namespace": NS}}
    return await client.request("POST", PODS.path(NS, name, "eviction"),
                                body=orjson.dumps(body))


async def _allowed(client: Client, want: int) -> dict[str, Any]:
    for _ in range(100):
        pdb = await client.get(PODDISRUPTIONBUDGETS, "guard", NS)
        status = pdb.get("status") or {}
        if status.get("disruptionsAllowed") == want and \
                status.get("observedGeneration") == pdb["metadata"]["generation"]:
            return pdb
        await asyncio.sleep(0.1)
    raise AssertionError(f"disruptionsAllowed never became {want}: {pdb.get('status')}")


async def test_budget_refuses_then_charges(client: Client) -> None:
    for name in ("p1", "p2", "p3"):
        await _running_pod(client, name)
    await client.create(PODDISRUPTIONBUDGETS, {
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": {"name": "guard", "namespace": NS},
        "spec": {"minAvailable": 3, "selector": {"matchLabels": {"app": "guarded"}}}})
    await _allowed(client, 0)
    with pytest.raises(ApiError) as refused:
        await _evict(client, "p1")
    assert refused.value.code == 429
    assert refused.value.message == \
        "Cannot evict pod as it would violate the pod's disruption budget."
    assert refused.value.details["causes"] == [{
        "reason": "DisruptionBudget",
        "message": "The disruption budget guard needs 3 healthy pods and has 3 currently"}]
    await client.get(PODS, "p1", NS)  # still there

    await client.patch(PODDISRUPTIONBUDGETS, "guard", {"spec": {"minAvailable": 2}}, NS)
    await _allowed(client, 1)
    # Two evictions at once: the budget allows one, the compare-and-swap charge makes
    # sure the other is refused.
    results = await asyncio.gather(_evict(client, "p1"), _evict(client, "p2"),
                                   return_exceptions=True)
    refusals = [r for r in results if isinstance(r, ApiError)]
    assert len(refusals) == 1 and refusals[0].code == 429, results
    pdb = await client.get(PODDISRUPTIONBUDGETS, "guard", NS)
    assert len(pdb["status"].get("disruptedPods") or {}) <= 1
    # A pod that is not running is not protected by the budget.
    await client.create(PODS, {"apiVersion": "v1", "kind": "Pod",
                               "metadata": {"name": "pending", "namespace": NS,
                                            "labels": {"app": "guarded"}},
                               "spec": {"containers": [{"name": "c", "image": "nginx"}]}})
    await _evict(client, "pending")
