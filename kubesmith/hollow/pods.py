"""Running the pods bound to hollow nodes — in simulation.

Concurrency design:

* **One informer** on pods for all hollow nodes of the process (never one per node), with
  the field selector ``spec.nodeName!=`` so unscheduled pods never reach us, indexed by
  ``spec.nodeName``. Pods bound to nodes we do not simulate are ignored.
* **One work queue** of ``namespace/name`` keys and ``workers`` reconciles in flight (64 by
  default), so 10,000 pods flow through with a bounded number of requests outstanding.
* ``reconcile(key)`` is level-triggered: it advances the pod's simulated
  :class:`~kubesmith.hollow.lifecycle.Run` to now, renders the status a kubelet would
  report (:func:`~kubesmith.hollow.podstatus.desired_pod_status`), and patches
  ``pods/status`` (JSON merge patch, with a ``metadata.uid`` precondition) only with the
  difference — nothing when the status is already current. The next change the simulation
  foresees (a container exiting, turning ready, restarting) re-queues the key for then.
* A pod with a ``deletionTimestamp`` is stopped (its containers terminate) and then deleted
  with ``gracePeriodSeconds=0`` and a UID precondition, as the kubelet finalizes a deletion.

Per-pod memory (timelines, addresses) is keyed by UID and dropped when the pod is deleted;
the API object remains the source of truth: after a restart, timelines and addresses are
re-read from the statuses written earlier.
"""

from __future__ import annotations

import logging
import time

from kubesmith.api.types import Obj
from kubesmith.client import ApiError, Client, Informer, WorkQueue, object_key, run_workers
from kubesmith.client.rest import PODS
from kubesmith.hollow.addresses import PodIPAllocator, fallback_pod_cidr
from kubesmith.hollow.clock import parse_api_time
from kubesmith.hollow.lifecycle import Deletion, Run, adopt_run, advance, new_run, pod_behaviour
from kubesmith.hollow.nodes import NodeFleet
from kubesmith.hollow.podstatus import desired_pod_status, merge_patch, next_ready_time
from kubesmith.hollow.written import WrittenObjects

log = logging.getLogger(__name__)

NODE_NAME_INDEX = "spec.nodeName"
TERMINAL_PHASES = ("Succeeded", "Failed")
_WAKE_SLACK = 0.005  # wake a little late rather than early: timers and wall clock differ
_CONFLICT_RETRY = 0.1


def _node_name(pod: Obj) -> list[str]:
    name = (pod.get("spec") or {}).get("nodeName")
    return [str(name)] if name else []


