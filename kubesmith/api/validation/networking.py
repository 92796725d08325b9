"""Validation of ``networking.k8s.io/v1``: Ingress, IngressClass and NetworkPolicy
(``pkg/apis/networking/validation``).
"""

from __future__ import annotations

from typing import Any

from kubesmith.api.errors import (
    FieldError,
    field_forbidden,
    invalid,
    not_supported,
    required,
    too_long,
)
from kubesmith.api.validation._fields import (
    as_map,
    get_int,
    get_list,
    get_map,
    get_maps,
    get_str,
    get_strs,
    has,
    immutable,
    int_or_string,
    invalid_each,
    str_map,
)
from kubesmith.api.validation.meta import (
    validate_domain_prefixed_path,
    validate_label_selector,
    validate_meta_and_spec,
    validate_object_meta,
    validate_object_meta_update,
)
from kubesmith.api.validation.names import (
    is_dns1123_subdomain,
    is_path_segment_name,
    is_valid_port_name,
    is_valid_port_num,
    is_wildcard_dns1123_subdomain,
    name_is_dns1035_label,
    name_is_dns_subdomain,
    validate_namespace_name,
)
from kubesmith.api.validation.netutil import parse_cidr_sloppy, parse_ip_sloppy, validate_cidr

INGRESS_CLASS_ANNOTATION = "kubernetes.io/ingress.class"
MAX_INGRESS_CLASS_CONTROLLER = 250
PATH_TYPES = ["Exact", "ImplementationSpecific", "Prefix"]
_INVALID_PATH_SEQUENCES = ["//", "/./", "/../", "%2f", "%2F"]
_INVALID_PATH_SUFFIXES = ["/..", "/."]


# ---------------------------------------------------------------------------- NetworkPolicy


