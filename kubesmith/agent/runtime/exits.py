"""Learning promptly that a container exited: conmon's exit files, watched with inotify.

conmon writes ``<exits dir>/<container id>`` (the exit code) when the container's init
exits. One inotify watch on that directory (``IN_CLOSE_WRITE | IN_MOVED_TO``) wakes the
event loop within milliseconds of an exit and costs nothing while containers run, no matter
how many there are — polling 100 containers' state every half second would cost a runc
process each. If inotify is unavailable (no instances left), the watcher falls back to
listing the directory every 0.5 s.

Consumers either ``await wait(id)`` for one container or ``subscribe()`` to a queue of
every exiting container id (the pod workers' wake-up signal). The watcher runs on the
event loop it is first used from.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import struct
from pathlib import Path

log = logging.getLogger(__name__)

IN_CLOSE_WRITE = 0x00000008
IN_MOVED_TO = 0x00000080
IN_NONBLOCK = 0o4000
IN_CLOEXEC = 0o2000000
POLL_INTERVAL = 0.5
_EVENT_HEADER = struct.Struct("iIII")

_libc = ctypes.CDLL(None, use_errno=True)


class ExitWatcher:
    """Watches one exits directory; see the module docstring."""

    def __init__(self, exits_dir: Path) -> None:
        self.exits_dir = exits_dir
        self._fd = -1
        self._loop: asyncio.AbstractEventLoop | None = None
        self._poller: asyncio.Task[None] | None = None
        self._waiters: dict[str, list[asyncio.Future[None]]] = {}
        self._queues: list[asyncio.Queue[str]] = []

    def start(self) -> None:
        """Begin watching (idempotent); call from the event loop."""
        if self._loop is not None:
            return
        self._loop = asyncio.get_running_loop()
        self.exits_dir.mkdir(parents=True, exist_ok=True)
        fd = _libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd >= 0 and _libc.inotify_add_watch(
                fd, os.fsencode(self.exits_dir), IN_CLOSE_WRITE | IN_MOVED_TO) >= 0:
            self._fd = fd
            self._loop.add_reader(fd, self._on_readable)
            return
        code = ctypes.get_errno()
        if fd >= 0:
            os.close(fd)
        log.warning("inotify unavailable (%s); polling %s", os.strerror(code), self.exits_dir)
        # The listing is taken now: an exit right after start() must count as new.
        self._poller = self._loop.create_task(self._poll(set(self._listing())))

    def close(self) -> None:
        if self._loop is not None and self._fd >= 0:
            self._loop.remove_reader(self._fd)
            os.close(self._fd)
        self._fd = -1
        if self._poller is not None:
            self._poller.cancel()
            self._poller = None
        self._loop = None
        for futures in self._waiters.values():
            for future in futures:
                future.cancel()
        self._waiters.clear()

    def subscribe(self) -> asyncio.Queue[str]:
        """A queue that receives the id of every container that exits from now on."""
        self.start()
        queue: asyncio.Queue[str] = asyncio.Queue()
        self._queues.append(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[str]) -> None:
        with contextlib.suppress(ValueError):
            self._queues.remove(queue)

    def exited(self, container_id: str) -> bool:
        return (self.exits_dir / container_id).exists()

    async def wait(self, container_id: str,
                   timeout: float | None = None) -> bool:  # noqa: ASYNC109
        """Wait until the container has exited; False if ``timeout`` passed first."""
        self.start()
        assert self._loop is not None
        future: asyncio.Future[None] = self._loop.create_future()
        self._waiters.setdefault(container_id, []).append(future)
        try:
            # Checked after registering, so an exit between the two is not missed.
            if self.exited(container_id):
                return True
            await asyncio.wait_for(asyncio.shield(future), timeout)
            return True
        except TimeoutError:
            return False
        finally:
            futures = self._waiters.get(container_id, [])
            if future in futures:
                futures.remove(future)
            if not futures:
                self._waiters.pop(container_id, None)

    def _emit(self, container_id: str) -> None:
        for future in self._waiters.pop(container_id, []):
            if not future.done():
                future.set_result(None)
        for queue in self._queues:
            queue.put_nowait(container_id)

    def _on_readable(self) -> None:
        try:
            data = os.read(self._fd, 65536)
        except BlockingIOError:
            return
        offset = 0
        while offset + _EVENT_HEADER.size <= len(data):
            _, _, _, length = _EVENT_HEADER.unpack_from(data, offset)
            start = offset + _EVENT_HEADER.size
            name = data[start:start + length].rstrip(b"\0").decode(errors="replace")
            offset = start + length
            # g_file_set_contents writes "<id>.XXXXXX" and renames it to "<id>".
            if name and "." not in name:
                self._emit(name)

    async def _poll(self, seen: set[str]) -> None:
        while True:
            await asyncio.sleep(POLL_INTERVAL)
            current = set(self._listing())
            for name in current - seen:
                self._emit(name)
            seen = current

    def _listing(self) -> list[str]:
        try:
            return [n for n in os.listdir(self.exits_dir) if "." not in n]
        except FileNotFoundError:
            return []
