"""The garbage collector's API calls on objects known only by their coordinates (upstream's
operations.go and patch.go): live GET, DELETE with preconditions, and merge patches of
``ownerReferences`` and ``finalizers`` guarded by ``resourceVersion`` so a concurrent writer
is never overwritten (a conflict re-reads and tries again).

JSON merge patches are used throughout because every resource accepts them, custom
resources included (strategic merge patch is refused for those).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubesmith.api.types import Obj
from kubesmith.client import ApiError, Client
from kubesmith.client.discovery import APIResource, RestMapper
from kubesmith.controllers.garbagecollector.graph import ObjectRef
from kubesmith.controllers.util import meta

#: How often a conflicting patch is re-read and retried before giving up (then the item
#: is requeued with backoff).
PATCH_ATTEMPTS = 5

RefsTransform = Callable[[list[dict[str, Any]]], list[dict[str, Any]]]


class RestMappingError(Exception):
    """No served resource has this apiVersion/kind (a CRD not yet discovered, or a stale
    reference); retried after the next discovery."""


def not_found(identity: ObjectRef) -> ApiError:
    """The 404 a GET of ``identity`` answers (also for coordinates no request can reach)."""
    return ApiError(code=404, reason="NotFound", message=f"{identity} not found")


class ObjectOperations:
    """API calls addressing objects by :class:`ObjectRef` (see the module docstring)."""

    def __init__(self, client: Client, mapper: RestMapper | None = None) -> None:
        self.client = client
        #: Replaced after every discovery round.
        self.mapper = mapper or RestMapper()

    def resource_for(self, api_version: str, kind: str) -> APIResource:
        """The resource serving ``apiVersion``/``kind``; :class:`RestMappingError` if none."""
        found = self.mapper.resource_for(api_version, kind)
        if found is None:
            raise RestMappingError(f"no resource serves {api_version}, Kind={kind}")
        return found

    def _address(self, identity: ObjectRef) -> tuple[APIResource, str | None]:
        api = self.resource_for(identity.api_version, identity.kind)
        if not api.namespaced:
            return api, None
        if not identity.namespace:
            # A namespaced kind named from a cluster-scoped object: nothing to reach.
            raise not_found(identity)
        return api, identity.namespace

    async def get(self, identity: ObjectRef) -> Obj:
        """The live object at ``identity``'s coordinates (ApiError 404 when absent)."""
        api, namespace = self._address(identity)
        return await self.client.get(api.resource, identity.name, namespace)

    async def get_owner(self, ref: dict[str, Any], namespace: str) -> tuple[APIResource, Obj]:
        """The live object an owner reference names, looked up in ``namespace`` when its
        kind is namespaced."""
        api = self.resource_for(str(ref.get("apiVersion") or ""), str(ref.get("kind") or ""))
        obj = await self.client.get(api.resource, str(ref.get("name") or ""),
                                    namespace if api.namespaced else None)
        return api, obj

    async def delete(self, identity: ObjectRef, resource_version: str,
                     owners_at_resolution: list[Any], policy: str) -> None:
        """Delete with uid and resourceVersion preconditions. A conflict caused by a change
        that left the owner references as they were when the decision was made is retried
        with the uid precondition only (upstream's deleteObject)."""
        api, namespace = self._address(identity)
        preconditions = {"uid": identity.uid}
        if resource_version:
            preconditions["resourceVersion"] = resource_version
        try:
            await self.client.delete(api.resource, identity.name, namespace,
                                     propagation_policy=policy, preconditions=preconditions)
            return
        except ApiError as exc:
            if exc.code != 409 or not resource_version:
                raise
            conflict = exc
        try:
            live = await self.client.get(api.resource, identity.name, namespace)
        except ApiError as exc:
            if exc.code == 404:
                return
            raise conflict from exc
        m = meta(live)
        if m.get("uid") == identity.uid and \
                m.get("resourceVersion") != resource_version and \
                (m.get("ownerReferences") or []) == owners_at_resolution:
            await self.client.delete(api.resource, identity.name, namespace,
                                     propagation_policy=policy,
                                     preconditions={"uid": identity.uid})
            return
        raise conflict

    async def patch_owner_references(self, identity: ObjectRef,
                                     transform: RefsTransform) -> None:
        """Replace ``ownerReferences`` with ``transform(current)``; nothing when that
        changes nothing or the object is gone."""
        await self._patch_metadata(identity, "ownerReferences", transform)

    async def remove_finalizer(self, identity: ObjectRef, finalizer: str) -> None:
        """Drop ``finalizer`` from the object (nothing if absent or the object is gone)."""
        await self._patch_metadata(
            identity, "finalizers", lambda current: [f for f in current if f != finalizer])

    async def _patch_metadata(self, identity: ObjectRef, field: str,
                              transform: Callable[[list[Any]], list[Any]]) -> None:
        api, namespace = self._address(identity)
        for attempt in range(PATCH_ATTEMPTS):
            try:
                live = await self.client.get(api.resource, identity.name, namespace)
            except ApiError as exc:
                if exc.code == 404:
                    return
                raise
            m = meta(live)
            if m.get("uid") != identity.uid:
                return
            current = list(m.get(field) or [])
            wanted = transform(current)
            if wanted == current:
                return
            # uid and resourceVersion in the patch are preconditions: a replaced or
            # concurrently changed object answers 409 instead of being overwritten.
            patch = {"metadata": {field: wanted or None, "uid": identity.uid,
                                  "resourceVersion": m.get("resourceVersion")}}
            try:
                await self.client.patch(api.resource, identity.name, patch, namespace)
                return
            except ApiError as exc:
                if exc.code == 404:
                    return
                if exc.code != 409 or attempt == PATCH_ATTEMPTS - 1:
                    raise
