"""Fixtures for the volume manager against a real API server, as a real node identity.

The server runs the ServiceAccount, root CA publisher and PersistentVolume binder
controllers (no scheduler: tests bind pods to the node themselves with spec.nodeName).
The volume manager authenticates as ``system:node:<name>`` in ``system:nodes`` with a
client certificate signed by the cluster CA, so the node authorizer decides what it may
read. Every mount the tests make lives under the test's tmp directory and is removed in
teardown even when a test fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kubesmith.agent.paths import AgentPaths
from kubesmith.agent.volumes import VolumeManager, mounts
from kubesmith.apiserver import pki
from kubesmith.client import ApiError, Client
from kubesmith.client.rest import NAMESPACES, PODS, SERVICEACCOUNTS
from tests.conftest import RunningServer

NODE = "volumes-node"


@pytest.fixture(scope="module")
def cluster(server_factory: Callable[..., RunningServer]) -> RunningServer:
    return server_factory("--controllers",
                          "serviceaccount,root-ca-certificate-publisher,"
                          "persistentvolume-binder",
                          "--disable-scheduler")


@pytest.fixture(scope="module")
def node_kubeconfig(cluster: RunningServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A kubeconfig for ``system:node:<NODE>`` (group ``system:nodes``)."""
    directory = tmp_path_factory.mktemp("node-pki")
    ca = pki.KeyPair(cluster.data_dir / "pki" / "ca.crt", cluster.data_dir / "pki" / "ca.key")
    client_pair = pki.issue(ca, pki.KeyPair(directory / "node.crt", directory / "node.key"),
                            common_name=f"system:node:{NODE}",
                            organizations=["system:nodes"], client=True)
    path = directory / "node.kubeconfig"
    pki.write_kubeconfig(path, server=cluster.url, ca=ca, client=client_pair,
                         user=f"system:node:{NODE}")
    return path


@pytest.fixture
async def admin(cluster: RunningServer) -> AsyncIterator[Client]:
    async with Client.from_kubeconfig(str(cluster.kubeconfig)) as client:
        yield client


@pytest.fixture
async def node_client(node_kubeconfig: Path) -> AsyncIterator[Client]:
    async with Client.from_kubeconfig(str(node_kubeconfig)) as client:
        yield client


@pytest.fixture
def agent_paths(tmp_path: Path) -> Iterator[AgentPaths]:
    paths = AgentPaths(root=tmp_path / "root", run=tmp_path / "run", log=tmp_path / "log")
    try:
        yield paths
    finally:
        # Whatever a failed test left mounted under its directory goes away.
        for point in mounts.mounts_under(tmp_path):
            mounts.unmount(Path(point))


@pytest.fixture
def volumes(agent_paths: AgentPaths, node_client: Client) -> VolumeManager:
    return VolumeManager(agent_paths, node_client, node_name=NODE)


async def until(check: Callable[[], Awaitable[Any]], what: str, seconds: float = 20) -> Any:
    """Poll ``check`` until it returns something truthy."""
    deadline = time.monotonic() + seconds
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


@pytest.fixture
async def namespace(admin: Client) -> AsyncIterator[str]:
    """A fresh namespace with its default ServiceAccount; deleted (pods first) after."""
    name = f"vol-{uuid.uuid4().hex[:8]}"
    await admin.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace",
                                    "metadata": {"name": name}})

    async def has_sa() -> bool:
        try:
            await admin.get(SERVICEACCOUNTS, "default", name)
        except ApiError:
            return False
        return True

    await until(has_sa, f"the default ServiceAccount of {name}")
    try:
        yield name
    finally:
        async for pod in admin.list_all(PODS, name):
            with contextlib.suppress(ApiError):
                await admin.delete(PODS, pod["metadata"]["name"], name,
                                   grace_period_seconds=0)
        with contextlib.suppress(ApiError):
            await admin.delete(NAMESPACES, name)


@dataclass
class PodFactory:
    admin: Client
    namespace: str

    async def create(self, name: str, volumes: list[dict[str, Any]],
                     mounts_: list[dict[str, Any]] | None = None, *, node: str = NODE,
                     **spec: Any) -> dict[str, Any]:
        """A pod bound to ``node`` with ``volumes`` mounted in its one container."""
        if mounts_ is None:
            mounts_ = [{"name": v["name"], "mountPath": f"/mnt/{v['name']}"} for v in volumes]
        body = {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "namespace": self.namespace},
                "spec": {"nodeName": node, "volumes": volumes,
                         "containers": [{"name": "main", "image": "busybox",
                                         "volumeMounts": mounts_}], **spec}}
        pod: dict[str, Any] = await self.admin.create(PODS, body)
        return pod


@pytest.fixture
def pods(admin: Client, namespace: str) -> PodFactory:
    return PodFactory(admin, namespace)
