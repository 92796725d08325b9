"""Informers: a local, eventually consistent cache of one resource fed by LIST + WATCH.

Concurrency design:

* **One watch per informer.** :meth:`Informer.run` lists the resource (page by page, one
  consistent snapshot), replaces the local store and then watches from the list's
  ``resourceVersion``. Every consumer reads the store (:meth:`Informer.get`,
  :meth:`Informer.list`) instead of asking the server, so N controllers sharing an informer
  cost the API server one watch.
* **Level-triggered consumers.** Handlers (``on_add``, ``on_update``, ``on_delete``; sync or
  async) are called in event order from the informer's own task, after the store is updated.
  They should only enqueue a key (see :mod:`kubesmith.client.workqueue`); a worker later
  re-reads the current state from the store. A slow handler delays the informer's later
  events, never reorders them.
* **Resync on error.** A watch the server ends normally (its timeout) is resumed from the
  last seen ``resourceVersion`` (bookmarks advance it). A ``410 Expired`` or a broken stream
  (connection error, any other error) triggers a fresh LIST after an exponential backoff
  (0.2 s doubling to 30 s, reset on success); the re-list diffs against the store so handlers
  see the ADDs, UPDATEs and DELETEs that were missed, exactly once each.
* :attr:`Informer.has_synced` is true after the first LIST was applied;
  :meth:`Informer.wait_synced` waits for it. :meth:`Informer.stop` cancels the run task.
"""

from __future__ import annotations

import asyncio
import builtins
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

import aiohttp

from kubesmith.api.types import Obj
from kubesmith.client.rest import ApiError, Client, Resource

log = logging.getLogger(__name__)

AddHandler = Callable[[Obj], Awaitable[object] | object]
UpdateHandler = Callable[[Obj, Obj], Awaitable[object] | object]
DeleteHandler = Callable[[Obj], Awaitable[object] | object]
IndexFunc = Callable[[Obj], Iterable[str]]


def object_key(obj: Obj) -> str:
    """``namespace/name``, or ``name`` for cluster-scoped objects (client-go's
    ``MetaNamespaceKeyFunc``)."""
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    name = str(meta.get("name") or "")
    return f"{ns}/{name}" if ns else name


@dataclass(slots=True)
class _Handlers:
    on_add: AddHandler | None
    on_update: UpdateHandler | None
    on_delete: DeleteHandler | None


