"""Run a throwaway etcd cluster on loopback (tests, benchmarks, local development).

Each member is a real ``etcd`` process in its own process group, listening only on
127.0.0.1 with ports picked from the kernel's free ports, its data and log in a directory
the caller owns. :meth:`LocalEtcdCluster.stop` kills every process group it started, and the
class is a context manager so callers clean up on failure too. Everything here blocks; async
callers wrap it in ``asyncio.to_thread``.

Election settings are shortened (50 ms heartbeat, 500 ms election timeout) so a cluster that
loses its leader recovers in about a second: these clusters live on one quiet machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType


@dataclass(frozen=True, slots=True)
class ServerTLS:
    """Server certificate for client connections, and the CA that client certs must chain to.

    With ``client_ca_file`` set, members require client certificates (``--client-cert-auth``).
    """

    cert_file: str
    key_file: str
    client_ca_file: str | None = None


@dataclass(slots=True)
class EtcdMember:
    """One member's identity, ports and (while running) process."""

    name: str
    client_port: int
    peer_port: int
    data_dir: Path
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        """``127.0.0.1:port`` as the store and gRPC expect it."""
        return f"127.0.0.1:{self.client_port}"


def free_ports(count: int) -> list[int]:
    """``count`` distinct free TCP ports on 127.0.0.1 (held open together while picking)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


class LocalEtcdCluster:
    """``size`` etcd members on loopback under ``base_dir``."""

    def __init__(
        self,
        base_dir: Path,
        size: int = 3,
        *,
        tls: ServerTLS | None = None,
        etcd_binary: str = "etcd",
    ) -> None:
        self.base_dir = base_dir
        self.tls = tls
        self.etcd_binary = etcd_binary
        self.token = f"kubesmith-{uuid.uuid4().hex[:12]}"
        ports = free_ports(2 * size)
        self.members = [
            EtcdMember(
                name=f"m{i}",
                client_port=ports[2 * i],
                peer_port=ports[2 * i + 1],
                data_dir=base_dir / f"m{i}",
                log_path=base_dir / f"m{i}.log",
            )
            for i in range(size)
        ]

    @property
    def endpoints(self) -> list[str]:
        """Client endpoints of every member, in member order."""
        return [member.endpoint for member in self.members]

    def start(self, timeout: float = 30.0) -> None:
        """Start every member and wait until the cluster has a leader."""
        self.base_dir.mkdir(parents=True, exist_ok=True)
        try:
            for index in range(len(self.members)):
                self.start_member(index, wait=False)
            for index in range(len(self.members)):
                self.wait_healthy(index, timeout)
        except BaseException:
            self.stop()
            raise

    def start_member(self, index: int, *, wait: bool = True, timeout: float = 30.0) -> None:
        """(Re)start member ``index`` with its existing data dir; wait for health if asked."""
        member = self.members[index]
        if member.process is not None and member.process.poll() is None:
            return
        scheme = "https" if self.tls else "http"
        client_url = f"{scheme}://127.0.0.1:{member.client_port}"
        peers = ",".join(f"{m.name}=http://127.0.0.1:{m.peer_port}" for m in self.members)
        args = [
            self.etcd_binary,
            f"--name={member.name}",
            f"--data-dir={member.data_dir}",
            f"--listen-client-urls={client_url}",
            f"--advertise-client-urls={client_url}",
            f"--listen-peer-urls=http://127.0.0.1:{member.peer_port}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{member.peer_port}",
            f"--initial-cluster={peers}",
            f"--initial-cluster-token={self.token}",
            "--initial-cluster-state=new",
            "--heartbeat-interval=50",
            "--election-timeout=500",
            "--logger=zap",
            "--log-outputs=stderr",
        ]
        if self.tls:
            args += [f"--cert-file={self.tls.cert_file}", f"--key-file={self.tls.key_file}"]
            if self.tls.client_ca_file:
                args += ["--client-cert-auth", f"--trusted-ca-file={self.tls.client_ca_file}"]
        with member.log_path.open("ab") as log:
            member.process = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,  # own process group: stop() kills exactly this tree
            )
        if wait:
            self.wait_healthy(index, timeout)

    def wait_healthy(self, index: int, timeout: float = 30.0) -> None:
        """Poll member ``index``'s ``/health`` until it reports a leader."""
        member = self.members[index]
        deadline = time.monotonic() + timeout
        last_error = "no answer"
        while time.monotonic() < deadline:
            if member.process is None or member.process.poll() is not None:
                raise RuntimeError(
                    f"etcd member {member.name} exited; log tail:\n{self.log_tail(index)}"
                )
            try:
                if self._health(member):
                    return
                last_error = "unhealthy"
            except OSError as exc:
                last_error = str(exc)
            time.sleep(0.05)
        raise TimeoutError(
            f"etcd member {member.name} not healthy after {timeout}s ({last_error}); "
            f"log tail:\n{self.log_tail(index)}"
        )

    def _health(self, member: EtcdMember) -> bool:
        context: ssl.SSLContext | None = None
        scheme = "http"
        if self.tls:
            scheme = "https"
            # The probe only asks for /health; member identity is what the store tests check.
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            if self.tls.client_ca_file:
                # /health also demands a client certificate; the server's own pair is signed
                # by the same CA in our tests and launcher use.
                context.load_cert_chain(self.tls.cert_file, self.tls.key_file)
        url = f"{scheme}://127.0.0.1:{member.client_port}/health"
        with urllib.request.urlopen(url, timeout=1, context=context) as resp:
            body = json.loads(resp.read())
        return bool(body.get("health") == "true")

    def stop_member(self, index: int) -> None:
        """Stop member ``index`` (SIGTERM, SIGKILL after 5 s) and wait for it to exit."""
        member = self.members[index]
        process, member.process = member.process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def stop(self) -> None:
        """Stop every member that is running."""
        for index in range(len(self.members)):
            self.stop_member(index)

    def log_tail(self, index: int, lines: int = 20) -> str:
        """The last ``lines`` lines of member ``index``'s log."""
        try:
            text = self.members[index].log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> LocalEtcdCluster:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
