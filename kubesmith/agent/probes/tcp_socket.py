"""The tcpSocket probe: success when a TCP connection opens within the timeout."""

from __future__ import annotations

import asyncio

from kubesmith.agent.probes.dial import DialError, close_quietly, dial, dial_error_message
from kubesmith.agent.probes.ports import PortError, resolve_port
from kubesmith.agent.probes.result import ProbeResult, errored, failure, success
from kubesmith.api.types import Obj


async def tcp_socket_probe(action: Obj, *, pod_ip: str, container: Obj,
                           time_limit: float) -> ProbeResult:
    try:
        port = resolve_port(action.get("port"), container)
    except PortError as exc:
        return errored(str(exc))
    host = str(action.get("host") or pod_ip)
    try:
        async with asyncio.timeout(time_limit):
            _reader, writer = await dial(host, port)
    except TimeoutError as exc:
        return failure(dial_error_message(host, port, exc))
    except DialError as exc:
        return failure(str(exc))
    await close_quietly(writer)
    return success()
