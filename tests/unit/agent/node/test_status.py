"""The Node the agent registers, adoption of an existing one, images and status patches;
the shared condition bookkeeping."""

from __future__ import annotations

from kubesmith.agent.node.nodeobjects import (
    HEALTHY,
    READY,
    merge_conditions,
    node_lease,
    render_status,
    well_known_labels,
)
from kubesmith.agent.node.status import adoption_patch, new_node, node_images

T0 = 1_800_000_000.0
AT_T0, AT_T1 = "2027-01-15T08:00:00Z", "2027-01-15T08:01:00Z"


def test_new_node() -> None:
    taints = [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]
    node = new_node("n1", {**well_known_labels("n1"), "team": "a"}, taints)
    assert node["metadata"]["labels"]["kubernetes.io/hostname"] == "n1"
    assert node["metadata"]["labels"]["team"] == "a"
    assert node["metadata"]["annotations"] == {
        "volumes.kubernetes.io/controller-managed-attach-detach": "true"}
    assert node["spec"]["taints"] == taints and node["spec"]["taints"] is not taints
    assert new_node("n1", {}, [])["spec"] == {}


def test_adoption_restores_default_labels_only() -> None:
    wanted = new_node("n1", {**well_known_labels("n1"), "team": "a"}, [])
    existing = {"metadata": {"name": "n1", "labels": {
        "kubernetes.io/hostname": "old", "kubernetes.io/os": "linux", "team": "b",
        "custom": "kept"}, "annotations": {}}}
    assert adoption_patch(existing, wanted) == {"metadata": {
        "labels": {"kubernetes.io/hostname": "n1", "kubernetes.io/arch": "amd64",
                   "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64"},
        "annotations": {"volumes.kubernetes.io/controller-managed-attach-detach": "true"}}}
    assert adoption_patch(wanted, wanted) is None


def test_images_largest_first_with_five_names_at_most() -> None:
    images = [(["a@sha256:1", "a:1"], 10), ([f"b:{i}" for i in range(7)], 30), ([], 99)]
    images += [([f"x{i}:1"], 1) for i in range(60)]
    listed = node_images(images)
    assert len(listed) == 50
    assert listed[0] == {"names": ["b:0", "b:1", "b:2", "b:3", "b:4"], "sizeBytes": 30}
    assert listed[1] == {"names": ["a@sha256:1", "a:1"], "sizeBytes": 10}


def test_conditions_keep_times_until_a_change_or_the_report_interval() -> None:
    first = merge_conditions([], HEALTHY, T0, AT_T0)
    assert {c["lastHeartbeatTime"] for c in first} == {AT_T0}
    assert merge_conditions(first, HEALTHY, T0 + 60, AT_T1) == first
    due = merge_conditions(first, HEALTHY, T0 + 300, "2027-01-15T08:05:00Z")
    assert {c["lastHeartbeatTime"] for c in due} == {"2027-01-15T08:05:00Z"}
    assert {c["lastTransitionTime"] for c in due} == {AT_T0}
    not_ready = ("Ready", "False", "KubeletNotReady", "runtime down")
    changed = merge_conditions(first, (*HEALTHY[:3], not_ready), T0 + 60, AT_T1)
    by_type = {c["type"]: c for c in changed}
    assert by_type["Ready"]["lastTransitionTime"] == AT_T1
    assert by_type["MemoryPressure"]["lastTransitionTime"] == AT_T0
    assert {c["lastHeartbeatTime"] for c in changed} == {AT_T1}


def test_render_status_keeps_others_fields_and_conditions() -> None:
    node = {"status": {"conditions": [{"type": "NetworkUnavailable", "status": "False"}],
                       "volumesAttached": [{"name": "v"}]}}
    status = render_status(node, {"capacity": {"cpu": "1"}}, (READY,), T0, AT_T0)
    assert status["volumesAttached"] == [{"name": "v"}]
    assert [c["type"] for c in status["conditions"]] == ["NetworkUnavailable", "Ready"]
    assert "capacity" not in node["status"]


def test_lease_gains_its_owner_once_the_node_uid_is_known() -> None:
    lease = node_lease("n1", "", 40, "2027-01-15T08:00:00.000000Z")
    assert "ownerReferences" not in lease["metadata"]
    owned = node_lease("n1", "uid-1", 40, "2027-01-15T08:00:10.000000Z", lease)
    assert owned["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    assert owned["spec"]["renewTime"] == "2027-01-15T08:00:10.000000Z"