class PodSimulator:
    """Simulates the kubelet's pod handling for every node of a :class:`NodeFleet`."""

    def __init__(self, client: Client, fleet: NodeFleet, *, workers: int = 64,
                 pod_ready_delay: float = 0.0, pod_cidr_wait: float = 2.0) -> None:
        self.client = client
        self.fleet = fleet
        self.workers = workers
        self.pod_ready_delay = pod_ready_delay
        self.pod_cidr_wait = pod_cidr_wait
        self.informer = Informer(client, PODS, field_selector="spec.nodeName!=")
        self.informer.add_index(NODE_NAME_INDEX, _node_name)
        self.informer.add_handlers(on_add=self._on_pod,
                                   on_update=lambda _old, new: self._on_pod(new),
                                   on_delete=self._on_pod_deleted)
        fleet.pod_cidr_listeners.append(self._on_pod_cidr)
        self.queue: WorkQueue[str] = WorkQueue()
        self._written = WrittenObjects()
        self._runs: dict[str, Run] = {}
        self._deletions_seen: dict[str, float] = {}
        self._first_seen: dict[str, float] = {}
        self._allocators: dict[tuple[str, str], PodIPAllocator] = {}
        self._ips: dict[str, tuple[PodIPAllocator, str]] = {}
        self._fallback_logged: set[str] = set()
        #: Writes made, by kind — a measure of cost for tests and benchmarks.
        self.writes = {"pod_status": 0, "pod_delete": 0}

    # -- informer handlers ---------------------------------------------------------------

    def _ours(self, pod: Obj) -> bool:
        return (pod.get("spec") or {}).get("nodeName") in self.fleet.nodes

    def _on_pod(self, pod: Obj) -> None:
        if not self._ours(pod):
            return
        self._claim_existing_ip(pod)
        self.queue.add(object_key(pod))

    def _on_pod_deleted(self, pod: Obj) -> None:
        uid = str((pod.get("metadata") or {}).get("uid") or "")
        self._forget(uid)
        self._written.forget(object_key(pod))

    def _on_pod_cidr(self, node_name: str) -> None:
        for key in self.informer.index_keys(NODE_NAME_INDEX, node_name):
            self.queue.add(key)

    # -- lifecycle -----------------------------------------------------------------------

    async def run(self) -> None:
        """Simulate pods until cancelled (start after the fleet's node cache is synced, so
        addresses pods already carry are known before new ones are handed out)."""
        await self.fleet.informer.wait_synced()
        self.informer.start()
        try:
            await self.informer.wait_synced()
            await run_workers(self.queue, self.workers, self.reconcile)
        finally:
            self.queue.shutdown()
            await self.informer.stop()

    # -- addresses -----------------------------------------------------------------------

    def _allocator(self, node_name: str, cidr: str) -> PodIPAllocator:
        found = self._allocators.get((node_name, cidr))
        if found is None:
            found = self._allocators[(node_name, cidr)] = PodIPAllocator(cidr)
        return found

    def _cidrs(self, node_name: str) -> list[str]:
        hollow = self.fleet.nodes[node_name]
        assigned = self.fleet.pod_cidr(node_name)
        fallback = fallback_pod_cidr(hollow.index)
        return [assigned, fallback] if assigned else [fallback]

    def _claim_existing_ip(self, pod: Obj) -> None:
        meta, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, \
            pod.get("status") or {}
        uid = str(meta.get("uid") or "")
        ip = status.get("podIP")
        if uid in self._ips or not ip or spec.get("hostNetwork") or \
                status.get("phase") in TERMINAL_PHASES:
            return
        node_name = str(spec.get("nodeName"))
        for cidr in self._cidrs(node_name):
            allocator = self._allocator(node_name, cidr)
            if allocator.reserve(uid, str(ip)):
                self._ips[uid] = (allocator, str(ip))
                return

    def _pod_ip(self, pod: Obj, now: float) -> str | float:
        """The pod's address, or how long to wait for the node's podCIDR."""
        meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
        node_name = str(spec.get("nodeName"))
        hollow = self.fleet.nodes[node_name]
        if spec.get("hostNetwork"):
            return hollow.internal_ip
        uid = str(meta.get("uid") or "")
        held = self._ips.get(uid)
        if held is not None:
            return held[1]
        cidr = self.fleet.pod_cidr(node_name)
        if not cidr:
            waited = now - self._first_seen.setdefault(uid, now)
            if waited < self.pod_cidr_wait:
                return self.pod_cidr_wait - waited
            cidr = fallback_pod_cidr(hollow.index)
            if node_name not in self._fallback_logged:
                self._fallback_logged.add(node_name)
                # Thousands of nodes without a podCIDR would flood the log: name a few.
                level = logging.INFO if len(self._fallback_logged) <= 10 else logging.DEBUG
                log.log(level, "node %s has no spec.podCIDR after %.1fs; its pods get "
                        "addresses from %s", node_name, self.pod_cidr_wait, cidr)
        allocator = self._allocator(node_name, cidr)
        ip = allocator.allocate(uid)
        self._ips[uid] = (allocator, ip)
        return ip

    def _release_ip(self, uid: str) -> None:
        held = self._ips.pop(uid, None)
        if held is not None:
            held[0].release(uid)

    def _forget(self, uid: str) -> None:
        self._release_ip(uid)
        self._runs.pop(uid, None)
        self._deletions_seen.pop(uid, None)
        self._first_seen.pop(uid, None)

    # -- reconcile -----------------------------------------------------------------------

    async def reconcile(self, key: str) -> None:
        """Bring pod ``key``'s status (or its deletion) to what a kubelet would do now."""
        pod = self._written.newest(key, self.informer.get(key))
        if pod is None or not self._ours(pod):
            return
        meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
        status: Obj = pod.get("status") or {}
        uid = str(meta.get("uid") or "")
        deleting = bool(meta.get("deletionTimestamp"))
        now = time.time()
        if status.get("phase") in TERMINAL_PHASES:
            # Finished (by us or, say, an eviction): the sandbox is gone, so is its address.
            self._forget(uid)
            if deleting and meta.get("deletionGracePeriodSeconds") != 0:
                await self._delete(pod)
            return
        run = self._runs.get(uid) or adopt_run(status, now)
        if deleting:
            if run is None:
                await self._delete(pod)  # never started: nothing to stop
                return
            began = self._deletions_seen.setdefault(uid, now)
            deadline = parse_api_time(meta.get("deletionTimestamp")) or now
            pod_ip = self._ips[uid][1] if uid in self._ips else str(status.get("podIP") or "")
            run, wake = advance(run, pod_behaviour(pod), now, Deletion(began, deadline))
        else:
            found = self._pod_ip(pod, now)
            if isinstance(found, float):
                self.queue.add_after(key, found + _WAKE_SLACK)
                return
            pod_ip = found
            run, wake = advance(run or new_run(now), pod_behaviour(pod), now)
        self._runs[uid] = run
        host_ip = self.fleet.nodes[str(spec.get("nodeName"))].internal_ip
        desired = desired_pod_status(pod, run, host_ip=host_ip, pod_ip=pod_ip or host_ip,
                                     now=now, ready_delay=self.pod_ready_delay)
        if not await self._write_status(key, pod, desired):
            return
        if run.done:
            self._release_ip(uid)
            if deleting:
                await self._delete(pod)
            return
        ready = next_ready_time(pod, run, now, self.pod_ready_delay)
        wakes = [t for t in (wake, ready) if t is not None]
        if wakes:
            self.queue.add_after(key, max(0.0, min(wakes) - now) + _WAKE_SLACK)

    async def _write_status(self, key: str, pod: Obj, desired: Obj) -> bool:
        """Patch the difference; False when the pod is gone or was replaced."""
        meta = pod.get("metadata") or {}
        patch = merge_patch(pod.get("status") or {}, desired)
        if not patch:
            return True
        body = {"metadata": {"uid": meta.get("uid")}, "status": patch}
        try:
            updated = await self.client.patch(PODS, str(meta.get("name")), body,
                                              str(meta.get("namespace")), subresource="status")
        except ApiError as exc:
            if exc.code == 409:
                # Replaced by a pod of the same name (UID precondition) or a write race:
                # look again from the cache in a moment.
                self.queue.add_after(key, _CONFLICT_RETRY)
                return False
            if exc.code == 404:
                return False
            raise
        self._written.remember(key, updated)
        self.writes["pod_status"] += 1
        return True

    async def _delete(self, pod: Obj) -> None:
        meta = pod.get("metadata") or {}
        try:
            await self.client.delete(PODS, str(meta.get("name")), str(meta.get("namespace")),
                                     grace_period_seconds=0,
                                     preconditions={"uid": str(meta.get("uid") or "")})
            self.writes["pod_delete"] += 1
        except ApiError as exc:
            if exc.code not in (404, 409):
                raise
