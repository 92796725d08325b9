"""TCP connections for probes, failing with the messages Go's dialer produces.

Probe messages end up in events users read (``Liveness probe failed: dial tcp
10.244.0.5:8080: connect: connection refused``), so errors are worded like the kubelet's.
Like the kubelet's probe dialer, sockets linger 1 s on close: a probe every few seconds
must not pile up TIME_WAIT sockets on the node.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import ssl
import struct

from kubesmith.agent.probes.result import join_host_port


class DialError(Exception):
    """The connection could not be made; ``str()`` is Go's message."""


def _set_linger(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 1))


def dial_error_message(host: str, port: int, exc: BaseException) -> str:
    address = join_host_port(host, port)
    if isinstance(exc, socket.gaierror):
        return f"dial tcp: lookup {host}: no such host"
    if isinstance(exc, TimeoutError):
        return f"dial tcp {address}: i/o timeout"
    if isinstance(exc, OSError) and exc.errno:
        return f"dial tcp {address}: connect: {os.strerror(exc.errno).lower()}"
    return f"dial tcp {address}: {exc}"


async def dial(host: str, port: int, *, tls: ssl.SSLContext | None = None
               ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Open a connection (TLS when ``tls`` is given); raises :class:`DialError`.
    The caller bounds the time (asyncio.timeout) and maps a timeout itself."""
    try:
        reader, writer = await asyncio.open_connection(
            host, port, ssl=tls, server_hostname=host if tls is not None else None)
    except ssl.SSLError as exc:
        raise DialError(f"tls: {exc.reason or exc}".lower()) from None
    except OSError as exc:
        raise DialError(dial_error_message(host, port, exc)) from None
    _set_linger(writer)
    return reader, writer


async def close_quietly(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()
