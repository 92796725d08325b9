"""The grpc probe: ``grpc.health.v1.Health/Check`` on the pod IP, insecure, like the kubelet.

The two protobuf messages are tiny, so they are encoded by hand rather than pulling in
generated code: ``HealthCheckRequest{string service = 1}`` and
``HealthCheckResponse{ServingStatus status = 1}``. As upstream (dial with ``WithBlock``),
the connection is awaited until ready, so an unreachable or refusing server fails with a
timeout message; every failure is a probe failure, never an error. grpcio is imported on
the first grpc probe only.
"""

from __future__ import annotations

import asyncio
from typing import Any

from kubesmith.agent.probes.http_get import USER_AGENT
from kubesmith.agent.probes.result import (
    ProbeResult,
    failure,
    go_duration,
    join_host_port,
    success,
)
from kubesmith.api.types import Obj

CHECK_METHOD = "/grpc.health.v1.Health/Check"
SERVING_STATUS = {0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}
SERVING = 1

# Go's codes.Code names, for "rpc error: code = <Name> desc = <message>".
_GO_CODE_NAMES = {"CANCELLED": "Canceled"}


def _varint(value: int) -> bytes:
    # The only protobuf writer lives in the API server, which the agent must not import;
    # a request with one string field needs no more than this.
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def encode_request(service: str) -> bytes:
    """HealthCheckRequest: field 1 (service), length-delimited; empty when unset."""
    if not service:
        return b""
    data = service.encode()
    return b"\x0a" + _varint(len(data)) + data


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("malformed varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def decode_status(data: bytes) -> int:
    """HealthCheckResponse.status (0 = UNKNOWN when absent); other fields are skipped.

    Not kubesmith.api.protobuf.wire: importing that package loads the API's whole
    protobuf and validation machinery, a heavy price in the agent for one varint.
    """
    status = 0
    pos = 0
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, pos = _read_varint(data, pos)
            if number == 1:
                status = value
        elif wire_type == 2:
            length, pos = _read_varint(data, pos)
            pos += length
        elif wire_type in (1, 5):
            pos += 8 if wire_type == 1 else 4
        else:
            raise ValueError(f"unsupported wire type {wire_type}")
    if pos > len(data):
        raise ValueError("truncated message")
    return status


def _go_code(code: Any) -> str:
    name = str(code.name)
    return _GO_CODE_NAMES.get(name, "".join(p.capitalize() for p in name.split("_")))


async def grpc_probe(action: Obj, *, pod_ip: str, time_limit: float) -> ProbeResult:
    # Imported on first use: grpcio costs ~20 MB and a second of start-up, and most nodes
    # never run a grpc probe.
    import grpc  # type: ignore[import-untyped]
    from grpc import aio

    port = int(action.get("port") or 0)
    service = str(action.get("service") or "")
    address = join_host_port(pod_ip, port)
    timeout_text = go_duration(time_limit)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + time_limit
    channel = aio.insecure_channel(address, options=[("grpc.primary_user_agent", USER_AGENT)])
    try:
        try:
            await asyncio.wait_for(channel.channel_ready(), time_limit)
        except TimeoutError:
            return failure(f'timeout: failed to connect service "{address}" within '
                           f"{timeout_text}: context deadline exceeded")
        check = channel.unary_unary(CHECK_METHOD)
        remaining = max(deadline - loop.time(), 0.001)
        try:
            reply = await check(encode_request(service), timeout=remaining)
        except aio.AioRpcError as exc:
            code = exc.code()
            details = exc.details() or ""
            if code == grpc.StatusCode.UNIMPLEMENTED:
                return failure("error: this server does not implement the grpc health "
                               f"protocol (grpc.health.v1.Health): {details}")
            if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                return failure(f"timeout: health rpc did not complete within {timeout_text}")
            return failure("error: health rpc probe failed: "
                           f"rpc error: code = {_go_code(code)} desc = {details}")
        try:
            status = decode_status(bytes(reply))
        except ValueError as exc:
            return failure("error: health rpc probe failed: rpc error: code = Internal "
                           f"desc = grpc: failed to unmarshal the received message: {exc}")
        if status != SERVING:
            name = SERVING_STATUS.get(status, str(status))
            return failure(f'service unhealthy (responded with "{name}")')
        return success("service healthy")
    finally:
        await channel.close()
