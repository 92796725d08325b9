"""The WebSocket channel protocol of exec/attach and the relay between a session and a
client: channel bytes, the v5 close signal, resizes and the final status."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestServer

from kubesmith.agent.server import channels
from kubesmith.agent.server.remotecommand import (
    Resize,
    StreamOptions,
    exit_status,
    relay,
)


class ScriptedSession:
    """An exec session whose output is given and whose input is recorded; it exits with
    ``code`` once its stdin is closed."""

    def __init__(self, stdout: list[bytes], stderr: list[bytes], code: int) -> None:
        self.stdout: asyncio.Queue[bytes] = asyncio.Queue()
        self.stderr: asyncio.Queue[bytes] = asyncio.Queue()
        for chunk in [*stdout, b""]:
            self.stdout.put_nowait(chunk)
        for chunk in [*stderr, b""]:
            self.stderr.put_nowait(chunk)
        self.code = code
        self.stdin = b""
        self.sizes: list[tuple[int, int]] = []
        self.stdin_closed = asyncio.Event()
        self.killed = False

    async def read_stdout(self) -> bytes:
        return await self.stdout.get()

    async def read_stderr(self) -> bytes:
        return await self.stderr.get()

    async def write_stdin(self, data: bytes) -> None:
        self.stdin += data

    async def close_stdin(self) -> None:
        self.stdin_closed.set()

    async def resize(self, width: int, height: int) -> None:
        self.sizes.append((width, height))

    async def wait(self) -> int:
        await self.stdin_closed.wait()
        return self.code

    async def kill(self) -> None:
        self.killed = True
        self.stdin_closed.set()


Serve = Callable[[ScriptedSession, StreamOptions], Any]


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[ScriptedSession, StreamOptions], Any]]:
    servers: list[TestServer] = []

    async def start(session: ScriptedSession, opts: StreamOptions) -> TestServer:
        async def handler(request: web.Request) -> web.StreamResponse:
            ws = web.WebSocketResponse(protocols=channels.PROTOCOLS)
            await ws.prepare(request)
            await relay(session, channels.WebSocketChannels(ws), opts,
                        lambda code: exit_status(["sh"], code))
            return ws

        app = web.Application()
        app.router.add_get("/exec", handler)
        server = TestServer(app)
        await server.start_server()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.close()


async def _messages(ws: aiohttp.ClientWebSocketResponse) -> list[bytes]:
    got = []
    async for msg in ws:
        assert msg.type == WSMsgType.BINARY
        got.append(msg.data)
    return got


async def test_v5_exec_with_stdin_and_exit_code(serve: Any) -> None:
    session = ScriptedSession([b"out"], [b"err"], 3)
    server = await serve(session, StreamOptions(True, True, True, False))
    async with aiohttp.ClientSession() as client, client.ws_connect(
            server.make_url("/exec"), protocols=("v5.channel.k8s.io",)) as ws:
        assert ws.protocol == "v5.channel.k8s.io"
        await ws.send_bytes(b"\x00hello")
        await ws.send_bytes(b"\xff\x00")  # close stdin
        got = await _messages(ws)
    assert session.stdin == b"hello"
    assert sorted(got[:2]) == [b"\x01out", b"\x02err"]
    assert got[2][0] == channels.ERROR
    status = orjson.loads(got[2][1:])
    assert status["status"] == "Failure"
    assert status["reason"] == "NonZeroExitCode"
    assert status["details"]["causes"] == [{"reason": "ExitCode", "message": "3"}]
    assert len(got) == 3


async def test_v4_success_and_terminal_resizes(serve: Any) -> None:
    session = ScriptedSession([b"prompt$ "], [], 0)
    server = await serve(session, StreamOptions(True, True, False, True))
    async with aiohttp.ClientSession() as client, client.ws_connect(
            server.make_url("/exec"), protocols=("v4.channel.k8s.io",)) as ws:
        await ws.send_bytes(b'\x04{"Width":80,"Height":24}')
        await ws.send_bytes(b'\x04{"Width":100,"Height":30}\n{"Width":120,"Height":40}\n')
        await asyncio.sleep(0.05)
        session.stdin_closed.set()  # v4 has no close signal: the process just exits
        got = await _messages(ws)
    assert got[0] == b"\x01prompt$ "
    assert orjson.loads(got[-1][1:]) == {"metadata": {}, "status": "Success"}
    assert session.sizes == [(80, 24), (100, 30), (120, 40)]


async def test_v1_reports_failures_as_text(serve: Any) -> None:
    session = ScriptedSession([], [], 2)
    session.stdin_closed.set()
    server = await serve(session, StreamOptions(False, True, True, False))
    async with aiohttp.ClientSession() as client, client.ws_connect(
            server.make_url("/exec"), protocols=("channel.k8s.io",)) as ws:
        got = await _messages(ws)
    assert got == [b"\x03command terminated with non-zero exit code: error executing "
                   b"command ['sh'], exit code 2"]


async def test_client_leaving_kills_the_session(serve: Any) -> None:
    session = ScriptedSession([], [], 0)
    server = await serve(session, StreamOptions(True, True, True, False))
    async with aiohttp.ClientSession() as client, client.ws_connect(
            server.make_url("/exec"), protocols=("v5.channel.k8s.io",)) as ws:
        await ws.send_bytes(b"\x00typed")
        await ws.close()
    for _ in range(100):
        if session.killed:
            break
        await asyncio.sleep(0.01)
    assert session.killed


async def test_a_process_that_could_not_start_is_an_internal_error(serve: Any) -> None:
    class Unstartable(ScriptedSession):
        async def wait(self) -> int:
            raise RuntimeError("runc: no such file")

    session = Unstartable([], [], 0)
    server = await serve(session, StreamOptions(False, True, True, False))
    async with aiohttp.ClientSession() as client, client.ws_connect(
            server.make_url("/exec"), protocols=("v5.channel.k8s.io",)) as ws:
        got = await _messages(ws)
    status = orjson.loads(got[-1][1:])
    assert (status["reason"], status["code"]) == ("InternalError", 500)
    assert status["message"] == ("Internal error occurred: error executing command in "
                                 "container: runc: no such file")


def test_resize_messages_and_versions() -> None:
    assert channels.parse_resizes(b'{"Width":1,"Height":2} {"Width":3,"Height":4}') == [
        Resize(1, 2), Resize(3, 4)]
    assert channels.parse_resizes(b"not json") == []
    assert [channels.version_of(p) for p in (*channels.PROTOCOLS, None, "")] == [
        5, 4, 3, 2, 1, 1, 1]


def test_stream_options_from_the_kubelet_query() -> None:
    opts = StreamOptions.from_query({"stdin": "1", "stdout": "true", "stderr": "1",
                                     "tty": "1"})
    assert opts == StreamOptions(True, True, False, True)  # a terminal carries stderr
    assert StreamOptions.from_query({}).problem() == \
        "you must specify at least 1 of stdin, stdout, stderr"
