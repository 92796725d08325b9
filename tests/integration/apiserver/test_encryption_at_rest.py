"""Secrets encrypted at rest: unreadable in the datastore file, readable through the API,
and rotated to a new key by re-writing them."""

from __future__ import annotations

import base64
import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

SECRET_VALUE = "correct horse battery staple"


def _config(path: Path, *keys: tuple[str, bytes]) -> Path:
    path.write_text(json.dumps({
        "apiVersion": "apiserver.config.k8s.io/v1", "kind": "EncryptionConfiguration",
        "resources": [{"resources": ["secrets"], "providers": [
            {"aesgcm": {"keys": [{"name": name, "secret": base64.b64encode(key).decode()}
                                 for name, key in keys]}},
            {"identity": {}}]}]}))
    path.chmod(0o600)
    return path


def _stored(data_dir: Path, key: str) -> bytes:
    db = sqlite3.connect(f"file:{data_dir / 'db' / 'state.db'}?mode=ro", uri=True)
    try:
        row = db.execute("SELECT value FROM log WHERE key = ? ORDER BY revision DESC LIMIT 1",
                         (key,)).fetchone()
    finally:
        db.close()
    assert row is not None
    return bytes(row[0])


def test_secrets_encrypted_and_rotated(server_factory: Any, tmp_path: Path) -> None:
    first = ("key1", os.urandom(32))
    server = server_factory("--encryption-provider-config",
                            str(_config(tmp_path / "enc.json", first)))
    server.kubectl("create", "secret", "generic", "s", f"--from-literal=pw={SECRET_VALUE}")
    server.kubectl("create", "configmap", "c", "--from-literal=plain=visible")
    stored = _stored(server.data_dir, "/registry/core/secrets/default/s")
    assert stored.startswith(b"k8s:enc:aesgcm:v1:key1:")
    assert SECRET_VALUE.encode() not in stored
    assert base64.b64encode(SECRET_VALUE.encode()) not in stored
    # ConfigMaps are not in the configuration: stored as plain JSON.
    assert b"visible" in _stored(server.data_dir, "/registry/core/configmaps/default/c")
    got = json.loads(server.kubectl("get", "secret", "s", "-o", "json").stdout)
    assert base64.b64decode(got["data"]["pw"]).decode() == SECRET_VALUE

    # Rotation: a new key first, restart, re-write every Secret.
    server.process.terminate()
    server.process.wait(30)
    second = ("key2", os.urandom(32))
    (server.data_dir / "ready").unlink()
    rotated = server_factory("--encryption-provider-config",
                             str(_config(tmp_path / "enc2.json", second, first)),
                             data_dir=server.data_dir)
    listing = rotated.kubectl("get", "secrets", "-A", "-o", "json").stdout
    rotated.kubectl("replace", "-f", "-", input=listing)
    stored = _stored(rotated.data_dir, "/registry/core/secrets/default/s")
    assert stored.startswith(b"k8s:enc:aesgcm:v1:key2:")
    got = json.loads(rotated.kubectl("get", "secret", "s", "-o", "json").stdout)
    assert base64.b64decode(got["data"]["pw"]).decode() == SECRET_VALUE


def test_bad_configuration_is_explained(tmp_path: Path) -> None:
    import subprocess
    import sys

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({
        "apiVersion": "apiserver.config.k8s.io/v1", "kind": "EncryptionConfiguration",
        "resources": [{"resources": ["secrets"], "providers": [
            {"aesgcm": {"keys": [{"name": "k", "secret": "c2hvcnQ="}]}}]}]}))
    proc = subprocess.run([sys.executable, "-m", "kubesmith", "server", "--data-dir",
                           str(tmp_path / "d"), "--encryption-provider-config", str(bad)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "--encryption-provider-config" in proc.stderr and "expected one of" in proc.stderr