def _policy_port(port: dict[str, Any], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    protocol = port.get("protocol")
    if protocol is not None and protocol not in ("TCP", "UDP", "SCTP"):
        errs.append(not_supported(f"{path}.protocol", protocol, ["TCP", "UDP", "SCTP"]))
    value = int_or_string(port.get("port"))
    end = get_int(port, "endPort")
    if port.get("port") is not None:
        if isinstance(value, int):
            errs += invalid_each(f"{path}.port", value, is_valid_port_num(value))
            if end is not None:
                if end < value:
                    errs.append(invalid(f"{path}.endPort", value,
                                        "must be greater than or equal to `port`"))
                errs += invalid_each(f"{path}.endPort", end, is_valid_port_num(end))
        else:
            if end is not None:
                errs.append(invalid(f"{path}.endPort", end,
                                    "may not be specified when `port` is non-numeric"))
            text = value if isinstance(value, str) else ""
            errs += invalid_each(f"{path}.port", text, is_valid_port_name(text))
    elif end is not None:
        errs.append(invalid(f"{path}.endPort", end,
                            "may not be specified when `port` is not specified"))
    return errs


def _ip_block(block: dict[str, Any], path: str) -> list[FieldError]:
    cidr = get_str(block, "cidr")
    if not cidr:
        return [required(f"{path}.cidr", "")]
    errs = validate_cidr(f"{path}.cidr", cidr)
    network = parse_cidr_sloppy(cidr)
    if network is None:
        return errs
    for i, except_cidr in enumerate(get_strs(block, "except")):
        except_path = f"{path}.except[{i}]"
        errs += validate_cidr(except_path, except_cidr)
        inner = parse_cidr_sloppy(except_cidr)
        if inner is None:
            continue
        address, _, _ = except_cidr.partition("/")
        ip = parse_ip_sloppy(address)
        contained = inner.version == network.version and ip is not None and \
            ip.version == network.version and inner.network_address in network
        if not contained or network.prefixlen >= inner.prefixlen:
            errs.append(invalid(except_path, except_cidr, "must be a strict subset of `cidr`"))
    return errs


def _policy_peer(peer: dict[str, Any], path: str, allow_invalid: bool) -> list[FieldError]:
    errs: list[FieldError] = []
    count = 0
    for key in ("podSelector", "namespaceSelector"):
        if peer.get(key) is not None:
            count += 1
            errs += validate_label_selector(peer.get(key), f"{path}.{key}",
                                            allow_invalid_label_value=allow_invalid)
    if peer.get("ipBlock") is not None:
        count += 1
        errs += _ip_block(get_map(peer, "ipBlock"), f"{path}.ipBlock")
    if count == 0:
        errs.append(required(path, "must specify a peer"))
    elif count > 1 and peer.get("ipBlock") is not None:
        errs.append(field_forbidden(path, "may not specify both ipBlock and another peer"))
    return errs


def _network_policy_spec(spec: dict[str, Any], allow_invalid: bool = False) -> list[FieldError]:
    errs = validate_label_selector(spec.get("podSelector") or {}, "spec.podSelector",
                                   allow_invalid_label_value=allow_invalid)
    for direction, peers_key in (("ingress", "from"), ("egress", "to")):
        for i, rule in enumerate(get_maps(spec, direction)):
            rule_path = f"spec.{direction}[{i}]"
            for j, port in enumerate(get_maps(rule, "ports")):
                errs += _policy_port(port, f"{rule_path}.ports[{j}]")
            for j, peer in enumerate(get_maps(rule, peers_key)):
                errs += _policy_peer(peer, f"{rule_path}.{peers_key}[{j}]", allow_invalid)
    types = get_list(spec, "policyTypes")
    if len(types) > 2:
        errs.append(invalid("spec.policyTypes", types, "may not specify more than two policyTypes"))
        return errs
    for i, kind in enumerate(types):
        if kind not in ("Ingress", "Egress"):
            errs.append(not_supported(f"spec.policyTypes[{i}]", kind, ["Ingress", "Egress"]))
    return errs


def validate_network_policy(obj: Any) -> list[FieldError]:
    """Ports, peers and policyTypes."""
    return validate_meta_and_spec(obj, _network_policy_spec, namespaced=True,
                                  name_rule=name_is_dns_subdomain)


def validate_network_policy_update(new: Any, old: Any) -> list[FieldError]:
    """Metadata rules plus the spec rules.

    A policy whose stored podSelector already has invalid label values (persisted before
    values were checked) keeps being accepted, as upstream's validation options allow.
    """
    errs = validate_object_meta_update(get_map(new, "metadata"), get_map(old, "metadata"))
    old_selector = get_map(get_map(old, "spec"), "podSelector")
    allow_invalid = bool(validate_label_selector(old_selector, "spec.podSelector"))
    return errs + _network_policy_spec(get_map(new, "spec"), allow_invalid)


# ---------------------------------------------------------------------------- Ingress


def _typed_reference(ref: dict[str, Any], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    if has(ref, "apiGroup"):
        group = get_str(ref, "apiGroup")
        errs += invalid_each(f"{path}.apiGroup", group, is_dns1123_subdomain(group))
    for key in ("kind", "name"):
        value = get_str(ref, key)
        if not value:
            errs.append(required(f"{path}.{key}", f"{key} is required"))
        else:
            errs += invalid_each(f"{path}.{key}", value, is_path_segment_name(value))
    return errs


def _ingress_backend(backend: dict[str, Any], path: str) -> list[FieldError]:
    has_resource = backend.get("resource") is not None
    has_service = backend.get("service") is not None
    if has_resource and has_service:
        return [invalid(path, "", "cannot set both resource and service backends")]
    if has_resource:
        return _typed_reference(get_map(backend, "resource"), f"{path}.resource")
    if not has_service:
        return [invalid(path, "", "resource or service backend is required")]
    errs: list[FieldError] = []
    service = get_map(backend, "service")
    name = get_str(service, "name")
    if not name:
        errs.append(required(f"{path}.service.name", ""))
    else:
        errs += invalid_each(f"{path}.service.name", name, name_is_dns1035_label(name, False))
    port = get_map(service, "port")
    port_name, port_number = get_str(port, "name"), get_int(port, "number") or 0
    if port_name and port_number:
        errs.append(invalid(path, "", "cannot set both port name & port number"))
    elif port_name:
        errs += invalid_each(f"{path}.service.port.name", port_name, is_valid_port_name(port_name))
    elif port_number:
        errs += invalid_each(f"{path}.service.port.number", port_number,
                             is_valid_port_num(port_number))
    else:
        errs.append(required(path, "port name or number is required"))
    return errs


def _http_path(item: dict[str, Any], path: str) -> list[FieldError]:
    path_type = item.get("pathType")
    if path_type is None:
        return [required(f"{path}.pathType", "pathType must be specified")]
    errs: list[FieldError] = []
    value = get_str(item, "path")
    if path_type in ("Exact", "Prefix"):
        if not value.startswith("/"):
            errs.append(invalid(f"{path}.path", value, "must be an absolute path"))
        if value:
            for sequence in _INVALID_PATH_SEQUENCES:
                if sequence in value:
                    errs.append(invalid(f"{path}.path", value, f"must not contain '{sequence}'"))
            for suffix in _INVALID_PATH_SUFFIXES:
                if value.endswith(suffix):
                    errs.append(invalid(f"{path}.path", value, f"cannot end with '{suffix}'"))
    elif path_type == "ImplementationSpecific":
        if value and not value.startswith("/"):
            errs.append(invalid(f"{path}.path", value, "must be an absolute path"))
    else:
        errs.append(not_supported(f"{path}.pathType", path_type, PATH_TYPES))
    errs += _ingress_backend(get_map(item, "backend"), f"{path}.backend")
    return errs


def _rule_value(rule: dict[str, Any], path: str) -> list[FieldError]:
    if rule.get("http") is None:
        return []
    http_path = f"{path}.http"
    paths = get_maps(get_map(rule, "http"), "paths")
    errs: list[FieldError] = []
    if not paths:
        errs.append(required(f"{http_path}.paths", ""))
    for i, item in enumerate(paths):
        errs += _http_path(item, f"{http_path}.paths[{i}]")
    return errs


def _ingress_spec(spec: dict[str, Any], old: dict[str, Any] | None) -> list[FieldError]:
    errs: list[FieldError] = []
    rules = get_maps(spec, "rules")
    if not rules and spec.get("defaultBackend") is None:
        errs.append(invalid("spec", get_list(spec, "rules"),
                            "either `defaultBackend` or `rules` must be specified"))
    if spec.get("defaultBackend") is not None:
        errs += _ingress_backend(get_map(spec, "defaultBackend"), "spec.defaultBackend")
    allow_wildcard = old is not None and any(
        "*" in get_str(rule, "host") and _rule_value(rule, "")
        for rule in get_maps(get_map(old, "spec"), "rules"))
    for i, rule in enumerate(rules):
        rule_path = f"spec.rules[{i}]"
        host = get_str(rule, "host")
        wildcard = False
        if host:
            if parse_ip_sloppy(host) is not None:
                errs.append(invalid(f"{rule_path}.host", host,
                                    "must be a DNS name, not an IP address"))
            if "*" in host:
                errs += invalid_each(f"{rule_path}.host", host, is_wildcard_dns1123_subdomain(host))
                wildcard = True
            else:
                errs += invalid_each(f"{rule_path}.host", host, is_dns1123_subdomain(host))
        if not wildcard or not allow_wildcard:
            errs += _rule_value(rule, rule_path)
    allow_bad_secret = old is not None and any(
        get_str(tls, "secretName") and name_is_dns_subdomain(get_str(tls, "secretName"), False)
        for tls in get_maps(get_map(old, "spec"), "tls"))
    for i, tls in enumerate(get_maps(spec, "tls")):
        tls_path = f"spec.tls[{i}]"
        for j, host in enumerate(get_strs(tls, "hosts")):
            check = is_wildcard_dns1123_subdomain if "*" in host else is_dns1123_subdomain
            errs += invalid_each(f"{tls_path}.hosts[{j}]", host, check(host))
        secret = get_str(tls, "secretName")
        if secret and not allow_bad_secret:
            errs += invalid_each(f"{tls_path}.secretName", secret,
                                 name_is_dns_subdomain(secret, False))
    if has(spec, "ingressClassName"):
        class_name = get_str(spec, "ingressClassName")
        errs += invalid_each("spec.ingressClassName", class_name,
                             name_is_dns_subdomain(class_name, False))
    return errs


def validate_ingress(obj: Any) -> list[FieldError]:
    """Upstream ``ValidateIngressCreate``."""
    obj = as_map(obj)
    meta = get_map(obj, "metadata")
    errs = validate_object_meta(meta, namespaced=True, name_rule=name_is_dns_subdomain)
    spec = get_map(obj, "spec")
    errs += _ingress_spec(spec, None)
    annotations = str_map(meta.get("annotations"))
    if INGRESS_CLASS_ANNOTATION in annotations and has(spec, "ingressClassName") and \
            annotations[INGRESS_CLASS_ANNOTATION] != get_str(spec, "ingressClassName"):
        errs.append(invalid(f"annotations.{INGRESS_CLASS_ANNOTATION}",
                            annotations[INGRESS_CLASS_ANNOTATION],
                            "must match `ingressClassName` when both are specified"))
    return errs


def validate_ingress_update(new: Any, old: Any) -> list[FieldError]:
    """Like create, tolerating invalid data the old object already had."""
    new, old = as_map(new), as_map(old)
    errs = validate_object_meta_update(get_map(new, "metadata"), get_map(old, "metadata"))
    errs += validate_object_meta(get_map(new, "metadata"), namespaced=True,
                                 name_rule=name_is_dns_subdomain)
    return errs + _ingress_spec(get_map(new, "spec"), old)


def validate_ingress_status_update(new: Any, old: Any) -> list[FieldError]:
    """Load-balancer ingress IPs and hostnames."""
    errs = validate_object_meta_update(get_map(new, "metadata"), get_map(old, "metadata"))
    ingress = get_maps(get_map(get_map(new, "status"), "loadBalancer"), "ingress")
    for i, entry in enumerate(ingress):
        path = f"status.loadBalancer.ingress[{i}]"
        ip = get_str(entry, "ip")
        if ip and parse_ip_sloppy(ip) is None:
            errs.append(invalid(f"{path}.ip", ip,
                                "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"))
        hostname = get_str(entry, "hostname")
        if hostname:
            errs += invalid_each(f"{path}.hostname", hostname, is_dns1123_subdomain(hostname))
            if parse_ip_sloppy(hostname) is not None:
                errs.append(invalid(f"{path}.hostname", hostname,
                                    "must be a DNS name, not an IP address"))
    return errs


# ---------------------------------------------------------------------------- IngressClass


def _ingress_class_spec(spec: dict[str, Any]) -> list[FieldError]:
    errs: list[FieldError] = []
    controller = get_str(spec, "controller")
    if len(controller) > MAX_INGRESS_CLASS_CONTROLLER:
        errs.append(too_long("spec.controller", "", MAX_INGRESS_CLASS_CONTROLLER))
    errs += validate_domain_prefixed_path(controller, "spec.controller")
    if spec.get("parameters") is not None:
        params = get_map(spec, "parameters")
        path = "spec.parameters"
        errs += _typed_reference(params, path)
        scope = params.get("scope")
        if scope is None:
            errs.append(required(f"{path}.scope", ""))
            return errs
        if scope not in ("Cluster", "Namespace"):
            errs.append(not_supported(f"{path}.scope", scope, ["Cluster", "Namespace"]))
        elif scope == "Namespace":
            if params.get("namespace") is None:
                errs.append(required(f"{path}.namespace", "`parameters.scope` is set to "
                                                          "'Namespace'"))
            else:
                namespace = get_str(params, "namespace")
                errs += invalid_each(f"{path}.namespace", namespace,
                                     validate_namespace_name(namespace, False))
        elif params.get("namespace") is not None:
            errs.append(field_forbidden(f"{path}.namespace", "`parameters.scope` is set to "
                                                             "'Cluster'"))
    return errs


def validate_ingress_class(obj: Any) -> list[FieldError]:
    """Cluster-scoped; the controller is a domain-prefixed path."""
    return validate_meta_and_spec(obj, _ingress_class_spec, namespaced=False,
                                  name_rule=name_is_dns_subdomain)


def validate_ingress_class_update(new: Any, old: Any) -> list[FieldError]:
    """The controller is immutable."""
    new, old = as_map(new), as_map(old)
    errs = validate_object_meta_update(get_map(new, "metadata"), get_map(old, "metadata"))
    errs += immutable(get_str(get_map(new, "spec"), "controller"),
                      get_str(get_map(old, "spec"), "controller"), "spec.controller")
    return errs + validate_ingress_class(new)


__all__ = [
    "validate_ingress",
    "validate_ingress_class",
    "validate_ingress_class_update",
    "validate_ingress_status_update",
    "validate_ingress_update",
    "validate_network_policy",
    "validate_network_policy_update",
]
