"""Node IPAM against a real API server: sequential pod CIDRs from a custom cluster CIDR,
the used set rebuilt after a restart, release on Node deletion, and a CIDRNotAvailable
event (without a hot loop) when the range is exhausted."""

from __future__ import annotations

from typing import Any

import pytest

from kubesmith.client import Client
from kubesmith.client.rest import EVENTS, NODES
from kubesmith.controllers import manager
from kubesmith.controllers.base import ControllerOptions
from tests.conftest import RunningServer
from tests.integration.controllers.helpers import delete_quietly, make_node, until

pytestmark = pytest.mark.integration


@pytest.fixture
def registered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(manager.CONTROLLERS, "node-ipam-controller",
                        "kubesmith.controllers.nodeipam:NodeIpamController")


async def pod_cidrs(client: Client, name: str) -> list[str] | None:
    node = await client.get(NODES, name)
    spec = node.get("spec") or {}
    cidrs: list[str] | None = spec.get("podCIDRs")
    if cidrs:
        assert spec["podCIDR"] == cidrs[0]
    return cidrs


async def test_sequential_cidrs_restart_release_and_exhaustion(
        server: RunningServer, registered: None, admin: Client, controllers: Any) -> None:
    # A /22 holds four /24s.
    options = ControllerOptions(cluster_cidr="10.250.0.0/22", node_cidr_mask_size=24)
    names = [f"ipam-{i}" for i in range(6)]
    try:
        async with controllers(server, "node-ipam-controller", options=options):
            for name in names[:3]:
                await make_node(admin, name)
                await until(lambda n=name: pod_cidrs(admin, n), f"{name} pod CIDR")
            assert [await pod_cidrs(admin, n) for n in names[:3]] == [
                ["10.250.0.0/24"], ["10.250.1.0/24"], ["10.250.2.0/24"]]

        # A new instance learns what is taken from the Nodes.
        async with controllers(server, "node-ipam-controller", options=options):
            await make_node(admin, names[3])
            assert await until(lambda: pod_cidrs(admin, names[3]),
                                    "ipam-3 pod CIDR") == ["10.250.3.0/24"]

            # Exhausted: an event, and the Node waits.
            await make_node(admin, names[4])

            async def exhausted() -> list[dict[str, Any]] | None:
                page = await admin.list(EVENTS, "default",
                                        field_selector=f"involvedObject.name={names[4]}")
                found = [e for e in page.items if e["reason"] == "CIDRNotAvailable"]
                return found or None

            [event] = await until(exhausted, "CIDRNotAvailable event")
            assert event["type"] == "Warning"
            assert event["message"] == f"Node {names[4]} status is now: CIDRNotAvailable"
            assert event["source"]["component"] == "cidrAllocator"
            assert await pod_cidrs(admin, names[4]) is None
            # Retried with exponential backoff, not in a hot loop: a handful of attempts
            # (aggregated into one Event's count) in the seconds the test took so far.
            assert event.get("count", 1) < 20

            # A deleted Node's block goes to the one waiting.
            await admin.delete(NODES, names[1])
            assert await until(lambda: pod_cidrs(admin, names[4]),
                                    "ipam-4 gets the released block") == ["10.250.1.0/24"]
    finally:
        for name in names:
            await delete_quietly(admin, NODES, name)
