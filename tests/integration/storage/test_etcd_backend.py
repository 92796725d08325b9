"""etcd-only behaviour: TLS with client certificates, and failover between members."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kubesmith.storage import open_store
from kubesmith.storage.etcd import EtcdStore
from kubesmith.storage.etcd_client import EtcdTLS
from kubesmith.storage.etcd_launcher import LocalEtcdCluster, ServerTLS
from kubesmith.storage.interface import StoreUnavailableError

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    stranger_cert: Path  # a client cert from a CA etcd does not trust
    stranger_key: Path


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name | None,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool = False,
    server: bool = False,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer or name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    else:
        usages = [ExtendedKeyUsageOID.CLIENT_AUTH]
        if server:
            usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
        builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write(
    directory: Path, name: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> tuple[Path, Path]:
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A CA with a server cert for 127.0.0.1, a client cert, and an untrusted client cert."""
    directory = tmp_path_factory.mktemp("pki")
    ca_key = _key()
    ca_cert = _cert("kubesmith-etcd-ca", ca_key, None, ca_key, ca=True)
    ca_path, _ = _write(directory, "ca", ca_cert, ca_key)
    server_key = _key()
    server = _write(
        directory,
        "server",
        _cert("etcd", server_key, ca_cert.subject, ca_key, server=True),
        server_key,
    )
    client_key = _key()
    client = _write(
        directory, "client", _cert("apiserver", client_key, ca_cert.subject, ca_key), client_key
    )
    rogue_key = _key()
    rogue_ca = _cert("rogue-ca", rogue_key, None, rogue_key, ca=True)
    stranger_key = _key()
    stranger = _write(
        directory, "stranger", _cert("x", stranger_key, rogue_ca.subject, rogue_key), stranger_key
    )
    return Pki(ca_path, *server, *client, *stranger)


@pytest.fixture(scope="module")
def tls_cluster(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[LocalEtcdCluster]:
    """A 1-member etcd that requires client certificates signed by our CA."""
    cluster = LocalEtcdCluster(
        tmp_path_factory.mktemp("etcd-tls"),
        size=1,
        tls=ServerTLS(str(pki.server_cert), str(pki.server_key), client_ca_file=str(pki.ca)),
    )
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


async def test_tls_with_client_certificates(tls_cluster: LocalEtcdCluster, pki: Pki) -> None:
    url = (
        f"etcds://{tls_cluster.endpoints[0]}?ca={pki.ca}"
        f"&cert={pki.client_cert}&key={pki.client_key}"
    )
    store = await open_store(url)
    try:
        assert isinstance(store, EtcdStore)
        kv = await store.create("/tls/a", b"secret")
        assert await store.get("/tls/a") == kv
        watch = store.watch("/tls/", start_revision=kv.mod_revision)
        assert (await asyncio.wait_for(anext(watch), 5)).kv == kv
        await watch.aclose()  # type: ignore[attr-defined]
    finally:
        await store.close()


@pytest.mark.parametrize(
    "client",
    [pytest.param(None, id="no-client-cert"), pytest.param("stranger", id="untrusted-client-cert")],
)
async def test_tls_rejects_clients_without_a_trusted_certificate(
    tls_cluster: LocalEtcdCluster, pki: Pki, client: str | None
) -> None:
    tls = EtcdTLS(
        ca_file=str(pki.ca),
        cert_file=str(pki.stranger_cert) if client else None,
        key_file=str(pki.stranger_key) if client else None,
    )
    with pytest.raises(StoreUnavailableError):
        await EtcdStore.open(tls_cluster.endpoints, tls=tls, request_timeout=0.8)


async def test_tls_needs_our_ca_to_trust_the_server(
    tls_cluster: LocalEtcdCluster, pki: Pki
) -> None:
    # The system trust store does not know our CA: the handshake must fail.
    tls = EtcdTLS(cert_file=str(pki.client_cert), key_file=str(pki.client_key))
    with pytest.raises(StoreUnavailableError):
        await EtcdStore.open(tls_cluster.endpoints, tls=tls, request_timeout=0.8)


async def test_store_fails_over_when_a_member_stops(etcd_cluster: LocalEtcdCluster) -> None:
    prefix = "/failover/"
    store = await EtcdStore.open(etcd_cluster.endpoints, request_timeout=10.0)
    stopped = False
    try:
        before = await store.create(prefix + "before", b"1")
        watch = store.watch(prefix, start_revision=before.mod_revision)
        assert (await asyncio.wait_for(anext(watch), 5)).kv == before
        # The store talks to member 0 first; stop exactly that one (it may be the leader).
        etcd_cluster.stop_member(0)
        stopped = True

        after = await store.create(prefix + "after", b"2")
        assert after.mod_revision > before.mod_revision
        assert await store.get(prefix + "before") == before
        listed = await store.list(prefix)
        assert [kv.key for kv in listed.kvs] == [prefix + "after", prefix + "before"]
        updated = await store.update(
            prefix + "after", b"3", expected_mod_revision=after.mod_revision
        )
        # The open watch moved to another member and resumed with nothing lost.
        got = [await asyncio.wait_for(anext(watch), 10) for _ in range(2)]
        assert [e.kv for e in got] == [after, updated]
        await watch.aclose()  # type: ignore[attr-defined]
    finally:
        await store.close()
        if stopped:
            etcd_cluster.start_member(0)
