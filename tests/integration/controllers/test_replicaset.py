"""The ReplicaSet and ReplicationController controllers against a real API server: pods
created from the template and owned, replaced, scaled down cheapest first, orphans adopted
and relabelled pods released, quota refusals reported, availability after minReadySeconds.

There is no node agent in these tests: :class:`FakeKubelet` marks pods Running and Ready
through ``pods/status`` with the admin client, as a kubelet would. The helpers here are
shared with ``test_deployment.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest

from kubesmith.api.types import Obj
from kubesmith.client import ApiError, Client, Informer
from kubesmith.client.rest import (
    EVENTS,
    NAMESPACES,
    PODS,
    REPLICASETS,
    REPLICATIONCONTROLLERS,
    Resource,
)
from kubesmith.controllers import manager
from tests.conftest import RunningServer, namespace_name
from tests.integration.controllers.conftest import running_controllers

pytestmark = pytest.mark.integration

T = TypeVar("T")

#: Pods with this label are never made ready by the fake kubelet.
NEVER_READY = "kubesmith-test/never-ready"

CONTROLLER_CLASSES = {
    "replicaset-controller": "kubesmith.controllers.replicaset:ReplicaSetController",
    "replicationcontroller-controller": "kubesmith.controllers.replicaset:ReplicationManager",
    "deployment-controller": "kubesmith.controllers.deployment:DeploymentController",
}
CLUSTER_ROLES = Resource("rbac.authorization.k8s.io", "v1", "clusterroles", namespaced=False)
CLUSTER_ROLE_BINDINGS = Resource("rbac.authorization.k8s.io", "v1", "clusterrolebindings",
                                 namespaced=False)


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def until(fn: Callable[[], Awaitable[T | None] | T | None], seconds: float = 20,
                what: str = "condition") -> T:
    """Poll ``fn`` (sync or async) until it returns something truthy."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    last: Any = None
    while loop.time() < deadline:
        result = fn()
        last = await result if asyncio.iscoroutine(result) else result
        if last:
            return last  # type: ignore[no-any-return]
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def labels(obj: Obj) -> dict[str, str]:
    found: dict[str, str] = obj["metadata"].get("labels") or {}
    return found


def condition(obj: Obj, type_: str) -> dict[str, Any] | None:
    return next((c for c in (obj.get("status") or {}).get("conditions") or ()
                 if c.get("type") == type_), None)


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
                labels(pod).get(NEVER_READY):
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
        return self.server.kubectl(*args, "-n", self.namespace, check=check, timeout=timeout)

    async def akubectl(self, *args: str, check: bool = True, seconds: float = 60) -> Any:
        """kubectl in a thread: the controllers under test share this event loop, so a
        waiting kubectl (rollout status, wait) must not block it."""
        return await asyncio.to_thread(self.kubectl, *args, check=check, timeout=seconds)

    def kubectl_json(self, *args: str) -> Any:
        return json.loads(self.kubectl(*args, "-o", "json").stdout)

    async def pods(self, selector: str | None = None) -> list[Obj]:
        found = await self.client.list(PODS, self.namespace, label_selector=selector)
        return [p for p in found.items if not p["metadata"].get("deletionTimestamp")]

    async def get(self, resource: Resource, name: str) -> Obj:
        return await self.client.get(resource, name, self.namespace)

    async def events(self, name: str, reason: str | None = None) -> list[Obj]:
        found = await self.client.list(EVENTS, self.namespace,
                                       field_selector=f"involvedObject.name={name}")
        return [e for e in found.items if reason is None or e["reason"] == reason]


@pytest.fixture(scope="module")
def server(server_factory: Any) -> RunningServer:
    """An API server running only the ServiceAccounts controller; the workload controllers
    under test run in the test itself."""
    s: RunningServer = server_factory("--controllers", "serviceaccount")
    return s


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """The controllers under test in the manager's registry."""
    for name, path in CONTROLLER_CLASSES.items():
        monkeypatch.setitem(manager.CONTROLLERS, name, path)


