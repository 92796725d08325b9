"""The node lifecycle controller against a real API server: the test plays the kubelets
(posting node status and renewing Leases). A node that goes silent becomes Unknown and
unreachable-tainted, its pods not ready; pods are evicted per their tolerations; a node that
comes back loses the taints; ``kubectl cordon`` shows as the unschedulable taint."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kubesmith.client import ApiError, Client
from kubesmith.client.rest import LEASES, NAMESPACES, NODES, PODS
from kubesmith.controllers import manager
from kubesmith.controllers.base import ControllerOptions
from kubesmith.controllers.util import now_rfc3339, parse_rfc3339
from tests.conftest import RunningServer
from tests.integration.controllers.helpers import (
    delete_quietly,
    events_about,
    make_namespace,
    until,
)
from tests.integration.controllers.objects import pod_manifest, set_pod_status

pytestmark = pytest.mark.integration

LEASE_NS = "kube-node-lease"
OPTIONS = ControllerOptions(node_monitor_grace_period=3.0, node_monitor_period=0.5)


@pytest.fixture
def registered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(manager.CONTROLLERS, "node-lifecycle-controller",
                        "kubesmith.controllers.nodelifecycle:NodeLifecycleController")


def micro_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Kubelets:
    """Posts node status and renews the Leases of the nodes in :attr:`alive`."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.alive: set[str] = set()

    async def register(self, name: str, zone: str) -> None:
        await self.client.create(NODES, {"apiVersion": "v1", "kind": "Node", "metadata": {
            "name": name, "labels": {"topology.kubernetes.io/zone": zone}}})
        await self.client.create(LEASES, {
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": name, "namespace": LEASE_NS},
            "spec": {"holderIdentity": name, "leaseDurationSeconds": 40,
                     "renewTime": micro_now()}}, LEASE_NS)
        await self.post_status(name)
        self.alive.add(name)

    async def post_status(self, name: str) -> None:
        now = now_rfc3339()
        conditions = [{"type": t, "status": s, "reason": r, "lastHeartbeatTime": now,
                       "lastTransitionTime": now}
                      for t, s, r in (("MemoryPressure", "False", "KubeletHasSufficientMemory"),
                                      ("DiskPressure", "False", "KubeletHasNoDiskPressure"),
                                      ("PIDPressure", "False", "KubeletHasSufficientPID"),
                                      ("Ready", "True", "KubeletReady"))]
        await self.client.patch(NODES, name, {"status": {"conditions": conditions}},
                                patch_type="strategic", subresource="status")

    async def run(self) -> None:
        while True:
            for name in list(self.alive):
                await self.client.patch(LEASES, name, {"spec": {"renewTime": micro_now()}},
                                        LEASE_NS)
            await asyncio.sleep(0.3)


def taints_of(node: dict[str, Any]) -> set[tuple[str, str]]:
    return {(t["key"], t["effect"]) for t in (node.get("spec") or {}).get("taints") or ()}


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    return next(c for c in obj["status"]["conditions"] if c["type"] == type_)


