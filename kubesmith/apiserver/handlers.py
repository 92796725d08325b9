"""HTTP handlers for resource requests: the REST verbs over the generic store, plus the
subresources every kind shares (status, scale) and the special ones (pods/binding,
pods/eviction, namespaces/finalize).

Handlers turn a request into store calls and the result into bytes; they never touch
storage. Responses reuse the watch cache's per-revision JSON bytes wherever the object is
returned unchanged (GET, LIST pages, watch events).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson
from aiohttp import web

from kubesmith.api import errors, objectmeta
from kubesmith.api.resource_types import ResourceType
from kubesmith.api.resources import Resources
from kubesmith.api.store import (
    DeleteOptions,
    ListOptions,
    ResourceStore,
    WriteOptions,
    gather_deletes,
)
from kubesmith.api.types import Obj
from kubesmith.api.watchcache import CachedObject, CacheEvent
from kubesmith.apiserver import negotiation, objects, patching
from kubesmith.apiserver.admission import AdmissionChain, AdmissionRequest
from kubesmith.apiserver.authn import UserInfo
from kubesmith.apiserver.authz import AuthorizerChain
from kubesmith.apiserver.negotiation import ResponseForm
from kubesmith.apiserver.rbac import RBACAuthorizer
from kubesmith.apiserver.requestinfo import RequestInfo
from kubesmith.apiserver.serviceaccounts import TokenService

JSON_HEADERS = {"Content-Type": "application/json", "Cache-Control": "no-cache, private"}
DEFAULT_WATCH_TIMEOUT = 1800
BOOKMARK_INTERVAL = 60.0


class Server(Protocol):
    """What handlers may use of the server beyond their own resource."""

    resources: Resources
    rbac: RBACAuthorizer
    tokens: TokenService
    authz: AuthorizerChain

    async def authenticate_token(self, token: str, audiences: list[str] | None = None
                                 ) -> UserInfo | None: ...


class RequestContext:
    """Everything a handler needs about one request."""

    def __init__(self, request: web.Request, info: RequestInfo, user: UserInfo,
                 rt: ResourceType, store: ResourceStore | None, admission: AdmissionChain,
                 server: Server) -> None:
        self.request = request
        self.info = info
        self.user = user
        self.rt = rt
        self._store = store
        self.admission = admission
        self.server = server
        self.query = request.query
        self.warnings: list[str] = []

    @property
    def rs(self) -> ResourceStore:
        """The request's resource store (computed kinds such as reviews have none)."""
        if self._store is None:
            raise errors.internal_error(f"{self.rt.plural} has no store")
        return self._store

    @property
    def namespace(self) -> str | None:
        """The request's namespace; None for cluster-scoped kinds and for requests across
        all namespaces (``/api/v1/configmaps``)."""
        return (self.info.namespace or None) if self.rt.namespaced else None

    def flag(self, name: str) -> bool:
        return self.query.get(name, "").lower() in ("true", "1")

    @property
    def dry_run(self) -> bool:
        values = self.query.getall("dryRun", [])
        for v in values:
            if v != "All":
                raise errors.bad_request(
                    f'dryRun: Unsupported value: "{v}": supported values: "All"')
        return bool(values)

    def admission_request(self, operation: str, name: str) -> AdmissionRequest:
        return AdmissionRequest(operation, self.rt, self.info.namespace, name,
                                self.info.subresource, self.user, self.dry_run, self.warnings)

    def write_options(self, operation: str, name: str, *, manager: str = "",
                      store: ResourceStore | None = None) -> WriteOptions:
        """Options for a write through ``store`` (default: the request's own resource)."""
        store = store or self.rs
        areq = self.admission_request(operation, name)

        async def mutate(new: Obj, old: Obj | None) -> None:
            await self.admission.admit(areq, new, old)

        async def validate(new: Obj, old: Obj | None) -> None:
            await self.admission.validate(areq, new, old)

        return WriteOptions(
            dry_run=self.dry_run, subresource=self.info.subresource,
            mutating_admission=mutate, validating_admission=validate,
            track=patching.field_tracker(store.strategy, manager or self.field_manager()),
        )

    def field_manager(self) -> str:
        manager = self.query.get("fieldManager", "")
        if manager:
            if len(manager) > 128:
                raise errors.bad_request(
                    "fieldManager: Too long: may not be more than 128 bytes")
            return manager
        return patching.manager_from_user_agent(self.request.headers.get("User-Agent", ""))

    def response_form(self) -> ResponseForm:
        return negotiation.choose_response(self.request.headers.get("Accept"))

    def respond(self, data: Any, status: int = 200, form: ResponseForm | None = None
                ) -> web.Response:
        form = form or ResponseForm()
        audit_ctx = self.request.get("audit")
        if audit_ctx is not None:
            audit_ctx.log_response_object(data)
        body, ctype = negotiation.encode(data, form)
        return self._response(body, ctype, status)

    def respond_raw(self, raw: bytes, form: ResponseForm, status: int = 200) -> web.Response:
        audit_ctx = self.request.get("audit")
        if audit_ctx is not None:
            audit_ctx.log_response_object(raw)
        if form.format == "json":
            return self._response(raw, negotiation.JSON, status)
        return self.respond(orjson.loads(raw), status, form)

    def _response(self, body: bytes, ctype: str, status: int) -> web.Response:
        headers = {"Content-Type": ctype, "Cache-Control": "no-cache, private"}
        if self.warnings:
            headers["Warning"] = ", ".join(
                '299 - "' + w.replace("\\", "\\\\").replace('"', '\\"') + '"'
                for w in self.warnings[:20])
        return web.Response(body=body, status=status, headers=headers)


