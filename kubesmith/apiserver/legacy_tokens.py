"""Legacy Secret-based ServiceAccount tokens (``--service-account-legacy-tokens``, off by
default): the long-lived tokens the tokens controller writes into Secrets of type
``kubernetes.io/service-account-token``.

Such a token is a JWT signed with the ServiceAccount key, issuer
``kubernetes/serviceaccount``, no expiry and no audience, whose private claims name the
namespace, the Secret and the ServiceAccount (name and uid). It is accepted only while

* the Secret still exists, is not being deleted, holds this very token in ``data.token``
  and is not labelled ``kubernetes.io/legacy-token-invalid-since``, and
* the ServiceAccount still exists with the uid in the token,

so deleting either revokes it (upstream's legacy validator with lookup on). A successful use
stamps the Secret with ``kubernetes.io/legacy-token-last-used: <UTC date>`` at most once a
day, as upstream does; that write runs in the background, never on the request's path.
The signature check itself (and its short cache) lives in :mod:`.serviceaccounts`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from kubesmith.api import errors
from kubesmith.api.resources import Resources
from kubesmith.api.types import Obj
from kubesmith.apiserver.authn import UserInfo, service_account_user

log = logging.getLogger(__name__)

LEGACY_ISSUER = "kubernetes/serviceaccount"
# The private claims (upstream's legacyPrivateClaims); the tokens controller writes the same.
NAMESPACE_CLAIM = "kubernetes.io/serviceaccount/namespace"
SECRET_NAME_CLAIM = "kubernetes.io/serviceaccount/secret.name"
SA_NAME_CLAIM = "kubernetes.io/serviceaccount/service-account.name"
SA_UID_CLAIM = "kubernetes.io/serviceaccount/service-account.uid"
INVALID_SINCE_LABEL = "kubernetes.io/legacy-token-invalid-since"
LAST_USED_LABEL = "kubernetes.io/legacy-token-last-used"


class LegacyTokenValidator:
    """Decides whether a legacy token whose signature checked out is still valid."""

    def __init__(self, resources: Resources) -> None:
        self.resources = resources
        # Secrets whose last-used label is being written (one write per Secret at a time);
        # the tasks are kept referenced until they finish.
        self._stamping: dict[str, asyncio.Task[None]] = {}

    def _cached(self, kind: str, namespace: str, name: str) -> Obj | None:
        store = self.resources.for_kind("", kind)
        if store is None or not name:
            return None
        cached = store.cache.get(store.key(namespace, name))
        return cached.obj if cached is not None else None

    def user(self, token: str, claims: dict[str, Any]) -> UserInfo | None:
        """The ServiceAccount ``token`` stands for, or None when it is not (or no longer)
        valid. ``claims`` are the token's verified claims."""
        namespace, secret_name, sa_name, sa_uid = (
            _string(claims, c) for c in (NAMESPACE_CLAIM, SECRET_NAME_CLAIM, SA_NAME_CLAIM,
                                         SA_UID_CLAIM))
        if not (namespace and secret_name and sa_name and sa_uid):
            return None
        if claims.get("sub") != f"system:serviceaccount:{namespace}:{sa_name}":
            return None
        secret = self._cached("Secret", namespace, secret_name)
        if secret is None or _meta(secret).get("deletionTimestamp"):
            return None  # the Secret was deleted: the token is revoked
        stored = _decoded((secret.get("data") or {}).get("token"))
        if stored is None or not hmac.compare_digest(stored, token.encode()):
            return None
        labels = _meta(secret).get("labels") or {}
        if labels.get(INVALID_SINCE_LABEL):
            self._stamp_last_used(secret)
            return None
        sa = self._cached("ServiceAccount", namespace, sa_name)
        if sa is None or _meta(sa).get("deletionTimestamp") or _meta(sa).get("uid") != sa_uid:
            return None
        self._stamp_last_used(secret)
        return service_account_user(namespace, sa_name, sa_uid)

    def _stamp_last_used(self, secret: Obj) -> None:
        meta = _meta(secret)
        now = datetime.now(UTC)
        today = now.strftime("%Y-%m-%d")
        tomorrow = (now + timedelta(days=1)).strftime("%Y-%m-%d")
        if (meta.get("labels") or {}).get(LAST_USED_LABEL) in (today, tomorrow):
            return
        key = f"{meta.get('namespace')}/{meta.get('name')}"
        if key in self._stamping:
            return
        task = asyncio.get_running_loop().create_task(
            self._write_last_used(str(meta.get("namespace")), str(meta.get("name")),
                                  str(meta.get("uid")), today), name=f"legacy-token-{key}")
        self._stamping[key] = task
        task.add_done_callback(lambda _t: self._stamping.pop(key, None))

    async def _write_last_used(self, namespace: str, name: str, uid: str, day: str) -> None:
        secrets = self.resources.for_kind("", "Secret")
        if secrets is None:
            return

        def transform(current: Obj | None) -> Obj:
            if current is None or _meta(current).get("uid") != uid:
                raise errors.not_found("secrets", name)
            current["metadata"].setdefault("labels", {})[LAST_USED_LABEL] = day
            return current

        try:
            await secrets.update(namespace, name, transform)
        except errors.StatusError as exc:
            if exc.code != 404:
                log.warning("labelling legacy token secret %s/%s as used: %s", namespace,
                            name, exc.message)


def _string(claims: dict[str, Any], name: str) -> str:
    value = claims.get(name)
    return value if isinstance(value, str) else ""


def _meta(obj: Obj) -> dict[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _decoded(value: object) -> bytes | None:
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
