"""Exec and attach over SPDY, for clients that do not speak WebSocket (client-go's SPDY
executor, kubectl before 1.30, and kubectl's fallback when a WebSocket upgrade fails).

The client names the protocol versions it speaks in ``X-Stream-Protocol-Version``
headers, the server answers with the one it picked, then the client opens one SPDY stream
per standard stream, named by the ``streamtype`` header: ``error`` first, then ``stdin``,
``stdout``, ``stderr`` as requested and ``resize`` with a terminal (v3+). Stdin ends with
the stream's half-close; output ends with the server's. The final status goes on the error
stream: a ``Status`` from v4 on, a failure's text before.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import orjson

from kubesmith.agent.server.bytestream import ByteStream
from kubesmith.agent.server.channels import parse_resizes, version_of
from kubesmith.agent.server.remotecommand import (
    InputEvent,
    Resize,
    Stdin,
    StdinClosed,
    StreamOptions,
)
from kubesmith.agent.server.spdy_connection import SpdyConnection, SpdyStream

VERSION_HEADER = "X-Stream-Protocol-Version"
# v5 adds nothing over SPDY (its close signal is SPDY's half-close).
PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io", "v3.channel.k8s.io",
             "v2.channel.k8s.io")
STREAM_CREATION_TIMEOUT = 30.0


def negotiate(offered: list[str]) -> str | None:
    """The first protocol the client offers that the server speaks."""
    for value in offered:
        for protocol in (p.strip() for p in value.split(",")):
            if protocol in PROTOCOLS:
                return protocol
    return None


class SpdyCommandStreams:
    """The streams of one exec/attach SPDY connection."""

    def __init__(self, transport: ByteStream, protocol: str, opts: StreamOptions) -> None:
        self.transport = transport
        self.version = version_of(protocol)
        self.expected = {"error"}
        if opts.stdin:
            self.expected.add("stdin")
        if opts.stdout:
            self.expected.add("stdout")
        if opts.stderr:
            self.expected.add("stderr")
        if opts.tty and self.version >= 3:
            self.expected.add("resize")
        self.streams: dict[str, SpdyStream] = {}
        self._complete = asyncio.Event()
        self.conn = SpdyConnection(transport, self._check, self._on_stream)
        self._serving = asyncio.ensure_future(self.conn.serve())
        self._serving.add_done_callback(lambda _t: self._complete.set())

    def _check(self, stream: SpdyStream) -> str | None:
        kind = stream.header("streamtype")
        if kind not in self.expected:
            return f"unexpected stream type {kind!r}"
        if kind in self.streams:
            return f"duplicate {kind} stream"
        return None

    def _on_stream(self, stream: SpdyStream) -> None:
        self.streams[stream.header("streamtype")] = stream
        if set(self.streams) == self.expected:
            self._complete.set()

    async def wait_for_streams(self) -> SpdyClient | None:
        """The client side once all expected streams arrived; None if the client went
        away or took too long."""
        try:
            await asyncio.wait_for(self._complete.wait(), STREAM_CREATION_TIMEOUT)
        except TimeoutError:
            return None
        if set(self.streams) != self.expected:
            return None
        return SpdyClient(self)

    async def close(self) -> None:
        for stream in self.streams.values():
            with contextlib.suppress(ConnectionError):
                await stream.close()
        await self.transport.close()
        self._serving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._serving


class SpdyClient:
    """:class:`~kubesmith.agent.server.remotecommand.ClientStreams` over SPDY streams."""

    def __init__(self, owner: SpdyCommandStreams) -> None:
        self.owner = owner
        self.streams = owner.streams
        self._events: asyncio.Queue[InputEvent | None] = asyncio.Queue()
        self._readers = [asyncio.ensure_future(self._read_stdin()),
                         asyncio.ensure_future(self._read_resizes())]
        owner._serving.add_done_callback(lambda _t: self._events.put_nowait(None))

    async def _read_stdin(self) -> None:
        stream = self.streams.get("stdin")
        if stream is None:
            return
        while data := await stream.read():
            await self._events.put(Stdin(data))
        if not self.owner.conn.closed:
            await self._events.put(StdinClosed())

    async def _read_resizes(self) -> None:
        stream = self.streams.get("resize")
        if stream is None:
            return
        while data := await stream.read():
            for size in parse_resizes(data):
                await self._events.put(Resize(size.width, size.height))

    async def write_stdout(self, data: bytes) -> None:
        await self.streams["stdout"].write(data)

    async def write_stderr(self, data: bytes) -> None:
        await self.streams["stderr"].write(data)

    async def read_input(self) -> InputEvent | None:
        event = await self._events.get()
        if event is None:
            self._events.put_nowait(None)
        return event

    async def finish(self, status: dict[str, Any]) -> None:
        for kind in ("stdout", "stderr"):
            if kind in self.streams:
                await self.streams[kind].close()
        error = self.streams["error"]
        if self.owner.version >= 4:
            await error.write(orjson.dumps(status))
        elif status.get("status") != "Success":
            await error.write(str(status.get("message", "")).encode())
        await error.close()
        for reader in self._readers:
            reader.cancel()
