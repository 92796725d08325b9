"""In-process watch fan-out for an embedded store.

Concurrency design: everything here runs on the event loop thread, so no locks are needed.
The store's writer thread commits a batch and then schedules :meth:`WatchHub.publish` on the
loop (``call_soon_threadsafe``) with that batch's events in revision order. ``publish`` hands
each event to every :class:`Subscription` whose prefix matches; subscriptions are grouped by
prefix so one ``startswith`` test serves every watcher of the same resource.

Because publishing happens on the loop in commit order, :attr:`WatchHub.revision` (the last
revision published) is a precise cut: a subscription made synchronously on the loop receives
exactly the events with revision > ``Subscription.since``; everything up to and including
``since`` is already in the log table and is replayed from there. That is how a watch from an
old revision switches from replay to live events with no gap and no duplicate.

Slow consumers never block the writer: each subscription holds at most ``capacity`` undelivered
events. A subscription that would exceed it is dropped from the hub and, once its consumer has
drained what it already holds, fails with :class:`WatchOverflowError`. The consumer then knows
the last revision it saw and can start a new watch from the next one (served from the log) or
re-list if that history was compacted.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence

from kubesmith.storage.interface import StoreError, WatchEvent


class WatchOverflowError(StoreError):
    """A watcher fell more than its queue capacity behind and was disconnected.

    ``last_revision`` is the revision of the last event handed to the consumer before the
    error (0 if none); resuming a watch from ``last_revision + 1`` loses nothing.
    """

    def __init__(self, prefix: str, capacity: int, last_revision: int) -> None:
        super().__init__(
            f"watch on {prefix!r} fell more than {capacity} events behind after revision "
            f"{last_revision}; watch again from revision {last_revision + 1} or re-list"
        )
        self.prefix = prefix
        self.capacity = capacity
        self.last_revision = last_revision


class Subscription:
    """One watcher's bounded queue of live events (loop thread only)."""

    __slots__ = ("_error", "_events", "_waiter", "capacity", "last_revision", "prefix", "since")

    def __init__(self, prefix: str, capacity: int, since: int) -> None:
        self.prefix = prefix
        self.capacity = capacity
        #: Events with revision <= since were published before this subscription existed.
        self.since = since
        #: Revision of the last event returned by :meth:`next` (for overflow reporting).
        self.last_revision = 0
        self._events: deque[WatchEvent] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._error: BaseException | None = None

    def offer(self, events: Sequence[WatchEvent]) -> bool:
        """Queue ``events``; False (and the subscription fails) if that exceeds capacity."""
        if self._error is not None:
            return False
        if len(self._events) + len(events) > self.capacity:
            self._error = WatchOverflowError(self.prefix, self.capacity, 0)
            self._wake()
            return False
        self._events.extend(events)
        self._wake()
        return True

    def fail(self, error: BaseException) -> None:
        """End the subscription with ``error`` once queued events are consumed."""
        if self._error is None:
            self._error = error
        self._wake()

    async def next(self) -> WatchEvent:
        """The next queued event, waiting if there is none; raises the failure once drained."""
        while not self._events:
            if self._error is not None:
                if isinstance(self._error, WatchOverflowError):
                    # Report the last revision the consumer really got, not the queue's.
                    raise WatchOverflowError(self.prefix, self.capacity, self.last_revision)
                raise self._error
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        event = self._events.popleft()
        self.last_revision = event.kv.mod_revision
        return event

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


class WatchHub:
    """Routes committed events to subscriptions by key prefix (loop thread only)."""

    def __init__(self, revision: int, capacity: int) -> None:
        #: Highest revision published so far.
        self.revision = revision
        self.capacity = capacity
        self._by_prefix: dict[str, set[Subscription]] = {}

    def subscribe(self, prefix: str) -> Subscription:
        """A new subscription receiving events with revision > the current :attr:`revision`."""
        sub = Subscription(prefix, self.capacity, self.revision)
        self._by_prefix.setdefault(prefix, set()).add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Stop routing events to ``sub`` (idempotent)."""
        subs = self._by_prefix.get(sub.prefix)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._by_prefix[sub.prefix]

    def publish(self, events: Sequence[WatchEvent]) -> None:
        """Deliver one committed batch (ascending revisions) to matching subscriptions."""
        if not events:
            return
        self.revision = events[-1].kv.mod_revision
        dropped: list[Subscription] = []
        for prefix, subs in self._by_prefix.items():
            matching = [e for e in events if e.kv.key.startswith(prefix)] if prefix else events
            if not matching:
                continue
            for sub in subs:
                if not sub.offer(matching):
                    dropped.append(sub)
        for sub in dropped:
            self.unsubscribe(sub)

    def close(self, error: BaseException) -> None:
        """Fail every subscription with ``error`` (store closing)."""
        for subs in list(self._by_prefix.values()):
            for sub in subs:
                sub.fail(error)
        self._by_prefix.clear()

    @property
    def watcher_count(self) -> int:
        """Number of live subscriptions."""
        return sum(len(subs) for subs in self._by_prefix.values())
