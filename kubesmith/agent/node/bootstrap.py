"""The node's client certificate: joining with a bootstrap token (TLS bootstrapping) and
rotating the certificate before it expires, as the kubelet does.

Files, under ``cert_dir`` (all 0600, the directory 0700):

* ``kubelet-client-<YYYY-mm-dd-HH-MM-SS>.pem`` — a certificate and its key, one per
  issue; ``kubelet-client-current.pem`` is a symlink to the newest, swapped atomically, so
  the kubeconfig that names it never has to change;
* ``kubelet-client.key.tmp`` — the key of a request still waiting for its certificate,
  kept across restarts so a restarted agent finds its pending request again (the request's
  name is derived from the key, subject and usages) instead of filing another.

Bootstrap (:meth:`NodeCertificates.ensure`): when the node kubeconfig is missing or its
certificate is not valid now, the agent uses the bootstrap kubeconfig (server, CA and a
bootstrap token) to file a CertificateSigningRequest for ``system:node:<name>`` in
``system:nodes`` with signer ``kubernetes.io/kube-apiserver-client-kubelet``, waits on a
watch until it is approved and signed (the API server approves such requests from bootstrap
tokens on its own), then writes the certificate and a kubeconfig for the node identity.

Rotation (:meth:`NodeCertificates.run_rotation`): once 80% of the certificate's lifetime
has passed, the node asks for a new one with its current identity (approved as a node
renewing its own certificate) and swaps it in; callers reload their TLS contexts through
the ``on_rotated`` callback (see :func:`reload_client_certificate`).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import os
import ssl
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import aiohttp
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kubesmith.api.types import Obj
from kubesmith.client import ApiError, Client, ClientConfig, KubeconfigError, load_kubeconfig
from kubesmith.client.rest import Resource

log = logging.getLogger(__name__)

CSRS = Resource("certificates.k8s.io", "v1", "certificatesigningrequests", namespaced=False)
KUBELET_CLIENT_SIGNER = "kubernetes.io/kube-apiserver-client-kubelet"
#: An EC key needs no key encipherment (upstream asks for it only with RSA keys).
USAGES = ("digital signature", "client auth")
NODES_GROUP = "system:nodes"
CURRENT = "kubelet-client-current.pem"
PENDING_KEY = "kubelet-client.key.tmp"
ROTATE_AT = 0.8
_WATCH_SECONDS = 300


class CertificateError(Exception):
    """The certificate could not be obtained (denied, failed, timed out, no way to ask)."""


class CertificateRefused(CertificateError):
    """The request was denied or failed, or one of its name exists for another key: asking
    again needs a new key (and so a new request)."""


# ---- pure pieces -------------------------------------------------------------------------


def node_user(node_name: str) -> str:
    """The user a node's certificate names."""
    return f"system:node:{node_name}"


def csr_name(public_key: ec.EllipticCurvePublicKey, common_name: str,
             organizations: tuple[str, ...], usages: tuple[str, ...]) -> str:
    """``node-csr-<digest>``: a name fixed by the request's key, subject and usages, so
    asking again after a restart finds the same request instead of filing a new one."""
    digest = hashlib.new("sha512_256")
    der = public_key.public_bytes(serialization.Encoding.DER,
                                  serialization.PublicFormat.SubjectPublicKeyInfo)
    for part in (der, *(p.encode() for p in (common_name, *organizations, *usages))):
        # Each part base64-encoded and followed by a byte outside that alphabet, so two
        # different lists of parts never hash the same stream.
        digest.update(base64.urlsafe_b64encode(part).rstrip(b"="))
        digest.update(b"|")
    return "node-csr-" + base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()


def certificate_request(key: ec.EllipticCurvePrivateKey, node_name: str) -> bytes:
    """The PEM request for ``system:node:<name>`` in ``system:nodes``."""
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, NODES_GROUP),
                         x509.NameAttribute(NameOID.COMMON_NAME, node_user(node_name))])
    request = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(
        key, hashes.SHA256())
    return request.public_bytes(serialization.Encoding.PEM)


def csr_object(name: str, request_pem: bytes, expiration_seconds: int | None) -> Obj:
    """The CertificateSigningRequest to create."""
    spec: Obj = {"request": base64.b64encode(request_pem).decode(),
                 "signerName": KUBELET_CLIENT_SIGNER, "usages": list(USAGES)}
    if expiration_seconds is not None:
        spec["expirationSeconds"] = expiration_seconds
    return {"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
            "metadata": {"name": name}, "spec": spec}


