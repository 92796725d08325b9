"""Secure by default: TLS only, no anonymous access, least privilege, private keys 0600."""

from __future__ import annotations

import json
import ssl
import stat
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from kubesmith.apiserver import pki

pytestmark = pytest.mark.integration


def _request(server: Any, path: str, *, cert: pki.KeyPair | None = None,
             method: str = "GET") -> tuple[int, dict[str, Any]]:
    ctx = ssl.create_default_context(cafile=str(server.data_dir / "pki" / "ca.crt"))
    if cert is not None:
        ctx.load_cert_chain(str(cert.cert_path), str(cert.key_path))
    req = urllib.request.Request(server.url + path, method=method)
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def test_private_files_are_0600(api_server: Any) -> None:
    pki_dir: Path = api_server.data_dir / "pki"
    for path in [*pki_dir.glob("*.key"), api_server.kubeconfig]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == 0o600, f"{path} has mode {oct(mode)}"
    assert stat.S_IMODE(api_server.data_dir.stat().st_mode) == 0o700


def test_anonymous_requests_get_401_status(api_server: Any) -> None:
    code, body = _request(api_server, "/api/v1/namespaces")
    assert code == 401
    assert body["kind"] == "Status" and body["reason"] == "Unauthorized"


def test_plain_http_is_not_served(api_server: Any) -> None:
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        urllib.request.urlopen(f"http://127.0.0.1:{api_server.port}/version", timeout=5)


def test_certificate_from_another_ca_is_refused(api_server: Any, tmp_path: Path) -> None:
    other_ca = pki.ensure_ca(tmp_path / "other")
    stranger = pki.ensure_client_cert(other_ca, tmp_path / "other", "x", "mallory",
                                      ["system:masters"])
    with pytest.raises((urllib.error.URLError, ssl.SSLError, ConnectionError)):
        _request(api_server, "/api/v1/namespaces", cert=stranger)


def test_unprivileged_user_is_forbidden_with_upstream_message(api_server: Any,
                                                              tmp_path: Path) -> None:
    ca = pki.KeyPair(api_server.data_dir / "pki" / "ca.crt",
                     api_server.data_dir / "pki" / "ca.key")
    bob = pki.ensure_client_cert(ca, tmp_path, "bob", "bob", ["developers"])
    code, body = _request(api_server, "/api/v1/namespaces/default/pods", cert=bob)
    assert code == 403
    assert body["reason"] == "Forbidden"
    assert body["message"] == ('pods is forbidden: User "bob" cannot list resource "pods" in '
                               'API group "" in the namespace "default"')
    # Discovery and health stay readable for every authenticated user.
    assert _request(api_server, "/version", cert=bob)[0] == 200
    assert _request(api_server, "/api", cert=bob)[0] == 200


def test_admin_identity(api_server: Any) -> None:
    proc = api_server.kubectl("get", "--raw", "/apis/authentication.k8s.io/v1")
    assert "selfsubjectreviews" in proc.stdout
