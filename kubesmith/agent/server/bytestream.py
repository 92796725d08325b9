"""A byte stream over an upgraded connection, whatever carries it.

SPDY runs over a raw upgraded HTTP connection (``Upgrade: SPDY/3.1``) or tunneled in
WebSocket binary messages (``SPDY/3.1+portforward.k8s.io``, kubectl 1.30+); the SPDY code
only sees :class:`ByteStream`.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from aiohttp import WSMsgType, web


class ByteStream(Protocol):
    async def read(self) -> bytes:
        """The next bytes; b"" once the peer closed."""
        ...

    async def write(self, data: bytes) -> None:
        ...

    async def close(self) -> None:
        ...


class WebSocketByteStream:
    """Bytes in WebSocket binary messages (message boundaries mean nothing)."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self._lock = asyncio.Lock()

    async def read(self) -> bytes:
        while True:
            msg = await self.ws.receive()
            if msg.type == WSMsgType.BINARY:
                data: bytes = msg.data
                if data:
                    return data
            elif msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED,
                              WSMsgType.ERROR):
                return b""

    async def write(self, data: bytes) -> None:
        if self.ws.closed:
            raise ConnectionResetError("websocket closed")
        async with self._lock:
            await self.ws.send_bytes(data)

    async def close(self) -> None:
        await self.ws.close()
