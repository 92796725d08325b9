"""The CSR API: a joining node's bootstrap token gets its client certificate approved and
signed automatically; other CSRs wait for `kubectl certificate approve|deny`."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kubesmith.apiserver import pki

pytestmark = pytest.mark.integration


def _csr(cn: str, orgs: list[str]) -> tuple[str, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([*(x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    request = x509.CertificateSigningRequestBuilder().subject_name(name).sign(
        key, hashes.SHA256())
    pem = base64.b64encode(request.public_bytes(serialization.Encoding.PEM)).decode()
    key_pem = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return pem, key_pem


def _manifest(name: str, request: str, signer: str, usages: list[str]) -> str:
    return json.dumps({"apiVersion": "certificates.k8s.io/v1",
                       "kind": "CertificateSigningRequest", "metadata": {"name": name},
                       "spec": {"request": request, "signerName": signer,
                                "usages": usages}})


def _certificate(server: Any, name: str, timeout: float = 10) -> bytes:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        csr = json.loads(server.kubectl("get", "csr", name, "-o", "json").stdout)
        cert = (csr.get("status") or {}).get("certificate")
        if cert:
            return base64.b64decode(cert)
        time.sleep(0.1)
    raise AssertionError(f"csr {name} was not signed: {csr}")


def _whoami(server: Any, cert: bytes, key: bytes, tmp: Path) -> dict[str, Any]:
    (tmp / "c.crt").write_bytes(cert)
    (tmp / "c.key").write_bytes(key)
    (tmp / "c.key").chmod(0o600)
    out = server.kubectl_as("auth", "whoami", "-o", "json", check=True,
                            cert=pki.KeyPair(tmp / "c.crt", tmp / "c.key"))
    info: dict[str, Any] = json.loads(out.stdout)["status"]["userInfo"]
    return info


def test_node_bootstrap_is_approved_and_signed(api_server: Any, tmp_path: Path) -> None:
    def b64(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    expires = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    api_server.kubectl("create", "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "Secret", "type": "bootstrap.kubernetes.io/token",
        "metadata": {"name": "bootstrap-token-abc123", "namespace": "kube-system"},
        "data": {"token-id": b64("abc123"), "token-secret": b64("0123456789abcdef"),
                 "usage-bootstrap-authentication": b64("true"), "expiration": b64(expires)}}))
    api_server.kubectl("create", "clusterrolebinding", "node-bootstrap",
                       "--clusterrole=system:node-bootstrapper",
                       "--group=system:bootstrappers")
    request, key = _csr("system:node:n9", ["system:nodes"])
    created = api_server.kubectl_as(
        "create", "-f", "-", token="abc123.0123456789abcdef",
        input=_manifest("node-n9", request, "kubernetes.io/kube-apiserver-client-kubelet",
                        ["digital signature", "client auth"]))
    assert created.returncode == 0, created.stderr
    csr = json.loads(api_server.kubectl("get", "csr", "node-n9", "-o", "json").stdout)
    assert csr["spec"]["username"] == "system:bootstrap:abc123"
    cert = _certificate(api_server, "node-n9")
    csr = json.loads(api_server.kubectl("get", "csr", "node-n9", "-o", "json").stdout)
    assert [c["type"] for c in csr["status"]["conditions"]] == ["Approved"]
    info = _whoami(api_server, cert, key, tmp_path)
    assert info["username"] == "system:node:n9"
    assert "system:nodes" in info["groups"]


def test_client_csr_waits_for_approval(api_server: Any, tmp_path: Path) -> None:
    request, key = _csr("carol", ["devs"])
    api_server.kubectl("create", "-f", "-", input=_manifest(
        "carol", request, "kubernetes.io/kube-apiserver-client", ["client auth"]))
    time.sleep(0.5)
    csr = json.loads(api_server.kubectl("get", "csr", "carol", "-o", "json").stdout)
    assert not (csr.get("status") or {}).get("certificate")
    api_server.kubectl("certificate", "approve", "carol")
    info = _whoami(api_server, _certificate(api_server, "carol"), key, tmp_path)
    assert info["username"] == "carol" and "devs" in info["groups"]

    request, _ = _csr("dave", [])
    api_server.kubectl("create", "-f", "-", input=_manifest(
        "dave", request, "kubernetes.io/kube-apiserver-client", ["client auth"]))
    api_server.kubectl("certificate", "deny", "dave")
    time.sleep(0.5)
    csr = json.loads(api_server.kubectl("get", "csr", "dave", "-o", "json").stdout)
    assert [c["type"] for c in csr["status"]["conditions"]] == ["Denied"]
    assert not csr["status"].get("certificate")


def test_bad_request_is_invalid(api_server: Any) -> None:
    proc = api_server.kubectl("create", "-f", "-", check=False, input=_manifest(
        "bad", base64.b64encode(b"not a csr").decode(), "kubernetes.io/kube-apiserver-client",
        ["client auth"]))
    assert proc.returncode == 1
    assert "PEM block type must be CERTIFICATE REQUEST" in proc.stderr
