"""Hollow nodes against a real API server, checked with the real kubectl: registration,
leases, pods running / completing / failing / restarting / being deleted, re-registration,
and a registration burst. The hollow nodes run as an asyncio task of each test, with the
admin kubeconfig; kubectl runs in a thread so it never stalls them."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, TypeVar

import pytest

from kubesmith.client import Client
from kubesmith.hollow import (
    ANNOTATION_EXIT_CODE,
    ANNOTATION_RUN_SECONDS,
    HollowNodes,
    NodeTemplate,
    run_hollow_nodes,
)
from kubesmith.hollow.clock import parse_api_time
from tests.support.polling import eventually

pytestmark = pytest.mark.integration

T = TypeVar("T")


async def kubectl(server: Any, *args: str, input: str | None = None,
                  check: bool = True) -> Any:
    return await asyncio.to_thread(server.kubectl, *args, input=input, check=check)


async def get_json(server: Any, *args: str) -> Any:
    return json.loads((await kubectl(server, "get", *args, "-o", "json")).stdout)


@contextlib.asynccontextmanager
async def hollow_nodes(server: Any, prefix: str, count: int = 2,
                       **kwargs: Any) -> AsyncIterator[HollowNodes]:
    """Run hollow nodes for the body of the ``async with``; delete them afterwards."""
    client = Client.from_kubeconfig(str(server.data_dir / "admin.kubeconfig"))
    nodes = HollowNodes(client, count=count, name_prefix=prefix, **kwargs)
    task = asyncio.create_task(nodes.run())
    try:
        registered = asyncio.create_task(nodes.wait_registered())
        await asyncio.wait({task, registered}, timeout=60,
                           return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            task.result()  # raises what stopped it
        assert registered.done(), "hollow nodes did not register within 60 s"
        yield nodes
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await nodes.fleet.delete_all()
        await client.close()


async def pod_cidr(server: Any, node: str, wanted: str) -> str:
    """The node's podCIDR, setting ``wanted`` if no IPAM controller assigned one."""
    current = await get_json(server, "node", node)
    if not current["spec"].get("podCIDR"):
        await kubectl(server, "patch", "node", node, "-p", json.dumps(
            {"spec": {"podCIDR": wanted, "podCIDRs": [wanted]}}), check=False)
    cidr: str = (await get_json(server, "node", node))["spec"]["podCIDR"]
    return cidr


def pod_manifest(name: str, namespace: str, node: str, *, policy: str = "Always",
                 annotations: dict[str, str] | None = None,
                 containers: int = 1, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace,
                         "annotations": annotations or {}},
            "spec": {"nodeName": node, "restartPolicy": policy,
                     "containers": [{"name": f"c{i}", "image": "registry.k8s.io/pause:3.10"}
                                    for i in range(containers)], **spec}}


async def create(server: Any, *objects: dict[str, Any]) -> None:
    await kubectl(server, "create", "-f", "-",
                  input=json.dumps({"apiVersion": "v1", "kind": "List", "items": list(objects)}))


async def pod_when(server: Any, namespace: str, name: str,
                   check: Callable[[dict[str, Any]], bool], what: str,
                   within: float = 20.0) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        proc = await kubectl(server, "get", "pod", name, "-n", namespace, "-o", "json",
                             check=False)
        if proc.returncode != 0:
            return None
        found: dict[str, Any] = json.loads(proc.stdout)
        return found if check(found) else None
    return await eventually(probe, f"pod {name} {what}", within)


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    for cond in obj.get("status", {}).get("conditions") or ():
        if cond["type"] == type_:
            found: dict[str, Any] = cond
            return found
    return {}


def running_and_ready(pod: dict[str, Any]) -> bool:
    return pod["status"].get("phase") == "Running" and \
        condition(pod, "Ready").get("status") == "True"


@pytest.fixture(scope="module", autouse=True)
def event_writers_settle(api_server: Any) -> Iterator[None]:
    """Before the module's server stops, let the Events about our nodes land: the server's
    node controller writes them (RegisteredNode...) in the background, and a server stopped
    with some still queued logs tracebacks that fail the ``api_server`` fixture."""
    yield
    deadline = time.monotonic() + 20
    last = -1
    while time.monotonic() < deadline:
        count = len(api_server.kubectl("get", "events", "-A", "-o", "name").stdout.split())
        if count == last:
            return
        last = count
        time.sleep(1.0)


@pytest.fixture
async def namespace(api_server: Any, kubectl_namespace: str) -> AsyncIterator[str]:
    yield kubectl_namespace
    await kubectl(api_server, "delete", "namespace", kubectl_namespace, "--wait=false",
                  check=False)


