"""Single probe runs (httpGet, tcpSocket, exec, grpc encoding) against loopback servers,
checking the kubelet's request details and its result wording."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from kubesmith.agent.probes import run_probe
from kubesmith.agent.probes.grpc_health import decode_status, encode_request
from kubesmith.agent.probes.http_get import format_url
from kubesmith.agent.probes.ports import PortError, resolve_port
from kubesmith.agent.probes.result import go_duration
from kubesmith.apiserver.pki import ensure_ca, ensure_serving_cert

ROUTES: dict[str, bytes] = {
    "/ok": b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nfine",
    "/fail": b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 6\r\n\r\nsecret",
    "/same-host": b"HTTP/1.1 302 Found\r\nLocation: /ok\r\nContent-Length: 0\r\n\r\n",
    "/other-host": (b"HTTP/1.1 301 Moved\r\nLocation: http://elsewhere.invalid/\r\n"
                    b"Content-Length: 5\r\n\r\nmoved"),
    "/loop": b"HTTP/1.1 302 Found\r\nLocation: /loop\r\nContent-Length: 0\r\n\r\n",
    "/chunked": (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                 b"4\r\nhell\r\n1\r\no\r\n0\r\n\r\n"),
    "/big": b"HTTP/1.0 200 OK\r\n\r\n" + b"x" * 50_000,
    "/garbage": b"SSH-2.0-OpenSSH\r\n",
}


class Server:
    def __init__(self) -> None:
        self.requests: list[bytes] = []
        self.port = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        self.requests.append(head)
        target = head.split(b" ")[1].decode()
        path = target.split("?")[0]
        if path == "/slow":
            await asyncio.sleep(5)
        elif path == "/echo":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(head), head))
        else:
            writer.write(ROUTES.get(path, b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"))
        await writer.drain()
        writer.close()


@pytest.fixture
async def http_server() -> AsyncIterator[Server]:
    state = Server()
    server = await asyncio.start_server(state.handle, "127.0.0.1", 0)
    state.port = server.sockets[0].getsockname()[1]
    yield state
    server.close()
    await server.wait_closed()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_probe(port: Any, path: str, **extra: Any) -> dict[str, Any]:
    return {"httpGet": {"port": port, "path": path, **extra}, "timeoutSeconds": 1}


async def get(probe: dict[str, Any], container: dict[str, Any] | None = None) -> Any:
    return await run_probe(probe, pod_ip="127.0.0.1", container=container or {"name": "c"})


async def test_http_success_returns_the_body(http_server: Server) -> None:
    result = await get(http_probe(http_server.port, "/ok"))
    assert (result.success, result.message, result.warning) == (True, "fine", False)


async def test_http_failure_status_hides_the_body(http_server: Server) -> None:
    result = await get(http_probe(http_server.port, "/fail"))
    assert (result.success, result.message) == (False, "HTTP probe failed with statuscode: 500")


async def test_http_request_carries_the_kubelet_headers(http_server: Server) -> None:
    probe = http_probe(http_server.port, "healthz?full=1", httpHeaders=[
        {"name": "x-custom", "value": "1"}, {"name": "host", "value": "app.example"}])
    probe["httpGet"]["path"] = "/echo?full=1"
    result = await get(probe)
    assert result.success
    lines = result.message.split("\r\n")
    assert lines[0] == "GET /echo?full=1 HTTP/1.1"
    assert "Host: app.example" in lines
    assert "User-Agent: kube-probe/1.37" in lines
    assert "Accept: */*" in lines
    assert "X-Custom: 1" in lines


async def test_http_user_agent_and_accept_can_be_overridden(http_server: Server) -> None:
    probe = http_probe(http_server.port, "/echo", httpHeaders=[
        {"name": "User-Agent", "value": "mine"}, {"name": "Accept", "value": ""}])
    lines = (await get(probe)).message.split("\r\n")
    assert "User-Agent: mine" in lines
    assert not any(line.startswith("Accept:") for line in lines)


async def test_http_named_port(http_server: Server) -> None:
    container = {"name": "c", "ports": [{"name": "web", "containerPort": http_server.port}]}
    assert (await get(http_probe("web", "/ok"), container)).success
    result = await get(http_probe("nope", "/ok"), container)
    assert result.error
    assert result.message == 'strconv.Atoi: parsing "nope": invalid syntax'


async def test_http_redirects_to_the_same_host_are_followed(http_server: Server) -> None:
    result = await get(http_probe(http_server.port, "/same-host"))
    assert (result.success, result.message) == (True, "fine")


async def test_http_redirect_to_another_host_is_a_warning(http_server: Server) -> None:
    result = await get(http_probe(http_server.port, "/other-host"))
    assert (result.success, result.warning) == (True, True)
    assert result.message == "Probe terminated redirects, Response body: moved"


async def test_http_redirect_loop_stops_after_ten(http_server: Server) -> None:
    result = await get(http_probe(http_server.port, "/loop"))
    assert not result.success
    assert result.message == (
        f'Get "http://127.0.0.1:{http_server.port}/loop": stopped after 10 redirects')
    assert len(http_server.requests) == 10


async def test_http_chunked_and_limited_bodies(http_server: Server) -> None:
    assert (await get(http_probe(http_server.port, "/chunked"))).message == "hello"
    big = await get(http_probe(http_server.port, "/big"))
    assert big.success and len(big.message) == 10 * 1024


async def test_http_connection_refused_is_worded_like_go() -> None:
    port = closed_port()
    result = await get(http_probe(port, "/healthz"))
    assert not result.success
    assert result.message == (f'Get "http://127.0.0.1:{port}/healthz": dial tcp '
                              f"127.0.0.1:{port}: connect: connection refused")


async def test_http_timeout_is_worded_like_go(http_server: Server) -> None:
    result = await get(http_probe(http_server.port, "/slow"))
    assert not result.success
    assert result.message == (
        f'Get "http://127.0.0.1:{http_server.port}/slow": context deadline exceeded '
        "(Client.Timeout exceeded while awaiting headers)")


async def test_http_malformed_response(http_server: Server) -> None:
    result = await get(http_probe(http_server.port, "/garbage"))
    assert not result.success
    assert result.message.endswith(
        'net/http: HTTP/1.x transport connection broken: malformed HTTP response '
        '"SSH-2.0-OpenSSH"')


async def test_https_without_certificate_verification(tmp_path: Path) -> None:
    # A certificate from a CA the prober knows nothing about: it must not verify it.
    pair = ensure_serving_cert(ensure_ca(tmp_path), tmp_path, ["127.0.0.1"])
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pair.cert_path, pair.key_path)
    state = Server()
    server = await asyncio.start_server(state.handle, "127.0.0.1", 0, ssl=context)
    try:
        port = server.sockets[0].getsockname()[1]
        result = await get(http_probe(port, "/ok", scheme="HTTPS"))
        assert (result.success, result.message) == (True, "fine")
    finally:
        server.close()
        await server.wait_closed()


async def test_tcp_socket_probe(http_server: Server) -> None:
    ok = await get({"tcpSocket": {"port": http_server.port}})
    assert (ok.success, ok.message) == (True, "")
    port = closed_port()
    refused = await get({"tcpSocket": {"port": port}})
    assert (refused.success, refused.message) == (
        False, f"dial tcp 127.0.0.1:{port}: connect: connection refused")


async def test_exec_probe_uses_the_runtime_and_exit_code() -> None:
    seen: list[tuple[list[str], float]] = []

    async def exec_sync(argv: list[str], time_limit: float) -> tuple[int, bytes]:
        seen.append((argv, time_limit))
        if argv[0] == "hang":
            raise TimeoutError
        if argv[0] == "broken":
            raise RuntimeError("container not running")
        return (0, b"all good") if argv[0] == "true" else (1, b"nope\n")

    async def run(*argv: str) -> Any:
        return await run_probe({"exec": {"command": list(argv)}, "timeoutSeconds": 3},
                               pod_ip="", container={"name": "c"}, exec_sync=exec_sync)

    assert (await run("true")).message == "all good"
    assert (await run("false")).message == "nope\n"
    assert not (await run("false")).success
    hang = await run("hang", "-c", "sleep 9")
    assert (hang.success, hang.message) == (False, 'command "hang -c sleep 9" timed out')
    broken = await run("broken")
    assert (broken.error, broken.message) == (True, "container not running")
    assert seen[0] == (["true"], 3.0)


async def test_missing_handler_is_an_error() -> None:
    result = await run_probe({"timeoutSeconds": 1}, pod_ip="", container={"name": "app"})
    assert result.error and result.message == "missing probe handler for app"


def test_grpc_health_messages_are_encoded_by_hand() -> None:
    assert encode_request("") == b""
    assert encode_request("my.Service") == b"\x0a\x0amy.Service"
    assert decode_status(b"") == 0
    assert decode_status(b"\x08\x01") == 1
    assert decode_status(b"\x12\x03abc\x08\x02") == 2  # unknown fields are skipped


def test_helpers() -> None:
    assert format_url("http", "10.0.0.1", 80, "healthz") == "http://10.0.0.1:80/healthz"
    assert format_url("https", "fd00::1", 8443, "/a b?x=1") == "https://[fd00::1]:8443/a%20b?x=1"
    assert format_url("http", "h", 1, "") == "http://h:1"
    assert resolve_port("8080", {}) == 8080
    with pytest.raises(PortError, match="invalid port number: 70000"):
        resolve_port(70000, {})
    assert [go_duration(s) for s in (1, 59, 60, 90, 3600)] == ["1s", "59s", "1m0s", "1m30s",
                                                               "1h0m0s"]