def issued_certificate(csr: Obj) -> bytes | None:
    """The PEM certificate of a signed request; None while it waits. Raises
    :class:`CertificateError` when it was denied or failed (upstream's wording)."""
    for condition in (csr.get("status") or {}).get("conditions") or []:
        kind = condition.get("type")
        if kind == "Denied":
            raise CertificateRefused(
                f"certificate signing request is denied, reason: {condition.get('reason')}, "
                f"message: {condition.get('message')}")
        if kind == "Failed":
            raise CertificateRefused(
                f"certificate signing request failed, reason: {condition.get('reason')}, "
                f"message: {condition.get('message')}")
    encoded = (csr.get("status") or {}).get("certificate")
    return base64.b64decode(encoded) if encoded else None


def rotation_deadline(cert: x509.Certificate, fraction: float = ROTATE_AT) -> float:
    """When (epoch seconds) a certificate is due for renewal."""
    start = cert.not_valid_before_utc.timestamp()
    end = cert.not_valid_after_utc.timestamp()
    return start + (end - start) * fraction


def valid_now(cert: x509.Certificate, now: float | None = None) -> bool:
    """Whether ``cert`` may be used now."""
    moment = time.time() if now is None else now
    return cert.not_valid_before_utc.timestamp() <= moment < \
        cert.not_valid_after_utc.timestamp()


def kubeconfig_document(server: str, ca_pem: str | None, cert_file: Path, *,
                        tls_server_name: str | None = None,
                        insecure: bool = False) -> dict[str, object]:
    """The node's kubeconfig: the bootstrap kubeconfig's cluster, the node's certificate
    (key in the same file) as its user."""
    cluster: dict[str, object] = {"server": server}
    if ca_pem:
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem.encode()).decode()
    if insecure:
        cluster["insecure-skip-tls-verify"] = True
    if tls_server_name:
        cluster["tls-server-name"] = tls_server_name
    return {"apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": "default-cluster", "cluster": cluster}],
            "contexts": [{"name": "default-context",
                          "context": {"cluster": "default-cluster", "namespace": "default",
                                      "user": "default-auth"}}],
            "current-context": "default-context", "preferences": {},
            "users": [{"name": "default-auth",
                       "user": {"client-certificate": str(cert_file),
                                "client-key": str(cert_file)}}]}


# ---- files ---------------------------------------------------------------------------------


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically, readable by its owner only."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM,
                             serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())


def _load_key(path: Path) -> ec.EllipticCurvePrivateKey | None:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), None)
    except (OSError, ValueError):
        return None
    return key if isinstance(key, ec.EllipticCurvePrivateKey) else None


def load_certificate(path: Path) -> x509.Certificate | None:
    """The first certificate in a PEM file, or None when there is none (or no file)."""
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError):
        return None


def reload_client_certificate(client: Client, cert_file: Path) -> None:
    """Make ``client``'s new connections present the certificate (and key) in
    ``cert_file``; connections already open keep the old one until they close."""
    context = client.config.ssl_context
    if isinstance(context, ssl.SSLContext):
        context.load_cert_chain(cert_file, cert_file)


# ---- asking for a certificate -------------------------------------------------------------


async def request_certificate(client: Client, key: ec.EllipticCurvePrivateKey,
                              node_name: str, *,
                              expiration_seconds: int | None = None) -> bytes:
    """File (or find again) the node's request for ``key`` and wait until it is signed
    (bound the wait with :func:`asyncio.timeout`); returns the PEM certificate."""
    request_pem = certificate_request(key, node_name)
    name = csr_name(key.public_key(), node_user(node_name), (NODES_GROUP,), USAGES)
    try:
        csr = await client.create(CSRS, csr_object(name, request_pem, expiration_seconds))
        log.info("node %s: filed certificate signing request %s", node_name, name)
    except ApiError as exc:
        if exc.code != 409:
            raise
        csr = await client.get(CSRS, name)
        _ensure_same_request(csr, key)
        log.info("node %s: waiting again for certificate signing request %s", node_name, name)
    return await _wait_signed(client, csr)


