"""Creating a container under conmon, its per-container monitor.

conmon runs ``runc create`` and stays behind (daemonized, outliving the agent) as the
container's parent: it writes stdout/stderr to the CRI-format log (``k8s-file``, size-
limited by ``--log-size-max``), serves the attach socket (``<socket dir>/<id>/attach``,
SOCK_SEQPACKET, each message prefixed by a stream byte) and the control FIFO
(``<bundle>/ctl``: ``1 <height> <width>`` resizes the tty, ``2 0 0`` reopens the log), and
when the container exits it writes the exit code to ``<exit dir>/<id>`` and
``<persist dir>/exit`` (and ``<persist dir>/oom`` after an OOM kill).

The launching conmon process daemonizes immediately, so its own exit says nothing about the
container. Completion is reported on the sync pipe (``_OCI_SYNCPIPE``): one JSON line
``{"data": <container pid>}`` once the container is created, or a negative number and a
``message`` (runc's error) when it is not.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from kubesmith.agent.runtime.errors import RuntimeFailure

DEFAULT_LOG_SIZE_MAX = 10 * 1024 * 1024      # the kubelet's containerLogMaxSize default
CREATE_TIMEOUT = 120.0
_SUN_PATH_MAX = 107


@dataclass(frozen=True)
class ConmonDirs:
    """Where conmon keeps its per-container files (all under the agent's run dir)."""

    base: Path

    @property
    def exits(self) -> Path:
        return self.base / "exits"

    @property
    def sockets(self) -> Path:
        return self.base / "sockets"

    @property
    def persist_root(self) -> Path:
        return self.base / "persist"

    def persist(self, container_id: str) -> Path:
        return self.persist_root / container_id

    def exit_file(self, container_id: str) -> Path:
        return self.exits / container_id

    def oom_file(self, container_id: str) -> Path:
        return self.persist(container_id) / "oom"

    def attach_socket(self, container_id: str) -> Path:
        return self.sockets / container_id / "attach"

    def ensure(self) -> None:
        for directory in (self.exits, self.sockets, self.persist_root):
            directory.mkdir(parents=True, exist_ok=True)


def conmon_argv(conmon: str, runc: str, runc_root: Path, dirs: ConmonDirs, *,
                container_id: str, name: str, bundle: Path, log_path: Path, stdin: bool,
                stdin_once: bool, tty: bool, log_size_max: int) -> list[str]:
    argv = [
        conmon, "--api-version", "1",
        "-c", container_id, "-u", container_id, "-n", name,
        "-r", runc, "-b", str(bundle),
        "-p", str(bundle / "pid"), "--conmon-pidfile", str(bundle / "conmon.pid"),
        "--exit-dir", str(dirs.exits),
        "--persist-dir", str(dirs.persist(container_id)),
        "--socket-dir-path", str(dirs.sockets),
        "-l", f"k8s-file:{log_path}",
        "--log-size-max", str(log_size_max),
        f"--runtime-arg=--root={runc_root}",
        "--runtime-arg=--log-format=json",
    ]
    if stdin:
        argv.append("-i")
        if not stdin_once:
            # stdinOnce=false: a detaching client leaves stdin open for the next one.
            argv.append("--leave-stdin-open")
    if tty:
        argv.append("-t")
    return argv


async def _read_sync_message(read_fd: int) -> dict[str, object]:
    """The first JSON line conmon writes on the sync pipe."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(read_fd, "rb", buffering=0))
    try:
        line = await reader.readline()
    finally:
        transport.close()
    if not line:
        return {}
    try:
        message = json.loads(line)
    except ValueError:
        return {"data": -1, "message": line.decode(errors="replace")}
    return message if isinstance(message, dict) else {}


async def run_conmon(argv: list[str], *, bundle: Path,
                     timeout: float = CREATE_TIMEOUT) -> int:  # noqa: ASYNC109
    """Run conmon (which runs ``runc create``); the container's pid once it is created.

    Raises :class:`RuntimeFailure` with runc's message when creation fails.
    """
    read_fd, write_fd = os.pipe()
    os.set_inheritable(write_fd, True)
    stderr_path = bundle / "conmon.stderr"
    stderr_fd = os.open(stderr_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=stderr_fd, pass_fds=(write_fd,), cwd=str(bundle),
            env={**os.environ, "_OCI_SYNCPIPE": str(write_fd)})
    except BaseException:
        os.close(read_fd)
        raise
    finally:
        os.close(write_fd)
        os.close(stderr_fd)
    try:
        message = await asyncio.wait_for(_read_sync_message(read_fd), timeout)
    except TimeoutError:
        raise RuntimeFailure(f"conmon did not report within {timeout:g}s") from None
    finally:
        # The launcher exits as soon as it has forked the monitor.
        with contextlib.suppress(ProcessLookupError, TimeoutError):
            await asyncio.wait_for(proc.wait(), 10)
    pid = message.get("data")
    if isinstance(pid, int) and pid > 0:
        return pid
    detail = str(message.get("message") or "").strip()
    if not detail:
        with contextlib.suppress(OSError):
            detail = stderr_path.read_text(errors="replace").strip()
    raise RuntimeFailure(detail or f"conmon exited with {proc.returncode} without a pid")


def connect_attach(path: Path) -> socket.socket:
    """A connected SOCK_SEQPACKET socket to conmon's attach socket at ``path``.

    Unix socket paths are limited to 107 bytes; longer ones are reached through
    ``/proc/self/fd/<dir fd>/attach`` (conmon binds them the same way).
    """
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        if len(os.fsencode(path)) <= _SUN_PATH_MAX:
            sock.connect(str(path))
            return sock
        dir_fd = os.open(path.parent, os.O_PATH | os.O_DIRECTORY)
        try:
            sock.connect(f"/proc/self/fd/{dir_fd}/{path.name}")
        finally:
            os.close(dir_fd)
    except BaseException:
        sock.close()
        raise
    return sock


def write_control(fifo: Path, kind: int, height: int = 0, width: int = 0) -> None:
    """Send one control message (1 = resize, 2 = reopen log) to conmon's ctl FIFO."""
    fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    try:
        os.write(fd, f"{kind} {height} {width}\n".encode())
    finally:
        os.close(fd)
