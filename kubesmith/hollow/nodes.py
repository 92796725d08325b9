"""Hollow nodes: registering Nodes, keeping their status and renewing their Leases.

Concurrency design:

* **One informer** on Nodes feeds a cache; its handlers only enqueue the names of our nodes.
* **One work queue** of node names, ``workers`` reconciles in flight (50 by default: 5,000
  nodes register in parallel, boundedly). ``reconcile(name)`` is level-triggered: create
  the Node when it is missing (also after someone deleted it — it is registered again),
  adopt an existing one of the same name, write its status only when it differs from the
  desired one (or the 5-minute heartbeat is due) and make sure its Lease exists.
* **One schedule** (:class:`~kubesmith.hollow.schedule.SpreadSchedule`) renews the Leases,
  spread evenly over ``renew_interval``, with bounded concurrency; after each renewal it
  enqueues the node if its status heartbeat is due, so status writes are spread too.
* **One event writer** emits each node's ``Starting`` event, one at a time, so 5,000
  registrations cost a trickle of Event writes rather than a burst.

Objects we wrote are remembered until the informer shows them
(:class:`~kubesmith.hollow.written.WrittenObjects`), so a reconcile never repeats a write
because the cache was stale.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from kubesmith.api.types import Obj
from kubesmith.client import ApiError, Client, Informer, WorkQueue, run_workers
from kubesmith.client.events import NORMAL, EventRecorder
from kubesmith.client.rest import LEASES, NODES
from kubesmith.hollow.addresses import node_internal_ip
from kubesmith.hollow.nodestatus import (
    NODE_LEASE_NAMESPACE,
    REPORT_INTERVAL,
    NodeTemplate,
    desired_node_status,
    heartbeat_due,
    new_node,
    node_labels,
    node_lease,
)
from kubesmith.hollow.podstatus import merge_patch
from kubesmith.hollow.schedule import SpreadSchedule
from kubesmith.hollow.written import WrittenObjects

log = logging.getLogger(__name__)

KUBELET_COMPONENT = "kubelet"


@dataclass(slots=True)
class HollowNode:
    """One simulated node: its name, global index and fake address."""

    name: str
    index: int
    internal_ip: str
    uid: str = ""
    lease: Obj | None = None
    registered: bool = False


class NodeFleet:
    """The hollow nodes of one process (see the module docstring)."""

    def __init__(self, client: Client, names: Iterable[tuple[str, int]],
                 template: NodeTemplate, *, lease_duration_seconds: int = 40,
                 renew_interval: float = 10.0, report_interval: float = REPORT_INTERVAL,
                 workers: int = 50, events: bool = True) -> None:
        self.client = client
        self.template = template
        self.nodes = {name: HollowNode(name, index, node_internal_ip(index))
                      for name, index in names}
        self.lease_duration_seconds = lease_duration_seconds
        self.report_interval = report_interval
        self.workers = workers
        self.events = events
        self.informer = Informer(client, NODES)
        self.informer.add_handlers(on_add=self._on_change,
                                   on_update=lambda old, new: self._on_change(new, old),
                                   on_delete=self._on_delete)
        self.queue: WorkQueue[str] = WorkQueue()
        self.leases: SpreadSchedule[str] = SpreadSchedule(
            renew_interval, self.renew_lease, concurrency=workers, name="node leases")
        self._written = WrittenObjects()
        self._registered = asyncio.Event()
        self._registered_count = 0
        self._event_queue: asyncio.Queue[str] = asyncio.Queue()
        #: Called with a node name when its ``spec.podCIDR`` changes.
        self.pod_cidr_listeners: list[Callable[[str], None]] = []
        #: Writes made, by kind — a measure of cost for tests and benchmarks.
        self.writes = {"node_create": 0, "node_status": 0, "node_labels": 0,
                       "lease_create": 0, "lease_renew": 0}

    # -- queries -------------------------------------------------------------------------

    def node(self, name: str) -> Obj | None:
        """The newest known Node object named ``name``."""
        return self._written.newest(name, self.informer.get(name))

    def pod_cidr(self, name: str) -> str:
        """The node's ``spec.podCIDR`` ('' when not (yet) assigned)."""
        node = self.node(name)
        return str(((node or {}).get("spec") or {}).get("podCIDR") or "")

    async def wait_registered(self) -> None:
        """Wait until every node was registered (created or adopted) once."""
        await self._registered.wait()

    # -- informer handlers ---------------------------------------------------------------

    def _on_change(self, new: Obj, old: Obj | None = None) -> None:
        name = str((new.get("metadata") or {}).get("name") or "")
        if name not in self.nodes:
            return
        self.queue.add(name)
        before = ((old or {}).get("spec") or {}).get("podCIDR")
        if (new.get("spec") or {}).get("podCIDR") != before:
            for listener in self.pod_cidr_listeners:
                listener(name)

    def _on_delete(self, old: Obj) -> None:
        name = str((old.get("metadata") or {}).get("name") or "")
        if name in self.nodes:
            self._written.forget(name)
            self.nodes[name].uid = ""
            self.queue.add(name)

    # -- lifecycle -----------------------------------------------------------------------

    async def run(self) -> None:
        """Register every node, then keep them (and their leases) current until
        cancelled. Nodes are left in place (their leases expire)."""
        self.informer.start()
        try:
            await self.informer.wait_synced()
            for name in self.nodes:
                self.queue.add(name)
            async with asyncio.TaskGroup() as group:
                group.create_task(run_workers(self.queue, self.workers, self.reconcile))
                group.create_task(self.leases.run())
                if self.events:
                    group.create_task(self._write_events())
        finally:
            self.queue.shutdown()
            await self.informer.stop()

    async def delete_all(self) -> None:
        """Delete every node and its Lease (bounded concurrency); missing ones are fine."""
        slots = asyncio.Semaphore(self.workers)

        async def delete(name: str) -> None:
            async with slots:
                for resource, namespace in ((LEASES, NODE_LEASE_NAMESPACE), (NODES, None)):
                    with contextlib.suppress(ApiError):
                        await self.client.delete(resource, name, namespace)

        await asyncio.gather(*(delete(name) for name in self.nodes))

    # -- reconcile -----------------------------------------------------------------------

    async def reconcile(self, name: str) -> None:
        """Bring Node ``name`` (and its Lease) to the desired state."""
        hollow = self.nodes[name]
        node = self.node(name)
        if node is None:
            node = await self._create_or_adopt(name)
        hollow.uid = str((node.get("metadata") or {}).get("uid") or "")
        node = await self._ensure_labels(name, node)
        now = time.time()
        status = desired_node_status(node, self.template, hollow.internal_ip, now,
                                     self.report_interval)
        patch = merge_patch(node.get("status") or {}, status)
        if patch:
            node = await self.client.patch(NODES, name, {"status": patch},
                                           subresource="status")
            self._written.remember(name, node)
            self.writes["node_status"] += 1
        if hollow.lease is None or _owner_uid(hollow.lease) != hollow.uid:
            await self._ensure_lease(hollow)
        if not hollow.registered:
            hollow.registered = True
            self.leases.add(name)
            if self.events:
                self._event_queue.put_nowait(name)
            self._registered_count += 1
            if self._registered_count == len(self.nodes):
                self._registered.set()

    async def _create_or_adopt(self, name: str) -> Obj:
        body = new_node(name, self.template)
        # Registered with its status, as the kubelet does (one write instead of two); a
        # server that drops status on create gets it in a status patch right after.
        body["status"] = desired_node_status(body, self.template,
                                             self.nodes[name].internal_ip, time.time(),
                                             self.report_interval)
        try:
            node = await self.client.create(NODES, body)
            self.writes["node_create"] += 1
        except ApiError as exc:
            if exc.code != 409:
                raise
            # A Node of that name exists (an earlier run, or the cache was behind): adopt it.
            node = await self.client.get(NODES, name)
        self._written.remember(name, node)
        return node

    async def _ensure_labels(self, name: str, node: Obj) -> Obj:
        # Like the kubelet, keep the default labels current on an adopted Node; taints
        # are only given at registration.
        labels = (node.get("metadata") or {}).get("labels") or {}
        wanted = node_labels(name, self.template.labels)
        missing = {k: v for k, v in wanted.items() if labels.get(k) != v}
        if not missing:
            return node
        node = await self.client.patch(NODES, name, {"metadata": {"labels": missing}})
        self._written.remember(name, node)
        self.writes["node_labels"] += 1
        return node

    async def _ensure_lease(self, hollow: HollowNode) -> None:
        body = node_lease(hollow.name, hollow.uid, self.lease_duration_seconds, time.time())
        try:
            hollow.lease = await self.client.create(LEASES, body, NODE_LEASE_NAMESPACE)
            self.writes["lease_create"] += 1
        except ApiError as exc:
            if exc.code != 409:
                raise
            await self._renew_existing(hollow)

    async def _renew_existing(self, hollow: HollowNode) -> None:
        current = await self.client.get(LEASES, hollow.name, NODE_LEASE_NAMESPACE)
        hollow.lease = await self.client.replace(
            LEASES, node_lease(hollow.name, hollow.uid, self.lease_duration_seconds,
                               time.time(), current), NODE_LEASE_NAMESPACE)
        self.writes["lease_renew"] += 1

    async def renew_lease(self, name: str) -> None:
        """Renew node ``name``'s Lease (compare-and-swap on the version we hold; on a
        conflict re-read once, when it is gone create it again)."""
        hollow = self.nodes[name]
        now = time.time()
        try:
            if hollow.lease is None:
                await self._ensure_lease(hollow)
            else:
                hollow.lease = await self.client.replace(
                    LEASES, node_lease(name, hollow.uid, self.lease_duration_seconds, now,
                                       hollow.lease), NODE_LEASE_NAMESPACE)
                self.writes["lease_renew"] += 1
        except ApiError as exc:
            if exc.code == 409:
                await self._renew_existing(hollow)
            elif exc.code == 404:
                hollow.lease = None
                await self._ensure_lease(hollow)
            else:
                raise
        node = self.node(name)
        if node is None or heartbeat_due(node, now, self.report_interval):
            self.queue.add(name)

    # -- events --------------------------------------------------------------------------

    async def _write_events(self) -> None:
        while True:
            name = await self._event_queue.get()
            recorder = EventRecorder(self.client, KUBELET_COMPONENT, host=name)
            # The kubelet refers to its Node with the node name as UID.
            ref: Obj = {"kind": "Node", "apiVersion": "v1",
                        "metadata": {"name": name, "uid": name}}
            try:
                recorder.event(ref, NORMAL, "Starting", "Starting kubelet.")
                await recorder.flush()
            finally:
                await recorder.close()
                # close() suppresses CancelledError while it waits for its writer, which
                # also swallows a cancellation of this task arriving just then; honour it.
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise asyncio.CancelledError


def _owner_uid(lease: Obj) -> str:
    refs = (lease.get("metadata") or {}).get("ownerReferences") or []
    return str(refs[0].get("uid") or "") if refs else ""
