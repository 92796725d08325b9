"""Defaults for the core (``v1``) kinds, mirroring ``pkg/apis/core/v1/defaults.go``.

Both the hand-written ``SetDefaults_*`` functions and the declarative ``+default=`` markers
(which upstream's defaulter-gen turns into ``zz_generated.defaults.go``) are covered, in the
order upstream applies them. A Pod gets more than a pod *template*: requests copied from
limits, ``enableServiceLinks`` and host-network ports are ``SetDefaults_Pod`` only, while
everything else comes from ``SetDefaults_PodSpec`` and the per-field defaulters shared with
templates.
"""

from __future__ import annotations

import base64
from typing import Any

from kubesmith.api.defaults._util import (
    Obj,
    canonical_quantity,
    child,
    children,
    default_int0,
    default_ptr,
    default_str,
    pull_policy_for,
    round_resource_list,
)
from kubesmith.api.validation.quantity import QuantityError, parse_quantity
from kubesmith.api.validation.resources import (
    aggregate_container_limits,
    aggregate_container_requests,
    all_containers_have_limit,
    is_hugepage,
    is_overcommit_allowed,
    is_supported_pod_level_resource,
)

# Volume sources (json keys) — a volume with none of them gets ``emptyDir: {}``.
VOLUME_SOURCES = (
    "hostPath", "emptyDir", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "secret",
    "nfs", "iscsi", "glusterfs", "persistentVolumeClaim", "rbd", "flexVolume", "cinder",
    "cephfs", "flocker", "downwardAPI", "fc", "azureFile", "configMap", "vsphereVolume",
    "quobyte", "azureDisk", "photonPersistentDisk", "projected", "portworxVolume", "scaleIO",
    "storageos", "csi", "ephemeral", "image",
)
DEFAULT_MODE = 0o644  # 420: Secret, ConfigMap, DownwardAPI and projected volumes
DEFAULT_TERMINATION_GRACE_PERIOD = 30
DEFAULT_CLIENT_IP_AFFINITY_SECONDS = 10800
METADATA_NAME_LABEL = "kubernetes.io/metadata.name"


# ---------------------------------------------------------------------------- pod specs


def _default_rbd(src: Obj) -> None:
    default_str(src, "pool", "rbd")
    default_str(src, "user", "admin")
    default_str(src, "keyring", "/etc/ceph/keyring")


def _default_azure_disk(src: Obj) -> None:
    default_ptr(src, "cachingMode", "ReadWrite")
    default_ptr(src, "fsType", "ext4")
    default_ptr(src, "readOnly", False)
    default_ptr(src, "kind", "Shared")


def _default_scale_io(src: Obj) -> None:
    default_str(src, "storageMode", "ThinProvisioned")
    default_str(src, "fsType", "xfs")


def _default_field_ref(item: Obj) -> None:
    ref = child(item, "fieldRef")
    if ref is not None:
        default_str(ref, "apiVersion", "v1")


def default_pvc_spec(spec: Obj) -> None:
    """``SetDefaults_PersistentVolumeClaimSpec`` plus resource rounding."""
    default_ptr(spec, "volumeMode", "Filesystem")
    resources = child(spec, "resources")
    round_resource_list(resources, "limits")
    round_resource_list(resources, "requests")


