"""CLI errors name the problem and the fix, and exit non-zero."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kubesmith", *args], capture_output=True,
                          text=True, timeout=60)


@pytest.mark.parametrize(("flag", "value", "expected"), [
    ("--secure-port", "70000", "--secure-port 70000 is not a port number (use 1-65535)"),
    ("--service-node-port-range", "abc", "is not a port range (use LOW-HIGH"),
    ("--service-cluster-ip-range", "10.96.0.1/12", "--service-cluster-ip-range:"),
], ids=["port", "node-port-range", "service-cidr"])
def test_bad_flags_are_explained(tmp_path: Path, flag: str, value: str, expected: str) -> None:
    proc = _run("server", "--data-dir", str(tmp_path), flag, value)
    assert proc.returncode == 2
    assert expected in proc.stderr


def test_port_in_use_is_explained(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = _run("server", "--data-dir", str(tmp_path), "--secure-port", str(port))
    assert proc.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in proc.stderr
    assert "pick another --secure-port" in proc.stderr


def test_bad_datastore_url_is_explained(tmp_path: Path) -> None:
    proc = _run("server", "--data-dir", str(tmp_path), "--datastore", "mysql://x")
    assert proc.returncode == 2
    assert "sqlite://" in proc.stderr and "etcd://" in proc.stderr
