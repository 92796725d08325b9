"""The WebSocket channel protocol of exec and attach (``*.channel.k8s.io``).

Every binary message starts with a channel byte: 0 stdin, 1 stdout, 2 stderr, 3 error
(the final status), 4 resize (JSON ``{"Width":..,"Height":..}``, v3 and later). Versions:

* ``channel.k8s.io`` (v1) and ``v2.channel.k8s.io``: the error channel carries a failure as
  plain text; success sends nothing.
* ``v3.channel.k8s.io``: adds the resize channel.
* ``v4.channel.k8s.io``: the error channel carries a ``Status`` (exit codes).
* ``v5.channel.k8s.io`` (what kubectl 1.30+ asks for, and only that): adds the close
  signal ``[255, <channel>]``, with which the client half-closes its stdin.

The server never sends empty messages: client-go reads a channel byte from every message
and treats an empty one as a broken connection.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from kubesmith.agent.server.remotecommand import InputEvent, Resize, Stdin, StdinClosed

PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io", "v3.channel.k8s.io",
             "v2.channel.k8s.io", "channel.k8s.io")

STDIN, STDOUT, STDERR, ERROR, RESIZE = 0, 1, 2, 3, 4
CLOSE_SIGNAL = 255


def version_of(protocol: str | None) -> int:
    """1..5 for a negotiated protocol (1 when none was: the original protocol)."""
    if protocol and protocol.startswith("v") and protocol[1:2].isdigit():
        return int(protocol[1])
    return 1


def parse_resizes(payload: bytes) -> list[Resize]:
    """Terminal sizes from a resize message (one JSON object, or several in a row)."""
    text = payload.decode("utf-8", "replace")
    decoder = json.JSONDecoder()
    sizes = []
    position = 0
    while position < len(text):
        while position < len(text) and text[position].isspace():
            position += 1
        if position >= len(text):
            break
        try:
            value, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError:
            break
        if isinstance(value, dict):
            sizes.append(Resize(int(value.get("Width") or 0), int(value.get("Height") or 0)))
    return sizes


class WebSocketChannels:
    """:class:`~kubesmith.agent.server.remotecommand.ClientStreams` over a WebSocket."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self.version = version_of(ws.ws_protocol)
        self._pending: list[InputEvent] = []

    async def _send(self, channel: int, data: bytes) -> None:
        if self.ws.closed:
            raise ConnectionResetError("websocket closed")
        await self.ws.send_bytes(bytes((channel,)) + data)

    async def write_stdout(self, data: bytes) -> None:
        await self._send(STDOUT, data)

    async def write_stderr(self, data: bytes) -> None:
        await self._send(STDERR, data)

    async def read_input(self) -> InputEvent | None:
        while not self._pending:
            msg = await self.ws.receive()
            if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED,
                            WSMsgType.ERROR):
                return None
            if msg.type == WSMsgType.TEXT:
                continue  # the base64 variants are not offered
            data: bytes = msg.data
            if not data:
                continue
            channel, payload = data[0], data[1:]
            if channel == STDIN:
                if payload:
                    self._pending.append(Stdin(payload))
            elif channel == RESIZE and self.version >= 3:
                self._pending.extend(parse_resizes(payload))
            elif channel == CLOSE_SIGNAL and self.version >= 5 and payload[:1] == b"\0":
                self._pending.append(StdinClosed())
        return self._pending.pop(0)

    async def finish(self, status: dict[str, Any]) -> None:
        if self.version >= 4:
            await self._send(ERROR, orjson.dumps(status))
        elif status.get("status") != "Success":
            await self._send(ERROR, str(status.get("message", "")).encode())
        await self.ws.close()
