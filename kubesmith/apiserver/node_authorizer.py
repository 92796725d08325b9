"""The Node authorizer and NodeRestriction admission: a node's identity
(``system:node:<name>`` in ``system:nodes``) reaches what its kubelet needs, and only for
itself.

Authorization (upstream's node authorizer, without its graph cache): a node may

* read the Secrets, ConfigMaps, PersistentVolumeClaims and ServiceAccounts used by pods
  bound to it (volumes, projected sources, env and envFrom, image pull secrets, the pod's
  ServiceAccount) and the PersistentVolumes those claims are bound to, and request tokens
  for those ServiceAccounts;
* do what every kubelet does (upstream's node rules): read nodes, services, endpoints and
  pods; create and delete pods (mirror pods); update pod status; evict pods; write events;
  manage its Lease; create CSRs and TokenReviews/SubjectAccessReviews.

Reads of referenced objects are computed from the watch cache on each request: pods bound
to the node come from the cache's field values (``spec.nodeName``), so the cost is a scan
of the pods cache — fine for lab and CI clusters; an index by node is the upgrade path.

NodeRestriction (admission) then limits the writes those rules allow to the node's own
objects: its Node, its Lease, pods bound to it (status, mirror pods, deletion, eviction).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from kubesmith.api import errors
from kubesmith.api.resources import Resources
from kubesmith.api.types import Obj
from kubesmith.apiserver.admission import AdmissionRequest
from kubesmith.apiserver.authn import UserInfo
from kubesmith.apiserver.authz import Attributes, Decision

NODES_GROUP = "system:nodes"
NODE_PREFIX = "system:node:"
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"

# (group, resource) → verbs every node may use (upstream's NodeRules, reduced to what a
# kubelet calls).
_NODE_RULES: dict[tuple[str, str], frozenset[str]] = {
    ("", "nodes"): frozenset({"get", "list", "watch", "create", "update", "patch",
                              "delete"}),
    ("", "nodes/status"): frozenset({"patch", "update"}),
    ("", "services"): frozenset({"get", "list", "watch"}),
    ("", "endpoints"): frozenset({"get", "list", "watch"}),
    ("discovery.k8s.io", "endpointslices"): frozenset({"get", "list", "watch"}),
    ("", "pods"): frozenset({"get", "list", "watch", "create", "delete"}),
    ("", "pods/status"): frozenset({"patch", "update"}),
    ("", "pods/eviction"): frozenset({"create"}),
    ("", "events"): frozenset({"create", "patch", "update"}),
    ("events.k8s.io", "events"): frozenset({"create", "patch", "update"}),
    ("coordination.k8s.io", "leases"): frozenset({"get", "create", "update", "patch",
                                                  "delete"}),
    ("certificates.k8s.io", "certificatesigningrequests"): frozenset({"create", "get",
                                                                      "list", "watch"}),
    ("authentication.k8s.io", "tokenreviews"): frozenset({"create"}),
    ("authorization.k8s.io", "subjectaccessreviews"): frozenset({"create"}),
    ("authorization.k8s.io", "localsubjectaccessreviews"): frozenset({"create"}),
    ("storage.k8s.io", "csidrivers"): frozenset({"get", "list", "watch"}),
    ("node.k8s.io", "runtimeclasses"): frozenset({"get", "list", "watch"}),
}
_REFERENCED = {("", "secrets"): "secrets", ("", "configmaps"): "configmaps",
               ("", "persistentvolumeclaims"): "pvcs", ("", "persistentvolumes"): "pvs",
               ("", "serviceaccounts"): "serviceaccounts"}


def node_name(user: UserInfo) -> str | None:
    """The node a user is (``system:node:<name>`` in ``system:nodes``), or None."""
    if NODES_GROUP in user.groups and user.name.startswith(NODE_PREFIX):
        return user.name[len(NODE_PREFIX):] or None
    return None


def _pod_references(pod: Obj) -> Iterator[tuple[str, str]]:
    """(kind, name) of every Secret, ConfigMap, PVC and ServiceAccount a pod uses."""
    spec = pod.get("spec") or {}
    yield "serviceaccounts", spec.get("serviceAccountName") or "default"
    for ref in spec.get("imagePullSecrets") or []:
        if isinstance(ref, dict) and ref.get("name"):
            yield "secrets", ref["name"]
    for vol in spec.get("volumes") or []:
        if not isinstance(vol, dict):
            continue
        if (vol.get("secret") or {}).get("secretName"):
            yield "secrets", vol["secret"]["secretName"]
        if (vol.get("configMap") or {}).get("name"):
            yield "configmaps", vol["configMap"]["name"]
        if (vol.get("persistentVolumeClaim") or {}).get("claimName"):
            yield "pvcs", vol["persistentVolumeClaim"]["claimName"]
        for source in (vol.get("projected") or {}).get("sources") or []:
            if (source.get("secret") or {}).get("name"):
                yield "secrets", source["secret"]["name"]
            if (source.get("configMap") or {}).get("name"):
                yield "configmaps", source["configMap"]["name"]
        for key in ("cephfs", "cinder", "flexVolume", "iscsi", "rbd", "scaleIO",
                    "storageos", "azureFile", "csi"):
            ref = vol.get(key) or {}
            name = (ref.get("secretRef") or ref.get("nodePublishSecretRef") or {}).get("name") \
                if isinstance(ref, dict) else None
            if name:
                yield "secrets", name
    containers: list[Any] = [*(spec.get("containers") or []),
                             *(spec.get("initContainers") or []),
                             *(spec.get("ephemeralContainers") or [])]
    for c in containers:
        if not isinstance(c, dict):
            continue
        for env_from in c.get("envFrom") or []:
            if (env_from.get("secretRef") or {}).get("name"):
                yield "secrets", env_from["secretRef"]["name"]
            if (env_from.get("configMapRef") or {}).get("name"):
                yield "configmaps", env_from["configMapRef"]["name"]
        for env in c.get("env") or []:
            source = (env or {}).get("valueFrom") or {}
            if (source.get("secretKeyRef") or {}).get("name"):
                yield "secrets", source["secretKeyRef"]["name"]
            if (source.get("configMapKeyRef") or {}).get("name"):
                yield "configmaps", source["configMapKeyRef"]["name"]


class NodeAuthorizer:
    """Authorizes node identities; has no opinion on anyone else."""

    def __init__(self, resources: Resources) -> None:
        self.resources = resources

    def pods_on(self, node: str) -> Iterator[Obj]:
        pods = self.resources.for_kind("", "Pod")
        if pods is None:
            return
        for cached in list(pods.cache.objects.values()):
            if cached.fields.get("spec.nodeName") == node:
                yield cached.obj

    def _references(self, node: str, namespace: str) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {k: set() for k in
                                      ("secrets", "configmaps", "pvcs", "pvs",
                                       "serviceaccounts")}
        for pod in self.pods_on(node):
            if pod.get("metadata", {}).get("namespace") != namespace and namespace:
                continue
            for kind, name in _pod_references(pod):
                found[kind].add(name)
        return found

    def _referenced_pv(self, node: str, name: str) -> bool:
        pvcs = self.resources.for_kind("", "PersistentVolumeClaim")
        if pvcs is None:
            return False
        for pod in self.pods_on(node):
            ns = pod.get("metadata", {}).get("namespace", "")
            for kind, claim in _pod_references(pod):
                if kind != "pvcs":
                    continue
                cached = pvcs.cache.get(pvcs.key(ns, claim))
                if cached is not None and \
                        cached.obj.get("spec", {}).get("volumeName") == name:
                    return True
        return False

    async def authorize(self, attrs: Attributes) -> tuple[Decision, str]:
        node = node_name(attrs.user)
        if node is None:
            return Decision.NO_OPINION, ""
        if not attrs.is_resource:
            return Decision.NO_OPINION, ""
        resource = attrs.resource + (f"/{attrs.subresource}" if attrs.subresource else "")
        verbs = _NODE_RULES.get((attrs.group, resource))
        if verbs is not None and attrs.verb in verbs:
            return Decision.ALLOW, ""
        if (attrs.group, resource) == ("", "serviceaccounts/token") and attrs.verb == "create":
            used = self._references(node, attrs.namespace)["serviceaccounts"]
            if attrs.name in used:
                return Decision.ALLOW, ""
            return Decision.NO_OPINION, (f'no relationship found between node "{node}" and '
                                         f'this object')
        kind = _REFERENCED.get((attrs.group, attrs.resource))
        if kind is not None and not attrs.subresource and attrs.verb == "get" and attrs.name:
            if kind == "pvs":
                allowed = self._referenced_pv(node, attrs.name)
            else:
                allowed = attrs.name in self._references(node, attrs.namespace)[kind]
            if allowed:
                return Decision.ALLOW, ""
            return Decision.NO_OPINION, (f'no relationship found between node "{node}" and '
                                         f'this object')
        return Decision.NO_OPINION, ""


class NodeRestriction:
    """Admission: a node writes only its own Node, Lease and the pods bound to it."""

    name = "NodeRestriction"

    def __init__(self, resources: Resources) -> None:
        self.resources = resources

    async def admit(self, req: AdmissionRequest, obj: Obj | None, old: Obj | None) -> None:
        return None

    @staticmethod
    def _refuse(req: AdmissionRequest, node: str, name: str, why: str) -> errors.StatusError:
        return errors.forbidden_operation(req.rt.plural, name, f'node "{node}" {why}',
                                          req.rt.group)

    async def validate(self, req: AdmissionRequest, obj: Obj | None, old: Obj | None) -> None:
        node = node_name(req.user)
        if node is None:
            return
        group, plural, sub = req.rt.group, req.rt.plural, req.subresource
        if (group, plural) == ("", "nodes"):
            name = req.name or ((obj or {}).get("metadata") or {}).get("name", "")
            if name != node:
                raise self._refuse(req, node, name, f'is not allowed to modify node "{name}"')
            return
        if (group, plural) == ("coordination.k8s.io", "leases"):
            name = req.name or ((obj or {}).get("metadata") or {}).get("name", "")
            if req.namespace != "kube-node-lease" or name != node:
                raise self._refuse(req, node, name, "can only access leases for itself in "
                                   "the kube-node-lease namespace")
            return
        if (group, plural) != ("", "pods"):
            return
        if req.operation == "CREATE" and not sub:
            meta = (obj or {}).get("metadata") or {}
            name = str(meta.get("name", ""))
            if MIRROR_ANNOTATION not in (meta.get("annotations") or {}):
                raise self._refuse(req, node, name, "can only create mirror pods")
            if (obj or {}).get("spec", {}).get("nodeName") != node:
                raise self._refuse(req, node, name, "can only create pods with "
                                   "spec.nodeName set to itself")
            return
        # Updates (status), deletes and evictions: only pods bound to this node.
        current = old
        if current is None:
            pods = self.resources.for_kind("", "Pod")
            cached = pods.cache.get(pods.key(req.namespace, req.name)) if pods else None
            current = cached.obj if cached is not None else None
        if current is not None and current.get("spec", {}).get("nodeName") != node:
            raise self._refuse(req, node, req.name, "can only modify pods bound to itself")
