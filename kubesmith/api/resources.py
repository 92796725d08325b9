"""All resource stores of one API server, over one datastore.

One :class:`~kubesmith.api.watchcache.WatchCache` per storage prefix (resources served in
several versions share it), one :class:`~kubesmith.api.store.ResourceStore` per served
resource type. This is the only place that opens the datastore.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

from kubesmith.api.conversion import ConvertingStore, storage_api_version
from kubesmith.api.encryption import EncryptionConfig
from kubesmith.api.registry import Registry
from kubesmith.api.resource_types import ResourceType
from kubesmith.api.services import Allocator, ServiceNetwork, ServiceStore
from kubesmith.api.store import ResourceStore
from kubesmith.api.strategies import strategy_for
from kubesmith.api.strategies.base import Strategy
from kubesmith.api.watchcache import CacheFeed, WatchCache
from kubesmith.storage import open_store
from kubesmith.storage.interface import Store


class Resources:
    def __init__(self, registry: Registry, store: Store,
                 network: ServiceNetwork | None = None,
                 encryption: EncryptionConfig | None = None) -> None:
        self.registry = registry
        self.store = store
        self.encryption = encryption
        self.allocator = Allocator(store, network or ServiceNetwork.parse())
        self.feed = CacheFeed(store)
        self._caches: dict[str, WatchCache] = {}
        self._stores: dict[ResourceType, ResourceStore] = {}
        # Storage-version stores of resources whose storage version is not served.
        self._unserved: dict[str, ResourceStore] = {}

    @classmethod
    async def open(cls, registry: Registry, datastore_url: str,
                   network: ServiceNetwork | None = None,
                   encryption: EncryptionConfig | None = None) -> Resources:
        return cls(registry, await open_store(datastore_url), network, encryption)

    async def start(self) -> None:
        await self.feed.start()
        types = [rt for rt in self.registry.all() if not rt.virtual]
        # Storage versions first: other served versions wrap their stores.
        primary = [rt for rt in types if storage_api_version(rt) == rt.api_version]
        await asyncio.gather(*(self.add(rt) for rt in primary))
        await asyncio.gather(*(self.add(rt) for rt in types if rt not in primary))
        services = self.for_kind("", "Service")
        if isinstance(services, ServiceStore):
            await services.repair()

    async def add(self, rt: ResourceType, strategy: Strategy | None = None, *,
                  storage_version: str | None = None,
                  storage_strategy: Strategy | None = None) -> ResourceStore:
        """Serve ``rt`` (starting its watch cache if it is the first on its prefix).

        ``storage_version`` is the apiVersion objects of this resource are stored in
        (built-ins know their own); a served version that differs is converted through a
        :class:`ConvertingStore` over the storage version's store (created unserved with
        ``storage_strategy`` when that version is not served itself).
        """
        strategy = strategy or self._strategy(rt)
        storage_version = storage_version or storage_api_version(rt)
        if storage_version != rt.api_version:
            inner = self._storage_store(rt, storage_version, storage_strategy)
            if inner is None:
                version = storage_version.rpartition("/")[2]
                inner_rt = replace(rt, version=version, preferred=False)
                inner = await self._plain(inner_rt, storage_strategy or self._strategy(inner_rt))
                self._unserved[rt.key_prefix] = inner
            rs: ResourceStore = ConvertingStore(rt, strategy, inner, storage_version)
            self._stores[rt] = rs
            return rs
        return await self._plain(rt, strategy)

    def _strategy(self, rt: ResourceType) -> Strategy:
        return strategy_for(rt, self.allocator.network.node_ports)

    def _storage_store(self, rt: ResourceType, storage_version: str,
                       storage_strategy: Strategy | None) -> ResourceStore | None:
        for other, rs in self._stores.items():
            if other.key_prefix == rt.key_prefix and other.api_version == storage_version \
                    and not isinstance(rs, ConvertingStore):
                return rs
        return self._unserved.get(rt.key_prefix)

    async def _plain(self, rt: ResourceType, strategy: Strategy) -> ResourceStore:
        cache = self._caches.get(rt.key_prefix)
        if cache is None:
            group = rt.storage_group if rt.storage_group is not None else rt.group
            transformer = (self.encryption.transformer_for(group, rt.storage_resource
                                                           or rt.plural)
                           if self.encryption is not None else None)
            cache = WatchCache(self.store, rt.key_prefix, strategy.fields_of,
                               transformer=transformer)
            self._caches[rt.key_prefix] = cache
            await self.feed.add(cache)
        rs: ResourceStore
        if rt.group == "" and rt.kind == "Service":
            service_store = ServiceStore(rt, strategy, self.store, cache)
            service_store.allocator = self.allocator
            rs = service_store
        else:
            rs = ResourceStore(rt, strategy, self.store, cache)
        self._stores[rt] = rs
        return rs

    async def remove(self, rt: ResourceType) -> None:
        """Stop serving ``rt``; its watch cache stops when no served version uses it."""
        self._stores.pop(rt, None)
        if not any(other.key_prefix == rt.key_prefix for other in self._stores):
            self._unserved.pop(rt.key_prefix, None)
            if self._caches.pop(rt.key_prefix, None) is not None:
                self.feed.remove(rt.key_prefix)

    def get(self, rt: ResourceType) -> ResourceStore | None:
        return self._stores.get(rt)

    def for_kind(self, group: str, kind: str) -> ResourceStore | None:
        for rt, rs in self._stores.items():
            if rt.group == group and rt.kind == kind and rt.preferred:
                return rs
        return None

    async def close(self) -> None:
        await self.feed.stop()
        await self.store.close()
