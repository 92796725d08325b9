"""The CertificateSigningRequest API: requester identity, approval, the built-in signers and
automatic approval of node client certificates.

* On create the server records who asked (``spec.username``, ``uid``, ``groups``,
  ``extra``) — clients cannot claim someone else's identity — and checks the request: a
  PEM ``CERTIFICATE REQUEST`` whose signature verifies, a known ``signerName``, usages.
* ``/approval`` changes only the Approved/Denied conditions; ``/status`` carries the
  issued certificate.
* The signer loop follows the CSR watch cache: it approves node client CSRs
  (``kubernetes.io/kube-apiserver-client-kubelet`` for ``system:node:<name>`` in
  ``system:nodes``) asked for by a bootstrap token or by that same node (upstream's
  csrapproving controller), and signs approved CSRs of the built-in signers with the
  cluster CA (``kube-apiserver-client``, ``kube-apiserver-client-kubelet``,
  ``kubelet-serving``), honouring ``expirationSeconds`` (at least 10 minutes, at most a
  year).
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kubesmith.api import errors, objectmeta
from kubesmith.api.resources import Resources
from kubesmith.api.store import WriteOptions
from kubesmith.api.types import Obj
from kubesmith.api.watchcache import CacheEvent
from kubesmith.apiserver.admission import AdmissionRequest

log = logging.getLogger(__name__)

CLIENT = "kubernetes.io/kube-apiserver-client"
KUBELET_CLIENT = "kubernetes.io/kube-apiserver-client-kubelet"
KUBELET_SERVING = "kubernetes.io/kubelet-serving"
SIGNERS = (CLIENT, KUBELET_CLIENT, KUBELET_SERVING)
MIN_SECONDS = 600
MAX_SECONDS = 365 * 24 * 3600


def parse_request(pem_b64: Any) -> x509.CertificateSigningRequest:
    """The x509 request in ``spec.request`` (base64 of PEM), signature verified."""
    try:
        pem = base64.b64decode(str(pem_b64), validate=True)
        csr = x509.load_pem_x509_csr(pem)
    except (ValueError, TypeError):
        raise ValueError("PEM block type must be CERTIFICATE REQUEST") from None
    if not csr.is_signature_valid:
        raise ValueError("the certificate request's signature is invalid")
    return csr


def _subject(csr: x509.CertificateSigningRequest) -> tuple[str, list[str]]:
    cn = [a.value for a in csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    orgs = [str(a.value) for a in csr.subject.get_attributes_for_oid(
        NameOID.ORGANIZATION_NAME)]
    return (str(cn[0]) if cn else ""), orgs


class CSRRequester:
    """Admission: records the requester on create and validates the request."""

    name = "CertificateSigningRequest"

    async def admit(self, req: AdmissionRequest, obj: Obj | None, old: Obj | None) -> None:
        if (req.rt.group, req.rt.plural) != ("certificates.k8s.io",
                                             "certificatesigningrequests") or obj is None:
            return
        if req.operation != "CREATE":
            return
        spec = obj.setdefault("spec", {})
        spec["username"] = req.user.name
        spec["groups"] = list(req.user.groups)
        if req.user.uid:
            spec["uid"] = req.user.uid
        else:
            spec.pop("uid", None)
        if req.user.extra:
            spec["extra"] = req.user.extra
        else:
            spec.pop("extra", None)
        obj["status"] = {}

    async def validate(self, req: AdmissionRequest, obj: Obj | None, old: Obj | None) -> None:
        if (req.rt.group, req.rt.plural) != ("certificates.k8s.io",
                                             "certificatesigningrequests") or obj is None:
            return
        if req.operation != "CREATE":
            return
        spec = obj.get("spec") or {}
        name = obj.get("metadata", {}).get("name", "")
        problems = []
        try:
            parse_request(spec.get("request"))
        except ValueError as exc:
            problems.append(errors.invalid("spec.request", "<omitted>", str(exc)))
        signer = spec.get("signerName")
        if not signer:
            problems.append(errors.required("spec.signerName"))
        usages = spec.get("usages")
        if not isinstance(usages, list) or not usages:
            problems.append(errors.required("spec.usages"))
        seconds = spec.get("expirationSeconds")
        if seconds is not None and (not isinstance(seconds, int) or seconds < MIN_SECONDS):
            problems.append(errors.invalid("spec.expirationSeconds", seconds,
                                           f"may not specify a duration less than "
                                           f"{MIN_SECONDS} seconds"))
        if problems:
            raise errors.invalid_object("CertificateSigningRequest", name, problems,
                                        "certificates.k8s.io")


def _conditions(csr: Obj) -> dict[str, Any]:
    return {c.get("type"): c for c in (csr.get("status") or {}).get("conditions") or []}


def _kubelet_client_ok(csr: x509.CertificateSigningRequest, usages: list[str]) -> bool:
    cn, orgs = _subject(csr)
    return (cn.startswith("system:node:") and len(cn) > len("system:node:")
            and orgs == ["system:nodes"] and "client auth" in usages
            and set(usages) <= {"digital signature", "key encipherment", "client auth"})


class CertificateSigner:
    """Approves node client CSRs and signs approved CSRs of the built-in signers."""

    def __init__(self, resources: Resources, pki_dir: Path) -> None:
        self.resources = resources
        self.ca_cert = x509.load_pem_x509_certificate((pki_dir / "ca.crt").read_bytes())
        key = serialization.load_pem_private_key((pki_dir / "ca.key").read_bytes(), None)
        if not isinstance(key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)):
            raise ValueError("the cluster CA key must be an EC or RSA key")
        self.ca_key = key

    async def run(self) -> None:
        store = self.resources.for_kind("certificates.k8s.io", "CertificateSigningRequest")
        assert store is not None
        await store.cache.follow(self._handle_events, name="csr-signer")

    async def _handle_events(self, events: list[CacheEvent]) -> None:
        for ev in events:
            if ev.type == "DELETED":
                continue
            try:
                await self.handle(ev.obj.obj)
            except errors.StatusError as exc:
                if exc.code not in (404, 409):
                    log.warning("csr %s: %s", ev.obj.name, exc)

    async def handle(self, csr: Obj) -> None:
        spec = csr.get("spec") or {}
        conditions = _conditions(csr)
        if "Denied" in conditions or "Failed" in conditions:
            return
        if "Approved" not in conditions:
            if self._auto_approvable(spec):
                await self._write(csr["metadata"]["name"], "approval", self._approve)
            return
        if (csr.get("status") or {}).get("certificate") or \
                spec.get("signerName") not in SIGNERS:
            return
        await self._write(csr["metadata"]["name"], "status", self._sign)

    @staticmethod
    def _auto_approvable(spec: dict[str, Any]) -> bool:
        if spec.get("signerName") != KUBELET_CLIENT:
            return False
        try:
            request = parse_request(spec.get("request"))
        except ValueError:
            return False
        if not _kubelet_client_ok(request, list(spec.get("usages") or [])):
            return False
        requester = str(spec.get("username", ""))
        cn, _ = _subject(request)
        bootstrapping = "system:bootstrappers" in (spec.get("groups") or [])
        renewing = requester == cn and "system:nodes" in (spec.get("groups") or [])
        return bootstrapping or renewing

    @staticmethod
    def _approve(csr: Obj) -> Obj:
        status = csr.setdefault("status", {})
        status["conditions"] = [*(status.get("conditions") or []), {
            "type": "Approved", "status": "True", "reason": "AutoApproved",
            "message": "Auto approving kubelet client certificate after SubjectAccessReview.",
            "lastUpdateTime": objectmeta.now_rfc3339(),
            "lastTransitionTime": objectmeta.now_rfc3339()}]
        return csr

    def _sign(self, csr: Obj) -> Obj:
        spec = csr.get("spec") or {}
        signer = spec.get("signerName")
        usages = list(spec.get("usages") or [])
        try:
            request = parse_request(spec.get("request"))
        except ValueError as exc:
            return self._failed(csr, str(exc))
        if signer == KUBELET_CLIENT and not _kubelet_client_ok(request, usages):
            return self._failed(csr, "invalid kubelet client certificate request")
        now = dt.datetime.now(dt.UTC)
        seconds = spec.get("expirationSeconds")
        lifetime = min(int(seconds), MAX_SECONDS) if isinstance(seconds, int) else MAX_SECONDS
        not_after = min(now + dt.timedelta(seconds=lifetime), self.ca_cert.not_valid_after_utc)
        eku = []
        if "client auth" in usages:
            eku.append(ExtendedKeyUsageOID.CLIENT_AUTH)
        if "server auth" in usages:
            eku.append(ExtendedKeyUsageOID.SERVER_AUTH)
        builder = (x509.CertificateBuilder()
                   .subject_name(request.subject).issuer_name(self.ca_cert.subject)
                   .public_key(request.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(not_after)
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), True))
        if eku:
            builder = builder.add_extension(x509.ExtendedKeyUsage(eku), False)
        if signer == KUBELET_SERVING:
            try:
                sans = request.extensions.get_extension_for_class(x509.SubjectAlternativeName)
                builder = builder.add_extension(sans.value, False)
            except x509.ExtensionNotFound:
                pass
        cert = builder.sign(self.ca_key, hashes.SHA256())
        pem = cert.public_bytes(serialization.Encoding.PEM)
        csr.setdefault("status", {})["certificate"] = base64.b64encode(pem).decode()
        return csr

    @staticmethod
    def _failed(csr: Obj, message: str) -> Obj:
        status = csr.setdefault("status", {})
        status["conditions"] = [*(status.get("conditions") or []), {
            "type": "Failed", "status": "True", "reason": "SignerValidationFailure",
            "message": message, "lastUpdateTime": objectmeta.now_rfc3339(),
            "lastTransitionTime": objectmeta.now_rfc3339()}]
        return csr

    async def _write(self, name: str, subresource: str, change: Any) -> None:
        store = self.resources.for_kind("certificates.k8s.io", "CertificateSigningRequest")
        assert store is not None

        def transform(current: Obj | None) -> Obj:
            if current is None:
                raise errors.not_found("certificatesigningrequests", name,
                                       "certificates.k8s.io")
            result: Obj = change(current)
            return result

        await store.update(None, name, transform, WriteOptions(subresource=subresource))
