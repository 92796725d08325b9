"""The default ClusterRoles and ClusterRoleBindings, and reconciling them at start-up.

The rules are upstream's bootstrap policy (``bootstrappolicy`` in kube-apiserver) as of
the release we are compatible with, feature-gated roles for alpha/beta features left out.
Every object carries ``kubernetes.io/bootstrapping: rbac-defaults`` and
``rbac.authorization.kubernetes.io/autoupdate: "true"``.

:func:`reconcile` is upstream's post-start hook: missing objects are created; existing
ones are only ever added to (missing rules, aggregation selectors, subjects, labels and
annotations), never stripped of what users added, and an object annotated
``autoupdate: "false"`` is left alone. A binding whose roleRef differs is recreated, since
roleRef is immutable.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from kubesmith.api.errors import StatusError
from kubesmith.api.resources import Resources
from kubesmith.api.store import ResourceStore
from kubesmith.api.types import Obj
from kubesmith.apiserver.rbac.rules import PolicyRule, covers, parse_rules

log = logging.getLogger(__name__)

RBAC_GROUP = "rbac.authorization.k8s.io"
RBAC_API_VERSION = f"{RBAC_GROUP}/v1"
AUTOUPDATE = "rbac.authorization.kubernetes.io/autoupdate"
BOOTSTRAP_LABEL = ("kubernetes.io/bootstrapping", "rbac-defaults")
AGGREGATE_TO = "rbac.authorization.k8s.io/aggregate-to-"
CONTROLLER_PREFIX = "system:controller:"

READ = ("get", "list", "watch")
WRITE = ("create", "update", "patch", "delete", "deletecollection")
READ_WRITE = READ + WRITE

CORE, APPS, BATCH, EXTENSIONS = "", "apps", "batch", "extensions"
AUTHN, AUTHZ = "authentication.k8s.io", "authorization.k8s.io"
AUTOSCALING, POLICY, NETWORKING = "autoscaling", "policy", "networking.k8s.io"
COORDINATION, DISCOVERY, STORAGE = "coordination.k8s.io", "discovery.k8s.io", "storage.k8s.io"
CERTIFICATES, EVENTS, NODE = "certificates.k8s.io", "events.k8s.io", "node.k8s.io"


def rule(verbs: Iterable[str] | str, groups: Iterable[str] | str,
         *resources: str, names: Iterable[str] = ()) -> PolicyRule:
    """A resource rule (lists sorted, as upstream's rule builder leaves them)."""
    return PolicyRule.build([verbs] if isinstance(verbs, str) else verbs,
                            [groups] if isinstance(groups, str) else groups,
                            resources, names)


def url_rule(verbs: Iterable[str] | str, *urls: str) -> PolicyRule:
    """A non-resource URL rule."""
    return PolicyRule.build([verbs] if isinstance(verbs, str) else verbs, urls=urls)


def events_rule() -> PolicyRule:
    """Recording events through either events API."""
    return rule(("create", "update", "patch"), (CORE, EVENTS), "events")


def lease_rules(component: str) -> list[PolicyRule]:
    """Leader election with a lease named after the component."""
    return [rule("create", COORDINATION, "leases"),
            rule(("get", "update"), COORDINATION, "leases", names=[component])]


@dataclass(frozen=True)
class RoleSpec:
    """A bootstrap ClusterRole."""

    name: str
    rules: tuple[PolicyRule, ...] = ()
    labels: tuple[tuple[str, str], ...] = ()
    # matchLabels of each aggregation selector; empty: not an aggregated role
    aggregate_from: tuple[dict[str, str], ...] = ()

    def to_object(self) -> Obj:
        obj: Obj = {"apiVersion": RBAC_API_VERSION, "kind": "ClusterRole",
                    "metadata": _metadata(self.name, self.labels)}
        if self.aggregate_from:
            obj["aggregationRule"] = {"clusterRoleSelectors": [
                {"matchLabels": dict(m)} for m in self.aggregate_from]}
        obj["rules"] = [r.to_json() for r in self.rules]
        return obj


@dataclass(frozen=True)
class BindingSpec:
    """A bootstrap ClusterRoleBinding to the ClusterRole of the same name."""

    name: str
    users: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    # (namespace, name) of ServiceAccounts
    service_accounts: tuple[tuple[str, str], ...] = ()
    role: str = ""

    def to_object(self) -> Obj:
        subjects: list[dict[str, Any]] = []
        subjects += [{"apiGroup": RBAC_GROUP, "kind": "Group", "name": g} for g in self.groups]
        subjects += [{"kind": "ServiceAccount", "name": n, "namespace": ns}
                     for ns, n in self.service_accounts]
        subjects += [{"apiGroup": RBAC_GROUP, "kind": "User", "name": u} for u in self.users]
        obj: Obj = {"apiVersion": RBAC_API_VERSION, "kind": "ClusterRoleBinding",
                    "metadata": _metadata(self.name, ()),
                    "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole",
                                "name": self.role or self.name}}
        if subjects:
            obj["subjects"] = subjects
        return obj


