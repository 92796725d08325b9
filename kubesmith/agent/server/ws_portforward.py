"""Port forwarding over WebSocket channels (``v4.channel.k8s.io``), the kubelet's older
WebSocket protocol that non-Go clients (the Python client among them) use; kubectl
tunnels SPDY instead (:mod:`kubesmith.agent.server.portforward`).

The ports come in the query (``port=8080,9090``); port *i* gets data channel ``2i`` and
error channel ``2i+1``. Before anything else the server writes the port number (two bytes,
little endian) on both channels of each port. Each port is one connection for the life of
the WebSocket; a failure goes to its error channel as text.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiohttp import WSMsgType, web

from kubesmith.agent.server import portforward
from kubesmith.agent.server.interfaces import PodRef

log = logging.getLogger("kubesmith.agent.server.portforward")

PROTOCOL = "v4.channel.k8s.io"


def parse_ports(values: list[str]) -> list[int]:
    """The ``port`` query values (each may list several); ValueError names a bad one."""
    if not values:
        raise ValueError('query parameter "port" is required')
    ports = []
    for value in values:
        for text in value.split(","):
            if not text.isdigit() or not 0 < int(text) < 65536:
                raise ValueError(f"unable to parse {text!r} as a port")
            ports.append(int(text))
    return ports


class _Channel:
    """One port's data channel as a duplex stream."""

    def __init__(self, ws: web.WebSocketResponse, index: int) -> None:
        self.ws = ws
        self.data_channel = 2 * index
        self.incoming: asyncio.Queue[bytes] = asyncio.Queue()

    async def read(self) -> bytes:
        return await self.incoming.get()

    async def write(self, data: bytes) -> None:
        await _send(self.ws, self.data_channel, data)


async def _send(ws: web.WebSocketResponse, channel: int, data: bytes) -> None:
    if ws.closed:
        raise ConnectionResetError("websocket closed")
    await ws.send_bytes(bytes((channel,)) + data)


async def serve(ws: web.WebSocketResponse, pod_name: str, pod: PodRef,
                ports: list[int]) -> None:
    channels = [_Channel(ws, i) for i in range(len(ports))]
    for i, port in enumerate(ports):
        prefix = port.to_bytes(2, "little")
        await _send(ws, 2 * i, prefix)
        await _send(ws, 2 * i + 1, prefix)

    async def one(index: int, port: int) -> None:
        try:
            await portforward.forward(pod.netns, port, channels[index])
        except (OSError, TimeoutError) as exc:
            message = f"error forwarding port {port} to pod {pod_name}, uid {pod.uid}: {exc}"
            log.info("port-forward: %s", message)
            with contextlib.suppress(ConnectionError):
                await _send(ws, 2 * index + 1, message.encode())

    async def read_client() -> None:
        async for msg in ws:
            if msg.type != WSMsgType.BINARY or not msg.data:
                continue
            channel, payload = msg.data[0], msg.data[1:]
            if channel % 2 == 0 and channel // 2 < len(channels) and payload:
                channels[channel // 2].incoming.put_nowait(payload)
        for channel in channels:
            channel.incoming.put_nowait(b"")

    reader = asyncio.ensure_future(read_client())
    try:
        await asyncio.gather(*(one(i, port) for i, port in enumerate(ports)))
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
