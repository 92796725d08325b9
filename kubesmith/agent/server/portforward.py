"""Port forwarding over SPDY streams (``portforward.k8s.io``), as the kubelet serves it.

For each local connection the client opens two streams with the headers ``port``,
``requestid`` and ``streamtype`` (``error`` and ``data``). Once both of a request arrived
the agent connects to ``localhost:<port>`` inside the pod's network namespace and copies
bytes both ways: the client's half-close of the data stream half-closes the socket, the
pod's end of the socket ends the stream. A failure is written as text on the error stream,
which the client reads to its end. A pair that stays incomplete is given up after
:data:`STREAM_PAIR_TIMEOUT` (the kubelet's stream creation timeout).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from kubesmith.agent.server import netns
from kubesmith.agent.server.bytestream import ByteStream
from kubesmith.agent.server.interfaces import PodRef
from kubesmith.agent.server.spdy_connection import SpdyConnection, SpdyStream

log = logging.getLogger("kubesmith.agent.server.portforward")

PROTOCOL = "portforward.k8s.io"
#: kubectl 1.30+ tunnels the SPDY connection in WebSocket messages under this protocol.
TUNNEL_PROTOCOL = "SPDY/3.1+" + PROTOCOL
STREAM_PAIR_TIMEOUT = 30.0
#: How long the other direction may still run once one direction ended (containerd's 1 s).
HALF_CLOSE_GRACE = 1.0
_READ = 32 * 1024


@dataclass
class _Pair:
    request_id: str
    data: SpdyStream | None = None
    error: SpdyStream | None = None
    complete: asyncio.Event = field(default_factory=asyncio.Event)


def check_stream(stream: SpdyStream) -> str | None:
    """The kubelet's checks of a new port-forward stream."""
    port = stream.header("port")
    if not port:
        return '"port" header is required'
    if not port.isdigit() or not 0 < int(port) < 65536:
        return f"unable to parse {port!r} as a port"
    kind = stream.header("streamtype")
    if not kind:
        return '"streamType" header is required'
    if kind not in ("error", "data"):
        return f"invalid stream type {kind!r}"
    return None


class PortForwardSession:
    """Serves one port-forward connection for one pod."""

    def __init__(self, pod_name: str, pod: PodRef) -> None:
        self.pod_name = pod_name
        self.pod = pod
        self.pairs: dict[str, _Pair] = {}
        self.tasks: set[asyncio.Task[None]] = set()

    async def serve(self, transport: ByteStream) -> None:
        conn = SpdyConnection(transport, check_stream, self._on_stream)
        try:
            await conn.serve()
        finally:
            for task in list(self.tasks):
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    @staticmethod
    def _request_id(stream: SpdyStream) -> str:
        request_id = stream.header("requestid")
        if request_id:
            return request_id
        # Clients older than request ids open error then data as consecutive odd ids.
        offset = 0 if stream.header("streamtype") == "error" else 2
        return str(stream.id - offset)

    def _on_stream(self, stream: SpdyStream) -> None:
        request_id = self._request_id(stream)
        pair = self.pairs.get(request_id)
        if pair is None:
            pair = self.pairs[request_id] = _Pair(request_id)
            self._spawn(self._expire(pair))
        kind = stream.header("streamtype")
        if getattr(pair, kind) is not None:
            self._spawn(_report(pair.error, f"error processing stream for request "
                                            f"{request_id}: {kind} stream already assigned"))
            return
        setattr(pair, kind, stream)
        if pair.data is not None and pair.error is not None:
            pair.complete.set()
            self._spawn(self._forward(pair, pair.data, pair.error))

    async def _expire(self, pair: _Pair) -> None:
        try:
            await asyncio.wait_for(pair.complete.wait(), STREAM_PAIR_TIMEOUT)
        except TimeoutError:
            await _report(pair.error, f"(request={pair.request_id}) timed out waiting for "
                                      "streams")
        finally:
            self.pairs.pop(pair.request_id, None)

    async def _forward(self, pair: _Pair, data: SpdyStream, error: SpdyStream) -> None:
        port = int(data.header("port"))
        try:
            await forward(self.pod.netns, port, data)
        except (TimeoutError, OSError) as exc:
            await _report(error, f"error forwarding port {port} to pod {self.pod_name}, "
                                 f"uid {self.pod.uid}: {exc}")
        finally:
            await data.close()
            await error.close()


async def _report(stream: SpdyStream | None, message: str) -> None:
    log.info("port-forward: %s", message)
    if stream is None:
        return
    with contextlib.suppress(ConnectionError):
        await stream.write(message.encode())


class DuplexStream(Protocol):
    async def read(self) -> bytes: ...

    async def write(self, data: bytes) -> None: ...


async def forward(namespace: Path | None, port: int, stream: DuplexStream) -> None:
    """Copy between ``stream`` and ``localhost:port`` in the namespace until one side
    ends, then give the other direction a moment to finish."""
    reader, writer = await netns.open_connection(namespace, port)

    async def to_pod() -> None:
        while data := await stream.read():
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()

    async def to_client() -> None:
        while data := await reader.read(_READ):
            await stream.write(data)

    tasks = [asyncio.ensure_future(to_pod()), asyncio.ensure_future(to_client())]
    try:
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        if pending:
            await asyncio.wait(pending, timeout=HALF_CLOSE_GRACE)
        for task in done:
            exc = task.exception()
            if exc is not None and not isinstance(exc, ConnectionError):
                raise exc
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()