def _metadata(name: str, labels: Iterable[tuple[str, str]]) -> dict[str, Any]:
    return {"name": name, "labels": dict([*labels, BOOTSTRAP_LABEL]),
            "annotations": {AUTOUPDATE: "true"}}


def _aggregate_label(target: str) -> tuple[tuple[str, str], ...]:
    return ((AGGREGATE_TO + target, "true"),)


def _aggregated(name: str, labels: tuple[tuple[str, str], ...] = ()) -> RoleSpec:
    return RoleSpec(name, labels=labels, aggregate_from=({AGGREGATE_TO + name: "true"},))


# ---- the roles users are bound to --------------------------------------------------------

_USER_FACING: tuple[RoleSpec, ...] = (
    RoleSpec("cluster-admin", (rule("*", "*", "*"), url_rule("*", "*"))),
    _aggregated("admin"),
    _aggregated("edit", _aggregate_label("admin")),
    _aggregated("view", _aggregate_label("edit")),
    RoleSpec("system:aggregate-to-admin", (
        rule("create", AUTHZ, "localsubjectaccessreviews"),
        rule(READ_WRITE, RBAC_GROUP, "roles", "rolebindings"),
    ), _aggregate_label("admin")),
    RoleSpec("system:aggregate-to-edit", (
        # read access to the resources that can escalate (secrets, exec, proxies)
        rule(READ, CORE, "pods/attach", "pods/proxy", "pods/exec", "pods/portforward",
             "secrets", "services/proxy"),
        rule("impersonate", CORE, "serviceaccounts"),
        rule(WRITE, CORE, "pods", "pods/attach", "pods/proxy", "pods/exec",
             "pods/portforward"),
        rule("create", CORE, "pods/eviction"),
        rule(WRITE, CORE, "replicationcontrollers", "replicationcontrollers/scale",
             "serviceaccounts", "services", "services/proxy", "persistentvolumeclaims",
             "configmaps", "secrets", "events"),
        rule("create", CORE, "serviceaccounts/token"),
        rule(WRITE, APPS, "statefulsets", "statefulsets/scale", "daemonsets", "deployments",
             "deployments/scale", "deployments/rollback", "replicasets", "replicasets/scale"),
        rule(WRITE, AUTOSCALING, "horizontalpodautoscalers"),
        rule(WRITE, BATCH, "jobs", "cronjobs"),
        rule(WRITE, EXTENSIONS, "daemonsets", "deployments", "deployments/scale",
             "deployments/rollback", "ingresses", "replicasets", "replicasets/scale",
             "replicationcontrollers/scale", "networkpolicies"),
        rule(WRITE, POLICY, "poddisruptionbudgets"),
        rule(WRITE, NETWORKING, "networkpolicies", "ingresses"),
        rule(READ_WRITE, COORDINATION, "leases"),
    ), _aggregate_label("edit")),
    RoleSpec("system:aggregate-to-view", (
        rule(READ, CORE, "pods", "replicationcontrollers", "replicationcontrollers/scale",
             "serviceaccounts", "services", "services/status", "endpoints",
             "persistentvolumeclaims", "persistentvolumeclaims/status", "configmaps"),
        rule(READ, CORE, "limitranges", "resourcequotas", "bindings", "events", "pods/status",
             "resourcequotas/status", "namespaces/status", "replicationcontrollers/status",
             "pods/log"),
        # reading namespaces in a namespace means reading that namespace: a hint to
        # users of which namespaces they may use
        rule(READ, CORE, "namespaces"),
        rule(READ, DISCOVERY, "endpointslices"),
        rule(READ, APPS, "controllerrevisions", "statefulsets", "statefulsets/status",
             "statefulsets/scale", "daemonsets", "daemonsets/status", "deployments",
             "deployments/status", "deployments/scale", "replicasets", "replicasets/status",
             "replicasets/scale"),
        rule(READ, AUTOSCALING, "horizontalpodautoscalers", "horizontalpodautoscalers/status"),
        rule(READ, BATCH, "jobs", "cronjobs", "cronjobs/status", "jobs/status"),
        rule(READ, EXTENSIONS, "daemonsets", "daemonsets/status", "deployments",
             "deployments/scale", "deployments/status", "ingresses", "ingresses/status",
             "replicasets", "replicasets/scale", "replicasets/status",
             "replicationcontrollers/scale", "networkpolicies"),
        rule(READ, POLICY, "poddisruptionbudgets", "poddisruptionbudgets/status"),
        rule(READ, NETWORKING, "ingresses", "ingresses/status", "networkpolicies"),
    ), _aggregate_label("view")),
)

