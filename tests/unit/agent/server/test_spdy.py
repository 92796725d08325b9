"""SPDY/3.1 framing (header compression included) and the server side of a connection."""

from __future__ import annotations

import asyncio
import os
import shutil
import struct
import zlib
from pathlib import Path

import pytest

from kubesmith.agent.server import spdy
from kubesmith.agent.server.spdy_connection import SpdyConnection, SpdyStream

FRAMES: list[spdy.Frame] = [
    spdy.SynStream(1, {"streamtype": ["error"], "port": ["8080"], "requestid": ["0"]}),
    spdy.SynStream(3, {"streamtype": ["data"], "multi": ["a", "b"]}, spdy.FLAG_FIN, 1, 4),
    spdy.SynReply(1),
    spdy.SynReply(3, {"x-answer": ["42"]}, spdy.FLAG_FIN),
    spdy.HeadersFrame(3, {"more": ["yes"]}),
    spdy.Data(1, b"payload"),
    spdy.Data(3, b"", spdy.FLAG_FIN),
    spdy.RstStream(5, spdy.CANCEL),
    spdy.Settings(((0, 4, 100), (1, 7, 65536))),
    spdy.Ping(7),
    spdy.GoAway(3, 0),
    spdy.WindowUpdate(1, 4096),
]


def test_dictionary_is_the_spdy3_one() -> None:
    assert len(spdy.DICTIONARY) == 1423
    assert zlib.adler32(spdy.DICTIONARY) == 0xE3C6A7C2


def test_kubectl_carries_the_same_dictionary() -> None:
    """Byte for byte what the Go SPDY framer in kubectl inflates headers with."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed")
    assert spdy.DICTIONARY in Path(os.path.realpath(kubectl)).read_bytes()


def test_frames_round_trip_with_one_compression_context() -> None:
    writer, reader = spdy.FrameCodec(), spdy.FrameCodec()
    wire = b"".join(writer.encode(f) for f in FRAMES)
    assert reader.feed(wire) == FRAMES


def test_frames_split_anywhere_are_reassembled() -> None:
    writer, reader = spdy.FrameCodec(), spdy.FrameCodec()
    wire = b"".join(writer.encode(f) for f in FRAMES)
    decoded: list[spdy.Frame] = []
    for i in range(0, len(wire), 5):
        decoded += reader.feed(wire[i:i + 5])
    assert decoded == FRAMES


def test_header_blocks_are_lowercase_and_nul_joined() -> None:
    raw = spdy.encode_header_block({"StreamType": ["a", "b"]})
    assert raw == struct.pack(">I", 1) + struct.pack(">I", 10) + b"streamtype" \
        + struct.pack(">I", 3) + b"a\x00b"
    assert spdy.decode_header_block(raw) == {"streamtype": ["a", "b"]}


def test_second_header_block_depends_on_the_first() -> None:
    """The compression context spans the connection: a fresh decoder cannot read a later
    block alone (what makes per-connection codecs necessary)."""
    writer = spdy.FrameCodec()
    writer.encode(spdy.SynStream(1, {"streamtype": ["error"]}))
    second = writer.encode(spdy.SynStream(3, {"streamtype": ["error"]}))
    with pytest.raises(spdy.ProtocolError):
        spdy.FrameCodec().feed(second)


def test_wrong_version_and_stream_zero_are_protocol_errors() -> None:
    with pytest.raises(spdy.ProtocolError):
        spdy.FrameCodec().feed(struct.pack(">HHI", 0x8002, spdy.PING, 4) + b"\0\0\0\1")
    with pytest.raises(spdy.ProtocolError):
        spdy.FrameCodec().feed(struct.pack(">II", 0, 1) + b"x")


def test_unknown_control_frames_are_ignored() -> None:
    frame = struct.pack(">HHI", 0x8003, 0x77, 2) + b"??"
    assert spdy.FrameCodec().feed(frame + spdy.FrameCodec().encode(spdy.Ping(1))) == [
        spdy.Ping(1)]


class Pipe:
    """An in-memory byte stream: what the server writes is decoded by a client codec."""

    def __init__(self) -> None:
        self.incoming: asyncio.Queue[bytes] = asyncio.Queue()
        self.client = spdy.FrameCodec()  # encodes what the client sends
        self.decoder = spdy.FrameCodec()  # decodes what the server sends
        self.received: asyncio.Queue[spdy.Frame] = asyncio.Queue()

    def send(self, frame: spdy.Frame) -> None:
        self.incoming.put_nowait(self.client.encode(frame))

    def hang_up(self) -> None:
        self.incoming.put_nowait(b"")

    async def read(self) -> bytes:
        return await self.incoming.get()

    async def write(self, data: bytes) -> None:
        for frame in self.decoder.feed(data):
            self.received.put_nowait(frame)

    async def close(self) -> None:
        self.hang_up()

    async def next(self) -> spdy.Frame:
        return await asyncio.wait_for(self.received.get(), 5)


async def test_connection_streams_echo_and_half_close() -> None:
    pipe = Pipe()
    opened: list[SpdyStream] = []
    echoes: list[asyncio.Task[None]] = []

    async def echo(stream: SpdyStream) -> None:
        while data := await stream.read():
            await stream.write(data.upper())
        await stream.close()

    def check(stream: SpdyStream) -> str | None:
        return None if stream.header("streamtype") == "data" else "unwanted"

    def on_stream(stream: SpdyStream) -> None:
        opened.append(stream)
        echoes.append(asyncio.ensure_future(echo(stream)))

    conn = SpdyConnection(pipe, check, on_stream)
    serving = asyncio.ensure_future(conn.serve())
    pipe.send(spdy.SynStream(1, {"streamtype": ["data"]}))
    assert await pipe.next() == spdy.SynReply(1)
    pipe.send(spdy.Data(1, b"hello"))
    assert await pipe.next() == spdy.Data(1, b"HELLO")
    pipe.send(spdy.Ping(9))
    assert await pipe.next() == spdy.Ping(9)
    pipe.send(spdy.SynStream(3, {"streamtype": ["error"]}))
    assert await pipe.next() == spdy.RstStream(3, spdy.CANCEL)
    pipe.send(spdy.Data(1, b"", spdy.FLAG_FIN))
    assert await pipe.next() == spdy.Data(1, b"", spdy.FLAG_FIN)
    assert conn.streams == {}  # closed both ways: forgotten
    # A stream id going backwards is a protocol error for that stream.
    pipe.send(spdy.SynStream(1, {"streamtype": ["data"]}))
    assert await pipe.next() == spdy.RstStream(1, spdy.PROTOCOL_ERROR)
    pipe.hang_up()
    await asyncio.wait_for(serving, 5)
    assert [s.id for s in opened] == [1]


async def test_readers_see_the_end_when_the_client_hangs_up() -> None:
    pipe = Pipe()
    streams: list[SpdyStream] = []
    conn = SpdyConnection(pipe, lambda s: None, streams.append)
    serving = asyncio.ensure_future(conn.serve())
    pipe.send(spdy.SynStream(1, {"streamtype": ["data"]}))
    await pipe.next()
    pipe.send(spdy.Data(1, b"last words"))
    pipe.hang_up()
    await asyncio.wait_for(serving, 5)
    assert await streams[0].read() == b"last words"
    assert await streams[0].read() == b""
    with pytest.raises(ConnectionError):
        await streams[0].write(b"too late")
