"""Validation of the core (``v1``) kinds other than Pod.

Namespace, Service, ConfigMap, Secret, ServiceAccount, Endpoints, Node, Event (core and
``events.k8s.io``), PersistentVolume, PersistentVolumeClaim, LimitRange, ResourceQuota and
ReplicationController — ported from ``pkg/apis/core/validation`` (and ``events.go``).
Every ``validate_<kind>_update`` is complete on its own (metadata rules, immutable fields
and the full validation of the new object), as upstream's ``ValidateXUpdate`` are.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import posixpath
from typing import Any

from kubesmith.api.errors import (
    FieldError,
    duplicate,
    field_forbidden,
    invalid,
    not_supported,
    required,
    too_long,
)
from kubesmith.api.validation._fields import (
    FIELD_IMMUTABLE,
    as_map,
    get_int,
    get_int0,
    get_list,
    get_map,
    get_maps,
    get_str,
    get_strs,
    has,
    immutable,
    invalid_each,
    key_path,
    nonnegative,
    quantity,
    str_map,
)
from kubesmith.api.validation.meta import (
    validate_finalizer_name,
    validate_kube_finalizer_name,
    validate_label_name,
    validate_labels,
    validate_meta_and_spec,
    validate_meta_and_spec_update,
    validate_object_meta,
    validate_object_meta_update,
)
from kubesmith.api.validation.names import (
    is_config_map_key,
    is_dns1123_label,
    is_dns1123_subdomain,
    is_label_value,
    is_qualified_name,
    is_valid_port_num,
    name_is_dns1035_label,
    name_is_dns_label,
    name_is_dns_subdomain,
)
from kubesmith.api.validation.netutil import (
    is_dual_stack,
    is_ipv6,
    parse_cidr_sloppy,
    parse_ip_sloppy,
    validate_cidr,
    validate_ip,
)
from kubesmith.api.validation.pod import (
    TAINT_EFFECTS,
    VOLUME_SOURCE_CHECKS,
    iscsi_name_error,
    template_labels_match,
    validate_access_modes,
    validate_csi_driver_name,
    validate_node_selector,
    validate_path_no_backsteps,
    validate_pod_template_spec,
    validate_port_num_or_name,
    validate_pvc_spec,
)
from kubesmith.api.validation.quantity import Quantity
from kubesmith.api.validation.resources import (
    is_overcommit_allowed,
    is_resource_quota_scope_valid,
    is_standard_quota_resource,
    parse_resource_list,
    validate_container_resource_name,
    validate_positive_quantity,
    validate_quota_resource_name,
    validate_resource_name,
    validate_resource_quantity_value,
)

MAX_SECRET_SIZE = 1024 * 1024
DEFAULT_NODE_PORT_RANGE = (30000, 32767)
MAX_CLIENT_IP_AFFINITY_SECONDS = 86400
IMMUTABLE_SET = "field is immutable when `immutable` is set"
SERVICE_TYPES = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]
PROTOCOLS = ["SCTP", "TCP", "UDP"]
_REDACTED = "<secret contents redacted>"


# ---------------------------------------------------------------------------- Namespace


def validate_namespace(obj: Any) -> list[FieldError]:
    """Name is a DNS label; spec finalizers are qualified (or standard) names."""
    obj = as_map(obj)
    errs = validate_object_meta(get_map(obj, "metadata"), namespaced=False,
                                name_rule=name_is_dns_label)
    for name in get_strs(get_map(obj, "spec"), "finalizers"):
        errs += validate_finalizer_name(name, "spec.finalizers")
        errs += validate_kube_finalizer_name(name, "spec.finalizers")
    return errs


def validate_namespace_update(new: Any, old: Any) -> list[FieldError]:
    """Only metadata rules apply (spec finalizers change through /finalize)."""
    return validate_object_meta_update(get_map(new, "metadata"), get_map(old, "metadata"))


def validate_namespace_status_update(new: Any, old: Any) -> list[FieldError]:
    """The phase must agree with ``deletionTimestamp``."""
    errs = validate_object_meta_update(get_map(new, "metadata"), get_map(old, "metadata"))
    phase = get_str(get_map(new, "status"), "phase")
    if not has(get_map(new, "metadata"), "deletionTimestamp"):
        if phase != "Active":
            errs.append(invalid("status.Phase", phase,
                                "may only be 'Active' if `deletionTimestamp` is empty"))
    elif phase != "Terminating":
        errs.append(invalid("status.Phase", phase,
                            "may only be 'Terminating' if `deletionTimestamp` is not empty"))
    return errs


def validate_namespace_finalize_update(new: Any, old: Any) -> list[FieldError]:
    """The ``/finalize`` subresource: finalizer names only."""
    errs = validate_object_meta_update(get_map(new, "metadata"), get_map(old, "metadata"))
    for i, name in enumerate(get_strs(get_map(new, "spec"), "finalizers")):
        errs += validate_finalizer_name(name, f"spec.finalizers[{i}]")
        errs += validate_kube_finalizer_name(name, f"spec.finalizers[{i}]")
    return errs


# ---------------------------------------------------------------------------- Service


def _is_headless(spec: dict[str, Any]) -> bool:
    ips = get_strs(spec, "clusterIPs")
    return len(ips) == 1 and ips[0] == "None"


def _externally_accessible(spec: dict[str, Any]) -> bool:
    kind = get_str(spec, "type")
    return kind in ("LoadBalancer", "NodePort") or (kind == "ClusterIP"
                                                     and bool(get_list(spec, "externalIPs")))


def _needs_health_check(spec: dict[str, Any]) -> bool:
    return get_str(spec, "type") == "LoadBalancer" and \
        get_str(spec, "externalTrafficPolicy") == "Local"


def validate_endpoint_ip(ip: str, path: str) -> list[FieldError]:
    """An endpoint (or external) IP may not be unspecified, loopback or link-local."""
    parsed = parse_ip_sloppy(ip)
    if parsed is None:
        return [invalid(path, ip, "must be a valid IP address")]
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        parsed = parsed.ipv4_mapped
    errs: list[FieldError] = []
    if parsed.is_unspecified:
        errs.append(invalid(path, ip, f"may not be unspecified ({ip})"))
    if parsed.is_loopback:
        errs.append(invalid(path, ip, "may not be in the loopback range (127.0.0.0/8, ::1/128)"))
    if parsed in ipaddress.ip_network("169.254.0.0/16") or parsed in ipaddress.ip_network(
            "fe80::/10"):
        errs.append(invalid(path, ip,
                            "may not be in the link-local range (169.254.0.0/16, fe80::/10)"))
    if parsed in ipaddress.ip_network("224.0.0.0/24") or parsed in ipaddress.ip_network(
            "ff02::/16"):
        errs.append(invalid(path, ip, "may not be in the link-local multicast range "
                                      "(224.0.0.0/24, ff02::/10)"))
    return errs


def _service_port(port: dict[str, Any], require_name: bool, names: set[str],
                  path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    name = get_str(port, "name")
    if require_name and not name:
        errs.append(required(f"{path}.name", ""))
    elif name:
        errs += invalid_each(f"{path}.name", name, is_dns1123_label(name))
        if name in names:
            errs.append(duplicate(f"{path}.name", name))
        else:
            names.add(name)
    number = get_int0(port, "port")
    errs += invalid_each(f"{path}.port", number, is_valid_port_num(number))
    protocol = get_str(port, "protocol")
    if not protocol:
        errs.append(required(f"{path}.protocol", ""))
    elif protocol not in PROTOCOLS:
        errs.append(not_supported(f"{path}.protocol", protocol, PROTOCOLS))
    errs += validate_port_num_or_name(port.get("targetPort"), f"{path}.targetPort")
    if has(port, "appProtocol"):
        app = get_str(port, "appProtocol")
        errs += invalid_each(f"{path}.appProtocol", app, is_qualified_name(app))
    return errs


def _cluster_ips_related(spec: dict[str, Any], old_spec: dict[str, Any] | None
                         ) -> list[FieldError]:
    if get_str(spec, "type") == "ExternalName":
        return []
    errs: list[FieldError] = []
    cluster_ip = get_str(spec, "clusterIP")
    cluster_ips = get_strs(spec, "clusterIPs")
    if cluster_ip:
        if not cluster_ips:
            errs.append(required("spec.clusterIPs", ""))
        elif cluster_ips[0] != cluster_ip:
            errs.append(invalid("spec.clusterIPs", cluster_ips,
                                "first value must match `clusterIP`"))
    elif cluster_ips:
        errs.append(invalid("spec.clusterIPs", cluster_ips,
                            "must be empty when `clusterIP` is not specified"))
    seen: set[str] = set()
    for i, family in enumerate(get_list(spec, "ipFamilies")):
        if family not in ("IPv4", "IPv6"):
            errs.append(not_supported(f"spec.ipFamilies[{i}]", family, ["IPv4", "IPv6"]))
        if family in seen:
            errs.append(duplicate(f"spec.ipFamilies[{i}]", family))
        seen.add(family)
    policy = spec.get("ipFamilyPolicy")
    if policy is not None and policy not in ("PreferDualStack", "RequireDualStack",
                                             "SingleStack"):
        errs.append(not_supported("spec.ipFamilyPolicy", policy,
                                  ["PreferDualStack", "RequireDualStack", "SingleStack"]))
    existing = get_strs(old_spec, "clusterIPs") if old_spec is not None else []
    bad_ips = False
    for i, ip in enumerate(cluster_ips):
        if i == 0 and ip == "None":
            if len(cluster_ips) > 1:
                bad_ips = True
                errs.append(invalid("spec.clusterIPs", cluster_ips,
                                    "'None' must be the first and only value"))
            continue
        ip_errs = validate_ip(f"spec.clusterIPs[{i}]", ip, existing)
        bad_ips = bad_ips or bool(ip_errs)
        errs += ip_errs
    if len(cluster_ips) > 2:
        errs.append(invalid("spec.clusterIPs", cluster_ips, "may only hold up to 2 values"))
    if bad_ips:
        return errs
    if len(cluster_ips) > 1 and not is_dual_stack(cluster_ips):
        errs.append(invalid("spec.clusterIPs", cluster_ips,
                            "may specify no more than one IP for each IP family"))
    families = get_list(spec, "ipFamilies")
    if not _is_headless(spec) and cluster_ips and families:
        for i, ip in enumerate(cluster_ips[:len(families)]):
            if families[i] == "IPv4" and is_ipv6(ip):
                errs.append(invalid(f"spec.clusterIPs[{i}]", ip,
                                    f"expected an IPv4 value as indicated by `ipFamilies[{i}]`"))
            if families[i] == "IPv6" and not is_ipv6(ip):
                errs.append(invalid(f"spec.clusterIPs[{i}]", ip,
                                    f"expected an IPv6 value as indicated by `ipFamilies[{i}]`"))
    return errs


def _validate_service(obj: dict[str, Any], old: dict[str, Any] | None,
                      node_port_range: tuple[int, int]) -> list[FieldError]:
    spec = get_map(obj, "spec")
    old_spec = get_map(old, "spec") if old is not None else None
    annotations = str_map(get_map(obj, "metadata").get("annotations"))
    errs: list[FieldError] = []
    hints_key = "service.kubernetes.io/topology-aware-hints"
    mode_key = "service.kubernetes.io/topology-mode"
    if hints_key in annotations and mode_key in annotations \
            and annotations[hints_key] != annotations[mode_key]:
        errs.append(invalid(key_path("metadata.annotations", mode_key), annotations[mode_key],
                            f"must match annotations[{hints_key}] when both are specified"))
    kind = get_str(spec, "type")
    headless = _is_headless(spec)
    ports = get_maps(spec, "ports")
    if not ports and not headless and kind != "ExternalName":
        errs.append(required("spec.ports", ""))
    if kind in ("LoadBalancer", "NodePort") and headless:
        errs.append(invalid("spec.clusterIPs[0]", "None",
                            f"may not be set to 'None' for {kind} services"))
    elif kind == "ExternalName":
        if get_list(spec, "clusterIPs"):
            errs.append(field_forbidden("spec.clusterIPs",
                                        "may not be set for ExternalName services"))
        if get_list(spec, "ipFamilies"):
            errs.append(field_forbidden("spec.ipFamilies",
                                        "may not be set for ExternalName services"))
        if has(spec, "ipFamilyPolicy"):
            errs.append(field_forbidden("spec.ipFamilyPolicy",
                                        "may not be set for ExternalName services"))
        cname = get_str(spec, "externalName").removesuffix(".")
        if cname:
            errs += invalid_each("spec.externalName", cname, is_dns1123_subdomain(cname))
        else:
            errs.append(required("spec.externalName", ""))
    names: set[str] = set()
    for i, port in enumerate(ports):
        errs += _service_port(port, len(ports) > 1, names, f"spec.ports[{i}]")
    if has(spec, "selector"):
        errs += validate_labels(spec.get("selector"), "spec.selector")
    affinity = get_str(spec, "sessionAffinity")
    if not affinity:
        errs.append(required("spec.sessionAffinity", ""))
    elif affinity not in ("ClientIP", "None"):
        errs.append(not_supported("spec.sessionAffinity", affinity, ["ClientIP", "None"]))
    if affinity == "ClientIP":
        errs += _client_ip_affinity(spec.get("sessionAffinityConfig"))
    elif affinity == "None" and has(spec, "sessionAffinityConfig"):
        errs.append(field_forbidden("spec.sessionAffinityConfig",
                                    "must not be set when session affinity is None"))
    errs += _cluster_ips_related(spec, old_spec)
    existing_external = get_strs(old_spec, "externalIPs") if old_spec is not None else []
    for i, ip in enumerate(get_strs(spec, "externalIPs")):
        ip_errs = validate_ip(f"spec.externalIPs[{i}]", ip, existing_external)
        errs += ip_errs or validate_endpoint_ip(ip, f"spec.externalIPs[{i}]")
    if not kind:
        errs.append(required("spec.type", ""))
    elif kind not in SERVICE_TYPES:
        errs.append(not_supported("spec.type", kind, SERVICE_TYPES))
    if kind == "ClusterIP":
        for i, port in enumerate(ports):
            if get_int0(port, "nodePort") != 0:
                errs.append(field_forbidden(f"spec.ports[{i}].nodePort",
                                            "may not be used when `type` is 'ClusterIP'"))
    seen_node_ports: set[tuple[str, int]] = set()
    for i, port in enumerate(ports):
        node_port = get_int0(port, "nodePort")
        if node_port == 0:
            continue
        key = (get_str(port, "protocol"), node_port)
        if key in seen_node_ports:
            errs.append(duplicate(f"spec.ports[{i}].nodePort", node_port))
        seen_node_ports.add(key)
    seen_ports: set[tuple[str, int]] = set()
    for i, port in enumerate(ports):
        pair = (get_str(port, "protocol"), get_int0(port, "port"))
        if pair in seen_ports:
            errs.append(duplicate(f"spec.ports[{i}]", {"port": pair[1], "protocol": pair[0]}))
        seen_ports.add(pair)
    errs += _source_ranges(obj, old, spec, kind)
    if has(spec, "allocateLoadBalancerNodePorts") and kind != "LoadBalancer":
        errs.append(field_forbidden("spec.allocateLoadBalancerNodePorts",
                                    "may only be used when `type` is 'LoadBalancer'"))
    if kind == "LoadBalancer" and not has(spec, "allocateLoadBalancerNodePorts"):
        errs.append(required("allocateLoadBalancerNodePorts", ""))
    errs += _load_balancer_class(old_spec, spec)
    errs += _external_traffic_policy(spec)
    internal_policy = spec.get("internalTrafficPolicy")
    if internal_policy is None and kind in ("NodePort", "LoadBalancer", "ClusterIP"):
        errs.append(required("spec.internalTrafficPolicy", ""))
    if internal_policy is not None and internal_policy not in ("Cluster", "Local"):
        errs.append(not_supported("spec.internalTrafficPolicy", internal_policy,
                                  ["Cluster", "Local"]))
    if has(spec, "trafficDistribution"):
        distribution = spec.get("trafficDistribution")
        allowed = ["PreferClose", "PreferSameZone", "PreferSameNode"]
        if distribution not in allowed:
            errs.append(not_supported("spec.trafficDistribution", distribution, allowed))
    errs += _node_port_range(ports, node_port_range)
    return errs


def _node_port_range(ports: list[dict[str, Any]], bounds: tuple[int, int]) -> list[FieldError]:
    # The NodePort allocator rejects ports outside its range with this wording.
    low, high = bounds
    errs: list[FieldError] = []
    for i, port in enumerate(ports):
        node_port = get_int0(port, "nodePort")
        if node_port and not low <= node_port <= high:
            errs.append(invalid(f"spec.ports[{i}].nodePort", node_port,
                                "provided port is not in the valid range. The range of valid "
                                f"ports is {low}-{high}"))
    return errs


def _client_ip_affinity(config: Any) -> list[FieldError]:
    detail = "when session affinity type is ClientIP"
    path = "spec.sessionAffinityConfig"
    if config is None:
        return [required(path, detail)]
    client_ip = as_map(config).get("clientIP")
    if client_ip is None:
        return [required(f"{path}.clientIP", detail)]
    timeout = get_int(client_ip, "timeoutSeconds")
    if timeout is None:
        return [required(f"{path}.clientIP.timeoutSeconds", detail)]
    if timeout <= 0 or timeout > MAX_CLIENT_IP_AFFINITY_SECONDS:
        return [invalid(f"{path}.clientIP.timeoutSeconds", timeout,
                        f"must be greater than 0 and less than {MAX_CLIENT_IP_AFFINITY_SECONDS}")]
    return []


def _source_ranges(obj: dict[str, Any], old: dict[str, Any] | None, spec: dict[str, Any],
                   kind: str) -> list[FieldError]:
    errs: list[FieldError] = []
    ranges = get_strs(spec, "loadBalancerSourceRanges")
    annotation_key = "service.beta.kubernetes.io/load-balancer-source-ranges"
    annotations = str_map(get_map(obj, "metadata").get("annotations"))
    if ranges:
        path = "spec.LoadBalancerSourceRanges"
        if kind != "LoadBalancer":
            errs.append(field_forbidden(path, "may only be used when `type` is 'LoadBalancer'"))
        existing = [r.strip() for r in get_strs(get_map(old, "spec"), "loadBalancerSourceRanges")
                    ] if old is not None else []
        for i, value in enumerate(ranges):
            errs += validate_cidr(f"{path}[{i}]", value.strip(), existing)
    elif annotation_key in annotations:
        path = key_path("metadata.annotations", annotation_key)
        if kind != "LoadBalancer":
            errs.append(field_forbidden(path, "may only be used when `type` is 'LoadBalancer'"))
        old_value = str_map(get_map(old, "metadata").get("annotations")).get(annotation_key) \
            if old is not None else None
        value = annotations[annotation_key]
        if old_value != value and value.strip():
            for cidr in value.strip().split(","):
                errs += validate_cidr(path, cidr.strip())
    return errs


def _load_balancer_class(old_spec: dict[str, Any] | None, spec: dict[str, Any]
                         ) -> list[FieldError]:
    errs: list[FieldError] = []
    is_lb = get_str(spec, "type") == "LoadBalancer"
    if old_spec is not None and is_lb and get_str(old_spec, "type") == "LoadBalancer" \
            and old_spec.get("loadBalancerClass") != spec.get("loadBalancerClass"):
        errs.append(invalid("spec.loadBalancerClass", spec.get("loadBalancerClass"),
                            "may not change once set"))
    if has(spec, "loadBalancerClass"):
        value = get_str(spec, "loadBalancerClass")
        if is_lb:
            errs += invalid_each("spec.loadBalancerClass", value, is_qualified_name(value))
        else:
            errs.append(field_forbidden("spec.loadBalancerClass",
                                        "may only be used when `type` is 'LoadBalancer'"))
    return errs


def _external_traffic_policy(spec: dict[str, Any]) -> list[FieldError]:
    errs: list[FieldError] = []
    policy = get_str(spec, "externalTrafficPolicy")
    if not _externally_accessible(spec):
        if policy:
            errs.append(invalid("spec.externalTrafficPolicy", policy,
                                "may only be set for externally-accessible services"))
    elif not policy:
        errs.append(required("spec.externalTrafficPolicy", ""))
    elif policy not in ("Cluster", "Local"):
        errs.append(not_supported("spec.externalTrafficPolicy", policy, ["Cluster", "Local"]))
    health = get_int0(spec, "healthCheckNodePort")
    if not _needs_health_check(spec):
        if health != 0:
            errs.append(invalid("spec.healthCheckNodePort", health,
                                "may only be set when `type` is 'LoadBalancer' and "
                                "`externalTrafficPolicy` is 'Local'"))
    elif health == 0:
        errs.append(required("spec.healthCheckNodePort", ""))
    else:
        errs += invalid_each("spec.healthCheckNodePort", health, is_valid_port_num(health))
    return errs


def validate_service(obj: Any, *, node_port_range: tuple[int, int] = DEFAULT_NODE_PORT_RANGE
                     ) -> list[FieldError]:
    """Upstream ``ValidateServiceCreate`` (plus the NodePort allocator's range check)."""
    obj = as_map(obj)
    errs = validate_object_meta(get_map(obj, "metadata"), namespaced=True,
                                name_rule=name_is_dns1035_label)
    return errs + _validate_service(obj, None, node_port_range)


def validate_service_update(new: Any, old: Any, *,
                            node_port_range: tuple[int, int] = DEFAULT_NODE_PORT_RANGE
                            ) -> list[FieldError]:
    """Upstream ``ValidateServiceUpdate``: allocated IPs and families may not change."""
    new, old = as_map(new), as_map(old)
    spec, old_spec = get_map(new, "spec"), get_map(old, "spec")
    errs = validate_object_meta_update(get_map(new, "metadata"), get_map(old, "metadata"))
    errs += _upgrade_downgrade_cluster_ips(old_spec, spec)
    errs += _upgrade_downgrade_ip_families(old_spec, spec)
    if _needs_health_check(old_spec) and _needs_health_check(spec) and \
            get_int0(spec, "healthCheckNodePort") != get_int0(old_spec, "healthCheckNodePort"):
        errs.append(field_forbidden("spec.healthCheckNodePort", FIELD_IMMUTABLE))
    return errs + _validate_service(new, old, node_port_range)


def _upgrade_downgrade_cluster_ips(old: dict[str, Any], new: dict[str, Any]) -> list[FieldError]:
    if "ExternalName" in (get_str(new, "type"), get_str(old, "type")):
        return []
    if _is_headless(old) and _is_headless(new):
        return []
    errs: list[FieldError] = []
    old_ips, new_ips = get_strs(old, "clusterIPs"), get_strs(new, "clusterIPs")
    if len(old_ips) == len(new_ips):
        for i, ip in enumerate(old_ips):
            if ip != new_ips[i]:
                errs.append(invalid(f"spec.clusterIPs[{i}]", new_ips, "may not change once set"))
    elif len(old_ips) > len(new_ips):
        if not new_ips:
            errs.append(invalid("spec.clusterIPs[0]", new_ips,
                                "primary clusterIP can not be unset"))
        if old_ips and new_ips and new_ips[0] != old_ips[0]:
            errs.append(invalid("spec.clusterIPs[0]", new_ips, "may not change once set"))
        if len(new_ips) == 1 and new.get("ipFamilyPolicy") != "SingleStack":
            errs.append(invalid("spec.ipFamilyPolicy", new.get("ipFamilyPolicy"),
                                "must be set to 'SingleStack' when releasing the secondary "
                                "clusterIP"))
    elif old_ips and new_ips[0] != old_ips[0]:
        errs.append(invalid("spec.clusterIPs[0]", new_ips, "may not change once set"))
    return errs


def _upgrade_downgrade_ip_families(old: dict[str, Any], new: dict[str, Any]
                                   ) -> list[FieldError]:
    if "ExternalName" in (get_str(new, "type"), get_str(old, "type")):
        return []
    if _is_headless(old) or _is_headless(new):
        return []
    errs: list[FieldError] = []
    old_families, new_families = get_list(old, "ipFamilies"), get_list(new, "ipFamilies")
    if len(old_families) == len(new_families):
        for i, family in enumerate(old_families):
            if family != new_families[i]:
                errs.append(invalid("spec.ipFamilies[0]", new_families, "may not change once set"))
    elif len(old_families) > len(new_families):
        if not get_list(new, "clusterIPs"):
            errs.append(invalid("spec.ipFamilies[0]", new_families,
                                "primary ipFamily can not be unset"))
        if new_families and new_families[0] != old_families[0]:
            errs.append(invalid("spec.ipFamilies[0]", get_list(new, "clusterIPs"),
                                "may not change once set"))
        if len(new_families) == 1 and new.get("ipFamilyPolicy") != "SingleStack":
            errs.append(invalid("spec.ipFamilyPolicy", new.get("ipFamilyPolicy"),
                                "must be set to 'SingleStack' when releasing the secondary "
                                "ipFamily"))
    elif old_families and new_families and new_families[0] != old_families[0]:
        errs.append(invalid("spec.ipFamilies[0]", get_list(new, "clusterIPs"),
                            "may not change once set"))
    return errs


def validate_service_status_update(new: Any, old: Any) -> list[FieldError]:
    """Load-balancer ingress entries need valid IPs and an ipMode only with an IP."""
    errs = validate_object_meta_update(get_map(new, "metadata"), get_map(old, "metadata"))
    ingress = get_maps(get_map(get_map(new, "status"), "loadBalancer"), "ingress")
    for i, entry in enumerate(ingress):
        path = f"status.loadBalancer.ingress[{i}]"
        if get_str(entry, "ip"):
            errs += validate_ip(f"{path}.ip", get_str(entry, "ip"))
        mode = entry.get("ipMode")
        if mode is not None:
            if mode not in ("Proxy", "VIP"):
                errs.append(not_supported(f"{path}.ipMode", mode, ["Proxy", "VIP"]))
            if not get_str(entry, "ip"):
                errs.append(field_forbidden(f"{path}.ipMode",
                                            "may not be specified when `ip` is not"))
        hostname = get_str(entry, "hostname")
        if hostname:
            errs += invalid_each(f"{path}.hostname", hostname, is_dns1123_subdomain(hostname))
            if parse_ip_sloppy(hostname) is not None:
                errs.append(invalid(f"{path}.hostname", hostname, "must be a DNS name, not an IP "
                                                                  "address"))
    return errs


# ---------------------------------------------------------------------------- ConfigMap/Secret


def _data_size(data: dict[str, Any], *, base64_values: bool) -> int:
    total = 0
    for value in data.values():
        if not isinstance(value, str):
            continue
        if base64_values:
            try:
                total += len(base64.b64decode(value, validate=True))
            except (binascii.Error, ValueError):
                total += len(value)
        else:
            total += len(value.encode())
    return total


def validate_config_map(obj: Any) -> list[FieldError]:
    """Keys are config keys, no key in both maps, at most 1 MiB together."""
    obj = as_map(obj)
    errs = validate_object_meta(get_map(obj, "metadata"), namespaced=True,
                                name_rule=name_is_dns_subdomain)
    data, binary = get_map(obj, "data"), get_map(obj, "binaryData")
    for key in sorted(data):
        errs += invalid_each(key_path("data", key), key, is_config_map_key(key))
        if key in binary:
            errs.append(invalid(key_path("data", key), key,
                                "duplicate of key present in binaryData"))
    for key in sorted(binary):
        errs += invalid_each(key_path("binaryData", key), key, is_config_map_key(key))
    total = _data_size(data, base64_values=False) + _data_size(binary, base64_values=True)
    if total > MAX_SECRET_SIZE:
        errs.append(too_long("", "", MAX_SECRET_SIZE))
    return errs


def validate_config_map_update(new: Any, old: Any) -> list[FieldError]:
    """An immutable ConfigMap keeps its data (and stays immutable)."""
    new, old = as_map(new), as_map(old)
    errs = validate_object_meta_update(get_map(new, "metadata"), get_map(old, "metadata"))
    if old.get("immutable") is True:
        if new.get("immutable") is not True:
            errs.append(field_forbidden("immutable", IMMUTABLE_SET))
        if (new.get("data") or {}) != (old.get("data") or {}):
            errs.append(field_forbidden("data", IMMUTABLE_SET))
        if (new.get("binaryData") or {}) != (old.get("binaryData") or {}):
            errs.append(field_forbidden("binaryData", IMMUTABLE_SET))
    return errs + validate_config_map(new)


def _secret_bytes(data: dict[str, Any], key: str) -> bytes | None:
    value = data.get(key)
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return value.encode()


def _innermost_container(text: str, pos: int) -> str:
    """``{`` or ``[``: the container open at ``pos`` (strings skipped)."""
    stack: list[str] = []
    in_string = escaped = False
    for char in text[:pos]:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "{[":
            stack.append(char)
        elif char in "}]" and stack:
            stack.pop()
    return stack[-1] if stack else ""


_GO_JSON_CONTEXT = {
    "Expecting value": "looking for beginning of value",
    "Expecting property name enclosed in double quotes": "looking for beginning of object key "
                                                        "string",
    "Expecting ':' delimiter": "after object key",
    "Extra data": "after top-level value",
}


def _go_json_error(raw: bytes) -> str:
    """The message Go's ``json.Unmarshal`` gives when decoding into a map fails."""
    text = raw.decode("utf-8", errors="replace")
    stripped = text.lstrip(" \t\r\n")
    if not stripped:
        return "unexpected end of JSON input"
    for literal in ("true", "false", "null"):
        if stripped[0] == literal[0]:
            for i, expected in enumerate(literal):
                if i >= len(stripped):
                    return "unexpected end of JSON input"
                if stripped[i] != expected:
                    return (f"invalid character '{stripped[i]}' in literal {literal} "
                            f"(expecting '{expected}')")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.pos >= len(text.rstrip()):
            return "unexpected end of JSON input"
        context = _GO_JSON_CONTEXT.get(exc.msg)
        if exc.msg == "Expecting ',' delimiter":
            context = ("after object key:value pair" if _innermost_container(text, exc.pos) == "{"
                       else "after array element")
        if context is None:
            return "unexpected end of JSON input"
        return f"invalid character '{text[exc.pos]}' {context}"
    if value is None or isinstance(value, dict):
        return ""
    kind = ("array" if isinstance(value, list) else "string" if isinstance(value, str)
            else "bool" if isinstance(value, bool) else "number")
    return f"json: cannot unmarshal {kind} into Go value of type map[string]interface {{}}"


def validate_secret(obj: Any) -> list[FieldError]:
    """Keys, size and the per-type required keys."""
    obj = as_map(obj)
    meta = get_map(obj, "metadata")
    errs = validate_object_meta(meta, namespaced=True, name_rule=name_is_dns_subdomain)
    data = get_map(obj, "data")
    for key in sorted(data):
        errs += invalid_each(key_path("data", key), key, is_config_map_key(key))
    if _data_size(data, base64_values=True) > MAX_SECRET_SIZE:
        errs.append(too_long("data", "", MAX_SECRET_SIZE))
    stype = get_str(obj, "type")
    if stype == "kubernetes.io/service-account-token":
        annotation = "kubernetes.io/service-account.name"
        if not str_map(meta.get("annotations")).get(annotation):
            errs.append(required(key_path("metadata.annotations", annotation), ""))
    elif stype in ("kubernetes.io/dockercfg", "kubernetes.io/dockerconfigjson"):
        key = ".dockercfg" if stype == "kubernetes.io/dockercfg" else ".dockerconfigjson"
        raw = _secret_bytes(data, key)
        if key not in data:
            errs.append(required(key_path("data", key), ""))
        elif raw is not None and (message := _go_json_error(raw)):
            errs.append(invalid(key_path("data", key), _REDACTED, message))
    elif stype == "kubernetes.io/basic-auth":
        if "username" not in data and "password" not in data:
            errs.append(required(key_path("data", "username"), ""))
            errs.append(required(key_path("data", "password"), ""))
    elif stype == "kubernetes.io/ssh-auth":
        if not _secret_bytes(data, "ssh-privatekey"):
            errs.append(required(key_path("data", "ssh-privatekey"), ""))
    elif stype == "kubernetes.io/tls":
        for key in ("tls.crt", "tls.key"):
            if key not in data:
                errs.append(required(key_path("data", key), ""))
    return errs


def validate_secret_update(new: Any, old: Any) -> list[FieldError]:
    """The type never changes; an immutable Secret keeps its data."""
    new, old = as_map(new), as_map(old)
    errs = validate_object_meta_update(get_map(new, "metadata"), get_map(old, "metadata"))
    errs += immutable(get_str(new, "type"), get_str(old, "type"), "type")
    if old.get("immutable") is True:
        if new.get("immutable") is not True:
            errs.append(field_forbidden("immutable", IMMUTABLE_SET))
        if (new.get("data") or {}) != (old.get("data") or {}):
            errs.append(field_forbidden("data", IMMUTABLE_SET))
    return errs + validate_secret(new)


# ---------------------------------------------------------------------------- ServiceAccount


def validate_service_account(obj: Any) -> list[FieldError]:
    """Only metadata (names are DNS subdomains)."""
    return validate_object_meta(get_map(obj, "metadata"), namespaced=True,
                                name_rule=name_is_dns_subdomain)


def validate_service_account_update(new: Any, old: Any) -> list[FieldError]:
    """Metadata rules plus create rules for the new object."""
    errs = validate_object_meta_update(get_map(new, "metadata"), get_map(old, "metadata"))
    return errs + validate_service_account(new)


# ---------------------------------------------------------------------------- Endpoints


def _endpoint_address(address: dict[str, Any], path: str) -> list[FieldError]:
    ip = get_str(address, "ip")
    errs = validate_ip(f"{path}.ip", ip)
    hostname = get_str(address, "hostname")
    if hostname:
        errs += invalid_each(f"{path}.hostname", hostname, is_dns1123_label(hostname))
    if has(address, "nodeName"):
        node = get_str(address, "nodeName")
        errs += invalid_each(f"{path}.nodeName", node, name_is_dns_subdomain(node, False))
    errs += validate_endpoint_ip(ip, f"{path}.ip")
    return errs


def _endpoint_subsets(subsets: list[dict[str, Any]]) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, subset in enumerate(subsets):
        path = f"subsets[{i}]"
        addresses, not_ready = get_maps(subset, "addresses"), get_maps(subset, "notReadyAddresses")
        if not addresses and not not_ready:
            errs.append(required(path, "must specify `addresses` or `notReadyAddresses`"))
        for j, address in enumerate(addresses):
            errs += _endpoint_address(address, f"{path}.addresses[{j}]")
        for j, address in enumerate(not_ready):
            errs += _endpoint_address(address, f"{path}.notReadyAddresses[{j}]")
        ports = get_maps(subset, "ports")
        for j, port in enumerate(ports):
            port_path = f"{path}.ports[{j}]"
            name = get_str(port, "name")
            if len(ports) > 1 and not name:
                errs.append(required(f"{port_path}.name", ""))
            elif name:
                errs += invalid_each(f"{port_path}.name", name, is_dns1123_label(name))
            number = get_int0(port, "port")
            errs += invalid_each(f"{port_path}.port", number, is_valid_port_num(number))
            protocol = get_str(port, "protocol")
            if not protocol:
                errs.append(required(f"{port_path}.protocol", ""))
            elif protocol not in PROTOCOLS:
                errs.append(not_supported(f"{port_path}.protocol", protocol, PROTOCOLS))
            if has(port, "appProtocol"):
                app = get_str(port, "appProtocol")
                errs += invalid_each(f"{port_path}.appProtocol", app, is_qualified_name(app))
    return errs


def validate_endpoints(obj: Any) -> list[FieldError]:
    """Addresses are valid, non-special IPs; ports are named when there are several."""
    obj = as_map(obj)
    errs = validate_object_meta(get_map(obj, "metadata"), namespaced=True,
                                name_rule=name_is_dns_subdomain)
    return errs + _endpoint_subsets(get_maps(obj, "subsets"))


def validate_endpoints_update(new: Any, old: Any) -> list[FieldError]:
    """Subsets that did not change are not re-validated (old data stays acceptable)."""
    new, old = as_map(new), as_map(old)
    errs = validate_object_meta_update(get_map(new, "metadata"), get_map(old, "metadata"))
    errs += validate_object_meta(get_map(new, "metadata"), namespaced=True,
                                 name_rule=name_is_dns_subdomain)
    if new.get("subsets") != old.get("subsets"):
        errs += _endpoint_subsets(get_maps(new, "subsets"))
    return errs


# ---------------------------------------------------------------------------- Node


def _node_taints(taints: list[dict[str, Any]]) -> list[FieldError]:
    errs: list[FieldError] = []
    seen: set[tuple[str, str]] = set()
    for i, taint in enumerate(taints):
        # Upstream roots these paths at "metadata" (sic).
        path = f"metadata.taints[{i}]"
        key, value = get_str(taint, "key"), get_str(taint, "value")
        effect = get_str(taint, "effect")
        errs += validate_label_name(key, f"{path}.key")
        msgs = is_label_value(value)
        if msgs:
            errs.append(invalid(f"{path}.value", value, ";".join(msgs)))
        if not effect:
            errs.append(required(f"{path}.effect", ""))
        elif effect not in TAINT_EFFECTS:
            errs.append(not_supported(f"{path}.effect", effect, TAINT_EFFECTS))
        if (effect, key) in seen:
            errs.append(FieldError("FieldValueDuplicate", path,
                                   "taints must be unique by key and effect pair", taint, True))
            continue
        seen.add((effect, key))
    return errs


def _node_resources(status: dict[str, Any]) -> list[FieldError]:
    errs: list[FieldError] = []
    for key in ("capacity", "allocatable"):
        values, parse_errs = parse_resource_list(status.get(key), f"status.{key}")
        errs += parse_errs
        for name, value in values.items():
            errs += validate_resource_quantity_value(name, value, f"status.{key}.{name}")
    return errs


def _pod_cidrs(spec: dict[str, Any]) -> list[FieldError]:
    cidrs = get_strs(spec, "podCIDRs")
    errs: list[FieldError] = []
    for i, value in enumerate(cidrs):
        errs += validate_cidr(f"spec.podCIDRs[{i}]", value)
    if len(cidrs) > 1:
        parsed = [parse_cidr_sloppy(c) for c in cidrs]
        versions = {net.version for net in parsed if net is not None}
        if versions != {4, 6} or len(cidrs) > 2:
            errs.append(invalid("spec.podCIDRs", cidrs,
                                "may specify no more than one CIDR for each IP family"))
    return errs


def validate_node(obj: Any) -> list[FieldError]:
    """Cluster-scoped DNS-subdomain names, taints, resources, pod CIDRs."""
    obj = as_map(obj)
    spec = get_map(obj, "spec")
    errs = validate_object_meta(get_map(obj, "metadata"), namespaced=False,
                                name_rule=name_is_dns_subdomain)
    errs += _node_taints(get_maps(spec, "taints"))
    errs += _node_resources(get_map(obj, "status"))
    errs += _pod_cidrs(spec)
    return errs


def validate_node_update(new: Any, old: Any) -> list[FieldError]:
    """podCIDRs and providerID may only go from unset to set; externalID never changes."""
    new, old = as_map(new), as_map(old)
    spec, old_spec = get_map(new, "spec"), get_map(old, "spec")
    errs = validate_object_meta_update(get_map(new, "metadata"), get_map(old, "metadata"))
    errs += _node_resources(get_map(new, "status"))
    seen: list[Any] = []
    for i, address in enumerate(get_maps(get_map(new, "status"), "addresses")):
        if address in seen:
            errs.append(duplicate(f"status.addresses[{i}]", address))
        seen.append(address)
    old_cidrs, new_cidrs = get_strs(old_spec, "podCIDRs"), get_strs(spec, "podCIDRs")
    message = 'node updates may not change podCIDR except from "" to valid'
    if old_cidrs:
        if len(old_cidrs) != len(new_cidrs):
            errs.append(field_forbidden("spec.podCIDRs", message))
        else:
            errs += [field_forbidden("spec.podCIDRs", message)
                     for a, b in zip(old_cidrs, new_cidrs, strict=True) if a != b]
    old_provider = get_str(old_spec, "providerID")
    if old_provider and old_provider != get_str(spec, "providerID"):
        errs.append(field_forbidden("spec.providerID",
                                    'node updates may not change providerID except from "" to '
                                    "valid"))
    errs += _node_taints(get_maps(spec, "taints"))
    if get_str(spec, "externalID") != get_str(old_spec, "externalID"):
        errs.append(field_forbidden("spec.externalID", "may not be updated"))
    return errs


# ---------------------------------------------------------------------------- Events

_EVENTS_V1_FIELDS = {
    "note": "message", "regarding": "involvedObject", "deprecatedSource": "source",
    "deprecatedFirstTimestamp": "firstTimestamp", "deprecatedLastTimestamp": "lastTimestamp",
    "deprecatedCount": "count",
}


def _internal_event(obj: dict[str, Any], *, events_api: bool) -> dict[str, Any]:
    """Both Event flavours in upstream's internal field names (validation paths use them)."""
    event = dict(obj)
    if events_api:
        for external, internal in _EVENTS_V1_FIELDS.items():
            event[internal] = obj.get(external)
    else:
        event["reportingController"] = obj.get("reportingComponent")
    return event


def _legacy_event(event: dict[str, Any], namespace: str, *, core_v1: bool) -> list[FieldError]:
    errs: list[FieldError] = []
    involved_ns = get_str(get_map(event, "involvedObject"), "namespace")
    controller_field = "reportingComponent" if core_v1 else "reportingController"
    mismatch = invalid("involvedObject.namespace", involved_ns, "does not match event.namespace")
    if not get_str(event, "eventTime"):
        if not involved_ns:
            if namespace not in ("", "default"):
                errs.append(mismatch)
        elif namespace != involved_ns:
            errs.append(mismatch)
    else:
        if not involved_ns and namespace not in ("default", "kube-system"):
            errs.append(mismatch)
        controller = get_str(event, "reportingController")
        if not controller:
            errs.append(required(controller_field, ""))
        errs += invalid_each(controller_field, controller, is_qualified_name(controller))
        for key, limit in (("reportingInstance", 128), ("action", 128), ("reason", 128)):
            value = get_str(event, key)
            if not value:
                errs.append(required(key, ""))
            if len(value) > limit:
                errs.append(invalid(key, "", f"can have at most {limit} characters"))
        if len(get_str(event, "message")) > 1024:
            errs.append(invalid("message", "", "can have at most 1024 characters"))
    errs += invalid_each("namespace", namespace, is_dns1123_subdomain(namespace))
    return errs


def _event_series(event: dict[str, Any]) -> list[FieldError]:
    series = event.get("series")
    if series is None:
        return []
    errs: list[FieldError] = []
    if get_int0(series, "count") < 2:
        errs.append(invalid("series.count", "", "should be at least 2"))
    if not get_str(series, "lastObservedTime"):
        errs.append(required("series.lastObservedTime", ""))
    return errs


def validate_event(obj: Any, *, events_api: bool = False) -> list[FieldError]:
    """Upstream ``ValidateEventCreate``; ``events_api`` for ``events.k8s.io/v1`` objects."""
    obj = as_map(obj)
    meta = get_map(obj, "metadata")
    event = _internal_event(obj, events_api=events_api)
    errs = _legacy_event(event, get_str(meta, "namespace"), core_v1=not events_api)
    if not events_api:
        # Core v1 events keep their historical leniency: no ObjectMeta checks at all.
        return errs
    errs += validate_object_meta(meta, namespaced=True, name_rule=name_is_dns_subdomain)
    errs += _event_series(event)
    if not get_str(event, "eventTime"):
        errs.append(required("eventTime", ""))
    etype = get_str(event, "type")
    if etype not in ("Normal", "Warning"):
        errs.append(invalid("type", "", f"has invalid value: {etype}"))
    for key in ("firstTimestamp", "lastTimestamp", "count"):
        if event.get(key) not in (None, "", 0):
            errs.append(invalid(key, "", "needs to be unset"))
    source = as_map(event.get("source"))
    if get_str(source, "component") or get_str(source, "host"):
        errs.append(invalid("source", "", "needs to be unset"))
    return errs


def validate_event_update(new: Any, old: Any, *, events_api: bool = False) -> list[FieldError]:
    """Upstream ``ValidateEventUpdate``: most fields are immutable for events.k8s.io."""
    new, old = as_map(new), as_map(old)
    event = _internal_event(new, events_api=events_api)
    old_event = _internal_event(old, events_api=events_api)
    errs = _legacy_event(event, get_str(get_map(new, "metadata"), "namespace"),
                         core_v1=not events_api)
    if not events_api:
        return errs
    errs += validate_object_meta_update(get_map(new, "metadata"), get_map(old, "metadata"))
    if event.get("series") != old_event.get("series"):
        errs += _event_series(event)
    for key in ("involvedObject", "reason", "message", "source", "firstTimestamp",
                "lastTimestamp", "count", "reason", "type", "eventTime", "action", "related",
                "reportingController", "reportingInstance"):
        errs += immutable(event.get(key), old_event.get(key), key)
    return errs


# ---------------------------------------------------------------------------- PV and PVC

# (json key, "more than one" path, own path) for PersistentVolume sources, in upstream order.
_PV_SOURCES: list[tuple[str, str, str]] = [
    ("hostPath", "hostPath", "hostPath"), ("gcePersistentDisk", "gcePersistentDisk",
                                           "persistentDisk"),
    ("awsElasticBlockStore", "awsElasticBlockStore", "awsElasticBlockStore"),
    ("glusterfs", "glusterfs", "glusterfs"), ("flocker", "flocker", "flocker"),
    ("nfs", "nfs", "nfs"), ("rbd", "rbd", "rbd"), ("quobyte", "quobyte", "quobyte"),
    ("cephfs", "cephFS", "cephfs"), ("iscsi", "iscsi", "iscsi"), ("cinder", "cinder", "cinder"),
    ("fc", "fc", "fc"), ("flexVolume", "flexVolume", "flexVolume"),
    ("azureFile", "azureFile", "azureFile"), ("vsphereVolume", "vsphereVolume", "vsphereVolume"),
    ("photonPersistentDisk", "photonPersistentDisk", "photonPersistentDisk"),
    ("portworxVolume", "portworxVolume", "portworxVolume"), ("azureDisk", "azureDisk", "azureDisk"),
    ("scaleIO", "scaleIO", "scaleIO"), ("local", "local", "local"),
    ("storageos", "storageos", "storageos"), ("csi", "csi", "csi"),
]
PV_SOURCE_KEYS = tuple(key for key, _, _ in _PV_SOURCES)


def _pv_secret_ref(ref: dict[str, Any], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    name, namespace = get_str(ref, "name"), get_str(ref, "namespace")
    if not name:
        errs.append(required(f"{path}.name", ""))
    else:
        errs += invalid_each(f"{path}.name", name, is_dns1123_subdomain(name))
    if not namespace:
        errs.append(required(f"{path}.namespace", ""))
    else:
        errs += invalid_each(f"{path}.namespace", namespace, is_dns1123_label(namespace))
    return errs


def _required_keys(src: dict[str, Any], path: str, *keys: str) -> list[FieldError]:
    return [required(f"{path}.{key}", "") for key in keys if not src.get(key)]


def _pv_secret_ref_names(src: dict[str, Any], path: str) -> list[FieldError]:
    if not has(src, "secretRef"):
        return []
    ref = get_map(src, "secretRef")
    return _required_keys(ref, f"{path}.secretRef", "name", "namespace")


def _pv_iscsi(src: dict[str, Any], path: str, pv_name: str) -> list[FieldError]:
    errs = _required_keys(src, path, "targetPortal")
    portal = get_str(src, "targetPortal")
    if has(src, "initiatorName") and len(f"{pv_name}:{portal}") > 64:
        errs.append(invalid(f"{path}.targetportal", portal,
                            "Total length of <volume name>:<iscsi.targetPortal> must be under "
                            "64 characters if iscsi.initiatorName is specified."))
    iqn = get_str(src, "iqn")
    if not iqn:
        errs.append(required(f"{path}.iqn", ""))
    elif iscsi_name_error(iqn):
        errs.append(invalid(f"{path}.iqn", iqn, "must be valid format"))
    lun = get_int0(src, "lun")
    if lun < 0 or lun > 255:
        errs.append(invalid(f"{path}.lun", lun, "must be between 0 and 255, inclusive"))
    if (src.get("chapAuthDiscovery") is True or src.get("chapAuthSession") is True) \
            and not has(src, "secretRef"):
        errs.append(required(f"{path}.secretRef", ""))
    if has(src, "secretRef") and not get_str(get_map(src, "secretRef"), "name"):
        errs.append(required(f"{path}.secretRef.name", ""))
    if has(src, "initiatorName"):
        initiator = get_str(src, "initiatorName")
        if iscsi_name_error(initiator):
            errs.append(invalid(f"{path}.initiatorname", initiator, "must be valid format"))
    return errs


def _pv_source(key: str, src: dict[str, Any], path: str, pv_name: str) -> list[FieldError]:
    """PV-specific source checks; the others are the pod volume validators."""
    errs: list[FieldError] = []
    if key == "csi":
        errs += validate_csi_driver_name(get_str(src, "driver"), f"{path}.driver")
        errs += _required_keys(src, path, "volumeHandle")
        for ref in ("controllerPublishSecretRef", "controllerExpandSecretRef",
                    "nodePublishSecretRef", "nodeExpandSecretRef"):
            if has(src, ref):
                errs += _pv_secret_ref(get_map(src, ref), f"{path}.{ref}")
    elif key == "local":
        target = get_str(src, "path")
        if not target:
            return [required(f"{path}.path", "")]
        errs += validate_path_no_backsteps(target, f"{path}.path")
    elif key == "glusterfs":
        errs += _required_keys(src, path, "endpoints", "path")
        if has(src, "endpointsNamespace"):
            namespace = get_str(src, "endpointsNamespace")
            if not namespace:
                errs.append(invalid(f"{path}.endpointsNamespace", namespace,
                                    "if the endpointnamespace is set, it must be a valid "
                                    "namespace name"))
            else:
                errs += invalid_each(f"{path}.endpointsNamespace", namespace,
                                     name_is_dns_label(namespace, False))
    elif key == "cinder":
        errs += _required_keys(src, path, "volumeID") + _pv_secret_ref_names(src, path)
    elif key == "storageos":
        name = get_str(src, "volumeName")
        if not name:
            errs.append(required(f"{path}.volumeName", ""))
        else:
            errs += invalid_each(f"{path}.volumeName", name, is_dns1123_label(name))
        namespace = get_str(src, "volumeNamespace")
        if namespace:
            errs += invalid_each(f"{path}.volumeNamespace", namespace, is_dns1123_label(namespace))
        errs += _pv_secret_ref_names(src, path)
    elif key == "azureFile":
        errs += _required_keys(src, path, "secretName", "shareName")
        if has(src, "secretNamespace") and not get_str(src, "secretNamespace"):
            errs.append(required(f"{path}.secretNamespace", ""))
    elif key == "iscsi":
        errs += _pv_iscsi(src, path, pv_name)
    else:
        errs += VOLUME_SOURCE_CHECKS[key](src, path)
    return errs


def validate_pv_spec(spec: dict[str, Any], pv_name: str, path: str = "spec") -> list[FieldError]:
    """``ValidatePersistentVolumeSpec`` for a (non-inline) PersistentVolume."""
    errs: list[FieldError] = []
    modes = get_list(spec, "accessModes")
    if not modes:
        errs.append(required(f"{path}.accessModes", ""))
    errs += validate_access_modes(modes, f"{path}.accessModes")
    capacity = get_map(spec, "capacity")
    if not capacity:
        errs.append(required(f"{path}.capacity", ""))
    if "storage" not in capacity or len(capacity) > 1:
        errs.append(not_supported(f"{path}.capacity", capacity, ["storage"]))
    values, parse_errs = parse_resource_list(capacity, f"{path}.capacity")
    errs += parse_errs
    for name, value in values.items():
        cap_path = key_path(f"{path}.capacity", name)
        if value.value() < 0:
            errs.append(invalid(cap_path, value.value(), "must be a valid resource quantity"))
        errs += validate_positive_quantity(value, cap_path)
    policy = get_str(spec, "persistentVolumeReclaimPolicy")
    if policy and policy not in ("Delete", "Recycle", "Retain"):
        errs.append(not_supported(f"{path}.persistentVolumeReclaimPolicy", policy,
                                  ["Delete", "Recycle", "Retain"]))
    affinity_set = False
    if has(spec, "nodeAffinity"):
        affinity_set = True
        affinity = get_map(spec, "nodeAffinity")
        if has(affinity, "required"):
            errs += validate_node_selector(get_map(affinity, "required"),
                                           f"{path}.nodeAffinity.required")
        else:
            errs.append(required(f"{path}.nodeAffinity.required",
                                 "must specify required node constraints"))
    count = 0
    for key, dup_path, own_path in _PV_SOURCES:
        if not has(spec, key):
            continue
        # Upstream forgot the "more than one" check for flexVolume.
        if count > 0 and key != "flexVolume":
            errs.append(field_forbidden(f"{path}.{dup_path}",
                                        "may not specify more than 1 volume type"))
            continue
        count += 1
        errs += _pv_source(key, get_map(spec, key), f"{path}.{own_path}", pv_name)
        if key == "local" and not affinity_set:
            errs.append(required(f"{path}.nodeAffinity", "Local volume requires node affinity"))
    if count == 0:
        errs.append(required(path, "must specify a volume type"))
    host_path = get_str(get_map(spec, "hostPath"), "path")
    if has(spec, "hostPath") and posixpath.normpath(host_path or ".") == "/" \
            and policy == "Recycle":
        errs.append(field_forbidden(f"{path}.persistentVolumeReclaimPolicy",
                                    "may not be 'recycle' for a hostPath mount of '/'"))
    class_name = get_str(spec, "storageClassName")
    if class_name:
        errs += invalid_each(f"{path}.storageClassName", class_name,
                             name_is_dns_subdomain(class_name, False))
    if has(spec, "volumeMode") and spec.get("volumeMode") not in ("Block", "Filesystem"):
        errs.append(not_supported(f"{path}.volumeMode", spec.get("volumeMode"),
                                  ["Block", "Filesystem"]))
    if has(spec, "volumeAttributesClassName"):
        attributes = get_str(spec, "volumeAttributesClassName")
        if not attributes:
            errs.append(required(f"{path}.volumeAttributesClassName",
                                 "an empty string is disallowed"))
        else:
            errs += invalid_each(f"{path}.volumeAttributesClassName", attributes,
                                 name_is_dns_subdomain(attributes, False))
        if not has(spec, "csi"):
            errs.append(required(f"{path}.csi",
                                 "has to be specified when using volumeAttributesClassName"))
    return errs


def validate_persistent_volume(obj: Any) -> list[FieldError]:
    """Cluster-scoped; exactly one source, storage capacity, access modes."""
    obj = as_map(obj)
    meta = get_map(obj, "metadata")
    errs = validate_object_meta(meta, namespaced=False, name_rule=name_is_dns_subdomain)
    return errs + validate_pv_spec(get_map(obj, "spec"), get_str(meta, "name"))


def validate_persistent_volume_update(new: Any, old: Any) -> list[FieldError]:
    """The volume source and volumeMode are immutable."""
    new, old = as_map(new), as_map(old)
    errs = validate_object_meta_update(get_map(new, "metadata"), get_map(old, "metadata"))
    errs += validate_persistent_volume(new)
    spec, old_spec = get_map(new, "spec"), get_map(old, "spec")
    new_source = {k: spec.get(k) for k in PV_SOURCE_KEYS if spec.get(k) is not None}
    old_source = {k: old_spec.get(k) for k in PV_SOURCE_KEYS if old_spec.get(k) is not None}
    # Adding a controllerExpandSecretRef to a CSI volume is the one allowed change.
    if "csi" in new_source and "csi" in old_source \
            and not has(old_source["csi"], "controllerExpandSecretRef"):
        new_source["csi"] = {k: v for k, v in as_map(new_source["csi"]).items()
                             if k != "controllerExpandSecretRef"}
    if new_source != old_source:
        errs.append(field_forbidden("spec.persistentvolumesource",
                                    "spec.persistentvolumesource is immutable after creation\n"
                                    + _diff(old_source, new_source)))
    errs += immutable(spec.get("volumeMode"), old_spec.get("volumeMode"), "volumeMode")
    if has(old_spec, "nodeAffinity") and spec.get("nodeAffinity") != old_spec.get("nodeAffinity"):
        errs.append(invalid("nodeAffinity", spec.get("nodeAffinity"), FIELD_IMMUTABLE))
    if has(old_spec, "volumeAttributesClassName") and not has(spec, "volumeAttributesClassName"):
        errs.append(field_forbidden("spec.volumeAttributesClassName",
                                    "update from non-nil value to nil is forbidden"))
    return errs


def _diff(old: dict[str, Any], new: dict[str, Any]) -> str:
    lines = []
    for key in sorted(set(old) | set(new)):
        if old.get(key) != new.get(key):
            lines.append(f"- {key}: {json.dumps(old.get(key), sort_keys=True)}")
            lines.append(f"+ {key}: {json.dumps(new.get(key), sort_keys=True)}")
    return "\n".join(lines) + "\n"


def validate_persistent_volume_claim(obj: Any) -> list[FieldError]:
    """Names are DNS subdomains; the spec needs access modes and a storage request."""
    obj = as_map(obj)
    errs = validate_object_meta(get_map(obj, "metadata"), namespaced=True,
                                name_rule=name_is_dns_subdomain)
    return errs + validate_pvc_spec(get_map(obj, "spec"), "spec")


def _storage(spec: dict[str, Any]) -> Quantity | None:
    raw = get_map(get_map(spec, "resources"), "requests").get("storage")
    if raw is None:
        return None
    scratch: list[FieldError] = []
    return quantity(raw, "", scratch)


def validate_persistent_volume_claim_update(new: Any, old: Any) -> list[FieldError]:
    """The spec is immutable except requests (bound claims) and volumeName set once."""
    new, old = as_map(new), as_map(old)
    errs = validate_object_meta_update(get_map(new, "metadata"), get_map(old, "metadata"))
    errs += validate_persistent_volume_claim(new)
    spec, old_spec = get_map(new, "spec"), get_map(old, "spec")
    new_clone, old_clone = json.loads(json.dumps(spec)), json.loads(json.dumps(old_spec))
    if not get_str(old_spec, "volumeName"):
        if "volumeName" in new_clone:
            old_clone["volumeName"] = new_clone["volumeName"]
        else:
            old_clone.pop("volumeName", None)
    beta_key = "volume.beta.kubernetes.io/storage-class"
    new_ann = str_map(get_map(new, "metadata").get("annotations"))
    old_ann = str_map(get_map(old, "metadata").get("annotations"))
    old_class, new_class = old_spec.get("storageClassName"), spec.get("storageClassName")
    from_annotation = (beta_key in old_ann and old_class is None and new_class is not None
                       and new_class == old_ann[beta_key]
                       and (beta_key not in new_ann or new_ann[beta_key] == old_ann[beta_key]))
    if from_annotation:
        new_clone.pop("storageClassName", None)
    else:
        if new_ann.get(beta_key, "") != old_ann.get(beta_key, ""):
            errs.append(invalid(f"metadata.annotations.{beta_key}", new_ann.get(beta_key, ""),
                                FIELD_IMMUTABLE))
        # Setting a class on a claim that had none (nor a conflicting annotation) is fine.
        if new_class is not None and old_class is None and (
                beta_key not in old_ann or new_class == old_ann[beta_key]):
            new_clone.pop("storageClassName", None)
    bound = get_str(get_map(new, "status"), "phase") == "Bound"
    new_requests = get_map(get_map(new_clone, "resources"), "requests")
    if bound and isinstance(get_map(new_clone, "resources").get("requests"), dict):
        old_storage = get_map(get_map(old_spec, "resources"), "requests").get("storage")
        if old_storage is None:
            new_requests.pop("storage", None)
        else:
            new_requests["storage"] = old_storage
    if bound:
        if "volumeAttributesClassName" in old_clone:
            new_clone["volumeAttributesClassName"] = old_clone["volumeAttributesClassName"]
        else:
            new_clone.pop("volumeAttributesClassName", None)
    if _semantic(new_clone) != _semantic(old_clone):
        errs.append(field_forbidden("spec", "spec is immutable after creation except "
                                            "resources.requests and volumeAttributesClassName "
                                            "for bound claims\n" + _diff(old_clone, new_clone)))
    new_size, old_size = _storage(spec), _storage(old_spec)
    status_raw = get_map(get_map(old, "status"), "capacity").get("storage")
    status_size = quantity(status_raw, "", []) if status_raw is not None else None
    zero = Quantity(0)
    if (new_size or zero).cmp(old_size or zero) < 0 and \
            (new_size or zero).cmp(status_size or zero) <= 0:
        errs.append(field_forbidden("spec.resources.requests.storage",
                                    "field can not be less than status.capacity"))
    errs += immutable(spec.get("volumeMode"), old_spec.get("volumeMode"), "volumeMode")
    if spec.get("volumeAttributesClassName") != old_spec.get("volumeAttributesClassName") and \
            has(get_map(old, "status"), "currentVolumeAttributesClassName"):
        if not has(spec, "volumeAttributesClassName"):
            errs.append(field_forbidden("spec.volumeAttributesClassName",
                                        "update to nil is forbidden when "
                                        "status.currentVolumeAttributesClassName is not nil"))
        elif not get_str(spec, "volumeAttributesClassName"):
            errs.append(field_forbidden("spec.volumeAttributesClassName",
                                        "update to empty string is forbidden when "
                                        "status.currentVolumeAttributesClassName is not nil"))
    return errs


def _semantic(spec: dict[str, Any]) -> Any:
    """Compare specs with quantities by value, as upstream's semantic equality does."""
    clone = json.loads(json.dumps(spec))
    for key in ("limits", "requests"):
        values = get_map(get_map(clone, "resources"), key)
        for name, raw in list(values.items()):
            parsed = quantity(raw, "", [])
            if parsed is not None:
                values[name] = parsed.nanos
    return clone


# ---------------------------------------------------------------------------- LimitRange


def _limit_range_type(value: str, path: str) -> list[FieldError]:
    errs = invalid_each(path, value, is_qualified_name(value))
    if errs:
        return errs
    if "/" not in value and value not in ("Pod", "Container", "PersistentVolumeClaim"):
        return [invalid(path, value, "must be a standard limit type or fully qualified")]
    return []


def _limit_resource_name(limit_type: str, name: str, path: str) -> list[FieldError]:
    if limit_type in ("Pod", "Container"):
        return validate_container_resource_name(name, path)
    return validate_resource_name(name, path)


def _fmt(value: float) -> str:
    return f"{value:f}"


def validate_limit_range(obj: Any) -> list[FieldError]:
    """Types are unique; min <= defaultRequest <= default <= max; ratios sane."""
    obj = as_map(obj)
    errs = validate_object_meta(get_map(obj, "metadata"), namespaced=True,
                                name_rule=name_is_dns_subdomain)
    seen_types: set[str] = set()
    for i, item in enumerate(get_maps(get_map(obj, "spec"), "limits")):
        path = f"spec.limits[{i}]"
        ltype = get_str(item, "type")
        errs += _limit_range_type(ltype, f"{path}.type")
        if ltype in seen_types:
            errs.append(duplicate(f"{path}.type", ltype))
        seen_types.add(ltype)
        lists: dict[str, dict[str, Quantity]] = {}
        keys: set[str] = set()
        sections = ["max", "min"]
        if ltype == "Pod":
            for key in ("default", "defaultRequest"):
                if get_map(item, key):
                    errs.append(field_forbidden(f"{path}.{key}",
                                                "may not be specified when `type` is 'Pod'"))
        else:
            sections += ["default", "defaultRequest"]
        if ltype == "PersistentVolumeClaim" and "storage" not in get_map(item, "min") \
                and "storage" not in get_map(item, "max"):
            errs.append(required(f"{path}.limits", "either minimum or maximum storage value is "
                                                   "required, but neither was provided"))
        sections.append("maxLimitRequestRatio")
        for section in sections:
            values, parse_errs = parse_resource_list(item.get(section), f"{path}.{section}")
            errs += parse_errs
            for name in sorted(get_map(item, section)):
                errs += _limit_resource_name(ltype, name, key_path(f"{path}.{section}", name))
            lists[section] = values
            keys |= set(values)
        errs += _limit_range_values(sorted(keys), lists, path)
    return errs


def _limit_range_values(keys: list[str], lists: dict[str, dict[str, Quantity]],
                        path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for k in keys:
        low, high = lists.get("min", {}).get(k), lists.get("max", {}).get(k)
        default = lists.get("default", {}).get(k)
        request = lists.get("defaultRequest", {}).get(k)
        ratio = lists.get("maxLimitRequestRatio", {}).get(k)
        if low is not None and high is not None and low > high:
            errs.append(invalid(key_path(f"{path}.min", k), str(low),
                                f"min value {low} is greater than max value {high}"))
        if request is not None and low is not None and low > request:
            errs.append(invalid(key_path(f"{path}.defaultRequest", k), str(request),
                                f"min value {low} is greater than default request value "
                                f"{request}"))
        if request is not None and high is not None and request > high:
            errs.append(invalid(key_path(f"{path}.defaultRequest", k), str(request),
                                f"default request value {request} is greater than max value "
                                f"{high}"))
        if request is not None and default is not None and request > default:
            errs.append(invalid(key_path(f"{path}.defaultRequest", k), str(request),
                                f"default request value {request} is greater than default "
                                f"limit value {default}"))
        if default is not None and low is not None and low > default:
            errs.append(invalid(key_path(f"{path}.default", k), str(low),
                                f"min value {low} is greater than default value {default}"))
        if default is not None and high is not None and default > high:
            errs.append(invalid(key_path(f"{path}.default", k), str(high),
                                f"default value {default} is greater than max value {high}"))
        if ratio is not None and ratio.cmp(Quantity(10**9)) < 0:
            errs.append(invalid(key_path(f"{path}.maxLimitRequestRatio", k), str(ratio),
                                f"ratio {ratio} is less than 1"))
        if ratio is not None and low is not None and high is not None \
                and low.milli_value() != 0:
            # Go divides floats here; a zero minimum gives +Inf, which nothing exceeds.
            limit = high.milli_value() / low.milli_value()
            if ratio.milli_value() / 1000 > limit:
                errs.append(invalid(key_path(f"{path}.maxLimitRequestRatio", k), str(ratio),
                                    f"ratio {ratio} is greater than max/min = {_fmt(limit)}"))
        if not is_overcommit_allowed(k) and default is not None and request is not None \
                and default.cmp(request) != 0:
            errs.append(invalid(key_path(f"{path}.defaultRequest", k), str(request),
                                f"default value {default} must equal to defaultRequest value "
                                f"{request} in {k}"))
    return errs


def validate_limit_range_update(new: Any, old: Any) -> list[FieldError]:
    """Metadata rules plus full validation of the new object."""
    errs = validate_object_meta_update(get_map(new, "metadata"), get_map(old, "metadata"))
    return errs + validate_limit_range(new)


# ---------------------------------------------------------------------------- ResourceQuota

_QUOTA_SCOPES = ("Terminating", "NotTerminating", "BestEffort", "NotBestEffort",
                 "PriorityClass", "VolumeAttributesClass", "CrossNamespacePodAffinity")
_CONFLICTING_SCOPES = (("BestEffort", "NotBestEffort"), ("Terminating", "NotTerminating"))


def _quota_list(values: Any, path: str) -> list[FieldError]:
    parsed, errs = parse_resource_list(values, path)
    for name in sorted(as_map(values)):
        name_path = key_path(path, name)
        errs += validate_quota_resource_name(name, name_path)
        if name in parsed:
            errs += validate_resource_quantity_value(name, parsed[name], name_path)
    return errs


def _quota_spec(spec: dict[str, Any]) -> list[FieldError]:
    errs = _quota_list(spec.get("hard"), "spec.hard")
    hard = sorted(get_map(spec, "hard"))
    scopes = get_strs(spec, "scopes")
    if scopes:
        for scope in scopes:
            if scope not in _QUOTA_SCOPES:
                errs.append(invalid("spec.scopes", scopes, "unsupported scope"))
            for name in hard:
                if is_standard_quota_resource(name) and not is_resource_quota_scope_valid(
                        scope, name):
                    errs.append(invalid("spec.scopes", scopes,
                                        "unsupported scope applied to resource"))
        for pair in _CONFLICTING_SCOPES:
            if set(pair) <= set(scopes):
                errs.append(invalid("spec.scopes", scopes, "conflicting scopes"))
    if spec.get("scopeSelector") is not None:
        selector = get_map(spec, "scopeSelector")
        path = "spec.scopeSelector.matchExpressions"
        names: set[str] = set()
        for req in get_maps(selector, "matchExpressions"):
            scope, operator = get_str(req, "scopeName"), get_str(req, "operator")
            values = get_list(req, "values")
            if scope not in _QUOTA_SCOPES:
                errs.append(invalid(f"{path}.scopeName", scope, "unsupported scope"))
            for name in hard:
                if is_standard_quota_resource(name) and not is_resource_quota_scope_valid(
                        scope, name):
                    errs.append(invalid(path, selector, "unsupported scope applied to resource"))
            if scope in ("BestEffort", "NotBestEffort", "Terminating", "NotTerminating",
                         "CrossNamespacePodAffinity") and operator != "Exists":
                errs.append(invalid(f"{path}.operator", operator,
                                    "must be 'Exists' when scope is any of "
                                    "ResourceQuotaScopeTerminating, "
                                    "ResourceQuotaScopeNotTerminating, "
                                    "ResourceQuotaScopeBestEffort, "
                                    "ResourceQuotaScopeNotBestEffort or "
                                    "ResourceQuotaScopeCrossNamespacePodAffinity"))
            if operator in ("In", "NotIn"):
                if not values:
                    errs.append(required(f"{path}.values",
                                         "must be at least one value when `operator` is 'In' or "
                                         "'NotIn' for scope selector"))
            elif operator in ("Exists", "DoesNotExist"):
                if values:
                    errs.append(invalid(f"{path}.values", values,
                                        "must be no value when `operator` is 'Exist' or "
                                        "'DoesNotExist' for scope selector"))
            else:
                errs.append(invalid(f"{path}.operator", operator, "not a valid selector operator"))
            names.add(scope)
        for pair in _CONFLICTING_SCOPES:
            if set(pair) <= names:
                errs.append(invalid(path, spec.get("scopes"), "conflicting scopes"))
    return errs


def validate_resource_quota(obj: Any) -> list[FieldError]:
    """Resource names and values of spec and status, scope rules."""
    obj = as_map(obj)
    errs = validate_object_meta(get_map(obj, "metadata"), namespaced=True,
                                name_rule=name_is_dns_subdomain)
    errs += _quota_spec(get_map(obj, "spec"))
    status = get_map(obj, "status")
    errs += _quota_list(status.get("hard"), "status.hard")
    errs += _quota_list(status.get("used"), "status.used")
    return errs


def validate_resource_quota_update(new: Any, old: Any) -> list[FieldError]:
    """Scopes are immutable."""
    new, old = as_map(new), as_map(old)
    errs = validate_object_meta_update(get_map(new, "metadata"), get_map(old, "metadata"))
    errs += _quota_spec(get_map(new, "spec"))
    new_scopes = get_strs(get_map(new, "spec"), "scopes")
    if set(new_scopes) != set(get_strs(get_map(old, "spec"), "scopes")):
        errs.append(invalid("spec.scopes", new_scopes, FIELD_IMMUTABLE))
    return errs


def validate_resource_quota_status_update(new: Any, old: Any) -> list[FieldError]:
    """Status amounts must be valid quota resources."""
    new = as_map(new)
    errs = validate_object_meta_update(get_map(new, "metadata"), get_map(old, "metadata"))
    status = get_map(new, "status")
    errs += _quota_list(status.get("hard"), "status.hard")
    errs += _quota_list(status.get("used"), "status.used")
    return errs


# ---------------------------------------------------------------------------- RC


def _rc_spec(spec: dict[str, Any]) -> list[FieldError]:
    errs = nonnegative(get_int0(spec, "minReadySeconds"), "spec.minReadySeconds")
    selector = str_map(spec.get("selector"))
    if not selector:
        errs.append(required("spec.selector", ""))
    replicas = get_int(spec, "replicas")
    if replicas is None:
        errs.append(required("spec.replicas", ""))
    else:
        errs += nonnegative(replicas, "spec.replicas")
    template = spec.get("template")
    if template is None:
        errs.append(required("spec.template", ""))
        return errs
    labels = str_map(get_map(get_map(template, "metadata"), "labels"))
    if selector and not template_labels_match({"matchLabels": selector}, template):
        errs.append(invalid("spec.template.metadata.labels", labels,
                            "`selector` does not match template `labels`"))
    errs += validate_pod_template_spec(template, "spec.template")
    restart = get_str(get_map(template, "spec"), "restartPolicy")
    if restart != "Always":
        errs.append(not_supported("spec.template.spec.restartPolicy", restart, ["Always"]))
    if has(get_map(template, "spec"), "activeDeadlineSeconds"):
        errs.append(field_forbidden("spec.template.spec.activeDeadlineSeconds",
                                    "activeDeadlineSeconds in ReplicationController is not "
                                    "Supported"))
    return errs


def validate_replication_controller(obj: Any) -> list[FieldError]:
    """Selector required and matching the template; restartPolicy Always."""
    return validate_meta_and_spec(obj, _rc_spec, namespaced=True,
                                  name_rule=name_is_dns_subdomain)


def validate_replication_controller_update(new: Any, old: Any) -> list[FieldError]:
    """Metadata rules plus the spec rules for the new object."""
    return validate_meta_and_spec_update(new, old, _rc_spec)


def validate_replication_controller_status_update(new: Any, old: Any) -> list[FieldError]:
    """Counts are non-negative and consistent."""
    errs = validate_object_meta_update(get_map(new, "metadata"), get_map(old, "metadata"))
    return errs + validate_replica_counts(get_map(new, "status"), "status")


def validate_replica_counts(status: dict[str, Any], path: str) -> list[FieldError]:
    """The ReplicaSet/RC status invariants."""
    replicas = get_int0(status, "replicas")
    labeled = get_int0(status, "fullyLabeledReplicas")
    ready = get_int0(status, "readyReplicas")
    available = get_int0(status, "availableReplicas")
    errs: list[FieldError] = []
    for key in ("replicas", "fullyLabeledReplicas", "readyReplicas", "availableReplicas",
                "observedGeneration"):
        errs += nonnegative(get_int0(status, key), f"{path}.{key}")
    message = "cannot be greater than status.replicas"
    if labeled > replicas:
        errs.append(invalid(f"{path}.fullyLabeledReplicas", labeled, message))
    if ready > replicas:
        errs.append(invalid(f"{path}.readyReplicas", ready, message))
    if available > replicas:
        errs.append(invalid(f"{path}.availableReplicas", available, message))
    if available > ready:
        errs.append(invalid(f"{path}.availableReplicas", available,
                            "cannot be greater than readyReplicas"))
    return errs


__all__ = [
    "DEFAULT_NODE_PORT_RANGE",
    "validate_config_map",
    "validate_config_map_update",
    "validate_endpoint_ip",
    "validate_endpoints",
    "validate_endpoints_update",
    "validate_event",
    "validate_event_update",
    "validate_limit_range",
    "validate_limit_range_update",
    "validate_namespace",
    "validate_namespace_finalize_update",
    "validate_namespace_status_update",
    "validate_namespace_update",
    "validate_node",
    "validate_node_update",
    "validate_persistent_volume",
    "validate_persistent_volume_claim",
    "validate_persistent_volume_claim_update",
    "validate_persistent_volume_update",
    "validate_replica_counts",
    "validate_replication_controller",
    "validate_replication_controller_status_update",
    "validate_replication_controller_update",
    "validate_resource_quota",
    "validate_resource_quota_status_update",
    "validate_resource_quota_update",
    "validate_secret",
    "validate_secret_update",
    "validate_service",
    "validate_service_account",
    "validate_service_account_update",
    "validate_service_status_update",
    "validate_service_update",
]