# ---- reads -------------------------------------------------------------------------------

async def get(ctx: RequestContext) -> web.StreamResponse:
    form = ctx.response_form()
    cached = ctx.rs.view(await ctx.rs.get(ctx.namespace, ctx.info.name,
                                          ctx.query.get("resourceVersion")))
    if form.as_kind:
        return ctx.respond(objects.render_one(ctx.rs.strategy, cached.obj, form), form=form)
    return ctx.respond_raw(cached.raw, form)


def _list_options(ctx: RequestContext) -> ListOptions:
    predicate, filtered = objects.predicate_for(
        ctx.rt, ctx.query.get("labelSelector", ""), ctx.query.get("fieldSelector", ""))
    limit_text = ctx.query.get("limit", "")
    limit = 0
    if limit_text:
        try:
            limit = int(limit_text)
        except ValueError:
            raise errors.bad_request(f'limit: Invalid value: "{limit_text}": '
                                     "must be an integer") from None
        limit = max(limit, 0)
    return ListOptions(
        namespace=ctx.namespace, predicate=predicate, filtered=filtered, limit=limit,
        continue_token=ctx.query.get("continue", ""),
        resource_version=ctx.query.get("resourceVersion"),
        resource_version_match=ctx.query.get("resourceVersionMatch", ""),
    )


async def list_(ctx: RequestContext) -> web.StreamResponse:
    form = ctx.response_form()
    opts = _list_options(ctx)
    if opts.continue_token and (opts.resource_version or opts.resource_version_match):
        raise errors.bad_request(
            "specifying resource version is not allowed when using continue")
    page = await ctx.rs.list(opts)
    list_meta: dict[str, Any] = {"resourceVersion": str(page.resource_version)}
    if page.continue_token:
        list_meta["continue"] = page.continue_token
    if page.remaining is not None:
        list_meta["remainingItemCount"] = page.remaining
    view = ctx.rs.view
    if form.as_kind:
        rendered = objects.render_list(ctx.rs.strategy, [view(c).obj for c in page.items],
                                       list_meta, form)
        return ctx.respond(rendered, form=form)
    head = orjson.dumps({"kind": ctx.rt.list_kind, "apiVersion": ctx.rt.api_version,
                         "metadata": list_meta})
    # Splice the cached per-object bytes into the list: no per-request re-encoding.
    raws = [view(c).raw for c in page.items]
    body = head[:-1] + b',"items":[' + b",".join(raws) + b"]}"
    return ctx.respond_raw(body, form)


