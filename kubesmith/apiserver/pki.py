"""The cluster's PKI: a CA, the API server's serving certificate, client certificates and
kubeconfigs.

Keys are ECDSA P-256 (fast to generate and to handshake with, accepted by kubectl and every
Kubernetes client) and written 0600. Existing files are reused; the serving certificate is
re-issued when the wanted subject alternative names are not all covered or it is close to
expiry, so a restart with a new ``--tls-san`` just works.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_VALIDITY = dt.timedelta(days=3650)
LEAF_VALIDITY = dt.timedelta(days=365)
RENEW_BEFORE = dt.timedelta(days=30)


@dataclass(frozen=True, slots=True)
class KeyPair:
    cert_path: Path
    key_path: Path


def _write_private(path: Path, data: bytes) -> None:
    """Write a secret file with mode 0600 from the first byte (no window where it is
    readable by others)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _load_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{path}: expected an EC private key")
    return key


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def ensure_ca(directory: Path, name: str = "kubesmith-ca") -> KeyPair:
    """The cluster CA under ``directory`` (ca.crt/ca.key), created if missing."""
    pair = KeyPair(directory / "ca.crt", directory / "ca.key")
    if pair.cert_path.exists() and pair.key_path.exists():
        return pair
    key = _new_key()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_private(pair.key_path, _key_pem(key))
    pair.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return pair


def _load_cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _split_sans(sans: Iterable[str]) -> tuple[list[str], list[str]]:
    dns: list[str] = []
    ips: list[str] = []
    for san in sans:
        try:
            ips.append(str(ipaddress.ip_address(san)))
        except ValueError:
            dns.append(san)
    return sorted(set(dns)), sorted(set(ips))


def issue(ca: KeyPair, out: KeyPair, *, common_name: str, organizations: Iterable[str] = (),
          sans: Iterable[str] = (), server: bool = False, client: bool = False) -> KeyPair:
    """Issue a leaf certificate signed by ``ca`` and write it (key 0600)."""
    ca_cert = _load_cert(ca.cert_path)
    ca_key = _load_key(ca.key_path)
    key = _new_key()
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    now = _now()
    usages = []
    if server:
        usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
    if client:
        usages.append(ExtendedKeyUsageOID.CLIENT_AUTH)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name(attrs))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(min(now + LEAF_VALIDITY, ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=False,
                                     key_cert_sign=False, crl_sign=False,
                                     content_commitment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False,
                                     decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            ca_key.public_key()), critical=False)
    )
    dns, ips = _split_sans(sans)
    if dns or ips:
        names: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
        names += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    _write_private(out.key_path, _key_pem(key))
    out.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return out


def _covers(cert: x509.Certificate, sans: Iterable[str]) -> bool:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    have_dns = set(ext.get_values_for_type(x509.DNSName))
    have_ip = {str(i) for i in ext.get_values_for_type(x509.IPAddress)}
    dns, ips = _split_sans(sans)
    return set(dns) <= have_dns and set(ips) <= have_ip


def _fresh(cert: x509.Certificate) -> bool:
    return cert.not_valid_after_utc - _now() > RENEW_BEFORE


def default_sans(bind_address: str, extra: Iterable[str] = ()) -> list[str]:
    """localhost, 127.0.0.1, ::1, the host name, the bind address (unless a wildcard), the
    in-cluster service names and the first service IP, plus ``extra``."""
    sans = ["localhost", "127.0.0.1", "::1", socket.gethostname(), "kubernetes",
            "kubernetes.default", "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local", "10.96.0.1"]
    if bind_address not in ("0.0.0.0", "::", ""):
        sans.append(bind_address)
    sans.extend(extra)
    return sans


def ensure_serving_cert(ca: KeyPair, directory: Path, sans: Iterable[str]) -> KeyPair:
    pair = KeyPair(directory / "apiserver.crt", directory / "apiserver.key")
    sans = list(sans)
    if pair.cert_path.exists() and pair.key_path.exists():
        cert = _load_cert(pair.cert_path)
        if _covers(cert, sans) and _fresh(cert):
            return pair
    return issue(ca, pair, common_name="kube-apiserver", sans=sans, server=True)


def ensure_client_cert(ca: KeyPair, directory: Path, stem: str, user: str,
                       groups: Iterable[str] = ()) -> KeyPair:
    pair = KeyPair(directory / f"{stem}.crt", directory / f"{stem}.key")
    if pair.cert_path.exists() and pair.key_path.exists() and \
            _fresh(_load_cert(pair.cert_path)):
        return pair
    return issue(ca, pair, common_name=user, organizations=groups, client=True)


def ensure_service_account_key(directory: Path) -> Path:
    """The key ServiceAccount tokens are signed with (``sa.key``, 0600)."""
    path = directory / "sa.key"
    if not path.exists():
        _write_private(path, _key_pem(_new_key()))
    return path


def write_kubeconfig(path: Path, *, server: str, ca: KeyPair, client: KeyPair,
                     cluster: str = "kubesmith", user: str = "admin") -> None:
    """A kubeconfig with the CA and client credentials embedded (0600)."""

    def b64(p: Path) -> str:
        return base64.b64encode(p.read_bytes()).decode()

    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster, "cluster": {
            "server": server, "certificate-authority-data": b64(ca.cert_path)}}],
        "users": [{"name": user, "user": {
            "client-certificate-data": b64(client.cert_path),
            "client-key-data": b64(client.key_path)}}],
        "contexts": [{"name": f"{user}@{cluster}",
                      "context": {"cluster": cluster, "user": user}}],
        "current-context": f"{user}@{cluster}",
        "preferences": {},
    }
    _write_private(path, yaml.safe_dump(config, sort_keys=False).encode())
