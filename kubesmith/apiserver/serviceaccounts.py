"""ServiceAccount tokens: issuing (TokenRequest on ``serviceaccounts/<name>/token``, what
``kubectl create token`` calls) and verifying (bearer authentication, TokenReview).

Tokens are JWTs signed with the cluster's ServiceAccount key (ES256), with upstream's
claims: ``iss``, ``sub`` (``system:serviceaccount:<ns>:<name>``), ``aud``, ``exp``/``iat``/
``nbf``, ``jti`` and the private ``kubernetes.io`` claim naming the namespace, the
ServiceAccount (name and uid) and the object the token is bound to. A token is valid only
while its ServiceAccount (same uid) and its bound object still exist, so deleting either
revokes it, as upstream's bound tokens behave.

With ``legacy`` on (``--service-account-legacy-tokens``) the same key also verifies the
long-lived tokens of Secret-based ServiceAccount tokens (issuer ``kubernetes/serviceaccount``,
see :mod:`.legacy_tokens`); a token is routed by its issuer, so each costs one signature
check at most. With it off (the default) such tokens get 401.
"""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from kubesmith.api import errors
from kubesmith.api.resources import Resources
from kubesmith.api.types import Obj
from kubesmith.apiserver.authn import UserInfo, service_account_user
from kubesmith.apiserver.legacy_tokens import LEGACY_ISSUER, LegacyTokenValidator

DEFAULT_ISSUER = "https://kubernetes.default.svc.cluster.local"
DEFAULT_EXPIRATION = 3600
MIN_EXPIRATION = 600
MAX_EXPIRATION = 2**32
CLAIMS_TTL = 10.0
CLAIMS_CACHE_SIZE = 4096
_BINDABLE = {"Pod": ("", "Pod"), "Secret": ("", "Secret"), "Node": ("", "Node")}


def _key_id(public_key: ec.EllipticCurvePublicKey) -> str:
    der = public_key.public_bytes(serialization.Encoding.DER,
                                  serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).decode().rstrip("=")


