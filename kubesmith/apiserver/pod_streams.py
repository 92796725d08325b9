"""``pods/log``, ``pods/exec``, ``pods/attach``, ``pods/portforward`` and ``nodes/proxy``:
requests the API server answers by reaching the node agent (the kubelet API, port 10250).

Authentication and authorization already happened in the request pipeline. A WebSocket
upgrade (``GET``, which the pipeline authorizes as ``get``) must also be allowed to
``create`` the subresource, as upstream requires since 1.35
(AuthorizePodWebsocketUpgradeCreatePermission): SPDY upgrades are ``POST`` and so
``create`` already.

The agent is found through the pod's node: the first of its ``InternalIP``,
``ExternalIP``, ``Hostname`` addresses and ``status.daemonEndpoints.kubeletEndpoint.Port``
(10250 when unset). The API server connects with its ``kube-apiserver-kubelet-client``
certificate and checks the agent's serving certificate against the cluster CA.

Logs are proxied as plain HTTP (a follow streams until either side ends). Upgraded
connections (exec, attach, port-forward: WebSocket or SPDY) are relayed byte for byte: the
API server forwards the client's upgrade request to the agent, and when the agent switches
protocols the API server answers the client with the agent's 101 and copies bytes both ways
(upstream's ExtendWebSocketsToKubelet: the same protocol on both legs, the agent speaks
it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
import orjson
from aiohttp import web

from kubesmith.agent.server.hijack import accept_upgrade
from kubesmith.api import errors
from kubesmith.api.types import Obj
from kubesmith.apiserver import handlers
from kubesmith.apiserver.authz import Attributes, Decision

log = logging.getLogger("kubesmith.apiserver.pod_streams")

KUBELET_PORT = 10250
ADDRESS_PREFERENCE = ("InternalIP", "ExternalIP", "Hostname", "InternalDNS", "ExternalDNS")
CONNECT_TIMEOUT = 10.0
#: How long the other direction of a relayed connection may go on once one ended.
RELAY_CLOSE_GRACE = 5.0
_MAX_HEAD = 64 * 1024
_MAX_ERROR_BODY = 64 * 1024
# Request headers an upgrade needs on the agent leg; everything else (credentials above
# all) stays with the API server.
_UPGRADE_HEADERS = ("Upgrade", "Sec-WebSocket-Key", "Sec-WebSocket-Version",
                    "Sec-WebSocket-Protocol", "Sec-WebSocket-Extensions",
                    "X-Stream-Protocol-Version", "User-Agent")
_HOP_BY_HOP = frozenset({"date", "server", "content-length", "transfer-encoding",
                         "keep-alive"})


@dataclass
class KubeletConnector:
    """How the API server reaches agents: its client certificate and the CA their serving
    certificates must chain to (None: do not verify, as upstream without
    ``--kubelet-certificate-authority``)."""

    cert: Path
    key: Path
    ca: Path | None
    _context: ssl.SSLContext | None = field(default=None, repr=False)

    @classmethod
    def from_pki(cls, pki_dir: Path, kubelet_ca: Path | None = None) -> KubeletConnector:
        # Agents serve self-signed certificates (as kubelets do without --tls-cert-file),
        # so the agent's certificate is checked only against a CA given for it
        # (upstream's --kubelet-certificate-authority); the agent in turn requires our
        # CA-signed kubelet-client certificate.
        return cls(pki_dir / "apiserver-kubelet-client.crt",
                   pki_dir / "apiserver-kubelet-client.key", kubelet_ca)

    def ssl_context(self) -> ssl.SSLContext:
        if self._context is None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            if self.ca is None:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            else:
                ctx.load_verify_locations(self.ca)
            ctx.load_cert_chain(self.cert, self.key)
            self._context = ctx
        return self._context


KUBELET = web.AppKey("kubelet-connector", KubeletConnector)


Handler = Callable[[handlers.RequestContext], Awaitable[web.StreamResponse]]


def handler_for(subresource: str, verb: str) -> Handler | None:
    """The handler of a pod's streaming subresource, or None."""
    if subresource == "log" and verb == "get":
        return pod_log
    if subresource in ("exec", "attach", "portforward") and verb in ("get", "create"):
        return pod_connect
    return None


# ---- finding the agent -------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class AgentEndpoint:
    host: str
    port: int

    def url(self, path: str) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.port}{path}"


async def _get(ctx: handlers.RequestContext, kind: str, namespace: str | None,
               name: str) -> Obj:
    store = ctx.server.resources.for_kind("", kind)
    if store is None:
        raise errors.internal_error(f"{kind} objects are not served")
    return (await store.get(namespace, name)).obj