# ---- roles of users, groups and components the platform defines ------------------------

_SYSTEM: tuple[RoleSpec, ...] = (
    RoleSpec("system:discovery", (
        url_rule("get", "/livez", "/readyz", "/healthz", "/version", "/version/", "/openapi",
                 "/openapi/*", "/api", "/api/*", "/apis", "/apis/*"),
    )),
    RoleSpec("system:public-info-viewer", (
        url_rule("get", "/livez", "/readyz", "/healthz", "/version", "/version/"),
    )),
    RoleSpec("system:basic-user", (
        rule("create", AUTHZ, "selfsubjectaccessreviews", "selfsubjectrulesreviews"),
        rule("create", AUTHN, "selfsubjectreviews"),
    )),
    RoleSpec("system:monitoring", (
        url_rule("get", "/metrics", "/metrics/slis", "/livez", "/readyz", "/healthz",
                 "/livez/*", "/readyz/*", "/healthz/*"),
    )),
    RoleSpec("system:auth-delegator", (
        rule("create", AUTHN, "tokenreviews"),
        rule("create", AUTHZ, "subjectaccessreviews"),
    )),
    RoleSpec("system:node", (
        rule("create", AUTHN, "tokenreviews"),
        rule("create", AUTHZ, "subjectaccessreviews", "localsubjectaccessreviews"),
        rule(READ, CORE, "services"),
        rule(("create", "get", "list", "watch"), CORE, "nodes"),
        rule(("update", "patch"), CORE, "nodes/status"),
        rule(("update", "patch"), CORE, "nodes"),
        rule(("create", "update", "patch"), CORE, "events"),
        rule(READ, CORE, "pods"),
        rule(("create", "delete"), CORE, "pods"),
        rule(("update", "patch"), CORE, "pods/status"),
        rule("create", CORE, "pods/eviction"),
        rule(READ, CORE, "secrets", "configmaps"),
        rule("get", CORE, "persistentvolumeclaims", "persistentvolumes"),
        rule("get", CORE, "endpoints"),
        rule(("create", "get", "list", "watch"), CERTIFICATES, "certificatesigningrequests"),
        rule(("get", "create", "update", "patch", "delete"), COORDINATION, "leases"),
        rule("get", STORAGE, "volumeattachments"),
        rule("create", CORE, "serviceaccounts/token"),
        rule(("get", "update", "patch"), CORE, "persistentvolumeclaims/status"),
        rule(READ, STORAGE, "csidrivers"),
        rule(("get", "create", "update", "patch", "delete"), STORAGE, "csinodes"),
        rule(READ, NODE, "runtimeclasses"),
    )),
    RoleSpec("system:node-proxier", (
        rule(("list", "watch"), CORE, "services", "endpoints"),
        rule(READ, CORE, "nodes"),
        events_rule(),
        rule(("list", "watch"), DISCOVERY, "endpointslices"),
    )),
    RoleSpec("system:node-bootstrapper", (
        rule(("create", "get", "list", "watch"), CERTIFICATES, "certificatesigningrequests"),
    )),
    # Whose node client certificate requests are approved automatically: anyone may ask
    # for any node's (bootstrapping), or a node for its own (renewal).
    RoleSpec("system:certificates.k8s.io:certificatesigningrequests:nodeclient", (
        rule("create", CERTIFICATES, "certificatesigningrequests/nodeclient"),
    )),
    RoleSpec("system:certificates.k8s.io:certificatesigningrequests:selfnodeclient", (
        rule("create", CERTIFICATES, "certificatesigningrequests/selfnodeclient"),
    )),
    *(RoleSpec(f"system:certificates.k8s.io:{signer}-approver", (
        rule("approve", CERTIFICATES, "signers", names=[f"kubernetes.io/{signer}"]),
    )) for signer in ("kube-apiserver-client", "kube-apiserver-client-kubelet",
                      "kubelet-serving")),
    RoleSpec("system:kubelet-api-admin", (
        rule(READ, CORE, "nodes"),
        rule("proxy", CORE, "nodes"),
        rule("*", CORE, "nodes/proxy", "nodes/metrics", "nodes/log", "nodes/stats"),
    )),
    RoleSpec("system:kube-scheduler", (
        events_rule(),
        *lease_rules("kube-scheduler"),
        rule(READ, CORE, "nodes"),
        rule(("get", "list", "watch", "delete"), CORE, "pods"),
        rule("create", CORE, "bindings", "pods/binding"),
        rule(("patch", "update"), CORE, "pods/status"),
        rule(READ, CORE, "replicationcontrollers", "services"),
        rule(READ, (APPS, EXTENSIONS), "replicasets"),
        rule(READ, APPS, "statefulsets"),
        rule(READ, POLICY, "poddisruptionbudgets"),
        rule(READ, CORE, "persistentvolumeclaims", "persistentvolumes"),
        rule("create", AUTHN, "tokenreviews"),
        rule("create", AUTHZ, "subjectaccessreviews"),
        rule(READ, STORAGE, "csinodes"),
        rule(READ, CORE, "namespaces"),
        rule(READ, STORAGE, "csidrivers"),
        rule(READ, STORAGE, "csistoragecapacities"),
    )),
    RoleSpec("system:volume-scheduler", (
        rule(("get", "list", "watch", "update", "patch"), CORE, "persistentvolumes"),
        rule(READ, STORAGE, "storageclasses"),
        rule(("get", "list", "watch", "update", "patch"), CORE, "persistentvolumeclaims"),
    )),
    RoleSpec("system:kube-controller-manager", (
        events_rule(),
        *lease_rules("kube-controller-manager"),
        # creates the ServiceAccounts and token Secrets of the controllers it runs
        rule("create", CORE, "secrets", "serviceaccounts"),
        rule("delete", CORE, "secrets"),
        rule("get", CORE, "namespaces", "secrets", "serviceaccounts", "configmaps"),
        rule("update", CORE, "secrets", "serviceaccounts"),
        rule("create", AUTHN, "tokenreviews"),
        rule("create", AUTHZ, "subjectaccessreviews"),
        # its shared informers list and watch everything
        rule(("list", "watch"), "*", "*"),
        rule("create", CORE, "serviceaccounts/token"),
    )),
    RoleSpec("system:service-account-issuer-discovery", (
        url_rule("get", "/.well-known/openid-configuration", "/openid/v1/jwks"),
    )),
)

