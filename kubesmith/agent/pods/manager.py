"""The pod manager: the node agent's pods, from the API to their workers.

Concurrency design (one asyncio loop):

* **Informers.** Pods with ``spec.nodeName=<node>`` (the only pods the node authorizer lets
  a node see), the node's own Node (allocatable and labels for admission, addresses for
  hostIP) and Services (service-link env variables). Their handlers only notify workers.
* **One worker per pod UID** (:class:`~kubesmith.agent.pods.worker.PodWorker`), created on
  the first event of a pod and ended once the pod is gone and cleaned up. A pod's worker is
  woken by its pod's events, by its containers' exits (the runtime's exit events, mapped
  back through the workers' container ids), by probe result changes and by timers.
* **Adoption first.** Before any worker runs, the runtime's sandboxes and containers are
  mapped back to pods (:mod:`kubesmith.agent.pods.adoption`): running pods are resumed,
  not restarted; leftovers of pods that are gone are removed.
* **Stopping the manager** stops the workers and informers but leaves containers running:
  an agent restart must not restart pods.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from kubesmith.agent.dnsconfig import pod_hostname_and_domain
from kubesmith.agent.paths import AgentPaths
from kubesmith.agent.pods.admission import admit
from kubesmith.agent.pods.adoption import (
    adopted_pod_ips,
    newest_sandbox,
    plan_adoption,
    remove_orphan,
)
from kubesmith.agent.pods.backoff import Backoff
from kubesmith.agent.pods.context import EventSink, Parts, PodConfig
from kubesmith.agent.pods.env import EnvSources
from kubesmith.agent.pods.ports import (
    CNIPort,
    ImageStorePort,
    ProbePort,
    RuntimePort,
    VolumePort,
)
from kubesmith.agent.pods.state import WARNING, PodState, container_event, find_container
from kubesmith.agent.pods.status_writer import StatusWriter
from kubesmith.agent.pods.worker import TERMINAL_PHASES, PodWorker
from kubesmith.agent.probes import EventCallback, ProbeManager, ResultCallback
from kubesmith.agent.runtime import spec as rt
from kubesmith.api.types import Obj
from kubesmith.client import ApiError, Client, Informer, object_key
from kubesmith.client.events import EventRecorder
from kubesmith.client.rest import CONFIGMAPS, NODES, PODS, SECRETS, SERVICES, Resource

log = logging.getLogger(__name__)

ProbeFactory = Callable[[ResultCallback, EventCallback], ProbePort]


def _real_probes(on_result: ResultCallback, on_event: EventCallback) -> ProbePort:
    return ProbeManager(on_result=on_result, on_event=on_event)


class NodeCache:
    """The node's own Node object, from an informer (see :class:`context.NodeView`)."""

    def __init__(self, informer: Informer, config: PodConfig) -> None:
        self.informer = informer
        self.config = config

    def node(self) -> Obj | None:
        return self.informer.get(self.config.node_name)

    def host_ips(self) -> list[str]:
        if self.config.node_ips:
            return list(self.config.node_ips)
        node = self.node() or {}
        addresses = (node.get("status") or {}).get("addresses") or ()
        found = [str(a.get("address")) for a in addresses if a.get("type") == "InternalIP"]
        return found[:2] or [str(a.get("address")) for a in addresses
                             if a.get("type") == "ExternalIP"][:1]

    def allocatable(self) -> Mapping[str, Any]:
        node = self.node() or {}
        allocatable: Mapping[str, Any] = (node.get("status") or {}).get("allocatable") or {}
        return allocatable


