"""Serving custom resources as their CustomResourceDefinitions come and go.

One task follows the CRD watch cache. For every CRD it (re)registers the served versions
in the registry, the resource stores and the OpenAPI documents, and marks the CRD
``NamesAccepted`` and ``Established`` in its status. A deleted CRD (it carries the
``customresourcecleanup.apiextensions.k8s.io`` finalizer, as upstream) first loses all its
custom resources, then its finalizer, then its endpoints.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from kubesmith.api import errors, objectmeta
from kubesmith.api.custom import CustomResourceStrategy, CustomVersion, custom_versions
from kubesmith.api.store import DeleteOptions, ListOptions, ResourceStore, WriteOptions
from kubesmith.api.types import Obj
from kubesmith.api.watchcache import CacheEvent

if TYPE_CHECKING:
    from kubesmith.apiserver.app import APIServer

log = logging.getLogger(__name__)

CLEANUP_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"


class CustomResourceManager:
    def __init__(self, server: APIServer) -> None:
        self.server = server
        self.served: dict[str, list[CustomVersion]] = {}  # CRD name → its served versions
        self._task: asyncio.Task[None] | None = None
        self._crds: ResourceStore | None = None

    async def start(self) -> None:
        crds = self.server.resources.for_kind("apiextensions.k8s.io",
                                              "CustomResourceDefinition")
        assert crds is not None
        self._crds = crds
        # Serve every existing CRD before the server reports ready.
        for cached in list(crds.cache.objects.values()):
            await self._sync(cached.obj)
        self._task = asyncio.create_task(self._run(), name="crd-manager")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        assert self._crds is not None
        await self._crds.cache.follow(self._handle, name="crd-manager")

    async def _handle(self, events: list[CacheEvent]) -> None:
        for ev in events:
            try:
                if ev.type == "DELETED":
                    await self._unserve(ev.obj.name)
                else:
                    await self._sync(ev.obj.obj)
            except Exception:
                log.exception("custom resources of %s: sync failed", ev.obj.name)

    async def _sync(self, crd: Obj) -> None:
        name = crd["metadata"]["name"]
        if crd["metadata"].get("deletionTimestamp"):
            await self._cleanup(crd)
            return
        versions = custom_versions(crd)
        await self._unserve(name, keep=versions)
        for v in versions:
            existing = self.server.registry.lookup(v.rt.group, v.rt.version, v.rt.plural)
            if existing is not None and existing != v.rt:
                await self.server.resources.remove(existing)
            self.server.registry.add(v.rt)
            await self.server.resources.add(
                v.rt, CustomResourceStrategy(v),
                storage_version=f"{v.rt.group}/{v.storage_version}")
            self.server.openapi.add_custom_resource(
                v.rt.group, v.rt.version, v.rt.kind, v.rt.plural, v.rt.namespaced, v.schema,
                list_kind=crd["spec"]["names"].get("listKind", ""))
        self.served[name] = versions
        await self._establish(crd)

    async def _unserve(self, name: str, keep: list[CustomVersion] | None = None) -> None:
        keep_keys = {(v.rt.group, v.rt.version, v.rt.plural) for v in keep or []}
        for v in self.served.pop(name, []):
            key = (v.rt.group, v.rt.version, v.rt.plural)
            if key in keep_keys:
                continue
            self.server.registry.remove(*key)
            await self.server.resources.remove(v.rt)
            self.server.openapi.remove_custom_resource(*key)

    async def _establish(self, crd: Obj) -> None:
        assert self._crds is not None
        status = crd.get("status") or {}
        names = crd["spec"]["names"]
        conds = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
        if conds.get("Established") == "True" and status.get("acceptedNames") == names:
            return
        stored = sorted({v.get("name") for v in crd["spec"].get("versions") or []
                         if v.get("storage")} | set(status.get("storedVersions") or []))

        def transform(current: Obj | None) -> Obj:
            if current is None:
                raise errors.not_found("customresourcedefinitions", crd["metadata"]["name"],
                                       "apiextensions.k8s.io")
            now = objectmeta.now_rfc3339()
            current["status"] = {
                "acceptedNames": current["spec"]["names"],
                "conditions": [
                    {"type": "NamesAccepted", "status": "True", "lastTransitionTime": now,
                     "reason": "NoConflicts", "message": "no conflicts found"},
                    {"type": "Established", "status": "True", "lastTransitionTime": now,
                     "reason": "InitialNamesAccepted",
                     "message": "the initial names have been accepted"},
                ],
                "storedVersions": stored,
            }
            return current

        opts = WriteOptions(subresource="status")
        try:
            await self._crds.update(None, crd["metadata"]["name"], transform, opts)
        except errors.StatusError as exc:
            if exc.code != 404:
                raise

    async def _cleanup(self, crd: Obj) -> None:
        """Delete every custom resource of a deleted CRD, then let the CRD go."""
        assert self._crds is not None
        name = crd["metadata"]["name"]
        for v in self.served.get(name, []):
            rs = self.server.resources.get(v.rt)
            if rs is None:
                continue
            page = await rs.list(ListOptions())
            for cached in page.items:
                with contextlib.suppress(errors.StatusError):
                    await rs.delete(cached.namespace or None, cached.name, DeleteOptions())
            break  # one version's store covers the shared storage prefix
        await self._unserve(name)

        def drop_finalizer(current: Obj | None) -> Obj:
            if current is None:
                raise errors.not_found("customresourcedefinitions", name,
                                       "apiextensions.k8s.io")
            current["metadata"]["finalizers"] = [
                f for f in current["metadata"].get("finalizers") or []
                if f != CLEANUP_FINALIZER]
            return current

        with contextlib.suppress(errors.StatusError):
            await self._crds.update(None, name, drop_finalizer)
