"""The namespace controller: empties a namespace being deleted, then releases it.

A ``DELETE`` of a namespace only marks it (``deletionTimestamp``, phase ``Terminating``);
the ``kubernetes`` entry of ``spec.finalizers`` keeps it until this controller has deleted
everything in it. Each reconcile of a terminating namespace:

1. discovers every namespaced resource type that supports ``delete`` (custom resources
   included, read fresh each time so a CRD added a moment ago is covered);
2. per type, ``deletecollection`` (or, where that is not served, list and delete each item)
   with Background propagation, then lists again to see what remains;
3. records upstream's five status conditions (``NamespaceDeletionDiscoveryFailure``,
   ``NamespaceDeletionGroupVersionParsingFailure``, ``NamespaceDeletionContentFailure``,
   ``NamespaceContentRemaining``, ``NamespaceFinalizersRemaining``);
4. when nothing remains, removes ``kubernetes`` through ``PUT .../finalize``, after which
   the API server deletes the namespace.

Content still going away (pods in their grace period, objects held by finalizers) requeues
the namespace after upstream's estimate (half the remaining grace, 15 s for finalizers)
but sooner at first — 1 s, 2 s, 4 s... — so a namespace whose content disappears at once is
gone within seconds. Errors requeue with per-namespace exponential backoff (5 ms to 60 s).
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

import aiohttp
import orjson

from kubesmith.api.types import Obj
from kubesmith.client import ApiError, ExponentialBackoff, WorkQueue
from kubesmith.client.discovery import APIResource, discover
from kubesmith.client.rest import NAMESPACES
from kubesmith.controllers.base import Controller, ControllerContext
from kubesmith.controllers.util import parse_rfc3339, set_condition

log = logging.getLogger(__name__)

#: The spec finalizer this controller owns.
FINALIZER = "kubernetes"
#: upstream's guess of how long finalizers on remaining content take
FINALIZER_ESTIMATE_SECONDS = 15

DISCOVERY_FAILURE = "NamespaceDeletionDiscoveryFailure"
GROUP_VERSION_PARSING_FAILURE = "NamespaceDeletionGroupVersionParsingFailure"
CONTENT_FAILURE = "NamespaceDeletionContentFailure"
CONTENT_REMAINING = "NamespaceContentRemaining"
FINALIZERS_REMAINING = "NamespaceFinalizersRemaining"

#: Each condition type with the reason and message it has when all is well.
#: (Discovery hands over group and version already split, so the group version parsing
#: failure upstream can report never happens here: that condition is always False.)
CONDITIONS_OK: dict[str, tuple[str, str]] = {
    DISCOVERY_FAILURE: ("ResourcesDiscovered", "All resources successfully discovered"),
    GROUP_VERSION_PARSING_FAILURE: ("ParsedGroupVersions",
                                    "All legacy kube types successfully parsed"),
    CONTENT_FAILURE: ("ContentDeleted",
                      "All content successfully deleted, may be waiting on finalization"),
    CONTENT_REMAINING: ("ContentRemoved", "All content successfully removed"),
    FINALIZERS_REMAINING: ("ContentHasNoFinalizers",
                           "All content-preserving finalizers finished"),
}

_TRANSIENT = (ApiError, aiohttp.ClientError, OSError, TimeoutError)


class NamespaceContentError(Exception):
    """Some content could not be deleted (or discovered); retried with backoff."""


@dataclass(slots=True)
class ContentResult:
    """What deleting one resource type's content left (upstream's gvrDeletionMetadata)."""

    #: seconds until what remains should be gone
    estimate: int = 0
    remaining: int = 0
    finalizers: collections.Counter[str] = field(default_factory=collections.Counter)
    error: str = ""


class NamespaceConditions:
    """Collects one attempt's failures and writes them as upstream's five conditions."""

    def __init__(self) -> None:
        self._failed: dict[str, tuple[str, str]] = {}
        self._content_errors: list[str] = []

    def discovery_failed(self, message: str) -> None:
        self._failed[DISCOVERY_FAILURE] = ("DiscoveryFailed", message)

    def content_failed(self, message: str) -> None:
        self._content_errors.append(message)

    def content_totals(self, remaining: Mapping[str, int], finalizers: Mapping[str, int]
                       ) -> None:
        """``remaining``: ``plural.group`` -> instances left; ``finalizers``: finalizer ->
        instances carrying it."""
        parts = sorted(f"{gr} has {n} resource instances" for gr, n in remaining.items() if n)
        if parts:
            self._failed[CONTENT_REMAINING] = (
                "SomeResourcesRemain", f"Some resources are remaining: {', '.join(parts)}")
        parts = sorted(f"{f} in {n} resource instances" for f, n in finalizers.items() if n)
        if parts:
            self._failed[FINALIZERS_REMAINING] = (
                "SomeFinalizersRemain",
                f"Some content in the namespace has finalizers remaining: {', '.join(parts)}")

    def apply(self, status: dict[str, Any], now: str | None = None) -> bool:
        """Set all five conditions in ``status``; returns whether anything changed."""
        if self._content_errors and CONTENT_FAILURE not in self._failed:
            errs = sorted(self._content_errors)
            self._failed[CONTENT_FAILURE] = (
                "ContentDeletionFailed",
                f"Failed to delete all resource types, {len(errs)} remaining: "
                f"{', '.join(errs)}")
        changed = False
        for type_, ok in CONDITIONS_OK.items():
            failed = self._failed.get(type_)
            cond_status, (reason, message) = ("True", failed) if failed else ("False", ok)
            changed |= set_condition(status, type_, cond_status, reason, message, now=now)
        return changed


def group_version_resource(api: APIResource) -> str:
    """Go's ``GroupVersionResource.String()`` (``/v1, Resource=pods``)."""
    return f"{api.group}/{api.version}, Resource={api.plural}"


