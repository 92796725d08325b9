"""Legacy ServiceAccount token Secrets (upstream's tokens controller in
kube-controller-manager).

A Secret of type ``kubernetes.io/service-account-token`` annotated
``kubernetes.io/service-account.name: <sa>`` (optionally ``...uid``) gets ``data.token`` (a
long-lived JWT signed with the ServiceAccount key), ``data.ca.crt`` (the cluster CA) and
``data.namespace``, and both annotations set to the ServiceAccount it was issued for. A
Secret whose ServiceAccount is gone (or was re-created with another uid) is deleted, which
revokes its token; deleting a ServiceAccount therefore deletes its token Secrets.

Level-triggered: informers on Secrets and ServiceAccounts only enqueue Secret keys; a worker
re-reads the Secret from the cache and fixes what is missing. A ServiceAccount missing from
the cache is looked up on the server before its Secret is deleted (the cache may simply not
have seen a new ServiceAccount yet). Writes are compare-and-swap updates (a 409 requeues).

Like upstream, this controller runs with the controller-manager's own identity (it cannot
use per-controller ServiceAccount tokens: it is what issues long-lived ones) and needs the
ServiceAccount private key, so it takes the key and CA directly rather than a controller
context. Tokens: ES256 with the key id the API server publishes, issuer
``kubernetes/serviceaccount``, no expiry — the API server accepts them only with
``--service-account-legacy-tokens``.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import logging
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from kubesmith.api.types import Obj
from kubesmith.client import ApiError, Client, WorkQueue, object_key, run_workers
from kubesmith.client.factory import InformerFactory
from kubesmith.client.rest import SECRETS, SERVICEACCOUNTS

log = logging.getLogger(__name__)

SECRET_TYPE = "kubernetes.io/service-account-token"
SA_NAME_ANNOTATION = "kubernetes.io/service-account.name"
SA_UID_ANNOTATION = "kubernetes.io/service-account.uid"
# What the API server's legacy token validator reads (kubesmith.apiserver.legacy_tokens).
LEGACY_ISSUER = "kubernetes/serviceaccount"
_CLAIM = "kubernetes.io/serviceaccount/"


def _meta(obj: Obj) -> dict[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _key_id(key: ec.EllipticCurvePrivateKey) -> str:
    """The ``kid`` of tokens signed with ``key`` (SHA-256 of the public key's DER)."""
    der = key.public_key().public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).decode().rstrip("=")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def sign_legacy_token(key: ec.EllipticCurvePrivateKey, secret: Obj, sa: Obj) -> str:
    """A long-lived token for ServiceAccount ``sa`` kept in ``secret`` (upstream's legacy
    claims: issuer, subject and the private claims naming namespace, Secret and
    ServiceAccount; no expiry, no audience)."""
    sa_meta = _meta(sa)
    namespace, name = sa_meta.get("namespace"), sa_meta.get("name")
    claims = {
        "iss": LEGACY_ISSUER,
        "sub": f"system:serviceaccount:{namespace}:{name}",
        _CLAIM + "namespace": namespace,
        _CLAIM + "secret.name": _meta(secret).get("name"),
        _CLAIM + "service-account.name": name,
        _CLAIM + "service-account.uid": sa_meta.get("uid"),
    }
    return jwt.encode(claims, key, algorithm="ES256", headers={"kid": _key_id(key)})


