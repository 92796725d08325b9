"""All resource stores of one API server, over one datastore.

One :class:`~kubesmith.api.watchcache.WatchCache` per storage prefix (resources served in
several versions share it), one :class:`~kubesmith.api.store.ResourceStore` per served
resource type. This is the only place that opens the datastore.
"""

from __future__ import annotations

import asyncio

from kubesmith.api.registry import Registry
from kubesmith.api.resource_types import ResourceType
from kubesmith.api.store import ResourceStore
from kubesmith.api.strategies import strategy_for
from kubesmith.api.watchcache import WatchCache
from kubesmith.storage import open_store
from kubesmith.storage.interface import Store


class Resources:
    def __init__(self, registry: Registry, store: Store) -> None:
        self.registry = registry
        self.store = store
        self._caches: dict[str, WatchCache] = {}
        self._stores: dict[ResourceType, ResourceStore] = {}

    @classmethod
    async def open(cls, registry: Registry, datastore_url: str) -> Resources:
        return cls(registry, await open_store(datastore_url))

    async def start(self) -> None:
        await asyncio.gather(*(self.add(rt) for rt in self.registry.all() if not rt.virtual))

    async def add(self, rt: ResourceType) -> ResourceStore:
        """Serve ``rt`` (starting its watch cache if it is the first on its prefix)."""
        strategy = strategy_for(rt)
        cache = self._caches.get(rt.key_prefix)
        if cache is None:
            cache = WatchCache(self.store, rt.key_prefix, strategy.fields_of)
            self._caches[rt.key_prefix] = cache
            await cache.start()
        rs = ResourceStore(rt, strategy, self.store, cache)
        self._stores[rt] = rs
        return rs

    def get(self, rt: ResourceType) -> ResourceStore | None:
        return self._stores.get(rt)

    def for_kind(self, group: str, kind: str) -> ResourceStore | None:
        for rt, rs in self._stores.items():
            if rt.group == group and rt.kind == kind and rt.preferred:
                return rs
        return None

    async def close(self) -> None:
        for cache in self._caches.values():
            await cache.stop()
        await self.store.close()
