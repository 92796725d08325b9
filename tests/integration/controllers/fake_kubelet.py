"""A stand-in for the scheduler and the kubelets in workload-controller tests.

It watches one namespace's pods and, like the real components would:

* binds a pending pod to the node its required node affinity names
  (``matchFields metadata.name In [node]``, what DaemonSet pods carry) or else to
  ``default_node`` (POST ``pods/<name>/binding``, as the scheduler does);
* marks bound pods Running and Ready (unless ``auto_ready`` is off or the pod is held);
* finishes graceful deletions (deletes terminating pods with grace 0, as the kubelet does
  once the containers stopped).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import orjson

from kubesmith.client import ApiError, Client, Informer
from kubesmith.client.rest import PODS
from kubesmith.controllers.util import now_rfc3339


def affinity_node(pod: dict[str, Any]) -> str | None:
    """The node named by the pod's ``metadata.name In [node]`` affinity, if any."""
    required = ((((pod.get("spec") or {}).get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution") or {})
    for term in required.get("nodeSelectorTerms") or ():
        for expr in term.get("matchFields") or ():
            if expr.get("key") == "metadata.name" and expr.get("operator") == "In":
                return str(expr["values"][0])
    return None


class FakeNodes:
    """Use as ``async with FakeNodes(client, namespace) as nodes:``."""

    def __init__(self, client: Client, namespace: str, *, auto_ready: bool = True,
                 default_node: str | None = None) -> None:
        self.client = client
        self.namespace = namespace
        self.auto_ready = auto_ready
        self.default_node = default_node
        #: Pod names never made Ready automatically.
        self.held: set[str] = set()
        self.informer = Informer(client, PODS, namespace)
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> FakeNodes:
        self.informer.add_handlers(on_add=self._changed,
                                   on_update=lambda _old, new: self._changed(new))
        self._tasks = [asyncio.create_task(self.informer.run()),
                       asyncio.create_task(self._work())]
        await asyncio.wait_for(self.informer.wait_synced(), 10)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.informer.stop()
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _changed(self, pod: dict[str, Any]) -> None:
        self._queue.put_nowait(pod["metadata"]["name"])

    async def _work(self) -> None:
        while True:
            name = await self._queue.get()
            pod = self.informer.get(f"{self.namespace}/{name}")
            if pod is None:
                continue
            try:
                await self._handle(pod)
            except ApiError as exc:
                if exc.code not in (404, 409):
                    raise

    async def _handle(self, pod: dict[str, Any]) -> None:
        name = pod["metadata"]["name"]
        if pod["metadata"].get("deletionTimestamp"):
            await self.client.delete(PODS, name, self.namespace, grace_period_seconds=0)
            return
        node = (pod.get("spec") or {}).get("nodeName")
        if not node:
            target = affinity_node(pod) or self.default_node
            if target:
                await self.bind(name, target)
            return
        phase = (pod.get("status") or {}).get("phase")
        if self.auto_ready and name not in self.held and phase == "Pending":
            await self.set_ready(name)

    async def bind(self, name: str, node: str) -> None:
        """Bind the pod to ``node`` (what the scheduler does)."""
        body = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name},
                "target": {"apiVersion": "v1", "kind": "Node", "name": node}}
        await self.client.request("POST", PODS.path(self.namespace, name, "binding"),
                                  body=orjson.dumps(body))

    async def set_ready(self, name: str, ready: bool = True) -> None:
        """Mark the pod Running with its Ready condition ``ready`` (what the kubelet
        reports)."""
        status = "True" if ready else "False"
        stamp = now_rfc3339()
        await self.client.patch(PODS, name, {"status": {
            "phase": "Running",
            "conditions": [{"type": t, "status": status if t in ("Ready", "ContainersReady")
                            else "True", "lastTransitionTime": stamp}
                           for t in ("PodScheduled", "Initialized", "ContainersReady",
                                     "Ready")]}}, self.namespace, subresource="status")

    async def set_phase(self, name: str, phase: str) -> None:
        """Report the pod finished (``Failed`` or ``Succeeded``)."""
        await self.client.patch(PODS, name, {"status": {"phase": phase}}, self.namespace,
                                subresource="status")
