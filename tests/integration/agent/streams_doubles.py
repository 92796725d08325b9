"""Test doubles for the runtime boundary of the agent's streaming server.

The streaming server talks to the runtime through
:class:`kubesmith.agent.server.interfaces.ContainerRuntime`; these doubles stand in for
runc containers:

* :class:`ConmonContainer` runs a shell payload under the real conmon 2.1.6 with a fake OCI
  runtime (a script that starts the payload on ``create``). conmon then does what it does
  for real containers: writes the CRI log file, serves the attach socket and the control
  fifo, and records the exit. Logs and attach are so tested against the real conmon.
* :class:`LocalExecSession` is an exec session of a local process (a pty when a terminal
  is asked for): exec without runc, on the host.
* :class:`FakeRuntime` answers the lookups from a table of such containers.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import pty
import signal
import struct
import subprocess
import termios
import time
from dataclasses import dataclass, field
from pathlib import Path

from kubesmith.agent.server.interfaces import (
    ContainerLogFiles,
    ContainerRef,
    ExecSession,
    PodRef,
)

FAKE_OCI_RUNTIME = """#!/bin/sh
# A stand-in for runc under conmon: "create --bundle B --pid-file F ID" starts B/payload.sh
# at once with conmon's stdio in a process group of its own, records its pid and returns
# (conmon, a subreaper, adopts it).
cmd=$1; shift
bundle=""; pidfile=""
while [ $# -gt 0 ]; do
  case "$1" in
    --bundle) bundle=$2; shift 2;;
    --pid-file) pidfile=$2; shift 2;;
    *) shift;;
  esac
done
if [ "$cmd" = create ]; then
  exec 3<&0
  setsid sh "$bundle/payload.sh" <&3 3<&- &
  echo $! > "$pidfile"
fi
exit 0
"""


def _deadline_wait(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.02)


@dataclass
class ConmonContainer:
    """A payload shell script monitored by conmon, as a container would be."""

    root: Path
    container_id: str
    payload: str
    stdin: bool = True
    #: conmon keeps the container's stdin open when an attached client leaves
    #: (``stdinOnce: false``).
    leave_stdin_open: bool = False
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.bundle = self.root / "bundles" / self.container_id
        self.sockets = self.root / "sockets"
        self.exits = self.root / "exits"
        self.log_path = self.root / "logs" / f"{self.container_id}.log"

    def start(self) -> None:
        runtime = self.root / "fake-oci-runtime"
        self.root.mkdir(parents=True, exist_ok=True)
        if not runtime.exists():
            runtime.write_text(FAKE_OCI_RUNTIME)
            runtime.chmod(0o755)
        for directory in (self.bundle, self.sockets, self.exits, self.log_path.parent,
                          self.root / "persist" / self.container_id):
            directory.mkdir(parents=True, exist_ok=True)
        (self.bundle / "payload.sh").write_text(self.payload)
        argv = ["conmon", "--api-version", "1", "-c", self.container_id, "-u",
                self.container_id, "-n", self.container_id, "-r", str(runtime),
                "-b", str(self.bundle), "-p", str(self.bundle / "pid"),
                "--exit-dir", str(self.exits), "-l", f"k8s-file:{self.log_path}",
                "--conmon-pidfile", str(self.bundle / "conmon.pid"),
                "--socket-dir-path", str(self.sockets),
                "--persist-dir", str(self.root / "persist" / self.container_id)]
        if self.stdin:
            argv.append("--stdin")
        if self.leave_stdin_open:
            argv.append("--leave-stdin-open")
        subprocess.run(argv, stdin=subprocess.DEVNULL, check=True, timeout=30,
                       capture_output=True)
        _deadline_wait(self.attach_socket.exists, 10, "conmon's attach socket")

    @property
    def attach_socket(self) -> Path:
        return self.sockets / self.container_id / "attach"

    @property
    def control_fifo(self) -> Path:
        return self.bundle / "ctl"

    @property
    def exit_file(self) -> Path:
        return self.exits / self.container_id

    def write_stdin(self, data: bytes) -> None:
        """Write to the container's stdin through the attach socket, as a client would."""
        import socket

        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as sock:
            sock.connect(str(self.attach_socket))
            sock.sendall(data)

    def running(self) -> bool:
        return not self.exit_file.exists()

    def wait_exited(self, timeout: float = 10) -> None:
        _deadline_wait(self.exit_file.exists, timeout, f"{self.container_id} to exit")

    def stop(self) -> None:
        """Kill the payload and its children (conmon then records the exit and ends)."""
        pid_file = self.bundle / "pid"
        if self.running() and pid_file.exists():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.killpg(int(pid_file.read_text().strip()), signal.SIGKILL)
            with contextlib.suppress(TimeoutError):
                self.wait_exited()


