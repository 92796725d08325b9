"""The RBAC authorizer over real watch caches (SQLite datastore)."""

from __future__ import annotations

import pytest

from kubesmith.api.resources import Resources
from kubesmith.apiserver.authn import AUTHENTICATED, UserInfo
from kubesmith.apiserver.authz import Attributes, Decision
from kubesmith.apiserver.rbac.aggregation import reconcile_aggregation
from kubesmith.apiserver.rbac.authorizer import RBACAuthorizer
from kubesmith.apiserver.rbac.bootstrap import reconcile

from .conftest import create_binding, create_role, settle, store, subject

pytestmark = pytest.mark.asyncio


def can(user: UserInfo, verb: str, resource: str, namespace: str = "", group: str = "",
        sub: str = "", name: str = "") -> Attributes:
    return Attributes(user, verb, True, group=group, resource=resource, subresource=sub,
                      namespace=namespace, name=name)


async def allowed(authz: RBACAuthorizer, attrs: Attributes) -> bool:
    decision, _ = await authz.authorize(attrs)
    assert decision in (Decision.ALLOW, Decision.NO_OPINION)
    return decision is Decision.ALLOW


async def test_admin_edit_view_through_aggregation(resources: Resources) -> None:
    await reconcile(resources)
    await settle(resources)
    assert set(await reconcile_aggregation(resources)) >= {"admin", "edit", "view"}
    users = {role: UserInfo(f"{role}-user", groups=(AUTHENTICATED,))
             for role in ("admin", "edit", "view")}
    for role, user in users.items():
        await create_binding(resources, f"{role}-binding", "ClusterRole", role,
                             [subject("User", user.name)], "team")
    await settle(resources)
    authz = RBACAuthorizer(resources)
    view, edit, admin = users["view"], users["edit"], users["admin"]
    assert await allowed(authz, can(view, "list", "pods", "team"))
    assert await allowed(authz, can(view, "get", "deployments", "team", "apps", "scale"))
    assert not await allowed(authz, can(view, "list", "pods", "other"))
    assert not await allowed(authz, can(view, "create", "pods", "team"))
    assert not await allowed(authz, can(view, "get", "secrets", "team"))
    assert await allowed(authz, can(edit, "get", "secrets", "team"))
    assert await allowed(authz, can(edit, "create", "deployments", "team", "apps"))
    assert await allowed(authz, can(edit, "create", "pods", "team", sub="exec"))
    assert not await allowed(authz, can(edit, "create", "roles", "team",
                                        "rbac.authorization.k8s.io"))
    assert await allowed(authz, can(admin, "create", "roles", "team",
                                    "rbac.authorization.k8s.io"))
    assert await allowed(authz, can(admin, "list", "pods", "team"))
    # no namespace: RoleBindings never apply
    assert not await allowed(authz, can(admin, "list", "pods"))
    # bootstrap bindings: discovery for every authenticated user, nothing else
    assert await allowed(authz, Attributes(view, "get", False, path="/apis/apps/v1"))
    assert not await allowed(authz, Attributes(view, "get", False, path="/metrics"))
    # a second run changes nothing
    assert await reconcile_aggregation(resources) == []
    authz.close()


async def test_service_account_with_namespaced_role(resources: Resources) -> None:
    await create_role(resources, "cm-reader", [
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}], "team")
    await create_binding(resources, "builder-reads", "Role", "cm-reader",
                         [subject("ServiceAccount", "builder")], "team")
    await settle(resources)
    authz = RBACAuthorizer(resources)
    builder = UserInfo("system:serviceaccount:team:builder",
                       groups=("system:serviceaccounts", "system:serviceaccounts:team"))
    stranger = UserInfo("system:serviceaccount:other:builder")
    assert await allowed(authz, can(builder, "list", "configmaps", "team"))
    assert not await allowed(authz, can(builder, "delete", "configmaps", "team"))
    assert not await allowed(authz, can(builder, "list", "configmaps", "other"))
    assert not await allowed(authz, can(stranger, "list", "configmaps", "team"))
    # a Role in another namespace with the same name grants nothing here
    await create_role(resources, "cm-reader", [
        {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}], "other")
    await settle(resources)
    assert not await allowed(authz, can(builder, "delete", "configmaps", "team"))


