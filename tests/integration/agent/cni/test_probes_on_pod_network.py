"""Probes against real servers: httpGet and tcpSocket against busybox servers inside a pod
network namespace attached with the real CNI plugins, the probe manager on real time, and
grpc health checks against a grpcio server on loopback."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc  # type: ignore[import-untyped]
import pytest
from grpc import aio

from kubesmith.agent.probes import ProbeManager, run_probe
from kubesmith.agent.probes.grpc_health import decode_status

from .conftest import PodNet, wait_for_port

pytestmark = pytest.mark.integration


async def test_http_and_tcp_probes_against_a_pod(podnet: PodNet) -> None:
    ns, _, network = await podnet.attach("web")
    pod_ip = network.ips[0]
    podnet.serve_http(ns, 8080, {"index.html": "healthy\n"})
    podnet.spawn_in(ns, "busybox", "nc", "-ll", "-p", "9000", "-e", "/bin/true")
    wait_for_port(pod_ip, 8080)
    wait_for_port(pod_ip, 9000)
    container = {"name": "web", "ports": [{"name": "http", "containerPort": 8080}]}

    async def probe(spec: dict[str, Any]) -> Any:
        return await run_probe({**spec, "timeoutSeconds": 1}, pod_ip=pod_ip,
                               container=container)

    ok = await probe({"httpGet": {"port": "http", "path": "/index.html"}})
    assert (ok.success, ok.message) == (True, "healthy\n")
    missing = await probe({"httpGet": {"port": 8080, "path": "/nope"}})
    assert (missing.success, missing.message) == (False, "HTTP probe failed with statuscode: 404")
    refused = await probe({"httpGet": {"port": 8081, "path": "/healthz"}})
    assert refused.message == (f'Get "http://{pod_ip}:8081/healthz": dial tcp {pod_ip}:8081: '
                               "connect: connection refused")
    assert (await probe({"tcpSocket": {"port": 9000}})).success
    closed = await probe({"tcpSocket": {"port": 9001}})
    assert closed.message == f"dial tcp {pod_ip}:9001: connect: connection refused"
    # An address in the pod CIDR that nobody holds: no ARP answer, the probe times out.
    ghost = str(list(podnet.cidr.hosts())[-1])
    silent = await run_probe({"tcpSocket": {"port": 80}, "timeoutSeconds": 1}, pod_ip=ghost,
                             container=container)
    assert (silent.success, silent.message) == (False, f"dial tcp {ghost}:80: i/o timeout")


async def test_readiness_follows_the_server_on_real_time(podnet: PodNet) -> None:
    ns, _, network = await podnet.attach("web")
    pod_ip = network.ips[0]
    server = podnet.serve_http(ns, 8080, {"ready": "yes"})
    wait_for_port(pod_ip, 8080)
    results: list[tuple[str, bool]] = []
    events: list[tuple[str, str]] = []
    manager = ProbeManager(
        on_result=lambda uid, name, kind, ok, msg: results.append((kind, ok)),
        on_event=lambda uid, name, reason, msg: events.append((reason, msg)))
    container = {"name": "web", "readinessProbe": {
        "httpGet": {"port": 8080, "path": "/ready"}, "periodSeconds": 1, "timeoutSeconds": 1,
        "failureThreshold": 2, "successThreshold": 1}}
    try:
        manager.container_started("uid-web", container, container_id="c-web",
                                  started_at=time.time(), pod_ip=pod_ip)
        await wait_until(lambda: manager.ready("uid-web", "web"))
        server.kill()
        server.wait()
        await wait_until(lambda: not manager.ready("uid-web", "web"))
        assert results == [("readiness", False), ("readiness", True), ("readiness", False)]
        assert events[0] == ("Unhealthy", f'Readiness probe failed: Get "http://{pod_ip}:8080'
                                          f'/ready": dial tcp {pod_ip}:8080: connect: '
                                          "connection refused")
    finally:
        await manager.close()


async def wait_until(condition: Any, deadline: float = 10.0) -> None:
    end = time.monotonic() + deadline
    while not condition():
        assert time.monotonic() < end, "condition not reached in time"
        await asyncio.sleep(0.05)


# -- grpc health on loopback ------------------------------------------------------------------

STATUS_BY_SERVICE = {"": 1, "db": 2}  # SERVING, NOT_SERVING


def health_check(request: bytes, context: Any) -> bytes:
    service = request[2:].decode() if request else ""
    if service not in STATUS_BY_SERVICE:
        context.abort(grpc.StatusCode.NOT_FOUND, "unknown service")
    return b"\x08" + bytes([STATUS_BY_SERVICE[service]])


async def start_grpc(with_health: bool) -> tuple[Any, int]:
    server = aio.server()
    if with_health:
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
            "grpc.health.v1.Health",
            {"Check": grpc.unary_unary_rpc_method_handler(health_check)}),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, port


@pytest.fixture
async def grpc_server() -> AsyncIterator[int]:
    server, port = await start_grpc(with_health=True)
    yield port
    await server.stop(None)


async def grpc_check(port: int, service: str | None = None) -> Any:
    action: dict[str, Any] = {"port": port}
    if service is not None:
        action["service"] = service
    return await run_probe({"grpc": action, "timeoutSeconds": 1}, pod_ip="127.0.0.1",
                           container={"name": "c"})


async def test_grpc_serving(grpc_server: int) -> None:
    result = await grpc_check(grpc_server)
    assert (result.success, result.message) == (True, "service healthy")


async def test_grpc_not_serving(grpc_server: int) -> None:
    result = await grpc_check(grpc_server, "db")
    assert (result.success, result.message) == (
        False, 'service unhealthy (responded with "NOT_SERVING")')


async def test_grpc_rpc_error(grpc_server: int) -> None:
    result = await grpc_check(grpc_server, "unknown")
    assert (result.success, result.message) == (
        False, "error: health rpc probe failed: rpc error: code = NotFound desc = "
               "unknown service")


async def test_grpc_server_without_health_service() -> None:
    server, port = await start_grpc(with_health=False)
    try:
        result = await grpc_check(port)
    finally:
        await server.stop(None)
    assert not result.success
    assert result.message.startswith(
        "error: this server does not implement the grpc health protocol "
        "(grpc.health.v1.Health): ")


async def test_grpc_unreachable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = await grpc_check(port)
    assert (result.success, result.message) == (
        False, f'timeout: failed to connect service "127.0.0.1:{port}" within 1s: '
               "context deadline exceeded")


def test_health_handler_encoding_matches_the_decoder() -> None:
    assert decode_status(health_check(b"", None)) == 1
