"""Running a set of hollow nodes: one client, one node fleet, one pod simulator."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from kubesmith.client import Client
from kubesmith.hollow.nodes import NodeFleet
from kubesmith.hollow.nodestatus import NodeTemplate
from kubesmith.hollow.pods import PodSimulator

log = logging.getLogger(__name__)

USER_AGENT = "kubesmith-hollow-node"


class HollowNodes:
    """``count`` hollow nodes named ``<name_prefix><start_index + i>``, sharing one client.

    The node's global index (``start_index + i``) picks its fake InternalIP, so several
    processes can each simulate a disjoint range of one large fleet.
    """

    def __init__(self, client: Client, *, count: int, name_prefix: str = "hollow-node-",
                 start_index: int = 0, template: NodeTemplate | None = None,
                 lease_duration_seconds: int = 40, renew_interval: float = 10.0,
                 pod_ready_delay: float = 0.0, pod_cidr_wait: float = 2.0,
                 node_workers: int = 50, pod_workers: int = 64, events: bool = True) -> None:
        if count < 0:
            raise ValueError("count must not be negative")
        names = [(f"{name_prefix}{start_index + i}", start_index + i) for i in range(count)]
        self.client = client
        self.fleet = NodeFleet(client, names, template or NodeTemplate(),
                               lease_duration_seconds=lease_duration_seconds,
                               renew_interval=renew_interval, workers=node_workers,
                               events=events)
        self.pods = PodSimulator(client, self.fleet, workers=pod_workers,
                                 pod_ready_delay=pod_ready_delay, pod_cidr_wait=pod_cidr_wait)

    async def run(self) -> None:
        """Run until cancelled. The Nodes stay behind; their Leases expire."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self.fleet.run(), name="hollow-nodes")
            group.create_task(self.pods.run(), name="hollow-pods")

    async def wait_registered(self) -> None:
        """Wait until every node was registered once."""
        await self.fleet.wait_registered()

    @property
    def writes(self) -> dict[str, int]:
        """Writes made so far, by kind."""
        return {**self.fleet.writes, **self.pods.writes}


async def run_hollow_nodes(kubeconfig: str, *, count: int, name_prefix: str = "hollow-node-",
                           start_index: int = 0, cpu: str = "8", memory: str = "32Gi",
                           pods: int = 110, ephemeral_storage: str = "100Gi",
                           labels: dict[str, str] | None = None,
                           taints: list[dict[str, Any]] | None = None,
                           lease_duration_seconds: int = 40, renew_interval: float = 10.0,
                           pod_ready_delay: float = 0.0, pod_cidr_wait: float = 2.0,
                           node_workers: int = 50, pod_workers: int = 64, events: bool = True,
                           delete_nodes_on_exit: bool = False) -> None:
    """Run ``count`` hollow nodes against the API server of ``kubeconfig`` until cancelled.

    Every node acts with the kubeconfig's identity. Tests and benchmarks use the admin
    kubeconfig (``<data_dir>/admin.kubeconfig``, ``system:masters``); a production-like
    setup would give each node its own client certificate (``system:node:<name>`` in
    ``system:nodes``) so the Node authorizer limits it to its own Node, Lease and pods — at
    the cost of one connection pool per node.

    On cancellation renewals stop and the Nodes are left in place (their Leases expire,
    which is how node-lifecycle tests make nodes go away) unless ``delete_nodes_on_exit``.
    """
    template = NodeTemplate(cpu=cpu, memory=memory, pods=pods,
                            ephemeral_storage=ephemeral_storage, labels=dict(labels or {}),
                            taints=list(taints or []))
    client = Client.from_kubeconfig(kubeconfig, user_agent=USER_AGENT)
    hollow = HollowNodes(client, count=count, name_prefix=name_prefix, start_index=start_index,
                         template=template, lease_duration_seconds=lease_duration_seconds,
                         renew_interval=renew_interval, pod_ready_delay=pod_ready_delay,
                         pod_cidr_wait=pod_cidr_wait, node_workers=node_workers,
                         pod_workers=pod_workers, events=events)
    try:
        await hollow.run()
    finally:
        try:
            if delete_nodes_on_exit:
                await hollow.fleet.delete_all()
        finally:
            with contextlib.suppress(Exception):
                await client.close()
