"""What the workload-controller tests share: a namespace with one controller running
in-test and a fake scheduler/kubelet (:mod:`fake_kubelet`), node helpers that clean up after
themselves, polling with a deadline and the Events recorded on an object."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest

from kubesmith.client import Client
from kubesmith.client.rest import EVENTS, NAMESPACES, NODES
from kubesmith.controllers import manager
from tests.conftest import RunningServer, namespace_name
from tests.integration.controllers.conftest import running_controllers
from tests.integration.controllers.fake_kubelet import FakeNodes, now

T = TypeVar("T")


@dataclass
class Env:
    server: RunningServer
    client: Client
    ns: str
    nodes: FakeNodes
    #: Prefix of this test's node names (nodes are cluster-wide).
    prefix: str

    async def kubectl(self, *args: str, check: bool = True) -> Any:
        """Real kubectl in this namespace, in a thread: the controllers run on this
        test's event loop and must keep going while kubectl waits."""
        return await asyncio.to_thread(self.server.kubectl, *args, "-n", self.ns,
                                       check=check)

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
             "lastHeartbeatTime": now(), "lastTransitionTime": now()}]}},
            subresource="status")
        await self.client.patch(NODES, full, {"spec": {"taints": taints or None}})
        return full

    async def events_for(self, kind: str, name: str) -> list[dict[str, Any]]:
        """The Events recorded about ``kind``/``name`` in the namespace."""
        return [e async for e in self.client.list_all(EVENTS, self.ns)
                if e["involvedObject"].get("name") == name
                and e["involvedObject"].get("kind") == kind]


@asynccontextmanager
async def workload_env(server: RunningServer, request: pytest.FixtureRequest,
                       monkeypatch: pytest.MonkeyPatch, controller: str, path: str,
                       **fake: Any) -> AsyncIterator[Env]:
    """A fresh namespace with ``controller`` (registered as ``path``) and the fake nodes
    running; the namespace and the test's nodes are deleted afterwards."""
    monkeypatch.setitem(manager.CONTROLLERS, controller, path)
    ns = namespace_name(request.node.name)
    prefix = ns[-6:]
    async with Client.from_kubeconfig(str(server.kubeconfig)) as client:
        await client.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace",
                                         "metadata": {"name": ns}})
        try:
            async with running_controllers(server, controller), \
                    FakeNodes(client, ns, **fake) as nodes:
                yield Env(server, client, ns, nodes, prefix)
        finally:
            async for node in client.list_all(NODES, label_selector=f"test={prefix}"):
                await client.delete(NODES, node["metadata"]["name"])
            await client.delete(NAMESPACES, ns)


async def until(check: Callable[[], Awaitable[T | None]], seconds: float = 20,
                what: str = "condition") -> T:
    """Poll ``check`` until it returns something truthy; fail after ``seconds``."""
    deadline = asyncio.get_running_loop().time() + seconds
    last: Any = None
    while asyncio.get_running_loop().time() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")
