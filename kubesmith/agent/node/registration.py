"""Registering the agent's Node and keeping it current: the kubelet's node status loop.

Concurrency design: :meth:`NodeRegistration.run` registers the Node, then runs two loops
side by side until cancelled:

* **the Lease** (:class:`~kubesmith.agent.node.lease.NodeLease`), renewed every 10 s — the
  node's heartbeat;
* **the status**, recomputed every ``status_update_interval`` (10 s, upstream's
  ``nodeStatusUpdateFrequency``) or at once after :meth:`NodeRegistration.poke` (say, the
  runtime turned unhealthy). It reads the Node, renders the status the agent owns
  (capacity, allocatable, addresses, nodeInfo, images, daemon endpoint, conditions) and
  writes only when something changed or the 5-minute heartbeat
  (``nodeStatusReportFrequency``) is due. The write is a merge patch carrying the
  resourceVersion it was computed from, so a concurrent change (the node controller
  marking the node Unknown) makes it fail with a conflict and be recomputed rather than
  overwrite.

Registration creates the Node; when one of that name exists (an earlier run, or an
administrator created it) it is adopted, with its default labels and the attach/detach
annotation brought in line as the kubelet does; ``--node-labels`` and taints are applied
only when the Node is created. Failures are retried with back-off (0.1 s doubling to 7 s)
until cancelled. A Node deleted while the agent runs is not registered again (upstream
registers only at start); the loops log the error until the agent restarts.

Host reads (``/proc``, ``statvfs``) run in a thread; everything else is on the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

import aiohttp

from kubesmith.agent.node.conditions import (
    default_eviction_hard,
    node_conditions,
    transition_events,
)
from kubesmith.agent.node.host import (
    DEFAULT_MAX_PODS,
    HostInfo,
    HostProbe,
    Reservations,
    addresses,
    allocatable,
    capacity,
    node_info,
    primary_address,
)
from kubesmith.agent.node.labels import validate_node_labels
from kubesmith.agent.node.lease import DEFAULT_DURATION_SECONDS, NodeLease
from kubesmith.agent.node.nodeobjects import (
    KUBELET_PORT,
    REPORT_INTERVAL,
    NodeCondition,
    render_status,
    well_known_labels,
)
from kubesmith.agent.node.status import adoption_patch, new_node, node_images
from kubesmith.api.objectmeta import now_rfc3339
from kubesmith.api.types import Obj
from kubesmith.client import ApiError, Client
from kubesmith.client.events import NORMAL, EventRecorder
from kubesmith.client.rest import NODES
from kubesmith.podstatus.diff import merge_patch

log = logging.getLogger(__name__)

#: Returns every image on the node as (names, size in bytes), repo digests first (called in
#: a worker thread).
ImageLister = Callable[[], Sequence[tuple[Sequence[str], int]]]
#: Returns what keeps the node from being Ready (empty when it is), e.g.
#: ``container runtime network not ready: ...`` (called on the event loop: keep it cheap).
ReadinessCheck = Callable[[], Sequence[str]]

_FIRST_BACKOFF = 0.1
_MAX_BACKOFF = 7.0
_STATUS_RETRIES = 5
_TRANSIENT = (ApiError, OSError, aiohttp.ClientError, asyncio.TimeoutError)


def _default_reservations() -> Reservations:
    return Reservations(eviction_hard=default_eviction_hard())


@dataclass(frozen=True)
class NodeOptions:
    """How the node presents itself (the kubelet's registration flags)."""

    name: str
    #: ``--node-ip``; default: the address the hostname resolves to, or the default
    #: route's source address.
    node_ip: str | None = None
    #: The ``kubernetes.io/hostname`` label and the Hostname address (default: the node
    #: name, as k3s does when given ``--node-name``; the node name itself defaults to the
    #: host's hostname, see :func:`default_node_name`).
    hostname: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    taints: Sequence[Obj] = ()
    port: int = KUBELET_PORT
    max_pods: int = DEFAULT_MAX_PODS
    reservations: Reservations = field(default_factory=_default_reservations)
    status_update_interval: float = 10.0
    status_report_interval: float = REPORT_INTERVAL
    lease_duration_seconds: int = DEFAULT_DURATION_SECONDS
    #: Default: a quarter of the lease duration.
    lease_renew_interval: float | None = None


class NodeRegistration:
    """Registers the Node and keeps its status and Lease fresh (see the module docstring).

    ``run()`` until cancelled; ``registered`` is set once the Node exists, ``node`` is the
    Node as last read or written.
    """

    def __init__(self, client: Client, options: NodeOptions, probe: HostProbe, *,
                 images: ImageLister | None = None, readiness: ReadinessCheck | None = None,
                 recorder: EventRecorder | None = None) -> None:
        validate_node_labels(options.labels)  # fail before touching anything
        self.client = client
        self.options = options
        self.probe = probe
        self.images = images
        self.readiness = readiness
        self.recorder = recorder
        self.node: Obj | None = None
        self.registered = asyncio.Event()
        self.lease = NodeLease(client, options.name,
                               duration_seconds=options.lease_duration_seconds,
                               renew_interval=options.lease_renew_interval,
                               node_uid=self._node_uid)
        #: Status computations and the writes they needed (not counting the registration),
        #: for tests and metrics.
        self.status_checks = 0
        self.status_writes = 0
        self._info: HostInfo | None = None
        self._internal_ip = ""
        self._poked = asyncio.Event()

    @property
    def name(self) -> str:
        return self.options.name

    def poke(self) -> None:
        """Recompute (and if need be write) the status now rather than at the next tick."""
        self._poked.set()

    def _node_uid(self) -> str:
        return str(((self.node or {}).get("metadata") or {}).get("uid") or "")

    # -- lifecycle -----------------------------------------------------------------------

    async def run(self) -> None:
        """Register, then keep status and Lease fresh until cancelled."""
        self._info = await asyncio.to_thread(self.probe.read)
        node_ip = self.options.node_ip
        if not node_ip:
            node_ip = await asyncio.to_thread(primary_address, self._info.hostname)
        self._internal_ip = node_ip
        self._event("Starting", "Starting kubelet.")
        await self._retrying("registering node", self.register)
        async with asyncio.TaskGroup() as group:
            group.create_task(self.lease.run(), name=f"node-lease-{self.name}")
            group.create_task(self._status_loop(), name=f"node-status-{self.name}")

    async def _retrying(self, what: str, step: Callable[[], Awaitable[object]]) -> None:
        backoff = _FIRST_BACKOFF
        while True:
            try:
                await step()
                return
            except _TRANSIENT as exc:
                log.warning("%s %s failed (retrying in %.1fs): %s", what, self.name, backoff,
                            exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF)

    async def _status_loop(self) -> None:
        while True:
            # Cleared before the update: a poke arriving during it triggers another.
            self._poked.clear()
            await self._retrying("updating status of node", self.update_status)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._poked.wait(), self.options.status_update_interval)

    # -- registration --------------------------------------------------------------------

    def _wanted_labels(self) -> dict[str, str]:
        return {**well_known_labels(self.options.hostname or self.name),
                **self.options.labels}

    async def register(self) -> Obj:
        """Create the Node (with its status), or adopt the existing one."""
        body = new_node(self.name, self._wanted_labels(), self.options.taints)
        conditions, owned = await self._observe()
        body["status"] = render_status(body, owned, conditions, time.time(), now_rfc3339(),
                                       self.options.status_report_interval)
        try:
            node = await self.client.create(NODES, body)
            log.info("registered node %s", self.name)
            self._condition_events([], conditions)
        except ApiError as exc:
            if exc.code != 409:
                raise
            node = await self.client.get(NODES, self.name)
            log.info("node %s was registered before; adopting it", self.name)
            patch = adoption_patch(node, body)
            if patch is not None:
                node = await self.client.patch(NODES, self.name, patch)
        self.node = node
        self.registered.set()
        return node

    # -- status --------------------------------------------------------------------------

    async def _observe(self) -> tuple[tuple[NodeCondition, ...], dict[str, object]]:
        """The conditions and the status fields the agent owns, as of now."""
        assert self._info is not None
        lister = self.images
        # The image list may read the image store's files: in the thread with the probe.
        seen, listed = await asyncio.to_thread(
            lambda: (self.probe.observe(), list(lister()) if lister is not None else []))
        errors = list(self.readiness()) if self.readiness is not None else []
        conditions = node_conditions(seen, self.options.reservations.eviction_hard, errors)
        info = self._info
        owned: dict[str, object] = {
            "capacity": capacity(info, self.options.max_pods),
            "allocatable": allocatable(info, self.options.reservations, self.options.max_pods),
            "addresses": addresses(self._internal_ip, self.options.hostname or self.name),
            "daemonEndpoints": {"kubeletEndpoint": {"Port": self.options.port}},
            "nodeInfo": node_info(info),
        }
        images = node_images(listed)
        if images:
            owned["images"] = images
        return conditions, owned

    async def update_status(self) -> None:
        """Write the Node's status if it changed or its heartbeat is due (retrying a few
        times on conflicting writes)."""
        self.status_checks += 1
        conditions, owned = await self._observe()
        for _ in range(_STATUS_RETRIES):
            node = await self.client.get(NODES, self.name)
            self.node = node
            current = node.get("status") or {}
            desired = render_status(node, owned, conditions, time.time(), now_rfc3339(),
                                    self.options.status_report_interval)
            if self.images is not None and "images" not in owned:
                desired.pop("images", None)  # the node has no images (any longer)
            patch = merge_patch(current, desired)
            if not patch:
                return
            version = (node.get("metadata") or {}).get("resourceVersion")
            try:
                self.node = await self.client.patch(
                    NODES, self.name, {"metadata": {"resourceVersion": version},
                                       "status": patch}, subresource="status")
            except ApiError as exc:
                if exc.code == 409:
                    continue
                raise
            self.status_writes += 1
            self._condition_events(current.get("conditions") or [], conditions)
            return
        log.warning("node %s: status not written after %d conflicting attempts", self.name,
                    _STATUS_RETRIES)

    # -- events --------------------------------------------------------------------------

    def _event(self, reason: str, message: str) -> None:
        if self.recorder is None:
            return
        # The kubelet refers to its Node with the node name as uid.
        ref: Obj = {"kind": "Node", "apiVersion": "v1",
                    "metadata": {"name": self.name, "uid": self.name}}
        self.recorder.event(ref, NORMAL, reason, message)

    def _condition_events(self, before: Sequence[object],
                          after: Sequence[NodeCondition]) -> None:
        for reason in transition_events(before, after):
            self._event(reason, f"Node {self.name} status is now: {reason}")


def default_node_name() -> str:
    """The node name when ``--node-name`` is not given: the hostname, lowercased."""
    return socket.gethostname().lower()