def _ensure_same_request(csr: Obj, key: ec.EllipticCurvePrivateKey) -> None:
    spec = csr.get("spec") or {}
    try:
        found = x509.load_pem_x509_csr(base64.b64decode(str(spec.get("request"))))
    except ValueError:
        raise CertificateRefused("the existing certificate signing request is unreadable") \
            from None
    ours = key.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)
    theirs = found.public_key().public_bytes(serialization.Encoding.DER,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)
    if ours != theirs or spec.get("signerName") != KUBELET_CLIENT_SIGNER or \
            sorted(spec.get("usages") or []) != sorted(USAGES):
        raise CertificateRefused("retrieved csr is not compatible: it was made for another "
                                 "key, signer or usages")


async def _wait_signed(client: Client, csr: Obj) -> bytes:
    name = str(csr["metadata"]["name"])
    while True:
        certificate = issued_certificate(csr)
        if certificate is not None:
            return certificate
        version = str((csr.get("metadata") or {}).get("resourceVersion") or "")
        events = cast("AsyncGenerator[tuple[str, Obj], None]", client.watch(
            CSRS, name=name, resource_version=version or None, timeout_seconds=_WATCH_SECONDS))
        async with contextlib.aclosing(events) as stream:
            async for kind, obj in stream:
                if kind == "DELETED":
                    raise CertificateError(f"certificate signing request {name} was deleted")
                if kind == "BOOKMARK":
                    continue
                certificate = issued_certificate(obj)
                if certificate is not None:
                    return certificate
        # The watch ended (timeout or the server went away): read the request again.
        csr = await client.get(CSRS, name)


# ---- the node's certificates -------------------------------------------------------------


@dataclass(frozen=True)
class CertificateOptions:
    """Where the node's credentials live and how they are obtained."""

    node_name: str
    #: The node's kubeconfig (``--kubeconfig``): used as it is when valid, written after a
    #: bootstrap.
    kubeconfig: Path
    #: ``--cert-dir``.
    cert_dir: Path
    #: ``--bootstrap-kubeconfig``: server, CA and a bootstrap token.
    bootstrap_kubeconfig: Path | None = None
    #: Requested lifetime of issued certificates (None: the signer's default).
    expiration_seconds: int | None = None
    #: How long to wait for a request to be approved and signed.
    wait_timeout: float = 3600.0


RotationCallback = Callable[[Path], Awaitable[None] | None]