def node_endpoint(node: Obj) -> AgentEndpoint:
    status = node.get("status") or {}
    addresses = {a.get("type"): a.get("address") for a in status.get("addresses") or []
                 if isinstance(a, dict)}
    for kind in ADDRESS_PREFERENCE:
        if addresses.get(kind):
            host = str(addresses[kind])
            break
    else:
        known = [f"{k}:{v}" for k, v in addresses.items()]
        # Upstream answers 500 here; the server is fine, the node is not reachable (yet):
        # a 503 tells clients to retry, as they should while the agent registers.
        raise errors.service_unavailable(
            f"no preferred addresses found; known addresses: {known}")
    port = ((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port")
    return AgentEndpoint(host, int(port) if port else KUBELET_PORT)


def _container_names(containers: Any) -> list[str]:
    return [str(c.get("name")) for c in containers or [] if isinstance(c, dict)]


def choose_container(pod: Obj, requested: str) -> str:
    """The container a request is about: the one named (it must exist), or the pod's only
    container (upstream's wording when neither holds)."""
    spec = pod.get("spec") or {}
    name = pod["metadata"]["name"]
    containers = _container_names(spec.get("containers"))
    if requested:
        known = containers + _container_names(spec.get("initContainers")) + \
            _container_names(spec.get("ephemeralContainers"))
        if requested not in known:
            raise errors.bad_request(f"container {requested} is not valid for pod {name}")
        return requested
    if len(containers) == 1:
        return containers[0]
    if not containers:
        raise errors.bad_request(f"a container name must be specified for pod {name}")
    message = (f"a container name must be specified for pod {name}, choose one of: "
               f"[{' '.join(containers)}]")
    init = _container_names(spec.get("initContainers"))
    if init:
        message += f" or one of the init containers: [{' '.join(init)}]"
    raise errors.bad_request(message)


def _agent_error(code: int, body: bytes, resource: str, name: str) -> errors.StatusError:
    """An agent's refusal as the API server reports it (upstream's response checker): a
    Status the agent sent is kept; text becomes BadRequest / InternalError / a generic
    error naming the resource."""
    with contextlib.suppress(ValueError):
        status = orjson.loads(body)
        if isinstance(status, dict) and status.get("kind") == "Status":
            return errors.StatusError(code, str(status.get("reason", "")),
                                      str(status.get("message", "")), status.get("details"))
    text = body.decode("utf-8", "replace").strip()
    if code == 400:
        return errors.bad_request(text)
    if code == 500:
        return errors.internal_error(text)
    if code == 403:
        return errors.StatusError(403, "Forbidden", text)
    if code == 404:
        return errors.StatusError(404, "NotFound", "the server could not find the requested "
                                  f"resource ( {resource} {name})")
    return errors.StatusError(code, "InternalError" if code >= 500 else "",
                              f'an error on the server ("{text}") has prevented the request '
                              f"from succeeding ( {resource} {name})")


def _unreachable(endpoint: AgentEndpoint, exc: BaseException) -> errors.StatusError:
    return errors.StatusError(500, "", f"error dialing backend: dial tcp "
                                       f"{endpoint.host}:{endpoint.port}: {exc}")


# ---- pods/log ----------------------------------------------------------------------------

def _log_query(ctx: handlers.RequestContext, name: str) -> dict[str, str]:
    """PodLogOptions from the query, validated as upstream does, in the kubelet's form."""
    query = ctx.query
    problems = []
    out: dict[str, str] = {}
    for flag in ("follow", "previous", "timestamps"):
        if ctx.flag(flag):
            out[flag] = "true"
    for key, minimum, detail in (("tailLines", 0, "must be greater than or equal to 0"),
                                 ("limitBytes", 1, "must be greater than 0"),
                                 ("sinceSeconds", 1, "must be greater than 0")):
        text = query.get(key)
        if text is None or text == "":
            continue
        try:
            value = int(text)
        except ValueError:
            raise errors.bad_request(f'{key}: Invalid value: "{text}": must be an '
                                     "integer") from None
        # Both since* at once is one error of its own (below), as upstream reports it.
        if value < minimum and not (key == "sinceSeconds" and query.get("sinceTime")):
            problems.append(errors.invalid(key, value, detail))
        out[key] = str(value)
    if query.get("sinceTime"):
        if "sinceSeconds" in out:
            problems.append(errors.field_forbidden(
                "", "at most one of `sinceTime` or `sinceSeconds` may be specified"))
        out["sinceTime"] = query["sinceTime"]
    stream = query.get("stream")
    if stream:
        if stream not in ("All", "Stdout", "Stderr"):
            problems.append(errors.not_supported("stream", stream,
                                                 ["All", "Stderr", "Stdout"]))
        elif stream != "All" and "tailLines" in out:
            problems.append(errors.field_forbidden(
                "", "`tailLines` and specific `stream` are mutually exclusive for now"))
        out["stream"] = stream
    if problems:
        raise errors.invalid_object("PodLogOptions", name, problems)
    return out


async def pod_log(ctx: handlers.RequestContext) -> web.StreamResponse:
    name = ctx.info.name
    query = _log_query(ctx, name)
    pod = await _get(ctx, "Pod", ctx.info.namespace, name)
    container = choose_container(pod, ctx.query.get("container", ""))
    node_name = (pod.get("spec") or {}).get("nodeName")
    headers = {"Content-Type": "text/plain", "Cache-Control": "no-cache, private"}
    if not node_name:
        # Not scheduled yet: nothing logged (upstream answers an empty body).
        return web.Response(body=b"", headers=headers)
    endpoint = node_endpoint(await _get(ctx, "Node", None, node_name))
    path = (f"/containerLogs/{quote(ctx.info.namespace, safe='')}/{quote(name, safe='')}/"
            f"{quote(container, safe='')}")
    if query:
        path += "?" + urlencode(query)
    connector = ctx.request.app[KUBELET]
    ssl_ctx = connector.ssl_context()
    if ctx.flag("insecureSkipTLSVerifyBackend"):
        ssl_ctx = _insecure(connector)
    return await _proxy_http(ctx, endpoint, path, ssl_ctx, headers=headers,
                             errors_as=("pods/log", name))


async def _proxy_http(ctx: handlers.RequestContext, endpoint: AgentEndpoint, path: str,
                      ssl_ctx: ssl.SSLContext, *, method: str = "GET", body: bytes = b"",
                      forward: dict[str, str] | None = None,
                      headers: dict[str, str] | None = None,
                      errors_as: tuple[str, str] | None = None) -> web.StreamResponse:
    """Send a request to the agent and stream its answer back (a log follow lasts as long
    as either side wants). With ``errors_as`` (resource, name) an agent's error becomes a
    Status; without it the answer is relayed whatever its code, with the agent's
    headers unless ``headers`` are given."""
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        try:
            upstream = await session.request(method, endpoint.url(path), data=body or None,
                                             headers=forward, ssl=ssl_ctx)
        except (aiohttp.ClientError, OSError) as exc:
            raise _unreachable(endpoint, exc) from None
        async with upstream:
            if errors_as is not None and not 200 <= upstream.status < 300:
                text = await upstream.content.read(_MAX_ERROR_BODY)
                raise _agent_error(upstream.status, text, *errors_as)
            if headers is None:
                headers = {k: v for k, v in upstream.headers.items()
                           if k.lower() not in _HOP_BY_HOP}
            response = web.StreamResponse(status=upstream.status, headers=headers)
            response.enable_chunked_encoding()
            await response.prepare(ctx.request)
            with contextlib.suppress(aiohttp.ClientPayloadError, ConnectionResetError):
                async for chunk in upstream.content.iter_any():
                    await response.write(chunk)
            await response.write_eof()
            return response


def _insecure(connector: KubeletConnector) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.load_cert_chain(connector.cert, connector.key)
    return ctx


# ---- exec, attach, portforward -----------------------------------------------------------

async def _require_create(ctx: handlers.RequestContext) -> None:
    info = ctx.info
    attrs = Attributes(ctx.user, "create", True, info.path, info.group, info.version,
                       info.resource, info.subresource, info.namespace, info.name)
    decision, reason = await ctx.server.authz.authorize(attrs)
    if decision is not Decision.ALLOW:
        raise errors.forbidden_request(ctx.user.name, "create",
                                       f"{info.resource}/{info.subresource}", info.group,
                                       info.name, info.namespace, reason)


def _connect_query(ctx: handlers.RequestContext) -> str:
    """PodExecOptions / PodAttachOptions / PodPortForwardOptions in the kubelet's form."""
    sub = ctx.info.subresource
    params: list[tuple[str, str]] = []
    if sub in ("exec", "attach"):
        for flag in ("stdin", "stdout", "stderr", "tty"):
            if ctx.flag(flag):
                params.append((flag, "1"))
        if sub == "exec":
            params += [("command", c) for c in ctx.query.getall("command", [])]
    else:
        ports = ctx.query.getall("ports", [])
        if ports:
            params.append(("port", ",".join(ports)))
    return urlencode(params)


async def pod_connect(ctx: handlers.RequestContext) -> web.StreamResponse:
    """exec, attach and portforward: relay the client's upgraded connection to the agent."""
    info = ctx.info
    if info.verb == "get":
        await _require_create(ctx)
    pod = await _get(ctx, "Pod", info.namespace, info.name)
    node_name = (pod.get("spec") or {}).get("nodeName")
    ns, name = quote(info.namespace, safe=""), quote(info.name, safe="")
    if info.subresource == "portforward":
        path = f"/portForward/{ns}/{name}"
    else:
        container = choose_container(pod, ctx.query.get("container", ""))
        path = f"/{info.subresource}/{ns}/{name}/{quote(container, safe='')}"
    if not node_name:
        raise errors.bad_request(f"pod {info.name} does not have a host assigned")
    if not _is_upgrade(ctx.request):
        raise errors.bad_request("Upgrade request required")
    endpoint = node_endpoint(await _get(ctx, "Node", None, node_name))
    query = _connect_query(ctx)
    return await relay_upgrade(ctx, endpoint, path + (f"?{query}" if query else ""),
                               f"pods/{info.subresource}")


def _is_upgrade(request: web.BaseRequest) -> bool:
    connection = request.headers.get("Connection", "").lower()
    return "upgrade" in connection and bool(request.headers.get("Upgrade"))


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, list[tuple[str, str]]]:
    head = await reader.readuntil(b"\r\n\r\n")
    if len(head) > _MAX_HEAD:
        raise ValueError("response head too large")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        raise ValueError(f"bad status line {lines[0]!r}")
    headers = []
    for line in lines[1:]:
        if ":" in line:
            key, value = line.split(":", 1)
            headers.append((key.strip(), value.strip()))
    return int(parts[1]), headers


async def relay_upgrade(ctx: handlers.RequestContext, endpoint: AgentEndpoint,
                        path_qs: str, resource: str) -> web.StreamResponse:
    """Send the client's upgrade request to the agent; on 101 splice the connections,
    otherwise answer with the agent's error."""
    request = ctx.request
    connector = request.app[KUBELET]
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(
            endpoint.host, endpoint.port, ssl=connector.ssl_context(),
            server_hostname=endpoint.host, limit=_MAX_HEAD), CONNECT_TIMEOUT)
    except (OSError, TimeoutError, ssl.SSLError) as exc:
        raise _unreachable(endpoint, exc) from None
    try:
        lines = [f"{request.method} {path_qs} HTTP/1.1",
                 f"Host: {endpoint.url('').split('://', 1)[1]}", "Connection: Upgrade",
                 "Content-Length: 0"]
        for key in _UPGRADE_HEADERS:
            lines += [f"{key}: {value}" for value in request.headers.getall(key, [])]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        await writer.drain()
        try:
            status, headers = await _read_head(reader)
        except (ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            raise _unreachable(endpoint, exc) from None
        if status != 101:
            body = await _read_error_body(reader, headers)
            raise _agent_error(status, body, resource, ctx.info.name)
        client = await accept_upgrade(request, {k: v for k, v in headers
                                                if k.lower() not in _HOP_BY_HOP})

        async def agent_to_client() -> None:
            while data := await reader.read(65536):
                await client.write(data)

        async def client_to_agent() -> None:
            while data := await client.read():
                writer.write(data)
                await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()

        tasks = [asyncio.ensure_future(agent_to_client()),
                 asyncio.ensure_future(client_to_agent())]
        try:
            _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            if pending:
                await asyncio.wait(pending, timeout=RELAY_CLOSE_GRACE)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await client.close()
        return client.response
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError, ConnectionError):
            await writer.wait_closed()


