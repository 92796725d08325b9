"""The agent's HTTPS endpoint on port 10250: container logs, exec, attach, port-forward.

It is the kubelet's streaming API, which the API server proxies ``pods/log``,
``pods/exec``, ``pods/attach`` and ``pods/portforward`` to:

    GET  /healthz
    GET  /containerLogs/{namespace}/{pod}/{container}?follow&tailLines&sinceSeconds&...
    GET  /exec/{namespace}/{pod}/{container}?command=..&stdin&stdout&stderr&tty   (WebSocket)
    POST /exec/...                                                   (SPDY upgrade)
    GET|POST /attach/{namespace}/{pod}/{container}?stdin&stdout&stderr&tty
    GET|POST /portForward/{namespace}/{pod}                    (also spelled portforward)

Clients authenticate with a certificate signed by the cluster CA (mutual TLS; a
certificate from another CA fails the handshake) and the :class:`Authorizer` decides what
they may do; only ``/healthz`` needs no certificate. Errors are answered with a ``Status``
(the kubelet answers plain text; a Status reads better through the API server and
kubectl).
"""

from __future__ import annotations

import contextlib
import logging
import ssl
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from kubesmith.agent.server import channels, crilog, portforward, spdy_exec, ws_portforward
from kubesmith.agent.server.attach import AttachSession
from kubesmith.agent.server.bytestream import WebSocketByteStream
from kubesmith.agent.server.hijack import accept_upgrade
from kubesmith.agent.server.interfaces import (
    AllowIdentities,
    Authorizer,
    ClientIdentity,
    ContainerRuntime,
    ExecSession,
    LogLookup,
)
from kubesmith.agent.server.remotecommand import (
    StreamOptions,
    error_status,
    exit_status,
    relay,
    success_status,
)

log = logging.getLogger("kubesmith.agent.server")

DEFAULT_PORT = 10250
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_IDENTITY = web.RequestKey("identity", ClientIdentity)


class AgentError(Exception):
    """An error answered with a Status (code, reason, message)."""

    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message

    def response(self) -> web.Response:
        body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": self.message, "reason": self.reason, "code": self.code}
        return web.Response(status=self.code, body=orjson.dumps(body),
                            content_type="application/json")


def _bad_request(message: str) -> AgentError:
    return AgentError(400, "BadRequest", message)


def _not_found(message: str) -> AgentError:
    return AgentError(404, "NotFound", message)


