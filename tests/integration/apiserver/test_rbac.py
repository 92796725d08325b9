"""RBAC through real kubectl: the bootstrap roles (aggregated admin/edit/view), namespaced
Roles for ServiceAccounts, SelfSubjectRulesReview, and escalation refused."""

from __future__ import annotations

import json
from typing import Any

import pytest

pytestmark = pytest.mark.integration


def _as(server: Any, token: str, *args: str) -> Any:
    return server.kubectl_as(*args, token=token)


def _sa_token(server: Any, namespace: str, name: str) -> str:
    server.kubectl("create", "serviceaccount", name, "-n", namespace)
    return str(server.kubectl("create", "token", name, "-n", namespace).stdout.strip())


def _can(server: Any, token: str, *args: str) -> str:
    return str(_as(server, token, "auth", "can-i", *args).stdout.strip())


@pytest.fixture(scope="module")
def team(api_server: Any) -> str:
    api_server.kubectl("create", "namespace", "team")
    return "team"


@pytest.mark.parametrize(("role", "expected"), [
    ("view", {("get", "pods"): "yes", ("create", "pods"): "no",
              ("get", "secrets"): "no", ("create", "roles"): "no"}),
    ("edit", {("get", "pods"): "yes", ("create", "deployments.apps"): "yes",
              ("get", "secrets"): "yes", ("create", "roles"): "no"}),
    ("admin", {("create", "deployments.apps"): "yes", ("create", "roles"): "yes",
               ("create", "rolebindings"): "yes", ("delete", "namespaces"): "no"}),
], ids=["view", "edit", "admin"])
def test_aggregated_default_roles(api_server: Any, team: str, role: str,
                                  expected: dict[tuple[str, str], str]) -> None:
    token = _sa_token(api_server, team, f"sa-{role}")
    api_server.kubectl("create", "rolebinding", f"rb-{role}", "-n", team,
                       f"--clusterrole={role}", f"--serviceaccount={team}:sa-{role}")
    for (verb, resource), answer in expected.items():
        assert _can(api_server, token, verb, resource, "-n", team) == answer, (verb, resource)
        # A RoleBinding grants nothing outside its namespace.
        assert _can(api_server, token, verb, resource, "-n", "default") == "no"


def test_namespaced_role_with_resource_names(api_server: Any, team: str) -> None:
    token = _sa_token(api_server, team, "reader")
    api_server.kubectl("create", "role", "one-cm", "-n", team, "--verb=get",
                       "--resource=configmaps", "--resource-name=allowed")
    api_server.kubectl("create", "rolebinding", "one-cm", "-n", team, "--role=one-cm",
                       f"--serviceaccount={team}:reader")
    assert _can(api_server, token, "get", "configmaps/allowed", "-n", team) == "yes"
    assert _can(api_server, token, "get", "configmaps/other", "-n", team) == "no"
    assert _can(api_server, token, "list", "configmaps", "-n", team) == "no"
    denied = _as(api_server, token, "get", "configmaps", "-n", team)
    assert denied.returncode == 1
    assert (f'configmaps is forbidden: User "system:serviceaccount:{team}:reader" cannot '
            f'list resource "configmaps" in API group "" in the namespace "{team}"'
            in denied.stderr)
    rules = _as(api_server, token, "auth", "can-i", "--list", "-n", team)
    assert rules.returncode == 0
    assert "configmaps" in rules.stdout and "[allowed]" in rules.stdout


def test_escalation_is_refused(api_server: Any, team: str) -> None:
    token = _sa_token(api_server, team, "team-admin")
    api_server.kubectl("create", "rolebinding", "team-admin", "-n", team,
                       "--clusterrole=admin", f"--serviceaccount={team}:team-admin")
    # Granting what it holds is fine...
    ok = _as(api_server, token, "create", "role", "pod-reader", "-n", team, "--verb=get",
             "--resource=pods")
    assert ok.returncode == 0, ok.stderr
    # ...granting what it does not hold is not.
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": "too-much", "namespace": team},
            "rules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["delete"]}]}
    refused = api_server.kubectl_as("create", "-f", "-", token=token,
                                    input=json.dumps(role))
    assert refused.returncode == 1
    assert "is attempting to grant RBAC permissions not currently held" in refused.stderr
    # Binding cluster-admin is refused too (no bind permission, rules not held).
    bind = _as(api_server, token, "create", "rolebinding", "grab", "-n", team,
               "--clusterrole=cluster-admin", f"--serviceaccount={team}:team-admin")
    assert bind.returncode == 1 and "forbidden" in bind.stderr.lower()


def test_default_bindings_allow_discovery_for_everyone(api_server: Any, team: str) -> None:
    token = _sa_token(api_server, team, "nobody")
    assert _as(api_server, token, "api-versions").returncode == 0
    assert _as(api_server, token, "version", "-o", "json").returncode == 0
    assert _can(api_server, token, "get", "pods", "-n", team) == "no"


@pytest.mark.parametrize(("stem", "user", "allowed", "denied"), [
    ("controller-manager", "system:kube-controller-manager",
     ("list", "secrets", "-A"), ("create", "clusterroles")),
    ("scheduler", "system:kube-scheduler",
     ("create", "pods", "--subresource=binding", "-n", "default"), ("delete", "nodes")),
], ids=["controller-manager", "scheduler"])
def test_component_identities(api_server: Any, stem: str, user: str,
                              allowed: tuple[str, ...], denied: tuple[str, ...]) -> None:
    kubeconfig = api_server.data_dir / f"{stem}.kubeconfig"
    assert (kubeconfig.stat().st_mode & 0o777) == 0o600
    whoami = api_server.kubectl("--kubeconfig", str(kubeconfig), "auth", "whoami", "-o",
                                "json")
    info = json.loads(whoami.stdout)["status"]["userInfo"]
    assert info["username"] == user
    assert "system:masters" not in info["groups"]
    can = api_server.kubectl("--kubeconfig", str(kubeconfig), "auth", "can-i", *allowed,
                             check=False)
    assert can.stdout.strip() == "yes"
    cannot = api_server.kubectl("--kubeconfig", str(kubeconfig), "auth", "can-i", *denied,
                                check=False)
    assert cannot.stdout.strip().startswith("no")