@dataclass
class TokenService:
    """Signs and verifies ServiceAccount tokens for one cluster."""

    key: ec.EllipticCurvePrivateKey
    resources: Resources
    issuer: str = DEFAULT_ISSUER
    # Accepts legacy Secret-based tokens too when set.
    legacy: LegacyTokenValidator | None = None
    # Verified signatures by token: ES256 verification costs far more than the rest of a
    # GET, and clients send the same token on every request. Only the signature check is
    # cached (for at most CLAIMS_TTL seconds, never past the token's expiry); whether the
    # ServiceAccount and bound object still exist is checked on every request, so deleting
    # them revokes the token at once.
    _claims: dict[str, tuple[float, dict[str, Any]]] = field(default_factory=dict)

    @classmethod
    def load(cls, key_path: Path, resources: Resources, issuer: str = DEFAULT_ISSUER, *,
             legacy: bool = False) -> TokenService:
        """The service for the key at ``key_path``; ``legacy`` also accepts Secret-based
        tokens."""
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{key_path}: the ServiceAccount key must be an EC key")
        return cls(key, resources, issuer,
                   LegacyTokenValidator(resources) if legacy else None)

    @property
    def api_audiences(self) -> list[str]:
        return [self.issuer]

    # ---- issuing -----------------------------------------------------------------------
    async def token_request(self, namespace: str, sa_name: str, request: Obj) -> Obj:
        """Answer a TokenRequest for ``namespace/sa_name`` (the filled-in TokenRequest)."""
        spec = request.get("spec") or {}
        expiration = spec.get("expirationSeconds")
        if expiration is None:
            expiration = DEFAULT_EXPIRATION
        if not isinstance(expiration, int) or isinstance(expiration, bool):
            raise errors.invalid_object("TokenRequest", sa_name, [errors.invalid(
                "spec.expirationSeconds", expiration, "must be an integer")],
                "authentication.k8s.io")
        if expiration < MIN_EXPIRATION:
            raise errors.invalid_object("TokenRequest", sa_name, [errors.invalid(
                "spec.expirationSeconds", expiration,
                "may not specify a duration less than 10 minutes")],
                "authentication.k8s.io")
        if expiration > MAX_EXPIRATION:
            raise errors.invalid_object("TokenRequest", sa_name, [errors.invalid(
                "spec.expirationSeconds", expiration,
                "may not specify a duration larger than 2^32 seconds")],
                "authentication.k8s.io")
        audiences = spec.get("audiences") or self.api_audiences
        if not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences):
            raise errors.invalid_object("TokenRequest", sa_name, [errors.invalid(
                "spec.audiences", audiences, "must be a list of strings")],
                "authentication.k8s.io")
        sa = await self._get("", "ServiceAccount", namespace, sa_name)
        if sa is None:
            raise errors.not_found("serviceaccounts", sa_name)
        claim: dict[str, Any] = {"namespace": namespace, "serviceaccount": {
            "name": sa_name, "uid": sa["metadata"]["uid"]}}
        bound = spec.get("boundObjectRef")
        if bound:
            claim.update(await self._bound_claim(namespace, sa_name, bound))
        now = int(time.time())
        payload = {
            "iss": self.issuer, "sub": f"system:serviceaccount:{namespace}:{sa_name}",
            "aud": audiences, "iat": now, "nbf": now, "exp": now + expiration,
            "jti": str(uuid.uuid4()), "kubernetes.io": claim,
        }
        token = jwt.encode(payload, self.key, algorithm="ES256",
                           headers={"kid": _key_id(self.key.public_key())})
        out = dict(request)
        out["metadata"] = {"name": sa_name, "namespace": namespace,
                           "creationTimestamp": _rfc3339(now)}
        out["spec"] = {**spec, "audiences": audiences, "expirationSeconds": expiration}
        out["status"] = {"token": token, "expirationTimestamp": _rfc3339(now + expiration)}
        return out

    async def _bound_claim(self, namespace: str, sa_name: str, ref: Any) -> dict[str, Any]:
        if not isinstance(ref, dict) or ref.get("kind") not in _BINDABLE:
            kind = ref.get("kind") if isinstance(ref, dict) else ref
            raise errors.invalid_object("TokenRequest", sa_name, [errors.not_supported(
                "spec.boundObjectRef.kind", kind, sorted(_BINDABLE))],
                "authentication.k8s.io")
        group, kind = _BINDABLE[ref["kind"]]
        obj = await self._get(group, kind, "" if kind == "Node" else namespace,
                              str(ref.get("name", "")))
        if obj is None or (ref.get("uid") and ref["uid"] != obj["metadata"]["uid"]):
            raise errors.not_found(kind.lower() + "s", str(ref.get("name", "")))
        return {kind.lower(): {"name": obj["metadata"]["name"],
                               "uid": obj["metadata"]["uid"]}}

    def _cached_uid(self, group: str, kind: str, namespace: str, name: str) -> str | None:
        """The uid of an object as the watch cache holds it now (no consistency wait: a
        token check need not see a write made microseconds ago)."""
        rs = self.resources.for_kind(group, kind)
        if rs is None or not name:
            return None
        cached = rs.cache.get(rs.key(namespace or None, name))
        if cached is None:
            return None
        uid = cached.obj.get("metadata", {}).get("uid")
        return uid if isinstance(uid, str) else None

    async def _get(self, group: str, kind: str, namespace: str, name: str) -> Obj | None:
        rs = self.resources.for_kind(group, kind)
        if rs is None or not name:
            return None
        try:
            cached = await rs.get(namespace or None, name)
        except errors.StatusError as exc:
            if exc.code == 404:
                return None
            raise
        return cached.obj

    # ---- verifying ---------------------------------------------------------------------
    async def verify(self, token: str, audiences: list[str] | None = None
                     ) -> UserInfo | None:
        """The ServiceAccount a token stands for, or None if it is not (or no longer) a
        valid token of this cluster for one of ``audiences``."""
        wanted = audiences or self.api_audiences
        claims = self._verified_claims(token, wanted)
        if claims is None:
            return None
        if claims.get("iss") == LEGACY_ISSUER:
            # Legacy tokens carry no audience: they are meant for this API server only.
            if self.legacy is None or not set(wanted) & set(self.api_audiences):
                return None
            return self.legacy.user(token, claims)
        private = claims.get("kubernetes.io")
        if not isinstance(private, dict):
            return None
        namespace = private.get("namespace")
        sa = private.get("serviceaccount") or {}
        if not isinstance(namespace, str) or not isinstance(sa, dict):
            return None
        uid = self._cached_uid("", "ServiceAccount", namespace, str(sa.get("name", "")))
        if uid is None or uid != sa.get("uid"):
            return None  # the ServiceAccount was deleted (or re-created): token revoked
        for kind in ("pod", "secret", "node"):
            bound = private.get(kind)
            if isinstance(bound, dict):
                group, kind_name = _BINDABLE[kind.capitalize()]
                bound_uid = self._cached_uid(group, kind_name,
                                             "" if kind == "node" else namespace,
                                             str(bound.get("name", "")))
                if bound_uid is None or bound_uid != bound.get("uid"):
                    return None
        extra = {"authentication.kubernetes.io/credential-id": [f"JTI={claims.get('jti')}"]}
        if isinstance(private.get("pod"), dict):
            extra["authentication.kubernetes.io/pod-name"] = [private["pod"]["name"]]
            extra["authentication.kubernetes.io/pod-uid"] = [private["pod"]["uid"]]
        return service_account_user(namespace, str(sa.get("name")), str(sa.get("uid", "")),
                                    extra)

    def _verified_claims(self, token: str, audiences: list[str]) -> dict[str, Any] | None:
        """The claims of a token signed with this cluster's key by a known issuer (the
        bound-token issuer, or the legacy one when enabled), cached briefly."""
        now = time.time()
        key = token + "\x00" + "\x00".join(audiences)
        hit = self._claims.get(key)
        if hit is not None:
            if hit[0] > now and hit[1].get("exp", now + 1) > now:
                return hit[1]
            del self._claims[key]
        try:
            # Route by the (not yet trusted) issuer so a token costs one signature check.
            issuer = jwt.decode(token, options={"verify_signature": False}).get("iss")
            if issuer == self.issuer:
                claims: dict[str, Any] = jwt.decode(
                    token, self.key.public_key(), algorithms=["ES256"], audience=audiences,
                    issuer=self.issuer, options={"require": ["exp", "iat", "sub", "aud"]})
            elif issuer == LEGACY_ISSUER and self.legacy is not None:
                claims = jwt.decode(token, self.key.public_key(), algorithms=["ES256"],
                                    issuer=LEGACY_ISSUER, options={"require": ["sub"]})
            else:
                return None
        except jwt.PyJWTError:
            return None
        if len(self._claims) >= CLAIMS_CACHE_SIZE:
            self._claims.clear()  # bounded; a burst of new tokens just re-verifies
        self._claims[key] = (now + CLAIMS_TTL, claims)
        return claims


class BearerTokenAuthenticator:
    """``Authorization: Bearer <ServiceAccount token>``."""

    def __init__(self, tokens: TokenService) -> None:
        self.tokens = tokens

    async def authenticate(self, request: web.Request) -> UserInfo | None:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        return await self.tokens.verify(token.strip())


def _rfc3339(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
