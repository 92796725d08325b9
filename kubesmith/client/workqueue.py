"""A work queue of keys with client-go's semantics, for level-triggered controllers.

Concurrency design (all on one asyncio loop, no locks needed):

* **Dedupe.** A key is queued at most once: ``add`` of a key already waiting is a no-op.
  Event handlers can therefore enqueue on every event; a burst collapses into one reconcile.
* **One worker per key.** A key handed out by :meth:`WorkQueue.get` is *processing* until
  :meth:`WorkQueue.done`. Adding it meanwhile marks it *dirty*; it is queued again (once)
  only at ``done``, so two workers never reconcile the same key at the same time and no
  change is lost.
* **Delays.** :meth:`WorkQueue.add_after` arms a loop timer that calls ``add`` later;
  :meth:`WorkQueue.add_rate_limited` delays by a per-key exponential backoff (5 ms doubling
  up to 1000 s, client-go's ``DefaultControllerRateLimiter`` item limiter) until
  :meth:`WorkQueue.forget` resets it after a success.
* **Shutdown.** :meth:`WorkQueue.shutdown` cancels pending timers, refuses new keys and makes
  ``get`` raise :class:`QueueShutDown` once waiting workers wake, so :func:`run_workers`
  returns.

Ready keys are handed out in FIFO order; idle workers wait on futures, one woken per
added key.
"""

from __future__ import annotations

import asyncio
import collections
import inspect
import logging
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

from kubesmith.api.errors import StatusError

K = TypeVar("K", bound=Hashable)

log = logging.getLogger(__name__)


class QueueShutDown(Exception):
    """Raised by :meth:`WorkQueue.get` once the queue is shut down."""


class RetryLater(Exception):
    """An expected, temporary failure of a reconcile (a resource exhausted, a write that lost
    a race): logged in one line, without a traceback, and retried with backoff."""


class ExponentialBackoff(Generic[K]):
    """Per-key exponential backoff: ``base * 2**failures``, capped at ``cap`` seconds."""

    def __init__(self, base: float = 0.005, cap: float = 1000.0) -> None:
        self.base = base
        self.cap = cap
        self._failures: dict[K, int] = {}

    def when(self, key: K) -> float:
        """The delay for the next retry of ``key`` (counts one more failure)."""
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        # Avoid float overflow for very many failures: cap the exponent.
        if failures > 64:
            return self.cap
        return min(self.base * float(2 ** failures), self.cap)

    def retries(self, key: K) -> int:
        """How many failures ``key`` has had since it was last forgotten."""
        return self._failures.get(key, 0)

    def forget(self, key: K) -> None:
        """Reset ``key``'s backoff (after a success)."""
        self._failures.pop(key, None)


class WorkQueue(Generic[K]):
    """A deduplicating, rate-limited queue of keys (see the module docstring)."""

    def __init__(self, backoff: ExponentialBackoff[K] | None = None) -> None:
        self._queue: collections.deque[K] = collections.deque()
        self._dirty: set[K] = set()
        self._processing: set[K] = set()
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._timers: dict[K, tuple[float, asyncio.TimerHandle]] = {}
        self._shutting_down = False
        self.backoff: ExponentialBackoff[K] = backoff or ExponentialBackoff()

    def __len__(self) -> int:
        """Keys ready to be handed out."""
        return len(self._queue)

    @property
    def shutting_down(self) -> bool:
        """Whether :meth:`shutdown` was called."""
        return self._shutting_down

    def add(self, key: K) -> None:
        """Queue ``key`` unless it is already waiting; if it is being processed, queue it
        again once :meth:`done` is called."""
        if self._shutting_down or key in self._dirty:
            return
        self._dirty.add(key)
        if key in self._processing:
            return
        self._queue.append(key)
        self._wake_one()

    def add_after(self, key: K, delay: float) -> None:
        """Queue ``key`` after ``delay`` seconds. An earlier pending timer for the same key
        wins (as client-go's delaying queue keeps the soonest)."""
        if self._shutting_down:
            return
        if delay <= 0:
            self.add(key)
            return
        loop = asyncio.get_running_loop()
        due = loop.time() + delay
        pending = self._timers.get(key)
        if pending is not None:
            if pending[0] <= due:
                return
            pending[1].cancel()
        self._timers[key] = (due, loop.call_at(due, self._fire, key))

    def _fire(self, key: K) -> None:
        self._timers.pop(key, None)
        self.add(key)

    def add_rate_limited(self, key: K) -> None:
        """Queue ``key`` after its next exponential backoff delay."""
        self.add_after(key, self.backoff.when(key))

    def forget(self, key: K) -> None:
        """Stop tracking ``key``'s failures (call after a successful reconcile)."""
        self.backoff.forget(key)

    def num_requeues(self, key: K) -> int:
        """How many rate-limited requeues ``key`` has had since it was forgotten."""
        return self.backoff.retries(key)

    async def get(self) -> K:
        """Wait for a key and mark it processing; raise :class:`QueueShutDown` after
        :meth:`shutdown` (keys still queued are drained first)."""
        while not self._queue:
            if self._shutting_down:
                raise QueueShutDown
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                # Pass a wake-up we consumed on to another worker.
                if waiter.done() and not waiter.cancelled():
                    self._wake_one()
                raise
        key = self._queue.popleft()
        self._dirty.discard(key)
        self._processing.add(key)
        return key

    def done(self, key: K) -> None:
        """Finish processing ``key``; queue it again if it was added meanwhile."""
        self._processing.discard(key)
        if key in self._dirty:
            self._queue.append(key)
            self._wake_one()

    def shutdown(self) -> None:
        """Stop accepting keys, cancel delayed adds and wake every waiting worker."""
        self._shutting_down = True
        for _, handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return


Reconcile = Callable[[K], Awaitable[object] | object]


async def run_workers(queue: WorkQueue[K], n: int, reconcile: Reconcile[K], *,
                      max_retries: int | None = None) -> None:
    """Run ``n`` workers calling ``reconcile(key)`` (sync or async) until the queue shuts
    down. A success forgets the key's backoff; an exception requeues it rate-limited (unless
    ``max_retries`` is reached, then the key is dropped and forgotten)."""

    async def worker() -> None:
        while True:
            try:
                key = await queue.get()
            except QueueShutDown:
                return
            try:
                result = reconcile(key)
                if inspect.isawaitable(result):
                    await result
            except asyncio.CancelledError:
                queue.done(key)
                raise
            except Exception as exc:
                # A refused request (409 after a concurrent change, 422, 403...) is part of
                # a controller's normal life: name it without a traceback.
                if max_retries is not None and queue.num_requeues(key) >= max_retries:
                    log.exception("dropping %r after %d retries", key, max_retries)
                    queue.forget(key)
                elif isinstance(exc, RetryLater):
                    log.info("reconcile %r: %s; requeued with backoff", key, exc)
                    queue.add_rate_limited(key)
                elif isinstance(exc, StatusError):
                    log.log(logging.DEBUG if exc.code == 409 else logging.WARNING,
                            "reconcile %r: %s %s: %s; requeued with backoff", key, exc.code,
                            exc.reason, exc.message)
                    queue.add_rate_limited(key)
                else:
                    log.warning("reconcile %r failed; requeued with backoff", key,
                                exc_info=True)
                    queue.add_rate_limited(key)
            else:
                queue.forget(key)
            queue.done(key)

    async with asyncio.TaskGroup() as group:
        for _ in range(n):
            group.create_task(worker())
