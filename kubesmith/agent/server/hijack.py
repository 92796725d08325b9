"""Taking over an aiohttp server connection after a ``101 Switching Protocols`` that is not
a WebSocket (``Upgrade: SPDY/3.1``), or to relay any upgraded connection byte for byte.

aiohttp has no public API for this, so it is done the way its own WebSocket support does
it: a feeder object installed with ``request.protocol.set_parser`` receives every byte the
client sends after the request (it must be installed before the 101 is sent, because
aiohttp would parse the bytes of an upgrade it does not know as the next HTTP request), and
writes go through the prepared 101 response, which aiohttp sends unframed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from aiohttp import web

_HIGH_WATER = 1 << 20


class _Feeder:
    """What aiohttp's protocol feeds the bytes of the upgraded connection to."""

    def __init__(self, transport: asyncio.Transport | None) -> None:
        self._transport = transport
        self._chunks: list[bytes] = []
        self._size = 0
        self._eof = False
        self._event = asyncio.Event()
        self._paused = False

    # aiohttp's parser interface: feed_data returns (eof, unparsed tail).
    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        if data:
            self._chunks.append(bytes(data))
            self._size += len(data)
            self._event.set()
            if self._size > _HIGH_WATER and self._transport is not None and not self._paused:
                self._transport.pause_reading()
                self._paused = True
        return False, b""

    def feed_eof(self) -> None:
        self._eof = True
        self._event.set()

    async def read(self) -> bytes:
        while not self._chunks:
            if self._eof:
                return b""
            self._event.clear()
            await self._event.wait()
        data = b"".join(self._chunks)
        self._chunks.clear()
        self._size = 0
        if self._paused and self._transport is not None:
            self._transport.resume_reading()
            self._paused = False
        return data


class RawConnection:
    """The client's side of a hijacked connection: a
    :class:`~kubesmith.agent.server.bytestream.ByteStream`."""

    def __init__(self, feeder: _Feeder, response: web.StreamResponse,
                 request: web.BaseRequest) -> None:
        self._feeder = feeder
        self.response = response
        self._request = request
        self._lock = asyncio.Lock()

    async def read(self) -> bytes:
        return await self._feeder.read()

    async def write(self, data: bytes) -> None:
        async with self._lock:
            await self.response.write(data)

    async def close(self) -> None:
        transport = self._request.transport
        if transport is not None:
            transport.close()


async def accept_upgrade(request: web.BaseRequest, headers: Mapping[str, str]
                         ) -> RawConnection:
    """Answer ``101 Switching Protocols`` with ``headers`` and return the raw connection."""
    feeder = _Feeder(request.transport)
    protocol: Any = request.protocol
    protocol.set_parser(feeder)
    protocol.keep_alive(False)
    response = web.StreamResponse(status=101, headers=headers)
    response.force_close()
    await response.prepare(request)
    return RawConnection(feeder, response, request)
