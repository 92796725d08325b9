"""The Endpoints controller against a real API server: ready and not-ready addresses, named
ports resolved per pod, publishNotReadyAddresses, headless hostnames, pod and Service
deletion, Services without a selector left alone.

Pods are created bound to a node and their status (IP, Ready) is patched by the test, as a
kubelet would."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from kubesmith.client import ApiError, Client
from kubesmith.client.rest import ENDPOINTS, NAMESPACES, NODES, PODS, SERVICES
from kubesmith.controllers import manager
from tests.conftest import RunningServer, namespace_name
from tests.integration.controllers.helpers import (
    absent,
    delete_quietly,
    make_namespace,
    make_node,
    until,
)
from tests.integration.controllers.objects import (
    NODE,
    make_pod,
    service_manifest,
    set_pod_status,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def registered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(manager.CONTROLLERS, "endpoints-controller",
                        "kubesmith.controllers.endpoints:EndpointsController")


@pytest.fixture
async def ns(server: RunningServer, registered: None, admin: Client, controllers: Any,
             request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """A namespace (and the node its pods are bound to) with the controller running."""
    name = namespace_name(request.node.name)
    await make_namespace(admin, name)
    await make_node(admin, NODE)
    try:
        async with controllers(server, "endpoints-controller"):
            yield name
    finally:
        await delete_quietly(admin, NAMESPACES, name)
        await delete_quietly(admin, NODES, NODE)


def flat_addresses(endpoints: dict[str, Any]) -> set[tuple[str, bool, str, int]]:
    """(ip, ready, port name, port) for every address and port of every subset."""
    found: set[tuple[str, bool, str, int]] = set()
    for subset in endpoints.get("subsets") or ():
        ports = [(p.get("name", ""), p["port"]) for p in subset.get("ports") or ()] or \
            [("", 0)]
        for ready_field, ready in (("addresses", True), ("notReadyAddresses", False)):
            for address in subset.get(ready_field) or ():
                for port_name, port in ports:
                    found.add((address["ip"], ready, port_name, port))
    return found


async def endpoints_matching(client: Client, namespace: str, name: str,
                             expected: set[tuple[str, bool, str, int]]
                             ) -> dict[str, Any] | None:
    try:
        endpoints = await client.get(ENDPOINTS, name, namespace)
    except ApiError as exc:
        if exc.code == 404:
            return None
        raise
    return endpoints if flat_addresses(endpoints) == expected else None


# ---- tests -----------------------------------------------------------------------------------

async def test_addresses_ports_and_deletion(ns: str, admin: Client) -> None:
    app = {"app": "web"}
    await make_pod(admin, ns, "a", app, "10.244.1.2", True, ports={"web": 8080})
    await make_pod(admin, ns, "b", app, "10.244.1.3", False, ports={"web": 8080})
    # Same port name, another number: lands in another subset.
    await make_pod(admin, ns, "c", app, "10.244.1.4", True, ports={"web": 8081})
    await make_pod(admin, ns, "no-ip", app, None, True, ports={"web": 8080})
    await make_pod(admin, ns, "other", {"app": "db"}, "10.244.1.9", True)
    await admin.create(SERVICES, service_manifest("web", app, [
        {"name": "http", "port": 80, "targetPort": "web"},
        {"name": "metrics", "port": 9090, "targetPort": 9090}]), ns)
    expected = {
        ("10.244.1.2", True, "http", 8080), ("10.244.1.2", True, "metrics", 9090),
        ("10.244.1.3", False, "http", 8080), ("10.244.1.3", False, "metrics", 9090),
        ("10.244.1.4", True, "http", 8081), ("10.244.1.4", True, "metrics", 9090)}
    endpoints = await until(
        lambda: endpoints_matching(admin, ns, "web", expected), "web Endpoints")
    assert endpoints["metadata"]["labels"] == {"team": "blue"}
    assert "endpoints.kubernetes.io/last-change-trigger-time" in \
        endpoints["metadata"]["annotations"]
    by_ip = {a["ip"]: a for s in endpoints["subsets"]
             for a in s.get("addresses", []) + s.get("notReadyAddresses", [])}
    assert by_ip["10.244.1.2"]["nodeName"] == NODE
    assert by_ip["10.244.1.2"]["targetRef"]["kind"] == "Pod"
    assert by_ip["10.244.1.2"]["targetRef"]["name"] == "a"
    # Pods with different numbers for the named port are in different subsets.
    http_subsets = [s for s in endpoints["subsets"]
                    if any(p.get("name") == "http" for p in s.get("ports", []))]
    assert len(http_subsets) == 2

    # b becomes ready; a is deleted.
    await set_pod_status(admin, ns, "b", "10.244.1.3", True)
    await delete_quietly(admin, PODS, "a", ns)
    expected = {
        ("10.244.1.3", True, "http", 8080), ("10.244.1.3", True, "metrics", 9090),
        ("10.244.1.4", True, "http", 8081), ("10.244.1.4", True, "metrics", 9090)}
    await until(lambda: endpoints_matching(admin, ns, "web", expected),
                     "a gone and b ready")

    # A Service without a selector keeps the Endpoints its owner writes.
    await admin.create(SERVICES, service_manifest(
        "manual", None, [{"name": "x", "port": 81}]), ns)
    await admin.create(ENDPOINTS, {
        "apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "manual"},
        "subsets": [{"addresses": [{"ip": "192.0.2.10"}],
                     "ports": [{"name": "x", "port": 81}]}]}, ns)

    await admin.delete(SERVICES, "web", ns)
    await until(lambda: absent(admin, ENDPOINTS, "web", ns), "web Endpoints deleted")
    manual = await admin.get(ENDPOINTS, "manual", ns)
    assert flat_addresses(manual) == {("192.0.2.10", True, "x", 81)}


async def test_publish_not_ready_and_terminating(ns: str, admin: Client) -> None:
    app = {"app": "p"}
    await make_pod(admin, ns, "ready", app, "10.244.2.2", True)
    await make_pod(admin, ns, "unready", app, "10.244.2.3", False)
    await admin.create(SERVICES, service_manifest(
        "plain", app, [{"name": "http", "port": 80, "targetPort": 8080}]), ns)
    await admin.create(SERVICES, service_manifest(
        "publish", app, [{"name": "http", "port": 80, "targetPort": 8080}],
        publishNotReadyAddresses=True), ns)
    await until(lambda: endpoints_matching(admin, ns, "plain", {
        ("10.244.2.2", True, "http", 8080), ("10.244.2.3", False, "http", 8080)}),
        "plain Endpoints")
    await until(lambda: endpoints_matching(admin, ns, "publish", {
        ("10.244.2.2", True, "http", 8080), ("10.244.2.3", True, "http", 8080)}),
        "publishNotReadyAddresses Endpoints")
    # A bound pod deleted gracefully terminates: only publishing Services keep it.
    await admin.delete(PODS, "ready", ns)
    await until(lambda: endpoints_matching(admin, ns, "plain", {
        ("10.244.2.3", False, "http", 8080)}), "terminating pod left out")
    await until(lambda: endpoints_matching(admin, ns, "publish", {
        ("10.244.2.2", True, "http", 8080), ("10.244.2.3", True, "http", 8080)}),
        "terminating pod published")


async def test_headless_hostnames(ns: str, admin: Client) -> None:
    app = {"app": "db"}
    await make_pod(admin, ns, "db-0", app, "10.244.3.2", True, hostname="db-0",
                   subdomain="db")
    await make_pod(admin, ns, "db-x", app, "10.244.3.3", True, hostname="db-x",
                   subdomain="elsewhere")
    # Headless, without ports: addresses only.
    await admin.create(SERVICES, service_manifest("db", app, [], clusterIP="None"),
                       ns)
    endpoints = await until(lambda: endpoints_matching(admin, ns, "db", {
        ("10.244.3.2", True, "", 0), ("10.244.3.3", True, "", 0)}),
        "headless Endpoints")
    assert endpoints["metadata"]["labels"]["service.kubernetes.io/headless"] == ""
    hostnames = {a["ip"]: a.get("hostname") for s in endpoints["subsets"]
                 for a in s["addresses"]}
    assert hostnames == {"10.244.3.2": "db-0", "10.244.3.3": None}
    assert all("ports" not in s for s in endpoints["subsets"])


async def test_leftover_endpoints_removed_at_start(ns: str, admin: Client, server: RunningServer,
                                                  controllers: Any) -> None:
    # Endpoints whose Service is gone (as if deleted while no controller ran)...
    await admin.create(ENDPOINTS, {
        "apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "orphan"},
        "subsets": [{"addresses": [{"ip": "192.0.2.20"}], "ports": [{"port": 80}]}]}, ns)
    # ...and a leader-election lock of an old component: kept.
    await admin.create(ENDPOINTS, {
        "apiVersion": "v1", "kind": "Endpoints", "metadata": {
            "name": "lock", "annotations": {
                "control-plane.alpha.kubernetes.io/leader": '{"holderIdentity":"x"}'}}}, ns)
    async with controllers(server, "endpoints-controller"):
        await until(lambda: absent(admin, ENDPOINTS, "orphan", ns),
                    "leftover Endpoints deleted")
        assert not await absent(admin, ENDPOINTS, "lock", ns)
