"""Escalation checks, the bootstrap policy's reconciliation and aggregation."""

from __future__ import annotations

from typing import Any

import pytest

from kubesmith.api.errors import StatusError
from kubesmith.api.resources import Resources
from kubesmith.apiserver.authn import AUTHENTICATED, UserInfo
from kubesmith.apiserver.authz import AuthorizerChain
from kubesmith.apiserver.rbac.aggregation import aggregate, reconcile_aggregation
from kubesmith.apiserver.rbac.authorizer import RBACAuthorizer
from kubesmith.apiserver.rbac.bootstrap import (
    AUTOUPDATE,
    cluster_role_bindings,
    cluster_roles,
    reconcile,
)
from kubesmith.apiserver.rbac.escalation import EscalationGuard
from kubesmith.apiserver.rbac.rules import PolicyRule

from .conftest import RBAC, create_binding, create_role, settle, store, subject


def role(name: str, rules: list[dict[str, Any]], kind: str = "Role") -> dict[str, Any]:
    return {"apiVersion": f"{RBAC}/v1", "kind": kind, "metadata": {"name": name},
            "rules": rules}


async def test_escalation_refused_and_allowed(resources: Resources) -> None:
    await reconcile(resources)
    await settle(resources)
    await reconcile_aggregation(resources)
    await create_binding(resources, "hank-admin", "ClusterRole", "admin",
                         [subject("User", "hank")], "team")
    await settle(resources)
    rbac = RBACAuthorizer(resources)
    guard = EscalationGuard(rbac, AuthorizerChain([rbac]))
    hank = UserInfo("hank", groups=(AUTHENTICATED,))
    held = role("pod-reader", [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}])
    await guard.check(hank, "roles", "team", held, None)
    wanted = role("node-admin", [
        {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "delete"]},
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}])
    with pytest.raises(StatusError) as exc:
        await guard.check(hank, "roles", "team", wanted, None)
    assert exc.value.code == 403
    assert exc.value.message == (
        'roles.rbac.authorization.k8s.io "node-admin" is forbidden: user "hank" '
        '(groups=["system:authenticated"]) is attempting to grant RBAC permissions not '
        'currently held:\n{APIGroups:[""], Resources:["nodes"], Verbs:["get" "delete"]}')
    # outside the namespace hank holds nothing
    with pytest.raises(StatusError):
        await guard.check(hank, "roles", "other", held, None)
    # masters bypass every check
    await guard.check(UserInfo("root", groups=("system:masters",)), "roles", "team", wanted,
                      None)
    # the escalate verb on roles lifts the check
    await create_role(resources, "escalator", [
        {"apiGroups": [RBAC], "resources": ["roles"], "verbs": ["escalate"]}])
    await create_binding(resources, "hank-escalates", "ClusterRole", "escalator",
                         [subject("User", "hank")], "team")
    await settle(resources)
    await guard.check(hank, "roles", "team", wanted, None)


async def test_binding_needs_bind_or_the_rules(resources: Resources) -> None:
    await create_role(resources, "secrets", [
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}])
    await create_role(resources, "rolebindings", [
        {"apiGroups": [RBAC], "resources": ["rolebindings"], "verbs": ["create"]}])
    await create_binding(resources, "ivy", "ClusterRole", "rolebindings",
                         [subject("User", "ivy")], "team")
    await settle(resources)
    rbac = RBACAuthorizer(resources)
    guard = EscalationGuard(rbac, AuthorizerChain([rbac]))
    ivy = UserInfo("ivy")
    binding = {"apiVersion": f"{RBAC}/v1", "kind": "RoleBinding",
               "metadata": {"name": "share"},
               "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": "secrets"},
               "subjects": [subject("User", "jack")]}
    with pytest.raises(StatusError) as exc:
        await guard.check(ivy, "rolebindings", "team", binding, None)
    assert exc.value.message.startswith(
        'rolebindings.rbac.authorization.k8s.io "share" is forbidden: user "ivy" (groups=[])'
        ' is attempting to grant RBAC permissions not currently held:\n')
    await create_role(resources, "binder", [
        {"apiGroups": [RBAC], "resources": ["clusterroles"], "verbs": ["bind"],
         "resourceNames": ["secrets"]}])
    await create_binding(resources, "ivy-binds", "ClusterRole", "binder",
                         [subject("User", "ivy")], "team")
    await settle(resources)
    await guard.check(ivy, "rolebindings", "team", binding, None)
    missing = dict(binding, roleRef={"apiGroup": RBAC, "kind": "Role", "name": "absent"})
    with pytest.raises(StatusError) as exc:
        await guard.check(ivy, "rolebindings", "team", missing, None)
    assert exc.value.code == 404


