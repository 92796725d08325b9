"""What every controller shares: its context (own client and identity, the shared
informers, an event recorder, the manager's options) and the run loop — informers synced,
then workers calling a level-triggered :meth:`Controller.reconcile` per key.

A controller's ``name`` is also its identity: the ServiceAccount ``kube-system/<name>`` whose
token its client uses and the bootstrap ClusterRole ``system:controller:<name>`` that limits
it, exactly as kube-controller-manager with ``--use-service-account-credentials``.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import ClassVar

from kubesmith.api.types import Obj
from kubesmith.client import Client, Informer, WorkQueue, object_key, run_workers
from kubesmith.client.events import EventRecorder
from kubesmith.client.factory import InformerFactory
from kubesmith.client.rest import Resource


@dataclass(slots=True)
class ControllerOptions:
    """Tunables of kube-controller-manager that tests and small clusters change."""

    #: A node whose Lease is older than this is NotReady/Unknown (--node-monitor-grace-period).
    node_monitor_grace_period: float = 40.0
    #: How often the node lifecycle controller checks nodes (--node-monitor-period).
    node_monitor_period: float = 5.0
    #: Grace for a freshly registered node that never posted status.
    node_startup_grace_period: float = 60.0
    #: tolerationSeconds added to pods for not-ready/unreachable taints
    #: (--default-not-ready-toleration-seconds / --default-unreachable-toleration-seconds).
    default_not_ready_toleration_seconds: int = 300
    default_unreachable_toleration_seconds: int = 300
    #: Node IPAM (--allocate-node-cidrs, --cluster-cidr, --node-cidr-mask-size).
    allocate_node_cidrs: bool = True
    cluster_cidr: str = "10.244.0.0/16"
    node_cidr_mask_size: int = 24
    #: Terminated pods kept before the pod GC deletes the oldest (--terminated-pod-gc-threshold).
    terminated_pod_gc_threshold: int = 12500
    #: HPA sync period (--horizontal-pod-autoscaler-sync-period).
    hpa_sync_period: float = 15.0
    #: Where the built-in local-path provisioner puts volumes on the nodes.
    local_path_root: str = "/var/lib/kubesmith/storage"
    #: Namespace deletion retry/resync interval.
    namespace_sync_period: float = 300.0
    #: Extra per-controller worker counts (--concurrent-*-syncs); missing means the default.
    workers: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class ControllerContext:
    """What a controller is built from."""

    #: The controller's own client (its ServiceAccount identity).
    client: Client
    #: Informers shared by every controller of the manager (the manager's identity lists
    #: and watches for all of them: one watch per resource per process).
    informers: InformerFactory
    recorder: EventRecorder
    options: ControllerOptions
    #: PEM of the cluster CA (for the root CA publisher and token Secrets).
    ca_pem: bytes = b""


class Controller(abc.ABC):
    """A level-triggered controller: event handlers enqueue keys, workers reconcile them.

    Subclasses set ``name`` (and ``component`` when the event source differs), register
    informer handlers in ``__init__`` via :meth:`informer`, and implement
    :meth:`reconcile`. A reconcile that raises is retried with per-key exponential backoff;
    it must be idempotent, reading current state from the informer caches.
    """

    name: ClassVar[str]
    #: The event source component (upstream's recorder name), defaults to ``name``.
    component: ClassVar[str] = ""
    default_workers: ClassVar[int] = 4

    def __init__(self, ctx: ControllerContext) -> None:
        self.ctx = ctx
        self.client = ctx.client
        self.options = ctx.options
        self.recorder = ctx.recorder
        self.queue: WorkQueue[str] = WorkQueue()
        self._used: list[Resource] = []

    @property
    def workers(self) -> int:
        """How many keys are reconciled concurrently."""
        return self.options.workers.get(self.name, self.default_workers)

    def informer(self, resource: Resource) -> Informer:
        """The shared informer for ``resource``; the controller waits for it to sync."""
        if resource not in self._used:
            self._used.append(resource)
        return self.ctx.informers.informer(resource)

    def enqueue(self, obj: Obj) -> None:
        """Queue ``obj``'s ``namespace/name`` key."""
        self.queue.add(object_key(obj))

    async def started(self) -> None:  # noqa: B027 - an optional hook, empty by default
        """Hook run once the informers are synced, before the workers start."""

    async def run(self) -> None:
        """Wait for the informers, then reconcile until cancelled."""
        try:
            await self.ctx.informers.wait_synced(*self._used)
            await self.started()
            await run_workers(self.queue, self.workers, self.reconcile)
        finally:
            self.queue.shutdown()

    @abc.abstractmethod
    async def reconcile(self, key: str) -> None:
        """Make the world match the desired state of the object named ``key``."""
