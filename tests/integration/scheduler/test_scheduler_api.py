"""The scheduler against a real API server, with its own identity (scheduler.kubeconfig):
binding and events, the PodScheduled condition and FailedScheduling event of a pod that
fits nowhere (and its retry when a node joins), preemption, WaitForFirstConsumer claims and
leader election.

The server runs without its in-process scheduler and controller manager, so this module's
scheduler is the only one and no node lifecycle controller taints the agent-less nodes;
where a controller's part matters (a kubelet finishing a deletion, a provisioner binding a
claim) the test plays it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from kubesmith.client import ApiError, Client
from kubesmith.client.rest import (
    EVENTS,
    LEASES,
    NAMESPACES,
    NODES,
    PERSISTENTVOLUMECLAIMS,
    PERSISTENTVOLUMES,
    PODS,
    PRIORITYCLASSES,
    SERVICEACCOUNTS,
    STORAGECLASSES,
)
from kubesmith.scheduler import run_scheduler
from kubesmith.scheduler.plugins.volume_binding import SELECTED_NODE_ANNOTATION
from tests.conftest import RunningServer, namespace_name

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(server_factory: Callable[..., RunningServer]) -> RunningServer:
    return server_factory("--disable-scheduler", "--disable-controller-manager")


@pytest.fixture
async def client(server: RunningServer) -> AsyncIterator[Client]:
    async with Client.from_kubeconfig(str(server.kubeconfig)) as c:
        yield c


@pytest.fixture
async def ns(client: Client, request: pytest.FixtureRequest) -> AsyncIterator[str]:
    name = namespace_name("sched-" + request.node.name)
    await client.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace",
                                     "metadata": {"name": name}})
    # No controller manager: the ServiceAccount admission needs this one.
    await client.create(SERVICEACCOUNTS, {"apiVersion": "v1", "kind": "ServiceAccount",
                                          "metadata": {"name": "default", "namespace": name}})
    yield name
    await client.delete(NAMESPACES, name)


@pytest.fixture
async def nodes(client: Client) -> AsyncIterator[Callable[..., Awaitable[None]]]:
    """Create Ready nodes (deleted after the test)."""
    created: list[str] = []

    async def make(name: str, cpu: str = "2", memory: str = "4Gi",
                   labels: dict[str, str] | None = None) -> None:
        resources = {"cpu": cpu, "memory": memory, "pods": "110"}
        await client.create(NODES, {"apiVersion": "v1", "kind": "Node", "metadata": {
            "name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}}})
        created.append(name)
        await client.patch(NODES, name, {"status": {
            "capacity": resources, "allocatable": resources,
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                            "message": "test"}]}}, subresource="status")
        # New nodes start tainted not-ready (TaintNodesByCondition); with no node
        # lifecycle controller here, the test lifts it as that controller would.
        await client.patch(NODES, name, {"spec": {"taints": None}})

    yield make
    for name in created:
        with contextlib.suppress(ApiError):
            await client.delete(NODES, name)


@pytest.fixture
async def scheduler(server: RunningServer) -> AsyncIterator[None]:
    """The scheduler, running as a task with its own identity."""
    task = asyncio.create_task(run_scheduler(str(server.data_dir / "scheduler.kubeconfig"),
                                             leader_elect=False))
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def pod(name: str, cpu: str = "100m", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"automountServiceAccountToken": False, "containers": [{
                "name": "c", "image": "busybox",
                "resources": {"requests": {"cpu": cpu}}}], **spec}}


async def eventually(check: Callable[[], Awaitable[Any]], seconds: float = 20) -> Any:
    """Poll ``check`` until it returns something truthy (fail after ``seconds``)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        result = await check()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not reached in {seconds} s (last: {result!r})")
        await asyncio.sleep(0.1)


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any] | None:
    return next((c for c in (obj.get("status") or {}).get("conditions") or ()
                 if c.get("type") == kind), None)


async def events_for(client: Client, ns: str, name: str, reason: str) -> list[dict[str, Any]]:
    items = (await client.list(EVENTS, ns, field_selector=f"involvedObject.name={name}")).items
    return [e for e in items if e.get("reason") == reason]


