"""What the DaemonSet and StatefulSet tests share: a namespace with one controller running
in-test and a fake scheduler/kubelet (:mod:`fake_kubelet`), nodes that are removed after
the test and the Events recorded on an object."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from kubesmith.client import Client
from kubesmith.client.rest import NODES
from kubesmith.controllers.util import now_rfc3339
from tests.conftest import RunningServer
from tests.integration.controllers.conftest import namespace_with_controller
from tests.integration.controllers.fake_kubelet import FakeNodes
from tests.integration.controllers.helpers import events_about, kubectl


@dataclass
class Env:
    server: RunningServer
    client: Client
    ns: str
    nodes: FakeNodes
    #: Prefix of this test's node names (nodes are cluster-wide).
    prefix: str

    async def kubectl(self, *args: str, check: bool = True) -> Any:
        """Real kubectl in this namespace (without blocking the controllers)."""
        return await kubectl(self.server, *args, "-n", self.ns, check=check)

    async def add_node(self, name: str, labels: dict[str, str] | None = None,
                       taints: list[dict[str, str]] | None = None) -> str:
        """Create a Ready Node with exactly ``taints`` (removed when the test ends);
        returns its full name.

        The API server taints new nodes not-ready (TaintNodesByCondition); the node
        lifecycle controller lifts that once the kubelet reports Ready. Neither runs here,
        so the node reports Ready and gets its taints set afterwards."""
        full = f"{self.prefix}-{name}"
        await self.client.create(NODES, {
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": full, "labels": {"test": self.prefix, **(labels or {})}},
            "spec": {"taints": taints or []}})
        await self.client.patch(NODES, full, {"status": {"conditions": [
            {"type": "Ready", "status": "True", "reason": "KubeletReady",
             "lastHeartbeatTime": now_rfc3339(), "lastTransitionTime": now_rfc3339()}]}},
            subresource="status")
        await self.client.patch(NODES, full, {"spec": {"taints": taints or None}})
        return full

    async def events_for(self, kind: str, name: str, *expect: tuple[str, str] | str,
                         seconds: float = 10.0) -> list[dict[str, Any]]:
        """The Events recorded about ``kind``/``name`` in the namespace — once every
        ``expect``ed one (a reason, or ``(reason, message)``) is there: controllers record
        Events asynchronously."""
        deadline = asyncio.get_running_loop().time() + seconds
        while True:
            events = [e for e in await events_about(self.client, self.ns, name)
                      if e["involvedObject"].get("kind") == kind]
            have = {e["reason"] for e in events} | \
                {(e["reason"], e["message"]) for e in events}
            if all(w in have for w in expect) or \
                    asyncio.get_running_loop().time() > deadline:
                return events
            await asyncio.sleep(0.1)


@asynccontextmanager
async def workload_env(server: RunningServer, request: pytest.FixtureRequest,
                       monkeypatch: pytest.MonkeyPatch, controller: str, path: str,
                       **fake: Any) -> AsyncIterator[Env]:
    """A fresh namespace with ``controller`` (registered as ``path``) and the fake nodes
    running; the namespace and the test's nodes are deleted afterwards."""
    async with namespace_with_controller(server, request, monkeypatch, controller,
                                         path) as (client, ns):
        prefix = ns[-6:]
        try:
            async with FakeNodes(client, ns, **fake) as nodes:
                yield Env(server, client, ns, nodes, prefix)
        finally:
            async for node in client.list_all(NODES, label_selector=f"test={prefix}"):
                await client.delete(NODES, node["metadata"]["name"])