@contextlib.asynccontextmanager
async def workload_cluster(server: RunningServer, test_name: str, *controllers: str
                           ) -> AsyncIterator[Cluster]:
    """A namespace with a fake kubelet and ``controllers`` running; everything in it is
    deleted afterwards."""
    ns = namespace_name(test_name)
    client = Client.from_kubeconfig(str(server.kubeconfig))
    try:
        await client.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace",
                                         "metadata": {"name": ns}})
        # Pods need the namespace's default ServiceAccount (ServiceAccount admission).
        await until(lambda: _has_default_sa(client, ns), what="default ServiceAccount")
        async with FakeKubelet(client, ns) as kubelet, \
                running_controllers(server, *controllers):
            yield Cluster(server, client, ns, kubelet)
    finally:
        server.kubectl("delete", "deployments,replicasets,replicationcontrollers,pods,"
                       "resourcequotas", "--all", "-n", ns, "--grace-period=0", "--force",
                       "--wait=false", check=False)
        server.kubectl("delete", "namespace", ns, "--wait=false", check=False)
        await client.close()


async def _has_default_sa(client: Client, ns: str) -> bool:
    try:
        await client.get(Resource("", "v1", "serviceaccounts"), "default", ns)
    except ApiError:
        return False
    return True


@pytest.fixture
async def cluster(server: RunningServer, registry: None, request: pytest.FixtureRequest
                  ) -> AsyncIterator[Cluster]:
    async with workload_cluster(server, request.node.name, "replicaset-controller") as c:
        yield c


def replica_set(name: str, replicas: int, *, app: str | None = None,
                min_ready: int = 0) -> Obj:
    app = app or name
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": name},
            "spec": {"replicas": replicas, "minReadySeconds": min_ready,
                     "selector": {"matchLabels": {"app": app}},
                     "template": {"metadata": {"labels": {"app": app, "tier": "web"},
                                               "annotations": {"note": "from-template"}},
                                  "spec": {"containers": [{"name": "c",
                                                           "image": "nginx:1"}]}}}}


def owners(pod: Obj) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = pod["metadata"].get("ownerReferences") or []
    return found


async def rs_status(c: Cluster, name: str, **expected: int) -> Obj | None:
    rs = await c.get(REPLICASETS, name)
    status = rs.get("status") or {}
    if all(status.get(k, 0) == v for k, v in expected.items()):
        return rs
    return None


# ---- tests --------------------------------------------------------------------------------

async def test_creates_owned_pods_replaces_and_scales(cluster: Cluster) -> None:
    c = cluster
    created = await c.client.create(REPLICASETS, replica_set("web", 3), c.namespace)
    uid = created["metadata"]["uid"]
    rs = await until(lambda: rs_status(c, "web", replicas=3, readyReplicas=3,
                                       availableReplicas=3, fullyLabeledReplicas=3,
                                       observedGeneration=1), what="3 ready replicas")
    assert rs["status"]["terminatingReplicas"] == 0
    pods = await c.pods("app=web")
    assert len(pods) == 3
    for pod in pods:
        assert pod["metadata"]["generateName"] == "web-"
        assert pod["metadata"]["name"].startswith("web-")
        assert labels(pod) == {"app": "web", "tier": "web"}
        assert pod["metadata"]["annotations"]["note"] == "from-template"
        assert owners(pod) == [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web",
                                "uid": uid, "controller": True, "blockOwnerDeletion": True}]
    created_events = await until(lambda: _events_named(c, "web", "SuccessfulCreate", 3),
                                 what="SuccessfulCreate events")
    assert sorted(e["message"] for e in created_events) == \
        sorted(f"Created pod: {p['metadata']['name']}" for p in pods)
    assert {e["source"]["component"] for e in created_events} == {"replicaset-controller"}

    # A deleted pod is replaced.
    victim = pods[0]["metadata"]["name"]
    await c.client.delete(PODS, victim, c.namespace)
    replaced = await until(lambda: _names_if(c, "app=web", 3, exclude=victim),
                           what="a replacement pod")
    assert victim not in replaced

    # Scaling up through the scale subresource.
    c.kubectl("scale", "rs", "web", "--replicas=5")
    await until(lambda: rs_status(c, "web", replicas=5, readyReplicas=5, observedGeneration=2),
                what="5 replicas")
    assert len(await c.pods("app=web")) == 5


async def _events_named(c: Cluster, name: str, reason: str, count: int) -> list[Obj] | None:
    found = await c.events(name, reason)
    return found if len(found) >= count else None


async def _count_is(c: Cluster, selector: str, count: int) -> bool:
    return len(await c.pods(selector)) == count


async def _names_if(c: Cluster, selector: str, count: int, exclude: str = ""
                    ) -> set[str] | None:
    names = {p["metadata"]["name"] for p in await c.pods(selector)}
    return names if len(names) == count and exclude not in names else None