async def test_aggregation_rule_needs_cluster_admin(resources: Resources) -> None:
    # everything but the escalate verb, which would lift every check
    await create_role(resources, "most", [
        {"apiGroups": ["*"], "resources": ["*"], "verbs": ["get", "create", "update"]}])
    await create_binding(resources, "kim", "ClusterRole", "most", [subject("User", "kim")])
    await settle(resources)
    rbac = RBACAuthorizer(resources)
    guard = EscalationGuard(rbac, AuthorizerChain([rbac]))
    aggregated = role("gather", [], "ClusterRole")
    aggregated["aggregationRule"] = {"clusterRoleSelectors": [{"matchLabels": {"x": "y"}}]}
    with pytest.raises(StatusError) as exc:
        await guard.check(UserInfo("kim"), "clusterroles", "", aggregated, None)
    assert exc.value.message == ('clusterroles.rbac.authorization.k8s.io "gather" is '
                                 "forbidden: must have cluster-admin privileges to use the "
                                 "aggregationRule")


def test_aggregate_chains_to_a_fixed_point() -> None:
    def cr(name: str, labels: dict[str, str], rules: list[PolicyRule],
           selector: dict[str, str] | None = None) -> dict[str, Any]:
        obj: dict[str, Any] = {"metadata": {"name": name, "labels": labels},
                               "rules": [r.to_json() for r in rules]}
        if selector is not None:
            obj["aggregationRule"] = {"clusterRoleSelectors": [{"matchLabels": selector}]}
        return obj

    get = PolicyRule(("get",), ("",), ("pods",))
    put = PolicyRule(("update",), ("",), ("pods",))
    roles = [cr("top", {}, [], {"to-top": "1"}),
             cr("mid", {"to-top": "1"}, [], {"to-mid": "1"}),
             cr("b-leaf", {"to-mid": "1"}, [put, get]),
             cr("a-leaf", {"to-mid": "1", "to-top": "1"}, [get])]
    assert aggregate(roles) == {"top": [get, put], "mid": [get, put]}


async def test_reconcile_creates_then_only_adds(resources: Resources) -> None:
    first = await reconcile(resources)
    assert len(first.created) == len(cluster_roles()) + len(cluster_role_bindings())
    await settle(resources)
    assert (await reconcile(resources)).created == []
    roles = store(resources, "ClusterRole")
    bindings = store(resources, "ClusterRoleBinding")

    def customise(obj: dict[str, Any] | None) -> dict[str, Any]:
        assert obj is not None
        obj["rules"] = [{"apiGroups": ["example.com"], "resources": ["widgets"],
                         "verbs": ["get"]}]  # user addition, bootstrap rules dropped
        obj["metadata"]["labels"]["mine"] = "yes"
        return obj

    await roles.update(None, "system:basic-user", customise)

    def protect(obj: dict[str, Any] | None) -> dict[str, Any]:
        assert obj is not None
        obj["metadata"]["annotations"][AUTOUPDATE] = "false"
        obj["rules"] = []
        return obj

    await roles.update(None, "system:monitoring", protect)

    def add_subject(obj: dict[str, Any] | None) -> dict[str, Any]:
        assert obj is not None
        obj["subjects"] = [subject("User", "extra")]
        return obj

    await bindings.update(None, "system:discovery", add_subject)
    await settle(resources)
    result = await reconcile(resources)
    assert sorted(result.updated) == ["system:basic-user", "system:discovery"]
    assert result.protected == ["system:monitoring"]
    await settle(resources)
    basic = (await roles.get(None, "system:basic-user")).obj
    assert basic["rules"][0]["resources"] == ["widgets"]
    # missing rules are added broken down to one verb and resource each, as upstream
    assert len(basic["rules"]) == 4 and basic["metadata"]["labels"]["mine"] == "yes"
    assert (await roles.get(None, "system:monitoring")).obj.get("rules") in (None, [])
    discovery = (await bindings.get(None, "system:discovery")).obj
    assert [s["name"] for s in discovery["subjects"]] == ["extra", "system:authenticated"]
    again = await reconcile(resources)
    assert (again.created, again.updated) == ([], [])