class ServiceAccountTokensController:
    """Fills in and garbage-collects ServiceAccount token Secrets (module docstring)."""

    name = "tokens-controller"

    def __init__(self, client: Client, private_key_pem: bytes, ca_pem: bytes, *,
                 informers: InformerFactory | None = None, workers: int = 2) -> None:
        key = serialization.load_pem_private_key(private_key_pem, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError("the ServiceAccount key must be an EC private key")
        self.client = client
        self.key = key
        self.ca_data = _b64(ca_pem) if ca_pem else ""
        self.workers = workers
        self.queue: WorkQueue[str] = WorkQueue()
        # Shared informers when the controller manager hands its factory in (it starts and
        # stops them); otherwise this controller runs its own.
        self._owns_informers = informers is None
        self.informers = informers or InformerFactory(client)
        self.secrets = self.informers.informer(SECRETS)
        self.serviceaccounts = self.informers.informer(SERVICEACCOUNTS)
        self.secrets.add_handlers(on_add=self._enqueue_secret,
                                  on_update=lambda _old, new: self._enqueue_secret(new))
        self.serviceaccounts.add_handlers(on_delete=self._enqueue_tokens_of)

    # ---- event handlers: only enqueue Secret keys ---------------------------------------
    def _enqueue_secret(self, secret: Obj) -> None:
        if secret.get("type") == SECRET_TYPE:
            self.queue.add(object_key(secret))

    def _enqueue_tokens_of(self, sa: Obj) -> None:
        meta = _meta(sa)
        namespace, name = meta.get("namespace"), meta.get("name")
        for secret in self.secrets.list():
            smeta = _meta(secret)
            if secret.get("type") == SECRET_TYPE and smeta.get("namespace") == namespace \
                    and (smeta.get("annotations") or {}).get(SA_NAME_ANNOTATION) == name:
                self.queue.add(object_key(secret))

    # ---- running ------------------------------------------------------------------------
    async def run(self) -> None:
        """Reconcile token Secrets until cancelled."""
        if self._owns_informers:
            self.informers.start()
        try:
            await self.informers.wait_synced(SECRETS, SERVICEACCOUNTS)
            await run_workers(self.queue, self.workers, self.reconcile)
        finally:
            self.queue.shutdown()
            if self._owns_informers:
                await self.informers.stop()

    async def reconcile(self, key: str) -> None:
        """Bring the token Secret ``namespace/name`` in line with its ServiceAccount."""
        cached = self.secrets.get(key)
        if cached is None or cached.get("type") != SECRET_TYPE:
            return
        meta = _meta(cached)
        if meta.get("deletionTimestamp"):
            return
        annotations = meta.get("annotations") or {}
        sa_name = annotations.get(SA_NAME_ANNOTATION)
        if not sa_name:
            return  # validation requires the annotation; nothing to issue for
        namespace = str(meta.get("namespace"))
        sa = await self._service_account(namespace, sa_name, annotations.get(SA_UID_ANNOTATION))
        if sa is None:
            await self._delete(cached)
            return
        desired = self._filled_in(cached, sa)
        if desired is None:
            return
        try:
            await self.client.replace(SECRETS, desired, namespace)
        except ApiError as exc:
            if exc.code == 404:
                return  # deleted meanwhile
            raise  # 409: the cache was stale; retried with backoff against the new state

    async def _service_account(self, namespace: str, name: str, uid: str | None
                               ) -> Obj | None:
        """The ServiceAccount (with ``uid`` when given), from the cache or, on a miss, the
        server; None when it does not exist."""
        sa = self.serviceaccounts.get(f"{namespace}/{name}")
        if sa is None:
            try:
                sa = await self.client.get(SERVICEACCOUNTS, name, namespace)
            except ApiError as exc:
                if exc.code == 404:
                    return None
                raise
        if uid and _meta(sa).get("uid") != uid:
            return None
        return sa

    def _filled_in(self, cached: Obj, sa: Obj) -> Obj | None:
        """The Secret with token, CA, namespace and annotations in place, or None when it
        already has them (an existing token is never re-issued)."""
        data = cached.get("data") or {}
        namespace = str(_meta(cached).get("namespace"))
        sa_meta = _meta(sa)
        annotations = _meta(cached).get("annotations") or {}
        wanted_annotations = {SA_NAME_ANNOTATION: sa_meta.get("name"),
                              SA_UID_ANNOTATION: sa_meta.get("uid")}
        needs_ca = bool(self.ca_data) and data.get("ca.crt") != self.ca_data
        needs_namespace = not data.get("namespace")
        needs_token = not data.get("token")
        if not (needs_ca or needs_namespace or needs_token) and \
                all(annotations.get(k) == v for k, v in wanted_annotations.items()):
            return None
        secret = copy.deepcopy(cached)
        new_data = secret.setdefault("data", {})
        if needs_ca:
            new_data["ca.crt"] = self.ca_data
        if needs_namespace:
            new_data["namespace"] = _b64(namespace.encode())
        if needs_token:
            new_data["token"] = _b64(sign_legacy_token(self.key, secret, sa).encode())
        secret["metadata"].setdefault("annotations", {}).update(wanted_annotations)
        return secret

    async def _delete(self, secret: Obj) -> None:
        """Delete a token Secret whose ServiceAccount is gone (only that very Secret)."""
        meta = _meta(secret)
        try:
            await self.client.delete(SECRETS, str(meta.get("name")), str(meta.get("namespace")),
                                     preconditions={"uid": str(meta.get("uid"))})
        except ApiError as exc:
            if exc.code not in (404, 409):
                raise
        log.info("deleted token secret %s/%s: its ServiceAccount %s is gone",
                 meta.get("namespace"), meta.get("name"),
                 (meta.get("annotations") or {}).get(SA_NAME_ANNOTATION))
