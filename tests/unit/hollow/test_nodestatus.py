"""What a hollow node registers and reports: labels, status, heartbeats, its Lease."""

from __future__ import annotations

from typing import Any

from kubesmith.hollow.clock import api_time
from kubesmith.hollow.nodestatus import (
    NodeTemplate,
    desired_node_status,
    heartbeat_due,
    new_node,
    node_lease,
)
from kubesmith.hollow.podstatus import merge_patch

T0 = 1_800_000_000.0
TEMPLATE = NodeTemplate(cpu="4", memory="16Gi", pods=50, labels={"zone": "a"},
                        taints=[{"key": "k", "value": "v", "effect": "NoSchedule"}])


def registered(now: float = T0) -> dict[str, Any]:
    node = new_node("hollow-node-3", TEMPLATE)
    node["metadata"]["uid"] = "n-uid"
    node["status"] = desired_node_status(node, TEMPLATE, "10.128.0.4", now)
    return node


def test_new_node_labels_and_taints() -> None:
    node = new_node("hollow-node-3", TEMPLATE)
    labels = node["metadata"]["labels"]
    assert labels["kubernetes.io/hostname"] == "hollow-node-3"
    assert labels["kubernetes.io/os"] == "linux" and labels["kubernetes.io/arch"] == "amd64"
    assert labels["type"] == "hollow" and labels["zone"] == "a"
    assert node["spec"]["taints"] == TEMPLATE.taints
    assert node["spec"]["taints"] is not TEMPLATE.taints


def test_status_reports_capacity_addresses_info_and_ready() -> None:
    status = registered()["status"]
    assert status["capacity"] == status["allocatable"]
    assert {k: status["capacity"][k] for k in ("cpu", "memory", "pods")} == \
        {"cpu": "4", "memory": "16Gi", "pods": "50"}
    assert "ephemeral-storage" in status["capacity"]
    assert status["addresses"] == [{"type": "InternalIP", "address": "10.128.0.4"},
                                   {"type": "Hostname", "address": "hollow-node-3"}]
    assert status["daemonEndpoints"] == {"kubeletEndpoint": {"Port": 10250}}
    info = status["nodeInfo"]
    assert info["kubeletVersion"].startswith("v1.37.")
    assert info["kubeletVersion"].endswith("-kubesmith-hollow")
    assert info["containerRuntimeVersion"] == "hollow://1"
    assert (info["operatingSystem"], info["architecture"]) == ("linux", "amd64")
    by_type = {c["type"]: c for c in status["conditions"]}
    assert by_type["Ready"]["status"] == "True"
    assert by_type["Ready"]["reason"] == "KubeletReady"
    assert by_type["Ready"]["message"] == "kubelet is posting ready status"
    for type_, reason in (("MemoryPressure", "KubeletHasSufficientMemory"),
                          ("DiskPressure", "KubeletHasNoDiskPressure"),
                          ("PIDPressure", "KubeletHasSufficientPID")):
        assert (by_type[type_]["status"], by_type[type_]["reason"]) == ("False", reason)


def test_heartbeat_only_every_report_interval() -> None:
    node = registered()
    within = desired_node_status(node, TEMPLATE, "10.128.0.4", T0 + 299)
    assert merge_patch(node["status"], within) == {}
    assert not heartbeat_due(node, T0 + 299)
    assert heartbeat_due(node, T0 + 300)
    due = desired_node_status(node, TEMPLATE, "10.128.0.4", T0 + 300)
    patch = merge_patch(node["status"], due)
    assert set(patch) == {"conditions"}
    for cond in due["conditions"]:
        assert cond["lastHeartbeatTime"] == api_time(T0 + 300)
        assert cond["lastTransitionTime"] == api_time(T0)


def test_ready_is_reported_again_at_once_after_someone_marked_it_unknown() -> None:
    node = registered()
    ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
    ready.update(status="Unknown", reason="NodeStatusUnknown",
                 message="Kubelet stopped posting node status.")
    status = desired_node_status(node, TEMPLATE, "10.128.0.4", T0 + 60)
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("True", "KubeletReady")
    assert ready["lastTransitionTime"] == api_time(T0 + 60)


def test_conditions_of_others_are_kept() -> None:
    node = registered()
    network = {"type": "NetworkUnavailable", "status": "False", "reason": "RouteCreated"}
    node["status"]["conditions"].insert(0, network)
    status = desired_node_status(node, TEMPLATE, "10.128.0.4", T0 + 1)
    assert status["conditions"][0] == network
    assert merge_patch(node["status"], status) == {}


def test_lease_is_owned_by_the_node_and_renewed_in_place() -> None:
    lease = node_lease("hollow-node-3", "n-uid", 40, T0)
    assert lease["metadata"]["namespace"] == "kube-node-lease"
    assert lease["metadata"]["ownerReferences"] == [
        {"apiVersion": "v1", "kind": "Node", "name": "hollow-node-3", "uid": "n-uid"}]
    assert lease["spec"] == {"holderIdentity": "hollow-node-3", "leaseDurationSeconds": 40,
                             "renewTime": "2027-01-15T08:00:00.000000Z"}
    lease["metadata"]["resourceVersion"] = "17"
    renewed = node_lease("hollow-node-3", "n-uid", 40, T0 + 10.25, lease)
    assert renewed["metadata"]["resourceVersion"] == "17"
    assert renewed["spec"]["renewTime"] == "2027-01-15T08:00:10.250000Z"
    assert lease["spec"]["renewTime"] == "2027-01-15T08:00:00.000000Z"  # not modified