async def test_scale_down_deletes_the_cheapest_pods(cluster: Cluster) -> None:
    c = cluster
    await c.client.create(REPLICASETS, replica_set("web", 4), c.namespace)
    await until(lambda: rs_status(c, "web", replicas=4, readyReplicas=4), what="4 ready")
    pods = sorted(p["metadata"]["name"] for p in await c.pods("app=web"))
    scheduled, unready, costly, plain = pods
    # One pod on a node, one not ready, one expensive to delete, one plain.
    await c.client.request("POST", PODS.path(c.namespace, scheduled, "binding"),
                           body=json.dumps({"apiVersion": "v1", "kind": "Binding",
                                            "metadata": {"name": scheduled},
                                            "target": {"apiVersion": "v1", "kind": "Node",
                                                       "name": "n1"}})
                           .encode())
    await c.kubelet.mark_ready(unready, ready=False)
    c.kubectl("annotate", "pod", costly, "controller.kubernetes.io/pod-deletion-cost=100")
    await until(lambda: rs_status(c, "web", readyReplicas=3), what="one pod unready")

    async def scale_and_check(replicas: int, gone: str) -> None:
        c.kubectl("scale", "rs", "web", f"--replicas={replicas}")
        remaining = await until(lambda: _names_if(c, "app=web", replicas),
                                what=f"{replicas} pods")
        assert gone not in remaining, f"expected {gone} to be deleted first"
        events = await until(lambda: _events_named(c, "web", "SuccessfulDelete", 4 - replicas),
                             what="SuccessfulDelete event")
        assert f"Deleted pod: {gone}" in {e["message"] for e in events}

    await scale_and_check(3, unready)     # not ready goes before ready
    await scale_and_check(2, plain)       # unscheduled, cheaper than the costly one
    await scale_and_check(1, costly)      # unscheduled before scheduled
    assert {p["metadata"]["name"] for p in await c.pods("app=web")} == {scheduled}

    # The scheduled pod is deleted gracefully: while it terminates it is counted as
    # terminating and already replaced.
    await c.client.delete(PODS, scheduled, c.namespace)
    rs = await until(lambda: rs_status(c, "web", replicas=1, terminatingReplicas=1),
                     what="a terminating replica")
    assert rs["status"]["replicas"] == 1
    assert scheduled not in {p["metadata"]["name"] for p in await c.pods("app=web")}