async def watch(ctx: RequestContext) -> web.StreamResponse:
    form = ctx.response_form()
    predicate, _ = objects.predicate_for(
        ctx.rt, ctx.query.get("labelSelector", ""), ctx.query.get("fieldSelector", ""))
    if ctx.info.name:
        name_pred = _name_predicate(ctx.info.name)
        inner = predicate
        predicate = name_pred if inner is None else (lambda c: name_pred(c) and inner(c))
    rv = ctx.query.get("resourceVersion")
    send_initial = ctx.query.get("sendInitialEvents")
    bookmarks = ctx.flag("allowWatchBookmarks")
    if send_initial is not None:
        initial = send_initial.lower() == "true"
        if ctx.query.get("resourceVersionMatch") != "NotOlderThan":
            raise errors.invalid_object(
                "ListOptions", "", [errors.field_forbidden(
                    "resourceVersionMatch",
                    "sendInitialEvents requires setting resourceVersionMatch to "
                    "NotOlderThan")], "meta.k8s.io")
        if initial and not bookmarks:
            raise errors.invalid_object(
                "ListOptions", "", [errors.field_forbidden(
                    "allowWatchBookmarks",
                    "sendInitialEvents requires setting allowWatchBookmarks to true")],
                "meta.k8s.io")
        if initial:
            if rv and rv != "0":
                await ctx.rs._fresh(rv)
            elif not rv:
                await ctx.rs._fresh(None)
            watch_rv: str | None = None
        else:
            watch_rv = rv if rv and rv != "0" else str(ctx.rs.cache.revision)
    else:
        initial = not rv or rv == "0"
        watch_rv = rv
    timeout = _watch_timeout(ctx)
    try:
        watcher = ctx.rs.watch(ctx.namespace, predicate,
                               None if initial else watch_rv)
    except errors.StatusError as exc:
        if exc.code != 410:
            raise
        resp = web.StreamResponse(status=200, headers=JSON_HEADERS)
        await resp.prepare(ctx.request)
        await resp.write(b'{"type":"ERROR","object":' + orjson.dumps(exc.to_status()) + b"}\n")
        await resp.write_eof()
        return resp
    initial_count = watcher.queue.qsize() if initial else 0
    initial_rv = ctx.rs.cache.revision
    mark_initial_end = initial and send_initial is not None
    resp = web.StreamResponse(status=200, headers=JSON_HEADERS)
    resp.enable_chunked_encoding()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    # No per-event timeout: a timer wakes the reader (None in the queue with the watcher
    # still open) for bookmarks and the deadline, so waiting costs one queue.get().
    timer = loop.call_at(min(deadline, loop.time() + BOOKMARK_INTERVAL), watcher.wake)
    try:
        await resp.prepare(ctx.request)
        encoder = _event_encoder(ctx, form)
        queue = watcher.queue
        if mark_initial_end and initial_count == 0:
            await resp.write(_bookmark(ctx.rt, initial_rv, initial_end=True))
        # Send what is queued now (the initial state, or the replay from a
        # resourceVersion) through the writer, in batches.
        sent = 0
        tick = False
        while not watcher.closed:
            chunk: list[bytes] = []
            while len(chunk) < 256:
                try:
                    nxt = queue.get_nowait()
                except asyncio.QueueEmpty:
                    break
                if nxt is None:
                    tick = tick or not watcher.closed
                    continue
                chunk.append(encoder(nxt))
                sent += 1
                if mark_initial_end and sent == initial_count:
                    break
            if not chunk:
                break
            await resp.write(b"".join(chunk))
            if mark_initial_end and sent == initial_count:
                await resp.write(_bookmark(ctx.rt, initial_rv, initial_end=True))
        # The queue is empty and nothing was awaited since: switching to direct writes
        # here can neither lose nor reorder an event.
        if not form.as_kind and form.format == "json" and not watcher.closed:
            _go_direct(resp, watcher, encoder)
        if tick and not watcher.closed:
            watcher.wake()  # a timer tick swallowed above: handle it below
        while not watcher.closed:
            ev = await queue.get()
            if ev is None:
                if watcher.closed or loop.time() >= deadline:
                    break
                if bookmarks and queue.empty():
                    await resp.write(_bookmark(ctx.rt, ctx.rs.cache.revision))
                timer = loop.call_at(min(deadline, loop.time() + BOOKMARK_INTERVAL),
                                     watcher.wake)
                continue
            chunk = [encoder(ev)]
            # Drain what is already queued into one write: fewer syscalls under load.
            while len(chunk) < 256:
                try:
                    nxt = queue.get_nowait()
                except asyncio.QueueEmpty:
                    break
                if nxt is None:
                    queue.put_nowait(None)  # handle the wake-up (close, tick) next round
                    break
                chunk.append(encoder(nxt))
            await resp.write(b"".join(chunk))
            if loop.time() >= deadline:
                break
    except ConnectionResetError:
        return resp  # the watcher hung up; nothing more to send
    finally:
        timer.cancel()
        watcher.sink = None
        ctx.rs.cache.unwatch(watcher)
    with contextlib.suppress(ConnectionResetError):
        await resp.write_eof()
    return resp