class PodManager:
    """Runs the pods bound to one node (see the module docstring).

    Construct it with the agent's client and parts, then ``await run()`` until cancelled.
    """

    def __init__(self, client: Client, paths: AgentPaths, config: PodConfig, *,
                 images: ImageStorePort, runtime: RuntimePort, cni: CNIPort,
                 volumes: VolumePort, probes: ProbeFactory = _real_probes,
                 events: EventSink | None = None, clock: Callable[[], float] = time.time,
                 ) -> None:
        self.client = client
        self.config = config
        self.pods = Informer(client, PODS, field_selector=f"spec.nodeName={config.node_name}")
        self.nodes = Informer(client, NODES, field_selector=f"metadata.name={config.node_name}")
        self.services = Informer(client, SERVICES)
        self.recorder: EventRecorder | None = None
        if events is None:
            self.recorder = EventRecorder(client, "kubelet", host=config.node_name)
            events = self.recorder
        self.status = StatusWriter(client)
        self.parts = Parts(
            config=config, paths=paths, images=images, runtime=runtime, cni=cni,
            volumes=volumes, probes=probes(self._on_probe_result, self._on_probe_event),
            events=events, status=self.status, node=NodeCache(self.nodes, config),
            env=EnvSources(configmap=self._getter(CONFIGMAPS), secret=self._getter(SECRETS),
                           services=self.services.list,
                           services_synced=lambda: self.services.has_synced),
            wake=self._wake_later, crash_backoff=Backoff(clock=clock),
            pull_backoff=Backoff(clock=clock), clock=clock)
        self.workers: dict[str, PodWorker] = {}
        self._ready = asyncio.Event()
        self._adoption: dict[str, PodState] = {}
        self._reapers: set[asyncio.Task[None]] = set()
        self.pods.add_handlers(on_add=self._on_pod, on_update=lambda _old, new: self._on_pod(new),
                               on_delete=self._on_pod_deleted)

    # -- lifecycle -----------------------------------------------------------------------

    async def run(self) -> None:
        """Adopt what the runtime holds, then run the pods until cancelled."""
        exits = self.parts.runtime.exit_events()
        informers = [self.nodes, self.services, self.pods]
        for informer in informers:
            informer.start()
        try:
            for informer in informers:
                await informer.wait_synced()
            await self.adopt()
            self._ready.set()
            # Oldest first, as the kubelet admits pods.
            for pod in sorted(self.pods.list(), key=lambda p: str(
                    (p.get("metadata") or {}).get("creationTimestamp") or "")):
                self._on_pod(pod)
            await self._watch_exits(exits)
        finally:
            await self.close(informers)

    async def close(self, informers: list[Informer]) -> None:
        """Stop workers and informers; containers keep running."""
        self._ready.clear()
        await asyncio.gather(*(w.stop() for w in list(self.workers.values())),
                             return_exceptions=True)
        self.workers.clear()
        for informer in informers:
            await informer.stop()
        await self.parts.probes.close()
        if self.recorder is not None:
            await self.recorder.close()

    async def wait_ready(self) -> None:
        """Wait until adoption is done and workers run (bound it with a timeout)."""
        await self._ready.wait()

    async def adopt(self) -> None:
        """Map the runtime's sandboxes and containers back to pods (module docstring)."""
        runtime = self.parts.runtime
        ours = {str((p.get("metadata") or {}).get("uid")): p for p in self.pods.list()}
        plan = plan_adoption(ours, await runtime.list_sandboxes(),
                             await runtime.list_containers())
        for uid, found in plan.orphans.items():
            log.info("removing containers and sandbox of pod %s, which is not on this node "
                     "any more", uid)
            await remove_orphan(self.parts, found)
        # Pod directories (volumes) of pods that are gone and hold nothing in the runtime.
        for pod_dir in sorted(self.parts.paths.pods.glob("*")):
            if pod_dir.name not in ours and pod_dir.name not in plan.orphans:
                with contextlib.suppress(OSError):
                    await self.parts.volumes.teardown(pod_dir.name)
        host_ips = self.parts.node.host_ips()
        for uid, found in plan.adopt.items():
            pod = ours[uid]
            state = PodState(uid=uid, key=object_key(pod), pod=pod, admitted=True)
            state.sandbox = newest_sandbox(found)
            for extra in found.sandboxes:
                if extra is not state.sandbox:
                    with contextlib.suppress(Exception):
                        await runtime.remove_sandbox(extra.id)
            state.container_ids = {c.id for c in found.containers}
            if state.sandbox is not None:
                state.pod_ips = adopted_pod_ips(pod, host_ips)
                with contextlib.suppress(ValueError):
                    state.hostname, state.domain = pod_hostname_and_domain(
                        pod, self.config.cluster_domain)
            if (pod.get("status") or {}).get("phase") in TERMINAL_PHASES:
                state.finished = state.sandbox is None
            self._adoption[uid] = state
            self._resume_probes(state, pod, found.containers)
        log.info("adopted %d pods from the runtime, removed %d orphans", len(plan.adopt),
                 len(plan.orphans))

    def _resume_probes(self, state: PodState, pod: Obj, containers: list[Any]) -> None:
        for container_state in containers:
            found = find_container(pod, container_state.container_name)
            if container_state.status != "running" or found is None:
                continue
            self.parts.probes.container_started(
                state.uid, found[0], container_id=container_state.id,
                started_at=container_state.started_at or self.parts.clock(),
                pod_ip=state.pod_ips[0] if state.pod_ips else "",
                exec_sync=functools.partial(self.parts.runtime.exec_sync, container_state.id))

    # -- events --------------------------------------------------------------------------

    def _on_pod(self, pod: Obj) -> None:
        if not self._ready.is_set():
            return  # run() hands every pod over once adoption is done
        meta = pod.get("metadata") or {}
        uid = str(meta.get("uid") or "")
        if (pod.get("spec") or {}).get("nodeName") != self.config.node_name or not uid:
            return
        worker = self.workers.get(uid)
        if worker is None:
            state = self._adoption.pop(uid, None) or self._new_state(pod)
            worker = self._start_worker(state)
        worker.pod_changed(pod)

    def _new_state(self, pod: Obj) -> PodState:
        """The state of a pod first seen now (not adopted: nothing of it runs here).
        Admission is decided here, in the order pods arrive, so two pods racing for the
        last resources cannot both be admitted."""
        meta, status = pod.get("metadata") or {}, pod.get("status") or {}
        state = PodState(uid=str(meta.get("uid")), key=object_key(pod), pod=pod)
        if status.get("phase") in TERMINAL_PHASES:
            state.finished = True     # it ran elsewhere or before: nothing to clean here
            return state
        node = self.parts.node.node()
        if node is None or meta.get("deletionTimestamp"):
            return state              # the worker decides (it waits for the Node)
        if status.get("phase") == "Running":
            state.admitted = True     # admitted by this node before the agent restarted
            return state
        state.rejection = admit(pod, node, self._admitted_pods(state.uid))
        state.admitted = state.rejection is None
        return state

    def _on_pod_deleted(self, pod: Obj) -> None:
        worker = self.workers.get(str((pod.get("metadata") or {}).get("uid") or ""))
        if worker is not None:
            worker.wake()

    def _start_worker(self, state: PodState) -> PodWorker:
        key, uid = state.key, state.uid

        def current() -> Obj | None:
            cached = self.pods.get(key)
            if cached is None or (cached.get("metadata") or {}).get("uid") != uid:
                return None
            return self.status.newest(cached, uid)

        worker = PodWorker(self.parts, state, current=current,
                           admitted_pods=lambda: self._admitted_pods(uid))
        self.workers[uid] = worker
        worker.start()
        task = asyncio.get_running_loop().create_task(self._reap(uid, worker))
        self._reapers.add(task)
        task.add_done_callback(self._reapers.discard)
        return worker

    async def _reap(self, uid: str, worker: PodWorker) -> None:
        await worker.done.wait()
        if self.workers.get(uid) is worker:
            del self.workers[uid]
            self.status.forget(uid)

    def _admitted_pods(self, except_uid: str) -> list[Obj]:
        out = []
        for uid, worker in self.workers.items():
            state = worker.state
            if uid == except_uid or not state.admitted or state.finished or state.pod is None:
                continue
            out.append(state.pod)
        return out

    def _wake_later(self, uid: str, delay: float) -> None:
        worker = self.workers.get(uid)
        if worker is not None:
            worker.wake(delay)

    def _on_probe_result(self, pod_uid: str, container_name: str, kind: str, success: bool,
                         message: str) -> None:
        worker = self.workers.get(pod_uid)
        if worker is not None:
            worker.wake()

    def _on_probe_event(self, pod_uid: str, container_name: str, reason: str,
                        message: str) -> None:
        worker = self.workers.get(pod_uid)
        pod = worker.state.pod if worker is not None else None
        if pod is None:
            return
        found = find_container(pod, container_name)
        if found is None:
            return
        container_event(self.parts, pod, found[0], found[1], WARNING, reason, message)

    async def _watch_exits(self, exits: asyncio.Queue[str]) -> None:
        while True:
            container_id = await exits.get()
            for worker in list(self.workers.values()):
                if container_id in worker.state.container_ids:
                    worker.wake()
                    break

    # -- helpers -------------------------------------------------------------------------

    def _getter(self, resource: Resource) -> Callable[[str, str], Any]:
        async def get(namespace: str, name: str) -> Obj | None:
            try:
                return await self.client.get(resource, name, namespace)
            except ApiError as exc:
                if exc.code == 404:
                    return None
                raise
        return get

    async def images_in_use(self) -> set[str]:
        """Ids of the images the node's containers use (for image garbage collection)."""
        return {c.annotations.get(rt.IMAGE_ID, "")
                for c in await self.parts.runtime.list_containers()} - {""}

    def container_id(self, namespace: str, pod_name: str, container: str) -> str | None:
        """The runtime id of a container's current instance (for logs, exec, attach)."""
        pod = self.pods.get(f"{namespace}/{pod_name}")
        if pod is None:
            return None
        worker = self.workers.get(str((pod.get("metadata") or {}).get("uid") or ""))
        runs = worker.state.runs.get(container) if worker is not None else None
        return runs[0].id if runs else None

