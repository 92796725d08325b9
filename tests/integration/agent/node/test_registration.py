"""The agent registers its Node against a real API server — capacity, labels, taints,
addresses, nodeInfo, conditions — renews its Lease, writes status only when it changed,
reports readiness changes at once and adopts a Node registered before."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from kubesmith.agent.node.host import KUBELET_VERSION, HostProbe
from kubesmith.agent.node.registration import NodeOptions, NodeRegistration
from kubesmith.client import Client
from kubesmith.client.events import EventRecorder
from kubesmith.client.rest import EVENTS, LEASES, NODES

from .conftest import Eventually

pytestmark = pytest.mark.integration

TAINT = {"key": "dedicated", "value": "agents", "effect": "NoSchedule"}


@contextlib.asynccontextmanager
async def running(registration: NodeRegistration) -> AsyncIterator[NodeRegistration]:
    """Run ``registration`` for the body of the ``async with``, registered first."""
    task = asyncio.create_task(registration.run())
    try:
        done = asyncio.create_task(registration.registered.wait())
        await asyncio.wait({task, done}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            task.result()
        assert done.done(), "the node did not register within 30 s"
        yield registration
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def options(name: str, **overrides: Any) -> NodeOptions:
    fast: dict[str, Any] = {"node_ip": "127.0.0.1", "status_update_interval": 0.2,
                            "lease_duration_seconds": 40, "lease_renew_interval": 0.2}
    return NodeOptions(name=name, **{**fast, **overrides})


async def kubectl_json(server: Any, *args: str) -> Any:
    done = await asyncio.to_thread(server.kubectl, "get", *args, "-o", "json")
    return json.loads(done.stdout)


async def test_registers_the_node_with_host_facts(api_server: Any, admin: Client,
                                                  node_name: str, tmp_path: Path) -> None:
    machine_id = await asyncio.to_thread(Path("/etc/machine-id").read_text)
    boot_id = await asyncio.to_thread(Path("/proc/sys/kernel/random/boot_id").read_text)
    registration = NodeRegistration(
        admin, options(node_name, labels={"team": "a", "node.kubernetes.io/pool": "p1"},
                       taints=[TAINT]), HostProbe(tmp_path),
        images=lambda: [(["docker.io/library/busybox@sha256:1",
                          "docker.io/library/busybox:latest"], 2_000_000)])
    async with running(registration):
        node = await kubectl_json(api_server, "node", node_name)
    labels = node["metadata"]["labels"]
    assert labels["kubernetes.io/hostname"] == node_name
    assert (labels["kubernetes.io/os"], labels["kubernetes.io/arch"]) == ("linux", "amd64")
    assert (labels["beta.kubernetes.io/os"], labels["beta.kubernetes.io/arch"]) == (
        "linux", "amd64")
    assert labels["team"] == "a" and labels["node.kubernetes.io/pool"] == "p1"
    assert TAINT in node["spec"]["taints"]
    status = node["status"]
    assert set(status["capacity"]) >= {"cpu", "memory", "pods", "ephemeral-storage"}
    assert status["capacity"]["cpu"] == str(len(os.sched_getaffinity(0)))
    assert status["capacity"]["pods"] == "110"
    assert status["capacity"]["memory"].endswith("Ki")
    assert status["allocatable"]["memory"] != status["capacity"]["memory"]
    assert status["addresses"] == [{"type": "InternalIP", "address": "127.0.0.1"},
                                   {"type": "Hostname", "address": node_name}]
    assert status["daemonEndpoints"] == {"kubeletEndpoint": {"Port": 10250}}
    info = status["nodeInfo"]
    assert info["kubeletVersion"] == KUBELET_VERSION
    assert info["containerRuntimeVersion"].startswith("runc://1.")
    assert (info["machineID"], info["bootID"]) == (machine_id.strip(), boot_id.strip())
    assert info["osImage"].startswith("Debian GNU/Linux")
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["Ready"]["status"] == "True"
    assert conditions["Ready"]["reason"] == "KubeletReady"
    for type_ in ("MemoryPressure", "DiskPressure", "PIDPressure"):
        assert conditions[type_]["status"] == "False"
    assert status["images"] == [{"names": ["docker.io/library/busybox@sha256:1",
                                           "docker.io/library/busybox:latest"],
                                 "sizeBytes": 2_000_000}]
    printed = (await asyncio.to_thread(api_server.kubectl, "get", "node", node_name)).stdout
    assert "Ready" in printed and node_name in printed


async def test_lease_renews_and_unchanged_status_is_not_rewritten(
        api_server: Any, admin: Client, node_name: str, tmp_path: Path,
        eventually: Eventually) -> None:
    registration = NodeRegistration(admin, options(node_name), HostProbe(tmp_path))
    async with running(registration):
        node = await admin.get(NODES, node_name)
        first = await eventually(
            lambda: _lease_if(admin, node_name, lambda lease: True), "the node's Lease")
        renewed = await eventually(
            lambda: _lease_if(admin, node_name, lambda lease: lease["spec"]["renewTime"] !=
                              first["spec"]["renewTime"]), "a renewal of the Lease")
        assert renewed["spec"]["holderIdentity"] == node_name
        assert renewed["spec"]["leaseDurationSeconds"] == 40
        assert renewed["metadata"]["ownerReferences"] == [
            {"apiVersion": "v1", "kind": "Node", "name": node_name,
             "uid": node["metadata"]["uid"]}]
        checks = registration.status_checks
        await eventually(lambda: _true(registration.status_checks >= checks + 3),
                         "three more status computations")
        assert registration.status_writes == 0
        after = await admin.get(NODES, node_name)
        assert after["metadata"]["resourceVersion"] == node["metadata"]["resourceVersion"]


async def test_readiness_and_others_changes_are_written(
        api_server: Any, admin: Client, node_name: str, tmp_path: Path,
        eventually: Eventually) -> None:
    problems: list[str] = []
    recorder = EventRecorder(admin, "kubelet", host=node_name)
    registration = NodeRegistration(admin, options(node_name, status_update_interval=30.0),
                                    HostProbe(tmp_path), readiness=lambda: problems,
                                    recorder=recorder)
    try:
        async with running(registration):
            problems.append("container runtime is down")
            registration.poke()  # no waiting for the 30 s tick
            ready = await eventually(lambda: _ready_if(admin, node_name, "False"),
                                     "Ready=False")
            assert (ready["reason"], ready["message"]) == ("KubeletNotReady",
                                                           "container runtime is down")
            problems.clear()
            # The node controller marks a silent node Unknown; the agent says Ready again.
            await admin.patch(NODES, node_name, {"status": {"conditions": [
                {"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown",
                 "message": "Kubelet stopped posting node status."}]}},
                subresource="status", patch_type="strategic")
            registration.poke()
            ready = await eventually(lambda: _ready_if(admin, node_name, "True"),
                                     "Ready=True again")
            assert ready["reason"] == "KubeletReady"
            await recorder.flush()
            reasons = await eventually(lambda: _event_reasons(admin, node_name, 3),
                                       "the node's events")
            assert {"Starting", "NodeReady", "NodeNotReady", "NodeHasSufficientMemory",
                    "NodeHasNoDiskPressure", "NodeHasSufficientPID"} <= reasons
    finally:
        await recorder.close()
        async for event in admin.list_all(EVENTS, "default",
                                          field_selector=f"involvedObject.name={node_name}"):
            await admin.delete(EVENTS, event["metadata"]["name"], "default")


async def test_an_existing_node_is_adopted(api_server: Any, admin: Client, node_name: str,
                                           tmp_path: Path, eventually: Eventually) -> None:
    await admin.create(NODES, {"apiVersion": "v1", "kind": "Node", "metadata": {
        "name": node_name, "labels": {"kubernetes.io/hostname": "stale", "keep": "me"}}})
    registration = NodeRegistration(admin, options(node_name, labels={"team": "new"}),
                                    HostProbe(tmp_path))
    async with running(registration):
        ready = await eventually(lambda: _ready_if(admin, node_name, "True"),
                                 "the adopted node's status")
        assert ready["reason"] == "KubeletReady"
        node = await admin.get(NODES, node_name)
    labels = node["metadata"]["labels"]
    assert labels["kubernetes.io/hostname"] == node_name
    assert labels["kubernetes.io/os"] == "linux" and labels["keep"] == "me"
    assert "team" not in labels  # --node-labels apply only when the agent creates the Node
    assert node["metadata"]["annotations"][
        "volumes.kubernetes.io/controller-managed-attach-detach"] == "true"
    assert node["status"]["nodeInfo"]["kubeletVersion"] == KUBELET_VERSION


async def _lease_if(client: Client, name: str, accept: Any) -> Any:
    try:
        lease = await client.get(LEASES, name, "kube-node-lease")
    except Exception:
        return None
    return lease if accept(lease) else None


async def _ready_if(client: Client, name: str, status: str) -> Any:
    node = await client.get(NODES, name)
    ready = next((c for c in (node.get("status") or {}).get("conditions") or []
                  if c["type"] == "Ready"), {})
    return ready if ready.get("status") == status else None


async def _event_reasons(client: Client, name: str, at_least: int) -> set[str] | None:
    page = await client.list(EVENTS, "default",
                             field_selector=f"involvedObject.name={name}")
    reasons = {str(e.get("reason")) for e in page.items}
    return reasons if len(reasons) >= at_least and "NodeReady" in reasons else None


async def _true(value: bool) -> bool:
    return value
