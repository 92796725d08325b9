"""Static and bootstrap bearer tokens.

* A static token file (``--token-auth-file``), upstream's CSV format: ``token,user,uid``
  and optionally ``"group1,group2"`` as a fourth column. Read once at start-up; the file
  must not be readable by others (it holds credentials).
* Bootstrap tokens (``<id>.<secret>``, 6 + 16 characters of [a-z0-9]) backed by Secrets of
  type ``bootstrap.kubernetes.io/token`` named ``bootstrap-token-<id>`` in kube-system, as
  kubeadm-joined nodes use them: valid while the Secret says
  ``usage-bootstrap-authentication: "true"`` and its ``expiration`` has not passed; the
  user is ``system:bootstrap:<id>`` in ``system:bootstrappers`` plus the Secret's
  ``auth-extra-groups``.
"""

from __future__ import annotations

import base64
import csv
import hmac
import io
import re
import stat
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web

from kubesmith.api.resources import Resources
from kubesmith.apiserver.authn import AUTHENTICATED, UserInfo

_BOOTSTRAP = re.compile(r"([a-z0-9]{6})\.([a-z0-9]{16})")
_EXTRA_GROUP = re.compile(r"system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]")


def _bearer(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


class StaticTokenAuthenticator:
    """Tokens from a CSV file (``--token-auth-file``)."""

    def __init__(self, users: dict[str, UserInfo]) -> None:
        self.users = users

    @classmethod
    def from_file(cls, path: Path) -> StaticTokenAuthenticator:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise ValueError(f"{path}: a token file must not be readable by others (mode "
                             f"{oct(mode)}); run chmod 600 {path}")
        users: dict[str, UserInfo] = {}
        for lineno, row in enumerate(csv.reader(io.StringIO(path.read_text())), 1):
            if not row or row[0].startswith("#"):
                continue
            if len(row) < 3 or not row[0] or not row[1]:
                raise ValueError(f"{path}:{lineno}: expected token,user,uid[,\"groups\"]")
            groups = tuple(g.strip() for g in row[3].split(",") if g.strip()) \
                if len(row) > 3 else ()
            if row[0] in users:
                raise ValueError(f"{path}:{lineno}: duplicate token")
            users[row[0]] = UserInfo(row[1], row[2], (*groups, AUTHENTICATED))
        return cls(users)

    async def authenticate(self, request: web.Request) -> UserInfo | None:
        token = _bearer(request)
        if token is None:
            return None
        # Compare against every entry in constant time per entry: no timing oracle on
        # how much of a token matched.
        for known, user in self.users.items():
            if hmac.compare_digest(known.encode(), token.encode()):
                return user
        return None


class BootstrapTokenAuthenticator:
    """``<id>.<secret>`` tokens backed by kube-system Secrets."""

    def __init__(self, resources: Resources) -> None:
        self.resources = resources

    async def authenticate(self, request: web.Request) -> UserInfo | None:
        token = _bearer(request)
        if token is None:
            return None
        match = _BOOTSTRAP.fullmatch(token)
        if match is None:
            return None
        token_id, token_secret = match.groups()
        secrets = self.resources.for_kind("", "Secret")
        if secrets is None:
            return None
        cached = secrets.cache.get(secrets.key("kube-system", f"bootstrap-token-{token_id}"))
        if cached is None:
            return None
        secret = cached.obj
        if secret.get("type") != "bootstrap.kubernetes.io/token" or \
                secret.get("metadata", {}).get("deletionTimestamp"):
            return None
        data = {k: _b64(v) for k, v in (secret.get("data") or {}).items()}
        if data.get("token-id") != token_id or not hmac.compare_digest(
                (data.get("token-secret") or "").encode(), token_secret.encode()):
            return None
        if data.get("usage-bootstrap-authentication") != "true":
            return None
        expiration = data.get("expiration")
        if expiration:
            try:
                expires = datetime.fromisoformat(expiration.replace("Z", "+00:00"))
            except ValueError:
                return None
            if expires <= datetime.now(UTC):
                return None
        groups = ["system:bootstrappers"]
        for group in (data.get("auth-extra-groups") or "").split(","):
            group = group.strip()
            if group and _EXTRA_GROUP.fullmatch(group):
                groups.append(group)
        return UserInfo(f"system:bootstrap:{token_id}", "", (*groups, AUTHENTICATED))


def _b64(value: object) -> str:
    try:
        return base64.b64decode(str(value)).decode()
    except (ValueError, UnicodeDecodeError):
        return ""
