"""Defaults for the smaller groups: networking, storage, rbac, autoscaling, discovery and
scheduling (each from its ``pkg/apis/<group>/<version>/defaults.go``).

Groups without a defaults.go upstream (policy, coordination, events, node...) have no
defaulter at all; ``kubesmith.api.defaults.defaulter_for`` returns None for them.
"""

from __future__ import annotations

import copy
from typing import Any

from kubesmith.api.defaults._util import Obj, child, children, default_ptr, default_str

RBAC_GROUP = "rbac.authorization.k8s.io"
DEFAULT_CPU_UTILIZATION = 80

# autoscaling/v2 behavior defaults (pkg/apis/autoscaling/v2/defaults.go).
_SCALE_UP_RULES: Obj = {
    "stabilizationWindowSeconds": 0,
    "selectPolicy": "Max",
    "policies": [
        {"type": "Pods", "value": 4, "periodSeconds": 15},
        {"type": "Percent", "value": 100, "periodSeconds": 15},
    ],
}
# No stabilization window: the controller's --horizontal-pod-autoscaler-downscale-
# stabilization flag supplies it, so the API leaves it unset.
_SCALE_DOWN_RULES: Obj = {
    "selectPolicy": "Max",
    "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
}


def default_network_policy(obj: Obj) -> None:
    """Ports default to TCP; policyTypes derived from the rules present."""
    spec = child(obj, "spec", create=True)
    if spec is None:
        return
    if not spec.get("policyTypes"):
        types = ["Ingress"]
        if spec.get("egress"):
            types.append("Egress")
        spec["policyTypes"] = types
    for key in ("ingress", "egress"):
        for rule in children(spec, key):
            for port in children(rule, "ports"):
                default_ptr(port, "protocol", "TCP")


def default_ingress_class(obj: Obj) -> None:
    """Parameter references are cluster-scoped unless said otherwise."""
    spec = child(obj, "spec")
    parameters = child(spec, "parameters") if spec is not None else None
    if parameters is not None:
        default_ptr(parameters, "scope", "Cluster")


def default_storage_class(obj: Obj) -> None:
    """reclaimPolicy Delete, volumeBindingMode Immediate."""
    default_ptr(obj, "reclaimPolicy", "Delete")
    default_ptr(obj, "volumeBindingMode", "Immediate")


def default_csi_driver(obj: Obj) -> None:
    """``SetDefaults_CSIDriver``."""
    spec = child(obj, "spec", create=True)
    if spec is None:
        return
    default_ptr(spec, "attachRequired", True)
    default_ptr(spec, "podInfoOnMount", False)
    default_ptr(spec, "storageCapacity", False)
    default_ptr(spec, "fsGroupPolicy", "ReadWriteOnceWithFSType")
    if not spec.get("volumeLifecycleModes"):
        spec["volumeLifecycleModes"] = ["Persistent"]
    default_ptr(spec, "requiresRepublish", False)
    default_ptr(spec, "seLinuxMount", False)


def default_role_binding(obj: Obj) -> None:
    """roleRef and subject apiGroups (RoleBinding and ClusterRoleBinding)."""
    role_ref = child(obj, "roleRef", create=True)
    if role_ref is not None:
        default_str(role_ref, "apiGroup", RBAC_GROUP)
    for subject in children(obj, "subjects"):
        # ServiceAccount subjects keep the (empty, so omitted on the wire) core group.
        if subject.get("apiGroup") in (None, "") and subject.get("kind") in ("User", "Group"):
            subject["apiGroup"] = RBAC_GROUP


def default_hpa_v1(obj: Obj) -> None:
    """minReplicas 1; the CPU target upstream materialises through conversion is 80%."""
    spec = child(obj, "spec", create=True)
    if spec is None:
        return
    default_ptr(spec, "minReplicas", 1)
    default_ptr(spec, "targetCPUUtilizationPercentage", DEFAULT_CPU_UTILIZATION)


def _merge_rules(given: Any, defaults: Obj) -> Obj:
    rules = copy.deepcopy(defaults)
    if isinstance(given, dict):
        for key in ("selectPolicy", "stabilizationWindowSeconds", "policies", "tolerance"):
            if given.get(key) is not None:
                rules[key] = given[key]
    return rules


def default_hpa_v2(obj: Obj) -> None:
    """minReplicas 1, 80% CPU when no metrics, scaling rules filled in when behavior is set."""
    spec = child(obj, "spec", create=True)
    if spec is None:
        return
    default_ptr(spec, "minReplicas", 1)
    if not spec.get("metrics"):
        spec["metrics"] = [{
            "type": "Resource",
            "resource": {"name": "cpu", "target": {
                "type": "Utilization", "averageUtilization": DEFAULT_CPU_UTILIZATION}},
        }]
    behavior = child(spec, "behavior")
    if behavior is not None:
        behavior["scaleUp"] = _merge_rules(behavior.get("scaleUp"), _SCALE_UP_RULES)
        behavior["scaleDown"] = _merge_rules(behavior.get("scaleDown"), _SCALE_DOWN_RULES)


def default_endpoint_slice(obj: Obj) -> None:
    """Ports get ``name: ""`` and ``protocol: TCP``."""
    for port in children(obj, "ports"):
        default_ptr(port, "name", "")
        default_ptr(port, "protocol", "TCP")


def default_priority_class(obj: Obj) -> None:
    """preemptionPolicy PreemptLowerPriority."""
    default_ptr(obj, "preemptionPolicy", "PreemptLowerPriority")
