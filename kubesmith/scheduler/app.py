"""Running the scheduler as a component: its own client and informers, optional leader
election over the ``kube-system/kube-scheduler`` Lease, and clean shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import socket
import uuid

from kubesmith.client.events import EventRecorder
from kubesmith.client.factory import InformerFactory
from kubesmith.client.informer import Informer
from kubesmith.client.leaderelection import LeaderElector
from kubesmith.client.rest import (
    NAMESPACES,
    NODES,
    PERSISTENTVOLUMECLAIMS,
    PERSISTENTVOLUMES,
    PODDISRUPTIONBUDGETS,
    PODS,
    REPLICASETS,
    REPLICATIONCONTROLLERS,
    SERVICES,
    STATEFULSETS,
    STORAGECLASSES,
    Client,
)
from kubesmith.scheduler import queue as q
from kubesmith.scheduler.handle import NAMESPACE_INDEX, Listers, index_by_namespace
from kubesmith.scheduler.scheduler import DEFAULT_SCHEDULER_NAME, Scheduler

log = logging.getLogger(__name__)

#: The scheduler never looks at finished pods (their resources are free): upstream's
#: scheduler watches pods through this field selector.
POD_FIELD_SELECTOR = "status.phase!=Succeeded,status.phase!=Failed"
#: Concurrent Event writes. An Event costs the API server about as much as the binding it
#: reports, so in a burst all writers but one wait for the binding pipeline to have
#: capacity to spare (:meth:`Scheduler.bindings_spare`): the Scheduled Events follow the
#: bindings instead of halving their rate, then go out with enough concurrency for the
#: server to batch their writes. (Upstream's Events are asynchronous and rate-limited
#: too.)
EVENT_WRITERS = 8
#: Events waiting to be written: a burst of this many pods loses none of its Events.
EVENT_QUEUE_SIZE = 50_000


class SchedulerApp:
    """A :class:`Scheduler` wired to informers on one client (used by
    :func:`run_scheduler`, and by benchmarks that want the scheduler object itself)."""

    def __init__(self, client: Client, *, scheduler_name: str = DEFAULT_SCHEDULER_NAME,
                 percentage_of_nodes_to_score: int | None = None,
                 max_in_flight_binds: int = 64) -> None:
        self.client = client
        self.factory = InformerFactory(client)
        self.pods = Informer(client, PODS, field_selector=POD_FIELD_SELECTOR)
        self.nodes = self.factory.informer(NODES)
        pvcs = self.factory.informer(PERSISTENTVOLUMECLAIMS)
        pvs = self.factory.informer(PERSISTENTVOLUMES)
        classes = self.factory.informer(STORAGECLASSES)
        pdbs = self.factory.informer(PODDISRUPTIONBUDGETS)
        namespaces = self.factory.informer(NAMESPACES)
        # PodTopologySpread's default constraints group a pod with its Services' and
        # controller's pods.
        services = self.factory.informer(SERVICES)
        services.add_index(NAMESPACE_INDEX, index_by_namespace)
        controllers = {resource: self.factory.informer(resource)
                       for resource in (REPLICATIONCONTROLLERS, REPLICASETS, STATEFULSETS)}
        # Every bound pod gets a Scheduled Event, written off the scheduling loop.
        self.recorder = EventRecorder(client, scheduler_name, writers=EVENT_WRITERS,
                                      queue_size=EVENT_QUEUE_SIZE)
        self.scheduler = Scheduler(
            client, scheduler_name=scheduler_name, recorder=self.recorder,
            percentage_of_nodes_to_score=percentage_of_nodes_to_score,
            max_in_flight_binds=max_in_flight_binds,
            listers=Listers(namespaces=namespaces, pvcs=pvcs, pvs=pvs,
                            storage_classes=classes, pdbs=pdbs, pods=self.pods,
                            services=services,
                            replication_controllers=controllers[REPLICATIONCONTROLLERS],
                            replica_sets=controllers[REPLICASETS],
                            stateful_sets=controllers[STATEFULSETS]))
        s = self.scheduler
        self.recorder.wait_turn = s.bindings_spare
        self.pods.add_handlers(s.on_pod_add, s.on_pod_update, s.on_pod_delete)
        self.nodes.add_handlers(s.on_node_add, s.on_node_update, s.on_node_delete)
        for informer, event in ((pvcs, q.PVC_CHANGE), (pvs, q.PV_CHANGE),
                                (classes, q.STORAGE_CLASS_CHANGE),
                                (namespaces, q.NAMESPACE_CHANGE)):
            handler = s.event_handler(event)
            informer.add_handlers(handler, handler, handler)

    async def run(self) -> None:
        """Start the informers, wait until they have listed, then schedule until
        cancelled."""
        try:
            self.factory.start()
            self.pods.start()
            await self.factory.wait_synced()
            await self.pods.wait_synced()
            log.info("%s: caches synced (%d nodes, %d pending pods)",
                     self.scheduler.scheduler_name, len(self.scheduler.cache.node_list),
                     len(self.scheduler.queue))
            # The listed objects live as long as the caches: move them out of the cyclic
            # collector's sight, or every full collection walks every cached pod again.
            # (No gc.collect() first: on a large heap it stalls the loop — and, in
            # ``kubesmith server``, the API server — for a second; the little cyclic
            # garbage frozen with them is a fair price.)
            gc.freeze()
            await self.scheduler.run()
        finally:
            # In a task of its own: this one may be cancelled, and stopping informers
            # from a cancelled task would end the cleanup at the first await.
            closing = asyncio.create_task(self._close())
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(closing)

    async def _close(self) -> None:
        await self.pods.stop()
        await self.factory.stop()
        with contextlib.suppress(Exception):
            # Events are best effort: give queued ones a moment, not the shutdown.
            await asyncio.wait_for(self.recorder.flush(), 2)
        await self.recorder.close()


async def run_scheduler(kubeconfig: str, *, leader_elect: bool,
                        scheduler_name: str = DEFAULT_SCHEDULER_NAME,
                        percentage_of_nodes_to_score: int | None = None,
                        lease_duration: float = 15.0, renew_deadline: float = 10.0,
                        retry_period: float = 2.0) -> None:
    """Run the scheduler with the identity in ``kubeconfig`` until cancelled.

    With ``leader_elect`` only the holder of the ``kube-system/kube-scheduler`` Lease
    schedules; losing it raises :class:`~kubesmith.client.leaderelection.LeadershipLost`.
    """
    client = Client.from_kubeconfig(kubeconfig, user_agent="kube-scheduler")
    try:
        app = SchedulerApp(client, scheduler_name=scheduler_name,
                           percentage_of_nodes_to_score=percentage_of_nodes_to_score)
        if leader_elect:
            identity = f"{socket.gethostname()}_{uuid.uuid4()}"
            await LeaderElector(client, name="kube-scheduler", identity=identity,
                                lease_duration=lease_duration, renew_deadline=renew_deadline,
                                retry_period=retry_period).run(app.run)
        else:
            await app.run()
    finally:
        await client.close()
