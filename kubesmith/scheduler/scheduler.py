"""The scheduler: informer events feed the cache and the queue; one loop takes pods from
the queue and decides; bindings run concurrently (upstream ``scheduler.go``,
``schedule_one.go`` and ``eventhandlers.go``).

Concurrency design (one event loop):

* **Scheduling cycle** — :meth:`Scheduler.schedule_one` pops a pod and decides
  synchronously against the live cache (no ``await`` between the first filter and the
  *assume*, so no informer event can interleave), then assumes the pod on the chosen node
  and starts its binding cycle as a task. The next pod is decided at once; it already sees
  the assumed pod. Only preemption (which deletes victims) awaits inside a cycle.
* **Binding cycle** — a task per pod: PreBind (volumes), then the ``pods/binding`` POST.
  At most ``max_in_flight_binds`` run at a time (each in-flight request holds one
  keep-alive connection; more than the server can work on at once only adds TLS
  handshakes and queueing); when the API is the bottleneck the scheduling loop waits for a
  slot instead of piling up work. A failed binding forgets the
  assumed pod, wakes pods that may fit in the freed space, and requeues this one with
  backoff.
* **Failures** — the pod goes back to the queue (unschedulable or backoff), gets the
  ``PodScheduled=False`` condition (reason ``Unschedulable`` or ``SchedulerError``) and, after
  preemption, ``status.nominatedNodeName`` through a strategic-merge PATCH of
  ``pods/status``, and a ``FailedScheduling`` Warning event. Status writes run as tasks so
  a slow API never stalls decisions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from kubesmith.api.types import Obj
from kubesmith.client.events import EventRecorder
from kubesmith.client.rest import PODS, ApiError, Client
from kubesmith.scheduler import queue as q
from kubesmith.scheduler.cache import SchedulerCache, same_scheduling_inputs
from kubesmith.scheduler.framework import (
    Code,
    CycleState,
    FitError,
    Framework,
    NoNodesAvailable,
    Status,
)
from kubesmith.scheduler.handle import Handle, Listers
from kubesmith.scheduler.plugins import DEFAULT_WEIGHTS, EVENTS, default_plugins
from kubesmith.scheduler.plugins.node_resources_fit import LEAST_ALLOCATED
from kubesmith.scheduler.podinfo import PodInfo
from kubesmith.scheduler.queue import QueuedPod, SchedulingQueue

log = logging.getLogger(__name__)

DEFAULT_SCHEDULER_NAME = "default-scheduler"
REASON_UNSCHEDULABLE = "Unschedulable"
REASON_SCHEDULER_ERROR = "SchedulerError"
#: Upstream truncates event notes to this many characters.
EVENT_NOTE_LIMIT = 1024
_TERMINAL = ("Succeeded", "Failed")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _truncate(message: str) -> str:
    if len(message) <= EVENT_NOTE_LIMIT:
        return message
    return message[:EVENT_NOTE_LIMIT - 3] + "..."


def _assigned(pod: Obj) -> bool:
    return bool((pod.get("spec") or {}).get("nodeName"))


def _terminal(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in _TERMINAL


def _key(obj: Obj) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace') or ''}/{meta.get('name') or ''}"


def _node_relevant(node: Obj) -> tuple[Any, ...]:
    """The parts of a Node that scheduling decisions read (heartbeats are not among them)."""
    meta = node.get("metadata") or {}
    spec = node.get("spec") or {}
    status = node.get("status") or {}
    return (meta.get("labels"), spec.get("taints"), spec.get("unschedulable"),
            status.get("allocatable"), status.get("images"))


class Scheduler:
    """Cache, queue, framework and the loops around them (see the module docstring)."""

    def __init__(self, client: Client | None, *, scheduler_name: str = DEFAULT_SCHEDULER_NAME,
                 listers: Listers | None = None, recorder: EventRecorder | None = None,
                 percentage_of_nodes_to_score: int | None = None,
                 scoring_strategy: str = LEAST_ALLOCATED, max_in_flight_binds: int = 64,
                 rng: random.Random | None = None) -> None:
        self.client = client
        self.scheduler_name = scheduler_name
        self.recorder = recorder
        self.cache = SchedulerCache()
        self.queue = SchedulingQueue(EVENTS)
        self.handle = Handle(self.cache, listers or Listers(), scheduler_name, client, recorder,
                             queue=self.queue)
        self.framework = Framework(
            default_plugins(self.handle, scoring_strategy=scoring_strategy),
            weights=DEFAULT_WEIGHTS, nominator=self.queue, node_lookup=self.cache.node,
            percentage_of_nodes_to_score=percentage_of_nodes_to_score, rng=rng)
        self.handle.framework = self.framework
        self.max_in_flight_binds = max_in_flight_binds
        self._bind_slots = asyncio.Semaphore(max_in_flight_binds)
        # Bindings in flight, and whether the binding pipeline has capacity to spare: it
        # has not while at least half the slots are taken (a burst).
        self._binds_in_flight = 0
        self._busy_from = max(1, max_in_flight_binds // 2)
        self._bindings_spare = asyncio.Event()
        self._bindings_spare.set()
        # Status writes of failed pods: a burst of thousands must not open thousands of
        # connections at once.
        self._status_slots = asyncio.Semaphore(16)
        self._tasks: set[asyncio.Task[None]] = set()
        #: How many pods were bound / failed a binding, for benchmarks and tests.
        self.bound = 0
        self.bind_failures = 0

    # -- informer handlers ---------------------------------------------------------------

    def responsible_for(self, pod: Obj) -> bool:
        """Whether this scheduler schedules ``pod`` (by ``spec.schedulerName``)."""
        name = (pod.get("spec") or {}).get("schedulerName") or DEFAULT_SCHEDULER_NAME
        return bool(name == self.scheduler_name)

    def on_pod_add(self, pod: Obj) -> None:
        """A pod appeared: to the cache if assigned, to the queue if pending and ours."""
        if _terminal(pod):
            return
        if _assigned(pod):
            self.queue.delete(_key(pod))
            self.cache.add_pod(pod)
            self.queue.move_all(q.ASSIGNED_POD_ADD)
        elif self.responsible_for(pod) and not (pod.get("metadata") or {}).get(
                "deletionTimestamp"):
            self.queue.add(PodInfo(pod))

    def on_pod_update(self, old: Obj, new: Obj) -> None:
        """A pod changed."""
        key = _key(new)
        if _terminal(new):
            self.on_pod_delete(old)
            return
        if _assigned(new):
            self.cache.add_pod(new)
            if not _assigned(old):
                # Just bound (by us or anyone): to other pods it is a new assigned pod.
                self.queue.delete(key)
                self.queue.move_all(q.ASSIGNED_POD_ADD)
            elif (old.get("metadata") or {}).get("labels") != \
                    (new.get("metadata") or {}).get("labels") or \
                    not same_scheduling_inputs(old.get("spec") or {}, new.get("spec") or {}):
                # Only label (affinity, spreading) and resource changes can help a waiting
                # pod; the kubelet's status updates cannot.
                self.queue.move_all(q.ASSIGNED_POD_UPDATE)
            return
        if not self.responsible_for(new) or self.cache.pod(key) is not None:
            return  # not ours, or assumed and being bound: the update changes nothing
        if (new.get("metadata") or {}).get("deletionTimestamp"):
            self.queue.delete(key)
            return
        self.queue.update(PodInfo(new))

    def on_pod_delete(self, pod: Obj) -> None:
        """A pod is gone (or finished)."""
        key = _key(pod)
        self.queue.delete(key)
        if self.cache.pod(key) is not None:
            self.cache.remove_pod(pod)
            self.queue.move_all(q.ASSIGNED_POD_DELETE)

    def on_node_add(self, node: Obj) -> None:
        """A node joined."""
        self.cache.add_node(node)
        self.queue.move_all(q.NODE_ADD)

    def on_node_update(self, old: Obj, new: Obj) -> None:
        """A node changed; only changes that matter to decisions (not heartbeats) are
        re-derived and wake pods."""
        if _node_relevant(old) == _node_relevant(new):
            self.cache.refresh_node(new)
            return
        self.cache.update_node(new)
        self.queue.move_all(q.NODE_UPDATE)

    def on_node_delete(self, node: Obj) -> None:
        """A node left."""
        self.cache.remove_node(str((node.get("metadata") or {}).get("name") or ""))

    def event_handler(self, event: str) -> Any:
        """A handler that moves waiting pods on ``event`` (for PVC, PV, StorageClass and
        Namespace informers)."""
        def handle(*_objs: Obj) -> None:
            self.queue.move_all(event)
        return handle

    # -- the scheduling loop -------------------------------------------------------------

    async def run(self) -> None:
        """Schedule until cancelled; binding tasks are cancelled on the way out."""
        backoff_task = asyncio.create_task(self.queue.run(), name="scheduler-queue")
        try:
            while True:
                try:
                    await self.schedule_one()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    # A bug in one cycle must not stop scheduling for everyone.
                    log.exception("scheduling cycle failed")
        finally:
            self.queue.close()
            backoff_task.cancel()
            tasks = [backoff_task, *self._tasks]
            for task in self._tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            # A binding task cancelled before it started never released its slot: start
            # the next run (a regained leadership) with a free pipeline.
            self._bind_slots = asyncio.Semaphore(self.max_in_flight_binds)
            self._binds_in_flight = 0
            self._bindings_spare.set()

    async def schedule_one(self) -> None:
        """One scheduling cycle (see the module docstring)."""
        qp = await self.queue.pop()
        await self.schedule_popped(qp)

    async def schedule_popped(self, qp: QueuedPod) -> None:
        """The scheduling cycle of an already popped pod."""
        pod = qp.info
        if pod.deleting or self.cache.pod(pod.key) is not None:
            self.queue.done(pod.key)
            return
        cycle = self.queue.scheduling_cycle
        state = CycleState()
        try:
            result = self.framework.schedule(state, pod, self.cache.node_list)
        except FitError as fit:
            nominated = None
            if self.framework.post_filter_plugins:
                nominated = await self.framework.run_post_filter(state, pod, fit.diagnosis)
            self.handle_failure(qp, cycle, str(fit), REASON_UNSCHEDULABLE,
                                fit.diagnosis.unschedulable_plugins, nominated)
            return
        except NoNodesAvailable as exc:
            self.handle_failure(qp, cycle, str(exc), REASON_UNSCHEDULABLE, set(), "")
            return
        except Exception as exc:
            log.exception("scheduling %s failed", pod.key)
            self.handle_failure(qp, cycle, str(exc), REASON_SCHEDULER_ERROR, set(), None)
            return
        node = result.node
        self.cache.assume_pod(pod, node)
        status = self.framework.run_reserve(state, pod, node)
        if status is not None:
            self.cache.forget_pod(pod.key)
            pod.node_name = ""
            self.handle_failure(qp, cycle, f'running Reserve plugin "{status.plugin}": '
                                f"{status.message}", REASON_SCHEDULER_ERROR, set(), None)
            return
        self.queue.done(pod.key)
        self.queue.delete_nominated(pod.key)
        self._binds_in_flight += 1
        if self._binds_in_flight >= self._busy_from:
            self._bindings_spare.clear()
        await self._bind_slots.acquire()
        self._spawn(self._binding_cycle(qp, state, node), f"bind-{pod.key}")

    async def bindings_spare(self) -> None:
        """Return once the binding pipeline has capacity to spare. The Scheduled Event
        writers wait here (all but one), so in a burst the Events follow the bindings
        instead of taking half the API server's time from them; none is dropped."""
        await self._bindings_spare.wait()

    def _spawn(self, coro: Any, name: str) -> None:
        task: asyncio.Task[None] = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _binding_cycle(self, qp: QueuedPod, state: CycleState, node: str) -> None:
        pod = qp.info
        try:
            status = await self.framework.run_pre_bind(state, pod, node)
            what = "PreBind"
            if status is None:
                status = await self.framework.run_bind(state, pod, node)
                what = "Bind"
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("binding %s to %s failed", pod.key, node)
            status, what = Status(Code.ERROR, (str(exc),), "DefaultBinder"), "Bind"
        finally:
            self._bind_slots.release()
            self._binds_in_flight -= 1
            if self._binds_in_flight < self._busy_from:
                self._bindings_spare.set()
        if status is None:
            self.bound += 1
            if self.recorder is not None:
                self.recorder.event(pod.typed, "Normal", "Scheduled",
                                    f"Successfully assigned {pod.key} to {node}")
            return
        self.bind_failures += 1
        self.framework.run_unreserve(state, pod, node)
        self.cache.forget_pod(pod.key)
        pod.node_name = ""
        # The pod's resources are free again: pods waiting for them may fit now.
        self.queue.move_all(q.ASSIGNED_POD_DELETE)
        message = f'running {what} plugin "{status.plugin}": {status.message}'
        log.info("binding %s to %s failed: %s", pod.key, node, message)
        self.handle_failure(qp, self.queue.scheduling_cycle, message, REASON_SCHEDULER_ERROR,
                            set(), None, requeue=self._still_pending(pod))

    def _still_pending(self, pod: PodInfo) -> bool:
        """Whether the pod still exists unbound (a failed binding is retried only then)."""
        current = self.handle.listers.pods.get(pod.key)
        return current is not None and not _assigned(current) and \
            (current.get("metadata") or {}).get("uid") == pod.uid

    # -- failures ------------------------------------------------------------------------

    def handle_failure(self, qp: QueuedPod, cycle: int, message: str, reason: str,
                       plugins: set[str], nominated: str | None, *, requeue: bool = True
                       ) -> None:
        """Requeue the pod, record the nomination, update its status and record the
        FailedScheduling event (upstream ``handleSchedulingFailure``)."""
        pod = qp.info
        if requeue:
            if reason == REASON_UNSCHEDULABLE:
                self.queue.add_unschedulable(qp, plugins, cycle)
            else:
                self.queue.add_backoff(qp)
        if nominated:
            self.queue.add_nominated(pod, nominated)
        elif nominated == "":
            self.queue.delete_nominated(pod.key)
        log.debug("unable to schedule %s: %s", pod.key, message)
        if self.recorder is not None:
            self.recorder.event(pod.typed, "Warning", "FailedScheduling", _truncate(message))
        self._spawn(self._update_status(pod, reason, message, nominated),
                    f"status-{pod.key}")

    async def _update_status(self, pod: PodInfo, reason: str, message: str,
                             nominated: str | None) -> None:
        """PATCH ``pods/status`` with the PodScheduled condition (and the nomination),
        unless nothing would change."""
        if self.client is None:
            return
        current = self.handle.listers.pods.get(pod.key) or pod.pod
        status: Mapping[str, Any] = current.get("status") or {}
        old = next((c for c in status.get("conditions") or ()
                    if c.get("type") == "PodScheduled"), None)
        nomination_changes = nominated is not None and \
            nominated != (status.get("nominatedNodeName") or "")
        if old is not None and old.get("status") == "False" and \
                old.get("reason") == reason and old.get("message") == message and \
                not nomination_changes:
            return
        condition = {"type": "PodScheduled", "status": "False", "reason": reason,
                     "message": message, "lastProbeTime": None,
                     "lastTransitionTime": old.get("lastTransitionTime")
                     if old is not None and old.get("status") == "False" else _now()}
        patch: dict[str, Any] = {"status": {"conditions": [condition]}}
        if nomination_changes:
            patch["status"]["nominatedNodeName"] = nominated or None
        try:
            async with self._status_slots:
                await self.client.patch(PODS, pod.name, patch, pod.namespace,
                                        patch_type="strategic", subresource="status")
        except ApiError as exc:
            if exc.code != 404:
                log.warning("updating the status of %s failed: %s", pod.key, exc.message)
