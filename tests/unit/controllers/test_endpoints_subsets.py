"""How the Endpoints controller packs pods into subsets, and truncation at 1000."""

from __future__ import annotations

from typing import Any

from kubesmith.controllers.endpoints import (
    MAX_CAPACITY,
    canonical_subsets,
    desired_subsets,
    truncate_subsets,
)


def pod(name: str, ip: str, ready: bool = True, web: int = 8080) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}"},
            "spec": {"nodeName": "n1", "containers": [
                {"name": "c", "ports": [{"name": "web", "containerPort": web}]}]},
            "status": {"phase": "Running", "podIPs": [{"ip": ip}], "conditions": [
                {"type": "Ready", "status": "True" if ready else "False"}]}}


def service(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "svc", "namespace": "ns"},
            "spec": {"clusterIP": "10.96.0.10", "selector": {}, **spec}}


PORTS = [{"name": "http", "port": 80, "targetPort": "web", "protocol": "TCP"},
         {"name": "metrics", "port": 9090, "targetPort": 9090, "protocol": "TCP"}]


def ips(addresses: list[dict[str, Any]] | None) -> list[str]:
    return [a["ip"] for a in addresses or ()]


def test_subsets_group_addresses_by_the_ports_they_serve() -> None:
    pods = [pod("a", "10.0.0.1"), pod("b", "10.0.0.2", ready=False),
            pod("c", "10.0.0.3", web=8081)]
    subsets = desired_subsets(service(ports=PORTS), pods)
    by_ports = {tuple((p["name"], p["port"]) for p in s["ports"]):
                (ips(s.get("addresses")), ips(s.get("notReadyAddresses"))) for s in subsets}
    assert by_ports == {
        (("http", 8080),): (["10.0.0.1"], ["10.0.0.2"]),
        (("http", 8081),): (["10.0.0.3"], []),
        (("metrics", 9090),): (["10.0.0.1", "10.0.0.3"], ["10.0.0.2"]),
    }
    address = subsets[0].get("addresses", subsets[0].get("notReadyAddresses"))[0]
    assert set(address) == {"ip", "nodeName", "targetRef"}
    # Same ports served by the same addresses: one subset listing both ports.
    same = desired_subsets(service(ports=PORTS), [pod("a", "10.0.0.1")])
    assert [[p["name"] for p in s["ports"]] for s in same] == [["http", "metrics"]]


def test_stored_form_compares_equal() -> None:
    subsets = desired_subsets(service(ports=PORTS), [pod("a", "10.0.0.1"),
                                                     pod("b", "10.0.0.2", ready=False)])
    stored = [dict(s, ports=list(reversed(s["ports"]))) for s in reversed(subsets)]
    for s in stored:
        for a in s.get("addresses", []):
            a["targetRef"] = dict(a["targetRef"], resourceVersion="42")
    assert canonical_subsets(stored) == canonical_subsets(subsets)


def test_publish_not_ready_and_headless_without_ports() -> None:
    subsets = desired_subsets(service(ports=PORTS[1:], publishNotReadyAddresses=True),
                              [pod("b", "10.0.0.2", ready=False)])
    assert [ips(s.get("addresses")) for s in subsets] == [["10.0.0.2"]]
    headless = desired_subsets(service(clusterIP="None"), [pod("a", "10.0.0.1"),
                                                           pod("b", "10.0.0.2", ready=False)])
    assert headless == [{"addresses": headless[0]["addresses"],
                         "notReadyAddresses": headless[0]["notReadyAddresses"]}]


def _addresses(n: int, prefix: str) -> list[dict[str, Any]]:
    return [{"ip": f"{prefix}.{i // 250}.{i % 250}"} for i in range(n)]


def test_truncation_keeps_ready_first_and_shares_per_subset() -> None:
    subsets: list[dict[str, Any]] = [
        {"addresses": _addresses(600, "10.1"), "notReadyAddresses": _addresses(300, "10.2")},
        {"addresses": _addresses(200, "10.3"), "notReadyAddresses": _addresses(100, "10.4")}]
    assert truncate_subsets(subsets)
    assert sum(len(s.get("addresses", [])) for s in subsets) == 800
    not_ready = [len(s.get("notReadyAddresses", [])) for s in subsets]
    assert sum(not_ready) == MAX_CAPACITY - 800
    assert not_ready == [150, 50]
    too_many_ready = [{"addresses": _addresses(1500, "10.5"),
                       "notReadyAddresses": _addresses(10, "10.6")}]
    assert truncate_subsets(too_many_ready)
    assert len(too_many_ready[0]["addresses"]) == MAX_CAPACITY
    assert "notReadyAddresses" not in too_many_ready[0]
    small = [{"addresses": _addresses(10, "10.7")}]
    assert not truncate_subsets(small)