async def test_binds_pods_and_records_scheduled_events(client: Client, ns: str, nodes: Any,
                                                       scheduler: None) -> None:
    await nodes("bind-a", labels={"disk": "ssd"})
    await nodes("bind-b")
    await client.create(PODS, pod("anywhere"), ns)
    await client.create(PODS, pod("ssd", nodeSelector={"disk": "ssd"}), ns)

    async def bound(name: str) -> str:
        got = await client.get(PODS, name, ns)
        return str(got["spec"].get("nodeName") or "")

    assert await eventually(lambda: bound("ssd")) == "bind-a"
    assert await eventually(lambda: bound("anywhere")) in ("bind-a", "bind-b")
    got = await client.get(PODS, "ssd", ns)
    scheduled = condition(got, "PodScheduled")
    assert scheduled is not None and scheduled["status"] == "True"
    events = await eventually(lambda: events_for(client, ns, "ssd", "Scheduled"))
    assert events[0]["type"] == "Normal"
    assert events[0]["message"] == f"Successfully assigned {ns}/ssd to bind-a"
    assert events[0]["source"]["component"] == "default-scheduler"


async def test_unschedulable_pod_gets_condition_and_event_then_fits_a_new_node(
        client: Client, ns: str, nodes: Any, scheduler: None) -> None:
    await nodes("small-a", cpu="1", labels={"pool": "x"})
    await nodes("small-b", cpu="4", labels={"pool": "y"})
    await nodes("small-c", cpu="4", labels={"pool": "y"})
    await client.create(PODS, pod("big", cpu="2", nodeSelector={"pool": "x"}), ns)
    expected = ("0/3 nodes are available: 1 Insufficient cpu, 2 node(s) didn't match Pod's "
                "node affinity/selector. preemption: 0/3 nodes are available: 1 No "
                "preemption victims found for incoming pod, 2 Preemption is not helpful for "
                "scheduling.")

    async def unschedulable() -> dict[str, Any] | None:
        cond = condition(await client.get(PODS, "big", ns), "PodScheduled")
        return cond if cond and cond.get("reason") == "Unschedulable" else None

    cond = await eventually(unschedulable)
    assert cond["status"] == "False"
    assert cond["message"] == expected
    events = await eventually(lambda: events_for(client, ns, "big", "FailedScheduling"))
    assert events[0]["type"] == "Warning" and events[0]["message"] == expected

    # A node that fits joins: the pod is retried at once (no 5-minute wait).
    await nodes("roomy", cpu="8", labels={"pool": "x"})

    async def placed() -> str:
        return str((await client.get(PODS, "big", ns))["spec"].get("nodeName") or "")

    assert await eventually(placed) == "roomy"