async def test_nodes_register_ready_with_status_and_leases(api_server: Any) -> None:
    template = NodeTemplate(cpu="4", memory="8Gi", pods=30, labels={"pool": "blue"},
                            taints=[{"key": "dedicated", "value": "x",
                                     "effect": "NoSchedule"}])
    async with hollow_nodes(api_server, "reg-node-", 3, template=template,
                            renew_interval=0.5):
        table = (await kubectl(api_server, "get", "nodes", "-l", "pool=blue")).stdout
        lines = [line.split() for line in table.splitlines()[1:]]
        assert sorted(line[0] for line in lines) == ["reg-node-0", "reg-node-1", "reg-node-2"]
        assert all(line[1] == "Ready" for line in lines), table

        node = await get_json(api_server, "node", "reg-node-1")
        labels = node["metadata"]["labels"]
        assert labels["type"] == "hollow" and labels["kubernetes.io/hostname"] == "reg-node-1"
        # Others may add taints of their own (the not-ready taint until Ready is seen).
        assert template.taints[0] in node["spec"]["taints"]
        status = node["status"]
        assert status["capacity"]["cpu"] == "4" and status["allocatable"]["pods"] == "30"
        assert status["daemonEndpoints"]["kubeletEndpoint"]["Port"] == 10250
        assert status["nodeInfo"]["containerRuntimeVersion"] == "hollow://1"
        assert [a["type"] for a in status["addresses"]] == ["InternalIP", "Hostname"]
        assert ipaddress.ip_address(status["addresses"][0]["address"]) in \
            ipaddress.ip_network("10.0.0.0/8")

        async def renewed_twice() -> bool:
            lease = await get_json(api_server, "lease", "reg-node-1", "-n", "kube-node-lease")
            assert lease["spec"]["holderIdentity"] == "reg-node-1"
            assert lease["spec"]["leaseDurationSeconds"] == 40
            assert lease["metadata"]["ownerReferences"][0]["uid"] == node["metadata"]["uid"]
            renew = parse_api_time(lease["spec"]["renewTime"])
            return renew is not None and renew > first + 0.4
        lease = await get_json(api_server, "lease", "reg-node-1", "-n", "kube-node-lease")
        first = parse_api_time(lease["spec"]["renewTime"]) or 0.0
        await eventually(renewed_twice, "the lease to be renewed")

        events = await get_json(api_server, "events", "-n", "default",
                                "--field-selector", "involvedObject.name=reg-node-2")
        starting = [e for e in events["items"] if e["reason"] == "Starting"]
        assert starting, events
        assert starting[0]["source"] == {"component": "kubelet", "host": "reg-node-2"}
        assert starting[0]["type"] == "Normal"


async def test_stopping_stops_lease_renewal_and_leaves_the_node(api_server: Any) -> None:
    kubeconfig = str(api_server.data_dir / "admin.kubeconfig")
    task = asyncio.create_task(run_hollow_nodes(
        kubeconfig, count=1, name_prefix="stop-node-", renew_interval=0.3))
    try:
        async def renew_time() -> float | None:
            proc = await kubectl(api_server, "get", "lease", "stop-node-0", "-n",
                                 "kube-node-lease", "-o", "jsonpath={.spec.renewTime}",
                                 check=False)
            return parse_api_time(proc.stdout.strip()) if proc.returncode == 0 else None
        first = await eventually(renew_time, "the lease")
        await eventually(lambda: _later(renew_time, first), "a renewal")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    try:
        await asyncio.sleep(0.3)  # a renewal the server was already handling may land
        stopped = await renew_time()
        await asyncio.sleep(1.5)  # five renew intervals: a renewal would show
        assert await renew_time() == stopped
        node = await get_json(api_server, "node", "stop-node-0")
        assert node["metadata"]["name"] == "stop-node-0"  # left behind
    finally:
        await kubectl(api_server, "delete", "node", "stop-node-0", check=False)
        await kubectl(api_server, "delete", "lease", "stop-node-0", "-n", "kube-node-lease",
                      check=False)


async def _later(probe: Callable[[], Awaitable[float | None]], than: float) -> bool:
    value = await probe()
    return value is not None and value > than


async def test_delete_nodes_on_exit(api_server: Any) -> None:
    kubeconfig = str(api_server.data_dir / "admin.kubeconfig")
    task = asyncio.create_task(run_hollow_nodes(
        kubeconfig, count=2, name_prefix="gone-node-", delete_nodes_on_exit=True))

    async def both_registered() -> bool:
        proc = await kubectl(api_server, "get", "nodes", "-o", "name")
        return {"node/gone-node-0", "node/gone-node-1"} <= set(proc.stdout.split())
    await eventually(both_registered, "the nodes")
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    proc = await kubectl(api_server, "get", "nodes", "-o", "name")
    assert "gone-node" not in proc.stdout
    proc = await kubectl(api_server, "get", "leases", "-n", "kube-node-lease", "-o", "name")
    assert "gone-node" not in proc.stdout


