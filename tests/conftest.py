"""Shared test fixtures: a real ``kubesmith server`` process and the real kubectl."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

BIN = Path(sys.executable).parent
KUBECTL = str(BIN / "kubectl")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RunningServer:
    url: str
    port: int
    data_dir: Path
    kubeconfig: Path
    process: subprocess.Popen[bytes]
    log: Path

    def kubectl(self, *args: str, input: str | None = None, check: bool = True,
                env: dict[str, str] | None = None, timeout: float = 60
                ) -> subprocess.CompletedProcess[str]:
        """Run the real kubectl against this server."""
        full_env = {**os.environ, "KUBECONFIG": str(self.kubeconfig),
                    "KUBECTL_KUBERC": "false", **(env or {})}
        proc = subprocess.run([KUBECTL, *args], input=input, capture_output=True, text=True,
                              env=full_env, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}"
                f"\n{proc.stdout}")
        return proc


    def kubectl_as(self, *args: str, token: str | None = None, cert: Any = None,
                   input: str | None = None, check: bool = False
                   ) -> subprocess.CompletedProcess[str]:
        """kubectl as another identity: a bearer ``token`` or a client ``cert`` (a
        KeyPair), trusting this server's CA and ignoring the admin kubeconfig."""
        creds = [f"--token={token}"] if token is not None else []
        if cert is not None:
            creds = [f"--client-certificate={cert.cert_path}",
                     f"--client-key={cert.key_path}"]
        return self.kubectl("--kubeconfig=/dev/null", f"--server={self.url}",
                            f"--certificate-authority={self.data_dir / 'pki' / 'ca.crt'}",
                            *creds, *args, input=input, check=check)

    def admin_ssl_context(self, directory: Path) -> ssl.SSLContext:
        """A client TLS context with the admin credentials (written 0600 to
        ``directory``), for tests that speak HTTP directly."""
        config = yaml.safe_load(self.kubeconfig.read_text())
        user = config["users"][0]["user"]
        ca = base64.b64decode(config["clusters"][0]["cluster"]["certificate-authority-data"])
        cert, key = directory / "admin.crt", directory / "admin.key"
        cert.write_bytes(base64.b64decode(user["client-certificate-data"]))
        key.write_bytes(base64.b64decode(user["client-key-data"]))
        key.chmod(0o600)
        ctx = ssl.create_default_context(cadata=ca.decode())
        ctx.load_cert_chain(cert, key)
        return ctx


def start_server(data_dir: Path, *extra: str) -> RunningServer:
    """Start ``kubesmith server`` on a free loopback port and wait until it is ready."""
    port = free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    ready = data_dir / "ready"
    log = data_dir / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kubesmith", "server", "--data-dir", str(data_dir),
             "--secure-port", str(port), "--ready-file", str(ready), *extra],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while not ready.exists():
        if proc.poll() is not None:
            raise RuntimeError(f"server exited ({proc.returncode}):\n{log.read_text()}")
        if time.monotonic() > deadline:
            stop_server(proc)
            raise RuntimeError(f"server not ready in 60 s:\n{log.read_text()}")
        time.sleep(0.05)
    return RunningServer(f"https://127.0.0.1:{port}", port, data_dir,
                         data_dir / "admin.kubeconfig", proc, log)


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


#: What an API-semantics test wants running besides the API: the controller that makes a
#: namespace usable (its default ServiceAccount, which pod admission requires) and nothing
#: that would change or add objects behind the test's back (no scheduler, no workload
#: controllers, no kube-root-ca.crt publisher), like upstream's API server integration
#: tests.
API_ONLY = ("--controllers", "serviceaccount", "--disable-scheduler")


@pytest.fixture(scope="module")
def api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One API server (embedded SQLite) per test module, without workload controllers or
    scheduler (see :data:`API_ONLY`); use ``server_factory()`` for the whole control
    plane."""
    server = start_server(tmp_path_factory.mktemp("server"), *API_ONLY)
    try:
        yield server
    finally:
        stop_server(server.process)
        errors = [line for line in server.log.read_text().splitlines()
                  if "Traceback" in line or "internal error" in line]
        assert not errors, f"server logged internal errors:\n{server.log.read_text()}"


@pytest.fixture(scope="module")
def server_factory(tmp_path_factory: pytest.TempPathFactory
                   ) -> Iterator[Callable[..., RunningServer]]:
    """Start servers with extra flags (``factory("--datastore", url)``); all are stopped
    when the module is done."""
    started: list[RunningServer] = []

    def factory(*extra: str, data_dir: Path | None = None) -> RunningServer:
        """``data_dir`` reuses a stopped server's state (a restart)."""
        server = start_server(data_dir or tmp_path_factory.mktemp("server"), *extra)
        started.append(server)
        return server

    try:
        yield factory
    finally:
        for server in started:
            stop_server(server.process)


def namespace_name(test_name: str) -> str:
    """A valid namespace name unique to a test: its slugged name plus a short digest."""
    slug = re.sub(r"[^a-z0-9]+", "-", test_name.lower()).strip("-")
    digest = hashlib.sha1(test_name.encode()).hexdigest()[:6]
    return f"{slug[:50].strip('-')}-{digest}"


def namespace_manifest(name: str) -> str:
    """A Namespace as YAML, for ``kubectl create -f -``."""
    return f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n"


@pytest.fixture
def kubectl_namespace(api_server: RunningServer, request: pytest.FixtureRequest) -> str:
    """A fresh namespace on ``api_server`` named after the test (created from a manifest:
    kubectl's ``create namespace`` generator sends protobuf)."""
    name = namespace_name(request.node.name)
    api_server.kubectl("create", "-f", "-", input=namespace_manifest(name))
    return name


@pytest.fixture
async def resources(tmp_path: Path) -> AsyncIterator[Any]:
    """The API layer over a fresh SQLite datastore (started, closed afterwards)."""
    from kubesmith.api.registry import Registry
    from kubesmith.api.resources import Resources

    res = await Resources.open(Registry(), f"sqlite://{tmp_path}/state.db")
    await res.start()
    try:
        yield res
    finally:
        await res.close()
