"""The scheduling queue (upstream ``PriorityQueue``): which pending pod to try next.

Three places a pod can wait:

* **activeQ** — ready to be tried, a heap ordered by ``spec.priority`` (higher first), then
  by the time the pod entered the queue (upstream's PrioritySort).
* **backoffQ** — failed recently; it becomes active when its backoff expires (1 s after
  the first failed attempt, doubling per attempt up to 10 s).
* **unschedulable** — no node fitted. It stays there until a cluster event that could
  help arrives (:meth:`SchedulingQueue.move_all`: a node added or changed, an assigned pod
  deleted, a claim or volume changed ...) — only events that concern a plugin that
  rejected it count — or until it has waited 5 minutes. Moving goes to backoffQ when the
  pod's backoff has not expired yet, else straight to activeQ.

A pod popped for a cycle is *in flight*; if a helpful event arrives while it is being
scheduled, its failure sends it to backoffQ instead of unschedulable, so the event is not
lost (upstream's moveRequestCycle). Pods with ``spec.schedulingGates`` are held aside until
an update removes the gates (upstream's SchedulingGates PreEnqueue plugin).

The queue also is the *nominator*: pods that preemption nominated to a node, which
filters count as already there.

All on one event loop: entries removed from a heap are dropped lazily when popped.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable, Iterable, Mapping

from kubesmith.scheduler.podinfo import PodInfo

INITIAL_BACKOFF = 1.0
MAX_BACKOFF = 10.0
MAX_UNSCHEDULABLE_SECONDS = 300.0
UNSCHEDULABLE_FLUSH_PERIOD = 30.0

# Cluster events a waiting pod may be moved on.
NODE_ADD = "NodeAdd"
NODE_UPDATE = "NodeUpdate"
ASSIGNED_POD_ADD = "AssignedPodAdd"
ASSIGNED_POD_UPDATE = "AssignedPodUpdate"
ASSIGNED_POD_DELETE = "AssignedPodDelete"
PVC_CHANGE = "PersistentVolumeClaimChange"
PV_CHANGE = "PersistentVolumeChange"
STORAGE_CLASS_CHANGE = "StorageClassChange"
NAMESPACE_CHANGE = "NamespaceChange"
UNSCHEDULABLE_TIMEOUT = "UnschedulableTimeout"
FORCE_ACTIVATE = "ForceActivate"


class QueuedPod:
    """A pod in the queue and its scheduling history."""

    __slots__ = ("attempts", "backoff_expiry", "info", "key", "seq", "timestamp",
                 "unschedulable_plugins", "unschedulable_since", "updated_in_flight")

    def __init__(self, info: PodInfo, timestamp: float) -> None:
        self.info = info
        self.key = info.key
        self.timestamp = timestamp
        self.attempts = 0
        self.seq = 0
        self.backoff_expiry = 0.0
        self.unschedulable_plugins: set[str] = set()
        self.unschedulable_since = 0.0
        self.updated_in_flight = False

    def backoff_duration(self) -> float:
        """1 s doubling per attempt, at most 10 s."""
        if self.attempts <= 0:
            return 0.0
        return min(INITIAL_BACKOFF * 2.0 ** (self.attempts - 1), MAX_BACKOFF)


class SchedulingQueue:
    """activeQ, backoffQ and unschedulable pods (see the module docstring)."""

    def __init__(self, interest: Mapping[str, Iterable[str]] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        #: plugin name -> the events that may make a pod it rejected schedulable
        self.interest = {k: frozenset(v) for k, v in (interest or {}).items()}
        self.clock = clock
        self._seq = itertools.count(1)
        self._active: list[tuple[int, float, int, str]] = []
        self._backoff: list[tuple[float, int, str]] = []
        self._pods: dict[str, QueuedPod] = {}
        self._where: dict[str, str] = {}  # key -> active|backoff|unschedulable|gated|flight
        self._wakeup = asyncio.Event()
        self._unschedulable: dict[str, QueuedPod] = {}
        self.scheduling_cycle = 0
        #: event -> the scheduling cycle in which it last happened
        self._event_cycles: dict[str, int] = {}
        self._nominated: dict[str, dict[str, PodInfo]] = {}
        self._nominated_node: dict[str, str] = {}
        self._closed = False

    # -- adding --------------------------------------------------------------------------

    def add(self, info: PodInfo) -> None:
        """A new pending pod (or one seen again after a re-list)."""
        if info.key in self._pods:
            self.update(info)
            return
        qp = QueuedPod(info, self.clock())
        self._pods[info.key] = qp
        if info.nominated_node_name:
            self.add_nominated(info, info.nominated_node_name)
        if info.scheduling_gated:
            self._where[info.key] = "gated"
        else:
            self._push_active(qp)

    def update(self, info: PodInfo) -> None:
        """A pending pod changed: take the new version; an update may make it schedulable,
        so a waiting one is retried."""
        qp = self._pods.get(info.key)
        if qp is None:
            self.add(info)
            return
        qp.info = info
        if info.nominated_node_name:
            self.add_nominated(info, info.nominated_node_name)
        where = self._where.get(info.key)
        if where == "flight":
            qp.updated_in_flight = True
        elif where == "gated":
            if not info.scheduling_gated:
                self._push_active(qp)
        elif where == "unschedulable":
            self._move(qp)
        elif where == "active":
            self._push_active(qp)

    def delete(self, key: str) -> None:
        """The pod is gone (deleted, or bound by someone)."""
        self._pods.pop(key, None)
        self._where.pop(key, None)
        self._unschedulable.pop(key, None)
        self.delete_nominated(key)

    # -- popping -------------------------------------------------------------------------

    async def pop(self) -> QueuedPod:
        """The next pod to schedule (waits while activeQ is empty)."""
        while True:
            qp = self._pop_ready()
            if qp is not None:
                return qp
            if self._closed:
                raise asyncio.CancelledError("scheduling queue closed")
            self._wakeup.clear()
            await self._wakeup.wait()

    def pop_nowait(self) -> QueuedPod | None:
        """The next pod if one is ready."""
        return self._pop_ready()

    def _pop_ready(self) -> QueuedPod | None:
        self._flush_backoff()
        while self._active:
            _, _, seq, key = heapq.heappop(self._active)
            qp = self._pods.get(key)
            if qp is None or qp.seq != seq or self._where.get(key) != "active":
                continue
            self._where[key] = "flight"
            qp.attempts += 1
            qp.updated_in_flight = False
            self.scheduling_cycle += 1
            return qp
        return None

    def done(self, key: str) -> None:
        """The cycle of an in-flight pod ended in success: forget it."""
        if self._where.get(key) == "flight":
            self._pods.pop(key, None)
            self._where.pop(key, None)

    # -- requeueing ----------------------------------------------------------------------

    def add_unschedulable(self, qp: QueuedPod, plugins: Iterable[str], cycle: int) -> None:
        """The pod fitted nowhere (``plugins`` rejected it) in scheduling ``cycle``."""
        if self._pods.get(qp.key) is not qp:
            return  # deleted meanwhile
        now = self.clock()
        qp.unschedulable_plugins = set(plugins)
        qp.timestamp = now
        qp.backoff_expiry = now + qp.backoff_duration()
        helped = qp.updated_in_flight or any(
            seen >= cycle and self._interested(qp.unschedulable_plugins, event)
            for event, seen in self._event_cycles.items())
        if helped:
            # Something that may help happened while this pod was being scheduled.
            self._push_backoff(qp)
        else:
            qp.unschedulable_since = now
            self._where[qp.key] = "unschedulable"
            self._unschedulable[qp.key] = qp

    def add_backoff(self, qp: QueuedPod) -> None:
        """The attempt failed for another reason (an error, a failed binding): retry after
        the backoff. A pod whose cycle already ended (its binding failed) is queued again."""
        current = self._pods.get(qp.key)
        if current is not None and current is not qp:
            return  # a newer version of the pod is queued already
        self._pods[qp.key] = qp
        now = self.clock()
        qp.timestamp = now
        qp.backoff_expiry = now + qp.backoff_duration()
        self._push_backoff(qp)

    def move_all(self, event: str) -> int:
        """A cluster event: retry the unschedulable pods it may help. Returns how many
        pods moved."""
        self._event_cycles[event] = self.scheduling_cycle
        moved = 0
        for qp in list(self._unschedulable.values()):
            if event in (UNSCHEDULABLE_TIMEOUT, FORCE_ACTIVATE) or \
                    self._interested(qp.unschedulable_plugins, event):
                self._move(qp)
                moved += 1
        return moved

    def _interested(self, plugins: set[str], event: str) -> bool:
        if not plugins:
            return True
        for plugin in plugins:
            events = self.interest.get(plugin)
            if events is None or event in events:
                return True
        return False

    def flush_unschedulable_leftover(self) -> int:
        """Retry pods that waited longer than 5 minutes for a helpful event."""
        now = self.clock()
        moved = 0
        for qp in list(self._unschedulable.values()):
            if now - qp.unschedulable_since >= MAX_UNSCHEDULABLE_SECONDS:
                self._move(qp)
                moved += 1
        return moved

    def _move(self, qp: QueuedPod) -> None:
        self._unschedulable.pop(qp.key, None)
        if qp.backoff_expiry > self.clock():
            self._push_backoff(qp)
        else:
            self._push_active(qp)

    def _push_active(self, qp: QueuedPod) -> None:
        qp.seq = next(self._seq)
        self._where[qp.key] = "active"
        heapq.heappush(self._active, (-qp.info.priority, qp.timestamp, qp.seq, qp.key))
        self._wakeup.set()

    def _push_backoff(self, qp: QueuedPod) -> None:
        qp.seq = next(self._seq)
        self._where[qp.key] = "backoff"
        heapq.heappush(self._backoff, (qp.backoff_expiry, qp.seq, qp.key))
        self._wakeup.set()

    def _flush_backoff(self) -> None:
        now = self.clock()
        while self._backoff and self._backoff[0][0] <= now:
            _, seq, key = heapq.heappop(self._backoff)
            qp = self._pods.get(key)
            if qp is not None and qp.seq == seq and self._where.get(key) == "backoff":
                self._push_active(qp)

    def next_backoff_expiry(self) -> float | None:
        """When the earliest backoff ends (monotonic clock), if any pod is backing off."""
        while self._backoff:
            expiry, seq, key = self._backoff[0]
            qp = self._pods.get(key)
            if qp is not None and qp.seq == seq and self._where.get(key) == "backoff":
                return expiry
            heapq.heappop(self._backoff)
        return None

    async def run(self) -> None:
        """Move pods whose backoff ended to activeQ, and flush the long-unschedulable
        ones every 30 s, until cancelled."""
        last_flush = self.clock()
        while not self._closed:
            expiry = self.next_backoff_expiry()
            now = self.clock()
            delay = 1.0 if expiry is None else min(max(expiry - now, 0.01), 1.0)
            await asyncio.sleep(delay)
            self._flush_backoff()
            if self.clock() - last_flush >= UNSCHEDULABLE_FLUSH_PERIOD:
                last_flush = self.clock()
                self.flush_unschedulable_leftover()

    def close(self) -> None:
        """Wake and stop :meth:`pop` waiters."""
        self._closed = True
        self._wakeup.set()

    # -- introspection -------------------------------------------------------------------

    def where(self, key: str) -> str | None:
        """Which queue ``key`` waits in (``active``, ``backoff``, ``unschedulable``,
        ``gated``, ``flight``), if any."""
        return self._where.get(key)

    def get(self, key: str) -> QueuedPod | None:
        """The queued entry of ``key``."""
        return self._pods.get(key)

    def __len__(self) -> int:
        return len(self._pods)

    # -- nominator -----------------------------------------------------------------------

    def add_nominated(self, info: PodInfo, node_name: str) -> None:
        """Record that ``info`` was promised ``node_name`` by preemption."""
        self.delete_nominated(info.key)
        self._nominated.setdefault(node_name, {})[info.key] = info
        self._nominated_node[info.key] = node_name

    def delete_nominated(self, key: str) -> None:
        """Forget a nomination."""
        node_name = self._nominated_node.pop(key, None)
        if node_name is not None:
            pods = self._nominated.get(node_name)
            if pods is not None:
                pods.pop(key, None)
                if not pods:
                    del self._nominated[node_name]

    def nominated_pods(self, node_name: str) -> list[PodInfo]:
        """The pods nominated to ``node_name``."""
        pods = self._nominated.get(node_name)
        return [*pods.values()] if pods else []

    def has_nominations(self) -> bool:
        """Whether any pod is nominated anywhere (cheap guard for the hot path)."""
        return bool(self._nominated)

    def nominated_node(self, key: str) -> str | None:
        """The node ``key`` is nominated to."""
        return self._nominated_node.get(key)

