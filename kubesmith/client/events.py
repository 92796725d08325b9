"""Recording Events (core/v1) the way client-go's event recorder does, so ``kubectl describe``
and ``kubectl events`` show what a component did and why.

Design:

* **Never block the caller.** :meth:`EventRecorder.event` only appends to a bounded queue;
  a few background tasks write (one at a time per aggregation key). A reconcile loop must
  not wait on, or fail because of, an event.
  A full queue drops the event (one warning per 30 s) — events are best effort upstream too.
* **Aggregate instead of flooding.** Repeats of the same (object, type, reason, message,
  source) within the cache's lifetime update the first Event's ``count`` and
  ``lastTimestamp`` with a merge patch instead of creating new objects, as upstream does.
  If that Event is gone (expired or deleted), a new one is created.
* **Spam filter.** A token bucket per involved object (burst 25, one token per 5 minutes,
  upstream's defaults) limits how many writes a single object can cause.
* **Cheap writes.** Events go over the client's lean keep-alive connections
  (:meth:`~kubesmith.client.rest.Client.lean_request`); a component that records one per
  object it handles (the scheduler: one per bound pod) may ask for more writers, a larger
  queue and a ``wait_turn`` gate that lets its own urgent requests go first.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from kubesmith.api.types import Obj
from kubesmith.client.rest import EVENTS, ApiError, Client

log = logging.getLogger(__name__)

NORMAL = "Normal"
WARNING = "Warning"

_CACHE_SIZE = 4096
_QUEUE_SIZE = 5000
#: Concurrent writers: one at a time caps a busy component (a scheduler placing hundreds of
#: pods a second) at one Event per round trip.
_WRITERS = 4
#: At most one "dropping events" warning per this many seconds.
_DROP_LOG_SECONDS = 30.0
_SPAM_BURST = 25
_SPAM_REFILL_SECONDS = 300.0


_clock: list[Any] = [-1, ""]  # [whole second, its RFC 3339 text]


def _now() -> str:
    # Formatting a timestamp costs more than writing a small Event's JSON: do it once per
    # second, however many events a busy component records in it.
    second = int(time.time())
    if second != _clock[0]:
        _clock[0] = second
        _clock[1] = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    text: str = _clock[1]
    return text


@dataclass(slots=True)
class _Pending:
    involved: dict[str, Any]
    namespace: str
    type: str
    reason: str
    message: str


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


def object_reference(obj: Obj, field_path: str | None = None) -> dict[str, Any]:
    """An ObjectReference to ``obj`` (kind/apiVersion must be set, as on any API object)."""
    meta = obj.get("metadata") or {}
    ref: dict[str, Any] = {"kind": obj.get("kind", ""), "apiVersion": obj.get("apiVersion", ""),
                           "name": meta.get("name", "")}
    for src, dst in (("namespace", "namespace"), ("uid", "uid"),
                     ("resourceVersion", "resourceVersion")):
        if meta.get(src):
            ref[dst] = meta[src]
    if field_path:
        ref["fieldPath"] = field_path
    return ref


class EventRecorder:
    """Writes Events for one component (``source.component``, e.g. ``deployment-controller``).

    Call :meth:`start` once on the loop (or let the first :meth:`event` do it) and
    :meth:`close` when done; :meth:`flush` waits until everything queued was written.
    """

    def __init__(self, client: Client, component: str, host: str = "", *,
                 writers: int = _WRITERS, queue_size: int = _QUEUE_SIZE,
                 wait_turn: Callable[[], Awaitable[object]] | None = None) -> None:
        self.client = client
        self.component = component
        self.host = host
        self.writers = writers
        self.queue_size = queue_size
        #: Awaited by every writer but the first before each write: a component whose own
        #: requests are more urgent (a scheduler's bindings in a burst) holds all but one
        #: writer back until it has API capacity to spare. Events wait, none is dropped.
        self.wait_turn = wait_turn
        self._queue: asyncio.Queue[_Pending] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        # aggregation key -> (event name, namespace, count)
        self._seen: collections.OrderedDict[tuple[str, ...], tuple[str, str, int]] = \
            collections.OrderedDict()
        self._buckets: dict[str, _Bucket] = {}
        # One write at a time per aggregation key, so repeats of one event become one
        # Event with a count even with several writers.
        self._key_locks: dict[tuple[str, ...], tuple[asyncio.Lock, list[int]]] = {}
        self._dropped = 0
        self._drop_logged_at = -_DROP_LOG_SECONDS

    def start(self) -> None:
        """Start the writer tasks on the running loop (idempotent)."""
        if not self._tasks or all(t.done() for t in self._tasks):
            self._queue = asyncio.Queue(self.queue_size)
            loop = asyncio.get_running_loop()
            self._tasks = [loop.create_task(self._writer(i), name=f"events-{self.component}")
                           for i in range(self.writers)]

    def event(self, obj: Obj, type_: str, reason: str, message: str, *,
              field_path: str | None = None) -> None:
        """Record an Event about ``obj`` (``Normal`` or ``Warning``); never blocks."""
        self.start()
        assert self._queue is not None
        involved = object_reference(obj, field_path)
        namespace = involved.get("namespace") or "default"
        try:
            self._queue.put_nowait(_Pending(involved, namespace, type_, reason, message))
        except asyncio.QueueFull:
            self._dropped += 1
            now = time.monotonic()
            if now - self._drop_logged_at >= _DROP_LOG_SECONDS:
                log.warning("%s: event queue full; %d events dropped so far",
                            self.component, self._dropped)
                self._drop_logged_at = now

    @property
    def dropped(self) -> int:
        """How many events were dropped because the queue was full."""
        return self._dropped

    async def flush(self) -> None:
        """Wait until every queued event has been written (or given up on)."""
        if self._queue is not None:
            await self._queue.join()

    async def close(self) -> None:
        """Stop the writer (queued events not yet written are dropped)."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            try:
                await task
            except asyncio.CancelledError:
                # Our writers' cancellation is expected; the caller's own must propagate.
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise

    # -- internals -----------------------------------------------------------------------

    def _allow(self, involved: dict[str, Any]) -> bool:
        key = str(involved.get("uid") or
                  f"{involved.get('kind')}/{involved.get('namespace')}/{involved.get('name')}")
        now = time.monotonic()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) > _CACHE_SIZE:
                self._buckets.clear()
            bucket = self._buckets[key] = _Bucket(float(_SPAM_BURST), now)
        bucket.tokens = min(float(_SPAM_BURST),
                            bucket.tokens + (now - bucket.updated) / _SPAM_REFILL_SECONDS)
        bucket.updated = now
        if bucket.tokens < 1.0:
            return False
        bucket.tokens -= 1.0
        return True

    async def _writer(self, index: int) -> None:
        assert self._queue is not None
        while True:
            pending = await self._queue.get()
            try:
                if index and self.wait_turn is not None:
                    await self.wait_turn()
                if self._allow(pending.involved):
                    await self._write(pending)
            except asyncio.CancelledError:
                raise
            except ApiError as exc:
                # A terminating namespace refuses new Events (403/404); that is expected.
                if exc.code not in (403, 404, 409):
                    log.warning("%s: cannot write event %s: %s", self.component,
                                pending.reason, exc.message)
            except Exception as exc:
                # Usually the server going away (shutdown, restart): no traceback.
                log.warning("%s: cannot write event %s: %r", self.component,
                            pending.reason, exc)
            finally:
                self._queue.task_done()

    async def _write(self, p: _Pending) -> None:
        inv = p.involved
        key = (str(inv.get("uid") or ""), str(inv.get("kind")), str(inv.get("namespace")),
               str(inv.get("name")), str(inv.get("fieldPath") or ""), p.type, p.reason,
               p.message)
        entry = self._key_locks.get(key)
        if entry is None:
            entry = self._key_locks[key] = (asyncio.Lock(), [0])
        lock, users = entry
        users[0] += 1
        try:
            async with lock:
                await self._write_key(key, p)
        finally:
            users[0] -= 1
            if not users[0]:
                del self._key_locks[key]

    async def _write_key(self, key: tuple[str, ...], p: _Pending) -> None:
        inv = p.involved
        now = _now()
        seen = self._seen.get(key)
        if seen is not None:
            name, namespace, count = seen
            try:
                await self.client.lean_request(
                    "PATCH", EVENTS.path(namespace, name),
                    body=orjson.dumps({"count": count + 1, "lastTimestamp": now}),
                    content_type="application/merge-patch+json")
            except ApiError as exc:
                if exc.code != 404:
                    raise
            else:
                self._seen[key] = (name, namespace, count + 1)
                self._seen.move_to_end(key)
                return
        name = f"{inv.get('name') or 'unnamed'}.{time.time_ns():x}"
        body: Obj = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": name, "namespace": p.namespace},
            "involvedObject": inv, "reason": p.reason, "message": p.message,
            "source": {"component": self.component, **({"host": self.host} if self.host
                                                       else {})},
            "firstTimestamp": now, "lastTimestamp": now, "count": 1, "type": p.type,
            "reportingComponent": self.component, "reportingInstance": self.host,
        }
        await self.client.lean_request("POST", EVENTS.path(p.namespace),
                                       body=orjson.dumps(body))
        self._seen[key] = (name, p.namespace, 1)
        if len(self._seen) > _CACHE_SIZE:
            self._seen.popitem(last=False)