async def test_deleted_node_is_registered_again(api_server: Any) -> None:
    async with hollow_nodes(api_server, "again-node-", 1, renew_interval=0.5):
        before = await get_json(api_server, "node", "again-node-0")
        await kubectl(api_server, "delete", "node", "again-node-0")

        async def recreated() -> dict[str, Any] | None:
            proc = await kubectl(api_server, "get", "node", "again-node-0", "-o", "json",
                                 check=False)
            if proc.returncode != 0:
                return None
            node: dict[str, Any] = json.loads(proc.stdout)
            fresh = node["metadata"]["uid"] != before["metadata"]["uid"]
            return node if fresh and condition(node, "Ready").get("status") == "True" \
                else None
        node = await eventually(recreated, "the node to come back Ready")

        async def lease_follows() -> bool:
            lease = await get_json(api_server, "lease", "again-node-0", "-n",
                                   "kube-node-lease")
            return bool(lease["metadata"]["ownerReferences"][0]["uid"] ==
                        node["metadata"]["uid"])
        await eventually(lease_follows, "the lease to name the new node as owner")


async def test_pods_run_with_addresses_from_the_pod_cidr(api_server: Any,
                                                         namespace: str) -> None:
    async with hollow_nodes(api_server, "pod-node-", 2) as nodes:
        cidr = ipaddress.ip_network(await pod_cidr(api_server, "pod-node-0",
                                                   "10.244.250.0/24"))
        node_ip = (await get_json(api_server, "node", "pod-node-0"))["status"]["addresses"][0]
        await create(api_server,
                     pod_manifest("web-1", namespace, "pod-node-0", containers=2),
                     pod_manifest("web-2", namespace, "pod-node-0"),
                     pod_manifest("host", namespace, "pod-node-0", hostNetwork=True))
        pods = [await pod_when(api_server, namespace, name, running_and_ready, "Running")
                for name in ("web-1", "web-2", "host")]
        web1, web2, host = pods
        ips = {ipaddress.ip_address(p["status"]["podIP"]) for p in (web1, web2)}
        assert len(ips) == 2 and all(ip in cidr for ip in ips)
        assert host["status"]["podIP"] == node_ip["address"]
        for pod in pods:
            status = pod["status"]
            assert status["hostIP"] == node_ip["address"]
            assert status["podIPs"] == [{"ip": status["podIP"]}]
            assert status["startTime"]
            for type_ in ("PodScheduled", "Initialized", "ContainersReady", "Ready",
                          "PodReadyToStartContainers"):
                assert condition(pod, type_)["status"] == "True", type_
        statuses = web1["status"]["containerStatuses"]
        assert [s["name"] for s in statuses] == ["c0", "c1"]
        for cs in statuses:
            assert cs["ready"] and cs["started"] and cs["restartCount"] == 0
            assert cs["state"]["running"]["startedAt"]
            assert cs["containerID"] == f"hollow://{web1['metadata']['uid']}-{cs['name']}"
            assert cs["image"] == "registry.k8s.io/pause:3.10" and cs["imageID"]
        table = (await kubectl(api_server, "get", "pods", "-n", namespace)).stdout
        assert "2/2" in table and "Running" in table

        # Level-triggered: once everything is current, nothing more is written.
        writes = nodes.writes["pod_status"]
        await asyncio.sleep(1.0)
        assert nodes.writes["pod_status"] == writes

        # Deleting returns promptly: the hollow kubelet stops the containers and
        # finalizes the deletion.
        started = time.monotonic()
        await kubectl(api_server, "delete", "pod", "web-1", "-n", namespace, "--timeout=20s")
        assert time.monotonic() - started < 10
        gone = await kubectl(api_server, "get", "pod", "web-1", "-n", namespace, check=False)
        assert gone.returncode != 0 and "NotFound" in gone.stderr
        await kubectl(api_server, "delete", "pod", "--all", "-n", namespace, "--timeout=20s")


async def test_pods_bound_to_other_nodes_are_left_alone(api_server: Any,
                                                        namespace: str) -> None:
    async with hollow_nodes(api_server, "mine-node-", 1):
        await create(api_server, pod_manifest("elsewhere", namespace, "not-a-hollow-node"),
                     pod_manifest("here", namespace, "mine-node-0"))
        await pod_when(api_server, namespace, "here", running_and_ready, "Running")
        other = await get_json(api_server, "pod", "elsewhere", "-n", namespace)
        assert other["status"]["phase"] == "Pending"
        assert "containerStatuses" not in other["status"]
        await kubectl(api_server, "delete", "pod", "here", "-n", namespace, "--timeout=20s")
        await kubectl(api_server, "delete", "pod", "elsewhere", "-n", namespace,
                      "--grace-period=0", "--force")