# ---- the controllers of kube-controller-manager, each with its own ServiceAccount ------

_CONTROLLERS: tuple[RoleSpec, ...] = tuple(
    RoleSpec(CONTROLLER_PREFIX + name, rules) for name, rules in (
        ("clusterrole-aggregation-controller", (
            # it must be able to write any rules into aggregated roles
            rule(("escalate", "get", "list", "watch", "update", "patch"), RBAC_GROUP,
                 "clusterroles"),
        )),
        ("cronjob-controller", (
            rule(("get", "list", "watch", "update"), BATCH, "cronjobs"),
            rule(("get", "list", "watch", "create", "update", "delete", "patch"), BATCH,
                 "jobs"),
            rule("update", BATCH, "cronjobs/status"),
            rule("update", BATCH, "cronjobs/finalizers"),
            rule(("list", "watch", "delete"), CORE, "pods"),
            events_rule(),
        )),
        ("daemon-set-controller", (
            rule(READ, (EXTENSIONS, APPS), "daemonsets"),
            rule("update", (EXTENSIONS, APPS), "daemonsets/status"),
            rule("update", (EXTENSIONS, APPS), "daemonsets/finalizers"),
            rule(("list", "watch"), CORE, "nodes"),
            rule(("list", "watch", "create", "delete", "patch"), CORE, "pods"),
            rule("create", CORE, "pods/binding"),
            rule(("get", "list", "watch", "create", "delete", "update", "patch"), APPS,
                 "controllerrevisions"),
            events_rule(),
        )),
        ("deployment-controller", (
            rule(("get", "list", "watch", "update"), (EXTENSIONS, APPS), "deployments"),
            rule("update", (EXTENSIONS, APPS), "deployments/status"),
            rule("update", (EXTENSIONS, APPS), "deployments/finalizers"),
            rule(("get", "list", "watch", "create", "update", "patch", "delete"),
                 (APPS, EXTENSIONS), "replicasets"),
            rule(("get", "list", "watch", "update"), CORE, "pods"),
            events_rule(),
        )),
        ("disruption-controller", (
            rule(READ, (EXTENSIONS, APPS), "deployments"),
            rule(READ, (APPS, EXTENSIONS), "replicasets"),
            rule(READ, CORE, "replicationcontrollers"),
            rule(READ, POLICY, "poddisruptionbudgets"),
            rule(READ, APPS, "statefulsets"),
            rule("update", POLICY, "poddisruptionbudgets/status"),
            rule(("patch", "update"), CORE, "pods/status"),
            rule("get", "*", "*/scale"),
            events_rule(),
        )),
        ("endpoint-controller", (
            rule(READ, CORE, "services", "pods"),
            rule(("get", "list", "watch", "create", "update", "delete"), CORE, "endpoints"),
            rule("create", CORE, "endpoints/restricted"),
            events_rule(),
        )),
        ("endpointslice-controller", (
            rule(READ, CORE, "services", "pods", "nodes"),
            # to own EndpointSlices with blockOwnerDeletion set
            rule("update", CORE, "services/finalizers"),
            rule(("get", "list", "watch", "create", "update", "delete"), DISCOVERY,
                 "endpointslices"),
            events_rule(),
        )),
        ("generic-garbage-collector", (
            rule(("get", "list", "watch", "patch", "update", "delete"), "*", "*"),
            events_rule(),
        )),
        ("horizontal-pod-autoscaler", (
            rule(READ, AUTOSCALING, "horizontalpodautoscalers"),
            rule("update", AUTOSCALING, "horizontalpodautoscalers/status"),
            rule(("get", "update"), "*", "*/scale"),
            rule("list", CORE, "pods"),
            rule("list", "metrics.k8s.io", "pods"),
            rule(("get", "list"), ("custom.metrics.k8s.io", "external.metrics.k8s.io"), "*"),
            events_rule(),
        )),
        ("job-controller", (
            rule(("get", "list", "watch", "update", "patch"), BATCH, "jobs"),
            rule("update", BATCH, "jobs/status"),
            rule("update", BATCH, "jobs/finalizers"),
            rule(("list", "watch", "create", "delete", "patch"), CORE, "pods"),
            events_rule(),
        )),
        ("namespace-controller", (
            rule(("get", "list", "watch", "delete"), CORE, "namespaces"),
            rule("update", CORE, "namespaces/finalize", "namespaces/status"),
            rule(("get", "list", "watch", "delete", "deletecollection"), "*", "*"),
        )),
        ("node-controller", (
            rule(("get", "list", "watch", "update", "delete", "patch"), CORE, "nodes"),
            rule(("patch", "update"), CORE, "nodes/status"),
            rule(("patch", "update"), CORE, "pods/status"),
            rule(("list", "watch", "get", "delete"), CORE, "pods"),
            events_rule(),
        )),
        ("persistent-volume-binder", (
            rule(("get", "list", "watch", "create", "update", "delete"), CORE,
                 "persistentvolumes"),
            rule("update", CORE, "persistentvolumes/status"),
            rule(("get", "list", "watch", "update"), CORE, "persistentvolumeclaims"),
            rule("update", CORE, "persistentvolumeclaims/status"),
            rule(READ, CORE, "pods"),
            rule(READ, STORAGE, "storageclasses"),
            rule(("get", "list"), CORE, "nodes"),
            events_rule(),
        )),
        ("pod-garbage-collector", (
            rule(("list", "watch", "delete"), CORE, "pods"),
            rule(("get", "list", "watch"), CORE, "nodes"),
            rule("patch", CORE, "pods/status"),
        )),
        ("replicaset-controller", (
            rule(("get", "list", "watch", "update"), (APPS, EXTENSIONS), "replicasets"),
            rule("update", (APPS, EXTENSIONS), "replicasets/status"),
            rule("update", (APPS, EXTENSIONS), "replicasets/finalizers"),
            rule(("list", "watch", "patch", "create", "delete"), CORE, "pods"),
            events_rule(),
        )),
        ("replication-controller", (
            rule(("get", "list", "watch", "update"), CORE, "replicationcontrollers"),
            rule("update", CORE, "replicationcontrollers/status"),
            rule("update", CORE, "replicationcontrollers/finalizers"),
            rule(("list", "watch", "patch", "create", "delete"), CORE, "pods"),
            events_rule(),
        )),
        ("root-ca-cert-publisher", (
            rule(("create", "update"), CORE, "configmaps"),
            events_rule(),
        )),
        ("service-account-controller", (
            rule("create", CORE, "serviceaccounts"),
            events_rule(),
        )),
        ("statefulset-controller", (
            rule(("list", "watch"), CORE, "pods"),
            rule(READ, APPS, "statefulsets"),
            rule("update", APPS, "statefulsets/status"),
            rule("update", APPS, "statefulsets/finalizers"),
            rule(("get", "create", "delete", "update", "patch"), CORE, "pods"),
            rule(("get", "create", "delete", "update", "patch", "list", "watch"), APPS,
                 "controllerrevisions"),
            rule(("get", "create", "list", "watch"), CORE, "persistentvolumeclaims"),
            rule(("update", "delete"), CORE, "persistentvolumeclaims"),
            rule("update", CORE, "pods/finalizers"),
            events_rule(),
        )),
        ("ttl-after-finished-controller", (
            rule(("get", "list", "watch", "delete"), BATCH, "jobs"),
            events_rule(),
        )),
    )
)