# A direct-mode client further behind than this (bytes in its socket buffer) is dropped:
# it re-watches from its last resourceVersion, as after an overflow.
DIRECT_WRITE_LIMIT = 16 * 1024 * 1024


def _go_direct(resp: web.StreamResponse, watcher: Any, encoder: Callable[[CacheEvent], bytes]
               ) -> None:
    """Switch a plain JSON watch to direct writes: from now on each event is framed as an
    HTTP chunk and written to the socket during the cache's fan-out, without waking this
    request's task — the per-watcher cost of a change is one TLS write. The handler keeps
    running only for bookmarks, the deadline and the end of the stream."""
    transport = resp._payload_writer.transport if resp._payload_writer else None
    if transport is None:
        return

    def sink(ev: CacheEvent) -> bool:
        if transport.is_closing() or transport.get_write_buffer_size() > DIRECT_WRITE_LIMIT:
            return False
        data = encoder(ev)
        transport.write(b"%x\r\n%b\r\n" % (len(data), data))
        return True

    watcher.sink = sink


def _name_predicate(name: str) -> Callable[[CachedObject], bool]:
    return lambda c: c.name == name


def _watch_timeout(ctx: RequestContext) -> float:
    text = ctx.query.get("timeoutSeconds") or ctx.query.get("timeout")
    if not text:
        return DEFAULT_WATCH_TIMEOUT
    try:
        value = float(text.rstrip("s"))
    except ValueError:
        raise errors.bad_request(f'timeoutSeconds: Invalid value: "{text}"') from None
    return max(0.0, value)


def _bookmark(rt: ResourceType, revision: int, *, initial_end: bool = False) -> bytes:
    meta: dict[str, Any] = {"resourceVersion": str(revision), "creationTimestamp": None}
    if initial_end:
        meta["annotations"] = {"k8s.io/initial-events-end": "true"}
    return orjson.dumps({"type": "BOOKMARK", "object": {
        "kind": rt.kind, "apiVersion": rt.api_version, "metadata": meta}}) + b"\n"


def _event_encoder(ctx: RequestContext, form: ResponseForm) -> Callable[[CacheEvent], bytes]:
    view = ctx.rs.view
    strategy = ctx.rs.strategy
    if not form.as_kind and form.format == "json":
        # Versions served through a conversion get their own bytes per watcher's version.
        converting = type(ctx.rs).view is not ResourceStore.view

        def encode_json(ev: CacheEvent) -> bytes:
            line = ev.line
            if line is None or converting:
                line = (b'{"type":"' + ev.type.encode() + b'","object":'
                        + view(ev.obj).raw + b"}\n")
                if not converting:
                    ev.line = line  # shared by every watcher of this event
            return line
        return encode_json
    first = [True]

    def encode_rendered(ev: CacheEvent) -> bytes:
        if form.as_kind == "Table":
            rendered = objects.render_table(strategy, [view(ev.obj).obj], {
                "resourceVersion": str(ev.revision)}, form, headers=first[0])
            first[0] = False
        else:
            rendered = objects.render_one(strategy, view(ev.obj).obj, form)
        return orjson.dumps({"type": ev.type, "object": rendered}) + b"\n"
    return encode_rendered


# ---- writes ------------------------------------------------------------------------------

async def read_body_object(ctx: RequestContext, subresource: str | None = None) -> Obj:
    """The request body as an object of the kind the endpoint expects (JSON, YAML or
    Kubernetes protobuf), its apiVersion/kind checked."""
    sub = ctx.info.subresource if subresource is None else subresource
    body = await _read_body(ctx.request)
    ctype = negotiation.content_type_of(ctx.request.headers.get("Content-Type"))
    api_version, kind = objects.expected_type(ctx.rt, sub)
    obj = negotiation.decode_object(body, ctype, api_version=api_version, kind=kind)
    _audit_request(ctx, obj)
    objects.check_type(ctx.rt, obj, sub)
    if sub or ctx.rt.virtual:
        # Bodies the generic store never sees (reviews, Scale, Binding, TokenRequest):
        # decode-check them here, as upstream's decoder would.
        objects.apply_field_validation(objects.body_strategy(ctx.rt, sub), obj,
                                       ctx.query.get("fieldValidation", ""), ctx.warnings)
    return obj


def _audit_request(ctx: RequestContext, obj: Any) -> None:
    """Record the decoded request body for the audit log (before defaulting)."""
    audit_ctx = ctx.request.get("audit")
    if audit_ctx is not None:
        audit_ctx.log_request_object(obj)