def _default_volume(volume: Obj) -> None:
    if not any(volume.get(key) is not None for key in VOLUME_SOURCES):
        volume["emptyDir"] = {}
    if (src := child(volume, "image")) is not None and src.get("pullPolicy") in (None, ""):
        src["pullPolicy"] = pull_policy_for(src.get("reference") or "")
    if (src := child(volume, "hostPath")) is not None:
        default_ptr(src, "type", "")
    if (src := child(volume, "secret")) is not None:
        default_ptr(src, "defaultMode", DEFAULT_MODE)
    if (src := child(volume, "iscsi")) is not None:
        default_str(src, "iscsiInterface", "default")
    if (src := child(volume, "rbd")) is not None:
        _default_rbd(src)
    if (src := child(volume, "downwardAPI")) is not None:
        default_ptr(src, "defaultMode", DEFAULT_MODE)
        for item in children(src, "items"):
            _default_field_ref(item)
    if (src := child(volume, "configMap")) is not None:
        default_ptr(src, "defaultMode", DEFAULT_MODE)
    if (src := child(volume, "azureDisk")) is not None:
        _default_azure_disk(src)
    if (src := child(volume, "projected")) is not None:
        default_ptr(src, "defaultMode", DEFAULT_MODE)
        for source in children(src, "sources"):
            if (api := child(source, "downwardAPI")) is not None:
                for item in children(api, "items"):
                    _default_field_ref(item)
            if (token := child(source, "serviceAccountToken")) is not None:
                default_ptr(token, "expirationSeconds", 3600)
    if (src := child(volume, "scaleIO")) is not None:
        _default_scale_io(src)
    if (src := child(volume, "emptyDir")) is not None:
        canonical_quantity(src, "sizeLimit")
    if (src := child(volume, "ephemeral")) is not None:
        template = child(src, "volumeClaimTemplate")
        if template is not None and (spec := child(template, "spec")) is not None:
            default_pvc_spec(spec)


def _default_handler(handler: Obj | None, *, probe: bool) -> None:
    if handler is None:
        return
    if (http := child(handler, "httpGet")) is not None:
        default_str(http, "path", "/")
        default_str(http, "scheme", "HTTP")
    if probe and (grpc := child(handler, "grpc")) is not None:
        default_ptr(grpc, "service", "")


def _default_container(container: Obj) -> None:
    if container.get("imagePullPolicy") in (None, ""):
        image = container.get("image")
        container["imagePullPolicy"] = pull_policy_for(image if isinstance(image, str) else "")
    default_str(container, "terminationMessagePath", "/dev/termination-log")
    default_str(container, "terminationMessagePolicy", "File")
    for port in children(container, "ports"):
        default_str(port, "protocol", "TCP")
    for var in children(container, "env"):
        source = child(var, "valueFrom")
        if source is None:
            continue
        _default_field_ref(source)
        if (file_ref := child(source, "fileKeyRef")) is not None:
            default_ptr(file_ref, "optional", False)
        if (resource_ref := child(source, "resourceFieldRef")) is not None:
            canonical_quantity(resource_ref, "divisor")
    resources = child(container, "resources")
    round_resource_list(resources, "limits")
    round_resource_list(resources, "requests")
    for key in ("livenessProbe", "readinessProbe", "startupProbe"):
        probe = child(container, key)
        if probe is None:
            continue
        default_int0(probe, "timeoutSeconds", 1)
        default_int0(probe, "periodSeconds", 10)
        default_int0(probe, "successThreshold", 1)
        default_int0(probe, "failureThreshold", 3)
        _default_handler(probe, probe=True)
    lifecycle = child(container, "lifecycle")
    if lifecycle is not None:
        _default_handler(child(lifecycle, "postStart"), probe=False)
        _default_handler(child(lifecycle, "preStop"), probe=False)


def default_pod_spec(spec: Obj) -> None:
    """Defaults shared by Pods and every pod template (``SetDefaults_PodSpec`` & co)."""
    default_str(spec, "dnsPolicy", "ClusterFirst")
    default_str(spec, "restartPolicy", "Always")
    default_ptr(spec, "securityContext", {})
    default_ptr(spec, "terminationGracePeriodSeconds", DEFAULT_TERMINATION_GRACE_PERIOD)
    default_str(spec, "schedulerName", "default-scheduler")
    for volume in children(spec, "volumes"):
        _default_volume(volume)
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for container in children(spec, key):
            _default_container(container)
    round_resource_list(spec, "overhead")
    resources = child(spec, "resources")
    round_resource_list(resources, "limits")
    round_resource_list(resources, "requests")


