"""Validation of the smaller groups: storage (StorageClass), rbac (Role, ClusterRole and
their bindings), autoscaling (HorizontalPodAutoscaler v1 and v2), policy
(PodDisruptionBudget), discovery (EndpointSlice) and coordination (Lease).
"""

from __future__ import annotations

from typing import Any

from kubesmith.api.errors import (
    FieldError,
    duplicate,
    field_forbidden,
    invalid,
    not_supported,
    required,
    too_long,
    too_many,
)
from kubesmith.api.validation._fields import (
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
    nonnegative,
    quantity,
    str_map,
)
from kubesmith.api.validation.apps import (
    not_more_than_100_percent,
    validate_positive_int_or_percent,
)
from kubesmith.api.validation.core import validate_endpoint_ip
from kubesmith.api.validation.meta import (
    label_selector_convertible,
    validate_conditions,
    validate_label_name,
    validate_label_selector,
    validate_labels,
    validate_meta_and_spec,
    validate_meta_and_spec_update,
    validate_object_meta,
    validate_object_meta_update,
)
from kubesmith.api.validation.names import (
    is_dns1123_label,
    is_dns1123_subdomain,
    is_path_segment_name,
    is_qualified_name,
    name_is_dns_subdomain,
    name_is_path_segment,
)
from kubesmith.api.validation.netutil import parse_ip_sloppy
from kubesmith.api.validation.resources import validate_container_resource_name

RBAC_GROUP = "rbac.authorization.k8s.io"
MAX_PROVISIONER_PARAMETER_SIZE = 256 * 1024
MAX_PROVISIONER_PARAMETER_LEN = 512
MAX_HPA_PERIOD_SECONDS = 1800
MAX_STABILIZATION_WINDOW_SECONDS = 3600


# ---------------------------------------------------------------------------- StorageClass


def _topology_term(term: dict[str, Any], path: str) -> tuple[dict[str, frozenset[str]],
                                                             list[FieldError]]:
    errs: list[FieldError] = []
    expressions: dict[str, frozenset[str]] = {}
    for i, req in enumerate(get_maps(term, "matchLabelExpressions")):
        req_path = f"{path}.matchLabelExpressions[{i}]"
        values = get_strs(req, "values")
        if not values:
            errs.append(required(f"{req_path}.values", ""))
        seen: set[str] = set()
        for j, value in enumerate(values):
            if value in seen:
                errs.append(duplicate(f"{req_path}.values[{j}]", value))
            seen.add(value)
        key = get_str(req, "key")
        errs += validate_label_name(key, f"{req_path}.key")
        if key in expressions:
            errs.append(duplicate(f"{req_path}.key", key))
        expressions[key] = frozenset(values)
    return expressions, errs


def validate_storage_class(obj: Any) -> list[FieldError]:
    """Provisioner, parameters, reclaim policy, binding mode and topologies."""
    obj = as_map(obj)
    errs = validate_object_meta(get_map(obj, "metadata"), namespaced=False,
                                name_rule=name_is_dns_subdomain)
    provisioner = get_str(obj, "provisioner")
    if not provisioner:
        errs.append(required("provisioner", provisioner))
    else:
        errs += invalid_each("provisioner", provisioner.lower(),
                             is_qualified_name(provisioner.lower()))
    params = str_map(obj.get("parameters"))
    if len(params) > MAX_PROVISIONER_PARAMETER_LEN:
        errs.append(too_long("parameters", "", MAX_PROVISIONER_PARAMETER_LEN))
    else:
        for key in sorted(params):
            if not key:
                errs.append(invalid("parameters", key, "field can not be empty."))
        if sum(len(k) + len(v) for k, v in params.items()) > MAX_PROVISIONER_PARAMETER_SIZE:
            errs.append(too_long("parameters", "", MAX_PROVISIONER_PARAMETER_SIZE))
    policy = obj.get("reclaimPolicy")
    if policy not in (None, "") and policy not in ("Delete", "Retain"):
        errs.append(not_supported("reclaimPolicy", policy, ["Delete", "Retain"]))
    mode = obj.get("volumeBindingMode")
    if mode is None:
        errs.append(required("volumeBindingMode", ""))
    elif mode not in ("Immediate", "WaitForFirstConsumer"):
        errs.append(not_supported("volumeBindingMode", mode, ["Immediate", "WaitForFirstConsumer"]))
    seen_terms: list[dict[str, frozenset[str]]] = []
    for i, term in enumerate(get_maps(obj, "allowedTopologies")):
        expressions, term_errs = _topology_term(term, f"allowedTopologies[{i}]")
        errs += term_errs
        if expressions in seen_terms:
            errs.append(duplicate(f"allowedTopologies[{i}].matchLabelExpressions", ""))
        seen_terms.append(expressions)
    return errs