class Informer:
    """A cache of one resource kept current by LIST + WATCH (see the module docstring)."""

    def __init__(self, client: Client, resource: Resource, namespace: str | None = None, *,
                 label_selector: str | None = None, field_selector: str | None = None,
                 watch_timeout_seconds: int | None = 300, page_size: int = 500,
                 backoff_base: float = 0.2, backoff_cap: float = 30.0) -> None:
        self.client = client
        self.resource = resource
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.watch_timeout_seconds = watch_timeout_seconds
        self.page_size = page_size
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self._store: dict[str, Obj] = {}
        self._index_funcs: dict[str, IndexFunc] = {}
        # index name -> index value -> keys
        self._indexes: dict[str, dict[str, set[str]]] = {}
        self._handlers: list[_Handlers] = []
        self._synced = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopped = False
        self.resource_version = ""
        #: How many LISTs were made (the first one included): a measure of resyncs.
        self.list_count = 0

    # -- consumers -----------------------------------------------------------------------

    def add_handlers(self, on_add: AddHandler | None = None,
                     on_update: UpdateHandler | None = None,
                     on_delete: DeleteHandler | None = None) -> None:
        """Register handlers. Objects already in the store are replayed to ``on_add`` on
        the next (re-)list only; register before :meth:`run` to see every object."""
        self._handlers.append(_Handlers(on_add, on_update, on_delete))

    @property
    def has_synced(self) -> bool:
        """Whether the first LIST has been applied to the store."""
        return self._synced.is_set()

    async def wait_synced(self) -> None:
        """Wait until :attr:`has_synced` (bound it with ``asyncio.timeout``)."""
        await self._synced.wait()

    def add_index(self, name: str, func: IndexFunc) -> None:
        """Maintain an index: ``func(obj)`` gives the values ``obj`` is found under with
        :meth:`by_index` (client-go's Indexers). Adding an existing name is a no-op, so
        controllers sharing an informer can each ask for the index they need."""
        if name in self._index_funcs:
            return
        self._index_funcs[name] = func
        index: dict[str, set[str]] = {}
        for key, obj in self._store.items():
            for value in func(obj):
                index.setdefault(value, set()).add(key)
        self._indexes[name] = index

    def by_index(self, name: str, value: str) -> builtins.list[Obj]:
        """The cached objects the index ``name`` files under ``value``."""
        keys = self._indexes[name].get(value)
        if not keys:
            return []
        return [self._store[k] for k in keys]

    def index_keys(self, name: str, value: str) -> builtins.list[str]:
        """The keys of the objects the index ``name`` files under ``value``."""
        return [*self._indexes[name].get(value, ())]

    def _put(self, key: str, obj: Obj) -> Obj | None:
        before = self._store.get(key)
        self._store[key] = obj
        if self._index_funcs:
            self._reindex(key, before, obj)
        return before

    def _remove(self, key: str) -> Obj | None:
        before = self._store.pop(key, None)
        if before is not None and self._index_funcs:
            self._reindex(key, before, None)
        return before

    def _reindex(self, key: str, old: Obj | None, new: Obj | None) -> None:
        for name, func in self._index_funcs.items():
            index = self._indexes[name]
            old_values = set(func(old)) if old is not None else set()
            new_values = set(func(new)) if new is not None else set()
            for value in old_values - new_values:
                keys = index.get(value)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del index[value]
            for value in new_values - old_values:
                index.setdefault(value, set()).add(key)

    def get(self, key: str) -> Obj | None:
        """The cached object for ``namespace/name`` (or ``name``), if any."""
        return self._store.get(key)

    def list(self) -> list[Obj]:
        """Every cached object."""
        return [*self._store.values()]

    def keys(self) -> builtins.list[str]:
        """Every cached key."""
        return [*self._store]

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> asyncio.Task[None]:
        """Run the informer in a background task (returned); after :meth:`stop` this starts
        it again, re-listing and diffing against the store it kept."""
        self._stopped = False
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run(), name=f"informer-{self.resource.plural}")
        return self._task

    async def stop(self) -> None:
        """Stop the informer and wait for its task to end."""
        self._stopped = True
        task = self._task
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                if (cur := asyncio.current_task()) is not None and cur.cancelling():
                    raise

    async def run(self) -> None:
        """LIST, then WATCH, re-listing with backoff after errors, until :meth:`stop`."""
        if self._task is None:
            self._task = asyncio.current_task()
        delay = self.backoff_base
        need_list = True
        while not self._stopped:
            try:
                if need_list:
                    await self._relist()
                    need_list = False
                    delay = self.backoff_base
                await self._watch()
                # The server ended the watch normally: resume from the last version.
                delay = self.backoff_base
                continue
            except ApiError as exc:
                if exc.code == 410:
                    log.info("%s: watch expired (%s); re-listing", self.resource.plural,
                             exc.message)
                    need_list = True
                    continue
                log.warning("%s: API error %s %s: %s; re-listing in %.1fs",
                            self.resource.plural, exc.code, exc.reason, exc.message, delay)
            except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
                log.warning("%s: watch broken (%r); re-listing in %.1fs",
                            self.resource.plural, exc, delay)
            need_list = True
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.backoff_cap)

    # -- internals -----------------------------------------------------------------------

    async def _relist(self) -> None:
        items: list[Obj] = []
        token: str | None = None
        rv = ""
        while True:
            page = await self.client.list(
                self.resource, self.namespace, label_selector=self.label_selector,
                field_selector=self.field_selector, limit=self.page_size, continue_=token)
            items.extend(page.items)
            rv = rv or page.resource_version
            token = page.continue_
            if not token:
                break
        self.list_count += 1
        fresh = {object_key(obj): obj for obj in items}
        old = dict(self._store)
        self.resource_version = rv
        for key, obj in fresh.items():
            before = self._put(key, obj)
            if before is None:
                await self._dispatch_add(obj)
            elif _rv(before) != _rv(obj):
                await self._dispatch_update(before, obj)
        for key, before in old.items():
            if key not in fresh:
                self._remove(key)
                await self._dispatch_delete(before)
        self._synced.set()

    async def _watch(self) -> None:
        async for kind, obj in self.client.watch(
                self.resource, self.namespace, resource_version=self.resource_version,
                label_selector=self.label_selector, field_selector=self.field_selector,
                allow_bookmarks=True, timeout_seconds=self.watch_timeout_seconds):
            rv = _rv(obj)
            if kind == "BOOKMARK":
                if rv:
                    self.resource_version = rv
                continue
            key = object_key(obj)
            if kind in ("ADDED", "MODIFIED"):
                before = self._put(key, obj)
                if before is None:
                    await self._dispatch_add(obj)
                else:
                    await self._dispatch_update(before, obj)
            elif kind == "DELETED":
                self._remove(key)
                await self._dispatch_delete(obj)
            else:
                log.warning("%s: unknown watch event type %r", self.resource.plural, kind)
            if rv:
                self.resource_version = rv

    async def _call(self, fn: Callable[..., Awaitable[object] | object], *args: Obj) -> None:
        try:
            result = fn(*args)
            if inspect.isawaitable(result):
                await result
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s: informer handler %r failed", self.resource.plural, fn)

    async def _dispatch_add(self, obj: Obj) -> None:
        for h in self._handlers:
            if h.on_add is not None:
                await self._call(h.on_add, obj)

    async def _dispatch_update(self, old: Obj, new: Obj) -> None:
        for h in self._handlers:
            if h.on_update is not None:
                await self._call(h.on_update, old, new)

    async def _dispatch_delete(self, obj: Obj) -> None:
        for h in self._handlers:
            if h.on_delete is not None:
                await self._call(h.on_delete, obj)


def _rv(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")