async def test_adopts_orphans_and_releases_relabelled_pods(cluster: Cluster) -> None:
    c = cluster
    orphan = await c.client.create(PODS, {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "orphan", "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "c", "image": "nginx:1"}]}}, c.namespace)
    assert not owners(orphan)
    created = await c.client.create(REPLICASETS, replica_set("web", 2), c.namespace)
    await until(lambda: rs_status(c, "web", replicas=2, readyReplicas=2), what="2 replicas")
    adopted = await c.get(PODS, "orphan")
    assert [(o["kind"], o["name"], o["uid"], o["controller"]) for o in owners(adopted)] == \
        [("ReplicaSet", "web", created["metadata"]["uid"], True)]
    # Only one pod was created besides the adopted one.
    assert len(await c.pods("app=web")) == 2
    assert len(await c.events("web", "SuccessfulCreate")) == 1

    # Relabelled out of the selector: released, and replaced.
    c.kubectl("label", "pod", "orphan", "app=elsewhere", "--overwrite")
    await until(lambda: _released(c, "orphan"), what="the pod released")
    await until(lambda: _names_if(c, "app=web", 2, exclude="orphan"), what="a replacement")
    rs = await until(lambda: rs_status(c, "web", replicas=2, fullyLabeledReplicas=2),
                     what="status after the release")
    assert rs["status"]["replicas"] == 2


async def _released(c: Cluster, name: str) -> bool:
    return not owners(await c.get(PODS, name))


async def test_quota_refusal_is_reported_and_recovers(cluster: Cluster) -> None:
    c = cluster
    c.kubectl("create", "quota", "pods", "--hard=pods=1")
    await c.client.create(REPLICASETS, replica_set("web", 3), c.namespace)
    rs = await until(lambda: _failure(c, "web"), what="ReplicaFailure condition")
    failure = condition(rs, "ReplicaFailure")
    assert failure is not None
    assert failure["status"] == "True" and failure["reason"] == "FailedCreate"
    assert "exceeded quota: pods" in failure["message"]
    assert failure["message"].startswith('pods "web-') and " is forbidden: " in failure["message"]
    assert rs["status"]["replicas"] == 1
    events = await until(lambda: _events_named(c, "web", "FailedCreate", 1),
                         what="FailedCreate event")
    assert events[0]["type"] == "Warning"
    assert events[0]["message"].startswith("Error creating: pods \"web-")
    assert "exceeded quota" in events[0]["message"]
    described = c.kubectl("describe", "rs", "web").stdout
    assert "ReplicaFailure" in described and "FailedCreate" in described

    # With room again the pods are created (after backoff) and the condition goes.
    c.kubectl("patch", "quota", "pods", "--type=merge", "-p", '{"spec":{"hard":{"pods":"5"}}}')
    rs = await until(lambda: rs_status(c, "web", replicas=3), seconds=30, what="3 replicas")
    assert condition(rs, "ReplicaFailure") is None


async def _failure(c: Cluster, name: str) -> Obj | None:
    rs = await c.get(REPLICASETS, name)
    return rs if condition(rs, "ReplicaFailure") else None


async def test_available_only_after_min_ready_seconds(cluster: Cluster) -> None:
    c = cluster
    await c.client.create(REPLICASETS, replica_set("web", 2, min_ready=2), c.namespace)
    rs = await until(lambda: rs_status(c, "web", readyReplicas=2), what="2 ready")
    assert rs["status"].get("availableReplicas", 0) == 0
    await until(lambda: rs_status(c, "web", availableReplicas=2), seconds=10,
                what="2 available after minReadySeconds")


async def _ensure_replication_controller_role(client: Client) -> None:
    """The bootstrap policy's role for the replication controller (created here until the
    server's bootstrap has it; an existing one is kept)."""
    name = "system:controller:replication-controller"
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": name}, "rules": [
                {"apiGroups": [""], "resources": ["replicationcontrollers"],
                 "verbs": ["get", "list", "watch", "update"]},
                {"apiGroups": [""], "resources": ["replicationcontrollers/status",
                                                  "replicationcontrollers/finalizers"],
                 "verbs": ["update"]},
                {"apiGroups": [""], "resources": ["pods"],
                 "verbs": ["list", "watch", "patch", "create", "delete"]},
                {"apiGroups": ["", "events.k8s.io"], "resources": ["events"],
                 "verbs": ["create", "update", "patch"]}]}
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
               "metadata": {"name": name},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                           "name": name},
               "subjects": [{"kind": "ServiceAccount", "name": "replication-controller",
                             "namespace": "kube-system"}]}
    for resource, body in ((CLUSTER_ROLES, role), (CLUSTER_ROLE_BINDINGS, binding)):
        try:
            await client.create(resource, body)
        except ApiError as exc:
            if exc.code != 409:
                raise


async def test_replication_controller(server: RunningServer, registry: None,
                                      request: pytest.FixtureRequest) -> None:
    async with workload_cluster(server, request.node.name,
                                "replicationcontroller-controller") as c:
        await _ensure_replication_controller_role(c.client)
        rc = await c.client.create(REPLICATIONCONTROLLERS, {
            "apiVersion": "v1", "kind": "ReplicationController",
            "metadata": {"name": "legacy"},
            "spec": {"replicas": 2, "selector": {"app": "legacy"},
                     "template": {"metadata": {"labels": {"app": "legacy"}},
                                  "spec": {"containers": [{"name": "c",
                                                           "image": "nginx:1"}]}}}},
            c.namespace)

        async def ready() -> Obj | None:
            found = await c.get(REPLICATIONCONTROLLERS, "legacy")
            status = found.get("status") or {}
            return found if status.get("readyReplicas") == 2 and \
                status.get("availableReplicas") == 2 else None

        found = await until(ready, what="2 ready RC replicas")
        assert "terminatingReplicas" not in found["status"]
        pods = await c.pods("app=legacy")
        assert {(o["kind"], o["apiVersion"], o["uid"]) for p in pods for o in owners(p)} == \
            {("ReplicationController", "v1", rc["metadata"]["uid"])}
        events = await until(lambda: _events_named(c, "legacy", "SuccessfulCreate", 2),
                             what="RC events")
        assert {e["source"]["component"] for e in events} == {"replication-controller"}
        c.kubectl("scale", "rc", "legacy", "--replicas=0")
        await until(lambda: _count_is(c, "app=legacy", 0), what="no pods")
