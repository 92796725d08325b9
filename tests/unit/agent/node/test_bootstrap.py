"""The pure parts of TLS bootstrapping: the request, its stable name, reading the signer's
answer, rotation time, the kubeconfig written."""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kubesmith.agent.node.bootstrap import (
    CertificateError,
    certificate_request,
    csr_name,
    csr_object,
    issued_certificate,
    kubeconfig_document,
    rotation_deadline,
    valid_now,
)


def test_request_names_the_node_in_system_nodes() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    request = x509.load_pem_x509_csr(certificate_request(key, "n1"))
    assert request.is_signature_valid
    assert [a.value for a in request.subject.get_attributes_for_oid(
        NameOID.COMMON_NAME)] == ["system:node:n1"]
    assert [a.value for a in request.subject.get_attributes_for_oid(
        NameOID.ORGANIZATION_NAME)] == ["system:nodes"]
    csr = csr_object("node-csr-x", certificate_request(key, "n1"), 3600)
    assert csr["spec"]["signerName"] == "kubernetes.io/kube-apiserver-client-kubelet"
    assert csr["spec"]["usages"] == ["digital signature", "client auth"]
    assert csr["spec"]["expirationSeconds"] == 3600


def test_request_name_is_stable_per_key_and_subject() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    usages = ("digital signature", "client auth")
    name = csr_name(key.public_key(), "system:node:n1", ("system:nodes",), usages)
    assert name.startswith("node-csr-") and len(name) <= 253
    assert name == csr_name(key.public_key(), "system:node:n1", ("system:nodes",), usages)
    other = ec.generate_private_key(ec.SECP256R1())
    assert name != csr_name(other.public_key(), "system:node:n1", ("system:nodes",), usages)
    assert name != csr_name(key.public_key(), "system:node:n2", ("system:nodes",), usages)


def test_signers_answer() -> None:
    assert issued_certificate({"status": {}}) is None
    approved = {"status": {"conditions": [{"type": "Approved"}]}}
    assert issued_certificate(approved) is None
    signed = {"status": {"conditions": [{"type": "Approved"}],
                         "certificate": base64.b64encode(b"PEM").decode()}}
    assert issued_certificate(signed) == b"PEM"
    denied = {"status": {"conditions": [{"type": "Denied", "reason": "Nope",
                                         "message": "not you"}]}}
    with pytest.raises(CertificateError) as caught:
        issued_certificate(denied)
    assert str(caught.value) == \
        "certificate signing request is denied, reason: Nope, message: not you"
    with pytest.raises(CertificateError, match="request failed, reason: SignerValidation"):
        issued_certificate({"status": {"conditions": [
            {"type": "Failed", "reason": "SignerValidationFailure", "message": "m"}]}})


def _certificate(start: dt.datetime, days: int) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")])
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1).not_valid_before(start)
            .not_valid_after(start + dt.timedelta(days=days)).sign(key, hashes.SHA256()))


def test_rotation_at_eighty_percent_of_the_lifetime() -> None:
    start = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
    cert = _certificate(start, 10)
    assert rotation_deadline(cert) == (start + dt.timedelta(days=8)).timestamp()
    assert valid_now(cert, (start + dt.timedelta(days=9)).timestamp())
    assert not valid_now(cert, (start + dt.timedelta(days=11)).timestamp())
    assert not valid_now(cert, (start - dt.timedelta(days=1)).timestamp())


def test_kubeconfig_names_the_certificate_file(tmp_path: Path) -> None:
    document = kubeconfig_document("https://10.0.0.1:6443", "CA PEM", tmp_path / "c.pem")
    text = yaml.safe_dump(document)
    loaded = yaml.safe_load(text)
    assert loaded["clusters"][0]["cluster"] == {
        "server": "https://10.0.0.1:6443",
        "certificate-authority-data": base64.b64encode(b"CA PEM").decode()}
    assert loaded["users"][0]["user"] == {"client-certificate": str(tmp_path / "c.pem"),
                                          "client-key": str(tmp_path / "c.pem")}
    assert loaded["current-context"] == "default-context"
