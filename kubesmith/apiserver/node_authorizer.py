"""The Node authorizer and NodeRestriction admission: a node's identity
(``system:node:<name>`` in ``system:nodes``) reaches what its kubelet needs, and only for
itself.

Authorization (upstream's node authorizer): a node may

* read the Secrets, ConfigMaps, PersistentVolumeClaims and ServiceAccounts used by pods
  bound to it (volumes, projected sources, env and envFrom, image pull secrets, the pod's
  ServiceAccount) and the PersistentVolumes those claims are bound to, and request tokens
  for those ServiceAccounts;
* do what every kubelet does (upstream's node rules): read nodes, services, endpoints and
  pods; create and delete pods (mirror pods); update pod status; evict pods; write events;
  manage its Lease; create CSRs and TokenReviews/SubjectAccessReviews.

Referenced objects are read as a kubelet reads them: GET by name, or LIST/WATCH narrowed to
one object by ``fieldSelector=metadata.name=<name>`` (request info carries that name).
Relationships come from :class:`PodsByNode`, an index of the pods watch cache by
``spec.nodeName`` kept current synchronously by the cache's own fan-out, so a decision
costs O(pods on that node) rather than a scan of every pod (upstream keeps a graph of the
same edges for the same reason).

NodeRestriction (admission) then limits the writes those rules allow to the node's own
objects: its Node, its Lease, pods bound to it (status, mirror pods, deletion, eviction).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from kubesmith.api import errors
from kubesmith.api.resources import Resources
from kubesmith.api.types import Obj
from kubesmith.api.watchcache import CachedObject, CacheEvent, CacheWatcher, WatchCache
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
# Secrets, ConfigMaps and claims may also be listed or watched one at a time (a
# metadata.name field selector names the object), as kubelets read them; the rest only by GET.
_LIST_ONE = ("get", "list", "watch")
_READ_VERBS = {"secrets": _LIST_ONE, "configmaps": _LIST_ONE, "pvcs": _LIST_ONE}


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


class PodsByNode:
    """The pods watch cache indexed by ``spec.nodeName``, with each pod's references.

    The index follows the cache through a watcher in direct (sink) mode: the cache hands it
    every change while applying it, in the same step, so the index never lags the cache and
    no task or queue is involved. If the cache closes its watchers (a re-list after the
    storage watch failed) the index is rebuilt from the cache on the next lookup. A pod's
    references are computed on first use and kept until the pod changes.
    """

    def __init__(self, resources: Resources) -> None:
        self.resources = resources
        self._watcher: CacheWatcher | None = None
        self._cache: WatchCache | None = None
        # The cache's object map when the index was built: a re-list replaces it.
        self._objects: object = None
        self._by_node: dict[str, dict[str, CachedObject]] = {}
        self._node_of: dict[str, str] = {}
        self._refs: dict[str, tuple[int, frozenset[tuple[str, str]]]] = {}

    def _current(self) -> dict[str, dict[str, CachedObject]]:
        pods = self.resources.for_kind("", "Pod")
        if pods is None:
            return {}
        w = self._watcher
        if w is None or w.closed or self._cache is not pods.cache or \
                self._objects is not pods.cache.objects:
            self._rebuild(pods.cache)
        return self._by_node

    def _rebuild(self, cache: WatchCache) -> None:
        if self._watcher is not None and self._cache is not None:
            self._cache.unwatch(self._watcher)
        self._by_node, self._node_of, self._refs = {}, {}, {}
        for cached in cache.objects.values():
            self._place(cached)
        # Nothing awaits between the snapshot above and registering: no change is missed.
        watcher = cache.watch(namespace=None, predicate=None, since=cache.revision)
        watcher.sink = self._apply
        self._watcher, self._cache, self._objects = watcher, cache, cache.objects

    def _place(self, cached: CachedObject) -> None:
        node = cached.fields.get("spec.nodeName", "")
        if node:
            self._by_node.setdefault(node, {})[cached.key] = cached
            self._node_of[cached.key] = node

    def _remove(self, key: str) -> None:
        self._refs.pop(key, None)
        node = self._node_of.pop(key, None)
        if node is None:
            return
        pods = self._by_node.get(node)
        if pods is not None:
            pods.pop(key, None)
            if not pods:
                del self._by_node[node]

    def _apply(self, event: CacheEvent) -> bool:
        self._remove(event.obj.key)
        if event.type != "DELETED":
            self._place(event.obj)
        return True

    def pods_on(self, node: str) -> list[CachedObject]:
        """The pods bound to ``node`` now."""
        return list(self._current().get(node, {}).values())

    def references(self, cached: CachedObject) -> frozenset[tuple[str, str]]:
        """(kind, name) of everything a pod uses (see :func:`_pod_references`)."""
        hit = self._refs.get(cached.key)
        if hit is not None and hit[0] == cached.revision:
            return hit[1]
        refs = frozenset(_pod_references(cached.obj))
        self._refs[cached.key] = (cached.revision, refs)
        return refs


class NodeAuthorizer:
    """Authorizes node identities; has no opinion on anyone else."""

    def __init__(self, resources: Resources) -> None:
        self.resources = resources
        self.pods = PodsByNode(resources)

    def _uses(self, node: str, namespace: str, kind: str, name: str) -> bool:
        """Whether a pod bound to ``node`` in ``namespace`` uses that object."""
        wanted = (kind, name)
        return any(cached.namespace == namespace and wanted in self.pods.references(cached)
                   for cached in self.pods.pods_on(node))

    def _referenced_pv(self, node: str, name: str) -> bool:
        pvcs = self.resources.for_kind("", "PersistentVolumeClaim")
        if pvcs is None:
            return False
        for pod in self.pods.pods_on(node):
            for kind, claim in self.pods.references(pod):
                if kind != "pvcs":
                    continue
                cached = pvcs.cache.get(pvcs.key(pod.namespace, claim))
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
        no_relationship = f'no relationship found between node "{node}" and this object'
        if (attrs.group, resource) == ("", "serviceaccounts/token") and attrs.verb == "create":
            if self._uses(node, attrs.namespace, "serviceaccounts", attrs.name):
                return Decision.ALLOW, ""
            return Decision.NO_OPINION, no_relationship
        kind = _REFERENCED.get((attrs.group, attrs.resource))
        if kind is None or attrs.subresource or not attrs.name or \
                attrs.verb not in _READ_VERBS.get(kind, ("get",)):
            return Decision.NO_OPINION, ""
        if kind == "pvs":
            allowed = self._referenced_pv(node, attrs.name)
        else:
            allowed = self._uses(node, attrs.namespace, kind, attrs.name)
        return (Decision.ALLOW, "") if allowed else (Decision.NO_OPINION, no_relationship)


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