async def test_resource_names_subresources_and_urls(resources: Resources) -> None:
    await create_role(resources, "narrow", [
        {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["settings"],
         "verbs": ["get", "update", "list"]},
        {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
        {"apiGroups": ["*"], "resources": ["*/scale"], "verbs": ["update"]},
    ])
    await create_role(resources, "health", [
        {"nonResourceURLs": ["/healthz", "/healthz/*"], "verbs": ["get"]}])
    await create_binding(resources, "narrow", "ClusterRole", "narrow",
                         [subject("Group", "ops")], "team")
    await create_binding(resources, "health", "ClusterRole", "health",
                         [subject("Group", "ops")])
    await settle(resources)
    authz = RBACAuthorizer(resources)
    ops = UserInfo("carol", groups=("ops",))
    assert await allowed(authz, can(ops, "get", "configmaps", "team", name="settings"))
    assert not await allowed(authz, can(ops, "get", "configmaps", "team", name="other"))
    assert not await allowed(authz, can(ops, "list", "configmaps", "team"))
    assert await allowed(authz, can(ops, "get", "pods", "team", sub="log", name="web"))
    assert not await allowed(authz, can(ops, "get", "pods", "team", name="web"))
    assert await allowed(authz, can(ops, "update", "deployments", "team", "apps", "scale"))
    assert not await allowed(authz, can(ops, "update", "deployments", "team", "apps"))
    assert await allowed(authz, Attributes(ops, "get", False, path="/healthz/etcd"))
    assert not await allowed(authz, Attributes(ops, "get", False, path="/livez"))
    assert not await allowed(authz, Attributes(UserInfo("dave"), "get", False,
                                               path="/healthz"))


async def test_cluster_scoped_resources_not_granted_by_role_bindings(
        resources: Resources) -> None:
    await create_role(resources, "node-reader", [
        {"apiGroups": [""], "resources": ["nodes", "pods"], "verbs": ["get"]}])
    await create_binding(resources, "nodes-in-team", "ClusterRole", "node-reader",
                         [subject("User", "erin")], "team")
    await settle(resources)
    authz = RBACAuthorizer(resources)
    erin = UserInfo("erin")
    assert not await allowed(authz, can(erin, "get", "nodes", name="n1"))
    assert await allowed(authz, can(erin, "get", "pods", "team", name="p"))
    await create_binding(resources, "nodes-everywhere", "ClusterRole", "node-reader",
                         [subject("User", "erin")])
    await settle(resources)
    assert await allowed(authz, can(erin, "get", "nodes", name="n1"))


async def test_follows_binding_and_role_changes(resources: Resources) -> None:
    authz = RBACAuthorizer(resources)
    frank = UserInfo("frank")
    attrs = can(frank, "get", "secrets", "team")
    assert not await allowed(authz, attrs)
    await create_role(resources, "reader", [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}], "team")
    await create_binding(resources, "frank", "Role", "reader", [subject("User", "frank")],
                         "team")
    await settle(resources)
    assert not await allowed(authz, attrs)

    def add_secrets(obj: dict[str, object] | None) -> dict[str, object]:
        assert obj is not None
        obj["rules"] = [{"apiGroups": [""], "resources": ["pods", "secrets"],
                         "verbs": ["get"]}]
        return obj

    await store(resources, "Role").update("team", "reader", add_secrets)
    await settle(resources)
    assert await allowed(authz, attrs)

    def drop_subjects(obj: dict[str, object] | None) -> dict[str, object]:
        assert obj is not None
        obj["subjects"] = [subject("User", "someone-else")]
        return obj

    await store(resources, "RoleBinding").update("team", "frank", drop_subjects)
    await settle(resources)
    assert not await allowed(authz, attrs)
    assert len(authz.bindings) == 1
    await store(resources, "RoleBinding").delete("team", "frank")
    await settle(resources)
    assert len(authz.bindings) == 0
    authz.close()


async def test_missing_role_reason_and_rules_for(resources: Resources) -> None:
    await create_binding(resources, "dangling", "ClusterRole", "nope",
                         [subject("User", "gina")])
    await create_binding(resources, "dangling-role", "Role", "gone",
                         [subject("User", "gina")], "team")
    await create_role(resources, "pods", [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]},
        {"nonResourceURLs": ["/version"], "verbs": ["get"]}])
    await create_binding(resources, "pods", "ClusterRole", "pods", [subject("User", "gina")])
    await settle(resources)
    authz = RBACAuthorizer(resources)
    gina = UserInfo("gina")
    decision, reason = await authz.authorize(can(gina, "list", "pods"))
    assert decision is Decision.NO_OPINION
    assert reason == 'RBAC: clusterrole.rbac.authorization.k8s.io "nope" not found'
    decision, reason = await authz.authorize(can(gina, "list", "pods", "team"))
    assert reason == ('RBAC: [clusterrole.rbac.authorization.k8s.io "nope" not found, '
                      'role.rbac.authorization.k8s.io "gone" not found]')
    decision, reason = await authz.authorize(can(UserInfo("nobody"), "list", "pods"))
    assert (decision, reason) == (Decision.NO_OPINION, "")
    assert await allowed(authz, can(gina, "get", "pods", "team"))
    resource_rules, url_rules, incomplete = authz.rules_for(gina, "team")
    assert [r.resources for r in resource_rules] == [("pods",)]
    assert [r.non_resource_urls for r in url_rules] == [("/version",)]
    assert incomplete


async def test_rebuilds_after_the_cache_watcher_is_closed(resources: Resources) -> None:
    authz = RBACAuthorizer(resources)
    lena = UserInfo("lena")
    attrs = can(lena, "get", "pods", "team")
    assert not await allowed(authz, attrs)
    await create_role(resources, "pods", [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}], "team")
    # the feed re-listing closes every watcher; events after it reach no sink
    store(resources, "RoleBinding").cache.close_watchers()
    await create_binding(resources, "lena", "Role", "pods", [subject("User", "lena")],
                         "team")
    await settle(resources)
    assert await allowed(authz, attrs)
