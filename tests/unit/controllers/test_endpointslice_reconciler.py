"""EndpointSlice planning: at most 100 endpoints per slice, minimal churn, the placeholder,
reuse of slices about to be deleted; and the tracker's view of a stale cache."""

from __future__ import annotations

import copy
from typing import Any

from kubesmith.controllers.endpoint_common import EndpointPort
from kubesmith.controllers.endpointslice.desired import (
    EndpointKey,
    PortsKey,
    desired_endpoints,
    endpoint_key,
    render_ports,
)
from kubesmith.controllers.endpointslice.reconciler import plan_slices, slice_labels
from kubesmith.controllers.endpointslice.tracker import EndpointSliceTracker

SERVICE: dict[str, Any] = {
    "metadata": {"name": "web", "namespace": "ns", "uid": "svc-uid", "labels": {"team": "a"}},
    "spec": {"clusterIP": "10.96.0.1", "selector": {"app": "web"},
             "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]}}
PORTS: PortsKey = (EndpointPort("http", 8080, "TCP"),)


def endpoint(i: int, ready: bool = True) -> dict[str, Any]:
    return {"addresses": [f"10.0.{i // 250}.{i % 250 + 1}"],
            "conditions": {"ready": ready, "serving": ready, "terminating": False},
            "targetRef": {"kind": "Pod", "namespace": "ns", "name": f"p{i}", "uid": f"u{i}"},
            "nodeName": "n1"}


def desired(indexes: range | list[int]) -> dict[PortsKey, dict[EndpointKey, dict[str, Any]]]:
    return {PORTS: {endpoint_key(e): e for e in (endpoint(i) for i in indexes)}}


def materialize(created: list[dict[str, Any]], start: int = 0) -> list[dict[str, Any]]:
    """What the server returns for created slices: names and uids."""
    stored = []
    for n, s in enumerate(created, start):
        s = copy.deepcopy(s)
        s["metadata"].update(name=f"web-{n}", uid=f"slice-{n}", generation=1)
        stored.append(s)
    return stored


def test_250_endpoints_make_three_slices_and_then_nothing_changes() -> None:
    plan = plan_slices(SERVICE, [], desired(range(250)), "IPv4")
    assert sorted(len(s["endpoints"]) for s in plan.create) == [50, 100, 100]
    assert not plan.update and not plan.delete
    first = plan.create[0]
    assert first["metadata"]["generateName"] == "web-"
    assert first["metadata"]["labels"] == {
        "team": "a", "kubernetes.io/service-name": "web",
        "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}
    assert first["metadata"]["ownerReferences"][0]["uid"] == "svc-uid"
    assert first["ports"] == render_ports(PORTS) == [
        {"name": "http", "port": 8080, "protocol": "TCP"}]
    assert plan_slices(SERVICE, materialize(plan.create), desired(range(250)), "IPv4").empty


def test_changes_touch_as_few_slices_as_possible() -> None:
    stored = materialize(plan_slices(SERVICE, [], desired(range(250)), "IPv4").create)
    # One endpoint goes: only its slice is rewritten.
    gone = stored[0]["endpoints"][0]["targetRef"]["name"]
    keep = [i for i in range(250) if f"p{i}" != gone]
    plan = plan_slices(SERVICE, stored, desired(keep), "IPv4")
    assert [s["metadata"]["name"] for s in plan.update] == ["web-0"]
    assert not plan.create and not plan.delete
    # One endpoint arrives: it fills the emptiest slice that fits, no new slice.
    plan = plan_slices(SERVICE, stored, desired(range(251)), "IPv4")
    assert not plan.create and len(plan.update) == 1
    assert len(plan.update[0]["endpoints"]) == 51
    # A condition flips: updated in place.
    wanted = desired(range(250))
    changed = next(iter(wanted[PORTS].values()))
    changed["conditions"] = {"ready": False, "serving": False, "terminating": False}
    plan = plan_slices(SERVICE, stored, wanted, "IPv4")
    assert len(plan.update) == 1 and not plan.create and not plan.delete
    # Service labels changed: every slice gets them.
    relabelled = copy.deepcopy(SERVICE)
    relabelled["metadata"]["labels"] = {"team": "b"}
    assert len(plan_slices(relabelled, stored, desired(range(250)), "IPv4").update) == 3


def test_placeholder_and_reuse_of_deleted_slices() -> None:
    plan = plan_slices(SERVICE, [], {}, "IPv4")
    [placeholder] = plan.create
    assert placeholder["endpoints"] == [] and placeholder["ports"] == []
    stored = materialize([placeholder])
    # The placeholder stays as long as nothing is selected...
    assert plan_slices(SERVICE, stored, {}, "IPv4").empty
    # ...and becomes the first real slice instead of a delete plus a create.
    plan = plan_slices(SERVICE, stored, desired(range(3)), "IPv4")
    assert not plan.create and not plan.delete
    assert [s["metadata"]["name"] for s in plan.update] == ["web-0"]
    assert len(plan.update[0]["endpoints"]) == 3 and plan.update[0]["ports"]
    # A slice owned by another (older) Service of the same name is replaced.
    foreign = materialize([placeholder])[0]
    foreign["metadata"]["ownerReferences"][0]["uid"] = "old-uid"
    plan = plan_slices(SERVICE, [foreign], desired(range(3)), "IPv4")
    assert len(plan.create) == 1 and [s["metadata"]["name"] for s in plan.delete] == ["web-0"]


def test_headless_label_and_reserved_service_labels() -> None:
    headless = copy.deepcopy(SERVICE)
    headless["spec"]["clusterIP"] = "None"
    headless["metadata"]["labels"] = {"kubernetes.io/service-name": "spoof", "x": "y"}
    labels, _ = slice_labels(None, headless)
    assert labels == {"x": "y", "service.kubernetes.io/headless": "",
                      "kubernetes.io/service-name": "web",
                      "endpointslice.kubernetes.io/managed-by":
                          "endpointslice-controller.k8s.io"}


def test_desired_endpoints_need_known_nodes_unless_published() -> None:
    pod = {"metadata": {"name": "p", "namespace": "ns", "uid": "u"},
           "spec": {"nodeName": "ghost", "containers": []},
           "status": {"phase": "Running", "podIPs": [{"ip": "10.0.0.9"}],
                      "conditions": [{"type": "Ready", "status": "False"}]}}
    found = desired_endpoints(SERVICE, [pod], lambda name: None, "IPv4")
    assert found.by_ports == {PORTS: {}}
    assert found.errors == ["skipping Pod p for Service ns/web: Node ghost Not Found"]
    published = copy.deepcopy(SERVICE)
    published["spec"]["publishNotReadyAddresses"] = True
    found = desired_endpoints(published, [pod], lambda name: None, "IPv4")
    [only] = found.by_ports[PORTS].values()
    assert only["conditions"] == {"ready": True, "serving": False, "terminating": False}
    assert not found.errors
    # No IPv6 address: no IPv6 endpoint.
    assert desired_endpoints(published, [pod], lambda name: None, "IPv6").by_ports == \
        {PORTS: {}}


def test_tracker_detects_a_stale_cache() -> None:
    tracker = EndpointSliceTracker()
    written = {"metadata": {"uid": "s1", "generation": 2}}
    tracker.expect("ns/web", written)
    assert tracker.stale("ns/web", [])  # created but not cached yet
    assert tracker.stale("ns/web", [{"metadata": {"uid": "s1", "generation": 1}}])
    assert not tracker.stale("ns/web", [written])
    assert not tracker.should_sync(written)  # the echo of our own write
    assert tracker.should_sync({"metadata": {"uid": "s1", "generation": 3}})
    tracker.expect_deletion("ns/web", written)
    assert tracker.stale("ns/web", [written])
    assert not tracker.stale("ns/web", [])
    assert tracker.handle_deletion(written)
    assert not tracker.has(written)
    assert not tracker.handle_deletion({"metadata": {"uid": "other"}})
