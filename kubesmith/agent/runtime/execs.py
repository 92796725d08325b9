"""Running extra processes in a container: ``runc exec`` with the container's own process
settings (user, env, cwd, capabilities) and different arguments.

Each exec gets a process spec, a pid file and a runc log file in a private directory of the
bundle. runc's own messages go to the log file, never into the process's output, so a
failure to start the process (``executable file not found``) is told apart from the
process exiting non-zero.

Interactive execs with a tty give runc a pseudo-terminal as its stdio, like CRI-O does:
runc proxies between it and the container's terminal and copies its size to the
container's on SIGWINCH, so a resize is ``TIOCSWINSZ`` on our end plus SIGWINCH to runc.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import json
import os
import secrets
import shutil
import signal
import struct
import termios
from pathlib import Path
from tty import setraw
from typing import Any, Protocol

from kubesmith.agent.runtime.errors import ExecFailed, ExecTimeout
from kubesmith.agent.runtime.runc import Runc, error_message

_EOT = b"\x04"
_KILL_GRACE = 5.0


class ExecFiles:
    """The scratch files of one exec, in ``<bundle>/execs/<random>/``."""

    def __init__(self, bundle: Path, process: dict[str, Any]) -> None:
        self.directory = bundle / "execs" / secrets.token_hex(8)
        self.directory.mkdir(parents=True, mode=0o700)
        self.process_file = self.directory / "process.json"
        self.pid_file = self.directory / "pid"
        self.log_file = self.directory / "runc.log"
        self.process_file.write_text(json.dumps(process))

    def pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def runc_error(self) -> str:
        """runc's error message if it failed to run the process, else ""."""
        try:
            text = self.log_file.read_text(errors="replace")
        except OSError:
            return ""
        if not any('"error"' in line or '"fatal"' in line for line in text.splitlines()):
            return ""
        return error_message(text)

    def kill(self) -> None:
        pid = self.pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


def exec_process_spec(container_process: dict[str, Any], argv: list[str], *, tty: bool
                      ) -> dict[str, Any]:
    """The container's process settings with other arguments (and terminal choice)."""
    process = dict(container_process)
    process["args"] = list(argv)
    process["terminal"] = tty
    env = list(process.get("env") or [])
    if tty and not any(e.startswith("TERM=") for e in env):
        env.append("TERM=xterm")
    process["env"] = env
    process.pop("oomScoreAdj", None)   # the container's already applies to its cgroup
    return process


async def exec_sync(runc: Runc, container_id: str, bundle: Path,
                    container_process: dict[str, Any], argv: list[str],
                    timeout: float) -> tuple[int, bytes]:  # noqa: ASYNC109
    """Run ``argv`` to completion; (exit code, stdout and stderr interleaved).

    Raises :class:`ExecTimeout` (after killing the process) when it outlives ``timeout``
    and :class:`ExecFailed` when the process could not be started.
    """
    files = ExecFiles(bundle, exec_process_spec(container_process, argv, tty=False))
    try:
        proc = await asyncio.create_subprocess_exec(
            *runc.exec_argv(container_id, files.process_file, pid_file=files.pid_file,
                            log_file=files.log_file),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT)
        try:
            output, _ = await asyncio.wait_for(proc.communicate(), timeout)
        except TimeoutError:
            files.kill()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), _KILL_GRACE)
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            raise ExecTimeout(f"command {argv!r} timed out after {timeout:g}s") from None
        failure = files.runc_error()
        if failure:
            raise ExecFailed(failure)
        return proc.returncode or 0, output
    finally:
        files.remove()


class StdinWriter(Protocol):
    """Where an exec's input goes: a pipe's :class:`asyncio.StreamWriter`, or a
    :class:`_TerminalWriter`."""

    def is_closing(self) -> bool: ...

    def write(self, data: bytes) -> None: ...

    async def drain(self) -> None: ...

    def close(self) -> None: ...

    async def wait_closed(self) -> None: ...


