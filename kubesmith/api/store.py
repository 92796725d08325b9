"""The generic resource store: create, get, list, update, patch, delete and watch for every
kind, over one :class:`~kubesmith.storage.interface.Store` and its watch cache.

Each resource only supplies a :class:`~kubesmith.api.strategies.base.Strategy`; the flow
here is upstream's generic registry store:

* create: defaults → prepare (server-owned metadata, status reset) → validate → admission
  → ``store.create`` (409 AlreadyExists if the key exists).
* update/patch: read the current object, transform it (a PUT body, a patch, an apply), run
  the update strategy and validation, then compare-and-swap on the read revision; a lost
  race retries the whole transform for patches and fails with 409 Conflict for a PUT that
  named a stale resourceVersion. An update that changes nothing is not written (no new
  resourceVersion), as upstream.
* delete: finalizers and graceful deletion leave the object in place with
  ``deletionTimestamp`` set; otherwise the key is deleted with a CAS on the read revision.
* reads come from the watch cache; a read without a resourceVersion first waits until the
  cache holds every write acknowledged so far (a consistent read, like upstream's
  consistent list from cache).

Errors are always :class:`~kubesmith.api.errors.StatusError`; storage errors are translated
here, so nothing above this layer sees storage types.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import builtins
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from kubesmith.api import errors, objectmeta
from kubesmith.api.encoding import encode_for_storage
from kubesmith.api.encryption import TransformError
from kubesmith.api.errors import StatusError
from kubesmith.api.resource_types import ResourceType
from kubesmith.api.strategies.base import Strategy
from kubesmith.api.types import Obj
from kubesmith.api.watchcache import (
    CachedObject,
    CacheNotFresh,
    CacheWatcher,
    Predicate,
    TooOldResourceVersion,
    WatchCache,
)
from kubesmith.storage.interface import (
    CompactedError,
    FutureRevisionError,
    KeyExistsError,
    KeyNotFoundError,
    RevisionMismatchError,
    Store,
    StoreError,
)

# A hook run just before a write: (new object, old object or None) → may raise StatusError.
AdmissionHook = Callable[[Obj, Obj | None], Awaitable[None]]
# A per-write bookkeeping hook (managedFields): (old or None, new, subresource) → None.
WriteHook = Callable[[Obj | None, Obj, str], None]

MAX_UPDATE_RETRIES = 16

_META_SYSTEM_FIELDS = ("uid", "creationTimestamp", "deletionTimestamp",
                       "deletionGracePeriodSeconds")


@dataclass(slots=True)
class ListOptions:
    namespace: str | None = None
    predicate: Predicate | None = None
    filtered: bool = False  # a label or field selector is in effect
    limit: int = 0
    continue_token: str = ""
    resource_version: str | None = None
    resource_version_match: str = ""


@dataclass(slots=True)
class ListPage:
    items: list[CachedObject]
    resource_version: int
    continue_token: str = ""
    remaining: int | None = None


@dataclass(slots=True)
class DeleteOptions:
    grace_period_seconds: int | None = None
    propagation_policy: str | None = None
    orphan_dependents: bool | None = None
    precondition_uid: str | None = None
    precondition_rv: str | None = None
    dry_run: bool = False


@dataclass(slots=True)
class WriteOptions:
    dry_run: bool = False
    subresource: str = ""
    mutating_admission: AdmissionHook | None = None
    validating_admission: AdmissionHook | None = None
    # Applied to every successful write's object before it is stored (managedFields).
    track: WriteHook | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class DeleteResult:
    obj: Obj
    # False when the object still exists (finalizers, graceful deletion).
    deleted: bool


class ResourceStore:
    """CRUD + watch for one resource type."""

    def __init__(self, rt: ResourceType, strategy: Strategy, store: Store,
                 cache: WatchCache) -> None:
        self.rt = rt
        self.strategy = strategy
        self.store = store
        self.cache = cache

    # ---- keys --------------------------------------------------------------------------
    def key(self, namespace: str | None, name: str) -> str:
        if self.rt.namespaced:
            return f"{self.cache.prefix}{namespace}/{name}"
        return f"{self.cache.prefix}{name}"

    def _not_found(self, name: str) -> StatusError:
        return errors.not_found(self.rt.plural, name, self.rt.group)

    def view(self, cached: CachedObject) -> CachedObject:
        """``cached`` as this resource version serves it (see ConvertingStore)."""
        return cached

    # ---- reads -------------------------------------------------------------------------
    async def _fresh(self, resource_version: str | None) -> None:
        try:
            if not resource_version:
                await self.cache.wait_consistent()
            elif resource_version != "0":
                rv = objectmeta.parse_resource_version(resource_version)
                await self.cache.wait_until_fresh(rv)
        except CacheNotFresh as exc:
            raise StatusError(504, "Timeout", f"Timeout: {exc}",
                              {"causes": [{"reason": "ResourceVersionTooLarge",
                                           "message": str(exc)}],
                               "retryAfterSeconds": 1}) from None
        except StoreError as exc:
            raise errors.service_unavailable(f"storage unavailable: {exc}") from None

    async def get(self, namespace: str | None, name: str,
                  resource_version: str | None = None) -> CachedObject:
        await self._fresh(resource_version)
        cached = self.cache.get(self.key(namespace, name))
        if cached is None:
            raise self._not_found(name)
        return cached

    async def list(self, opts: ListOptions) -> ListPage:
        if opts.continue_token:
            rv, start_key = self._decode_continue(opts.continue_token)
            if rv == self.cache.revision:
                return self._list_from_cache(opts, start_key)
            return await self._list_from_storage(opts, rv, start_key)
        if opts.resource_version_match not in ("", "NotOlderThan", "Exact"):
            raise errors.bad_request(
                f'resourceVersionMatch: Unsupported value: "{opts.resource_version_match}": '
                'supported values: "Exact", "NotOlderThan"')
        if opts.resource_version_match and not opts.resource_version:
            raise errors.bad_request(
                "resourceVersionMatch is forbidden unless resourceVersion is provided")
        if opts.resource_version_match == "Exact":
            rv = objectmeta.parse_resource_version(opts.resource_version)
            if rv == 0:
                raise errors.bad_request(
                    "resourceVersionMatch \"Exact\" is forbidden for resourceVersion \"0\"")
            if rv == self.cache.revision:
                return self._list_from_cache(opts, "")
            return await self._list_from_storage(opts, rv, "")
        await self._fresh(opts.resource_version)
        return self._list_from_cache(opts, "")

    def _list_from_cache(self, opts: ListOptions, start_key: str) -> ListPage:
        rev = self.cache.revision
        items: list[CachedObject] = []
        limit = opts.limit
        pred = opts.predicate
        it = self.cache.iter_from(opts.namespace, start_key)
        for cached in it:
            if pred is not None and not pred(cached):
                continue
            if limit and len(items) == limit:
                # One more match exists: hand out a continue token.
                remaining = None
                if not opts.filtered:
                    remaining = 1 + sum(1 for _ in it)
                token = self._encode_continue(rev, items[-1].key + "\x00")
                return ListPage(items, rev, token, remaining)
            items.append(cached)
        return ListPage(items, rev)

    async def _list_from_storage(self, opts: ListOptions, rv: int, start_key: str) -> ListPage:
        prefix = self.cache.prefix
        if opts.namespace is not None and self.rt.namespaced:
            prefix = f"{prefix}{opts.namespace}/"
        start = start_key if start_key > prefix else ""
        items: list[CachedObject] = []
        pred = opts.predicate
        try:
            while True:
                page = await self.store.list(prefix, revision=rv, start_key=start,
                                             limit=max(opts.limit, 500) if opts.limit else 0)
                for kv in page.kvs:
                    cached = self.cache.decode(kv)
                    if pred is not None and not pred(cached):
                        continue
                    if opts.limit and len(items) == opts.limit:
                        token = self._encode_continue(rv, items[-1].key + "\x00")
                        return ListPage(items, rv, token, None)
                    items.append(cached)
                if not page.more or not page.kvs:
                    return ListPage(items, rv)
                start = page.kvs[-1].key + "\x00"
        except TransformError as exc:
            raise errors.internal_error(f"cannot read stored data: {exc}") from None
        except CompactedError:
            if opts.continue_token:
                raise errors.resource_expired(
                    "The provided continue parameter is too old to display a consistent "
                    "list result. You can start a new list without the continue parameter, "
                    "or use the continue token in this response to retrieve the remainder of"
                    " the results. Continuing with the provided token results in an "
                    "inconsistent list - objects that were created, modified, or deleted "
                    "between the time the first chunk was returned and now may show up in "
                    "the list.") from None
            raise errors.resource_expired(
                f"too old resource version: {rv}") from None
        except FutureRevisionError as exc:
            raise StatusError(504, "Timeout", f"Timeout: Too large resource version: {rv}, "
                              f"current: {exc.current}") from None

    def _encode_continue(self, rv: int, start_key: str) -> str:
        body = orjson.dumps({"v": "meta.k8s.io/v1", "rv": rv,
                             "start": start_key[len(self.cache.prefix):]})
        return base64.urlsafe_b64encode(body).decode().rstrip("=")

    def _decode_continue(self, token: str) -> tuple[int, str]:
        try:
            padded = token + "=" * (-len(token) % 4)
            data = orjson.loads(base64.urlsafe_b64decode(padded))
            if data.get("v") != "meta.k8s.io/v1":
                raise ValueError("version")
            rv = int(data["rv"])
            start = str(data["start"])
            if rv <= 0 or ".." in start or start.startswith("/"):
                raise ValueError("value")
        except (ValueError, KeyError, TypeError, binascii.Error, orjson.JSONDecodeError):
            raise errors.bad_request("continue key is not valid: invalid continue token") \
                from None
        return rv, self.cache.prefix + start

    def watch(self, namespace: str | None, predicate: Predicate | None,
              resource_version: str | None) -> CacheWatcher:
        since: int | None
        if not resource_version or resource_version == "0":
            since = None
        else:
            since = objectmeta.parse_resource_version(resource_version)
            if since > self.cache.revision:
                # Upstream waits briefly for a future revision; the cache is at most a
                # few ms behind for accepted writes, so treat it as "from now".
                since = self.cache.revision
        try:
            return self.cache.watch(namespace=namespace, predicate=predicate, since=since)
        except TooOldResourceVersion as exc:
            raise errors.resource_expired(str(exc)) from None

    # ---- writes ------------------------------------------------------------------------
    async def create(self, namespace: str | None, obj: Obj,
                     opts: WriteOptions | None = None) -> Obj:
        opts = opts or WriteOptions()
        strategy = self.strategy
        objectmeta.fill_create_metadata(obj, namespace=namespace if self.rt.namespaced
                                        else None)
        meta = obj["metadata"]
        name = meta.get("name") or ""
        strategy.default(obj)
        strategy.prepare_for_create(obj)
        if opts.mutating_admission:
            await opts.mutating_admission(obj, None)
        self._validate(obj, strategy.validate(obj))
        if opts.validating_admission:
            await opts.validating_admission(obj, None)
        if opts.track:
            opts.track(None, obj, opts.subresource)
        key = self.key(namespace, name)
        if self.cache.get(key) is not None:
            # Fail before allocating anything; the datastore's create still decides races.
            raise errors.already_exists(self.rt.plural, name, self.rt.group)
        await self.before_write(obj, None, opts.dry_run)
        if opts.dry_run:
            return obj
        try:
            kv = await self.store.create(key, self._encode(key, obj))
        except KeyExistsError:
            await self.after_write_failed(obj, None)
            raise errors.already_exists(self.rt.plural, name, self.rt.group) from None
        except StoreError as exc:
            await self.after_write_failed(obj, None)
            raise errors.service_unavailable(f"storage unavailable: {exc}") from None
        meta["resourceVersion"] = str(kv.mod_revision)
        return obj

    def _encode(self, key: str, obj: Obj) -> bytes:
        """The stored form of ``obj``: JSON without resourceVersion, encrypted when the
        resource is configured for encryption at rest."""
        data = encode_for_storage(obj)
        transformer = self.cache.transformer
        return transformer.to_storage(data, key.encode()) if transformer else data

    # ---- hooks for stores that keep side state (Service allocations) -----------------
    async def before_write(self, new: Obj, old: Obj | None, dry_run: bool) -> None:
        """Called after validation, just before a create or update is written."""

    async def after_write_failed(self, new: Obj, old: Obj | None) -> None:
        """Undo :meth:`before_write` when the write did not happen."""

    async def after_write(self, new: Obj, old: Obj | None) -> None:
        """Called after an update was written."""

    async def after_delete(self, old: Obj) -> None:
        """Called after an object was removed from the datastore."""

    def _validate(self, obj: Obj, errs: builtins.list[errors.FieldError]) -> None:
        if errs:
            name = obj.get("metadata", {}).get("name") or ""
            raise errors.invalid_object(self.rt.kind, name, errs, self.rt.group)

    async def update(
        self,
        namespace: str | None,
        name: str,
        transform: Callable[[Obj | None], Obj],
        opts: WriteOptions | None = None,
        *,
        retry_on_conflict: bool = True,
        create_if_missing: bool = False,
    ) -> tuple[Obj, bool]:
        """Read-transform-write with compare-and-swap. Returns (object, created).

        ``transform`` receives a private copy of the current object (or None when it does
        not exist and ``create_if_missing``) and returns the desired object; it may raise
        StatusError (precondition failures, bad patches).
        """
        opts = opts or WriteOptions()
        key = self.key(namespace, name)
        current: CachedObject | None = None
        await self._fresh(None)
        current = self.cache.get(key)
        for _ in range(MAX_UPDATE_RETRIES):
            if current is None:
                if not create_if_missing:
                    raise self._not_found(name)
                desired = transform(None)
                desired.setdefault("metadata", {})["name"] = name
                created = await self.create(namespace, desired, opts)
                return created, True
            old = current.obj
            new = transform(orjson.loads(current.raw))
            try:
                result = await self._write_update(key, current, old, new, opts)
            except RevisionMismatchError as exc:
                if not retry_on_conflict:
                    raise errors.conflict(self.rt.plural, name, errors.STALE_OBJECT,
                                          self.rt.group) from None
                current = (self.cache.decode(exc.current)
                           if exc.current else None)
                if current is None:
                    raise self._not_found(name) from None
                continue
            except KeyNotFoundError:
                raise self._not_found(name) from None
            return result, False
        raise errors.conflict(self.rt.plural, name, "too many concurrent updates, retry",
                              self.rt.group)

    async def _write_update(self, key: str, current: CachedObject, old: Obj, new: Obj,
                            opts: WriteOptions) -> Obj:
        strategy = self.strategy
        meta = objectmeta.meta(new)
        old_meta = old["metadata"]
        name = old_meta["name"]
        if meta.get("name", name) != name:
            raise errors.bad_request(
                f'the name of the object ({meta.get("name")}) does not match the name on the '
                f"URL ({name})")
        if self.rt.namespaced and meta.get("namespace", old_meta.get("namespace")) != \
                old_meta.get("namespace"):
            raise errors.bad_request(
                "the namespace of the provided object does not match the namespace sent on "
                "the request")
        if meta.get("uid") and meta["uid"] != old_meta.get("uid"):
            raise errors.conflict(
                self.rt.plural, name,
                f"Precondition failed: UID in precondition: {meta['uid']}, UID in object "
                f"meta: {old_meta.get('uid')}", self.rt.group)
        rv = meta.get("resourceVersion")
        if rv and rv != old_meta.get("resourceVersion"):
            objectmeta.parse_resource_version(str(rv))
            raise errors.conflict(self.rt.plural, name, errors.STALE_OBJECT, self.rt.group)
        meta["name"] = name
        if self.rt.namespaced:
            meta["namespace"] = old_meta.get("namespace")
        for f in _META_SYSTEM_FIELDS:
            if f in old_meta:
                meta[f] = old_meta[f]
            else:
                meta.pop(f, None)
        meta["resourceVersion"] = old_meta.get("resourceVersion")
        strategy.default(new)
        strategy.prepare_for_subresource(opts.subresource, new, old)
        if opts.mutating_admission:
            await opts.mutating_admission(new, old)
        self._validate(new, strategy.validate_subresource_update(opts.subresource, new, old))
        if opts.validating_admission:
            await opts.validating_admission(new, old)
        if opts.track:
            opts.track(old, new, opts.subresource)
        if _same_ignoring_managed_time(new, old) and key not in self.cache.stale_keys:
            # Nothing changed: no write, no new resourceVersion (as upstream) — unless the
            # stored value is under an old encryption key, which a replace must rotate.
            return old
        if opts.dry_run:
            await self.before_write(new, old, True)
            return new
        if old_meta.get("deletionTimestamp") and not meta.get("finalizers") and \
                not old_meta.get("deletionGracePeriodSeconds") and \
                strategy.ready_to_finalize(new):
            # The last finalizer is gone: the object disappears now — unless a graceful
            # deletion is still running (a pod whose kubelet has not yet stopped its
            # containers: the kubelet's final delete with grace 0 removes it), as upstream.
            kv = await self.store.delete(key, expected_mod_revision=current.revision)
            meta["resourceVersion"] = str(kv.mod_revision)
            await self.after_delete(old)
            return new
        await self.before_write(new, old, False)
        try:
            kv = await self.store.update(key, self._encode(key, new),
                                         expected_mod_revision=current.revision)
        except BaseException:
            await self.after_write_failed(new, old)
            raise
        meta["resourceVersion"] = str(kv.mod_revision)
        await self.after_write(new, old)
        return new

    async def delete(self, namespace: str | None, name: str,
                     opts: DeleteOptions | None = None) -> DeleteResult:
        opts = opts or DeleteOptions()
        key = self.key(namespace, name)
        await self._fresh(None)
        current = self.cache.get(key)
        for _ in range(MAX_UPDATE_RETRIES):
            if current is None:
                raise self._not_found(name)
            try:
                return await self._delete_once(key, current, opts)
            except RevisionMismatchError as exc:
                current = (self.cache.decode(exc.current)
                           if exc.current else None)
            except KeyNotFoundError:
                raise self._not_found(name) from None
        raise errors.conflict(self.rt.plural, name, "too many concurrent updates, retry",
                              self.rt.group)

    async def _delete_once(self, key: str, current: CachedObject,
                           opts: DeleteOptions) -> DeleteResult:
        obj = orjson.loads(current.raw)
        meta = obj["metadata"]
        name = meta["name"]
        if opts.precondition_uid is not None and opts.precondition_uid != meta.get("uid"):
            raise errors.conflict(
                self.rt.plural, name,
                f"Precondition failed: UID in precondition: {opts.precondition_uid}, UID in "
                f"object meta: {meta.get('uid')}", self.rt.group)
        if opts.precondition_rv is not None and \
                opts.precondition_rv != meta.get("resourceVersion"):
            raise errors.conflict(
                self.rt.plural, name,
                "Precondition failed: ResourceVersion in precondition: "
                f"{opts.precondition_rv}, ResourceVersion in object meta: "
                f"{meta.get('resourceVersion')}", self.rt.group)
        finalizers: list[str] = list(meta.get("finalizers") or [])
        policy = _propagation(opts) or self.strategy.default_propagation
        changed = False
        if policy == "Orphan" and "orphan" not in finalizers and \
                not meta.get("deletionTimestamp"):
            finalizers.append("orphan")
            changed = True
        elif policy == "Foreground" and "foregroundDeletion" not in finalizers:
            finalizers.append("foregroundDeletion")
            changed = True
        grace = self.strategy.delete_grace_period(obj, opts.grace_period_seconds)
        keep = self.strategy.begin_delete(obj)
        if finalizers or grace > 0 or keep:
            already = meta.get("deletionTimestamp")
            if not already or changed or (grace < int(meta.get("deletionGracePeriodSeconds")
                                                        or 0)):
                now = datetime.now(UTC)
                meta["deletionTimestamp"] = (now + timedelta(seconds=grace)).strftime(
                    "%Y-%m-%dT%H:%M:%SZ") if not already or grace else already
                meta["deletionGracePeriodSeconds"] = grace
                if finalizers:
                    meta["finalizers"] = finalizers
                if opts.dry_run:
                    return DeleteResult(obj, False)
                kv = await self.store.update(key, self._encode(key, obj),
                                             expected_mod_revision=current.revision)
                meta["resourceVersion"] = str(kv.mod_revision)
            return DeleteResult(obj, False)
        if opts.dry_run:
            return DeleteResult(obj, True)
        kv = await self.store.delete(key, expected_mod_revision=current.revision)
        meta["resourceVersion"] = str(kv.mod_revision)
        await self.after_delete(obj)
        return DeleteResult(obj, True)


def _propagation(opts: DeleteOptions) -> str | None:
    if opts.propagation_policy:
        return opts.propagation_policy
    if opts.orphan_dependents is True:
        return "Orphan"
    if opts.orphan_dependents is False:
        return "Background"
    return None


def _same_ignoring_managed_time(new: Obj, old: Obj) -> bool:
    """True when the write would change nothing but managedFields timestamps."""
    if new == old:
        return True
    new_meta = new.get("metadata", {})
    old_meta = old.get("metadata", {})
    if {k: v for k, v in new.items() if k != "metadata"} != \
            {k: v for k, v in old.items() if k != "metadata"}:
        return False
    if {k: v for k, v in new_meta.items() if k != "managedFields"} != \
            {k: v for k, v in old_meta.items() if k != "managedFields"}:
        return False
    return bool(_strip_times(new_meta.get("managedFields")) ==
                _strip_times(old_meta.get("managedFields")))


def _strip_times(entries: Any) -> Any:
    if not isinstance(entries, list):
        return entries
    return [{k: v for k, v in e.items() if k != "time"} if isinstance(e, dict) else e
            for e in entries]


async def gather_deletes(tasks: list[Awaitable[DeleteResult]]) -> list[DeleteResult]:
    """Run deletes of a collection concurrently (bounded by the caller's list size)."""
    results: list[DeleteResult] = []
    for chunk_start in range(0, len(tasks), 64):
        chunk = tasks[chunk_start:chunk_start + 64]
        for r in await asyncio.gather(*chunk, return_exceptions=True):
            if isinstance(r, DeleteResult):
                results.append(r)
            elif isinstance(r, StatusError) and r.code == 404:
                continue
            elif isinstance(r, BaseException):
                raise r
    return results
