"""What the ReplicaSet and Deployment tests share: a namespace with a fake kubelet that
marks new pods Running and Ready (pods stay unscheduled: the deletion order prefers them)
and the controllers under test running in the test."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from kubesmith.api.types import Obj
from kubesmith.client import ApiError, Client, Informer, Resource
from kubesmith.client.rest import NAMESPACES, PODS
from kubesmith.controllers import manager as controller_manager
from kubesmith.controllers.util import labels_of, now_rfc3339
from tests.conftest import RunningServer, namespace_name
from tests.integration.controllers.conftest import running_controllers
from tests.integration.controllers.helpers import (
    events_about,
    has_default_service_account,
    kubectl,
    until,
)

#: Pods with this label are never made ready by the fake kubelet.
NEVER_READY = "kubesmith-test/never-ready"

CONTROLLER_CLASSES = {
    "replicaset-controller": "kubesmith.controllers.replicaset:ReplicaSetController",
    "replicationcontroller-controller": "kubesmith.controllers.replicaset:ReplicationManager",
    "deployment-controller": "kubesmith.controllers.deployment:DeploymentController",
}


class FakeKubelet:
    """Marks each new pod of one namespace Running and Ready (once per pod), unless it has
    the :data:`NEVER_READY` label or the kubelet is paused."""

    def __init__(self, client: Client, namespace: str) -> None:
        self.client = client
        self.namespace = namespace
        self.informer = Informer(client, PODS, namespace, watch_timeout_seconds=60)
        self.informer.add_handlers(on_add=self._seen, on_update=lambda _o, n: self._seen(n))
        self.paused = False
        self._done: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def _seen(self, pod: Obj) -> None:
        uid = pod["metadata"]["uid"]
        if self.paused or uid in self._done or pod["metadata"].get("deletionTimestamp") or \
                labels_of(pod).get(NEVER_READY):
            return
        self._done.add(uid)
        task = asyncio.create_task(self.mark_ready(pod["metadata"]["name"]))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def resume(self) -> None:
        """Start marking pods again (those that arrived while paused too)."""
        self.paused = False
        for pod in self.informer.list():
            self._seen(pod)

    async def mark_ready(self, name: str, ready: bool = True) -> None:
        """Patch the pod's status as a kubelet reporting it running (and ready or not)."""
        stamp = now_rfc3339()
        status = "True" if ready else "False"
        with contextlib.suppress(ApiError):
            await self.client.patch(PODS, name, {"status": {
                "phase": "Running", "conditions": [
                    {"type": "PodScheduled", "status": "True", "lastTransitionTime": stamp},
                    {"type": "ContainersReady", "status": status, "lastTransitionTime": stamp},
                    {"type": "Ready", "status": status, "lastTransitionTime": stamp}]}},
                self.namespace, subresource="status")

    async def __aenter__(self) -> FakeKubelet:
        self.informer.start()
        await asyncio.wait_for(self.informer.wait_synced(), 10)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.informer.stop()
        for task in list(self._tasks):
            task.cancel()


@dataclass
class Cluster:
    """What a test works with: the server, an admin client, its namespace and kubelet."""

    server: RunningServer
    client: Client
    namespace: str
    kubelet: FakeKubelet
    extra: dict[str, Any] = field(default_factory=dict)

    def kubectl(self, *args: str, check: bool = True, timeout: float = 60) -> Any:
        """kubectl in the namespace, blocking (for commands that return at once)."""
        return self.server.kubectl(*args, "-n", self.namespace, check=check, timeout=timeout)

    async def akubectl(self, *args: str, check: bool = True, seconds: float = 60) -> Any:
        """kubectl in the namespace without blocking the controllers (rollout status,
        wait)."""
        return await kubectl(self.server, *args, "-n", self.namespace, check=check,
                             seconds=seconds)

    def kubectl_json(self, *args: str) -> Any:
        return json.loads(self.kubectl(*args, "-o", "json").stdout)

    async def pods(self, selector: str | None = None) -> list[Obj]:
        found = await self.client.list(PODS, self.namespace, label_selector=selector)
        return [p for p in found.items if not p["metadata"].get("deletionTimestamp")]

    async def get(self, resource: Resource, name: str) -> Obj:
        return await self.client.get(resource, name, self.namespace)

    async def events(self, name: str, reason: str | None = None) -> list[Obj]:
        return await events_about(self.client, self.namespace, name, reason)


@contextlib.asynccontextmanager
async def workload_cluster(server: RunningServer, request: pytest.FixtureRequest,
                           monkeypatch: pytest.MonkeyPatch, *controllers: str
                           ) -> AsyncIterator[Cluster]:
    """A namespace with a fake kubelet and ``controllers`` (registered for this test)
    running; everything in it is deleted afterwards."""
    for name in controllers:
        monkeypatch.setitem(controller_manager.CONTROLLERS, name, CONTROLLER_CLASSES[name])
    ns = namespace_name(request.node.name)
    client = Client.from_kubeconfig(str(server.kubeconfig))
    try:
        await client.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace",
                                         "metadata": {"name": ns}})
        # Pods need the namespace's default ServiceAccount (ServiceAccount admission).
        await until(lambda: has_default_service_account(client, ns),
                    "default ServiceAccount")
        async with FakeKubelet(client, ns) as kubelet, \
                running_controllers(server, *controllers):
            yield Cluster(server, client, ns, kubelet)
    finally:
        server.kubectl("delete", "deployments,replicasets,replicationcontrollers,pods,"
                       "resourcequotas", "--all", "-n", ns, "--grace-period=0", "--force",
                       "--wait=false", check=False)
        server.kubectl("delete", "namespace", ns, "--wait=false", check=False)
        await client.close()
