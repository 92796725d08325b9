"""Upstream validation for built-in kinds, over decoded (and defaulted) JSON.

``validator_for(group, kind)`` returns a :class:`KindValidator` whose methods return
``list[FieldError]`` with upstream's paths and wording; the API layer turns a non-empty list
into a 422 ``Invalid`` Status (:func:`kubesmith.api.errors.invalid_object`).

Semantics mirror upstream's strategies:

* ``validate(obj)`` — create. Run it after defaulting and after the strategy's
  ``prepare_for_create`` (name generation, Job selector generation, status reset).
* ``validate_update(new, old)`` — update. Complete on its own: it includes the metadata
  update rules, the immutable-field rules *and* the full validation of ``new``, exactly like
  upstream's ``ValidateXUpdate``. Do not add ``validate(new)`` to it, or errors repeat.
* ``validate_status_update(new, old)`` — writes through the ``/status`` subresource.

Kinds without a validator here (``validator_for`` returns None) still get what upstream's
generic store always applies: :func:`generic_validator` checks ObjectMeta with
path-segment names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubesmith.api.errors import FieldError
from kubesmith.api.types import Obj
from kubesmith.api.validation import apps, batch, core, networking, others, pod
from kubesmith.api.validation.meta import (
    validate_object_meta,
    validate_object_meta_update,
)
from kubesmith.api.validation.names import name_is_path_segment

Validate = Callable[[Any], list[FieldError]]
ValidateUpdate = Callable[[Any, Any], list[FieldError]]

DEFAULT_NODE_PORT_RANGE = core.DEFAULT_NODE_PORT_RANGE


def _metadata_only_update(new: Any, old: Any) -> list[FieldError]:
    return validate_object_meta_update(
        new.get("metadata") if isinstance(new, dict) else None,
        old.get("metadata") if isinstance(old, dict) else None)


@dataclass(frozen=True, slots=True)
class KindValidator:
    """The create, update and status-update validation of one kind."""

    group: str
    kind: str
    create: Validate
    update: ValidateUpdate
    status_update: ValidateUpdate = _metadata_only_update

    def validate(self, obj: Obj) -> list[FieldError]:
        """Errors for creating ``obj`` (empty when valid)."""
        return self.create(obj)

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        """Errors for replacing ``old`` with ``new`` (complete; see the module docstring)."""
        return self.update(new, old)

    def validate_status_update(self, new: Obj, old: Obj) -> list[FieldError]:
        """Errors for a write through the ``/status`` subresource."""
        return self.status_update(new, old)


def _is_hpa_v1(obj: Any) -> bool:
    return isinstance(obj, dict) and obj.get("apiVersion") == "autoscaling/v1"


def _hpa_create(obj: Any) -> list[FieldError]:
    return others.validate_hpa(obj, v1=_is_hpa_v1(obj))


def _hpa_update(new: Any, old: Any) -> list[FieldError]:
    return others.validate_hpa_update(new, old, v1=_is_hpa_v1(new))


def _events_create(obj: Any) -> list[FieldError]:
    return core.validate_event(obj, events_api=True)


def _events_update(new: Any, old: Any) -> list[FieldError]:
    return core.validate_event_update(new, old, events_api=True)


def _build(node_port_range: tuple[int, int]) -> dict[tuple[str, str], KindValidator]:
    def service_create(obj: Any) -> list[FieldError]:
        return core.validate_service(obj, node_port_range=node_port_range)

    def service_update(new: Any, old: Any) -> list[FieldError]:
        return core.validate_service_update(new, old, node_port_range=node_port_range)

    entries = [
        KindValidator("", "Namespace", core.validate_namespace, core.validate_namespace_update,
                      core.validate_namespace_status_update),
        KindValidator("", "Pod", pod.validate_pod, pod.validate_pod_update,
                      pod.validate_pod_status_update),
        KindValidator("", "PodTemplate", pod.validate_pod_template,
                      pod.validate_pod_template_update),
        KindValidator("", "Service", service_create, service_update,
                      core.validate_service_status_update),
        KindValidator("", "ConfigMap", core.validate_config_map, core.validate_config_map_update),
        KindValidator("", "Secret", core.validate_secret, core.validate_secret_update),
        KindValidator("", "ServiceAccount", core.validate_service_account,
                      core.validate_service_account_update),
        KindValidator("", "Endpoints", core.validate_endpoints, core.validate_endpoints_update),
        KindValidator("", "Node", core.validate_node, core.validate_node_update,
                      core.validate_node_update),
        KindValidator("", "Event", core.validate_event, core.validate_event_update),
        KindValidator("", "PersistentVolume", core.validate_persistent_volume,
                      core.validate_persistent_volume_update),
        KindValidator("", "PersistentVolumeClaim", core.validate_persistent_volume_claim,
                      core.validate_persistent_volume_claim_update),
        KindValidator("", "LimitRange", core.validate_limit_range,
                      core.validate_limit_range_update),
        KindValidator("", "ResourceQuota", core.validate_resource_quota,
                      core.validate_resource_quota_update,
                      core.validate_resource_quota_status_update),
        KindValidator("", "ReplicationController", core.validate_replication_controller,
                      core.validate_replication_controller_update,
                      core.validate_replication_controller_status_update),
        KindValidator("apps", "Deployment", apps.validate_deployment,
                      apps.validate_deployment_update, apps.validate_deployment_status_update),
        KindValidator("apps", "ReplicaSet", apps.validate_replica_set,
                      apps.validate_replica_set_update, apps.validate_replica_set_status_update),
        KindValidator("apps", "StatefulSet", apps.validate_stateful_set,
                      apps.validate_stateful_set_update,
                      apps.validate_stateful_set_status_update),
        KindValidator("apps", "DaemonSet", apps.validate_daemon_set,
                      apps.validate_daemon_set_update, apps.validate_daemon_set_status_update),
        KindValidator("apps", "ControllerRevision", apps.validate_controller_revision,
                      apps.validate_controller_revision_update),
        KindValidator("batch", "Job", batch.validate_job, batch.validate_job_update,
                      batch.validate_job_status_update),
        KindValidator("batch", "CronJob", batch.validate_cron_job, batch.validate_cron_job_update,
                      batch.validate_cron_job_status_update),
        KindValidator("networking.k8s.io", "Ingress", networking.validate_ingress,
                      networking.validate_ingress_update,
                      networking.validate_ingress_status_update),
        KindValidator("networking.k8s.io", "IngressClass", networking.validate_ingress_class,
                      networking.validate_ingress_class_update),
        KindValidator("networking.k8s.io", "NetworkPolicy", networking.validate_network_policy,
                      networking.validate_network_policy_update),
        KindValidator("storage.k8s.io", "StorageClass", others.validate_storage_class,
                      others.validate_storage_class_update),
        KindValidator("rbac.authorization.k8s.io", "Role", others.validate_role,
                      others.validate_role_update),
        KindValidator("rbac.authorization.k8s.io", "ClusterRole", others.validate_cluster_role,
                      others.validate_cluster_role_update),
        KindValidator("rbac.authorization.k8s.io", "RoleBinding", others.validate_role_binding,
                      others.validate_role_binding_update),
        KindValidator("rbac.authorization.k8s.io", "ClusterRoleBinding",
                      others.validate_cluster_role_binding,
                      others.validate_cluster_role_binding_update),
        KindValidator("autoscaling", "HorizontalPodAutoscaler", _hpa_create, _hpa_update,
                      others.validate_hpa_status_update),
        KindValidator("policy", "PodDisruptionBudget", others.validate_pod_disruption_budget,
                      others.validate_pod_disruption_budget_update,
                      others.validate_pod_disruption_budget_status_update),
        KindValidator("discovery.k8s.io", "EndpointSlice", others.validate_endpoint_slice,
                      others.validate_endpoint_slice_update),
        KindValidator("coordination.k8s.io", "Lease", others.validate_lease,
                      others.validate_lease_update),
        KindValidator("events.k8s.io", "Event", _events_create, _events_update),
    ]
    return {(entry.group, entry.kind): entry for entry in entries}


_DEFAULT_REGISTRY = _build(DEFAULT_NODE_PORT_RANGE)


def validator_for(group: str, kind: str, *,
                  node_port_range: tuple[int, int] = DEFAULT_NODE_PORT_RANGE
                  ) -> KindValidator | None:
    """The validator for ``kind`` in API group ``group`` (``""`` is core), or None.

    ``node_port_range`` is the cluster's ``--service-node-port-range``; Services asking for
    a NodePort outside it are rejected with the allocator's message.
    """
    if node_port_range == DEFAULT_NODE_PORT_RANGE:
        return _DEFAULT_REGISTRY.get((group, kind))
    return _build(node_port_range).get((group, kind))


def validated_kinds() -> list[tuple[str, str]]:
    """Every ``(group, kind)`` with a dedicated validator."""
    return sorted(_DEFAULT_REGISTRY)


def generic_validator(group: str, kind: str, *, namespaced: bool) -> KindValidator:
    """What upstream's generic store checks for any kind: ObjectMeta, path-segment names."""

    def create(obj: Any) -> list[FieldError]:
        meta = obj.get("metadata") if isinstance(obj, dict) else None
        return validate_object_meta(meta, namespaced=namespaced, name_rule=name_is_path_segment)

    return KindValidator(group, kind, create, _metadata_only_update)


__all__ = [
    "DEFAULT_NODE_PORT_RANGE",
    "KindValidator",
    "generic_validator",
    "validated_kinds",
    "validator_for",
]
