"""Which nodes a DaemonSet runs on, and the pods it makes for them."""

from __future__ import annotations

from typing import Any

import pytest

from kubesmith.controllers.daemonset.placement import (
    Placement,
    add_daemon_tolerations,
    pin_to_node,
    pod_template,
    target_node,
    template_generation,
)


def ds(**pod_spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "agent", "annotations": {
                "deprecated.daemonset.template.generation": "3"}},
            "spec": {"template": {"metadata": {"labels": {"app": "agent"}},
                                  "spec": {"containers": [{"name": "c"}], **pod_spec}}}}


def node(name: str = "n1", labels: dict[str, str] | None = None,
         taints: list[tuple[str, str]] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels or {}},
            "spec": {"taints": [{"key": k, "value": "x", "effect": e}
                                for k, e in taints or ()]}}


@pytest.mark.parametrize(("pod_spec", "the_node", "verdict"), [
    ({}, node(), (True, True)),
    ({"nodeSelector": {"role": "w"}}, node(labels={"role": "w"}), (True, True)),
    ({"nodeSelector": {"role": "w"}}, node(), (False, False)),
    ({"nodeName": "other"}, node(), (False, False)),
    ({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [
            {"key": "zone", "operator": "In", "values": ["a"]}]}]}}}},
     node(labels={"zone": "b"}), (False, False)),
    # An untolerated NoSchedule taint keeps new pods away but lets a running one stay.
    ({}, node(taints=[("dedicated", "NoSchedule")]), (False, True)),
    ({}, node(taints=[("dedicated", "NoExecute")]), (False, False)),
    ({"tolerations": [{"key": "dedicated", "operator": "Exists"}]},
     node(taints=[("dedicated", "NoExecute")]), (True, True)),
    # The default daemon tolerations cover node conditions.
    ({}, node(taints=[("node.kubernetes.io/unschedulable", "NoSchedule"),
                      ("node.kubernetes.io/not-ready", "NoExecute")]), (True, True)),
    ({}, node(taints=[("node.kubernetes.io/network-unavailable", "NoSchedule")]),
     (False, True)),
    ({"hostNetwork": True},
     node(taints=[("node.kubernetes.io/network-unavailable", "NoSchedule")]), (True, True)),
    ({}, node(taints=[("soft", "PreferNoSchedule")]), (True, True)),
], ids=["plain", "selector-match", "selector-miss", "node-name", "affinity-miss",
        "noschedule", "noexecute", "tolerated", "default-tolerations",
        "network-unavailable", "host-network", "prefer-no-schedule"])
def test_node_verdicts(pod_spec: dict[str, Any], the_node: dict[str, Any],
                       verdict: tuple[bool, bool]) -> None:
    assert Placement.of(ds(**pod_spec)).evaluate(the_node) == verdict


def test_default_tolerations_replace_equal_ones_only() -> None:
    spec: dict[str, Any] = {"tolerations": [
        {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
         "tolerationSeconds": 60},
        {"key": "custom", "operator": "Exists"}]}
    add_daemon_tolerations(spec)
    assert spec["tolerations"][0] == {"key": "node.kubernetes.io/not-ready",
                                      "operator": "Exists", "effect": "NoExecute"}
    assert spec["tolerations"][1] == {"key": "custom", "operator": "Exists"}
    assert len(spec["tolerations"]) == 7
    add_daemon_tolerations(spec)
    assert len(spec["tolerations"]) == 7  # idempotent


def test_pod_template_labels_and_pinning() -> None:
    template = pod_template(ds(affinity={"podAffinity": {"x": 1}}), 3, "abc")
    assert template["metadata"]["labels"] == {"app": "agent", "pod-template-generation": "3",
                                              "controller-revision-hash": "abc"}
    spec = template["spec"]
    pin_to_node(spec, "n7")
    assert spec["affinity"]["podAffinity"] == {"x": 1}
    pod = {"spec": spec}
    assert target_node(pod) == "n7"
    assert target_node({"spec": {**spec, "nodeName": "bound"}}) == "bound"
    assert target_node({"spec": {}}) is None
    assert template_generation(ds()) == 3
    assert template_generation({"metadata": {}}) is None