async def _read_object(ctx: RequestContext) -> Obj:
    obj = await read_body_object(ctx)
    objects.apply_field_validation(ctx.rs.strategy, obj, ctx.query.get("fieldValidation", ""),
                                   ctx.warnings)
    return obj


async def _read_body(request: web.Request) -> bytes:
    if request.content_length is not None and \
            request.content_length > negotiation.MAX_BODY_BYTES:
        raise errors.request_entity_too_large(f"limit is {negotiation.MAX_BODY_BYTES}")
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise errors.request_entity_too_large(
            f"limit is {negotiation.MAX_BODY_BYTES}") from None


async def create(ctx: RequestContext) -> web.StreamResponse:
    form = ctx.response_form()
    obj = await _read_object(ctx)
    meta = objectmeta.meta(obj)
    if ctx.rt.namespaced:
        ns = meta.get("namespace")
        if ns and ns != ctx.info.namespace:
            raise errors.bad_request(
                "the namespace of the provided object does not match the namespace sent on "
                "the request")
    name = meta.get("name") or ""
    if not name and not meta.get("generateName"):
        raise errors.invalid_object(ctx.rt.kind, "", [errors.required(
            "metadata.name", "name or generateName is required")], ctx.rt.group)
    created = await ctx.rs.create(ctx.namespace, obj, ctx.write_options("CREATE", name))
    return ctx.respond(objects.render_written(ctx.rs.strategy, created, form), 201, form)


async def update(ctx: RequestContext) -> web.StreamResponse:
    form = ctx.response_form()
    obj = await _read_object(ctx)
    name = ctx.info.name
    # A PUT replaces the object whatever it holds now; the store checks the body's
    # resourceVersion against the stored one (409 on a stale write).
    result, created = await ctx.rs.update(
        ctx.namespace, name, lambda _current: obj, ctx.write_options("UPDATE", name),
        retry_on_conflict=False, create_if_missing=objects.allow_create_on_update(ctx.rt))
    return ctx.respond(objects.render_written(ctx.rs.strategy, result, form),
                       201 if created else 200, form)


async def patch(ctx: RequestContext) -> web.StreamResponse:
    form = ctx.response_form()
    ctype = negotiation.content_type_of(ctx.request.headers.get("Content-Type"))
    if ctype not in negotiation.PATCH_TYPES:
        raise errors.unsupported_media_type(ctype)
    body = await _read_body(ctx.request)
    patch_doc = negotiation.decode_body(body, ctype)
    _audit_request(ctx, patch_doc)
    name = ctx.info.name
    force = ctx.flag("force")
    field_validation = ctx.query.get("fieldValidation", "")
    manager = ctx.query.get("fieldManager", "")
    if ctype == negotiation.APPLY_PATCH:
        if not manager:
            raise errors.bad_request(
                "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is "
                "required for apply patch")
        if not isinstance(patch_doc, dict):
            raise errors.bad_request("apply patch must be an object")
        objects.check_type(ctx.rt, patch_doc, ctx.info.subresource)
        objects.apply_field_validation(ctx.rs.strategy, patch_doc, field_validation, ctx.warnings)
    elif force:
        raise errors.bad_request("force: Forbidden: may not be specified for non-apply patch")
    opts = ctx.write_options("UPDATE", name, manager=manager)
    applier = patching.patcher(ctx.rs.strategy, ctype, patch_doc, manager=manager or
                               ctx.field_manager(), force=force,
                               subresource=ctx.info.subresource)
    warnings = ctx.warnings

    def transform(current: Obj | None) -> Obj:
        result = applier(current)
        if ctype != negotiation.APPLY_PATCH:
            objects.apply_field_validation(ctx.rs.strategy, result, field_validation, warnings)
        return result

    if ctype == negotiation.APPLY_PATCH:
        # Apply owns managedFields itself; the generic Update tracker must not also run.
        opts.track = None
    result, created = await ctx.rs.update(
        ctx.namespace, name, transform, opts,
        create_if_missing=ctype == negotiation.APPLY_PATCH and not ctx.info.subresource)
    return ctx.respond(objects.render_written(ctx.rs.strategy, result, form),
                       201 if created else 200, form)


