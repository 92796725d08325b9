"""PodTopologySpread's system default constraints on hollow nodes: a Deployment whose pods
declare no topologySpreadConstraints still lands evenly across two zones and across the
nodes of each, with the whole control plane of ``kubesmith server`` (controller manager
and its in-process scheduler) and two hollow-node fleets, one per zone.

Why the even spread proves the defaults: the Deployment's pods request nothing, so the
resource scores of a node with one pod and of a node with two round to the same integer
and, without spreading, ties are broken at random — eight replicas on four nodes then come
out uneven in almost every run (19 of 20 seeds in the in-process simulation of
``tests/unit/scheduler/test_default_spreading.py``). With the defaults every run is 2 per
node, 4 per zone.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from kubesmith.client import Client
from kubesmith.hollow import HollowNodes, NodeTemplate
from tests.conftest import RunningServer, namespace_name
from tests.support.polling import eventually

pytestmark = pytest.mark.integration

ZONE = "topology.kubernetes.io/zone"
REPLICAS = 8


@pytest.fixture(scope="module")
def server(server_factory: Callable[..., RunningServer]) -> RunningServer:
    return server_factory()


@contextlib.asynccontextmanager
async def zone_fleet(server: RunningServer, zone: str) -> AsyncIterator[HollowNodes]:
    """Two hollow nodes labelled with ``zone``, deleted afterwards."""
    client = Client.from_kubeconfig(str(server.kubeconfig))
    nodes = HollowNodes(client, count=2, name_prefix=f"{zone}-node-",
                        template=NodeTemplate(labels={ZONE: zone}), renew_interval=2.0)
    task = asyncio.create_task(nodes.run())
    try:
        async with asyncio.timeout(60):
            await nodes.wait_registered()
        yield nodes
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        with contextlib.suppress(Exception):
            await nodes.fleet.delete_all()
        await client.close()


async def kubectl(server: RunningServer, *args: str) -> str:
    proc = await asyncio.to_thread(server.kubectl, *args)
    return str(proc.stdout)


async def test_deployment_spreads_over_zones_and_nodes_without_constraints(
        server: RunningServer) -> None:
    ns = namespace_name("default-spreading")
    async with zone_fleet(server, "zone-a"), zone_fleet(server, "zone-b"):
        nodes = json.loads(await kubectl(server, "get", "nodes", "-o", "json"))["items"]
        zone_of = {n["metadata"]["name"]: n["metadata"]["labels"].get(ZONE) for n in nodes}

        async def schedulable() -> bool:
            # The node lifecycle controller lifts the not-ready taint of each Ready node.
            listed = json.loads(await kubectl(server, "get", "nodes", "-o", "json"))["items"]
            return sum(1 for n in listed if n["metadata"]["labels"].get(ZONE)
                       and not (n["spec"].get("taints") or [])) == 4

        await eventually(schedulable, "four untainted zone nodes", within=60)
        await kubectl(server, "create", "namespace", ns)
        try:
            await kubectl(server, "create", "deployment", "web", "-n", ns,
                          "--image=registry.k8s.io/pause:3.10", f"--replicas={REPLICAS}")

            async def placed() -> list[dict[str, Any]] | None:
                pods: list[dict[str, Any]] = json.loads(await kubectl(
                    server, "get", "pods", "-n", ns, "-l", "app=web", "-o", "json"))["items"]
                bound = [p for p in pods if p["spec"].get("nodeName")]
                return bound if len(bound) == REPLICAS else None

            pods = await eventually(placed, f"{REPLICAS} web pods bound", within=60)
            assert not any(p["spec"].get("topologySpreadConstraints") for p in pods)
            per_node = Counter(p["spec"]["nodeName"] for p in pods)
            per_zone = Counter(zone_of[name] for name in per_node.elements())
            assert per_zone == {"zone-a": REPLICAS // 2, "zone-b": REPLICAS // 2}, per_node
            assert sorted(per_node.values()) == [2, 2, 2, 2], per_node
        finally:
            await kubectl(server, "delete", "namespace", ns, "--wait=false")
