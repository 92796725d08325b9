"""The built-in resource types the API server serves: group, version, kind, plural, scope,
short names, categories, verbs and subresources, as upstream's discovery reports them.

This table is data, not behaviour: a resource's behaviour lives in its strategy
(:mod:`kubesmith.api.strategies`). Custom resources are added at run time from their
CustomResourceDefinitions through :class:`kubesmith.api.registry.Registry`.
"""

from __future__ import annotations

from dataclasses import dataclass

STANDARD_VERBS: tuple[str, ...] = (
    "create", "delete", "deletecollection", "get", "list", "patch", "update", "watch",
)
CREATE_ONLY: tuple[str, ...] = ("create",)


@dataclass(frozen=True, slots=True)
class ResourceType:
    """One resource at one group/version, as served over HTTP.

    ``storage_group``/``storage_resource`` name where objects are kept when two served
    resources share one store (events in core/v1 and events.k8s.io/v1; HPA in autoscaling
    v1 and v2); they default to the resource itself.
    """

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    verbs: tuple[str, ...] = STANDARD_VERBS
    singular: str = ""
    storage_group: str | None = None
    storage_resource: str | None = None
    # Kinds whose objects are never stored (reviews, TokenRequest): create only, computed.
    virtual: bool = False
    preferred: bool = True

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def api_version(self) -> str:
        return self.group_version

    @property
    def list_kind(self) -> str:
        return self.kind + "List"

    @property
    def singular_name(self) -> str:
        return self.singular or self.kind.lower()

    @property
    def group_resource(self) -> str:
        """``deployments.apps`` — how messages and RBAC name the resource."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def key_prefix(self) -> str:
        """The storage key prefix, shared by every served version of the resource."""
        group = self.storage_group if self.storage_group is not None else self.group
        resource = self.storage_resource or self.plural
        return f"/registry/{group or 'core'}/{resource}/"


def _rt(group: str, version: str, kind: str, plural: str, namespaced: bool = True,
        short: tuple[str, ...] = (), cats: tuple[str, ...] = (), sub: tuple[str, ...] = (),
        verbs: tuple[str, ...] = STANDARD_VERBS, *, virtual: bool = False,
        preferred: bool = True, storage_group: str | None = None) -> ResourceType:
    return ResourceType(group, version, kind, plural, namespaced, short, cats, sub, verbs,
                        virtual=virtual, preferred=preferred, storage_group=storage_group)


ALL = ("all",)

BUILTIN: tuple[ResourceType, ...] = (
    # core/v1
    _rt("", "v1", "Binding", "bindings", verbs=CREATE_ONLY, virtual=True),
    _rt("", "v1", "ConfigMap", "configmaps", short=("cm",)),
    _rt("", "v1", "Endpoints", "endpoints", short=("ep",)),
    _rt("", "v1", "Event", "events", short=("ev",)),
    _rt("", "v1", "LimitRange", "limitranges", short=("limits",)),
    _rt("", "v1", "Namespace", "namespaces", False, ("ns",), sub=("finalize", "status"),
        verbs=("create", "delete", "get", "list", "patch", "update", "watch")),
    _rt("", "v1", "Node", "nodes", False, ("no",), sub=("proxy", "status")),
    _rt("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", short=("pvc",),
        sub=("status",)),
    _rt("", "v1", "PersistentVolume", "persistentvolumes", False, ("pv",), sub=("status",)),
    _rt("", "v1", "Pod", "pods", short=("po",), cats=ALL,
        sub=("attach", "binding", "ephemeralcontainers", "eviction", "exec", "log",
             "portforward", "proxy", "resize", "status")),
    _rt("", "v1", "PodTemplate", "podtemplates"),
    _rt("", "v1", "ReplicationController", "replicationcontrollers", short=("rc",), cats=ALL,
        sub=("scale", "status")),
    _rt("", "v1", "ResourceQuota", "resourcequotas", short=("quota",), sub=("status",)),
    _rt("", "v1", "Secret", "secrets"),
    _rt("", "v1", "ServiceAccount", "serviceaccounts", short=("sa",), sub=("token",)),
    _rt("", "v1", "Service", "services", short=("svc",), cats=ALL, sub=("proxy", "status"),
        verbs=("create", "delete", "deletecollection", "get", "list", "patch", "update",
               "watch")),
    # apps/v1
    _rt("apps", "v1", "ControllerRevision", "controllerrevisions"),
    _rt("apps", "v1", "DaemonSet", "daemonsets", short=("ds",), cats=ALL, sub=("status",)),
    _rt("apps", "v1", "Deployment", "deployments", short=("deploy",), cats=ALL,
        sub=("scale", "status")),
    _rt("apps", "v1", "ReplicaSet", "replicasets", short=("rs",), cats=ALL,
        sub=("scale", "status")),
    _rt("apps", "v1", "StatefulSet", "statefulsets", short=("sts",), cats=ALL,
        sub=("scale", "status")),
    # batch/v1
    _rt("batch", "v1", "CronJob", "cronjobs", short=("cj",), cats=ALL, sub=("status",)),
    _rt("batch", "v1", "Job", "jobs", cats=ALL, sub=("status",)),
    # autoscaling: v2 is preferred and the storage version; v1 is converted on the wire.
    _rt("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers",
        short=("hpa",), cats=ALL, sub=("status",)),
    _rt("autoscaling", "v1", "HorizontalPodAutoscaler", "horizontalpodautoscalers",
        short=("hpa",), cats=ALL, sub=("status",), preferred=False),
    # coordination, discovery, events
    _rt("coordination.k8s.io", "v1", "Lease", "leases"),
    _rt("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices"),
    _rt("events.k8s.io", "v1", "Event", "events", short=("ev",), storage_group=""),
    # networking
    _rt("networking.k8s.io", "v1", "IngressClass", "ingressclasses", False),
    _rt("networking.k8s.io", "v1", "Ingress", "ingresses", short=("ing",), sub=("status",)),
    _rt("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", short=("netpol",)),
    # policy
    _rt("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", short=("pdb",),
        sub=("status",)),
    # rbac
    _rt("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", False),
    _rt("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", False),
    _rt("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings"),
    _rt("rbac.authorization.k8s.io", "v1", "Role", "roles"),
    # storage, scheduling, certificates
    _rt("storage.k8s.io", "v1", "StorageClass", "storageclasses", False, ("sc",)),
    _rt("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", False, ("pc",)),
    _rt("certificates.k8s.io", "v1", "CertificateSigningRequest", "certificatesigningrequests",
        False, ("csr",), sub=("approval", "status")),
    # apiextensions
    _rt("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions",
        False, ("crd", "crds"), ("api-extensions",), sub=("status",)),
    # reviews: computed, never stored
    _rt("authentication.k8s.io", "v1", "TokenReview", "tokenreviews", False,
        verbs=CREATE_ONLY, virtual=True),
    _rt("authentication.k8s.io", "v1", "SelfSubjectReview", "selfsubjectreviews", False,
        verbs=CREATE_ONLY, virtual=True),
    _rt("authorization.k8s.io", "v1", "SelfSubjectAccessReview", "selfsubjectaccessreviews",
        False, verbs=CREATE_ONLY, virtual=True),
    _rt("authorization.k8s.io", "v1", "SelfSubjectRulesReview", "selfsubjectrulesreviews",
        False, verbs=CREATE_ONLY, virtual=True),
    _rt("authorization.k8s.io", "v1", "SubjectAccessReview", "subjectaccessreviews", False,
        verbs=CREATE_ONLY, virtual=True),
    _rt("authorization.k8s.io", "v1", "LocalSubjectAccessReview", "localsubjectaccessreviews",
        verbs=CREATE_ONLY, virtual=True),
)

# Group preference order as kube-apiserver lists groups in discovery (core first).
GROUP_ORDER: tuple[str, ...] = (
    "", "apiregistration.k8s.io", "apps", "events.k8s.io", "authentication.k8s.io",
    "authorization.k8s.io", "autoscaling", "batch", "certificates.k8s.io",
    "networking.k8s.io", "policy", "rbac.authorization.k8s.io", "storage.k8s.io",
    "admissionregistration.k8s.io", "apiextensions.k8s.io", "scheduling.k8s.io",
    "coordination.k8s.io", "node.k8s.io", "discovery.k8s.io", "flowcontrol.apiserver.k8s.io",
    "resource.k8s.io",
)
