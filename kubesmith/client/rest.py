"""An async REST client for the Kubernetes API, the only way kubesmith components talk to
the API server.

Concurrency: one :class:`Client` owns one :class:`aiohttp.ClientSession` (created lazily on
first use, so on the loop that uses it) with keep-alive connections shared by every request
and watch of every task on that loop. Requests are independent coroutines; a watch holds one
connection for its lifetime and yields events as their lines arrive, so a slow consumer
applies back-pressure to the server through TCP rather than buffering in memory. Objects are
plain decoded JSON (:data:`kubesmith.api.types.Obj`): the wire format is the model.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote

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
            parts.append(f"/namespaces/{quote(namespace, safe='')}")
        elif not self.namespaced and namespace:
            raise ValueError(f"{self.plural} is cluster-scoped; no namespace allowed")
        parts.append(f"/{self.plural}")
        if name is not None:
            if not name:
                raise ValueError("an empty name addresses no object")
            parts.append(f"/{quote(name, safe='')}")
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
            buffer = b""
            async for chunk in resp.content.iter_any():
                buffer += chunk
                while True:
                    end = buffer.find(b"\n")
                    if end < 0:
                        break
                    line, buffer = buffer[:end], buffer[end + 1:]
                    if line.strip():
                        yield _event(line)
            if buffer.strip():
                yield _event(buffer)

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