_BINDINGS: tuple[BindingSpec, ...] = (
    BindingSpec("cluster-admin", groups=("system:masters",)),
    BindingSpec("system:monitoring", groups=("system:monitoring",)),
    BindingSpec("system:discovery", groups=("system:authenticated",)),
    BindingSpec("system:basic-user", groups=("system:authenticated",)),
    BindingSpec("system:public-info-viewer",
                groups=("system:authenticated", "system:unauthenticated")),
    BindingSpec("system:node-proxier", users=("system:kube-proxy",)),
    BindingSpec("system:kube-controller-manager", users=("system:kube-controller-manager",)),
    BindingSpec("system:kube-scheduler", users=("system:kube-scheduler",)),
    BindingSpec("system:volume-scheduler", users=("system:kube-scheduler",)),
    # Nodes get system:node through the Node authorizer; the binding has no subjects.
    BindingSpec("system:node"),
    BindingSpec("system:service-account-issuer-discovery",
                groups=("system:serviceaccounts",)),
    # TLS bootstrapping, bound as kubeadm binds it (upstream binds nothing here): holders
    # of a bootstrap token (Secrets an administrator creates) may file CSRs and have node
    # client certificates approved; nodes may renew their own.
    BindingSpec("kubesmith:kubelet-bootstrap", groups=("system:bootstrappers",),
                role="system:node-bootstrapper"),
    BindingSpec("kubesmith:node-autoapprove-bootstrap", groups=("system:bootstrappers",),
                role="system:certificates.k8s.io:certificatesigningrequests:nodeclient"),
    BindingSpec("kubesmith:node-autoapprove-certificate-rotation", groups=("system:nodes",),
                role="system:certificates.k8s.io:certificatesigningrequests:selfnodeclient"),
    *(BindingSpec(role.name,
                  service_accounts=(("kube-system", role.name[len(CONTROLLER_PREFIX):]),))
      for role in _CONTROLLERS),
)


