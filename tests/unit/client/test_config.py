"""Kubeconfig loading: fields, token files, errors that name the file and field, and the
private temp directory for embedded client certificates."""

from __future__ import annotations

import base64
import datetime
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kubesmith.client.config import KubeconfigError, load_kubeconfig


def _pair() -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM,
                              serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()))


def _write(tmp: Path, cluster: dict[str, Any], user: dict[str, Any]) -> Path:
    doc = {"apiVersion": "v1", "kind": "Config", "current-context": "c",
           "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
           "clusters": [{"name": "k", "cluster": cluster}],
           "users": [{"name": "u", "user": user}]}
    path = tmp / "kubeconfig"
    path.write_text(yaml.safe_dump(doc))
    return path


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_embedded_cert_and_key_live_in_a_private_dir_removed_on_close(tmp_path: Path) -> None:
    cert, key = _pair()
    path = _write(tmp_path, {"server": "https://127.0.0.1:6443/",
                             "certificate-authority-data": b64(cert)},
                  {"client-certificate-data": b64(cert), "client-key-data": b64(key)})
    config = load_kubeconfig(path)
    assert config.base_url == "https://127.0.0.1:6443"
    assert config._tmpdir is not None
    tmpdir = Path(config._tmpdir)
    assert stat.S_IMODE(tmpdir.stat().st_mode) == 0o700
    for f in tmpdir.iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == 0o600
    config.close()
    assert not tmpdir.exists()


def test_files_relative_to_the_kubeconfig_and_token_file(tmp_path: Path) -> None:
    cert, _ = _pair()
    (tmp_path / "ca.crt").write_bytes(cert)
    (tmp_path / "token").write_text("s3cret\n")
    path = _write(tmp_path, {"server": "https://h:1", "certificate-authority": "ca.crt"},
                  {"tokenFile": "token"})
    with load_kubeconfig(path) as config:
        assert config.headers == {"Authorization": "Bearer s3cret"}
        assert config._tmpdir is None


@pytest.mark.parametrize(("cluster", "user", "message"), [
    pytest.param({}, {}, "clusters[k].cluster.server: not set", id="no-server"),
    pytest.param({"server": "https://h", "certificate-authority-data": "!!"}, {},
                 "certificate-authority-data: invalid base64", id="bad-ca-data"),
    pytest.param({"server": "https://h", "certificate-authority": "missing.crt"}, {},
                 "certificate-authority: file", id="missing-ca-file"),
    pytest.param({"server": "https://h"}, {"client-key-data": "eA=="},
                 "users[u].user.client-certificate: required", id="key-without-cert"),
    pytest.param({"server": "https://h"}, {"tokenFile": "nope"},
                 "users[u].user: tokenFile: file", id="missing-token-file"),
])
def test_errors_name_the_file_and_field(tmp_path: Path, cluster: dict[str, Any],
                                        user: dict[str, Any], message: str) -> None:
    path = _write(tmp_path, cluster, user)
    with pytest.raises(KubeconfigError) as info:
        load_kubeconfig(path)
    assert str(path) in str(info.value)
    assert message in str(info.value)


def test_missing_context(tmp_path: Path) -> None:
    path = _write(tmp_path, {"server": "https://h"}, {})
    with pytest.raises(KubeconfigError, match="context 'other' not found"):
        load_kubeconfig(path, context="other")
