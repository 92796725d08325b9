"""--node-labels: reserved namespaces refused with the kubelet's message, others checked as
label keys and values."""

from __future__ import annotations

import pytest

from kubesmith.agent.node.labels import (
    NodeLabelError,
    is_kubelet_label,
    is_kubernetes_label,
    validate_node_labels,
)


@pytest.mark.parametrize("key", [
    "kubernetes.io/hostname", "topology.kubernetes.io/zone", "node.kubernetes.io/instance-type",
    "node.kubernetes.io/pool", "kubelet.kubernetes.io/anything", "x.node.kubernetes.io/y",
    "beta.kubernetes.io/arch", "failure-domain.beta.kubernetes.io/zone",
])
def test_labels_a_kubelet_may_set(key: str) -> None:
    assert is_kubernetes_label(key) and is_kubelet_label(key)
    validate_node_labels({key: "v"})


@pytest.mark.parametrize("key", ["team", "example.com/gpu", "kubernetes.io.example.com/x"])
def test_ordinary_labels(key: str) -> None:
    assert not is_kubernetes_label(key)
    validate_node_labels({key: "yes"})


def test_reserved_labels_are_refused_with_upstreams_message() -> None:
    with pytest.raises(NodeLabelError) as caught:
        validate_node_labels({"node-role.kubernetes.io/worker": "", "a.k8s.io/b": "1",
                              "team": "x"})
    assert str(caught.value) == (
        "unknown 'kubernetes.io' or 'k8s.io' labels specified with --node-labels: "
        "[a.k8s.io/b node-role.kubernetes.io/worker]\n"
        "--node-labels in the 'kubernetes.io' namespace must begin with an allowed prefix "
        "(kubelet.kubernetes.io, node.kubernetes.io) or be in the specifically allowed set "
        "(beta.kubernetes.io/arch, beta.kubernetes.io/instance-type, beta.kubernetes.io/os, "
        "failure-domain.beta.kubernetes.io/region, failure-domain.beta.kubernetes.io/zone, "
        "kubernetes.io/arch, kubernetes.io/hostname, kubernetes.io/os, "
        "node.kubernetes.io/instance-type, topology.kubernetes.io/region, "
        "topology.kubernetes.io/zone)")


def test_malformed_labels() -> None:
    with pytest.raises(NodeLabelError, match=r"^invalid node labels: 'bad key!' - name part"):
        validate_node_labels({"bad key!": "ok"})
    with pytest.raises(NodeLabelError, match=r"'-bad-' - a valid label must be"):
        validate_node_labels({"ok": "-bad-"})
