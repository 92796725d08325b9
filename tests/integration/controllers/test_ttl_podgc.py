"""The TTL-after-finished and pod garbage-collection controllers against a real API server.

Neither needs other controllers: finished Jobs and finished or orphaned pods are made by
writing their status directly, as the Job controller and kubelets would.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kubesmith.client import ApiError, Client
from kubesmith.client.rest import JOBS, NAMESPACES, NODES, PODS, Resource
from kubesmith.controllers import manager
from kubesmith.controllers.base import ControllerOptions
from kubesmith.controllers.podgc import PodGCController
from kubesmith.controllers.util import format_rfc3339
from tests.conftest import RunningServer, namespace_name
from tests.integration.controllers.conftest import running_controllers
from tests.integration.controllers.helpers import delete_namespace_with, until

pytestmark = pytest.mark.integration

CLUSTERROLES = Resource("rbac.authorization.k8s.io", "v1", "clusterroles", namespaced=False)
CLUSTERROLEBINDINGS = Resource("rbac.authorization.k8s.io", "v1", "clusterrolebindings",
                               namespaced=False)
GC_ROLE = "system:controller:pod-garbage-collector"
HOLD = "example.com/hold"


@dataclass
class Env:
    client: Client
    ns: str

    async def pod(self, name: str, *, node: str | None = None,
                  finalizers: list[str] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": self.ns},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
        if node:
            body["spec"]["nodeName"] = node
        if finalizers:
            body["metadata"]["finalizers"] = finalizers
        created: dict[str, Any] = await self.client.create(PODS, body, self.ns)
        return created

    async def set_phase(self, name: str, phase: str) -> None:
        await self.client.patch(PODS, name, {"status": {"phase": phase}}, self.ns,
                                subresource="status")

    async def pod_names(self) -> set[str]:
        return {p["metadata"]["name"] for p in (await self.client.list(PODS, self.ns)).items}


@pytest.fixture
async def namespace(admin: Client, request: pytest.FixtureRequest) -> AsyncIterator[str]:
    ns = namespace_name(request.node.name)
    await admin.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace",
                                     "metadata": {"name": ns}})
    try:
        yield ns
    finally:
        await delete_namespace_with(admin, ns, JOBS, PODS)


# ---- TTL after finished -----------------------------------------------------------------

async def test_ttl_deletes_a_finished_job(admin: Client, namespace: str,
                                          monkeypatch: pytest.MonkeyPatch,
                                          server: RunningServer) -> None:
    monkeypatch.setitem(manager.CONTROLLERS, "ttl-after-finished-controller",
                        "kubesmith.controllers.ttl_after_finished:TTLAfterFinishedController")
    template = {"spec": {"restartPolicy": "Never",
                         "containers": [{"name": "c", "image": "busybox"}]}}
    for name, ttl in (("short", 2), ("long", 3600), ("none", None), ("running", 0)):
        spec: dict[str, Any] = {"suspend": True, "template": template}
        if ttl is not None:
            spec["ttlSecondsAfterFinished"] = ttl
        await admin.create(JOBS, {"apiVersion": "batch/v1", "kind": "Job",
                                  "metadata": {"name": name, "namespace": namespace},
                                  "spec": spec}, namespace)
    async with running_controllers(server, "ttl-after-finished-controller"):
        finished_at = datetime.now(UTC)
        for name in ("short", "long", "none"):
            when = format_rfc3339(finished_at)
            await admin.patch(JOBS, name, {"status": {
                "startTime": when, "completionTime": when, "succeeded": 1, "conditions": [
                    {"type": "SuccessCriteriaMet", "status": "True", "lastTransitionTime": when},
                    {"type": "Complete", "status": "True", "lastTransitionTime": when}]}},
                namespace, subresource="status")

        async def deletion_started() -> dict[str, Any] | None:
            job = await admin.get(JOBS, "short", namespace)
            return job if job["metadata"].get("deletionTimestamp") else None
        job = await until(deletion_started, what="TTL deletion")
        elapsed = datetime.now(UTC) - finished_at
        # Not before the TTL (whole seconds on the condition), not much after it.
        assert timedelta(seconds=1) <= elapsed < timedelta(seconds=6)
        # A foreground deletion: the garbage collector removes the pods, then the Job.
        assert "foregroundDeletion" in job["metadata"]["finalizers"]
        await asyncio.sleep(0.5)
        for name in ("long", "none", "running"):
            kept = await admin.get(JOBS, name, namespace)
            assert not kept["metadata"].get("deletionTimestamp"), name


# ---- pod GC ----------------------------------------------------------------------------

async def ensure_gc_role(admin: Client) -> None:
    """The bootstrap policy's role for the pod GC, where the server lacks it."""
    try:
        await admin.get(CLUSTERROLES, GC_ROLE)
        return
    except ApiError as exc:
        if exc.code != 404:
            raise
    await admin.create(CLUSTERROLES, {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": GC_ROLE},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "watch",
                                                                       "delete"]},
                  {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list",
                                                                        "watch"]},
                  {"apiGroups": [""], "resources": ["pods/status"], "verbs": ["patch"]}]})
    with contextlib.suppress(ApiError):
        await admin.create(CLUSTERROLEBINDINGS, {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": GC_ROLE},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                        "name": GC_ROLE},
            "subjects": [{"kind": "ServiceAccount", "name": "pod-garbage-collector",
                          "namespace": "kube-system"}]})


