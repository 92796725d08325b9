"""The client's lean request path (``Client.lean_request``), which carries the scheduler's
bindings and Events: HTTP/1.1 answers parsed however they arrive (split, chunked, without
a body, ended by the connection), keep-alive reuse, and errors as ``request`` reports them.
Against a local plain-HTTP aiohttp server; no API server is mocked — the API semantics of
bindings are covered by the scheduler's integration tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from kubesmith.client.config import ClientConfig
from kubesmith.client.rest import ApiError, Client, _LeanConnection


def feed(*parts: bytes) -> tuple[_LeanConnection, asyncio.Future[Any]]:
    conn = _LeanConnection()
    transport = FakeTransport()
    conn.connection_made(transport)  # type: ignore[arg-type]
    waiter = conn.send(b"GET / HTTP/1.1\r\n\r\n", asyncio.get_running_loop())
    for part in parts:
        conn.data_received(part)
    return conn, waiter


class FakeTransport:
    def __init__(self) -> None:
        self.written = b""
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written += data

    def close(self) -> None:
        self.closed = True


async def test_answer_split_across_reads() -> None:
    conn, waiter = feed(b"HTTP/1.1 201 Created\r\nContent-Le", b"ngth: 7\r\n\r\n{\"a\"",
                        b":1}")
    response = await waiter
    assert (response.status, response.reason, response.body) == (201, "Created", b'{"a":1}')
    assert not conn.closed


async def test_chunked_answer_with_extension_and_no_trailers() -> None:
    _, waiter = feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n",
                     b"2\r\nde\r\n0\r\n\r\n")
    assert (await waiter).body == b"abcde"


async def test_no_content_and_connection_close() -> None:
    conn, waiter = feed(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
    response = await waiter
    assert (response.status, response.body) == (204, b"")
    assert conn.closed  # the server said it would close: not reused


async def test_body_ended_by_the_connection() -> None:
    conn, waiter = feed(b"HTTP/1.0 200 OK\r\n\r\npartial")
    assert not waiter.done()
    conn.connection_lost(None)
    assert (await waiter).body == b"partial"


async def test_connection_lost_before_an_answer() -> None:
    conn, waiter = feed(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
    conn.connection_lost(None)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await waiter


async def test_malformed_answer() -> None:
    conn, waiter = feed(b"HTTP/1.1 abc OK\r\nContent-Length: 0\r\n\r\n")
    with pytest.raises(aiohttp.ClientPayloadError):
        await waiter
    assert conn.closed


# -- against a local server ---------------------------------------------------------------


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, list[Any]]]:
    """A plain-HTTP server echoing requests; the list collects (peer port, headers)."""
    seen: list[Any] = []

    async def echo(request: web.Request) -> web.Response:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        seen.append((peer[1] if peer else None, dict(request.headers)))
        if request.path.endswith("/missing"):
            return web.json_response({"kind": "Status", "apiVersion": "v1",
                                      "status": "Failure", "code": 404, "reason": "NotFound",
                                      "message": 'pods "missing" not found'}, status=404)
        body = await request.read()
        return web.json_response({"method": request.method, "path": request.path_qs,
                                  "body": body.decode()}, status=201)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", echo)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        await runner.cleanup()


async def test_requests_reuse_one_connection_and_send_the_client_headers(
        server: tuple[str, list[Any]]) -> None:
    url, seen = server
    async with Client(ClientConfig(url, False, {"Authorization": "Bearer t1"}),
                      user_agent="kube-scheduler") as client:
        first = await client.lean_request("POST", "/api/v1/namespaces/n/pods/p/binding",
                                          body=b'{"x":1}')
        second = await client.lean_request("GET", "/api/v1/pods?limit=1")
        client.set_bearer_token("t2")
        await client.lean_request("PATCH", "/x", body=b"{}",
                                  content_type="application/merge-patch+json")
    assert first == {"method": "POST", "path": "/api/v1/namespaces/n/pods/p/binding",
                     "body": '{"x":1}'}
    assert second["path"] == "/api/v1/pods?limit=1"
    assert len({port for port, _ in seen}) == 1  # keep-alive
    assert seen[0][1]["User-Agent"] == "kube-scheduler"
    assert seen[0][1]["Authorization"] == "Bearer t1"
    assert seen[2][1]["Authorization"] == "Bearer t2"
    assert seen[2][1]["Content-Type"] == "application/merge-patch+json"


async def test_concurrent_requests_use_their_own_connections(
        server: tuple[str, list[Any]]) -> None:
    url, seen = server
    async with Client(ClientConfig(url, False)) as client:
        answers = await asyncio.gather(*(client.lean_request("POST", f"/p/{i}", body=b"")
                                         for i in range(8)))
    assert sorted(a["path"] for a in answers) == sorted(f"/p/{i}" for i in range(8))
    assert len({port for port, _ in seen}) == 8


async def test_error_status_raises_api_error(server: tuple[str, list[Any]]) -> None:
    url, _ = server
    async with Client(ClientConfig(url, False)) as client:
        with pytest.raises(ApiError) as caught:
            await client.lean_request("GET", "/api/v1/namespaces/n/pods/missing")
        # The connection survives an error answer.
        assert (await client.lean_request("GET", "/ok"))["path"] == "/ok"
    assert (caught.value.code, caught.value.reason) == (404, "NotFound")


async def test_a_connection_the_server_closed_is_not_reused(
        server: tuple[str, list[Any]]) -> None:
    url, seen = server
    async with Client(ClientConfig(url, False)) as client:
        await client.lean_request("GET", "/one")
        pool = client._lean
        assert pool is not None and len(pool.idle) == 1
        pool.idle[0].close()  # as when the server drops an idle keep-alive connection
        await asyncio.sleep(0)
        assert (await client.lean_request("GET", "/two"))["path"] == "/two"
    assert len({port for port, _ in seen}) == 2


async def test_unreachable_server_is_a_client_error() -> None:
    async with Client(ClientConfig("http://127.0.0.1:9", False)) as client:
        with pytest.raises(aiohttp.ClientConnectionError):
            await client.lean_request("GET", "/")