class LocalExecSession:
    """An exec session of a local process; with a terminal its stdio is a pty."""

    def __init__(self, proc: asyncio.subprocess.Process, master: int | None) -> None:
        self.proc = proc
        self.master = master
        self._readable = asyncio.Event()
        if master is not None:
            os.set_blocking(master, False)
            asyncio.get_running_loop().add_reader(master, self._readable.set)

    @classmethod
    async def start(cls, argv: list[str], *, tty: bool, stdin: bool,
                    cwd: Path) -> LocalExecSession:
        if not tty:
            proc = await asyncio.create_subprocess_exec(
                *argv, cwd=cwd, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
            return cls(proc, None)
        master, slave = pty.openpty()
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, cwd=cwd, stdin=slave, stdout=slave, stderr=slave,
                start_new_session=True)
        finally:
            os.close(slave)
        return cls(proc, master)

    async def _read_master(self) -> bytes:
        assert self.master is not None
        while True:
            try:
                return os.read(self.master, 65536)
            except BlockingIOError:
                self._readable.clear()
                await self._readable.wait()
            except OSError:  # EIO: the terminal's other side is closed
                return b""

    async def read_stdout(self) -> bytes:
        if self.master is not None:
            return await self._read_master()
        assert self.proc.stdout is not None
        return await self.proc.stdout.read(65536)

    async def read_stderr(self) -> bytes:
        if self.master is not None:
            return b""
        assert self.proc.stderr is not None
        return await self.proc.stderr.read(65536)

    async def write_stdin(self, data: bytes) -> None:
        if self.master is not None:
            os.write(self.master, data)
        elif self.proc.stdin is not None:
            self.proc.stdin.write(data)
            await self.proc.stdin.drain()

    async def close_stdin(self) -> None:
        if self.master is not None:
            os.write(self.master, b"\x04")  # a terminal's end of input
        elif self.proc.stdin is not None:
            self.proc.stdin.close()

    async def resize(self, width: int, height: int) -> None:
        if self.master is not None:
            fcntl.ioctl(self.master, termios.TIOCSWINSZ,
                        struct.pack("HHHH", height, width, 0, 0))

    async def wait(self) -> int:
        code = await self.proc.wait()
        return 128 - code if code < 0 else code

    async def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        await self.proc.wait()
        self.close()

    def close(self) -> None:
        if self.master is not None:
            asyncio.get_running_loop().remove_reader(self.master)
            os.close(self.master)
            self.master = None


@dataclass
class FakePod:
    namespace: str
    name: str
    uid: str
    containers: dict[str, ConmonContainer] = field(default_factory=dict)
    #: Earlier instances' log files, per container (``--previous``).
    previous_logs: dict[str, Path] = field(default_factory=dict)
    netns: Path | None = None


class FakeRuntime:
    """The runtime and log lookups over a table of :class:`FakePod`; exec runs local
    processes in ``exec_dir``."""

    def __init__(self, exec_dir: Path) -> None:
        self.exec_dir = exec_dir
        self.pods: dict[tuple[str, str], FakePod] = {}
        self.sessions: list[LocalExecSession] = []
        self.by_id: dict[str, ConmonContainer] = {}

    def add(self, pod: FakePod) -> None:
        self.pods[(pod.namespace, pod.name)] = pod
        for container in pod.containers.values():
            self.by_id[container.container_id] = container

    async def find_container(self, namespace: str, pod: str, container: str
                             ) -> ContainerRef | None:
        found = self.pods.get((namespace, pod))
        if found is None or container not in found.containers:
            return None
        ctr = found.containers[container]
        if not ctr.running():
            return None
        return ContainerRef(ctr.container_id, found.uid, tty=False, stdin=ctr.stdin)

    async def find_pod(self, namespace: str, pod: str) -> PodRef | None:
        found = self.pods.get((namespace, pod))
        return None if found is None else PodRef(found.uid, found.netns)

    async def exec_process(self, container_id: str, argv: list[str], *, tty: bool,
                           stdin: bool) -> ExecSession:
        session = await LocalExecSession.start(argv, tty=tty, stdin=stdin, cwd=self.exec_dir)
        self.sessions.append(session)
        return session

    def attach_socket(self, container_id: str) -> Path:
        return self.by_id[container_id].attach_socket

    def control_fifo(self, container_id: str) -> Path:
        return self.by_id[container_id].control_fifo

    async def container_logs(self, namespace: str, pod: str, container: str
                             ) -> ContainerLogFiles | None:
        found = self.pods.get((namespace, pod))
        if found is None or container not in found.containers:
            return None
        ctr = found.containers[container]
        return ContainerLogFiles(ctr.log_path, found.previous_logs.get(container),
                                 ctr.running())

    async def close(self) -> None:
        for session in self.sessions:
            if session.proc.returncode is None:
                await session.kill()
            session.close()