def cluster_roles() -> list[Obj]:
    """The bootstrap ClusterRoles as API objects (fresh copies)."""
    return [spec.to_object() for spec in (*_USER_FACING, *_SYSTEM, *_CONTROLLERS)]


def cluster_role_bindings() -> list[Obj]:
    """The bootstrap ClusterRoleBindings as API objects (fresh copies)."""
    return [spec.to_object() for spec in _BINDINGS]


# ---- reconciliation ----------------------------------------------------------------------


@dataclass
class ReconcileResult:
    """Names of the objects :func:`reconcile` created, updated, recreated or skipped."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    recreated: list[str] = field(default_factory=list)
    protected: list[str] = field(default_factory=list)


def _merged(expected: dict[str, str] | None, existing: Any) -> dict[str, str]:
    """Expected entries under existing ones (a user's value for a key wins)."""
    out = dict(expected or {})
    if isinstance(existing, dict):
        out.update(existing)
    return out


def reconcile_role(existing: Obj, expected: Obj) -> Obj | None:
    """``existing`` with what ``expected`` adds (labels, annotations, missing rules and
    aggregation selectors), or None when nothing is missing."""
    new: Obj = dict(existing)
    meta = dict(existing.get("metadata") or {})
    want = expected["metadata"]
    meta["labels"] = _merged(want.get("labels"), meta.get("labels"))
    meta["annotations"] = _merged(want.get("annotations"), meta.get("annotations"))
    new["metadata"] = meta
    have_rules = parse_rules(existing.get("rules"))
    _, missing = covers(have_rules, parse_rules(expected.get("rules")))
    if missing:
        new["rules"] = list(existing.get("rules") or []) + [r.to_json() for r in missing]
    want_agg = expected.get("aggregationRule")
    if isinstance(want_agg, dict):
        have_agg = existing.get("aggregationRule")
        have_selectors = list((have_agg or {}).get("clusterRoleSelectors") or []) \
            if isinstance(have_agg, dict) else []
        extra = [s for s in want_agg.get("clusterRoleSelectors") or []
                 if s not in have_selectors]
        if extra or not isinstance(have_agg, dict):
            new["aggregationRule"] = {"clusterRoleSelectors": have_selectors + extra}
    return None if new == existing else new


def reconcile_binding(existing: Obj, expected: Obj) -> Obj | None:
    """``existing`` with the expected labels, annotations and missing subjects, or None
    when nothing is missing (roleRef differences are handled by the caller)."""
    new: Obj = dict(existing)
    meta = dict(existing.get("metadata") or {})
    want = expected["metadata"]
    meta["labels"] = _merged(want.get("labels"), meta.get("labels"))
    meta["annotations"] = _merged(want.get("annotations"), meta.get("annotations"))
    new["metadata"] = meta
    have = list(existing.get("subjects") or [])
    extra = [s for s in expected.get("subjects") or [] if s not in have]
    if extra:
        new["subjects"] = have + extra
    return None if new == existing else new


def _protected(obj: Obj) -> bool:
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    return isinstance(annotations, dict) and annotations.get(AUTOUPDATE) == "false"


async def _reconcile_one(store: ResourceStore, expected: Obj, result: ReconcileResult,
                         is_binding: bool) -> None:
    name = expected["metadata"]["name"]
    try:
        current = (await store.get(None, name)).obj
    except StatusError as exc:
        if exc.code != 404:
            raise
        try:
            await store.create(None, expected)
            result.created.append(name)
        except StatusError as create_exc:
            if create_exc.code != 409:  # another server created it meanwhile
                raise
        return
    if _protected(current):
        result.protected.append(name)
        return
    if is_binding and current.get("roleRef") != expected.get("roleRef"):
        # roleRef is immutable: replace the binding, keeping the subjects users added.
        merged = reconcile_binding(current, expected) or current
        replacement = dict(expected)
        replacement["subjects"] = merged.get("subjects") or expected.get("subjects") or []
        replacement["metadata"] = {"name": name, "labels": merged["metadata"]["labels"],
                                   "annotations": merged["metadata"]["annotations"]}
        await store.delete(None, name)
        await store.create(None, replacement)
        result.recreated.append(name)
        return
    wanted = (reconcile_binding if is_binding else reconcile_role)(current, expected)
    if wanted is None:
        return

    def transform(obj: Obj | None) -> Obj:
        assert obj is not None
        fresh = (reconcile_binding if is_binding else reconcile_role)(obj, expected)
        return fresh if fresh is not None else obj

    await store.update(None, name, transform)
    result.updated.append(name)


async def reconcile(resources: Resources) -> ReconcileResult:
    """Create missing bootstrap ClusterRoles and ClusterRoleBindings and add what is
    missing to existing ones (see the module docstring)."""
    result = ReconcileResult()
    roles = resources.for_kind(RBAC_GROUP, "ClusterRole")
    bindings = resources.for_kind(RBAC_GROUP, "ClusterRoleBinding")
    if roles is None or bindings is None:
        raise RuntimeError("the rbac.authorization.k8s.io API is not served")
    for obj in cluster_roles():
        await _reconcile_one(roles, obj, result, False)
    for obj in cluster_role_bindings():
        await _reconcile_one(bindings, obj, result, True)
    if result.created or result.updated or result.recreated:
        log.info("RBAC bootstrap: created %d, updated %d, recreated %d objects",
                 len(result.created), len(result.updated), len(result.recreated))
    return result