class AgentServer:
    """The streaming server. ``runtime`` and ``logs`` are the agent's runtime and log
    layout (see :mod:`kubesmith.agent.server.interfaces`)."""

    def __init__(self, *, runtime_lookup: ContainerRuntime, log_dir_lookup: LogLookup,
                 client_ca: Path, cert: Path, key: Path,
                 authorizer: Authorizer | None = None) -> None:
        self.runtime = runtime_lookup
        self.logs = log_dir_lookup
        self.client_ca = client_ca
        self.cert = cert
        self.key = key
        self.authorizer: Authorizer = authorizer or AllowIdentities()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # ---- serving -----------------------------------------------------------------------
    def ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(self.cert, self.key)
        ctx.load_verify_locations(self.client_ca)
        # Optional so /healthz answers without one; a certificate that is presented must
        # verify against the cluster CA or the handshake fails.
        ctx.verify_mode = ssl.CERT_OPTIONAL
        return ctx

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._errors, self._authenticate])
        r = app.router
        r.add_get("/healthz", self.healthz)
        r.add_get("/containerLogs/{namespace}/{pod}/{container}", self.container_logs)
        for verb in ("exec", "attach"):
            handler = self.exec if verb == "exec" else self.attach
            for tail in ("{namespace}/{pod}/{container}", "{namespace}/{pod}/{uid}/{container}"):
                r.add_route("GET", f"/{verb}/{tail}", handler)
                r.add_route("POST", f"/{verb}/{tail}", handler)
        for prefix in ("portForward", "portforward"):
            for tail in ("{namespace}/{pod}", "{namespace}/{pod}/{uid}"):
                r.add_route("GET", f"/{prefix}/{tail}", self.port_forward)
                r.add_route("POST", f"/{prefix}/{tail}", self.port_forward)
        return app

    async def start(self, host: str = "0.0.0.0", port: int = DEFAULT_PORT) -> int:
        """Listen on ``host:port`` (0 picks a free port); returns the port."""
        self._runner = web.AppRunner(self.app(), access_log=None, handle_signals=False,
                                     handler_cancellation=True, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, ssl_context=self.ssl_context(),
                           reuse_address=True)
        await site.start()
        addresses = self._runner.addresses
        self.port = int(addresses[0][1]) if addresses else port
        log.info("agent server listening on https://%s:%d", host, self.port)
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ---- middleware --------------------------------------------------------------------
    @web.middleware
    async def _errors(self, request: web.Request, handler: _Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except AgentError as exc:
            return exc.response()
        except web.HTTPException as exc:
            return AgentError(exc.status, exc.reason, exc.text or exc.reason).response()
        except ConnectionError:
            raise
        except Exception:
            log.exception("agent server: internal error serving %s", request.path)
            return AgentError(500, "InternalError", "an unexpected error occurred; see the "
                              "agent log").response()

    @web.middleware
    async def _authenticate(self, request: web.Request, handler: _Handler
                            ) -> web.StreamResponse:
        if request.path == "/healthz":
            return await handler(request)
        identity = _identity(request)
        if identity is None:
            raise AgentError(401, "Unauthorized", "Unauthorized")
        verb = "create" if request.method == "POST" else "get"
        if not await self.authorizer.authorize(identity, verb, request.path):
            raise AgentError(403, "Forbidden", f'Forbidden (user={identity.user}, '
                             f'verb={verb}, path={request.path})')
        request[_IDENTITY] = identity
        return await handler(request)

    # ---- endpoints ---------------------------------------------------------------------
    async def healthz(self, request: web.Request) -> web.StreamResponse:
        return web.Response(text="ok")

    async def container_logs(self, request: web.Request) -> web.StreamResponse:
        ns, pod, container = (request.match_info[k] for k in ("namespace", "pod",
                                                               "container"))
        options, previous = parse_log_options(request.query)
        files = await self.logs.container_logs(ns, pod, container)
        if files is None:
            raise _not_found(f'container "{container}" in pod "{pod}" not found')
        path = files.previous if previous else files.current
        if path is None or not path.exists():
            if previous:
                raise _bad_request(f'previous terminated container "{container}" in pod '
                                   f'"{pod}" not found')
            raise _bad_request(f'container "{container}" in pod "{pod}" is waiting to '
                               "start: ContainerCreating")

        async def still_running() -> bool:
            if previous:
                return False
            now = await self.logs.container_logs(ns, pod, container)
            return now is not None and now.running and now.current == path

        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        async with contextlib.aclosing(crilog.stream_log(path, options,
                                                         still_running)) as chunks:
            async for chunk in chunks:
                await response.write(chunk)
        await response.write_eof()
        return response

    async def exec(self, request: web.Request) -> web.StreamResponse:
        ns, pod, container = (request.match_info[k] for k in ("namespace", "pod",
                                                               "container"))
        argv = request.query.getall("command", [])
        if not argv:
            raise _bad_request("you must specify at least one command for the container")
        opts = _stream_options(request)
        ref = await self.runtime.find_container(ns, pod, container)
        if ref is None:
            raise _not_found(f'container "{container}" in pod "{pod}" is not running')

        async def start() -> ExecSession:
            return await self.runtime.exec_process(ref.id, argv, tty=opts.tty,
                                                   stdin=opts.stdin)

        return await self._serve_command(request, opts, start,
                                         lambda code: exit_status(argv, code))

    async def attach(self, request: web.Request) -> web.StreamResponse:
        ns, pod, container = (request.match_info[k] for k in ("namespace", "pod",
                                                               "container"))
        opts = _stream_options(request)
        ref = await self.runtime.find_container(ns, pod, container)
        if ref is None:
            raise _not_found(f'container "{container}" in pod "{pod}" is not running')
        socket_path = self.runtime.attach_socket(ref.id)
        fifo = self.runtime.control_fifo(ref.id)

        async def start() -> ExecSession:
            return await AttachSession.connect(socket_path, fifo)

        return await self._serve_command(request, opts, start, lambda _code: success_status())

    async def _serve_command(self, request: web.Request, opts: StreamOptions,
                             start: Any, status_of: Any) -> web.StreamResponse:
        if _is_websocket(request):
            ws = web.WebSocketResponse(protocols=channels.PROTOCOLS, autoping=True,
                                       max_msg_size=0, compress=False)
            await ws.prepare(request)
            client = channels.WebSocketChannels(ws)
            await _run_command(client, opts, start, status_of)
            if not ws.closed:
                await ws.close()
            return ws
        if _is_spdy(request):
            offered = request.headers.getall(spdy_exec.VERSION_HEADER, [])
            protocol = spdy_exec.negotiate(offered)
            if protocol is None:
                raise _bad_request("unable to negotiate a remote command protocol: the client "
                                   f"offered {offered}")
            conn = await accept_upgrade(request, _spdy_upgrade_headers(protocol))
            session = spdy_exec.SpdyCommandStreams(conn, protocol, opts)
            try:
                spdy_client = await session.wait_for_streams()
                if spdy_client is not None:
                    await _run_command(spdy_client, opts, start, status_of)
            finally:
                await session.close()
            return conn.response
        raise _bad_request("Upgrade request required")

    async def port_forward(self, request: web.Request) -> web.StreamResponse:
        ns, pod_name = request.match_info["namespace"], request.match_info["pod"]
        pod = await self.runtime.find_pod(ns, pod_name)
        if pod is None:
            raise _not_found(f'pod "{pod_name}" not found')
        session = portforward.PortForwardSession(pod_name, pod)
        if _is_websocket(request):
            ws = web.WebSocketResponse(
                protocols=(portforward.TUNNEL_PROTOCOL, ws_portforward.PROTOCOL),
                autoping=True, max_msg_size=0, compress=False)
            tunnel = ws.can_prepare(request).protocol == portforward.TUNNEL_PROTOCOL
            ports: list[int] = []
            if not tunnel:
                try:
                    ports = ws_portforward.parse_ports(request.query.getall("port", []))
                except ValueError as exc:
                    raise _bad_request(str(exc)) from None
            await ws.prepare(request)
            if tunnel:
                await session.serve(WebSocketByteStream(ws))
            else:
                await ws_portforward.serve(ws, pod_name, pod, ports)
            if not ws.closed:
                await ws.close()
            return ws
        if _is_spdy(request):
            offered = request.headers.getall(spdy_exec.VERSION_HEADER, [])
            if portforward.PROTOCOL not in _split(offered):
                raise _bad_request(f"unable to negotiate a port-forward protocol: the client "
                                   f"offered {offered}")
            conn = await accept_upgrade(request, _spdy_upgrade_headers(portforward.PROTOCOL))
            try:
                await session.serve(conn)
            finally:
                await conn.close()
            return conn.response
        raise _bad_request("Upgrade request required")


async def _run_command(client: Any, opts: StreamOptions, start: Any, status_of: Any) -> None:
    try:
        session = await start()
    except Exception as exc:  # whatever the runtime raises: the client gets its message
        await client.finish(error_status(f"error executing command in container: {exc}"))
        return
    await relay(session, client, opts, status_of)


def _identity(request: web.Request) -> ClientIdentity | None:
    transport = request.transport
    peercert = transport.get_extra_info("peercert") if transport is not None else None
    if not peercert:
        return None
    user = ""
    groups: list[str] = []
    for rdn in peercert.get("subject", ()):
        for attr, value in rdn:
            if attr == "commonName":
                user = value
            elif attr == "organizationName":
                groups.append(value)
    return ClientIdentity(user, tuple(groups)) if user else None


def _is_websocket(request: web.Request) -> bool:
    return request.headers.get("Upgrade", "").lower() == "websocket"


def _is_spdy(request: web.Request) -> bool:
    return request.headers.get("Upgrade", "").lower().startswith("spdy/3.1")


def _split(values: list[str]) -> list[str]:
    return [p.strip() for v in values for p in v.split(",") if p.strip()]


def _spdy_upgrade_headers(protocol: str) -> dict[str, str]:
    return {"Connection": "Upgrade", "Upgrade": "SPDY/3.1",
            spdy_exec.VERSION_HEADER: protocol}


def _stream_options(request: web.Request) -> StreamOptions:
    opts = StreamOptions.from_query(request.query)
    problem = opts.problem()
    if problem:
        raise _bad_request(problem)
    return opts


def _int_param(query: Any, name: str) -> int | None:
    text = query.get(name)
    if text is None or text == "":
        return None
    try:
        return int(text)
    except ValueError:
        raise _bad_request(f"{name}: invalid integer {text!r}") from None


def parse_log_options(query: Any) -> tuple[crilog.LogOptions, bool]:
    """The ``/containerLogs`` query as log options and whether ``previous`` was asked."""

    def flag(name: str) -> bool:
        return str(query.get(name, "")).lower() in ("1", "true")

    since_ns = None
    since_seconds = _int_param(query, "sinceSeconds")
    if since_seconds is not None:
        since_ns = time.time_ns() - since_seconds * 1_000_000_000
    since_time = query.get("sinceTime")
    if since_time:
        try:
            since_ns = crilog.parse_timestamp(since_time)
        except crilog.TimestampError:
            raise _bad_request(f"sinceTime: invalid time {since_time!r}") from None
    stream = query.get("stream") or "All"
    if stream not in ("All", "Stdout", "Stderr"):
        raise _bad_request(f"stream: unsupported value {stream!r}")
    options = crilog.LogOptions(
        follow=flag("follow"), tail_lines=_int_param(query, "tailLines"), since_ns=since_ns,
        timestamps=flag("timestamps"), limit_bytes=_int_param(query, "limitBytes"),
        stream=stream)
    return options, flag("previous")

