"""The watch cache: LIST and WATCH served from memory, fed by one storage watch per resource.

Design (kube-apiserver's cacher, in one asyncio event loop):

* One :class:`CacheFeed` per server holds the only storage watch, on the whole
  ``/registry/`` keyspace, and routes each event to the cache of its resource prefix
  (``/registry/<group>/<resource>/``). Because the keyspace is the server's alone (a
  dedicated SQLite file, or an etcd cluster used only by kubesmith — as kube-apiserver
  and k3s assume), the feed sees every revision, so ``feed.revision`` says exactly which
  writes every cache has applied. A per-resource watch could not know that: it only sees
  its own keys.
* A cache is filled by listing its prefix at the feed's revision, then receives the events
  after it (events that arrive while the list runs are buffered). Every event is decoded
  once, stamped with its revision and encoded once (:class:`CachedObject.raw`); LIST pages
  and every watcher share those bytes.
* Readers that need a consistent view ask the store for its current revision and wait
  until the feed has applied it (:meth:`CacheFeed.wait_until_fresh`) — microseconds for
  SQLite, a watch round trip for etcd; this is upstream's consistent list from cache.
* ``history`` keeps the most recent events so a watch can resume from a resourceVersion;
  asking for one older than the history gives :class:`TooOldResourceVersion` (HTTP 410).
* Fan-out is synchronous inside the loop: applying an event appends it to each matching
  watcher's bounded queue. All bookkeeping happens between awaits, so a new watcher's
  initial snapshot and its registration are atomic with respect to incoming events: no gap
  and no duplicate. A watcher whose queue is full is closed (the client re-watches from its
  last resourceVersion) so one slow client never holds the others back.
* If the storage watch fails (compaction, overflow, backend restart) the feed re-lists every
  cache and closes every watcher, as the upstream cacher does; clients resume or re-list.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Literal

import orjson

from kubesmith.api.encryption import Transformer, TransformError
from kubesmith.api.types import Obj
from kubesmith.storage.interface import (
    EventType,
    KeyValue,
    Store,
    WatchEvent,
)

log = logging.getLogger(__name__)

EventKind = Literal["ADDED", "MODIFIED", "DELETED"]

DEFAULT_HISTORY = 20_000
DEFAULT_WATCHER_QUEUE = 10_000
FRESHNESS_TIMEOUT = 3.0


@dataclass(slots=True, eq=False)
class CachedObject:
    """One object at one revision, encoded once.

    Only the JSON bytes are kept, plus what selectors need (labels, field values): a
    decoded dict costs several times the bytes in memory, and most reads (GET, LIST,
    watch) send the bytes as they are. :attr:`obj` decodes a fresh copy on demand.
    """

    key: str
    namespace: str
    name: str
    raw: bytes
    revision: int
    labels: dict[str, str]
    fields: dict[str, str]
    api_version: str
    # The same object converted to other served versions, by apiVersion (memoised).
    views: dict[str, CachedObject] = field(default_factory=dict)

    @property
    def obj(self) -> Obj:
        """A private decoded copy of the object."""
        decoded: Obj = orjson.loads(self.raw)
        return decoded


def cached_object(key: str, namespace: str, name: str, obj: Obj, revision: int,
                  fields: dict[str, str]) -> CachedObject:
    """Encode ``obj`` (already stamped with its resourceVersion) for the cache."""
    meta = obj.get("metadata") or {}
    labels = meta.get("labels") or {}
    return CachedObject(key, namespace, name, orjson.dumps(obj), revision,
                        labels if isinstance(labels, dict) else {}, fields,
                        str(obj.get("apiVersion", "")))


@dataclass(slots=True, eq=False)
class CacheEvent:
    """A change as the cache saw it; ``obj`` is the new state (the last state, stamped
    with the deletion revision, for DELETED)."""

    type: EventKind
    revision: int
    obj: CachedObject
    prev: CachedObject | None
    # The event as one JSON watch line, encoded once for every watcher that sends it as is.
    line: bytes | None = None


class TooOldResourceVersion(Exception):
    def __init__(self, requested: int, oldest: int) -> None:
        super().__init__(f"too old resource version: {requested} ({oldest})")
        self.requested = requested
        self.oldest = oldest


class CacheNotFresh(Exception):
    def __init__(self, requested: int, current: int) -> None:
        super().__init__(f"Too large resource version: {requested}, current: {current}")
        self.requested = requested
        self.current = current


Predicate = Callable[[CachedObject], bool]
FieldsOf = Callable[[Obj], dict[str, str]]


@dataclass(eq=False)
class CacheWatcher:
    """One client's watch: events filtered by namespace and predicate, queued in order."""

    namespace: str | None
    predicate: Predicate | None
    queue: asyncio.Queue[CacheEvent | None]
    closed: bool = False
    overflowed: bool = False
    # The revision of the last event enqueued; bookmarks may be sent for any revision at
    # or after it once the queue is drained.
    last_revision: int = 0
    # When set, events are handed to this callable at fan-out time instead of the queue
    # (which then only carries wake-ups); it returns False to drop a client that lags.
    sink: Callable[[CacheEvent], bool] | None = None

    def matches(self, cached: CachedObject) -> bool:
        if self.namespace is not None and cached.namespace != self.namespace:
            return False
        return self.predicate is None or self.predicate(cached)

    def offer(self, event: CacheEvent) -> None:
        """Enqueue the event as this watcher sees it (filter transitions become
        ADDED/DELETED as upstream's cache watcher does)."""
        if self.closed:
            return
        cur = event.type != "DELETED" and self.matches(event.obj)
        prev = event.prev is not None and self.matches(event.prev)
        if event.type == "DELETED":
            if not self.matches(event.obj):
                return
            out = event
        elif cur and prev:
            out = event
        elif cur:
            out = CacheEvent("ADDED", event.revision, event.obj, event.prev)
        elif prev and event.prev is not None:
            out = CacheEvent("DELETED", event.revision,
                             restamp(event.prev, event.revision), None)
        else:
            self.last_revision = event.revision
            return
        if self.sink is not None:
            # Direct mode: the event goes to the client's socket now, without waking the
            # watch handler; False means the client cannot keep up (or went away).
            if self.sink(out):
                self.last_revision = event.revision
            else:
                self.overflowed = True
                self.close()
            return
        try:
            self.queue.put_nowait(out)
            self.last_revision = event.revision
        except asyncio.QueueFull:
            self.overflowed = True
            self.close()

    def wake(self) -> None:
        """Wake the reader without an event (``None`` while still open: a timer tick)."""
        if not self.closed:
            with contextlib.suppress(asyncio.QueueFull):
                self.queue.put_nowait(None)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            # Wake the reader: drain a slot if needed so the sentinel always fits.
            if self.queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    self.queue.get_nowait()
            self.queue.put_nowait(None)


