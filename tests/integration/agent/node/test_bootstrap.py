"""TLS bootstrapping end to end against a real API server: with nothing but a bootstrap
token the agent obtains a node client certificate through a CertificateSigningRequest,
acts as ``system:node:<name>`` (registers its Node, renews its Lease), reuses the
certificate on the next start and rotates it; an expired token is refused; a node asking
for another node's certificate waits for ``kubectl certificate approve|deny``."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import secrets
import stat
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from kubesmith.agent.node.bootstrap import (
    CSRS,
    PENDING_KEY,
    CertificateError,
    CertificateOptions,
    NodeCertificates,
    load_certificate,
    request_certificate,
)
from kubesmith.agent.node.host import HostProbe
from kubesmith.agent.node.registration import NodeOptions, NodeRegistration
from kubesmith.client import ApiError, Client
from kubesmith.client.rest import LEASES, SECRETS

from .conftest import Eventually

pytestmark = pytest.mark.integration


@contextlib.asynccontextmanager
async def bootstrap_token(admin: Client, *, expires_in: timedelta) -> AsyncIterator[str]:
    """A bootstrap token Secret as an administrator creates it; deleted afterwards, with
    every CSR filed with it or by the nodes it let in."""
    token_id, token_secret = secrets.token_hex(3), secrets.token_hex(8)

    def b64(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    expiration = (datetime.now(UTC) + expires_in).strftime("%Y-%m-%dT%H:%M:%SZ")
    name = f"bootstrap-token-{token_id}"
    await admin.create(SECRETS, {
        "apiVersion": "v1", "kind": "Secret", "type": "bootstrap.kubernetes.io/token",
        "metadata": {"name": name, "namespace": "kube-system"},
        "data": {"token-id": b64(token_id), "token-secret": b64(token_secret),
                 "usage-bootstrap-authentication": b64("true"),
                 "expiration": b64(expiration)}})
    try:
        yield f"{token_id}.{token_secret}"
    finally:
        await admin.delete(SECRETS, name, "kube-system")
        async for csr in admin.list_all(CSRS):
            if csr["spec"].get("username") == f"system:bootstrap:{token_id}" or \
                    csr["spec"].get("username", "").startswith("system:node:agent-"):
                with contextlib.suppress(ApiError):
                    await admin.delete(CSRS, csr["metadata"]["name"])


def write_bootstrap_kubeconfig(server: Any, path: Path, token: str) -> Path:
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "c", "cluster": {
            "server": server.url,
            "certificate-authority": str(server.data_dir / "pki" / "ca.crt")}}],
        "users": [{"name": "bootstrap", "user": {"token": token}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "bootstrap"}}],
        "current-context": "c"}))
    path.chmod(0o600)
    return path


def certificates(node: str, tmp_path: Path, bootstrap: Path | None) -> NodeCertificates:
    return NodeCertificates(CertificateOptions(
        node_name=node, kubeconfig=tmp_path / "kubelet.kubeconfig", cert_dir=tmp_path / "pki",
        bootstrap_kubeconfig=bootstrap, wait_timeout=60))


async def whoami(server: Any, kubeconfig: Path) -> dict[str, Any]:
    done = await asyncio.to_thread(server.kubectl, f"--kubeconfig={kubeconfig}", "auth",
                                   "whoami", "-o", "json")
    info: dict[str, Any] = json.loads(done.stdout)["status"]["userInfo"]
    return info


async def csrs_of(admin: Client, username: str) -> list[Any]:
    return [c async for c in admin.list_all(CSRS) if c["spec"].get("username") == username]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_join_with_a_bootstrap_token(api_server: Any, admin: Client, node_name: str,
                                           tmp_path: Path, eventually: Eventually) -> None:
    async with bootstrap_token(admin, expires_in=timedelta(hours=1)) as token:
        bootstrap = write_bootstrap_kubeconfig(api_server, tmp_path / "bootstrap.kubeconfig",
                                               token)
        certs = certificates(node_name, tmp_path, bootstrap)
        kubeconfig = await asyncio.wait_for(certs.ensure(), 60)
        assert kubeconfig == tmp_path / "kubelet.kubeconfig"
        assert mode(kubeconfig) == 0o600 and mode(tmp_path / "pki") == 0o700
        assert mode(certs.current_file.resolve()) == 0o600
        assert not (tmp_path / "pki" / PENDING_KEY).exists()

        user = await whoami(api_server, kubeconfig)
        assert user["username"] == f"system:node:{node_name}"
        assert "system:nodes" in user["groups"]

        token_id = token.partition(".")[0]
        [csr] = await csrs_of(admin, f"system:bootstrap:{token_id}")
        assert csr["metadata"]["name"].startswith("node-csr-")
        assert csr["spec"]["signerName"] == "kubernetes.io/kube-apiserver-client-kubelet"
        [approved] = csr["status"]["conditions"]
        assert (approved["type"], approved["reason"], approved["message"]) == (
            "Approved", "AutoApproved",
            "Auto approving kubelet client certificate after SubjectAccessReview.")
        listed = (await asyncio.to_thread(api_server.kubectl, "get", "csr")).stdout
        row = next(line for line in listed.splitlines() if csr["metadata"]["name"] in line)
        assert "Approved,Issued" in row and f"system:bootstrap:{token_id}" in row

        # The node identity can do what the agent does: register its Node, renew its Lease.
        async with Client.from_kubeconfig(str(kubeconfig)) as node_client:
            registration = NodeRegistration(
                node_client, NodeOptions(name=node_name, node_ip="127.0.0.1",
                                         lease_renew_interval=0.2), HostProbe(tmp_path))
            task = asyncio.create_task(registration.run())
            try:
                await eventually(lambda: _true(registration.lease.renewals >= 2 or
                                               task.done()), "two lease renewals")
                if task.done():
                    task.result()
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        lease = await admin.get(LEASES, node_name, "kube-node-lease")
        assert lease["spec"]["holderIdentity"] == node_name

        # The next start reuses the certificate; no new request.
        issued = load_certificate(certs.current_file)
        assert issued is not None
        again = certificates(node_name, tmp_path, bootstrap)
        assert await again.ensure() == kubeconfig
        assert load_certificate(again.current_file) == issued
        assert len(await csrs_of(admin, f"system:bootstrap:{token_id}")) == 1

        # Rotation: the node renews its own certificate, approved as such.
        await asyncio.wait_for(again.rotate(), 60)
        rotated = load_certificate(again.current_file)
        assert rotated is not None and rotated.serial_number != issued.serial_number
        [renewal] = await csrs_of(admin, f"system:node:{node_name}")
        assert renewal["status"]["conditions"][0]["reason"] == "AutoApproved"
        assert (await whoami(api_server, kubeconfig))["username"] == \
            f"system:node:{node_name}"
        assert len(list((tmp_path / "pki").glob("kubelet-client-*.pem"))) >= 2


async def test_an_expired_token_is_refused(api_server: Any, admin: Client, node_name: str,
                                           tmp_path: Path) -> None:
    async with bootstrap_token(admin, expires_in=timedelta(minutes=-1)) as token:
        bootstrap = write_bootstrap_kubeconfig(api_server, tmp_path / "bootstrap.kubeconfig",
                                               token)
        with pytest.raises(ApiError) as caught:
            await asyncio.wait_for(certificates(node_name, tmp_path, bootstrap).ensure(), 60)
        assert caught.value.code == 401
        assert not (tmp_path / "kubelet.kubeconfig").exists()
        assert await csrs_of(admin, f"system:bootstrap:{token.partition('.')[0]}") == []


async def test_no_bootstrap_kubeconfig_and_no_credentials(tmp_path: Path) -> None:
    with pytest.raises(CertificateError, match="no usable credentials"):
        await certificates("n1", tmp_path, None).ensure()


async def test_another_nodes_certificate_waits_for_an_administrator(
        api_server: Any, admin: Client, node_name: str, tmp_path: Path,
        eventually: Eventually) -> None:
    async with bootstrap_token(admin, expires_in=timedelta(hours=1)) as token:
        bootstrap = write_bootstrap_kubeconfig(api_server, tmp_path / "bootstrap.kubeconfig",
                                               token)
        kubeconfig = await asyncio.wait_for(
            certificates(node_name, tmp_path, bootstrap).ensure(), 60)
        other, third = f"{node_name}-other", f"{node_name}-third"
        async with Client.from_kubeconfig(str(kubeconfig)) as node_client:
            other_key = ec.generate_private_key(ec.SECP256R1())
            asking = asyncio.create_task(request_certificate(node_client, other_key, other))
            denied = asyncio.create_task(request_certificate(
                node_client, ec.generate_private_key(ec.SECP256R1()), third))
            try:
                await eventually(lambda: _if_count(csrs_of(admin, f"system:node:{node_name}"),
                                                   2), "the node's two requests")
                # A renewal of its own, filed after them, is approved; by then the signer
                # has seen the other two and left them pending.
                own = await asyncio.wait_for(request_certificate(
                    node_client, ec.generate_private_key(ec.SECP256R1()), node_name), 30)
                assert x509.load_pem_x509_certificate(own).subject.rfc4514_string() == \
                    f"CN=system:node:{node_name},O=system:nodes"
                pending = {c["metadata"]["name"]: c for c in
                           await csrs_of(admin, f"system:node:{node_name}")
                           if not (c.get("status") or {}).get("conditions")}
                assert len(pending) == 2 and not asking.done() and not denied.done()
                by_cn = {_common_name(c): name for name, c in pending.items()}
                listed = (await asyncio.to_thread(api_server.kubectl, "get", "csr")).stdout
                assert all("Pending" in line for line in listed.splitlines()
                           if any(name in line for name in pending))

                await asyncio.to_thread(api_server.kubectl, "certificate", "approve",
                                        by_cn[f"system:node:{other}"])
                certificate = await asyncio.wait_for(asking, 30)
                assert x509.load_pem_x509_certificate(certificate).subject.rfc4514_string() \
                    == f"CN=system:node:{other},O=system:nodes"

                await asyncio.to_thread(api_server.kubectl, "certificate", "deny",
                                        by_cn[f"system:node:{third}"])
                with pytest.raises(CertificateError) as caught:
                    await asyncio.wait_for(denied, 30)
                assert str(caught.value).startswith(
                    "certificate signing request is denied, reason: ")
            finally:
                for task in (asking, denied):
                    task.cancel()
                await asyncio.gather(asking, denied, return_exceptions=True)


def _common_name(csr: Any) -> str:
    request = x509.load_pem_x509_csr(base64.b64decode(csr["spec"]["request"]))
    return str(request.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value)


async def _if_count(listing: Any, count: int) -> Any:
    items = await listing
    return items if len(items) == count else None


async def _true(value: bool) -> bool:
    return value
