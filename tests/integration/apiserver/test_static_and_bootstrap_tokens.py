"""Static token file and bootstrap tokens authenticate; bad ones are refused."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration


def _as(server: Any, token: str, *args: str) -> Any:
    return server.kubectl_as(*args, token=token)


def _whoami(server: Any, token: str) -> dict[str, Any] | None:
    proc = _as(server, token, "auth", "whoami", "-o", "json")
    if proc.returncode != 0:
        return None
    info: dict[str, Any] = json.loads(proc.stdout)["status"]["userInfo"]
    return info


def test_static_token_file(server_factory: Any, tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.csv"
    tokens.write_text('s3cr3t-token-alice,alice,1001,"dev,ops"\n')
    tokens.chmod(0o600)
    server = server_factory("--token-auth-file", str(tokens))
    alice = _whoami(server, "s3cr3t-token-alice")
    assert alice is not None
    assert alice["username"] == "alice"
    assert alice["groups"] == ["dev", "ops", "system:authenticated"]
    assert _whoami(server, "s3cr3t-token-alicX") is None


def test_token_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.csv"
    tokens.write_text("t,u,1\n")
    tokens.chmod(0o644)
    proc = subprocess.run([sys.executable, "-m", "kubesmith", "server", "--data-dir",
                           str(tmp_path / "d"), "--secure-port", "1", "--token-auth-file",
                           str(tokens)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "must not be readable by others" in proc.stderr and "chmod 600" in proc.stderr


def _bootstrap_secret(token_id: str, secret: str, expires: datetime) -> str:
    def b64(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    return json.dumps({
        "apiVersion": "v1", "kind": "Secret", "type": "bootstrap.kubernetes.io/token",
        "metadata": {"name": f"bootstrap-token-{token_id}", "namespace": "kube-system"},
        "data": {"token-id": b64(token_id), "token-secret": b64(secret),
                 "usage-bootstrap-authentication": b64("true"),
                 "auth-extra-groups": b64("system:bootstrappers:kubesmith:default-node-token"),
                 "expiration": b64(expires.strftime("%Y-%m-%dT%H:%M:%SZ"))}})


def test_bootstrap_tokens(api_server: Any) -> None:
    later = datetime.now(UTC) + timedelta(hours=1)
    api_server.kubectl("create", "-f", "-",
                       input=_bootstrap_secret("abcdef", "0123456789abcdef", later))
    user = _whoami(api_server, "abcdef.0123456789abcdef")
    assert user is not None
    assert user["username"] == "system:bootstrap:abcdef"
    assert user["groups"] == ["system:bootstrappers",
                              "system:bootstrappers:kubesmith:default-node-token",
                              "system:authenticated"]
    assert _whoami(api_server, "abcdef.0123456789abcdeX") is None
    earlier = datetime.now(UTC) - timedelta(minutes=1)
    api_server.kubectl("create", "-f", "-",
                       input=_bootstrap_secret("zzzzzz", "0123456789abcdef", earlier))
    assert _whoami(api_server, "zzzzzz.0123456789abcdef") is None