def _delete_options(ctx: RequestContext, body: Obj | None) -> DeleteOptions:
    body = body or {}
    # kubectl sends DeleteOptions in the body (dryRun included), other clients in the query.
    body_dry_run = body.get("dryRun") or []
    if not isinstance(body_dry_run, list) or any(v != "All" for v in body_dry_run):
        raise errors.bad_request(
            f'dryRun: Unsupported value: {body_dry_run!r}: supported values: "All"')
    opts = DeleteOptions(dry_run=ctx.dry_run or bool(body_dry_run))
    grace = ctx.query.get("gracePeriodSeconds", body.get("gracePeriodSeconds"))
    if grace is not None:
        try:
            opts.grace_period_seconds = int(grace)
        except (TypeError, ValueError):
            raise errors.bad_request(f'gracePeriodSeconds: Invalid value: "{grace}"') from None
    policy = ctx.query.get("propagationPolicy", body.get("propagationPolicy"))
    if policy is not None:
        if policy not in ("Orphan", "Background", "Foreground"):
            raise errors.invalid_object("DeleteOptions", "", [errors.not_supported(
                "propagationPolicy", policy, ["Foreground", "Background", "Orphan", "nil"])],
                "meta.k8s.io")
        opts.propagation_policy = str(policy)
    orphan = ctx.query.get("orphanDependents", body.get("orphanDependents"))
    if orphan is not None:
        opts.orphan_dependents = str(orphan).lower() in ("true", "1")
        if opts.propagation_policy:
            raise errors.invalid_object("DeleteOptions", "", [errors.invalid(
                "propagationPolicy", policy,
                "orphanDependents and deletionPropagation cannot be both set")],
                "meta.k8s.io")
    pre = body.get("preconditions") or {}
    if isinstance(pre, dict):
        opts.precondition_uid = pre.get("uid")
        opts.precondition_rv = pre.get("resourceVersion")
    return opts


async def _delete_body(ctx: RequestContext) -> Obj | None:
    if not ctx.request.can_read_body:
        return None
    body = await _read_body(ctx.request)
    if not body.strip():
        return None
    ctype = negotiation.content_type_of(ctx.request.headers.get("Content-Type"))
    return negotiation.decode_object(body, ctype, api_version="v1", kind="DeleteOptions")


async def delete(ctx: RequestContext) -> web.StreamResponse:
    form = ctx.response_form()
    opts = _delete_options(ctx, await _delete_body(ctx))
    name = ctx.info.name
    await ctx.admission.validate(ctx.admission_request("DELETE", name), None, None)
    result = await ctx.rs.delete(ctx.namespace, name, opts)
    if not result.deleted or objects.returns_deleted_object(ctx.rt):
        return ctx.respond(objects.render_written(ctx.rs.strategy, result.obj, form), 200, form)
    meta = result.obj.get("metadata", {})
    return ctx.respond({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
        "details": {"name": name, "group": ctx.rt.group, "kind": ctx.rt.plural,
                    "uid": meta.get("uid")}})


async def delete_collection(ctx: RequestContext) -> web.StreamResponse:
    form = ctx.response_form()
    opts = _delete_options(ctx, await _delete_body(ctx))
    lopts = _list_options(ctx)
    lopts.limit = 0
    lopts.continue_token = ""
    page = await ctx.rs.list(lopts)
    for c in page.items:
        await ctx.admission.validate(ctx.admission_request("DELETE", c.name), None, None)
    results = await gather_deletes([
        ctx.rs.delete(c.namespace or None, c.name, opts) for c in page.items])
    items = [r.obj for r in results]
    return ctx.respond({"kind": ctx.rt.list_kind, "apiVersion": ctx.rt.api_version,
                        "metadata": {"resourceVersion": str(ctx.rs.cache.revision)},
                        "items": items}, form=form)


# ---- shared subresources -----------------------------------------------------------------

async def finalize(ctx: RequestContext) -> web.StreamResponse:
    """PUT namespaces/<name>/finalize: only spec.finalizers change."""
    form = ctx.response_form()
    obj = await _read_object(ctx)
    finalizers = obj.get("spec", {}).get("finalizers") or []

    def transform(current: Obj | None) -> Obj:
        assert current is not None
        current.setdefault("spec", {})["finalizers"] = finalizers
        return current

    opts = ctx.write_options("UPDATE", ctx.info.name)
    opts.subresource = "finalize"
    result, _ = await ctx.rs.update(None, ctx.info.name, transform, opts)
    return ctx.respond(objects.render_written(ctx.rs.strategy, result, form), 200, form)


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
