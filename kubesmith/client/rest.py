"""An async REST client for the Kubernetes API, the only way kubesmith components talk to
the API server.

Concurrency: one :class:`Client` owns one :class:`aiohttp.ClientSession` (created lazily on
first use, so on the loop that uses it) with keep-alive connections shared by every request
and watch of every task on that loop. Requests are independent coroutines; a watch holds one
connection for its lifetime and yields events as their lines arrive, so a slow consumer
applies back-pressure to the server through TCP rather than buffering in memory. Objects are
plain decoded JSON (:data:`kubesmith.api.types.Obj`): the wire format is the model.

Hot paths that send many small requests (the scheduler's bindings, Event writes) use
:meth:`Client.lean_request` instead: the same request and the same answer, written by hand
onto keep-alive HTTP/1.1 connections of the client's own small pool, one request in flight
per connection. aiohttp's per-request machinery (request and response objects, header
multidicts, timers, tracing hooks) costs about 0.3 ms of CPU per request, more than the
TLS and JSON work of a binding; the lean path costs a fraction of that. There is no HTTP
pipelining on purpose: the API server answers a connection's requests one after another,
so requests queued behind a slow one (a write waiting for its commit) would wait too and
the server's write batches would shrink; concurrency comes from more connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast
from urllib.parse import quote, urlsplit

import aiohttp
import orjson

from kubesmith.api.errors import StatusError
from kubesmith.api.types import Obj
from kubesmith.client.config import ClientConfig, load_kubeconfig

PatchType = Literal["merge", "json", "strategic", "apply"]

PATCH_CONTENT_TYPES: dict[str, str] = {
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "apply": "application/apply-patch+yaml",
}

WatchEventType = Literal["ADDED", "MODIFIED", "DELETED", "BOOKMARK"]


#: Characters a path segment keeps as they are (RFC 3986 unreserved).
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def _quote(segment: str) -> str:
    """``segment`` percent-encoded for a URL path; object names almost never need it, and
    checking is several times cheaper than :func:`urllib.parse.quote`."""
    return segment if _UNRESERVED.issuperset(segment) else quote(segment, safe="")


@dataclass(frozen=True, slots=True)
class Resource:
    """How a resource is addressed: ``/api/v1/...`` for the core group, else
    ``/apis/<group>/<version>/...``."""

    group: str
    version: str
    plural: str
    namespaced: bool = True

    @property
    def prefix(self) -> str:
        """The group-version path prefix."""
        if self.group:
            return f"/apis/{self.group}/{self.version}"
        return f"/api/{self.version}"

    def path(self, namespace: str | None = None, name: str | None = None,
             subresource: str | None = None) -> str:
        """The URL path of the collection (no ``name``) or of one object."""
        parts = [self.prefix]
        if self.namespaced and namespace:
            parts.append(f"/namespaces/{_quote(namespace)}")
        elif not self.namespaced and namespace:
            raise ValueError(f"{self.plural} is cluster-scoped; no namespace allowed")
        parts.append(f"/{self.plural}")
        if name is not None:
            if not name:
                raise ValueError("an empty name addresses no object")
            parts.append(f"/{_quote(name)}")
        if subresource:
            if name is None:
                raise ValueError("a subresource needs an object name")
            parts.append(f"/{subresource}")
        return "".join(parts)


# The built-in resources kubesmith's components use.
NAMESPACES = Resource("", "v1", "namespaces", namespaced=False)
NODES = Resource("", "v1", "nodes", namespaced=False)
PODS = Resource("", "v1", "pods")
SERVICES = Resource("", "v1", "services")
ENDPOINTS = Resource("", "v1", "endpoints")
CONFIGMAPS = Resource("", "v1", "configmaps")
SECRETS = Resource("", "v1", "secrets")
EVENTS = Resource("", "v1", "events")
SERVICEACCOUNTS = Resource("", "v1", "serviceaccounts")
REPLICATIONCONTROLLERS = Resource("", "v1", "replicationcontrollers")
PERSISTENTVOLUMES = Resource("", "v1", "persistentvolumes", namespaced=False)
PERSISTENTVOLUMECLAIMS = Resource("", "v1", "persistentvolumeclaims")
RESOURCEQUOTAS = Resource("", "v1", "resourcequotas")
LIMITRANGES = Resource("", "v1", "limitranges")
DEPLOYMENTS = Resource("apps", "v1", "deployments")
REPLICASETS = Resource("apps", "v1", "replicasets")
DAEMONSETS = Resource("apps", "v1", "daemonsets")
STATEFULSETS = Resource("apps", "v1", "statefulsets")
CONTROLLERREVISIONS = Resource("apps", "v1", "controllerrevisions")
JOBS = Resource("batch", "v1", "jobs")
CRONJOBS = Resource("batch", "v1", "cronjobs")
LEASES = Resource("coordination.k8s.io", "v1", "leases")
ENDPOINTSLICES = Resource("discovery.k8s.io", "v1", "endpointslices")
STORAGECLASSES = Resource("storage.k8s.io", "v1", "storageclasses", namespaced=False)
CSINODES = Resource("storage.k8s.io", "v1", "csinodes", namespaced=False)
PRIORITYCLASSES = Resource("scheduling.k8s.io", "v1", "priorityclasses", namespaced=False)
PODDISRUPTIONBUDGETS = Resource("policy", "v1", "poddisruptionbudgets")
HORIZONTALPODAUTOSCALERS = Resource("autoscaling", "v2", "horizontalpodautoscalers")


@dataclass(slots=True)
class ApiError(StatusError):
    """A failure the API server reported as a ``Status`` (or a bare HTTP error).

    ``code``, ``reason``, ``message`` and ``details`` are those of the Status; ``status``
    is the whole Status object as received.
    """

    status: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_status(cls, status: Mapping[str, Any], http_code: int = 0) -> ApiError:
        """Build from a decoded Status object."""
        code = status.get("code")
        return cls(code=int(code) if isinstance(code, int) else http_code,
                   reason=str(status.get("reason") or ""),
                   message=str(status.get("message") or ""),
                   details=status.get("details"),
                   status=dict(status))


@dataclass(slots=True)
class ListResult:
    """One page of a LIST."""

    items: list[Obj]
    resource_version: str
    continue_: str | None
    kind: str = ""
    api_version: str = ""


def _clean(params: Mapping[str, object]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in params.items():
        if value is None or value == "":
            continue
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        else:
            out[key] = str(value)
    return out


def _error_from_body(http_code: int, http_reason: str, body: bytes) -> ApiError:
    try:
        decoded = orjson.loads(body)
    except orjson.JSONDecodeError:
        decoded = None
    if isinstance(decoded, dict) and decoded.get("kind") == "Status":
        return ApiError.from_status(decoded, http_code)
    text = body.decode("utf-8", "replace").strip() or http_reason
    return ApiError(code=http_code, reason=http_reason.replace(" ", ""), message=text,
                    status={"kind": "Status", "apiVersion": "v1", "status": "Failure",
                            "code": http_code, "message": text})


# -- lean requests ---------------------------------------------------------------------------

#: A lean connection unused this long is closed rather than reused: the server drops idle
#: keep-alive connections (aiohttp's default: after 75 s), and a request written onto a
#: connection the server is closing would fail although nothing was wrong.
_LEAN_IDLE_SECONDS = 15.0
#: Idle lean connections kept per client; callers bound their own concurrency.
_LEAN_MAX_IDLE = 256
_LEAN_CONNECT_SECONDS = 10.0
_LEAN_READ_SECONDS = 60.0


@dataclass(slots=True)
class _LeanResponse:
    status: int
    reason: str
    body: bytes


class _LeanConnection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection with at most one request in flight: collects the
    response (``Content-Length`` or chunked) and resolves the request's future."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._buffer = bytearray()
        self._waiter: asyncio.Future[_LeanResponse] | None = None
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TLS transport is a transport without subclassing asyncio.Transport.
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        response = None
        if self._waiter is not None and self._buffer:
            with contextlib.suppress(ValueError):
                response = self._parse(at_eof=True)
        self._finish(response or aiohttp.ServerDisconnectedError(
            "the API server closed the connection"))

    def send(self, data: bytes, loop: asyncio.AbstractEventLoop
             ) -> asyncio.Future[_LeanResponse]:
        """Write one request; the future resolves with its response."""
        assert self.transport is not None
        waiter = self._waiter = loop.create_future()
        self._timer = loop.call_later(_LEAN_READ_SECONDS, self._timed_out)
        self.transport.write(data)
        return waiter

    def _timed_out(self) -> None:
        self._timer = None
        self.close()
        self._finish(aiohttp.ServerTimeoutError("timeout reading the API server's answer"))

    def close(self) -> None:
        """Close the connection (an answer still expected fails)."""
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _finish(self, result: _LeanResponse | BaseException) -> None:
        waiter, self._waiter = self._waiter, None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if waiter is None or waiter.done():
            return
        if isinstance(result, BaseException):
            waiter.set_exception(result)
        else:
            waiter.set_result(result)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        try:
            response = self._parse()
        except ValueError as exc:
            self.close()
            self._finish(aiohttp.ClientPayloadError(f"malformed answer: {exc}"))
            return
        if response is not None:
            self._finish(response)

    def _parse(self, at_eof: bool = False) -> _LeanResponse | None:
        buf = self._buffer
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return None
        # Only three headers matter; finding them in the lower-cased block is cheaper than
        # splitting every header line.
        head = bytes(buf[:end + 2]).lower()
        status_end = head.find(b"\r\n")
        version, _, rest = head[:status_end].partition(b" ")
        code, _, _ = rest.partition(b" ")
        reason = bytes(buf[len(version) + len(code) + 2:status_end]).decode("latin-1")
        length = int(_header(head, b"content-length") or -1)
        chunked = b"chunked" in _header(head, b"transfer-encoding")
        keep_alive = version == b"http/1.1" and _header(head, b"connection") != b"close"
        start = end + 4
        if chunked:
            decoded = _dechunk(buf, start)
            if decoded is None:
                return None
            body, used = decoded
        elif length >= 0 or code in (b"204", b"304") or code.startswith(b"1"):
            length = max(length, 0)
            if len(buf) < start + length:
                return None
            body, used = bytes(buf[start:start + length]), start + length
        elif at_eof:
            body, used = bytes(buf[start:]), len(buf)  # the body ended with the connection
        else:
            return None
        del buf[:used]
        if not keep_alive:
            self.close()
        return _LeanResponse(int(code), reason.strip(), body)


def _header(head: bytes, name: bytes) -> bytes:
    """The value of header ``name`` in a lower-cased header block (lines ending in CRLF),
    or b"" when absent."""
    at = head.find(b"\r\n" + name + b":")
    if at < 0:
        return b""
    at += len(name) + 3
    return head[at:head.find(b"\r\n", at)].strip()


def _dechunk(buf: bytearray, pos: int) -> tuple[bytes, int] | None:
    """A complete chunked body starting at ``pos``: (body, bytes used), or None if more
    must arrive first."""
    body = bytearray()
    while True:
        line_end = buf.find(b"\r\n", pos)
        if line_end < 0:
            return None
        size = int(bytes(buf[pos:line_end]).split(b";")[0], 16)
        if size == 0:
            # Trailer fields (none in practice), then the empty line.
            trailer_end = buf.find(b"\r\n\r\n", line_end)
            return None if trailer_end < 0 else (bytes(body), trailer_end + 4)
        chunk_start = line_end + 2
        if len(buf) < chunk_start + size + 2:
            return None
        body += buf[chunk_start:chunk_start + size]
        pos = chunk_start + size + 2


class _LeanPool:
    """The idle lean connections of one client (most recently used first)."""

    def __init__(self, base_url: str, ssl_context: ssl.SSLContext | bool,
                 server_hostname: str | None) -> None:
        url = urlsplit(base_url)
        self.https = url.scheme == "https"
        self.host = url.hostname or "localhost"
        self.port = url.port or (443 if self.https else 80)
        self.netloc = url.netloc
        self.path_prefix = url.path.rstrip("/")
        self.ssl: ssl.SSLContext | None = None
        if self.https:
            if isinstance(ssl_context, ssl.SSLContext):
                self.ssl = ssl_context
            else:
                self.ssl = ssl.create_default_context()
                if ssl_context is False:  # aiohttp's meaning: do not verify
                    self.ssl.check_hostname = False
                    self.ssl.verify_mode = ssl.CERT_NONE
        self.server_hostname = (server_hostname or self.host) if self.https else None
        self.idle: list[_LeanConnection] = []

    async def acquire(self) -> _LeanConnection:
        """A live idle connection, or a new one."""
        idle = self.idle
        now = time.monotonic()
        while idle:
            conn = idle.pop()
            if not conn.closed and now - conn.idle_since < _LEAN_IDLE_SECONDS:
                return conn
            conn.close()
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(_LEAN_CONNECT_SECONDS):
                _, conn = await loop.create_connection(
                    _LeanConnection, self.host, self.port, ssl=self.ssl,
                    server_hostname=self.server_hostname)
        except TimeoutError as exc:
            raise aiohttp.ServerTimeoutError(
                f"connecting to {self.netloc} timed out") from exc
        except OSError as exc:
            raise aiohttp.ClientConnectionError(
                f"cannot connect to {self.netloc}: {exc}") from exc
        return conn

    def release(self, conn: _LeanConnection) -> None:
        """Return a connection whose request is answered."""
        if conn.closed or len(self.idle) >= _LEAN_MAX_IDLE:
            conn.close()
            return
        conn.idle_since = time.monotonic()
        self.idle.append(conn)

    def close(self) -> None:
        """Close every idle connection."""
        idle, self.idle = self.idle, []
        for conn in idle:
            conn.close()


class Client:
    """An async client for one API server (see the module docstring for concurrency).

    Use as ``async with Client.from_kubeconfig(path) as client: ...`` or call
    :meth:`close` when done.
    """

    def __init__(self, config: ClientConfig, *, owns_config: bool = False,
                 user_agent: str = "kubesmith-client") -> None:
        self.config = config
        self._owns_config = owns_config
        self._headers = {"Accept": "application/json", "User-Agent": user_agent,
                         **config.headers}
        self._session: aiohttp.ClientSession | None = None
        self._lean: _LeanPool | None = None
        self._lean_headers: bytes | None = None
        self._closed = False

    @classmethod
    def from_kubeconfig(cls, path: str | None = None, context: str | None = None,
                        **kwargs: Any) -> Client:
        """A client for ``context`` (default: current) of the kubeconfig at ``path``."""
        return cls(load_kubeconfig(path, context), owns_config=True, **kwargs)

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the session (and its connections) and any owned kubeconfig temp files."""
        self._closed = True
        if self._lean is not None:
            self._lean.close()
            self._lean = None
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._owns_config:
            self.config.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        """The one shared session, created on first use."""
        if self._closed:
            raise RuntimeError("client is closed")
        if self._session is None:
            sslarg: ssl.SSLContext | bool = self.config.ssl_context
            connector = aiohttp.TCPConnector(ssl=sslarg, keepalive_timeout=60, limit=0)
            self._session = aiohttp.ClientSession(
                connector=connector, headers=self._headers,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=60))
        return self._session

    def set_bearer_token(self, token: str) -> None:
        """Authenticate later requests with ``token`` (a refreshed ServiceAccount token);
        requests already sent keep the old one."""
        value = f"Bearer {token}"
        self._headers["Authorization"] = value
        self._lean_headers = None
        if self._session is not None:
            self._session.headers["Authorization"] = value

    def _url(self, path: str) -> str:
        return self.config.base_url + path

    async def request(self, method: str, path: str, *, params: Mapping[str, object] | None
                      = None, body: bytes | None = None,
                      content_type: str = "application/json") -> Any:
        """Send one request and return the decoded JSON body; raise :class:`ApiError` on a
        non-2xx response."""
        headers = {"Content-Type": content_type} if body is not None else None
        async with self.session.request(
                method, self._url(path), params=_clean(params or {}), data=body,
                headers=headers, server_hostname=self.config.tls_server_name) as resp:
            data = await resp.read()
            if resp.status >= 300:
                raise _error_from_body(resp.status, resp.reason or "", data)
            if not data:
                return {}
            return orjson.loads(data)

    async def lean_request(self, method: str, path: str, *, body: bytes | None = None,
                           content_type: str = "application/json") -> Any:
        """:meth:`request` for small, frequent requests (bindings, Events) on the client's
        lean keep-alive connections (see the module docstring): the decoded JSON answer,
        :class:`ApiError` on a non-2xx one, an :class:`aiohttp.ClientError` when the
        connection fails. ``path`` carries any query string itself."""
        if self._closed:
            raise RuntimeError("client is closed")
        pool = self._lean
        if pool is None:
            pool = self._lean = _LeanPool(self.config.base_url, self.config.ssl_context,
                                          self.config.tls_server_name)
        fixed = self._lean_headers
        if fixed is None:
            fixed = self._lean_headers = "".join(
                f"{name}: {value}\r\n" for name, value in
                {"Host": pool.netloc, **self._headers}.items()).encode("latin-1")
        head = f"{method} {pool.path_prefix}{path} HTTP/1.1\r\n"
        if body is not None:
            head += f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
        data = head.encode("latin-1") + fixed + b"\r\n" + (body or b"")
        conn = await pool.acquire()
        try:
            response = await conn.send(data, asyncio.get_running_loop())
        except BaseException:
            conn.close()  # cancelled or broken mid-request: the stream is out of step
            raise
        pool.release(conn)
        if response.status >= 300:
            raise _error_from_body(response.status, response.reason, response.body)
        return orjson.loads(response.body) if response.body else {}

    # -- verbs ---------------------------------------------------------------------------

    async def get(self, resource: Resource, name: str, namespace: str | None = None, *,
                  subresource: str | None = None) -> Obj:
        """GET one object."""
        result: Obj = await self.request("GET", resource.path(namespace, name, subresource))
        return result

    async def list(self, resource: Resource, namespace: str | None = None, *,
                   label_selector: str | None = None, field_selector: str | None = None,
                   limit: int | None = None, continue_: str | None = None,
                   resource_version: str | None = None) -> ListResult:
        """LIST one page (all namespaces when ``namespace`` is None)."""
        data = await self.request("GET", resource.path(namespace), params={
            "labelSelector": label_selector, "fieldSelector": field_selector,
            "limit": limit, "continue": continue_, "resourceVersion": resource_version})
        meta = data.get("metadata") or {}
        return ListResult(items=data.get("items") or [],
                          resource_version=str(meta.get("resourceVersion") or ""),
                          continue_=meta.get("continue") or None,
                          kind=str(data.get("kind") or ""),
                          api_version=str(data.get("apiVersion") or ""))

    async def list_all(self, resource: Resource, namespace: str | None = None, *,
                       label_selector: str | None = None, field_selector: str | None = None,
                       page_size: int = 500) -> AsyncIterator[Obj]:
        """Every item of a LIST, following ``continue`` tokens page by page."""
        token: str | None = None
        while True:
            page = await self.list(resource, namespace, label_selector=label_selector,
                                   field_selector=field_selector, limit=page_size,
                                   continue_=token)
            for item in page.items:
                yield item
            token = page.continue_
            if not token:
                return

    async def create(self, resource: Resource, body: Obj, namespace: str | None = None, *,
                     dry_run: bool = False, field_manager: str | None = None) -> Obj:
        """POST a new object; ``namespace`` defaults to ``body.metadata.namespace``."""
        ns = namespace or self._namespace_of(resource, body)
        result: Obj = await self.request(
            "POST", resource.path(ns), body=orjson.dumps(body),
            params={"dryRun": "All" if dry_run else None, "fieldManager": field_manager})
        return result

    async def replace(self, resource: Resource, body: Obj, namespace: str | None = None, *,
                      name: str | None = None, subresource: str | None = None,
                      dry_run: bool = False, field_manager: str | None = None) -> Obj:
        """PUT an object (compare-and-swap when ``metadata.resourceVersion`` is set)."""
        ns = namespace or self._namespace_of(resource, body)
        obj_name = name or (body.get("metadata") or {}).get("name") or ""
        result: Obj = await self.request(
            "PUT", resource.path(ns, obj_name, subresource), body=orjson.dumps(body),
            params={"dryRun": "All" if dry_run else None, "fieldManager": field_manager})
        return result

    async def patch(self, resource: Resource, name: str, patch: Any,
                    namespace: str | None = None, *, patch_type: PatchType = "merge",
                    subresource: str | None = None, dry_run: bool = False,
                    field_manager: str | None = None, force: bool | None = None) -> Obj:
        """PATCH an object; ``patch`` is a dict/list (JSON-encoded) or ready bytes.

        Server-side apply (``patch_type="apply"``) requires ``field_manager``.
        """
        if patch_type == "apply" and not field_manager:
            raise ValueError("server-side apply needs a field_manager")
        body = patch if isinstance(patch, bytes) else orjson.dumps(patch)
        result: Obj = await self.request(
            "PATCH", resource.path(namespace, name, subresource), body=body,
            content_type=PATCH_CONTENT_TYPES[patch_type],
            params={"dryRun": "All" if dry_run else None, "fieldManager": field_manager,
                    "force": force})
        return result

    async def delete(self, resource: Resource, name: str, namespace: str | None = None, *,
                     propagation_policy: str | None = None,
                     grace_period_seconds: int | None = None,
                     preconditions: Mapping[str, str] | None = None,
                     dry_run: bool = False) -> Obj:
        """DELETE an object; returns the deleted (or finalizing) object, or a Success
        Status."""
        options: dict[str, Any] = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if propagation_policy:
            options["propagationPolicy"] = propagation_policy
        if grace_period_seconds is not None:
            options["gracePeriodSeconds"] = grace_period_seconds
        if preconditions:
            options["preconditions"] = dict(preconditions)
        if dry_run:
            options["dryRun"] = ["All"]
        result: Obj = await self.request("DELETE", resource.path(namespace, name),
                                         body=orjson.dumps(options))
        return result

    async def watch(self, resource: Resource, namespace: str | None = None, *,
                    resource_version: str | None = None, label_selector: str | None = None,
                    field_selector: str | None = None, allow_bookmarks: bool = True,
                    timeout_seconds: int | None = None, name: str | None = None,
                    ) -> AsyncIterator[tuple[str, Obj]]:
        """WATCH: yield ``(type, object)`` for ADDED, MODIFIED, DELETED and BOOKMARK events
        until the server ends the stream; an ERROR event raises :class:`ApiError` (410
        ``Expired`` when ``resource_version`` is too old).

        ``name`` restricts the watch to one object (a ``metadata.name`` field selector).
        The connection is released when the generator finishes; a consumer that stops early
        should close it promptly with ``contextlib.aclosing``.
        """
        if name:
            name_sel = f"metadata.name={name}"
            field_selector = f"{field_selector},{name_sel}" if field_selector else name_sel
        params = _clean({"watch": "true", "resourceVersion": resource_version,
                         "labelSelector": label_selector, "fieldSelector": field_selector,
                         "allowWatchBookmarks": True if allow_bookmarks else None,
                         "timeoutSeconds": timeout_seconds})
        # No read timeout beyond the server's own: a quiet watch is not a dead one, and the
        # server sends bookmarks periodically when asked.
        sock_read = None if timeout_seconds is None else timeout_seconds + 30
        async with self.session.get(
                self._url(resource.path(namespace)), params=params,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=sock_read),
                server_hostname=self.config.tls_server_name) as resp:
            if resp.status >= 300:
                raise _error_from_body(resp.status, resp.reason or "", await resp.read())
            # One split per chunk: a busy watch delivers chunks of many events, and
            # slicing each line off the front would copy the rest of the chunk per event.
            partial = b""
            async for chunk in resp.content.iter_any():
                lines = (partial + chunk if partial else chunk).split(b"\n")
                partial = lines.pop()
                for line in lines:
                    if line and not line.isspace():
                        yield _event(line)
            if partial.strip():
                yield _event(partial)

    @staticmethod
    def _namespace_of(resource: Resource, body: Obj) -> str | None:
        if not resource.namespaced:
            return None
        ns = (body.get("metadata") or {}).get("namespace")
        if not ns:
            raise ValueError(f"namespaced {resource.plural}: no namespace given or in metadata")
        return str(ns)


def _event(line: bytes) -> tuple[str, Obj]:
    event = orjson.loads(line)
    kind = event.get("type")
    obj = event.get("object") or {}
    if kind == "ERROR":
        raise ApiError.from_status(obj, int(obj.get("code") or 500))
    return str(kind), obj
