"""Attaching to a running container through conmon (2.1.6).

What conmon does, from its source (``src/conn_sock.c``, ``src/ctr_stdio.c``,
``src/ctrl.c``):

* It listens on ``attach``, a ``SOCK_SEQPACKET`` unix socket in the container's bundle
  directory, reachable as ``<socket-dir-path>/<container-id>/attach`` (a symlink to the
  bundle keeps the path under the 108-byte limit).
* Every chunk the container writes (at most 8192 bytes) goes to each attached client as one
  packet whose first byte names the pipe: 2 stdout, 3 stderr (1 stdin is never sent). With
  a terminal everything is stdout. Output from before the attach is not replayed.
* A packet the client sends is written to the container's stdin as is (conmon reads at most
  32768 bytes a packet). When the client shuts down its sending side or closes, conmon
  closes the container's stdin, unless it was started with ``--leave-stdin-open`` (a
  container whose ``stdinOnce`` is false).
* Terminal resizes are lines ``1 <height> <width>\\n`` written to the ``ctl`` fifo in the
  bundle directory (type 1 is a resize; 2 asks conmon to reopen the log file). conmon
  passes each on through its ``winsz`` fifo, and of several lines it reads at once it
  applies only the first, over and over; ``kubectl attach -t`` sends two resizes in a row
  (one row and column more, then the real size, to make the program redraw), so a resize
  is written only once conmon has read the one before from both fifos.
* When the container exits conmon closes the client sockets: the attach ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import socket
import struct
import termios
import time
from pathlib import Path

STDOUT_PIPE = 2
STDERR_PIPE = 3
_PACKET = 8192 + 1
_STDIN_PACKET = 8192
_SUN_PATH_MAX = 108  # bytes in sockaddr_un.sun_path, the terminating NUL included
#: How long a resize waits for conmon to read the previous one.
RESIZE_DRAIN_TIMEOUT = 1.0
RESIZE_SETTLE = 0.02


class AttachSession:
    """An :class:`~kubesmith.agent.server.interfaces.ExecSession` over conmon's attach
    socket: the container's own stdio instead of a new process's."""

    def __init__(self, sock: socket.socket, control_fifo: Path) -> None:
        self._sock = sock
        self._control = control_fifo
        self._stdout: asyncio.Queue[bytes] = asyncio.Queue()
        self._stderr: asyncio.Queue[bytes] = asyncio.Queue()
        self._ended = asyncio.Event()
        self._reader = asyncio.ensure_future(self._read_packets())

    @classmethod
    async def connect(cls, attach_socket: Path, control_fifo: Path) -> AttachSession:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
        sock.setblocking(False)
        directory = -1
        address = str(attach_socket)
        if len(address.encode()) >= _SUN_PATH_MAX:
            # Too long for a socket address: reach it through the open directory instead.
            directory = os.open(attach_socket.parent, os.O_PATH | os.O_CLOEXEC)
            address = f"/proc/self/fd/{directory}/{attach_socket.name}"
        try:
            await asyncio.get_running_loop().sock_connect(sock, address)
        except OSError:
            sock.close()
            raise
        finally:
            if directory >= 0:
                os.close(directory)
        return cls(sock, control_fifo)

    async def _read_packets(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                packet = await loop.sock_recv(self._sock, _PACKET)
                if not packet:
                    break
                if packet[0] == STDOUT_PIPE:
                    self._stdout.put_nowait(packet[1:])
                elif packet[0] == STDERR_PIPE:
                    self._stderr.put_nowait(packet[1:])
        except OSError:
            pass
        finally:
            self._stdout.put_nowait(b"")
            self._stderr.put_nowait(b"")
            self._ended.set()

    @staticmethod
    async def _next(queue: asyncio.Queue[bytes]) -> bytes:
        data = await queue.get()
        if not data:
            queue.put_nowait(b"")  # stay at the end for later reads
        return data

    async def read_stdout(self) -> bytes:
        return await self._next(self._stdout)

    async def read_stderr(self) -> bytes:
        return await self._next(self._stderr)

    async def write_stdin(self, data: bytes) -> None:
        loop = asyncio.get_running_loop()
        for start in range(0, len(data), _STDIN_PACKET):
            await loop.sock_sendall(self._sock, data[start:start + _STDIN_PACKET])

    async def close_stdin(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_WR)

    async def resize(self, width: int, height: int) -> None:
        await asyncio.to_thread(write_resize, self._control, width, height)

    async def wait(self) -> int:
        """Until conmon closes the socket (the container exited); attaching itself
        always succeeds."""
        await self._ended.wait()
        return 0

    async def kill(self) -> None:
        """Detach (the container keeps running)."""
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader
        self._sock.close()


def write_resize(control_fifo: Path, width: int, height: int) -> None:
    """Ask conmon to resize the container's terminal (nothing happens when conmon is not
    reading the fifo, e.g. the container is gone). Blocks for at most
    :data:`RESIZE_DRAIN_TIMEOUT` while conmon still has an earlier resize to read."""
    try:
        fd = os.open(control_fifo, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return
    try:
        _wait_until_read(fd, control_fifo.parent / "winsz")
        os.write(fd, f"1 {height} {width}\n".encode())
    except OSError:
        pass
    finally:
        os.close(fd)


def _unread_bytes(fd: int) -> int:
    return int(struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0" * 4))[0])


def _wait_until_read(control_fd: int, winsz_fifo: Path) -> None:
    """Until conmon read everything written to its ``ctl`` and ``winsz`` fifos."""
    try:
        winsz_fd = os.open(winsz_fifo, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:  # no terminal (no winsz fifo) or conmon gone
        winsz_fd = -1
    try:
        # Both empty for a little while: conmon reads ``ctl`` and writes ``winsz`` in one
        # step, and a single look could fall between the two.
        now = time.monotonic()
        deadline, quiet_since = now + RESIZE_DRAIN_TIMEOUT, None
        while now < deadline:
            if _unread_bytes(control_fd) or (winsz_fd >= 0 and _unread_bytes(winsz_fd)):
                quiet_since = None
            elif quiet_since is None:
                quiet_since = now
            elif now - quiet_since >= RESIZE_SETTLE:
                return
            time.sleep(0.005)
            now = time.monotonic()
    finally:
        if winsz_fd >= 0:
            os.close(winsz_fd)