class NodeCertificates:
    """The node's client certificate (see the module docstring)."""

    def __init__(self, options: CertificateOptions) -> None:
        self.options = options

    @property
    def current_file(self) -> Path:
        """The certificate-and-key file the node kubeconfig names."""
        return self.options.cert_dir / CURRENT

    def current(self) -> x509.Certificate | None:
        """The node's current certificate (None when it has none from us)."""
        return load_certificate(self.current_file)

    async def ensure(self) -> Path:
        """The kubeconfig to act with: the node kubeconfig when it is usable, else one
        written after bootstrapping a certificate."""
        if await asyncio.to_thread(_usable_kubeconfig, self.options.kubeconfig):
            return self.options.kubeconfig
        if self.options.bootstrap_kubeconfig is None:
            raise CertificateError(
                f"{self.options.kubeconfig}: no usable credentials, and no bootstrap "
                f"kubeconfig to request a certificate with")
        log.info("node %s: requesting a client certificate with the bootstrap kubeconfig %s",
                 self.options.node_name, self.options.bootstrap_kubeconfig)
        config = await asyncio.to_thread(load_kubeconfig, self.options.bootstrap_kubeconfig)
        await self._renew(config)
        await asyncio.to_thread(self._write_kubeconfig, config)
        return self.options.kubeconfig

    async def rotate(self) -> Path:
        """Ask for a new certificate with the current one and swap it in; returns the
        certificate file."""
        config = await asyncio.to_thread(load_kubeconfig, self.options.kubeconfig)
        await self._renew(config)
        return self.current_file

    async def run_rotation(self, on_rotated: RotationCallback | None = None) -> None:
        """Rotate the certificate whenever 80% of its lifetime has passed, until
        cancelled; returns at once when the node acts with other credentials."""
        backoff = 1.0
        while True:
            cert = await asyncio.to_thread(self.current)
            if cert is None or not await asyncio.to_thread(self._kubeconfig_uses_ours):
                return
            await asyncio.sleep(max(0.0, rotation_deadline(cert) - time.time()))
            try:
                path = await self.rotate()
            except (ApiError, CertificateError, KubeconfigError, OSError,
                    aiohttp.ClientError) as exc:
                log.warning("node %s: rotating the client certificate failed (retrying in "
                            "%.0fs): %s", self.options.node_name, backoff, exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 300.0)
                continue
            backoff = 1.0
            log.info("node %s: client certificate rotated", self.options.node_name)
            if on_rotated is not None:
                result = on_rotated(path)
                if result is not None:
                    await result

    # -- internals -----------------------------------------------------------------------

    async def _renew(self, config: ClientConfig) -> None:
        key = await asyncio.to_thread(self._pending_key)
        async with Client(config, owns_config=True, user_agent="kubelet") as client:
            try:
                async with asyncio.timeout(self.options.wait_timeout):
                    certificate = await request_certificate(
                        client, key, self.options.node_name,
                        expiration_seconds=self.options.expiration_seconds)
            except TimeoutError:
                raise CertificateError(
                    f"timed out after {self.options.wait_timeout:.0f}s waiting for the "
                    f"node's certificate signing request to be approved and signed") from None
            except CertificateRefused:
                # The next attempt files a fresh request rather than meet this one again.
                await asyncio.to_thread(
                    (self.options.cert_dir / PENDING_KEY).unlink, missing_ok=True)
                raise
        await asyncio.to_thread(self._store, certificate, key)

    def _pending_key(self) -> ec.EllipticCurvePrivateKey:
        """The key of the request in flight: reused after a restart, else new."""
        directory = self.options.cert_dir
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o700)
        path = directory / PENDING_KEY
        key = _load_key(path)
        if key is None:
            key = ec.generate_private_key(ec.SECP256R1())
            _write_private(path, _key_pem(key))
        return key

    def _store(self, certificate: bytes, key: ec.EllipticCurvePrivateKey) -> None:
        directory = self.options.cert_dir
        stamp = datetime.now(UTC).strftime("%Y-%m-%d-%H-%M-%S")
        issued = directory / f"kubelet-client-{stamp}.pem"
        _write_private(issued, certificate.rstrip(b"\n") + b"\n" + _key_pem(key))
        link = directory / f".{CURRENT}.tmp"
        with contextlib.suppress(FileNotFoundError):
            link.unlink()
        link.symlink_to(issued.name)
        os.replace(link, self.current_file)
        (directory / PENDING_KEY).unlink(missing_ok=True)

    def _write_kubeconfig(self, config: ClientConfig) -> None:
        document = kubeconfig_document(config.server, config.ca_pem, self.current_file,
                                       tls_server_name=config.tls_server_name,
                                       insecure=config.insecure_skip_verify)
        self.options.kubeconfig.parent.mkdir(parents=True, exist_ok=True)
        _write_private(self.options.kubeconfig,
                       yaml.safe_dump(document, sort_keys=False).encode())

    def _kubeconfig_uses_ours(self) -> bool:
        try:
            document = yaml.safe_load(self.options.kubeconfig.read_text())
        except (OSError, yaml.YAMLError):
            return False
        users = document.get("users") if isinstance(document, dict) else None
        return any(isinstance(u, dict) and isinstance(u.get("user"), dict) and
                   u["user"].get("client-certificate") == str(self.current_file)
                   for u in users or [])


def _usable_kubeconfig(path: Path) -> bool:
    """Whether the kubeconfig exists and its client certificate (if it has one) is valid
    now — a kubeconfig with a token or no user at all counts as usable."""
    if not path.is_file():
        return False
    try:
        document = yaml.safe_load(path.read_text())
        config = load_kubeconfig(path)
    except (KubeconfigError, OSError, yaml.YAMLError):
        return False
    config.close()
    context = next((c.get("context") or {} for c in document.get("contexts") or []
                    if isinstance(c, dict) and c.get("name") == document.get("current-context")),
                   {})
    user = next((u.get("user") or {} for u in document.get("users") or []
                 if isinstance(u, dict) and u.get("name") == context.get("user")), {})
    if "client-certificate-data" in user:
        cert = _certificate_from_data(str(user["client-certificate-data"]))
    elif "client-certificate" in user:
        cert_path = Path(str(user["client-certificate"])).expanduser()
        cert = load_certificate(cert_path if cert_path.is_absolute()
                                else path.parent / cert_path)
    else:
        return True
    return cert is not None and valid_now(cert)


def _certificate_from_data(data: str) -> x509.Certificate | None:
    try:
        return x509.load_pem_x509_certificate(base64.b64decode(data))
    except ValueError:
        return None
