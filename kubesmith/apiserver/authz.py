"""Authorization: may this user do this verb on this resource or path.

Authorizers run in order and the first ALLOW or DENY decides; when all have no opinion the
request is forbidden. ``system:masters`` is allowed everything, as upstream's
privileged-group authorizer does. RBAC and the Node authorizer slot in after it.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from kubesmith.apiserver.authn import UserInfo

MASTERS = "system:masters"


class Decision(enum.Enum):
    ALLOW = "allow"
    DENY = "deny"
    NO_OPINION = "no-opinion"


@dataclass(frozen=True, slots=True)
class Attributes:
    user: UserInfo
    verb: str
    is_resource: bool
    path: str = ""
    group: str = ""
    version: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""


class Authorizer(Protocol):
    async def authorize(self, attrs: Attributes) -> tuple[Decision, str]:
        """A decision and, for DENY/NO_OPINION, the reason shown to the user."""
        ...


class PrivilegedGroupAuthorizer:
    """Allows members of ``system:masters`` everything."""

    async def authorize(self, attrs: Attributes) -> tuple[Decision, str]:
        if MASTERS in attrs.user.groups:
            return Decision.ALLOW, ""
        return Decision.NO_OPINION, ""


class PublicInfoAuthorizer:
    """Allows every authenticated user what upstream's system:public-info-viewer and
    system:discovery roles allow: health, version and discovery paths."""

    PATHS = ("/healthz", "/livez", "/readyz", "/version", "/api", "/apis", "/openapi")

    async def authorize(self, attrs: Attributes) -> tuple[Decision, str]:
        if not attrs.is_resource and attrs.verb == "get":
            path = attrs.path.rstrip("/") or "/"
            for p in self.PATHS:
                if path == p or path.startswith(p + "/"):
                    return Decision.ALLOW, ""
        return Decision.NO_OPINION, ""


class BasicUserAuthorizer:
    """What upstream's ``system:basic-user`` role gives every authenticated user: asking who
    they are and what they may do (SelfSubjectReview, SelfSubject*Reviews)."""

    ALLOWED = {("authentication.k8s.io", "selfsubjectreviews"),
               ("authorization.k8s.io", "selfsubjectaccessreviews"),
               ("authorization.k8s.io", "selfsubjectrulesreviews")}

    async def authorize(self, attrs: Attributes) -> tuple[Decision, str]:
        if attrs.is_resource and attrs.verb == "create" and \
                (attrs.group, attrs.resource) in self.ALLOWED:
            return Decision.ALLOW, ""
        return Decision.NO_OPINION, ""


class AuthorizerChain:
    def __init__(self, authorizers: Sequence[Authorizer]) -> None:
        self.authorizers = list(authorizers)

    async def authorize(self, attrs: Attributes) -> tuple[Decision, str]:
        reasons: list[str] = []
        for a in self.authorizers:
            decision, reason = await a.authorize(attrs)
            if decision is not Decision.NO_OPINION:
                return decision, reason
            if reason:
                reasons.append(reason)
        return Decision.DENY, "; ".join(reasons)