def remaining_result(namespace: str, api: APIResource, items: list[Obj],
                     estimate: int) -> ContentResult:
    """Judge what a type left behind (upstream's rules): nothing is fine; items in their
    grace period or held by finalizers are waited for; anything else is an error."""
    if not items:
        return ContentResult()
    finalizers: collections.Counter[str] = collections.Counter(
        f for item in items for f in (item.get("metadata") or {}).get("finalizers") or ())
    if estimate:
        return ContentResult(estimate, len(items), finalizers)
    if finalizers:
        return ContentResult(FINALIZER_ESTIMATE_SECONDS, len(items), finalizers)
    return ContentResult(0, len(items), finalizers, error=(
        f"unexpected items still remain in namespace: {namespace} for gvr: "
        f"{group_version_resource(api)}"))


def pods_grace_estimate(pods: list[Obj], deleted_at: datetime | None,
                        now: datetime | None = None) -> int:
    """The longest grace period of the pods still running, or 0 once the namespace has
    been terminating for longer than that (upstream's estimateGracefulTermination)."""
    estimate = 0
    for pod in pods:
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            continue
        grace = (pod.get("spec") or {}).get("terminationGracePeriodSeconds")
        if isinstance(grace, int) and grace > estimate:
            estimate = grace
    if deleted_at is not None and \
            ((now or datetime.now(UTC)) - deleted_at).total_seconds() >= estimate:
        return 0
    return estimate