def validate_storage_class_update(new: Any, old: Any) -> list[FieldError]:
    """Parameters, provisioner, reclaimPolicy and volumeBindingMode never change."""
    new, old = as_map(new), as_map(old)
    errs = validate_object_meta_update(get_map(new, "metadata"), get_map(old, "metadata"))
    if (new.get("parameters") or {}) != (old.get("parameters") or {}):
        errs.append(field_forbidden("parameters", "updates to parameters are forbidden."))
    if get_str(new, "provisioner") != get_str(old, "provisioner"):
        errs.append(field_forbidden("provisioner", "updates to provisioner are forbidden."))
    if new.get("reclaimPolicy") != old.get("reclaimPolicy"):
        errs.append(field_forbidden("reclaimPolicy", "updates to reclaimPolicy are forbidden."))
    errs += immutable(new.get("volumeBindingMode"), old.get("volumeBindingMode"),
                      "volumeBindingMode")
    return errs


# ---------------------------------------------------------------------------- RBAC


def _policy_rule(rule: dict[str, Any], namespaced: bool, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    if not get_list(rule, "verbs"):
        errs.append(required(f"{path}.verbs", "verbs must contain at least one value"))
    urls = get_list(rule, "nonResourceURLs")
    if urls:
        if namespaced:
            errs.append(invalid(f"{path}.nonResourceURLs", urls,
                                "namespaced rules cannot apply to non-resource URLs"))
        if get_list(rule, "apiGroups") or get_list(rule, "resources") or \
                get_list(rule, "resourceNames"):
            errs.append(invalid(f"{path}.nonResourceURLs", urls,
                                "rules cannot apply to both regular resources and non-resource "
                                "URLs"))
        return errs
    if not get_list(rule, "apiGroups"):
        errs.append(required(f"{path}.apiGroups",
                             "resource rules must supply at least one api group"))
    if not get_list(rule, "resources"):
        errs.append(required(f"{path}.resources",
                             "resource rules must supply at least one resource"))
    return errs


def validate_role(obj: Any) -> list[FieldError]:
    """Names are path segments; every rule needs verbs and resources."""
    obj = as_map(obj)
    errs = validate_object_meta(get_map(obj, "metadata"), namespaced=True,
                                name_rule=name_is_path_segment)
    for i, rule in enumerate(get_maps(obj, "rules")):
        errs += _policy_rule(rule, True, f"rules[{i}]")
    return errs


def validate_role_update(new: Any, old: Any) -> list[FieldError]:
    """Create rules plus metadata update rules."""
    return validate_role(new) + validate_object_meta_update(get_map(new, "metadata"),
                                                            get_map(old, "metadata"))


def validate_cluster_role(obj: Any, *, allow_invalid_label_value: bool = False
                          ) -> list[FieldError]:
    """Rules (non-resource URLs allowed) and aggregation selectors."""
    obj = as_map(obj)
    errs = validate_object_meta(get_map(obj, "metadata"), namespaced=False,
                                name_rule=name_is_path_segment)
    for i, rule in enumerate(get_maps(obj, "rules")):
        errs += _policy_rule(rule, False, f"rules[{i}]")
    if obj.get("aggregationRule") is not None:
        selectors = get_maps(get_map(obj, "aggregationRule"), "clusterRoleSelectors")
        if not selectors:
            errs.append(required("aggregationRule.clusterRoleSelectors",
                                 "at least one clusterRoleSelector required if aggregationRule "
                                 "is non-nil"))
        for i, selector in enumerate(selectors):
            selector_path = f"aggregationRule.clusterRoleSelectors[{i}]"
            errs += validate_label_selector(selector, selector_path,
                                            allow_invalid_label_value=allow_invalid_label_value)
            if not label_selector_convertible(selector):
                errs.append(invalid(selector_path, selector, "invalid label selector."))
    return errs


def validate_cluster_role_update(new: Any, old: Any) -> list[FieldError]:
    """Create rules plus metadata update rules.

    Aggregation selectors with invalid label values stay acceptable when the stored role
    already had them (upstream's validation options).
    """
    old_selectors = get_maps(get_map(as_map(old), "aggregationRule"), "clusterRoleSelectors")
    allow = any(validate_label_selector(s, "selector") for s in old_selectors)
    errs = validate_cluster_role(new, allow_invalid_label_value=allow)
    return errs + validate_object_meta_update(get_map(new, "metadata"), get_map(old, "metadata"))


def _subject(subject: dict[str, Any], namespaced: bool, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    name, kind, group = get_str(subject, "name"), get_str(subject, "kind"), \
        get_str(subject, "apiGroup")
    if not name:
        errs.append(required(f"{path}.name", ""))
    if kind == "ServiceAccount":
        if name:
            errs += invalid_each(f"{path}.name", name, name_is_dns_subdomain(name, False))
        if group:
            errs.append(not_supported(f"{path}.apiGroup", group, [""]))
        if not namespaced and not get_str(subject, "namespace"):
            errs.append(required(f"{path}.namespace", ""))
    elif kind in ("User", "Group"):
        if group != RBAC_GROUP:
            errs.append(not_supported(f"{path}.apiGroup", group, [RBAC_GROUP]))
    else:
        errs.append(not_supported(f"{path}.kind", kind, ["ServiceAccount", "User", "Group"]))
    return errs


def _binding(obj: dict[str, Any], namespaced: bool) -> list[FieldError]:
    errs = validate_object_meta(get_map(obj, "metadata"), namespaced=namespaced,
                                name_rule=name_is_path_segment)
    ref = get_map(obj, "roleRef")
    if get_str(ref, "apiGroup") != RBAC_GROUP:
        errs.append(not_supported("roleRef.apiGroup", get_str(ref, "apiGroup"), [RBAC_GROUP]))
    kinds = ["Role", "ClusterRole"] if namespaced else ["ClusterRole"]
    if get_str(ref, "kind") not in kinds:
        errs.append(not_supported("roleRef.kind", get_str(ref, "kind"), kinds))
    name = get_str(ref, "name")
    if not name:
        errs.append(required("roleRef.name", ""))
    else:
        errs += invalid_each("roleRef.name", name, is_path_segment_name(name))
    for i, subject in enumerate(get_maps(obj, "subjects")):
        errs += _subject(subject, namespaced, f"subjects[{i}]")
    return errs


def validate_role_binding(obj: Any) -> list[FieldError]:
    """roleRef must name a Role or ClusterRole in the RBAC group; subjects well formed."""
    return _binding(as_map(obj), True)


def validate_cluster_role_binding(obj: Any) -> list[FieldError]:
    """roleRef must name a ClusterRole; ServiceAccount subjects need a namespace."""
    return _binding(as_map(obj), False)


def _binding_update(new: Any, old: Any, namespaced: bool) -> list[FieldError]:
    new, old = as_map(new), as_map(old)
    errs = _binding(new, namespaced)
    errs += validate_object_meta_update(get_map(new, "metadata"), get_map(old, "metadata"))
    new_ref, old_ref = get_map(new, "roleRef"), get_map(old, "roleRef")
    key = ("apiGroup", "kind", "name")
    if tuple(get_str(new_ref, k) for k in key) != tuple(get_str(old_ref, k) for k in key):
        errs.append(invalid("roleRef", new_ref, "cannot change roleRef"))
    return errs


def validate_role_binding_update(new: Any, old: Any) -> list[FieldError]:
    """roleRef is immutable."""
    return _binding_update(new, old, True)


def validate_cluster_role_binding_update(new: Any, old: Any) -> list[FieldError]:
    """roleRef is immutable."""
    return _binding_update(new, old, False)


# ---------------------------------------------------------------------------- HPA


def _cross_version_ref(ref: dict[str, Any], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for key in ("kind", "name"):
        value = get_str(ref, key)
        if not value:
            errs.append(required(f"{path}.{key}", ""))
        else:
            errs += invalid_each(f"{path}.{key}", value, is_path_segment_name(value))
    api_version = get_str(ref, "apiVersion")
    if api_version.count("/") > 1:
        errs.append(invalid(f"{path}.apiVersion", api_version,
                            f"unexpected GroupVersion string: {api_version}"))
    return errs


def _metric_target(target: dict[str, Any], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    kind = get_str(target, "type")
    if not kind:
        errs.append(required(f"{path}.type", "must specify a metric target type"))
    if kind not in ("Utilization", "Value", "AverageValue"):
        errs.append(invalid(f"{path}.type", kind,
                            "must be either Utilization, Value, or AverageValue"))
    for key in ("value", "averageValue"):
        if has(target, key):
            parsed = quantity(target.get(key), f"{path}.{key}", errs)
            if parsed is not None and parsed.sign() != 1:
                errs.append(invalid(f"{path}.{key}", str(parsed), "must be positive"))
    utilization = get_int(target, "averageUtilization")
    if utilization is not None and utilization < 1:
        errs.append(invalid(f"{path}.averageUtilization", utilization, "must be greater than 0"))
    return errs


def _metric_identifier(metric: dict[str, Any], path: str) -> list[FieldError]:
    name = get_str(metric, "name")
    if not name:
        return [required(f"{path}.name", "must specify a metric name")]
    return invalid_each(f"{path}.name", name, is_path_segment_name(name))


def _metric_source(kind: str, src: dict[str, Any], path: str) -> list[FieldError]:
    target = get_map(src, "target")
    target_path = f"{path}.target"
    errs: list[FieldError] = []
    if kind == "object":
        errs += _cross_version_ref(get_map(src, "describedObject"), f"{path}.describedObject")
        errs += _metric_identifier(get_map(src, "metric"), f"{path}.metric")
        errs += _metric_target(target, target_path)
        if not has(target, "value") and not has(target, "averageValue"):
            errs.append(required(f"{target_path}.averageValue",
                                 "must set either a target value or averageValue"))
    elif kind == "external":
        errs += _metric_identifier(get_map(src, "metric"), f"{path}.metric")
        errs += _metric_target(target, target_path)
        if not has(target, "value") and not has(target, "averageValue"):
            errs.append(required(f"{target_path}.averageValue",
                                 "must set either a target value for metric or a per-pod "
                                 "target"))
        if has(target, "value") and has(target, "averageValue"):
            errs.append(field_forbidden(f"{target_path}.value",
                                        "may not set both a target value for metric and a "
                                        "per-pod target"))
    elif kind == "pods":
        errs += _metric_identifier(get_map(src, "metric"), f"{path}.metric")
        errs += _metric_target(target, target_path)
        if not has(target, "averageValue"):
            errs.append(required(f"{target_path}.averageValue",
                                 "must specify a positive target averageValue"))
    else:
        name = get_str(src, "name")
        if not name:
            errs.append(required(f"{path}.name", "must specify a resource name"))
        elif kind == "containerResource":
            errs += validate_container_resource_name(name, f"{path}.name")
        if kind == "containerResource":
            container = get_str(src, "container")
            if not container:
                errs.append(required(f"{path}.container", "must specify a container"))
            else:
                errs += invalid_each(f"{path}.container", container, is_dns1123_label(container))
        errs += _metric_target(target, target_path)
        if not has(target, "averageUtilization") and not has(target, "averageValue"):
            errs.append(required(f"{target_path}.averageUtilization",
                                 "must set either a target raw value or a target utilization"))
        if has(target, "averageUtilization") and has(target, "averageValue"):
            errs.append(field_forbidden(f"{target_path}.averageValue",
                                        "may not set both a target raw value and a target "
                                        "utilization"))
    return errs


_METRIC_TYPES = {"Object": "object", "Pods": "pods", "Resource": "resource",
                 "External": "external", "ContainerResource": "containerResource"}


def _metric_spec(metric: dict[str, Any], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    kind = get_str(metric, "type")
    allowed = sorted(_METRIC_TYPES)
    if not kind:
        errs.append(required(f"{path}.type", "must specify a metric source type"))
    if kind not in _METRIC_TYPES:
        errs.append(not_supported(f"{path}.type", kind, allowed))
    present: list[str] = []
    for key in ("object", "external", "pods", "resource", "containerResource"):
        if metric.get(key) is not None:
            present.append(key)
            if len(present) == 1:
                errs += _metric_source(key, get_map(metric, key), f"{path}.{key}")
    expected = _METRIC_TYPES.get(kind, "")
    if expected:
        if metric.get(expected) is None:
            errs.append(required(f"{path}.{expected}",
                                 "must populate information for the given metric source"))
    else:
        errs.append(not_supported(f"{path}.type", kind, allowed))
    if len(present) != 1:
        for key in present:
            if key != expected:
                errs.append(field_forbidden(f"{path}.{key}",
                                            "must populate the given metric source only"))
    return errs


def _scaling_rules(rules: Any, path: str) -> list[FieldError]:
    if rules is None:
        return []
    rule = as_map(rules)
    errs: list[FieldError] = []
    window = get_int(rule, "stabilizationWindowSeconds")
    if window is not None and window < 0:
        errs.append(invalid(f"{path}.stabilizationWindowSeconds", window,
                            "must be greater than or equal to zero"))
    if window is not None and window > MAX_STABILIZATION_WINDOW_SECONDS:
        errs.append(invalid(f"{path}.stabilizationWindowSeconds", window,
                            f"must be less than or equal to {MAX_STABILIZATION_WINDOW_SECONDS}"))
    select = rule.get("selectPolicy")
    if select is not None and select not in ("Disabled", "Max", "Min"):
        errs.append(not_supported(f"{path}.selectPolicy", select, ["Disabled", "Max", "Min"]))
    policies = get_maps(rule, "policies")
    if not policies:
        errs.append(required(f"{path}.policies", "must specify at least one Policy"))
    for i, policy in enumerate(policies):
        policy_path = f"{path}.policies[{i}]"
        if get_str(policy, "type") not in ("Pods", "Percent"):
            errs.append(not_supported(f"{policy_path}.type", get_str(policy, "type"),
                                      ["Percent", "Pods"]))
        if get_int0(policy, "value") <= 0:
            errs.append(invalid(f"{policy_path}.value", get_int0(policy, "value"),
                                "must be greater than zero"))
        period = get_int0(policy, "periodSeconds")
        if period <= 0:
            errs.append(invalid(f"{policy_path}.periodSeconds", period,
                                "must be greater than zero"))
        if period > MAX_HPA_PERIOD_SECONDS:
            errs.append(invalid(f"{policy_path}.periodSeconds", period,
                                f"must be less than or equal to {MAX_HPA_PERIOD_SECONDS}"))
    if has(rule, "tolerance"):
        tolerance = quantity(rule.get("tolerance"), f"{path}.tolerance", errs)
        if tolerance is not None and tolerance.sign() < 0:
            errs.append(invalid(f"{path}.tolerance", str(tolerance),
                                "must be greater than or equal to 0"))
    return errs


def _hpa_v1_as_v2(spec: dict[str, Any]) -> dict[str, Any]:
    """autoscaling/v1 expressed in v2 terms, the way upstream converts before validating."""
    converted = {k: v for k, v in spec.items() if k != "targetCPUUtilizationPercentage"}
    if spec.get("targetCPUUtilizationPercentage") is not None:
        converted["metrics"] = [{"type": "Resource", "resource": {"name": "cpu", "target": {
            "type": "Utilization",
            "averageUtilization": spec.get("targetCPUUtilizationPercentage")}}}]
    return converted


def _hpa_spec(spec: dict[str, Any]) -> list[FieldError]:
    errs: list[FieldError] = []
    low = get_int(spec, "minReplicas")
    high = get_int0(spec, "maxReplicas")
    if low is not None and low < 1:
        errs.append(invalid("spec.minReplicas", low, "must be greater than or equal to 1"))
    if high < 1:
        errs.append(invalid("spec.maxReplicas", high, "must be greater than 0"))
    if low is not None and high < low:
        errs.append(invalid("spec.maxReplicas", high,
                            "must be greater than or equal to `minReplicas`"))
    errs += _cross_version_ref(get_map(spec, "scaleTargetRef"), "spec.scaleTargetRef")
    metrics = get_maps(spec, "metrics")
    for i, metric in enumerate(metrics):
        errs += _metric_spec(metric, f"spec.metrics[{i}]")
    if low == 0 and not any(get_str(m, "type") in ("Object", "External") for m in metrics):
        errs.append(field_forbidden("spec.metrics", "must specify at least one Object or "
                                                    "External metric to support scaling to "
                                                    "zero replicas"))
    behavior = spec.get("behavior")
    if behavior is not None:
        errs += _scaling_rules(as_map(behavior).get("scaleUp"), "spec.behavior.scaleUp")
        errs += _scaling_rules(as_map(behavior).get("scaleDown"), "spec.behavior.scaleDown")
    return errs


def validate_hpa(obj: Any, *, v1: bool = False) -> list[FieldError]:
    """A HorizontalPodAutoscaler (``v1=True`` for autoscaling/v1 objects)."""
    obj = as_map(obj)
    spec = get_map(obj, "spec")
    errs = validate_object_meta(get_map(obj, "metadata"), namespaced=True,
                                name_rule=name_is_dns_subdomain)
    return errs + _hpa_spec(_hpa_v1_as_v2(spec) if v1 else spec)


def validate_hpa_update(new: Any, old: Any, *, v1: bool = False) -> list[FieldError]:
    """Metadata rules plus the spec rules."""
    new = as_map(new)
    errs = validate_object_meta_update(get_map(new, "metadata"), get_map(old, "metadata"))
    spec = get_map(new, "spec")
    return errs + _hpa_spec(_hpa_v1_as_v2(spec) if v1 else spec)


def validate_hpa_status_update(new: Any, old: Any) -> list[FieldError]:
    """Replica counts are non-negative."""
    errs = validate_object_meta_update(get_map(new, "metadata"), get_map(old, "metadata"))
    status = get_map(new, "status")
    for key in ("currentReplicas", "desiredReplicas"):
        errs += nonnegative(get_int0(status, key), f"status.{key}")
    return errs


# ---------------------------------------------------------------------------- PDB


def _pdb_spec(spec: dict[str, Any]) -> list[FieldError]:
    errs: list[FieldError] = []
    if spec.get("minAvailable") is not None and spec.get("maxUnavailable") is not None:
        errs.append(invalid("spec", spec, "minAvailable and maxUnavailable cannot be both set"))
    for key in ("minAvailable", "maxUnavailable"):
        if spec.get(key) is not None:
            errs += validate_positive_int_or_percent(spec.get(key), f"spec.{key}")
            errs += not_more_than_100_percent(spec.get(key), f"spec.{key}")
    errs += validate_label_selector(spec.get("selector"), "spec.selector")
    policy = spec.get("unhealthyPodEvictionPolicy")
    if policy is not None and policy not in ("AlwaysAllow", "IfHealthyBudget"):
        errs.append(not_supported("spec.unhealthyPodEvictionPolicy", policy,
                                  ["AlwaysAllow", "IfHealthyBudget"]))
    return errs


def validate_pod_disruption_budget(obj: Any) -> list[FieldError]:
    """Spec rules, then the generic store's metadata check (path-segment names)."""
    obj = as_map(obj)
    errs = _pdb_spec(get_map(obj, "spec"))
    if errs:
        # The generic store only checks metadata once the kind's own validation passed.
        return errs
    return validate_object_meta(get_map(obj, "metadata"), namespaced=True,
                                name_rule=name_is_path_segment)


def validate_pod_disruption_budget_update(new: Any, old: Any) -> list[FieldError]:
    """The spec is mutable; metadata rules apply."""
    errs = _pdb_spec(get_map(new, "spec"))
    if errs:
        return errs
    return validate_object_meta_update(get_map(new, "metadata"), get_map(old, "metadata"))


def validate_pod_disruption_budget_status_update(new: Any, old: Any) -> list[FieldError]:
    """Conditions well formed; counters non-negative."""
    status = get_map(new, "status")
    errs = validate_conditions(status.get("conditions"), "status.conditions")
    for key in ("disruptionsAllowed", "currentHealthy", "desiredHealthy", "expectedPods"):
        errs += nonnegative(get_int0(status, key), f"status.{key}")
    return errs + validate_object_meta_update(get_map(new, "metadata"), get_map(old, "metadata"))


# ---------------------------------------------------------------------------- EndpointSlice

ADDRESS_TYPES = ["FQDN", "IPv4", "IPv6"]


def _slice_address(address: str, address_type: str, path: str) -> list[FieldError]:
    ip = parse_ip_sloppy(address)
    if address_type == "IPv4":
        if ip is None or ip.version != 4:
            return [invalid(path, address, "must be a valid IPv4 address")]
        return validate_endpoint_ip(address, path)
    if address_type == "IPv6":
        if ip is None or ip.version != 6:
            return [invalid(path, address, "must be a valid IPv6 address")]
        return validate_endpoint_ip(address, path)
    if address_type == "FQDN":
        name = address.removesuffix(".")
        if not address:
            return [required(path, "")]
        msgs = is_dns1123_subdomain(name)
        if msgs:
            return [invalid(path, name, ",".join(msgs))]
        if len(name.split(".")) < 2:
            return [invalid(path, name,
                            "should be a domain with at least two segments separated by dots")]
        for label in name.split("."):
            label_msgs = is_dns1123_label(label)
            if label_msgs:
                return [invalid(path, label, ",".join(label_msgs))]
    return []


def _endpoint_slice(obj: dict[str, Any], types: list[str]) -> list[FieldError]:
    errs = validate_object_meta(get_map(obj, "metadata"), namespaced=True,
                                name_rule=name_is_dns_subdomain)
    address_type = get_str(obj, "addressType")
    if not address_type:
        errs.append(required("addressType", ""))
    elif address_type not in types:
        errs.append(not_supported("addressType", address_type, types))
    endpoints = get_maps(obj, "endpoints")
    if len(endpoints) > 1000:
        errs.append(too_many("endpoints", len(endpoints), 1000))
    else:
        for i, endpoint in enumerate(endpoints):
            path = f"endpoints[{i}]"
            addresses = get_strs(endpoint, "addresses")
            if not addresses:
                errs.append(required(f"{path}.addresses", "must contain at least 1 address"))
            elif len(addresses) > 100:
                errs.append(too_many(f"{path}.addresses", len(addresses), 100))
            for j, address in enumerate(addresses):
                errs += _slice_address(address, address_type, f"{path}.addresses[{j}]")
            topology = get_map(endpoint, "topology")
            if len(topology) > 16:
                errs.append(too_many(f"{path}.topology", len(topology), 16))
            errs += validate_labels(topology, f"{path}.topology")
            if has(endpoint, "hostname"):
                hostname = get_str(endpoint, "hostname")
                errs += invalid_each(f"{path}.hostname", hostname, is_dns1123_label(hostname))
    ports = get_maps(obj, "ports")
    if len(ports) > 100:
        errs.append(too_many("ports", len(ports), 100))
        return errs
    names: set[str] = set()
    for i, port in enumerate(ports):
        path = f"ports[{i}]"
        name = get_str(port, "name")
        if name:
            errs += invalid_each(f"{path}.name", name, is_dns1123_label(name))
        if name in names:
            errs.append(duplicate(f"{path}.name", name))
        names.add(name)
        protocol = port.get("protocol")
        if protocol is None:
            errs.append(required(f"{path}.protocol", ""))
        elif protocol not in ("SCTP", "TCP", "UDP"):
            errs.append(not_supported(f"{path}.protocol", protocol, ["SCTP", "TCP", "UDP"]))
        if has(port, "appProtocol"):
            app = get_str(port, "appProtocol")
            errs += invalid_each(f"{path}.appProtocol", app, is_qualified_name(app))
    return errs


def validate_endpoint_slice(obj: Any) -> list[FieldError]:
    """Address type, addresses matching it, ports."""
    return _endpoint_slice(as_map(obj), ADDRESS_TYPES)


def validate_endpoint_slice_update(new: Any, old: Any) -> list[FieldError]:
    """addressType is immutable (the deprecated ``IP`` type stays acceptable)."""
    new, old = as_map(new), as_map(old)
    errs = _endpoint_slice(new, ["FQDN", "IP", "IPv4", "IPv6"])
    errs += immutable(get_str(new, "addressType"), get_str(old, "addressType"), "addressType")
    return errs + validate_object_meta_update(get_map(new, "metadata"), get_map(old, "metadata"))


# ---------------------------------------------------------------------------- Lease

LEASE_STRATEGIES = ["OldestEmulationVersion"]


def _lease_spec(spec: dict[str, Any]) -> list[FieldError]:
    errs: list[FieldError] = []
    duration = get_int(spec, "leaseDurationSeconds")
    if duration is not None and duration <= 0:
        errs.append(invalid("spec.leaseDurationSeconds", duration, "must be greater than 0"))
    transitions = get_int(spec, "leaseTransitions")
    if transitions is not None and transitions < 0:
        errs.append(invalid("spec.leaseTransitions", transitions,
                            "must be greater than or equal to 0"))
    strategy = spec.get("strategy")
    if strategy is not None:
        text = strategy if isinstance(strategy, str) else ""
        if "/" not in text:
            if text not in LEASE_STRATEGIES:
                errs.append(not_supported("spec.strategy", text, LEASE_STRATEGIES))
        else:
            errs += invalid_each("spec.strategy", text, is_qualified_name(text))
    if get_str(spec, "preferredHolder") and not get_str(spec, "strategy"):
        errs.append(field_forbidden("spec.preferredHolder",
                                    "may only be specified if `strategy` is defined"))
    return errs


def validate_lease(obj: Any) -> list[FieldError]:
    """Durations positive, transitions non-negative."""
    return validate_meta_and_spec(obj, _lease_spec, namespaced=True,
                                  name_rule=name_is_dns_subdomain)


def validate_lease_update(new: Any, old: Any) -> list[FieldError]:
    """Metadata rules plus the spec rules."""
    return validate_meta_and_spec_update(new, old, _lease_spec)


__all__ = [
    "validate_cluster_role",
    "validate_cluster_role_binding",
    "validate_cluster_role_binding_update",
    "validate_cluster_role_update",
    "validate_endpoint_slice",
    "validate_endpoint_slice_update",
    "validate_hpa",
    "validate_hpa_status_update",
    "validate_hpa_update",
    "validate_lease",
    "validate_lease_update",
    "validate_pod_disruption_budget",
    "validate_pod_disruption_budget_status_update",
    "validate_pod_disruption_budget_update",
    "validate_role",
    "validate_role_binding",
    "validate_role_binding_update",
    "validate_role_update",
    "validate_storage_class",
    "validate_storage_class_update",
]
