"""The EndpointSlice controller against a real API server: endpoint conditions, named ports
per pod, zones from nodes, hostnames, labels and owner, 100 endpoints per slice, pod
removal and the placeholder slice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from kubesmith.client import Client
from kubesmith.client.rest import ENDPOINTSLICES, NAMESPACES, NODES, PODS, SERVICES
from kubesmith.controllers import manager
from tests.conftest import RunningServer, namespace_name
from tests.integration.controllers.helpers import (
    delete_quietly,
    make_namespace,
    make_node,
    until,
)
from tests.integration.controllers.objects import (
    make_pod,
    pod_manifest,
    service_manifest,
    set_pod_status,
)

pytestmark = pytest.mark.integration

MANAGED_BY = "endpointslice-controller.k8s.io"


@pytest.fixture
def registered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(manager.CONTROLLERS, "endpointslice-controller",
                        "kubesmith.controllers.endpointslice:EndpointSliceController")


@pytest.fixture
async def nodes(admin: Client) -> AsyncIterator[Callable[..., Awaitable[None]]]:
    """``await nodes(name, labels)`` creates a Node, deleted after the test."""
    made: list[str] = []

    async def make(name: str, labels: dict[str, str] | None = None) -> None:
        await make_node(admin, name, labels)
        made.append(name)

    try:
        yield make
    finally:
        for name in made:
            await delete_quietly(admin, NODES, name)


@pytest.fixture
async def ns(server: RunningServer, registered: None, admin: Client, controllers: Any,
             request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """A namespace for the test, with the controller running."""
    name = namespace_name(request.node.name)
    await make_namespace(admin, name)
    try:
        async with controllers(server, "endpointslice-controller"):
            yield name
    finally:
        await delete_quietly(admin, NAMESPACES, name)


async def slices_of(client: Client, namespace: str, service: str) -> list[dict[str, Any]]:
    page = await client.list(ENDPOINTSLICES, namespace,
                             label_selector=f"kubernetes.io/service-name={service}")
    return page.items


def endpoints_by_pod(slices: list[dict[str, Any]]) -> dict[str, tuple[Any, ...]]:
    """pod name -> (addresses, ready, serving, terminating, ports of its slice)."""
    found: dict[str, tuple[Any, ...]] = {}
    for s in slices:
        ports = tuple(sorted((p["name"], p["port"]) for p in s.get("ports") or ()))
        for e in s.get("endpoints") or ():
            c = e["conditions"]
            found[e["targetRef"]["name"]] = (tuple(e["addresses"]), c["ready"], c["serving"],
                                             c["terminating"], ports)
    return found


async def test_conditions_ports_zones_and_removal(ns: str, admin: Client, nodes: Any) -> None:
    await nodes("eps-a", {"topology.kubernetes.io/zone": "zone-a"})
    await nodes("eps-b")
    app = {"app": "web"}
    await make_pod(admin, ns, "a", app, "10.244.1.2", True, node="eps-a",
                   ports={"web": 8080}, hostname="a", subdomain="web")
    await make_pod(admin, ns, "b", app, "10.244.1.3", False, node="eps-b",
                   ports={"web": 8080})
    await make_pod(admin, ns, "c", app, "10.244.1.4", True, node="eps-b",
                   ports={"web": 8081})
    await make_pod(admin, ns, "no-ip", app, None, True, node="eps-b",
                   ports={"web": 8080})
    svc = await admin.create(SERVICES, service_manifest("web", app, [
        {"name": "http", "port": 80, "targetPort": "web"}]), ns)

    async def settled() -> list[dict[str, Any]] | None:
        found = await slices_of(admin, ns, "web")
        return found if set(endpoints_by_pod(found)) == {"a", "b", "c"} else None

    slices = await until(settled, "slices for a, b and c")
    by_pod = endpoints_by_pod(slices)
    assert by_pod["a"] == (("10.244.1.2",), True, True, False, (("http", 8080),))
    assert by_pod["b"] == (("10.244.1.3",), False, False, False, (("http", 8080),))
    # Another number for the named port: another slice.
    assert by_pod["c"] == (("10.244.1.4",), True, True, False, (("http", 8081),))
    assert len(slices) == 2
    for s in slices:
        assert s["addressType"] == "IPv4"
        assert s["metadata"]["name"].startswith("web-")
        assert s["metadata"]["labels"] == {
            "team": "blue", "kubernetes.io/service-name": "web",
            "endpointslice.kubernetes.io/managed-by": MANAGED_BY}
        owner = s["metadata"]["ownerReferences"][0]
        assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == \
            ("Service", "web", svc["metadata"]["uid"], True)
    endpoint_a = next(e for s in slices for e in s["endpoints"]
                      if e["targetRef"]["name"] == "a")
    assert endpoint_a["nodeName"] == "eps-a"
    assert endpoint_a["zone"] == "zone-a"
    assert endpoint_a["hostname"] == "a"
    assert endpoint_a["targetRef"]["kind"] == "Pod"

    # a terminates (graceful: it is bound), b becomes ready, c goes away.
    await admin.delete(PODS, "a", ns)
    await set_pod_status(admin, ns, "b", "10.244.1.3", True)
    await delete_quietly(admin, PODS, "c", ns)

    async def changed() -> dict[str, tuple[Any, ...]] | None:
        found = endpoints_by_pod(await slices_of(admin, ns, "web"))
        wanted = {"a": (("10.244.1.2",), False, True, True, (("http", 8080),)),
                  "b": (("10.244.1.3",), True, True, False, (("http", 8080),))}
        return found if found == wanted else None

    await until(changed, "terminating a, ready b, no c")

    # Nothing selected: one empty placeholder slice.
    await delete_quietly(admin, PODS, "a", ns)
    await delete_quietly(admin, PODS, "b", ns)

    async def placeholder() -> list[dict[str, Any]] | None:
        found = await slices_of(admin, ns, "web")
        return found if len(found) == 1 and not found[0].get("endpoints") else None

    [empty] = await until(placeholder, "the placeholder slice")
    assert not empty.get("ports")


async def test_publish_not_ready_addresses(ns: str, admin: Client, nodes: Any) -> None:
    await nodes("eps-p")
    await make_pod(admin, ns, "slow", {"app": "p"}, "10.244.2.2", False, node="eps-p")
    await admin.create(SERVICES, service_manifest(
        "p", {"app": "p"}, [{"name": "http", "port": 80, "targetPort": 8080}],
        publishNotReadyAddresses=True), ns)

    async def published() -> bool:
        found = endpoints_by_pod(await slices_of(admin, ns, "p"))
        return found.get("slow") == (("10.244.2.2",), True, False, False,
                                     (("http", 8080),))

    await until(published, "a not-ready pod published as ready")


async def test_at_most_100_endpoints_per_slice(ns: str, admin: Client, nodes: Any) -> None:
    await nodes("eps-m")
    limit = asyncio.Semaphore(16)

    async def pod(i: int) -> None:
        async with limit:
            name = f"p{i}"
            await admin.create(PODS, pod_manifest(name, {"app": "many"}, node="eps-m"), ns)
            await set_pod_status(admin, ns, name, f"10.244.{10 + i // 250}.{i % 250 + 1}",
                                 True)

    await asyncio.gather(*(pod(i) for i in range(250)))
    await admin.create(SERVICES, service_manifest(
        "many", {"app": "many"}, [{"name": "http", "port": 80, "targetPort": 8080}]),
        ns)

    async def filled() -> list[dict[str, Any]] | None:
        found = await slices_of(admin, ns, "many")
        return found if len(endpoints_by_pod(found)) == 250 else None

    slices = await until(filled, "250 endpoints", seconds=30)
    sizes = sorted(len(s["endpoints"]) for s in slices)
    assert sizes == [50, 100, 100]
    # A steady state: nothing more is written.
    versions = {s["metadata"]["name"]: s["metadata"]["resourceVersion"] for s in slices}
    await asyncio.sleep(1.5)
    again = await slices_of(admin, ns, "many")
    assert {s["metadata"]["name"]: s["metadata"]["resourceVersion"]
            for s in again} == versions