class NamespaceController(Controller):
    name = "namespace-controller"
    component = "namespace-controller"
    #: upstream's --concurrent-namespace-syncs
    default_workers = 10
    #: Delay before emptying a namespace whose deletion was just seen, so that other API
    #: servers see the deletion and stop admitting new content first (upstream: 5 s).
    deletion_grace_period: ClassVar[float] = 5.0
    #: Longest wait between two checks of content going away.
    max_recheck_seconds: ClassVar[float] = 15.0
    #: Resource types handled concurrently within one namespace.
    concurrent_types: ClassVar[int] = 8

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        # upstream's namespace rate limiter: 5 ms doubling to 60 s
        self.queue = WorkQueue(ExponentialBackoff(0.005, 60.0))
        self.namespaces = self.informer(NAMESPACES)
        self.namespaces.add_handlers(on_add=self._namespace_changed,
                                     on_update=lambda _old, new: self._namespace_changed(new))
        self._rechecks: dict[str, int] = {}
        #: (resource, verb) pairs the server refused with 405/404 despite discovery
        self._unsupported: set[tuple[str, str]] = set()

    def _namespace_changed(self, ns: Obj) -> None:
        meta = ns.get("metadata") or {}
        if meta.get("deletionTimestamp"):
            self.queue.add_after(str(meta.get("name")), self.deletion_grace_period)

    async def reconcile(self, key: str) -> None:
        try:
            ns = await self.client.get(NAMESPACES, key)
        except ApiError as exc:
            if exc.code == 404:
                self._rechecks.pop(key, None)
                return
            raise
        meta = ns.get("metadata") or {}
        if not meta.get("deletionTimestamp"):
            self._rechecks.pop(key, None)
            return
        status = ns.setdefault("status", {})
        if status.get("phase") != "Terminating":
            status["phase"] = "Terminating"
            ns = await self.client.replace(NAMESPACES, ns, subresource="status")
        if FINALIZER not in ((ns.get("spec") or {}).get("finalizers") or ()):
            self._rechecks.pop(key, None)
            return
        estimate = await self._delete_all_content(ns)
        if estimate > 0:
            attempt = self._rechecks.get(key, 0)
            self._rechecks[key] = attempt + 1
            delay = min(estimate // 2 + 1, 2.0 ** attempt, self.max_recheck_seconds)
            log.debug("namespace %s: content remains, checking again in %.0fs", key, delay)
            self.queue.add_after(key, delay)
            return
        await self._finalize(ns)
        self._rechecks.pop(key, None)

    async def _finalize(self, ns: Obj) -> None:
        meta = ns.get("metadata") or {}
        kept = sorted({f for f in (ns.get("spec") or {}).get("finalizers") or ()
                       if f != FINALIZER})
        body = {"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": meta.get("name"), "uid": meta.get("uid"),
                             "resourceVersion": meta.get("resourceVersion")},
                "spec": {"finalizers": kept}}
        try:
            await self.client.replace(NAMESPACES, body, subresource="finalize")
        except ApiError as exc:
            if exc.code != 404:
                raise

    # -- content -------------------------------------------------------------------------

    async def _delete_all_content(self, ns: Obj) -> int:
        """Delete everything in ``ns``, record the conditions, and return the estimate of
        seconds until what remains is gone (raising when something failed)."""
        meta = ns.get("metadata") or {}
        name = str(meta.get("name"))
        deleted_at = parse_rfc3339(meta.get("deletionTimestamp"))
        conditions = NamespaceConditions()
        errors: list[str] = []
        resources: list[APIResource] = []
        try:
            found = await discover(self.client)
        except _TRANSIENT as exc:
            conditions.discovery_failed(str(exc))
            errors.append(str(exc))
        else:
            if found.failed:
                text = found.error_message()
                conditions.discovery_failed(
                    f"Discovery failed for some groups, {len(found.failed)} failing: {text}")
                errors.append(text)
            resources = [r for r in found.resources if r.namespaced and r.supports("delete")]
        limit = asyncio.Semaphore(self.concurrent_types)

        async def one(api: APIResource) -> ContentResult:
            async with limit:
                return await self._delete_content(api, name, deleted_at)

        results = await asyncio.gather(*(one(r) for r in resources))
        estimate = 0
        remaining: dict[str, int] = {}
        finalizers: collections.Counter[str] = collections.Counter()
        for api, result in zip(resources, results, strict=True):
            if result.error:
                errors.append(result.error)
                conditions.content_failed(result.error)
            estimate = max(estimate, result.estimate)
            if result.remaining:
                remaining[api.group_resource] = result.remaining
                finalizers.update(result.finalizers)
        conditions.content_totals(remaining, finalizers)
        if conditions.apply(ns.setdefault("status", {})):
            try:
                written = await self.client.replace(NAMESPACES, ns, subresource="status")
                # the finalize request that may follow must carry the new version
                meta["resourceVersion"] = (written.get("metadata") or {}).get(
                    "resourceVersion", meta.get("resourceVersion"))
            except _TRANSIENT as exc:
                log.warning("namespace %s: updating its conditions failed: %s", name, exc)
        if errors:
            raise NamespaceContentError(f"namespace {name}: {'; '.join(sorted(errors))}")
        return estimate

    async def _delete_content(self, api: APIResource, namespace: str,
                              deleted_at: datetime | None) -> ContentResult:
        estimate = 0
        try:
            if (api.group, api.plural) == ("", "pods"):
                pods = await self._list(api, namespace) or []
                estimate = pods_grace_estimate(pods, deleted_at)
            if not await self._delete_collection(api, namespace):
                await self._delete_each(api, namespace)
            items = await self._list(api, namespace)
        except _TRANSIENT as exc:
            return ContentResult(estimate, error=str(exc))
        return remaining_result(namespace, api, items or [], estimate)

    def _refused(self, api: APIResource, verb: str, exc: ApiError) -> bool:
        """Remember a verb the server does not serve for ``api`` despite discovery."""
        if exc.code in (404, 405):
            self._unsupported.add((api.group_resource, verb))
            return True
        return False

    async def _delete_collection(self, api: APIResource, namespace: str) -> bool:
        """``deletecollection`` with Background propagation; False when not served."""
        if not api.supports("deletecollection") or \
                (api.group_resource, "deletecollection") in self._unsupported:
            return False
        options = {"kind": "DeleteOptions", "apiVersion": "v1",
                   "propagationPolicy": "Background"}
        try:
            await self.client.request("DELETE", api.resource.path(namespace),
                                      body=orjson.dumps(options))
        except ApiError as exc:
            if self._refused(api, "deletecollection", exc):
                return False
            raise
        return True

    async def _delete_each(self, api: APIResource, namespace: str) -> None:
        items = await self._list(api, namespace)
        for item in items or ():
            try:
                await self.client.delete(api.resource, str(item["metadata"]["name"]),
                                         namespace, propagation_policy="Background")
            except ApiError as exc:
                if exc.code not in (404, 405):
                    raise

    async def _list(self, api: APIResource, namespace: str) -> list[Obj] | None:
        """Everything of ``api`` in ``namespace``; None when listing is not served."""
        if not api.supports("list") or (api.group_resource, "list") in self._unsupported:
            return None
        try:
            return [item async for item in self.client.list_all(api.resource, namespace)]
        except ApiError as exc:
            if self._refused(api, "list", exc):
                return None
            raise
