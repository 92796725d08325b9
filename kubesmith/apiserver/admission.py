"""Admission: mutating then validating plugins, run on every write after authorization.

Plugins see the operation, the resource, the new and old objects and the user. A plugin
refuses by raising :class:`~kubesmith.api.errors.StatusError`. The chain is built by the
server; the authentication-and-RBAC work adds ServiceAccount, NodeRestriction,
LimitRanger, ResourceQuota and PodSecurity here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from kubesmith.api import errors
from kubesmith.api.resource_types import ResourceType
from kubesmith.api.resources import Resources
from kubesmith.api.types import Obj
from kubesmith.apiserver.authn import UserInfo
from kubesmith.apiserver.rbac import EscalationGuard

# Namespaces that always exist and may never be deleted.
IMMORTAL_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


@dataclass(frozen=True, slots=True)
class AdmissionRequest:
    operation: str  # CREATE, UPDATE, DELETE, CONNECT
    rt: ResourceType
    namespace: str
    name: str
    subresource: str
    user: UserInfo
    dry_run: bool
    # Warnings for the client (the request's Warning headers), e.g. from PodSecurity.
    warnings: list[str] | None = field(default=None, compare=False)


class AdmissionPlugin(Protocol):
    name: str

    async def admit(self, req: AdmissionRequest, obj: Obj | None, old: Obj | None) -> None:
        """Mutate ``obj`` in place, or refuse."""
        ...

    async def validate(self, req: AdmissionRequest, obj: Obj | None, old: Obj | None) -> None:
        """Refuse or allow; never mutate."""
        ...


class NamespaceLifecycle:
    """New content only in namespaces that exist and are not terminating; the immortal
    namespaces cannot be deleted."""

    name = "NamespaceLifecycle"

    def __init__(self, resources: Resources) -> None:
        self.resources = resources

    async def admit(self, req: AdmissionRequest, obj: Obj | None, old: Obj | None) -> None:
        return None

    async def validate(self, req: AdmissionRequest, obj: Obj | None, old: Obj | None) -> None:
        if req.rt.group == "" and req.rt.plural == "namespaces":
            if req.operation == "DELETE" and req.name in IMMORTAL_NAMESPACES:
                raise errors.forbidden_operation(
                    "namespaces", req.name, "this namespace may not be deleted")
            return
        if not req.rt.namespaced or req.operation != "CREATE" or not req.namespace:
            return
        # Reviews and bindings create nothing durable in the namespace itself.
        if req.rt.virtual and req.rt.plural != "localsubjectaccessreviews":
            return
        ns_store = self.resources.for_kind("", "Namespace")
        if ns_store is None:
            return
        cached = ns_store.cache.get(ns_store.key(None, req.namespace))
        if cached is None:
            # The cache may be a moment behind a namespace created just now.
            await ns_store.cache.wait_consistent()
            cached = ns_store.cache.get(ns_store.key(None, req.namespace))
        if cached is None:
            raise errors.not_found("namespaces", req.namespace)
        if cached.obj.get("status", {}).get("phase") == "Terminating":
            raise errors.forbidden_operation(
                req.rt.plural, obj.get("metadata", {}).get("name", "") if obj else "",
                f"unable to create new content in namespace {req.namespace} because it is "
                "being terminated", req.rt.group)


class RBACEscalation:
    """Writes to Roles, ClusterRoles and their bindings may not grant more than the writer
    holds (upstream's escalation check in the RBAC registries)."""

    name = "RBACEscalation"

    def __init__(self, guard: EscalationGuard) -> None:
        self.guard = guard

    async def admit(self, req: AdmissionRequest, obj: Obj | None, old: Obj | None) -> None:
        return None

    async def validate(self, req: AdmissionRequest, obj: Obj | None, old: Obj | None) -> None:
        if req.rt.group != "rbac.authorization.k8s.io" or obj is None or \
                req.operation not in ("CREATE", "UPDATE"):
            return
        await self.guard.check(req.user, req.rt.plural, req.namespace, obj, old,
                               request_name=req.name if req.operation == "UPDATE" else "")


class AdmissionChain:
    def __init__(self, plugins: Sequence[AdmissionPlugin]) -> None:
        self.plugins = list(plugins)

    async def admit(self, req: AdmissionRequest, obj: Obj | None, old: Obj | None) -> None:
        for p in self.plugins:
            await p.admit(req, obj, old)

    async def validate(self, req: AdmissionRequest, obj: Obj | None, old: Obj | None) -> None:
        for p in self.plugins:
            await p.validate(req, obj, old)