@pytest.fixture
async def gc_env(admin: Client, namespace: str, server: RunningServer,
                 monkeypatch: pytest.MonkeyPatch) -> Env:
    monkeypatch.setitem(manager.CONTROLLERS, "pod-garbage-collector-controller",
                        "kubesmith.controllers.podgc:PodGCController")
    monkeypatch.setattr(PodGCController, "gc_check_period", 0.3)
    monkeypatch.setattr(PodGCController, "quarantine_time", 1.0)
    await ensure_gc_role(admin)
    return Env(admin, namespace)


async def test_gc_keeps_at_most_the_threshold_of_terminated_pods(
        gc_env: Env, server: RunningServer) -> None:
    names = ["gc-a", "gc-b", "gc-c", "gc-d"]
    for name in names:
        await gc_env.pod(name)
    await gc_env.pod("gc-running")
    await gc_env.set_phase("gc-running", "Running")
    for name in names:
        await gc_env.set_phase(name, "Succeeded" if name != "gc-b" else "Failed")
    options = ControllerOptions(terminated_pod_gc_threshold=2)
    async with running_controllers(server, "pod-garbage-collector-controller",
                                   options=options):
        async def collected() -> set[str] | None:
            left = await gc_env.pod_names()
            return left if left == {"gc-c", "gc-d", "gc-running"} else None
        await until(collected, what="oldest terminated pods deleted")
        await asyncio.sleep(1)
        assert await gc_env.pod_names() == {"gc-c", "gc-d", "gc-running"}


async def test_gc_deletes_pods_of_a_deleted_node(gc_env: Env, server: RunningServer) -> None:
    node = f"gone-{gc_env.ns[-6:]}"
    await gc_env.client.create(NODES, {"apiVersion": "v1", "kind": "Node",
                                       "metadata": {"name": node}})
    try:
        await gc_env.pod("orphan-1", node=node)
        await gc_env.pod("orphan-2", node=node)
        await gc_env.set_phase("orphan-2", "Running")
        # Held by a finalizer, so the Failed status the GC writes can be seen.
        await gc_env.pod("orphan-held", node=node, finalizers=[HOLD])
        await gc_env.pod("unbound")
        async with running_controllers(server, "pod-garbage-collector-controller"):
            await asyncio.sleep(1.5)
            # Nodes that exist keep their pods.
            assert await gc_env.pod_names() == {"orphan-1", "orphan-2", "orphan-held",
                                                "unbound"}
            deleted_at = asyncio.get_running_loop().time()
            await gc_env.client.delete(NODES, node)

            async def collected() -> set[str] | None:
                left = await gc_env.pod_names()
                return left if left == {"orphan-held", "unbound"} else None
            await until(collected, what="orphaned pods deleted")
            # Not before the quarantine.
            assert asyncio.get_running_loop().time() - deleted_at >= 1.0
            held = await gc_env.client.get(PODS, "orphan-held", gc_env.ns)
            assert held["metadata"].get("deletionTimestamp")
            assert held["status"]["phase"] == "Failed"
            disruption = [c for c in held["status"]["conditions"]
                          if c["type"] == "DisruptionTarget"]
            assert [(c["status"], c["reason"], c["message"]) for c in disruption] == [
                ("True", "DeletionByPodGC", "PodGC: node no longer exists")]
    finally:
        with contextlib.suppress(ApiError):
            await gc_env.client.delete(NODES, node)


async def test_gc_fails_unscheduled_terminating_pods(gc_env: Env,
                                                     server: RunningServer) -> None:
    await gc_env.pod("stuck", finalizers=[HOLD])
    await gc_env.client.delete(PODS, "stuck", gc_env.ns)
    async with running_controllers(server, "pod-garbage-collector-controller"):
        async def failed() -> bool:
            pod = await gc_env.client.get(PODS, "stuck", gc_env.ns)
            return bool(pod["status"].get("phase") == "Failed")
        await until(failed, what="unscheduled terminating pod marked Failed")
