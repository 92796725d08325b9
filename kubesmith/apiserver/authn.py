"""Authentication: who is asking. Authenticators run in order; the first that recognises
the request wins, and a request no authenticator recognises is refused with 401 (there is no
anonymous access)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiohttp import web

AUTHENTICATED = "system:authenticated"


@dataclass(frozen=True, slots=True)
class UserInfo:
    name: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: dict[str, list[str]] = field(default_factory=dict, hash=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"username": self.name, "groups": list(self.groups)}
        if self.uid:
            out["uid"] = self.uid
        if self.extra:
            out["extra"] = self.extra
        return out


def service_account_user(namespace: str, name: str, uid: str,
                         extra: dict[str, list[str]] | None = None) -> UserInfo:
    """The user a ServiceAccount's token authenticates as, whatever kind of token it is."""
    return UserInfo(f"system:serviceaccount:{namespace}:{name}", uid,
                    ("system:serviceaccounts", f"system:serviceaccounts:{namespace}",
                     AUTHENTICATED), extra or {})


class Authenticator(Protocol):
    async def authenticate(self, request: web.Request) -> UserInfo | None:
        """The user behind ``request``, or None if this method does not apply."""
        ...


class X509Authenticator:
    """Client certificates verified by the TLS layer against the cluster CA: the subject's
    CN is the user name and each O is a group."""

    async def authenticate(self, request: web.Request) -> UserInfo | None:
        transport = request.transport
        if transport is None:
            return None
        peercert = transport.get_extra_info("peercert")
        if not peercert:
            return None
        name = ""
        groups: list[str] = []
        for rdn in peercert.get("subject", ()):
            for attr, value in rdn:
                if attr == "commonName":
                    name = value
                elif attr == "organizationName":
                    groups.append(value)
        if not name:
            return None
        return UserInfo(name, groups=(*groups, AUTHENTICATED))


class AuthenticatorChain:
    def __init__(self, authenticators: Sequence[Authenticator]) -> None:
        self.authenticators = list(authenticators)

    async def authenticate(self, request: web.Request) -> UserInfo | None:
        for a in self.authenticators:
            user = await a.authenticate(request)
            if user is not None:
                return user
        return None
