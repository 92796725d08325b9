"""ServiceAccount tokens for projected volumes, through the TokenRequest API.

Each (pod, ServiceAccount, audience, lifetime) gets a token bound to the pod (so deleting
the pod revokes it), requested with the node's own credentials. Tokens are cached in
memory and replaced, like the kubelet's token manager does, once 80% of their lifetime has
passed or they are older than 24 hours, with up to 10 s of jitter so a node's pods do not
all refresh in the same second. After an agent restart the cache is empty and every pod
simply gets a fresh token on its next refresh.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from kubesmith.agent.volumes.errors import SourceError
from kubesmith.api.types import Obj
from kubesmith.client import ApiError, Client
from kubesmith.client.rest import SERVICEACCOUNTS

#: The API's default ``expirationSeconds`` of a projected token.
DEFAULT_EXPIRATION_SECONDS = 3600
MIN_EXPIRATION_SECONDS = 600
MAX_TOKEN_AGE = 24 * 3600.0
MAX_JITTER = 10.0


@dataclass(frozen=True, slots=True)
class TokenKey:
    pod_uid: str
    namespace: str
    service_account: str
    audience: str
    expiration_seconds: int


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    issued_at: float  # epoch seconds (expiry minus the granted lifetime)
    expires_at: float
    #: The jitter this token was given (seconds), fixed per token so the decision is stable.
    jitter: float

    def needs_refresh(self, now: float) -> bool:
        """Past 80% of its lifetime, or older than 24 h (minus the token's jitter)."""
        lifetime = self.expires_at - self.issued_at
        if now > self.issued_at + MAX_TOKEN_AGE - self.jitter:
            return True
        return now > self.expires_at - lifetime * 0.2 - self.jitter


def _parse_time(value: str) -> float:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


class ServiceAccountTokens:
    """Requests, caches and refreshes pod-bound ServiceAccount tokens."""

    def __init__(self, client: Client, *, clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self.clock = clock
        self._tokens: dict[TokenKey, IssuedToken] = {}

    async def token(self, pod: Obj, source: Obj) -> str:
        """The token a projected ``serviceAccountToken`` source of ``pod`` shows now
        (requesting a new one when none is cached or the cached one is due)."""
        meta = pod.get("metadata") or {}
        spec = pod.get("spec") or {}
        expiration = source.get("expirationSeconds")
        key = TokenKey(str(meta.get("uid", "")), str(meta.get("namespace", "")),
                       str(spec.get("serviceAccountName") or "default"),
                       str(source.get("audience") or ""),
                       DEFAULT_EXPIRATION_SECONDS if expiration is None else int(expiration))
        cached = self._tokens.get(key)
        if cached is not None and not cached.needs_refresh(self.clock()):
            return cached.token
        issued = await self._request(key, str(meta.get("name", "")))
        self._tokens[key] = issued
        return issued.token

    async def _request(self, key: TokenKey, pod_name: str) -> IssuedToken:
        spec: Obj = {"expirationSeconds": key.expiration_seconds,
                     "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": pod_name,
                                        "uid": key.pod_uid}}
        if key.audience:
            spec["audiences"] = [key.audience]
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                "spec": spec}
        path = SERVICEACCOUNTS.path(key.namespace, key.service_account, "token")
        try:
            answer = await self.client.request("POST", path, body=orjson.dumps(body))
        except ApiError as exc:
            raise SourceError(f"failed to fetch token: {exc.message}") from exc
        status = answer.get("status") or {}
        token = status.get("token")
        if not token:
            raise SourceError("failed to fetch token: the TokenRequest answer has no token")
        expires = _parse_time(str(status.get("expirationTimestamp")))
        granted = int((answer.get("spec") or {}).get("expirationSeconds") or
                      key.expiration_seconds)
        return IssuedToken(str(token), expires - granted, expires,
                           random.uniform(0, MAX_JITTER))

    def forget(self, pod_uid: str) -> None:
        """Drop the cached tokens of a pod that is gone."""
        for key in [k for k in self._tokens if k.pod_uid == pod_uid]:
            del self._tokens[key]