class ExecSession:
    """An interactive process in a container (``kubectl exec``).

    Output is read with :meth:`read_stdout` / :meth:`read_stderr` (``b""`` at the end; a
    tty has a single stream, so stderr is empty), input written with :meth:`write_stdin`.
    """

    def __init__(self, proc: asyncio.subprocess.Process, files: ExecFiles, *,
                 stdout: asyncio.StreamReader, stderr: asyncio.StreamReader | None,
                 stdin: StdinWriter | None, master_fd: int = -1) -> None:
        self._proc = proc
        self._files = files
        self._stdout = stdout
        self._stderr = stderr
        self._stdin = stdin
        self._master_fd = master_fd
        self.tty = master_fd >= 0

    @property
    def pid(self) -> int | None:
        """The process's pid on the host (once runc has started it)."""
        return self._files.pid()

    async def write_stdin(self, data: bytes) -> None:
        if self._stdin is None or self._stdin.is_closing():
            return
        self._stdin.write(data)
        with contextlib.suppress(ConnectionError):
            await self._stdin.drain()

    async def close_stdin(self) -> None:
        """End of input: closes the pipe, or sends EOT (^D) to a terminal."""
        if self._stdin is None or self._stdin.is_closing():
            return
        if self.tty:
            await self.write_stdin(_EOT)
            return
        self._stdin.close()
        with contextlib.suppress(ConnectionError):
            await self._stdin.wait_closed()

    async def _read(self, reader: asyncio.StreamReader | None, size: int) -> bytes:
        if reader is None:
            return b""
        try:
            return await reader.read(size)
        except OSError:
            return b""

    async def read_stdout(self, size: int = 65536) -> bytes:
        return await self._read(self._stdout, size)

    async def read_stderr(self, size: int = 65536) -> bytes:
        return await self._read(self._stderr, size)

    async def resize(self, width: int, height: int) -> None:
        """Set the terminal size (no-op without a tty)."""
        if not self.tty or self._proc.returncode is not None:
            return
        fcntl.ioctl(self._master_fd, termios.TIOCSWINSZ,
                    struct.pack("HHHH", height, width, 0, 0))
        with contextlib.suppress(ProcessLookupError):
            self._proc.send_signal(signal.SIGWINCH)

    async def wait(self) -> int:
        """The process's exit code; :class:`ExecFailed` if it could not be started."""
        code = await self._proc.wait()
        failure = self._files.runc_error()
        self._close()
        if failure:
            raise ExecFailed(failure)
        return code

    async def kill(self) -> None:
        self._files.kill()
        with contextlib.suppress(ProcessLookupError):
            self._proc.kill()
        await self._proc.wait()
        self._close()

    def _close(self) -> None:
        if self._stdin is not None and not self._stdin.is_closing():
            self._stdin.close()
        if self._master_fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._master_fd)
            self._master_fd = -1
        self._files.remove()


class _PtyReaderProtocol(asyncio.StreamReaderProtocol):
    """A pty master reads EIO once every slave is closed: that is its end of file (a plain
    StreamReader would raise it and drop output still buffered)."""

    def connection_lost(self, exc: Exception | None) -> None:
        if isinstance(exc, OSError) and exc.errno == errno.EIO:
            exc = None
        super().connection_lost(exc)


async def _pty_reader(fd: int) -> asyncio.StreamReader:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: _PtyReaderProtocol(reader),
                                 os.fdopen(fd, "rb", buffering=0))
    return reader


class _TerminalWriter:
    """Input for a terminal, written straight to (a dup of) its master fd.

    Not an asyncio write-pipe transport: uvloop's (the agent runs on uvloop) also reads
    from its fd to notice the other end closing, and on a pty master those reads swallow
    the process's output, so ``kubectl exec -it`` saw nothing after the first chunk."""

    def __init__(self, fd: int) -> None:
        os.set_blocking(fd, False)
        self._fd = fd
        self._buffer = bytearray()

    def is_closing(self) -> bool:
        return self._fd < 0

    def write(self, data: bytes) -> None:
        self._buffer += data

    async def drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self._buffer and self._fd >= 0:
            try:
                del self._buffer[:os.write(self._fd, self._buffer)]
            except BlockingIOError:
                writable: asyncio.Future[None] = loop.create_future()
                loop.add_writer(self._fd, _resolve, writable)
                try:
                    await writable
                finally:
                    loop.remove_writer(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    async def wait_closed(self) -> None:
        return None


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def _wait_until_started(proc: asyncio.subprocess.Process, files: ExecFiles,
                              limit: float = 10.0) -> None:
    """Wait until runc has started the process (its pid file exists), so input is not
    written before the container's terminal is set up."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while loop.time() < deadline:
        if proc.returncode is not None or files.pid() is not None:
            return
        await asyncio.sleep(0.01)


async def start_exec(runc: Runc, container_id: str, bundle: Path,
                     container_process: dict[str, Any], argv: list[str], *, tty: bool,
                     stdin: bool, width: int = 80, height: int = 24) -> ExecSession:
    """Start an interactive exec; see :class:`ExecSession`."""
    files = ExecFiles(bundle, exec_process_spec(container_process, argv, tty=tty))
    command = runc.exec_argv(container_id, files.process_file, pid_file=files.pid_file,
                             log_file=files.log_file)
    try:
        if tty:
            return await _start_tty(command, files, stdin=stdin, width=width, height=height)
        proc = await asyncio.create_subprocess_exec(
            *command, stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            start_new_session=True)
    except BaseException:
        files.remove()
        raise
    assert proc.stdout is not None and proc.stderr is not None
    return ExecSession(proc, files, stdout=proc.stdout, stderr=proc.stderr,
                       stdin=proc.stdin if stdin else None)


async def _start_tty(command: list[str], files: ExecFiles, *, stdin: bool, width: int,
                     height: int) -> ExecSession:
    master, slave = os.openpty()
    try:
        # Raw from the start: our end only carries bytes; the container's own terminal does
        # the echoing and newline translation (runc would switch it later, racing output).
        setraw(slave)
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))
        proc = await asyncio.create_subprocess_exec(
            *command, stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    except BaseException:
        os.close(master)
        os.close(slave)
        raise
    os.close(slave)
    await _wait_until_started(proc, files)
    reader = await _pty_reader(os.dup(master))
    writer = _TerminalWriter(os.dup(master)) if stdin else None
    return ExecSession(proc, files, stdout=reader, stderr=None, stdin=writer, master_fd=master)
