"""Privilege-escalation prevention for writes to RBAC objects (upstream's policy-based
storage for roles and bindings).

* Roles and ClusterRoles: a user may write rules only if they already hold every one of
  them (:func:`check_escalation`, upstream's ``ConfirmNoEscalation``), unless they are in
  ``system:masters`` or may ``escalate`` the role resource. Setting or changing an
  ``aggregationRule`` needs cluster-admin powers, since it can gather any rule.
* RoleBindings and ClusterRoleBindings: allowed when the user may ``bind`` the referenced
  role, or already holds all of its rules.

Writes that only change ownerReferences or finalizers (the garbage collector's) are let
through.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kubesmith.api import errors
from kubesmith.api.errors import StatusError
from kubesmith.api.types import Obj
from kubesmith.apiserver.authn import UserInfo
from kubesmith.apiserver.authz import MASTERS, Attributes, Authorizer, Decision
from kubesmith.apiserver.rbac.authorizer import RBAC_GROUP, RBACAuthorizer, aggregate_errors
from kubesmith.apiserver.rbac.rules import PolicyRule, compact, covers, go_quote_list, parse_rules

FULL_AUTHORITY = (PolicyRule(("*",), ("*",), ("*",)),
                  PolicyRule(("*",), non_resource_urls=("*",)))
ROLE_RESOURCES = {"roles": "Role", "clusterroles": "ClusterRole"}
BINDING_RESOURCES = {"rolebindings": "RoleBinding", "clusterrolebindings": "ClusterRoleBinding"}


def escalation_message(user: UserInfo, rules: Iterable[PolicyRule], namespace: str,
                       authorizer: RBACAuthorizer) -> str | None:
    """None when ``user`` holds every rule of ``rules`` in ``namespace``; otherwise
    upstream's explanation listing the missing rules."""
    owned, resolution_errors = authorizer.resolve(user, namespace)
    ok, missing = covers(owned, rules)
    if ok:
        return None
    lines = sorted({r.compact_string() for r in compact(missing)})
    msg = (f'user "{user.name}" (groups={go_quote_list(user.groups)}) is attempting to '
           "grant RBAC permissions not currently held:\n" + "\n".join(lines))
    if resolution_errors:
        # Go prints the []error slice with %v: its messages space-separated in brackets.
        msg += f"; resolution errors: [{aggregate_errors(resolution_errors)}]"
    return msg


def check_escalation(user: UserInfo, rules: Iterable[PolicyRule], namespace: str,
                     authorizer: RBACAuthorizer, *, resource: str = "roles",
                     name: str = "") -> StatusError | None:
    """Upstream's ``ConfirmNoEscalation``: a 403 Forbidden on ``resource`` ``name`` when
    ``user`` lacks any of ``rules`` in ``namespace`` (``""``: cluster-wide), else None."""
    msg = escalation_message(user, rules, namespace, authorizer)
    if msg is None:
        return None
    return errors.forbidden_operation(resource, name, msg, RBAC_GROUP)


def escalation_allowed(user: UserInfo) -> bool:
    """``system:masters`` may write any RBAC object (the server's loopback user is one)."""
    return MASTERS in user.groups


async def _allowed(authorizer: Authorizer, attrs: Attributes) -> bool:
    decision, _ = await authorizer.authorize(attrs)
    return decision is Decision.ALLOW


def only_gc_fields_changed(new: Obj, old: Obj) -> bool:
    """True when ``new`` differs from ``old`` at most in ownerReferences and finalizers
    (and server-managed bookkeeping)."""
    def strip(obj: Obj) -> dict[str, Any]:
        meta = {k: v for k, v in (obj.get("metadata") or {}).items()
                if k not in ("ownerReferences", "finalizers", "resourceVersion",
                             "managedFields", "selfLink")}
        return {**{k: v for k, v in obj.items() if k != "metadata"}, "metadata": meta}
    return strip(new) == strip(old)


class EscalationGuard:
    """Checks a create or update of a Role, ClusterRole, RoleBinding or ClusterRoleBinding.

    ``rbac`` resolves what the user holds; ``authorizer`` (the server's whole chain) answers
    the ``escalate`` and ``bind`` checks, as upstream asks its full authorizer.
    """

    def __init__(self, rbac: RBACAuthorizer, authorizer: Authorizer) -> None:
        self.rbac = rbac
        self.authorizer = authorizer

    async def check(self, user: UserInfo, resource: str, namespace: str, new: Obj,
                    old: Obj | None, *, request_name: str = "") -> None:
        """Raise 403 when the write would grant ``user`` more than they hold.

        ``resource`` is the plural (``roles``, ``clusterroles``, ``rolebindings``,
        ``clusterrolebindings``), ``namespace`` the request's (``""`` for cluster scope),
        ``request_name`` the name in the URL (empty for a create).
        """
        if resource in ROLE_RESOURCES:
            await self._check_role(user, resource, namespace, new, old, request_name)
        elif resource in BINDING_RESOURCES:
            await self._check_binding(user, resource, namespace, new, old)

    async def _check_role(self, user: UserInfo, resource: str, namespace: str, new: Obj,
                          old: Obj | None, request_name: str) -> None:
        if escalation_allowed(user):
            return
        attrs = Attributes(user, "escalate", True, group=RBAC_GROUP, version="*",
                           resource=resource, namespace=namespace, name=request_name)
        if await _allowed(self.authorizer, attrs):
            return
        if old is not None and only_gc_fields_changed(new, old):
            return
        name = str((new.get("metadata") or {}).get("name") or "")
        err = check_escalation(user, parse_rules(new.get("rules")), namespace, self.rbac,
                               resource=resource, name=name)
        if err is not None:
            raise err
        aggregated = new.get("aggregationRule") is not None or \
            (old is not None and old.get("aggregationRule") is not None)
        if resource == "clusterroles" and aggregated and \
                escalation_message(user, FULL_AUTHORITY, namespace, self.rbac) is not None:
            raise errors.forbidden_operation(
                    resource, name, "must have cluster-admin privileges to use the "
                    "aggregationRule", RBAC_GROUP)

    async def _check_binding(self, user: UserInfo, resource: str, namespace: str, new: Obj,
                             old: Obj | None) -> None:
        if escalation_allowed(user):
            return
        if old is not None and only_gc_fields_changed(new, old):
            return
        ref = new.get("roleRef") if isinstance(new.get("roleRef"), dict) else {}
        assert isinstance(ref, dict)
        kind, role_name = str(ref.get("kind") or ""), str(ref.get("name") or "")
        if kind in ("Role", "ClusterRole"):
            attrs = Attributes(user, "bind", True, group=str(ref.get("apiGroup") or ""),
                               resource="roles" if kind == "Role" else "clusterroles",
                               namespace=namespace, name=role_name)
            if await _allowed(self.authorizer, attrs):
                return
        rules, error = self.rbac.role_rules(kind, role_name, namespace)
        if error:
            if kind in ("Role", "ClusterRole"):
                # upstream reports the registry's NotFound for the referenced role
                raise errors.not_found("roles" if kind == "Role" else "clusterroles",
                                       role_name, RBAC_GROUP)
            raise errors.StatusError(500, "InternalError", error)
        name = str((new.get("metadata") or {}).get("name") or "")
        err = check_escalation(user, rules, namespace, self.rbac, resource=resource, name=name)
        if err is not None:
            raise err
