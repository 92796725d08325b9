"""The server side of a SPDY/3.1 connection: streams the client opens, read and written by
handlers.

Concurrency: :meth:`SpdyConnection.serve` is the only reader of the transport; it decodes
frames and hands data to the stream they belong to. Each stream buffers what arrived until
its handler reads it; when a stream holds more than :data:`STREAM_BUFFER` bytes the reader
waits, which stops the whole connection (as spdystream's frame workers do) and pushes back
on the client through the transport. Writers share one lock, because header compression
is one context for the connection and frames must reach the wire in the order they were
encoded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable

from kubesmith.agent.server import spdy
from kubesmith.agent.server.bytestream import ByteStream

log = logging.getLogger("kubesmith.agent.server.spdy")

STREAM_BUFFER = 1 << 20
DATA_CHUNK = 32 * 1024

#: Validates a new stream's headers: an error message refuses the stream.
StreamCheck = Callable[["SpdyStream"], str | None]
StreamHandler = Callable[["SpdyStream"], None]


class SpdyStream:
    """One stream: what the client sends arrives in order; writes go out as DATA."""

    def __init__(self, conn: SpdyConnection, stream_id: int, headers: spdy.Headers) -> None:
        self.conn = conn
        self.id = stream_id
        self.headers = headers
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._readable = asyncio.Event()
        self._drained = asyncio.Event()
        self._drained.set()
        self.remote_closed = False
        self.local_closed = False

    def header(self, name: str) -> str:
        values = self.headers.get(name.lower())
        return values[0] if values else ""

    # ---- the reader side ---------------------------------------------------------------
    def _deliver(self, data: bytes) -> None:
        if self.remote_closed or not data:
            return
        self._chunks.append(data)
        self._buffered += len(data)
        self._readable.set()
        if self._buffered > STREAM_BUFFER:
            self._drained.clear()

    def _finish(self) -> None:
        self.remote_closed = True
        self._readable.set()
        self._drained.set()

    async def read(self) -> bytes:
        """The next bytes from the client; b"" once it half-closed or reset the stream."""
        while not self._chunks:
            if self.remote_closed:
                return b""
            self._readable.clear()
            await self._readable.wait()
        data = self._chunks.popleft()
        self._buffered -= len(data)
        if self._buffered <= STREAM_BUFFER // 2:
            self._drained.set()
        return data

    # ---- the writer side ---------------------------------------------------------------
    async def write(self, data: bytes) -> None:
        if self.local_closed:
            raise ConnectionResetError(f"stream {self.id} is closed")
        for start in range(0, len(data), DATA_CHUNK):
            await self.conn.send(spdy.Data(self.id, data[start:start + DATA_CHUNK]))

    async def close(self) -> None:
        """Half-close: no more data from this side (DATA with FIN)."""
        if self.local_closed:
            return
        self.local_closed = True
        with contextlib.suppress(ConnectionError):
            await self.conn.send(spdy.Data(self.id, b"", spdy.FLAG_FIN))
        self.conn._forget_if_done(self)

    async def reset(self) -> None:
        """Abort the stream both ways (RST_STREAM, CANCEL)."""
        was_closed = self.local_closed and self.remote_closed
        self.local_closed = True
        self._finish()
        if not was_closed:
            with contextlib.suppress(ConnectionError):
                await self.conn.send(spdy.RstStream(self.id, spdy.CANCEL))
        self.conn._forget_if_done(self)


class SpdyConnection:
    """Serves one SPDY connection until the client closes it."""

    def __init__(self, transport: ByteStream, check: StreamCheck,
                 on_stream: StreamHandler) -> None:
        self.transport = transport
        self.check = check
        self.on_stream = on_stream
        self.codec = spdy.FrameCodec()
        self.streams: dict[int, SpdyStream] = {}
        self._write_lock = asyncio.Lock()
        self._last_stream_id = 0
        self.closed = False

    async def send(self, frame: spdy.Frame) -> None:
        if self.closed:
            raise ConnectionResetError("connection closed")
        async with self._write_lock:
            await self.transport.write(self.codec.encode(frame))

    def _forget_if_done(self, stream: SpdyStream) -> None:
        if stream.local_closed and stream.remote_closed:
            self.streams.pop(stream.id, None)

    async def serve(self) -> None:
        """Read frames until the client goes away; every stream then reads EOF."""
        try:
            while True:
                data = await self.transport.read()
                if not data:
                    return
                for frame in self.codec.feed(data):
                    if not await self._handle(frame):
                        return
        except spdy.ProtocolError as exc:
            log.info("closing SPDY connection: %s", exc)
            await self._send_quietly(spdy.GoAway(self._last_stream_id, 1))
        except ConnectionError:
            pass
        finally:
            self.closed = True
            for stream in list(self.streams.values()):
                stream.local_closed = True
                stream._finish()
            self.streams.clear()

    async def _send_quietly(self, frame: spdy.Frame) -> None:
        with contextlib.suppress(ConnectionError):
            await self.send(frame)

    async def _handle(self, frame: spdy.Frame) -> bool:
        if isinstance(frame, spdy.Data):
            stream = self.streams.get(frame.stream_id)
            if stream is not None:
                stream._deliver(frame.data)
                if frame.flags & spdy.FLAG_FIN:
                    stream._finish()
                    self._forget_if_done(stream)
                await stream._drained.wait()
        elif isinstance(frame, spdy.SynStream):
            await self._open(frame)
        elif isinstance(frame, spdy.RstStream):
            stream = self.streams.pop(frame.stream_id, None)
            if stream is not None:
                stream.local_closed = True
                stream._finish()
        elif isinstance(frame, spdy.Ping):
            await self.send(frame)  # the client's heartbeat: echo it
        elif isinstance(frame, spdy.GoAway):
            return False
        # SYN_REPLY, HEADERS, SETTINGS and WINDOW_UPDATE need nothing from a server that
        # never opens streams and does no flow control.
        return True

    async def _open(self, frame: spdy.SynStream) -> None:
        if frame.stream_id <= self._last_stream_id or frame.stream_id % 2 == 0:
            await self.send(spdy.RstStream(frame.stream_id, spdy.PROTOCOL_ERROR))
            return
        self._last_stream_id = frame.stream_id
        stream = SpdyStream(self, frame.stream_id, frame.headers)
        problem = self.check(stream)
        if problem is not None:
            log.info("refusing SPDY stream %d: %s", frame.stream_id, problem)
            await self.send(spdy.RstStream(frame.stream_id, spdy.CANCEL))
            return
        self.streams[stream.id] = stream
        if frame.flags & spdy.FLAG_FIN:
            stream._finish()
        await self.send(spdy.SynReply(stream.id))
        self.on_stream(stream)