async def test_pods_complete_fail_and_restart(api_server: Any, namespace: str) -> None:
    async with hollow_nodes(api_server, "job-node-", 1):
        await create(api_server,
                     pod_manifest("done", namespace, "job-node-0", policy="Never"),
                     pod_manifest("broken", namespace, "job-node-0", policy="Never",
                                  annotations={ANNOTATION_EXIT_CODE: "3"}),
                     pod_manifest("retry", namespace, "job-node-0", policy="OnFailure",
                                  annotations={ANNOTATION_EXIT_CODE: "1",
                                               ANNOTATION_RUN_SECONDS: "0.5"}))
        running = await pod_when(api_server, namespace, "done",
                                 lambda p: p["status"].get("phase") in
                                 ("Running", "Succeeded"), "started")
        done = await pod_when(api_server, namespace, "done",
                              lambda p: p["status"].get("phase") == "Succeeded", "Succeeded")
        started = parse_api_time(running["status"]["startTime"]) or 0.0
        terminated = done["status"]["containerStatuses"][0]["state"]["terminated"]
        assert (terminated["exitCode"], terminated["reason"]) == (0, "Completed")
        assert 0.0 <= (parse_api_time(terminated["finishedAt"]) or 0) - started <= 2.0
        assert condition(done, "Ready")["reason"] == "PodCompleted"

        broken = await pod_when(api_server, namespace, "broken",
                                lambda p: p["status"].get("phase") == "Failed", "Failed")
        terminated = broken["status"]["containerStatuses"][0]["state"]["terminated"]
        assert (terminated["exitCode"], terminated["reason"]) == (3, "Error")
        assert condition(broken, "Ready")["reason"] == "PodFailed"

        retry = await pod_when(
            api_server, namespace, "retry",
            lambda p: (p["status"].get("containerStatuses") or [{}])[0]
            .get("restartCount", 0) >= 2, "restarted twice")
        assert retry["status"]["phase"] == "Running"
        last = retry["status"]["containerStatuses"][0]["lastState"]["terminated"]
        assert (last["exitCode"], last["reason"]) == (1, "Error")
        await kubectl(api_server, "delete", "pods", "--all", "-n", namespace, "--timeout=20s")


async def test_readiness_probe_waits_for_the_ready_delay(api_server: Any,
                                                         namespace: str) -> None:
    async with hollow_nodes(api_server, "probe-node-", 1, pod_ready_delay=1.5):
        manifest = pod_manifest("probed", namespace, "probe-node-0")
        manifest["spec"]["containers"][0]["readinessProbe"] = {
            "tcpSocket": {"port": 80}, "periodSeconds": 1}
        await create(api_server, manifest)
        running = await pod_when(api_server, namespace, "probed",
                                 lambda p: p["status"].get("phase") == "Running", "Running")
        assert condition(running, "Ready")["status"] == "False"
        ready = await pod_when(api_server, namespace, "probed", running_and_ready, "Ready")
        assert ready["status"]["containerStatuses"][0]["ready"] is True
        await kubectl(api_server, "delete", "pod", "probed", "-n", namespace, "--timeout=20s")


async def test_cancelling_while_events_are_written_stops_promptly(api_server: Any) -> None:
    # Right after registration the per-node Starting events are still being written; a
    # cancellation landing in the middle of that must still end the run.
    for attempt in range(3):
        client = Client.from_kubeconfig(str(api_server.data_dir / "admin.kubeconfig"))
        nodes = HollowNodes(client, count=40, name_prefix=f"cancel{attempt}-node-")
        task = asyncio.create_task(nodes.run())
        try:
            async with asyncio.timeout(60):
                await nodes.wait_registered()
            await asyncio.sleep(0.05 * attempt)
            task.cancel()
            done, _ = await asyncio.wait({task}, timeout=10)
            assert done, f"attempt {attempt}: the hollow nodes did not stop when cancelled"
        finally:
            task.cancel()
            await nodes.fleet.delete_all()
            await client.close()


async def test_200_nodes_register_within_seconds(api_server: Any) -> None:
    started = time.monotonic()
    async with hollow_nodes(api_server, "burst-node-", 200, events=False) as nodes:
        elapsed = time.monotonic() - started
        table = (await kubectl(api_server, "get", "nodes", "-l", "type=hollow")).stdout
        ready = [line for line in table.splitlines()
                 if line.startswith("burst-node-") and " Ready " in line]
        assert len(ready) == 200
        assert nodes.writes["node_create"] == 200
        # Registered with their status: no status write needed, none repeated.
        assert nodes.writes["node_status"] == 0
        assert elapsed < 30, f"200 nodes took {elapsed:.1f}s to register"
