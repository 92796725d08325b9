"""What the Endpoints and EndpointSlice controllers share: port resolution, which pods are
published, which Services a pod change touches, and the trigger-time annotation."""

from __future__ import annotations

from typing import Any

import pytest

from kubesmith.client.rest import PODS, SERVICES
from kubesmith.controllers.endpoint_common import (
    EndpointPort,
    ServicePods,
    TriggerTimeTracker,
    endpoint_ports,
    find_port,
    service_ip_families,
    service_selector,
    should_pod_be_in_endpoints,
    should_set_hostname,
)
from tests.unit.controllers.fixed_informers import fixed_informers, synced


def pod(name: str = "p", *, labels: dict[str, str] | None = None, ip: str | None = "10.0.0.1",
        ready: bool = True, phase: str = "Running", rv: str = "1",
        containers: list[dict[str, Any]] | None = None, **spec: Any) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": phase, "conditions": [
        {"type": "Ready", "status": "True" if ready else "False",
         "lastTransitionTime": "2024-01-01T00:00:10Z"}]}
    if ip:
        status["podIPs"] = [{"ip": ip}]
    return {"metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}",
                         "labels": labels or {}, "resourceVersion": rv},
            "spec": {"containers": containers or [], **spec}, "status": status}


def service(name: str = "svc", selector: dict[str, str] | None = None,
            ports: list[dict[str, Any]] | None = None, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"ports": ports or [], **spec}
    if selector is not None:
        body["selector"] = selector
    return {"metadata": {"name": name, "namespace": "ns", "uid": "svc-uid",
                         "creationTimestamp": "2024-01-01T00:00:00Z"}, "spec": body}


WEB = [{"name": "app", "ports": [{"name": "web", "containerPort": 8080},
                                 {"name": "dns", "containerPort": 53, "protocol": "UDP"}]}]


@pytest.mark.parametrize(("target", "protocol", "expected"), [
    (9090, "TCP", 9090),
    ("web", "TCP", 8080),
    ("web", "UDP", None),  # a named port must match the protocol too
    ("dns", "UDP", 53),
    ("missing", "TCP", None),
], ids=["number", "named", "named-wrong-protocol", "named-udp", "unknown-name"])
def test_find_port(target: Any, protocol: str, expected: int | None) -> None:
    assert find_port(pod(containers=WEB), {"port": 80, "targetPort": target,
                                           "protocol": protocol}) == expected


def test_named_port_of_a_sidecar_but_not_of_a_plain_init_container() -> None:
    init = [{"name": "side", "restartPolicy": "Always",
             "ports": [{"name": "metrics", "containerPort": 9100}]},
            {"name": "setup", "ports": [{"name": "setup", "containerPort": 1}]}]
    p = pod(initContainers=init)
    assert find_port(p, {"targetPort": "metrics"}) == 9100
    assert find_port(p, {"targetPort": "setup"}) is None


def test_endpoint_ports_skip_ports_the_pod_lacks_and_headless_without_ports() -> None:
    svc = service(ports=[{"name": "http", "port": 80, "targetPort": "web", "protocol": "TCP"},
                         {"name": "other", "port": 81, "targetPort": "nope"}])
    assert endpoint_ports(svc, pod(containers=WEB)) == [EndpointPort("http", 8080, "TCP")]
    assert endpoint_ports(service(clusterIP="None"), pod()) is None
    assert endpoint_ports(service(clusterIP="10.96.0.5"), pod()) == []


def test_which_services_and_pods() -> None:
    assert service_selector(service()) is None
    assert service_selector(service(selector={"a": "b"}, type="ExternalName")) is None
    assert service_selector(service(selector={})) == {}
    assert service_ip_families(service(clusterIP="fd00::1")) == ["IPv6"]
    assert service_ip_families(service(clusterIP="None")) == ["IPv4", "IPv6"]
    assert service_ip_families(service(ipFamilies=["IPv4"])) == ["IPv4"]
    assert should_pod_be_in_endpoints(pod(), False)
    assert not should_pod_be_in_endpoints(pod(ip=None), True)
    assert not should_pod_be_in_endpoints(pod(phase="Succeeded"), True)
    terminating = pod()
    terminating["metadata"]["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    assert not should_pod_be_in_endpoints(terminating, False)
    assert should_pod_be_in_endpoints(terminating, True)
    svc = service("db")
    assert should_set_hostname(pod(hostname="db-0", subdomain="db"), svc)
    assert not should_set_hostname(pod(hostname="db-0", subdomain="other"), svc)
    assert not should_set_hostname(pod(subdomain="db"), svc)


async def test_services_to_update_on_pod_change() -> None:
    services, pods = fixed_informers(SERVICES, PODS, services=[
        service("a", {"app": "a"}), service("b", {"app": "b"}), service("manual")])
    queued: list[str] = []
    membership = ServicePods(services, pods, queued.append)
    async with synced(services, pods):
        old = pod(labels={"app": "a"}, rv="1")
        # A Service without a selector selects nothing.
        assert membership.services_for(old) == {"ns/a"}
        # Nothing relevant changed (or a resync): no work.
        assert membership.services_to_update(old, pod(labels={"app": "a"}, rv="2")) == set()
        assert membership.services_to_update(old, old) == set()
        # Readiness changed: the Services it is in.
        assert membership.services_to_update(
            old, pod(labels={"app": "a"}, ready=False, rv="2")) == {"ns/a"}
        # Moved between Services only: both sides.
        assert membership.services_to_update(old, pod(labels={"app": "b"}, rv="2")) == \
            {"ns/a", "ns/b"}


def test_trigger_time() -> None:
    tracker = TriggerTimeTracker()
    svc = service(selector={})
    first = pod("a")
    # A Service seen the first time: its creation.
    assert tracker.compute("ns/svc", svc, [first]) == "2024-01-01T00:00:00Z"
    # Nothing changed since: no trigger time.
    assert tracker.compute("ns/svc", svc, [first]) is None
    changed = pod("a")
    changed["status"]["conditions"][0]["lastTransitionTime"] = "2024-01-01T00:01:00Z"
    new = pod("b")
    new["status"]["conditions"][0]["lastTransitionTime"] = "2024-01-01T00:00:30.5Z"
    # The earliest change not yet reflected.
    assert tracker.compute("ns/svc", svc, [changed, new]) == "2024-01-01T00:00:30.5Z"
    tracker.forget("ns/svc")
    assert tracker.compute("ns/svc", svc, [changed, new]) == "2024-01-01T00:00:00Z"