def restamp(cached: CachedObject, revision: int) -> CachedObject:
    """The same object state carrying another resourceVersion (filter exits, deletes)."""
    obj = orjson.loads(cached.raw)
    obj["metadata"]["resourceVersion"] = str(revision)
    return cached_object(cached.key, cached.namespace, cached.name, obj, revision,
                         cached.fields)


def _name_of(prefix: str, key: str) -> tuple[str, str]:
    rest = key[len(prefix):]
    ns, _, name = rest.rpartition("/")
    return ns, name


class CacheFeed:
    """The single storage watch feeding every watch cache of one server."""

    ROOT = "/registry/"

    def __init__(self, store: Store) -> None:
        self.store = store
        self.revision = 0
        self.caches: dict[str, WatchCache] = {}
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None
        # Caches being listed: events for them are buffered until the list is in.
        self._pending: dict[str, list[WatchEvent]] = {}

    async def start(self) -> None:
        self.revision = await self.store.current_revision()
        self._task = asyncio.create_task(self._run(), name="watch cache feed")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for cache in self.caches.values():
            cache.close_watchers()

    async def add(self, cache: WatchCache) -> None:
        """Fill ``cache`` at the feed's revision and start routing events to it."""
        cache.feed = self
        self._pending[cache.prefix] = []
        try:
            await cache.fill(self.revision)
            for event in self._pending[cache.prefix]:
                cache.apply(event)
        finally:
            del self._pending[cache.prefix]
        self.caches[cache.prefix] = cache

    def close_watchers(self) -> None:
        """End every client watch (server shutdown)."""
        for cache in self.caches.values():
            cache.close_watchers()

    def remove(self, prefix: str) -> None:
        cache = self.caches.pop(prefix, None)
        if cache is not None:
            cache.close_watchers()

    @staticmethod
    def prefix_of(key: str) -> str:
        parts = key.split("/", 4)
        return "/".join(parts[:4]) + "/" if len(parts) >= 4 else key

    async def _run(self) -> None:
        backoff = 0.1
        while True:
            try:
                async for event in self.store.watch(self.ROOT,
                                                    start_revision=self.revision + 1):
                    self._route(event)
                    backoff = 0.1
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # Any failure of the feed: re-list and make every watcher start over, as
                # upstream's cacher does; never leave a cache silently stale.
                log.warning("watch cache feed failed (%s); re-listing", exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                try:
                    await self._relist()
                except Exception as relist_exc:
                    log.warning("watch cache re-list failed: %s", relist_exc)

    async def _relist(self) -> None:
        revision = await self.store.current_revision()
        for cache in list(self.caches.values()):
            cache.close_watchers()
            await cache.fill(revision)
        self.revision = revision
        self._wake()

    def _route(self, event: WatchEvent) -> None:
        rev = event.revision
        if rev <= self.revision:
            return  # replayed duplicate after a reconnect
        prefix = self.prefix_of(event.kv.key)
        pending = self._pending.get(prefix)
        if pending is not None:
            pending.append(event)
        else:
            cache = self.caches.get(prefix)
            if cache is not None:
                cache.apply(event)
        self.revision = rev
        self._wake()

    # ---- freshness ---------------------------------------------------------------------
    def _wake(self) -> None:
        if not self._waiters:
            return
        keep = []
        for rev, fut in self._waiters:
            if rev <= self.revision:
                if not fut.done():
                    fut.set_result(None)
            else:
                keep.append((rev, fut))
        self._waiters = keep

    async def wait_until_fresh(self, revision: int,
                               timeout: float = FRESHNESS_TIMEOUT) -> None:  # noqa: ASYNC109
        """Return once every cache has applied ``revision`` (CacheNotFresh on timeout)."""
        if revision <= self.revision:
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((revision, fut))
        try:
            await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            raise CacheNotFresh(revision, self.revision) from None

    async def wait_consistent(self) -> int:
        """Wait until the caches reflect every write acknowledged so far."""
        await self.wait_until_fresh(await self.store.current_revision())
        return self.revision


@dataclass(eq=False)
class WatchCache:
    """Objects under one storage prefix, kept current by the server's :class:`CacheFeed`."""

    store: Store
    prefix: str
    fields_of: FieldsOf
    history_size: int = DEFAULT_HISTORY
    watcher_queue_size: int = DEFAULT_WATCHER_QUEUE
    feed: CacheFeed | None = None
    # Encryption at rest (None: values are stored as plain JSON), and the keys whose
    # stored value was read with an old key (re-written even when unchanged, for rotation).
    transformer: Transformer | None = None
    stale_keys: set[str] = field(default_factory=set)
    objects: dict[str, CachedObject] = field(default_factory=dict)
    _by_namespace: dict[str, dict[str, CachedObject]] = field(default_factory=dict)
    _sorted_keys: list[str] | None = None
    _history: deque[CacheEvent] = field(default_factory=deque)
    # Events with revision > _history_floor are all in _history.
    _history_floor: int = 0
    # Watchers by namespace (None: all namespaces), so an event is offered only to the
    # watchers that can see it.
    _watchers: dict[str | None, set[CacheWatcher]] = field(default_factory=dict)

    @property
    def revision(self) -> int:
        """The revision every object here is current at (the feed's)."""
        return self.feed.revision if self.feed is not None else self._history_floor

    async def fill(self, revision: int) -> None:
        """Load the prefix as of ``revision`` (resetting history)."""
        objects: dict[str, CachedObject] = {}
        start_key = ""
        while True:
            page = await self.store.list(self.prefix, revision=revision, limit=5000,
                                         start_key=start_key)
            for kv in page.kvs:
                objects[kv.key] = self._decode(kv, kv.mod_revision)
            if not page.more or not page.kvs:
                break
            start_key = page.kvs[-1].key + "\x00"
        self.objects = objects
        self._by_namespace = {}
        for cached in objects.values():
            self._by_namespace.setdefault(cached.namespace, {})[cached.key] = cached
        self._sorted_keys = None
        self._history.clear()
        self._history_floor = revision

    def close_watchers(self) -> None:
        for group in self._watchers.values():
            for w in group:
                w.close()
        self._watchers.clear()

    # ---- applying storage events -------------------------------------------------------
    def _decode(self, kv: KeyValue, revision: int) -> CachedObject:
        value = kv.value
        if self.transformer is not None:
            value, stale = self.transformer.read(value, kv.key.encode())
            if stale:
                self.stale_keys.add(kv.key)
            else:
                self.stale_keys.discard(kv.key)
        obj: Obj = orjson.loads(value)
        meta = obj.setdefault("metadata", {})
        meta["resourceVersion"] = str(revision)
        ns, name = _name_of(self.prefix, kv.key)
        return cached_object(kv.key, ns, name, obj, revision, self.fields_of(obj))

    def decode(self, kv: KeyValue) -> CachedObject:
        """A storage key-value as a cached object (for reads that bypass the cache)."""
        return self._decode(kv, kv.mod_revision)

    def apply(self, event: WatchEvent) -> None:
        rev = event.revision
        if rev <= self._history_floor:
            return  # already part of the listed state
        key = event.kv.key
        prev = self.objects.get(key)
        if event.type is EventType.DELETE:
            self.stale_keys.discard(key)
            if prev is None:
                return
            cached = restamp(prev, rev)
            del self.objects[key]
            ns_map = self._by_namespace.get(prev.namespace)
            if ns_map is not None:
                ns_map.pop(key, None)
            self._sorted_keys = None
            cev = CacheEvent("DELETED", rev, cached, prev)
        else:
            try:
                cached = self._decode(event.kv, rev)
            except (TransformError, orjson.JSONDecodeError) as exc:
                # One undecryptable value must not stop the feed for every resource.
                log.error("watch cache %s: cannot read %s at revision %d: %s", self.prefix,
                          key, rev, exc)
                return
            self.objects[key] = cached
            self._by_namespace.setdefault(cached.namespace, {})[key] = cached
            if prev is None:
                self._sorted_keys = None
            cev = CacheEvent("MODIFIED" if prev else "ADDED", rev, cached, prev)
        self._history.append(cev)
        if len(self._history) > self.history_size:
            dropped = self._history.popleft()
            self._history_floor = dropped.revision
        for ns in (cached.namespace, None) if cached.namespace else (None,):
            group = self._watchers.get(ns)
            if not group:
                continue
            for w in list(group):
                if w.closed:
                    group.discard(w)
                    continue
                w.offer(cev)

    # ---- freshness (delegated to the feed) ---------------------------------------------
    async def wait_until_fresh(self, revision: int,
                               timeout: float = FRESHNESS_TIMEOUT) -> None:  # noqa: ASYNC109
        assert self.feed is not None
        await self.feed.wait_until_fresh(revision, timeout)

    async def wait_consistent(self) -> int:
        assert self.feed is not None
        return await self.feed.wait_consistent()

    # ---- reads -------------------------------------------------------------------------
    def get(self, key: str) -> CachedObject | None:
        return self.objects.get(key)

    def sorted_keys(self) -> list[str]:
        if self._sorted_keys is None:
            self._sorted_keys = sorted(self.objects)
        return self._sorted_keys

    def iter_from(self, namespace: str | None, start_key: str = "") -> Iterator[CachedObject]:
        """Objects in key order (optionally one namespace), from ``start_key`` on."""
        if namespace is not None:
            ns_map = self._by_namespace.get(namespace, {})
            keys: Iterable[str] = sorted(k for k in ns_map if k >= start_key)
            for k in keys:
                yield ns_map[k]
            return
        keys_all = self.sorted_keys()
        i = bisect.bisect_left(keys_all, start_key) if start_key else 0
        objects = self.objects
        for k in keys_all[i:]:
            cached = objects.get(k)
            if cached is not None:
                yield cached

    def count(self, namespace: str | None = None) -> int:
        if namespace is None:
            return len(self.objects)
        return len(self._by_namespace.get(namespace, {}))

    # ---- watching ----------------------------------------------------------------------
    def watch(self, *, namespace: str | None, predicate: Predicate | None,
              since: int | None) -> CacheWatcher:
        """Register a watcher.

        ``since=None`` starts with the current state as ADDED events (resourceVersion
        unset or "0"); otherwise replays the history after ``since`` (raising
        :class:`TooOldResourceVersion` if it was already dropped).
        """
        queue: asyncio.Queue[CacheEvent | None] = asyncio.Queue(self.watcher_queue_size)
        w = CacheWatcher(namespace, predicate, queue, last_revision=self.revision)
        if since is None:
            initial = [c for c in self.iter_from(namespace) if w.matches(c)]
            if len(initial) >= self.watcher_queue_size:
                w.queue = queue = asyncio.Queue(len(initial) + self.watcher_queue_size)
            for c in initial:
                queue.put_nowait(CacheEvent("ADDED", c.revision, c, None))
        else:
            if since < self._history_floor:
                raise TooOldResourceVersion(since, self._history_floor + 1)
            backlog = [ev for ev in self._history if ev.revision > since]
            if len(backlog) >= self.watcher_queue_size:
                w.queue = queue = asyncio.Queue(len(backlog) + self.watcher_queue_size)
            for ev in backlog:
                w.offer(ev)
        w.last_revision = self.revision
        self._watchers.setdefault(namespace, set()).add(w)
        return w

    async def follow(self, on_events: Callable[[list[CacheEvent]], Awaitable[None]], *,
                     name: str, initial: bool = True) -> None:
        """Hand every change to ``on_events``, batched (everything already queued goes in
        one call, so a burst costs one pass), until cancelled — for the server's
        in-process loops (CRD serving, aggregation, signing). ``initial`` starts with the
        current objects as ADDED. A closed watch (overflow, re-list) is reopened; a failing
        ``on_events`` is logged and the loop goes on."""
        since = None if initial else self.revision
        while True:
            watcher = self.watch(namespace=None, predicate=None, since=since)
            try:
                while (event := await watcher.queue.get()) is not None:
                    batch = [event]
                    while not watcher.queue.empty():
                        queued = watcher.queue.get_nowait()
                        if queued is None:
                            break
                        batch.append(queued)
                    try:
                        await on_events(batch)
                    except Exception:
                        log.exception("%s: handling %d change(s) failed", name, len(batch))
                    if watcher.closed:
                        break
            finally:
                self.unwatch(watcher)
            since = None if initial else self.revision
            await asyncio.sleep(0.1)

    def unwatch(self, w: CacheWatcher) -> None:
        group = self._watchers.get(w.namespace)
        if group is not None:
            group.discard(w)
        w.closed = True

    @property
    def watcher_count(self) -> int:
        return sum(len(group) for group in self._watchers.values())