async def _read_error_body(reader: asyncio.StreamReader,
                           headers: list[tuple[str, str]]) -> bytes:
    length = next((v for k, v in headers if k.lower() == "content-length"), None)
    try:
        if length is not None and length.isdigit():
            return await reader.readexactly(min(int(length), _MAX_ERROR_BODY))
        return await reader.read(_MAX_ERROR_BODY)
    except (asyncio.IncompleteReadError, OSError, ssl.SSLError):
        return b""


# ---- nodes/proxy -------------------------------------------------------------------------

async def node_proxy(ctx: handlers.RequestContext) -> web.StreamResponse:
    """``/api/v1/nodes/<name>/proxy/<path>``: any request, relayed to the node's agent."""
    name = ctx.info.name
    endpoint = node_endpoint(await _get(ctx, "Node", None, name))
    marker = f"/nodes/{quote(name, safe='')}/proxy"
    raw = ctx.request.raw_path.split("?", 1)[0]
    path = raw.split(marker, 1)[1] if marker in raw else ""
    path = path or "/"
    if ctx.request.query_string:
        path += "?" + ctx.request.query_string
    if _is_upgrade(ctx.request):
        return await relay_upgrade(ctx, endpoint, path, "nodes/proxy")
    connector = ctx.request.app[KUBELET]
    forward = {k: v for k, v in ctx.request.headers.items()
               if k.lower() in ("accept", "content-type")}
    return await _proxy_http(ctx, endpoint, path, connector.ssl_context(),
                             method=ctx.request.method, body=await ctx.request.read(),
                             forward=forward)
