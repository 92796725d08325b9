"""Which labels a node may give itself (``--node-labels``), checked as the kubelet checks
its flags before it starts.

Labels in the ``kubernetes.io`` and ``k8s.io`` namespaces are reserved: a kubelet may set
only the few it owns (hostname, os, arch, instance type, topology) and those under
``kubelet.kubernetes.io`` or ``node.kubernetes.io``, because NodeRestriction admission would
refuse the rest (a node must not be able to steer workloads to itself with, say,
``node-role.kubernetes.io/control-plane``). Errors carry upstream's wording.
"""

from __future__ import annotations

from collections.abc import Mapping

from kubesmith.api.validation.names import is_label_value, is_qualified_name

#: Label keys a kubelet may set on its own Node (sorted, as upstream lists them).
KUBELET_LABELS: tuple[str, ...] = (
    "beta.kubernetes.io/arch",
    "beta.kubernetes.io/instance-type",
    "beta.kubernetes.io/os",
    "failure-domain.beta.kubernetes.io/region",
    "failure-domain.beta.kubernetes.io/zone",
    "kubernetes.io/arch",
    "kubernetes.io/hostname",
    "kubernetes.io/os",
    "node.kubernetes.io/instance-type",
    "topology.kubernetes.io/region",
    "topology.kubernetes.io/zone",
)
#: Label namespaces (and their subdomains) a kubelet may use freely.
KUBELET_LABEL_NAMESPACES: tuple[str, ...] = ("kubelet.kubernetes.io", "node.kubernetes.io")


class NodeLabelError(ValueError):
    """``--node-labels`` holds a label the kubelet refuses; the message is upstream's."""


def _namespace(key: str) -> str:
    prefix, slash, _ = key.partition("/")
    return prefix if slash else ""


def _in_domain(namespace: str, domain: str) -> bool:
    return namespace == domain or namespace.endswith("." + domain)


def is_kubernetes_label(key: str) -> bool:
    """Whether ``key`` is in a reserved namespace (``kubernetes.io``, ``k8s.io`` or a
    subdomain of either)."""
    namespace = _namespace(key)
    return _in_domain(namespace, "kubernetes.io") or _in_domain(namespace, "k8s.io")


def is_kubelet_label(key: str) -> bool:
    """Whether a kubelet may set ``key`` on its own Node."""
    namespace = _namespace(key)
    return key in KUBELET_LABELS or any(_in_domain(namespace, allowed)
                                        for allowed in KUBELET_LABEL_NAMESPACES)


def validate_node_labels(labels: Mapping[str, str]) -> None:
    """Raise :class:`NodeLabelError` unless every label may be set by the node itself and
    is a well-formed label."""
    unknown = sorted(k for k in labels if is_kubernetes_label(k) and not is_kubelet_label(k))
    if unknown:
        raise NodeLabelError(
            f"unknown 'kubernetes.io' or 'k8s.io' labels specified with --node-labels: "
            f"[{' '.join(unknown)}]\n--node-labels in the 'kubernetes.io' namespace must "
            f"begin with an allowed prefix ({', '.join(KUBELET_LABEL_NAMESPACES)}) or be in "
            f"the specifically allowed set ({', '.join(KUBELET_LABELS)})")
    invalid: dict[str, list[str]] = {}
    for key, value in labels.items():
        invalid.setdefault(key, []).extend(is_qualified_name(key))
        invalid.setdefault(value, []).extend(is_label_value(value))
    problems = [f"'{item}' - {', '.join(errs)}" for item, errs in sorted(invalid.items())
                if errs]
    if problems:
        raise NodeLabelError(f"invalid node labels: {'; '.join(problems)}")
