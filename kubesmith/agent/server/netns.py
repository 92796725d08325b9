"""Connecting to a port inside a pod's network namespace.

A socket belongs to the network namespace it was created in, whatever thread uses it
later. So a short-lived thread enters the pod's namespace (``setns`` changes only the
calling thread), creates and connects the socket, and ends; the agent then uses the socket
from its event loop. A fresh thread each time, never a pooled one: a pool thread would stay
in the pod's namespace for whatever ran on it next.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import os
import socket
import threading
from pathlib import Path

CLONE_NEWNET = 0x40000000
CONNECT_TIMEOUT = 5.0

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def _setns(fd: int, nstype: int) -> None:
    if _libc.setns(fd, nstype) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def _connect_local(port: int) -> socket.socket:
    """Connect to localhost:port from the current namespace, IPv4 then IPv6 (as
    containerd's port-forward does)."""
    errors = []
    for family, address in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.settimeout(CONNECT_TIMEOUT)
        try:
            sock.connect((address, port))
        except OSError as exc:
            sock.close()
            errors.append(f"{'IPv4' if family == socket.AF_INET else 'IPv6'}: {exc}")
            continue
        sock.setblocking(False)
        return sock
    raise ConnectionRefusedError(f"failed to connect to localhost:{port}: "
                                 + "; ".join(errors))


def _connect_in(netns: Path, port: int) -> socket.socket:
    result: list[socket.socket] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            fd = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
            try:
                _setns(fd, CLONE_NEWNET)
            finally:
                os.close(fd)
            result.append(_connect_local(port))
        except BaseException as exc:  # handed to the caller's thread
            failure.append(exc)

    thread = threading.Thread(target=run, name=f"netns-connect-{port}", daemon=True)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return result[0]


async def open_connection(netns: Path | None, port: int
                          ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection to ``localhost:port`` inside ``netns`` (the agent's own namespace when
    None: hostNetwork pods)."""
    if netns is None:
        sock = await asyncio.to_thread(_connect_local, port)
    else:
        sock = await asyncio.to_thread(_connect_in, netns, port)
    return await asyncio.open_connection(sock=sock)
