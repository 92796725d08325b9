"""Real pods on this machine: the pod manager with the real runtime (runc + conmon), image
store, CNI plugins and volume manager, against a real API server. Needs root.

Each test gets its own agent paths, bridge and pod CIDR; teardown stops the manager,
removes every container and sandbox it left, and the test's bridge and Node."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kubesmith.agent.cni import CNI
from kubesmith.agent.images import ImageStore
from kubesmith.agent.paths import AgentPaths
from kubesmith.agent.pods.context import PodConfig
from kubesmith.agent.pods.manager import PodManager
from kubesmith.agent.runtime import Runtime
from kubesmith.agent.volumes import VolumeManager
from kubesmith.client import ApiError, Client
from kubesmith.client.rest import CONFIGMAPS, EVENTS, NODES, PODS
from tests.conftest import RunningServer
from tests.integration.agent.cni.conftest import free_subnet, run
from tests.support.oci_images import busybox_image
from tests.support.polling import eventually

pytestmark = pytest.mark.integration

PLUGIN_DIR = Path("/usr/lib/cni")
Obj = dict[str, Any]


def _missing() -> str | None:
    if os.geteuid() != 0:
        return "needs root"
    for tool in ("runc", "conmon", "busybox"):
        if shutil.which(tool) is None:
            return f"needs {tool}"
    for plugin in ("bridge", "host-local", "loopback", "portmap"):
        if not (PLUGIN_DIR / plugin).exists():
            return f"needs the CNI plugin {plugin}"
    return None


@dataclass
class Agent:
    client: Client
    paths: AgentPaths
    node_name: str
    runtime: Runtime
    make_manager: Callable[[], PodManager]
    task: asyncio.Task[None] | None = None
    manager: PodManager | None = None

    async def start(self) -> PodManager:
        self.manager = self.make_manager()
        self.task = asyncio.create_task(self.manager.run())
        async with asyncio.timeout(30):
            await self.manager.wait_ready()
        return self.manager

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
            self.task = None


@pytest.fixture
async def agent(api_server: RunningServer, tmp_path: Path) -> AsyncIterator[Agent]:
    reason = _missing()
    if reason:
        pytest.skip(reason)
    suffix = secrets.token_hex(3)
    node_name = f"pods-it-{suffix}"
    paths = AgentPaths(root=tmp_path / "root", run=tmp_path / "run", log=tmp_path / "log")
    paths.ensure()
    cidr = free_subnet("10.128.0.0/9", 24)
    bridge = f"ksp{suffix}"
    client = Client.from_kubeconfig(str(api_server.kubeconfig))
    await client.create(NODES, {
        "apiVersion": "v1", "kind": "Node", "metadata": {
            "name": node_name, "labels": {"kubernetes.io/os": "linux"}},
        "spec": {"podCIDR": str(cidr)},
        "status": {"allocatable": {"cpu": "2", "memory": "2Gi", "pods": "110"},
                   "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}]}})
    images = ImageStore(paths.images)
    await asyncio.to_thread(images.import_archive, busybox_image(tmp_path))
    runtime = Runtime(paths)
    cni = CNI(conf_dir=tmp_path / "net.d", bin_dirs=(PLUGIN_DIR,), cache_dir=paths.cni_cache,
              default_pod_cidr=str(cidr), default_network_name=f"ksp{suffix}",
              bridge=bridge, ipam_data_dir=tmp_path / "ipam")
    volumes = VolumeManager(paths, client, node_name=node_name)
    config = PodConfig(node_name=node_name, resync_seconds=2.0)

    def make_manager() -> PodManager:
        return PodManager(client, paths, config, images=images, runtime=runtime, cni=cni,
                          volumes=volumes)

    the_agent = Agent(client, paths, node_name, runtime, make_manager)
    try:
        yield the_agent
    finally:
        await the_agent.stop()
        for state in await runtime.list_containers():
            with contextlib.suppress(Exception):
                await runtime.stop_container(state.id, 0)
            await runtime.remove_container(state.id)
        for sandbox in await runtime.list_sandboxes():
            with contextlib.suppress(Exception):
                await cni.delete(container_id=sandbox.id, netns=sandbox.netns_path)
            await runtime.remove_sandbox(sandbox.id)
        for directory in paths.containers.glob("*"):
            images.unmount_rootfs(directory)
        for pod_dir in paths.pods.glob("*"):
            await volumes.teardown(pod_dir.name)
        runtime.close()
        run("ip", "link", "del", bridge, check=False)
        with contextlib.suppress(ApiError):
            await client.delete(NODES, node_name)
        await client.close()


def busybox_pod(name: str, namespace: str, node: str, command: list[str], **spec: Any) -> Obj:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"nodeName": node, "terminationGracePeriodSeconds": 5,
                     "containers": [{"name": "main", "image": "busybox",
                                     "imagePullPolicy": "Never", "command": command}],
                     **spec}}


async def phase_of(client: Client, namespace: str, name: str) -> Obj | None:
    try:
        return await client.get(PODS, name, namespace)
    except ApiError as exc:
        if exc.code == 404:
            return None
        raise


async def root_ca(client: Client, namespace: str) -> None:
    """What the root CA publisher (not running here) gives every namespace, for the
    service account token volume."""
    await client.create(CONFIGMAPS, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
        "name": "kube-root-ca.crt", "namespace": namespace}, "data": {"ca.crt": "test"}})


async def test_pod_runs_survives_an_agent_restart_and_is_deleted(
        agent: Agent, kubectl_namespace: str) -> None:
    client, ns = agent.client, kubectl_namespace
    await root_ca(client, ns)
    await agent.start()
    await client.create(PODS, busybox_pod("web", ns, agent.node_name,
                                          ["sh", "-c", "echo hello; sleep 3600"]))

    async def ready() -> Obj | None:
        pod = await phase_of(client, ns, "web")
        conditions = {c["type"]: c["status"] for c in (pod or {}).get("status", {}).get(
            "conditions") or ()}
        return pod if conditions.get("Ready") == "True" else None

    pod = await eventually(ready, "pod web Running and Ready", within=60)
    status = pod["status"]
    assert status["phase"] == "Running"
    [main] = status["containerStatuses"]
    assert main["containerID"].startswith("runc://")
    assert main["image"] == "docker.io/library/busybox:latest"
    assert main["restartCount"] == 0 and "running" in main["state"]
    assert status["podIP"] and status["podIP"] != "127.0.0.1"
    assert status["hostIP"] == "127.0.0.1" and status["qosClass"] == "BestEffort"
    log = agent.paths.container_log(ns, "web", pod["metadata"]["uid"], "main", 0)
    await eventually(lambda: asyncio.to_thread(
        lambda: log.exists() and "hello" in log.read_text()), "the container's log")

    async def reasons() -> list[str]:
        events = await client.list(EVENTS, ns)
        return [e["reason"] for e in events.items
                if e["involvedObject"].get("name") == "web"]

    await eventually(lambda: _has(reasons, {"Pulled", "Created", "Started"}), "events")

    # An agent restart adopts the running container instead of restarting it.
    uid = pod["metadata"]["uid"]
    await agent.stop()
    manager = await agent.start()

    async def resynced() -> bool:   # the adopted pod was looked at a few times
        worker = manager.workers.get(uid)
        return worker is not None and worker.syncs >= 3

    await eventually(resynced, "three syncs of the adopted pod")
    after = await phase_of(client, ns, "web")
    assert after is not None
    [again] = after["status"]["containerStatuses"]
    assert again["containerID"] == main["containerID"]
    assert again["restartCount"] == 0 and "running" in again["state"]

    # Graceful deletion: containers stopped, sandbox gone, the object removed.
    await client.delete(PODS, "web", ns, grace_period_seconds=5)
    await eventually(lambda: _gone(client, ns, "web"), "pod web deleted", within=30)

    async def left_behind() -> list[str]:
        left = [c.id for c in await agent.runtime.list_containers() if c.pod_uid == uid]
        left += [s.id for s in await agent.runtime.list_sandboxes() if s.pod_uid == uid]
        if agent.paths.pod_dir(uid).exists():
            left.append(str(agent.paths.pod_dir(uid)))
        return left

    # (The API server may remove the object as soon as the final status is written.)
    await eventually(lambda: _not(left_behind), "the pod's containers, sandbox and directory "
                                              "removed", within=30)


async def test_failing_pod_and_config_error(agent: Agent, kubectl_namespace: str) -> None:
    client, ns = agent.client, kubectl_namespace
    await root_ca(client, ns)
    await agent.start()
    await client.create(PODS, busybox_pod("job", ns, agent.node_name,
                                          ["sh", "-c", "echo bye >/dev/termination-log; "
                                                       "exit 3"], restartPolicy="Never"))
    bad = busybox_pod("bad", ns, agent.node_name, ["sleep", "3600"])
    bad["spec"]["containers"][0]["env"] = [{"name": "X", "valueFrom": {"configMapKeyRef": {
        "name": "absent", "key": "x"}}}]
    await client.create(PODS, bad)

    async def failed() -> Obj | None:
        pod = await phase_of(client, ns, "job")
        return pod if (pod or {}).get("status", {}).get("phase") == "Failed" else None

    pod = await eventually(failed, "pod job Failed")
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (terminated["exitCode"], terminated["reason"], terminated["message"]) == (
        3, "Error", "bye\n")

    async def config_error() -> Obj | None:
        found = await phase_of(client, ns, "bad")
        statuses = (found or {}).get("status", {}).get("containerStatuses") or [{}]
        waiting = statuses[0].get("state", {}).get("waiting") or {}
        return waiting if waiting.get("reason") == "CreateContainerConfigError" else None

    waiting = await eventually(config_error, "CreateContainerConfigError")
    assert waiting["message"] == 'configmap "absent" not found'
    for name in ("job", "bad"):
        await client.delete(PODS, name, ns, grace_period_seconds=2)
    for name in ("job", "bad"):
        await eventually(lambda n=name: _gone(client, ns, n), f"pod {name} deleted")  # type: ignore[misc]


async def _has(reasons: Callable[[], Awaitable[list[str]]], wanted: set[str]) -> bool:
    return wanted <= set(await reasons())


async def _not(check: Callable[[], Awaitable[list[str]]]) -> bool:
    return not await check()


async def _gone(client: Client, namespace: str, name: str) -> bool:
    return await phase_of(client, namespace, name) is None
