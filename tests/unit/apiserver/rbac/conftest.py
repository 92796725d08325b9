"""Resources over a temporary SQLite datastore, and helpers to write RBAC objects."""

from __future__ import annotations

from typing import Any

from kubesmith.api.resources import Resources
from kubesmith.api.store import ResourceStore

RBAC = "rbac.authorization.k8s.io"


def store(res: Resources, kind: str) -> ResourceStore:
    rs = res.for_kind(RBAC, kind)
    assert rs is not None
    return rs


def subject(kind: str, name: str, namespace: str = "") -> dict[str, Any]:
    s: dict[str, Any] = {"kind": kind, "name": name}
    if kind == "ServiceAccount":
        if namespace:
            s["namespace"] = namespace
    else:
        s["apiGroup"] = RBAC
    return s


async def create_role(res: Resources, name: str, rules: list[dict[str, Any]],
                      namespace: str | None = None, **extra: Any) -> None:
    kind = "Role" if namespace else "ClusterRole"
    obj = {"apiVersion": f"{RBAC}/v1", "kind": kind, "metadata": {"name": name},
           "rules": rules, **extra}
    await store(res, kind).create(namespace, obj)


async def create_binding(res: Resources, name: str, role_kind: str, role: str,
                         subjects: list[dict[str, Any]], namespace: str | None = None) -> None:
    kind = "RoleBinding" if namespace else "ClusterRoleBinding"
    obj = {"apiVersion": f"{RBAC}/v1", "kind": kind, "metadata": {"name": name},
           "roleRef": {"apiGroup": RBAC, "kind": role_kind, "name": role},
           "subjects": subjects}
    await store(res, kind).create(namespace, obj)


async def settle(res: Resources) -> None:
    """Wait until the watch caches hold every write made so far."""
    await store(res, "ClusterRole").cache.wait_consistent()