async def test_preemption_evicts_lower_priority_pods(client: Client, ns: str, nodes: Any,
                                                    scheduler: None) -> None:
    classes = [("sched-test-low", 10), ("sched-test-high", 1000)]
    for name, value in classes:
        with contextlib.suppress(ApiError):
            await client.create(PRIORITYCLASSES, {
                "apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                "metadata": {"name": name}, "value": value})
    try:
        await nodes("tiny", cpu="1", labels={"pool": "tiny"})
        await client.create(PODS, pod("victim", cpu="800m", nodeSelector={"pool": "tiny"},
                                      priorityClassName="sched-test-low"), ns)

        async def node_of(name: str) -> str:
            got = await client.get(PODS, name, ns)
            return str(got["spec"].get("nodeName") or "")

        assert await eventually(lambda: node_of("victim")) == "tiny"
        await client.create(PODS, pod("vip", cpu="800m", nodeSelector={"pool": "tiny"},
                                      priorityClassName="sched-test-high"), ns)

        async def terminating() -> dict[str, Any] | None:
            got = await client.get(PODS, "victim", ns)
            return got if got["metadata"].get("deletionTimestamp") else None

        victim = await eventually(terminating)
        target = condition(victim, "DisruptionTarget")
        assert target is not None and target["reason"] == "PreemptionByScheduler"
        assert target["message"] == \
            "default-scheduler: preempting to accommodate a higher priority pod"

        async def nominated() -> str:
            got = await client.get(PODS, "vip", ns)
            return str((got.get("status") or {}).get("nominatedNodeName") or "")

        assert await eventually(nominated) == "tiny"
        preempted = await eventually(lambda: events_for(client, ns, "victim", "Preempted"))
        vip_uid = (await client.get(PODS, "vip", ns))["metadata"]["uid"]
        assert preempted[0]["message"] == f"Preempted by pod {vip_uid} on node tiny"
        # The space is promised to vip but still held by the terminating victim.
        assert await node_of("vip") == ""
        # Play the kubelet: the victim's containers are gone.
        await client.delete(PODS, "victim", ns, grace_period_seconds=0)
        assert await eventually(lambda: node_of("vip")) == "tiny"
    finally:
        for name, _ in classes:
            with contextlib.suppress(ApiError):
                await client.delete(PRIORITYCLASSES, name)


async def test_wait_for_first_consumer_claim_follows_the_pod(
        client: Client, ns: str, nodes: Any, scheduler: None) -> None:
    sc_name = f"wffc-{ns}"[:60]
    await client.create(STORAGECLASSES, {
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": sc_name}, "provisioner": "example.com/test",
        "volumeBindingMode": "WaitForFirstConsumer"})
    pv_name = f"pv-{ns}"[:60]
    try:
        await nodes("vol-a", labels={"pool": "vol"})
        await client.create(PERSISTENTVOLUMECLAIMS, {
            "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"},
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": sc_name,
                     "resources": {"requests": {"storage": "1Gi"}}}}, ns)
        await client.create(PODS, pod("app", nodeSelector={"pool": "vol"}, volumes=[
            {"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]), ns)

        async def selected() -> str:
            got = await client.get(PERSISTENTVOLUMECLAIMS, "data", ns)
            return str((got["metadata"].get("annotations") or {})
                       .get(SELECTED_NODE_ANNOTATION) or "")

        assert await eventually(selected) == "vol-a"
        # Until the claim is bound the pod waits in PreBind, unbound.
        assert not (await client.get(PODS, "app", ns))["spec"].get("nodeName")
        # Play the provisioner and the PV controller.
        claim = await client.get(PERSISTENTVOLUMECLAIMS, "data", ns)
        await client.create(PERSISTENTVOLUMES, {
            "apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": pv_name},
            "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                     "storageClassName": sc_name, "hostPath": {"path": "/tmp/x"},
                     "claimRef": {"namespace": ns, "name": "data",
                                  "uid": claim["metadata"]["uid"]}}})
        await client.patch(PERSISTENTVOLUMECLAIMS, "data", {"spec": {"volumeName": pv_name}},
                           ns)
        await client.patch(PERSISTENTVOLUMECLAIMS, "data", {"status": {"phase": "Bound"}},
                           ns, subresource="status")

        async def node_of() -> str:
            got = await client.get(PODS, "app", ns)
            return str(got["spec"].get("nodeName") or "")

        assert await eventually(node_of) == "vol-a"
    finally:
        with contextlib.suppress(ApiError):
            await client.delete(STORAGECLASSES, sc_name)
        with contextlib.suppress(ApiError):
            await client.delete(PERSISTENTVOLUMES, pv_name)


async def test_leader_election_lease(client: Client, server: RunningServer, ns: str,
                                     nodes: Any) -> None:
    await nodes("leader-a")
    # Created before the scheduler starts: it arrives through the initial LIST, whose items
    # carry no kind — the Event must still name a Pod.
    await client.create(PODS, pod("led"), ns)
    task = asyncio.create_task(run_scheduler(str(server.data_dir / "scheduler.kubeconfig"),
                                             leader_elect=True))
    try:

        async def bound() -> str:
            return str((await client.get(PODS, "led", ns))["spec"].get("nodeName") or "")

        assert await eventually(bound) == "leader-a"
        lease = await client.get(LEASES, "kube-scheduler", "kube-system")
        assert lease["spec"]["holderIdentity"]
        events = await eventually(lambda: events_for(client, ns, "led", "Scheduled"))
        assert events[0]["involvedObject"]["kind"] == "Pod"
        assert events[0]["involvedObject"]["apiVersion"] == "v1"
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