def default_pod_template(template: Any) -> None:
    """A ``PodTemplateSpec`` inside a workload (``spec.template``)."""
    if isinstance(template, dict) and (spec := child(template, "spec")) is not None:
        default_pod_spec(spec)


def _requests_from_limits(container: Obj) -> None:
    resources = child(container, "resources")
    if resources is None:
        return
    limits = resources.get("limits")
    if not isinstance(limits, dict) or not limits:
        return
    requests = child(resources, "requests", create=True)
    if requests is None:
        return
    for name, value in limits.items():
        requests.setdefault(name, value)


def _map_or_empty(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def _pod_level_resources(spec: Obj) -> None:
    """Upstream's pod-level resource defaults (PodLevelResources, on by default)."""
    resources = child(spec, "resources")
    if resources is None:
        return
    limits = _map_or_empty(resources.get("limits"))
    requests = _map_or_empty(resources.get("requests"))
    # Hugepage limits default to the containers' total when only part of the pod-level
    # resources is given.
    if limits or requests:
        for name, total in sorted(aggregate_container_limits(spec).items()):
            if is_hugepage(name) and name not in requests and name not in limits:
                limits[name] = str(total)
        if limits:
            resources["limits"] = limits
    # Requests default to what the containers request, else to the pod-level limits.
    if limits:
        for name, total in sorted(aggregate_container_requests(spec).items()):
            if name not in requests and is_supported_pod_level_resource(name) \
                    and is_overcommit_allowed(name):
                requests[name] = str(total)
        for name, value in limits.items():
            if name not in requests and is_supported_pod_level_resource(name):
                requests[name] = value
        if requests:
            resources["requests"] = requests
    # Limits default to the containers' total when every container has one.
    has_limits = any(is_supported_pod_level_resource(name) for name in limits)
    has_requests = any(is_supported_pod_level_resource(name) for name in requests)
    if not has_limits and has_requests:
        for name, total in sorted(aggregate_container_limits(spec).items()):
            if name in limits or not is_supported_pod_level_resource(name):
                continue
            if is_overcommit_allowed(name) and all_containers_have_limit(spec, name):
                limits[name] = str(total)
        if limits:
            resources["limits"] = limits


def default_pod(pod: Obj) -> None:
    """``SetObjectDefaults_Pod``."""
    spec = child(pod, "spec", create=True)
    if spec is None:
        return
    for key in ("containers", "initContainers"):
        for container in children(spec, key):
            _requests_from_limits(container)
    _pod_level_resources(spec)
    default_ptr(spec, "enableServiceLinks", True)
    if spec.get("hostNetwork") is True:
        for key in ("containers", "initContainers"):
            for container in children(spec, key):
                for port in children(container, "ports"):
                    if port.get("hostPort") in (None, 0):
                        port["hostPort"] = port.get("containerPort", 0)
    default_pod_spec(spec)


def default_pod_template_object(obj: Obj) -> None:
    """The PodTemplate kind."""
    default_pod_template(obj.get("template"))


def default_replication_controller(obj: Obj) -> None:
    """``SetDefaults_ReplicationController`` plus ``replicas: 1``."""
    spec = child(obj, "spec", create=True)
    if spec is None:
        return
    template = child(spec, "template")
    labels = None
    if template is not None:
        labels = (child(template, "metadata") or {}).get("labels")
    if isinstance(labels, dict) and labels:
        if not spec.get("selector"):
            spec["selector"] = dict(labels)
        metadata = child(obj, "metadata", create=True)
        if metadata is not None and not metadata.get("labels"):
            metadata["labels"] = dict(labels)
    default_ptr(spec, "replicas", 1)
    default_pod_template(template)


# ---------------------------------------------------------------------------- services


def _externally_accessible(spec: Obj) -> bool:
    kind = spec.get("type")
    return kind in ("LoadBalancer", "NodePort") or (kind == "ClusterIP"
                                                     and bool(spec.get("externalIPs")))


def default_service(obj: Obj) -> None:
    """``SetDefaults_Service`` plus the ipFamilyPolicy the service registry fills in."""
    spec = child(obj, "spec", create=True)
    if spec is None:
        return
    default_str(spec, "sessionAffinity", "None")
    if spec.get("sessionAffinity") == "None":
        spec.pop("sessionAffinityConfig", None)
    if spec.get("sessionAffinity") == "ClientIP":
        config = spec.get("sessionAffinityConfig")
        client_ip = config.get("clientIP") if isinstance(config, dict) else None
        if not isinstance(client_ip, dict) or client_ip.get("timeoutSeconds") is None:
            spec["sessionAffinityConfig"] = {
                "clientIP": {"timeoutSeconds": DEFAULT_CLIENT_IP_AFFINITY_SECONDS}}
    default_str(spec, "type", "ClusterIP")
    for port in children(spec, "ports"):
        default_str(port, "protocol", "TCP")
        if port.get("targetPort") in (None, 0, ""):
            port["targetPort"] = port.get("port", 0)
    if _externally_accessible(spec):
        default_str(spec, "externalTrafficPolicy", "Cluster")
    if spec.get("type") in ("NodePort", "LoadBalancer", "ClusterIP"):
        default_ptr(spec, "internalTrafficPolicy", "Cluster")
    if spec.get("type") == "LoadBalancer":
        default_ptr(spec, "allocateLoadBalancerNodePorts", True)
        status = child(obj, "status")
        balancer = child(status, "loadBalancer") if status is not None else None
        for ingress in children(balancer, "ingress") if balancer is not None else []:
            if ingress.get("ip") and ingress.get("ipMode") is None:
                ingress["ipMode"] = "VIP"
    normalize_cluster_ips(spec)
    default_service_ip_family_policy(spec)


def normalize_cluster_ips(spec: Obj) -> None:
    """Fill ``clusterIPs`` from the singular ``clusterIP`` (upstream ``NormalizeClusterIPs``).

    Old clients (and ``kubectl create service --clusterip=None``) send only ``clusterIP``;
    upstream's service strategy then initialises the plural field before validation.
    """
    cluster_ip = spec.get("clusterIP")
    if isinstance(cluster_ip, str) and cluster_ip and not spec.get("clusterIPs"):
        spec["clusterIPs"] = [cluster_ip]


def default_service_ip_family_policy(spec: Obj) -> None:
    """The ``ipFamilyPolicy`` upstream's service REST storage fills in.

    ExternalName services carry no IP family fields; a selector-less headless service asks
    for both families (``RequireDualStack``); anything else is ``SingleStack``. The family
    list itself (``ipFamilies``) belongs to the ClusterIP allocator.
    """
    if spec.get("type") == "ExternalName":
        spec.pop("ipFamilyPolicy", None)
        spec.pop("ipFamilies", None)
        return
    if spec.get("clusterIP") == "None" and not spec.get("selector"):
        if spec.get("ipFamilyPolicy") is None and not spec.get("ipFamilies"):
            spec["ipFamilyPolicy"] = "RequireDualStack"
        return
    default_ptr(spec, "ipFamilyPolicy", "SingleStack")


def default_endpoints(obj: Obj) -> None:
    """Endpoint ports default to TCP."""
    for subset in children(obj, "subsets"):
        for port in children(subset, "ports"):
            default_str(port, "protocol", "TCP")


# ---------------------------------------------------------------------------- others


def default_namespace(obj: Obj) -> None:
    """The ``kubernetes.io/metadata.name`` label and ``status.phase: Active``."""
    metadata = child(obj, "metadata", create=True)
    if metadata is None:
        return
    name = metadata.get("name")
    if isinstance(name, str) and name:
        labels = child(metadata, "labels", create=True)
        if labels is not None:
            labels[METADATA_NAME_LABEL] = name
    status = child(obj, "status", create=True)
    if status is not None:
        default_str(status, "phase", "Active")


def default_secret(obj: Obj) -> None:
    """``type: Opaque``; ``stringData`` folded into ``data`` as upstream's decoding does.

    Upstream never stores ``stringData``: converting a v1 Secret to the internal type
    base64-encodes each entry over ``data`` (stringData wins on conflicts).
    """
    default_str(obj, "type", "Opaque")
    string_data = obj.get("stringData")
    if isinstance(string_data, dict):
        data = child(obj, "data", create=True)
        if data is not None:
            for key, value in string_data.items():
                if isinstance(value, str):
                    data[key] = base64.b64encode(value.encode()).decode()
            obj.pop("stringData", None)
            if not data:
                obj.pop("data", None)


def default_persistent_volume(obj: Obj) -> None:
    """PV: Pending phase, Retain policy, Filesystem mode, source defaults."""
    status = child(obj, "status", create=True)
    if status is not None:
        default_str(status, "phase", "Pending")
    spec = child(obj, "spec", create=True)
    if spec is None:
        return
    default_str(spec, "persistentVolumeReclaimPolicy", "Retain")
    default_ptr(spec, "volumeMode", "Filesystem")
    round_resource_list(spec, "capacity")
    if (src := child(spec, "hostPath")) is not None:
        default_ptr(src, "type", "")
    if (src := child(spec, "rbd")) is not None:
        _default_rbd(src)
    if (src := child(spec, "iscsi")) is not None:
        default_str(src, "iscsiInterface", "default")
    if (src := child(spec, "azureDisk")) is not None:
        _default_azure_disk(src)
    if (src := child(spec, "scaleIO")) is not None:
        _default_scale_io(src)


def default_persistent_volume_claim(obj: Obj) -> None:
    """PVC: Pending phase, Filesystem mode, rounded quantities."""
    status = child(obj, "status", create=True)
    if status is not None:
        default_str(status, "phase", "Pending")
        round_resource_list(status, "capacity")
        round_resource_list(status, "allocatedResources")
    spec = child(obj, "spec", create=True)
    if spec is None:
        return
    default_pvc_spec(spec)


def default_node(obj: Obj) -> None:
    """``allocatable`` defaults to ``capacity``; quantities rounded."""
    status = child(obj, "status")
    if status is None:
        return
    if status.get("allocatable") is None and isinstance(status.get("capacity"), dict):
        status["allocatable"] = dict(status["capacity"])
    round_resource_list(status, "capacity")
    round_resource_list(status, "allocatable")


def _copy_missing(target: Obj, source: Any) -> None:
    if isinstance(source, dict):
        for name, value in source.items():
            target.setdefault(name, value)


def default_limit_range(obj: Obj) -> None:
    """Container limits: default from max, defaultRequest from default then min."""
    spec = child(obj, "spec")
    if spec is None:
        return
    for item in children(spec, "limits"):
        if item.get("type") == "Container":
            default = _map_or_empty(item.get("default"))
            request = _map_or_empty(item.get("defaultRequest"))
            _copy_missing(default, item.get("max"))
            _copy_missing(request, default)
            _copy_missing(request, item.get("min"))
            # Empty maps vanish on the wire (omitempty), so only keep non-empty ones.
            if default:
                item["default"] = default
            if request:
                item["defaultRequest"] = request
        for key in ("max", "min", "default", "defaultRequest", "maxLimitRequestRatio"):
            round_resource_list(item, key)


def default_resource_quota(obj: Obj) -> None:
    """Quota amounts are rounded to milli precision."""
    round_resource_list(child(obj, "spec"), "hard")
    status = child(obj, "status")
    round_resource_list(status, "hard")
    round_resource_list(status, "used")


def quantity_string(value: Any) -> str | None:
    """Canonical spelling of a quantity, or None when it does not parse."""
    try:
        return str(parse_quantity(value))
    except QuantityError:
        return None
