"""Upstream defaulting (``SetObjectDefaults_*``) for built-in kinds, over decoded JSON.

``defaulter_for(group, version, kind)`` returns a function that fills in, in place, every
field upstream defaults for that API version, or None when upstream defines none. The API
layer applies it to every object it decodes from a client (create and update). Upstream
also re-applies defaults whenever it decodes from storage, which is how status fields such
as a PersistentVolume's ``phase: Pending`` survive a strategy that resets status on create;
callers wanting the same effect run the defaulter again after ``prepare_for_create``.

Not defaulting, and therefore not here: the Namespace ``kubernetes`` finalizer and status
reset (strategy), Job selectors and controller-uid labels (strategy), Service cluster IPs,
``ipFamilies`` and node ports (allocators).
"""

from __future__ import annotations

from collections.abc import Callable

from kubesmith.api.defaults import core, others, workloads
from kubesmith.api.types import Obj

Defaulter = Callable[[Obj], None]

_DEFAULTERS: dict[tuple[str, str, str], Defaulter] = {
    ("", "v1", "Pod"): core.default_pod,
    ("", "v1", "PodTemplate"): core.default_pod_template_object,
    ("", "v1", "ReplicationController"): core.default_replication_controller,
    ("", "v1", "Service"): core.default_service,
    ("", "v1", "Endpoints"): core.default_endpoints,
    ("", "v1", "Namespace"): core.default_namespace,
    ("", "v1", "Secret"): core.default_secret,
    ("", "v1", "PersistentVolume"): core.default_persistent_volume,
    ("", "v1", "PersistentVolumeClaim"): core.default_persistent_volume_claim,
    ("", "v1", "Node"): core.default_node,
    ("", "v1", "LimitRange"): core.default_limit_range,
    ("", "v1", "ResourceQuota"): core.default_resource_quota,
    ("apps", "v1", "Deployment"): workloads.default_deployment,
    ("apps", "v1", "DaemonSet"): workloads.default_daemon_set,
    ("apps", "v1", "StatefulSet"): workloads.default_stateful_set,
    ("apps", "v1", "ReplicaSet"): workloads.default_replica_set,
    ("batch", "v1", "Job"): workloads.default_job,
    ("batch", "v1", "CronJob"): workloads.default_cron_job,
    ("networking.k8s.io", "v1", "NetworkPolicy"): others.default_network_policy,
    ("networking.k8s.io", "v1", "IngressClass"): others.default_ingress_class,
    ("storage.k8s.io", "v1", "StorageClass"): others.default_storage_class,
    ("storage.k8s.io", "v1", "CSIDriver"): others.default_csi_driver,
    ("rbac.authorization.k8s.io", "v1", "RoleBinding"): others.default_role_binding,
    ("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding"): others.default_role_binding,
    ("autoscaling", "v1", "HorizontalPodAutoscaler"): others.default_hpa_v1,
    ("autoscaling", "v2", "HorizontalPodAutoscaler"): others.default_hpa_v2,
    ("discovery.k8s.io", "v1", "EndpointSlice"): others.default_endpoint_slice,
    ("scheduling.k8s.io", "v1", "PriorityClass"): others.default_priority_class,
}


def defaulter_for(group: str, version: str, kind: str) -> Defaulter | None:
    """The in-place defaulter for ``group/version, Kind=kind`` (``""`` is the core group)."""
    return _DEFAULTERS.get((group, version, kind))


def apply_defaults(group: str, version: str, kind: str, obj: Obj) -> Obj:
    """Default ``obj`` in place (if the kind has a defaulter) and return it."""
    defaulter = defaulter_for(group, version, kind)
    if defaulter is not None:
        defaulter(obj)
    return obj


def defaulted_kinds() -> list[tuple[str, str, str]]:
    """Every ``(group, version, kind)`` that has a defaulter."""
    return sorted(_DEFAULTERS)


__all__ = ["Defaulter", "apply_defaults", "defaulted_kinds", "defaulter_for"]