@contextlib.asynccontextmanager
async def kubelets(client: Client) -> AsyncIterator[Kubelets]:
    fleet = Kubelets(client)
    task = asyncio.create_task(fleet.run())
    try:
        yield fleet
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_unreachable_node_taints_evicts_and_recovers(
        server: RunningServer, registered: None, admin: Client, controllers: Any) -> None:
    ns = "nlc"
    await make_namespace(admin, ns)
    unreachable = {"key": "node.kubernetes.io/unreachable", "operator": "Exists",
                   "effect": "NoExecute"}
    pods = {"quick": [{**unreachable, "tolerationSeconds": 1}],
            "now": [{**unreachable, "tolerationSeconds": 0}],
            "forever": [unreachable],
            # DefaultTolerationSeconds admission gives it 300 s.
            "defaulted": []}
    try:
        async with kubelets(admin) as fleet, \
                controllers(server, "node-lifecycle-controller", options=OPTIONS):
            # A healthy node in another zone: with every node down the controller would
            # rather suspect itself (master disruption mode) and taint nothing.
            await fleet.register("anchor", "zone-a")
            await fleet.register("victim", "zone-b")
            for name, tolerations in pods.items():
                manifest = pod_manifest(name, {"app": name}, node="victim")
                manifest["spec"]["tolerations"] = tolerations
                await admin.create(PODS, manifest, ns)
                await set_pod_status(admin, ns, name, None, True)

            await until(lambda: events_about(admin, "default", "victim", "RegisteredNode"),
                             "RegisteredNode event")
            fleet.alive.discard("victim")  # the kubelet dies

            async def tainted() -> dict[str, Any] | None:
                node = await admin.get(NODES, "victim")
                wanted = {("node.kubernetes.io/unreachable", "NoExecute"),
                          ("node.kubernetes.io/unreachable", "NoSchedule")}
                return node if taints_of(node) == wanted else None

            node = await until(tainted, "unreachable taints", seconds=15)
            ready = condition(node, "Ready")
            assert (ready["status"], ready["reason"], ready["message"]) == \
                ("Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status.")
            assert condition(node, "MemoryPressure")["status"] == "Unknown"
            [event] = await until(lambda: events_about(admin, "default", "victim",
                                                       "NodeNotReady"))
            assert event["message"] == "Node victim status is now: NodeNotReady"
            anchor = await admin.get(NODES, "anchor")
            assert taints_of(anchor) == set()
            assert condition(anchor, "Ready")["status"] == "True"

            # Pods on it are not ready; evictions follow the tolerations.
            tainted_at = parse_rfc3339(next(
                t["timeAdded"] for t in node["spec"]["taints"] if t["effect"] == "NoExecute"))
            assert tainted_at is not None

            async def deleted(name: str) -> datetime | None:
                """When the pod was deleted (its deletionTimestamp is that plus grace)."""
                m = (await admin.get(PODS, name, ns))["metadata"]
                at = parse_rfc3339(m.get("deletionTimestamp"))
                return at - timedelta(seconds=m["deletionGracePeriodSeconds"]) if at else None

            now_at = await until(lambda: deleted("now"), "pod evicted at once")
            quick_at = await until(lambda: deleted("quick"), "pod evicted after 1 s")
            assert (now_at - tainted_at).total_seconds() <= 1
            assert (quick_at - tainted_at).total_seconds() >= 1
            for name in ("forever", "defaulted"):
                pod = await admin.get(PODS, name, ns)
                assert "deletionTimestamp" not in pod["metadata"], name
                assert condition(pod, "Ready")["status"] == "False"
            defaulted = await admin.get(PODS, "defaulted", ns)
            assert {**unreachable, "tolerationSeconds": 300} in defaulted["spec"]["tolerations"]
            [eviction] = await until(lambda: events_about(admin, ns, "quick",
                                                          "TaintManagerEviction"))
            assert eviction["message"] == f"Marking for deletion Pod {ns}/quick"
            assert eviction["source"]["component"] == "taint-eviction-controller"
            quick = await admin.get(PODS, "quick", ns)
            assert condition(quick, "DisruptionTarget")["reason"] == "DeletionByTaintManager"

            # The kubelet is back: status Ready and a renewed Lease lift the taints.
            await fleet.post_status("victim")
            fleet.alive.add("victim")

            async def untainted() -> bool:
                return taints_of(await admin.get(NODES, "victim")) == set()

            await until(untainted, "taints removed", seconds=15)
            # No eviction was pending any more: the survivors survive.
            for name in ("forever", "defaulted"):
                pod = await admin.get(PODS, name, ns)
                assert "deletionTimestamp" not in pod["metadata"], name
            cancelled = await events_about(admin, ns, "defaulted", "TaintManagerEviction")
            assert [e["message"] for e in cancelled] == [
                f"Cancelling deletion of Pod {ns}/defaulted"]
    finally:
        for name in pods:
            await delete_quietly(admin, PODS, name, ns)
        await delete_quietly(admin, NAMESPACES, ns)
        for name in ("anchor", "victim"):
            await delete_quietly(admin, NODES, name)
            await delete_quietly(admin, LEASES, name, LEASE_NS)


async def test_cordon_shows_as_unschedulable_taint(
        server: RunningServer, registered: None, admin: Client, controllers: Any) -> None:
    try:
        async with kubelets(admin) as fleet, \
                controllers(server, "node-lifecycle-controller", options=OPTIONS):
            await fleet.register("cordoned", "zone-c")
            await asyncio.to_thread(server.kubectl, "cordon", "cordoned")
            unschedulable = ("node.kubernetes.io/unschedulable", "NoSchedule")

            async def has_taint() -> bool:
                return unschedulable in taints_of(await admin.get(NODES, "cordoned"))

            await until(has_taint, "unschedulable taint")
            described = await asyncio.to_thread(server.kubectl, "describe", "node", "cordoned")
            assert "node.kubernetes.io/unschedulable:NoSchedule" in described.stdout
            await asyncio.to_thread(server.kubectl, "uncordon", "cordoned")

            async def lost_taint() -> bool:
                return unschedulable not in taints_of(await admin.get(NODES, "cordoned"))

            await until(lost_taint, "unschedulable taint removed")
    finally:
        with contextlib.suppress(ApiError):
            await delete_quietly(admin, NODES, "cordoned")
            await delete_quietly(admin, LEASES, "cordoned", LEASE_NS)
