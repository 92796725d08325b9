"""The garbage collector (upstream's ``garbage-collector-controller``): deletes objects whose
owners are gone, and carries out Foreground and Orphan deletion of owners.

Design:

* **Monitors.** Discovery (:mod:`.discovery`) lists every resource that supports ``delete``,
  ``list`` and ``watch`` (events excepted, as upstream); the collector attaches its graph
  handlers to the shared informer of each and starts it. Discovery is repeated every
  :attr:`GarbageCollector.rediscovery_period` seconds, at once when a
  CustomResourceDefinition changes, and when an owner reference names a kind not yet
  known, so custom resources are covered soon after their CRD is established.
* **Graph.** Informer events update the :class:`~.graph.DependencyGraph`, which queues uids.
* **Two work queues** of uids, each with :attr:`GarbageCollector.workers` workers:
  *attempt to delete* (is this object garbage? is this virtual owner real? may this
  foreground-deleting owner lose its finalizer?) and *attempt to orphan* (remove an owner
  from its dependents' references, then its ``orphan`` finalizer). Decisions are made on
  live GETs, never on the cache alone, since deleting by mistake cannot be undone.
  A failed item is retried with per-uid exponential backoff; a virtual owner confirmed to
  exist is polled the same way until its informer observes it.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

import aiohttp

from kubesmith.api import gofmt
from kubesmith.api.types import Obj
from kubesmith.client import ApiError, QueueShutDown, Resource, WorkQueue
from kubesmith.client.discovery import APIResource, RestMapper, discover
from kubesmith.controllers.base import Controller, ControllerContext
from kubesmith.controllers.garbagecollector.graph import (
    FOREGROUND_FINALIZER,
    ORPHAN_FINALIZER,
    DependencyGraph,
    Node,
    ObjectRef,
    blocks_owner,
    ref_coordinates,
)
from kubesmith.controllers.garbagecollector.operations import (
    ObjectOperations,
    RestMappingError,
)
from kubesmith.controllers.util import meta

log = logging.getLogger(__name__)

CUSTOMRESOURCEDEFINITIONS = Resource("apiextensions.k8s.io", "v1", "customresourcedefinitions",
                                     namespaced=False)

#: Resources never collected (upstream's default ignored resources).
IGNORED_RESOURCES: frozenset[tuple[str, str]] = frozenset({("", "events"),
                                                           ("events.k8s.io", "events")})

_TRANSIENT = (ApiError, RestMappingError, aiohttp.ClientError, OSError, TimeoutError)

#: Dependents orphaned concurrently (bounds the requests one owner can have in flight).
ORPHAN_BATCH = 32


class Outcome(enum.Enum):
    """What a worker does with an item afterwards."""

    FORGET = "forget"
    REQUEUE = "requeue"


class _Settled(Exception):
    """The item needs no retry: a virtual delete was recorded, or its references can never
    be resolved (a cluster-scoped object naming a namespaced owner)."""


def _live_owner_refs(obj: Obj) -> list[dict[str, Any]]:
    return list(meta(obj).get("ownerReferences") or [])


def _unblocked(refs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**r, "blockOwnerDeletion": False} if blocks_owner(r) else r for r in refs]


class GarbageCollector(Controller):
    name = "generic-garbage-collector"
    component = "garbage-collector-controller"
    #: upstream's --concurrent-gc-syncs
    default_workers = 20
    #: How often discovery is repeated to find new resource types (upstream: 30 s).
    rediscovery_period: ClassVar[float] = 30.0
    #: Least time between two discovery rounds, however often one is asked for.
    rediscovery_min_interval: ClassVar[float] = 1.0
    #: How long to wait for new informers to list before collecting anyway.
    sync_timeout: ClassVar[float] = 60.0

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.graph = DependencyGraph(self)
        self.ops = ObjectOperations(self.client)
        self.delete_queue: WorkQueue[str] = WorkQueue()
        self.orphan_queue: WorkQueue[str] = WorkQueue()
        self._monitored: dict[Resource, APIResource] = {}
        self._handled: set[Resource] = set()
        self._known: list[APIResource] = []
        self._rediscover = asyncio.Event()
        crds = self.informer(CUSTOMRESOURCEDEFINITIONS)
        crds.add_handlers(on_add=self._crd_changed,
                          on_update=lambda _old, new: self._crd_changed(new),
                          on_delete=self._crd_changed)

    def _crd_changed(self, _crd: Obj) -> None:
        self._rediscover.set()

    # -- GraphSink -----------------------------------------------------------------------

    def attempt_to_delete(self, uid: str, *, rate_limited: bool = False) -> None:
        if rate_limited:
            self.delete_queue.add_rate_limited(uid)
        else:
            self.delete_queue.add(uid)

    def attempt_to_orphan(self, uid: str) -> None:
        self.orphan_queue.add(uid)

    def invalid_owner_namespace(self, dependent: Node, owner_uid: str) -> None:
        ref = next((r for r in dependent.owners if r.get("uid") == owner_uid), None)
        if ref is None:
            return
        ident = dependent.identity
        invalid = ref_coordinates(ref, ident.namespace)
        involved = {"apiVersion": ident.api_version, "kind": ident.kind,
                    "metadata": {"name": ident.name, "namespace": ident.namespace,
                                 "uid": ident.uid}}
        self.recorder.event(involved, "Warning", "OwnerRefInvalidNamespace",
                            f"ownerRef {invalid} does not exist in namespace "
                            f"{gofmt.quote(ident.namespace)}")

    # -- lifecycle -----------------------------------------------------------------------

    async def reconcile(self, key: str) -> None:
        """Unused: the collector's items go through its own two queues (see :meth:`run`)."""

    async def run(self) -> None:
        """Discover and monitor every resource, then run both kinds of workers and the
        periodic rediscovery until cancelled."""
        if self.delete_queue.shutting_down:
            # Restarted after a crash: the old queues were shut down with what they held,
            # so what may still need work is queued again.
            self.delete_queue = WorkQueue()
            self.orphan_queue = WorkQueue()
            for node in list(self.graph.nodes.values()):
                if not node.observed or node.deleting_dependents:
                    self.attempt_to_delete(node.uid)
        try:
            await self.ctx.informers.wait_synced(*self._used)
            await self._first_sync()
            log.info("garbage collector: monitoring %d resources", len(self._monitored))
            async with asyncio.TaskGroup() as group:
                group.create_task(self._rediscovery_loop())
                for _ in range(self.workers):
                    group.create_task(self._work(self.delete_queue, self._process_delete))
                    group.create_task(self._work(self.orphan_queue, self._process_orphan))
        finally:
            self.delete_queue.shutdown()
            self.orphan_queue.shutdown()

    async def _first_sync(self) -> None:
        """Discover until the API answers (backing off), monitoring what it lists."""
        delay = 1.0
        while True:
            if await self._sync_monitors():
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)

    async def _rediscovery_loop(self) -> None:
        while True:
            try:
                async with asyncio.timeout(self.rediscovery_period):
                    await self._rediscover.wait()
            except TimeoutError:
                pass
            self._rediscover.clear()
            await self._sync_monitors()
            await asyncio.sleep(self.rediscovery_min_interval)

    async def _sync_monitors(self) -> bool:
        """Discover and monitor what is new; stop monitors of resources gone. Returns
        whether discovery answered at all."""
        try:
            found = await discover(self.client)
        except _TRANSIENT as exc:
            log.warning("garbage collector: discovery failed: %s", exc)
            return False
        complete = not found.failed
        if not complete:
            log.info("garbage collector: %s", found.error_message())
        known = {(r.group, r.plural): r for r in (self._known if not complete else [])}
        known.update({(r.group, r.plural): r for r in found.resources})
        self._known = [*known.values()]
        self.ops.mapper = RestMapper(self._known)
        wanted = {r.resource: r for r in self._known
                  if r.kind and r.supports("delete", "list", "watch")
                  and (r.group, r.plural) not in IGNORED_RESOURCES}
        if complete:
            # Only a complete answer proves a resource gone.
            for resource in [r for r in self._monitored if r not in wanted]:
                await self._unmonitor(resource)
        new = [api for res, api in wanted.items() if res not in self._monitored]
        for api in new:
            self._monitor(api)
        if new:
            informers = [self.ctx.informers.informer(api.resource) for api in new]
            try:
                async with asyncio.timeout(self.sync_timeout):
                    await asyncio.gather(*(i.wait_synced() for i in informers))
            except TimeoutError:
                log.warning("garbage collector: some of %d new monitors did not sync in "
                            "%.0fs; collecting anyway", len(new), self.sync_timeout)
        return True

    def _monitor(self, api: APIResource) -> None:
        informer = self.ctx.informers.informer(api.resource)
        if api.resource not in self._handled:
            self._handled.add(api.resource)
            av, kind, graph = api.api_version, api.kind, self.graph
            informer.add_handlers(
                on_add=lambda obj: graph.observe(av, kind, obj),
                on_update=lambda old, new: graph.observe(av, kind, new, old),
                on_delete=lambda obj: graph.observe_deletion(av, kind, obj))
            # A shared informer may have listed already: what it holds is not replayed.
            for obj in informer.list():
                graph.observe(av, kind, obj)
        informer.start()
        self._monitored[api.resource] = api

    async def _unmonitor(self, resource: Resource) -> None:
        """Stop watching a resource the API no longer serves. Its objects are gone with
        it: the graph forgets them, so their dependents are checked (live) again."""
        log.info("garbage collector: no longer monitoring %s", resource.path())
        api = self._monitored.pop(resource)
        informer = self.ctx.informers.informer(resource)
        await informer.stop()
        for obj in informer.list():
            self.graph.observe_deletion(api.api_version, api.kind, obj)

    async def _work(self, queue: WorkQueue[str],
                    process: Callable[[str], Awaitable[Outcome]]) -> None:
        while True:
            try:
                uid = await queue.get()
            except QueueShutDown:
                return
            try:
                outcome = await process(uid)
            except asyncio.CancelledError:
                queue.done(uid)
                raise
            except Exception:
                log.exception("garbage collector: processing %s failed", uid)
                outcome = Outcome.REQUEUE
            if outcome is Outcome.REQUEUE:
                queue.add_rate_limited(uid)
            else:
                queue.forget(uid)
            queue.done(uid)

    # -- attempt to delete ---------------------------------------------------------------

    async def _process_delete(self, uid: str) -> Outcome:
        node = self.graph.get(uid)
        if node is None:
            return Outcome.FORGET
        try:
            await self._attempt_to_delete(node)
        except _Settled:
            return Outcome.FORGET
        except RestMappingError as exc:
            log.debug("garbage collector: %s: %s", node.identity, exc)
            self._rediscover.set()
            return Outcome.REQUEUE
        except _TRANSIENT as exc:
            log.info("garbage collector: %s: %s", node.identity, exc)
            return Outcome.REQUEUE
        # A virtual owner shown to exist is checked again until its informer sees it.
        return Outcome.FORGET if node.observed else Outcome.REQUEUE

    async def _attempt_to_delete(self, node: Node) -> None:
        if node.being_deleted and not node.deleting_dependents:
            # Deletion is under way; the dependents are handled once it is gone.
            return
        latest = await self._live(node)
        if node.deleting_dependents:
            await self._finish_foreground(node)
            return
        refs = _live_owner_refs(latest)
        if not refs:
            return
        solid, dangling, waiting = await self._classify(node, refs)
        if solid:
            if dangling or waiting:
                # Waiting owners must be unreferenced too, or their foreground deletion
                # would wait for this object forever.
                gone = {r.get("uid") for r in (*dangling, *waiting)}
                await self.ops.patch_owner_references(
                    node.identity, lambda refs: [r for r in refs if r.get("uid") not in gone])
            return
        if waiting and node.dependents:
            if any(dep.deleting_dependents for dep in self.graph.dependents_of(node)):
                # A dependent waits for its own dependents while an owner waits for this
                # object: unblock the references so a cycle cannot deadlock.
                await self.ops.patch_owner_references(node.identity, _unblocked)
            await self._delete(node, latest, "Foreground")
            return
        finalizers = meta(latest).get("finalizers") or []
        if ORPHAN_FINALIZER in finalizers:
            policy = "Orphan"
        elif FOREGROUND_FINALIZER in finalizers:
            policy = "Foreground"
        else:
            policy = "Background"
        await self._delete(node, latest, policy)

    async def _live(self, node: Node) -> Obj:
        """The object as the API has it now; absent ones are removed from the graph."""
        try:
            latest = await self.ops.get(node.identity)
        except ApiError as exc:
            if exc.code != 404:
                raise
            latest = None
        if latest is None or meta(latest).get("uid") != node.uid:
            self.graph.virtual_delete(node.identity)
            raise _Settled
        return latest

    async def _delete(self, node: Node, latest: Obj, policy: str) -> None:
        m = meta(latest)
        log.info("garbage collector: deleting %s (propagationPolicy=%s)", node.identity,
                 policy)
        try:
            await self.ops.delete(node.identity, str(m.get("resourceVersion") or ""),
                                  _live_owner_refs(latest), policy)
        except ApiError as exc:
            if exc.code != 404:
                raise
            self.graph.virtual_delete(node.identity)
            raise _Settled from None

    async def _finish_foreground(self, node: Node) -> None:
        blocking = self.graph.blocking_dependents(node)
        if not blocking:
            await self.ops.remove_finalizer(node.identity, FOREGROUND_FINALIZER)
            return
        for dep in blocking:
            if not dep.deleting_dependents:
                self.attempt_to_delete(dep.uid)

    async def _classify(self, node: Node, refs: list[dict[str, Any]]
                        ) -> tuple[list[dict[str, Any]], list[dict[str, Any]],
                                   list[dict[str, Any]]]:
        """Split references into solid (owner exists), dangling (owner absent) and waiting
        (owner is deleting its dependents in the foreground)."""
        solid: list[dict[str, Any]] = []
        dangling: list[dict[str, Any]] = []
        waiting: list[dict[str, Any]] = []
        for ref in refs:
            owner = await self._owner(ref, node)
            if owner is None:
                dangling.append(ref)
                continue
            m = meta(owner)
            if m.get("deletionTimestamp") and \
                    FOREGROUND_FINALIZER in (m.get("finalizers") or []):
                waiting.append(ref)
            else:
                solid.append(ref)
        return solid, dangling, waiting

    async def _owner(self, ref: dict[str, Any], node: Node) -> Obj | None:
        """The owner ``ref`` names, or None when it is absent (remembered for a while)."""
        cluster_key = ref_coordinates(ref, "")
        namespaced_key = ref_coordinates(ref, node.identity.namespace)
        if cluster_key in self.graph.absent or namespaced_key in self.graph.absent:
            return None
        api = self.ops.resource_for(cluster_key.api_version, cluster_key.kind)
        if api.namespaced and not node.identity.namespace:
            log.info("garbage collector: %s is cluster-scoped but names the namespaced owner "
                     "%s", node.identity, cluster_key)
            raise _Settled
        key = namespaced_key if api.namespaced else cluster_key
        try:
            _, owner = await self.ops.get_owner(ref, node.identity.namespace)
        except ApiError as exc:
            if exc.code != 404:
                raise
            self.graph.absent.add(key)
            return None
        if meta(owner).get("uid") != ref.get("uid"):
            self.graph.absent.add(key)
            return None
        return owner

    # -- attempt to orphan ---------------------------------------------------------------

    async def _process_orphan(self, uid: str) -> Outcome:
        owner = self.graph.get(uid)
        if owner is None:
            return Outcome.FORGET
        dependents = self.graph.dependents_of(owner)
        failures = 0
        for start in range(0, len(dependents), ORPHAN_BATCH):
            batch = dependents[start:start + ORPHAN_BATCH]
            results = await asyncio.gather(
                *(self.ops.patch_owner_references(
                    dep.identity, lambda refs: [r for r in refs if r.get("uid") != uid])
                  for dep in batch), return_exceptions=True)
            for dep, result in zip(batch, results, strict=True):
                if isinstance(result, Exception):
                    failures += 1
                    log.info("garbage collector: orphaning %s failed: %s", dep.identity,
                             result)
                elif isinstance(result, BaseException):
                    raise result
        if failures:
            return Outcome.REQUEUE
        try:
            await self.ops.remove_finalizer(owner.identity, ORPHAN_FINALIZER)
        except _TRANSIENT as exc:
            log.info("garbage collector: removing the orphan finalizer of %s failed: %s",
                     owner.identity, exc)
            return Outcome.REQUEUE
        return Outcome.FORGET

    # -- introspection (tests, debugging) ------------------------------------------------

    def graph_has(self, uid: str) -> bool:
        """Whether ``uid`` is in the dependency graph."""
        return self.graph.get(uid) is not None

    def identity_of(self, uid: str) -> ObjectRef | None:
        """The coordinates the graph holds for ``uid``."""
        node = self.graph.get(uid)
        return node.identity if node is not None else None
