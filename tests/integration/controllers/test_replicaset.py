"""The ReplicaSet and ReplicationController controllers against a real API server: pods
created from the template and owned, replaced, scaled down cheapest first, orphans adopted
and relabelled pods released, quota refusals reported, availability after minReadySeconds.

There is no node agent in these tests: the fake kubelet of :mod:`replicaset_env` marks pods
Running and Ready through ``pods/status`` with the admin client, as a kubelet would.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kubesmith.api.types import Obj
from kubesmith.client import ApiError, Client, Resource
from kubesmith.client.rest import PODS, REPLICASETS, REPLICATIONCONTROLLERS
from kubesmith.controllers.util import get_condition, labels_of
from tests.conftest import RunningServer
from tests.integration.controllers.helpers import until
from tests.integration.controllers.replicaset_env import Cluster, workload_cluster

pytestmark = pytest.mark.integration

CLUSTER_ROLES = Resource("rbac.authorization.k8s.io", "v1", "clusterroles", namespaced=False)
CLUSTER_ROLE_BINDINGS = Resource("rbac.authorization.k8s.io", "v1", "clusterrolebindings",
                                 namespaced=False)


@pytest.fixture
async def cluster(server: RunningServer, request: pytest.FixtureRequest,
                  monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Cluster]:
    async with workload_cluster(server, request, monkeypatch, "replicaset-controller") as c:
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
        assert labels_of(pod) == {"app": "web", "tier": "web"}
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
    failure = get_condition(rs, "ReplicaFailure")
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
    assert get_condition(rs, "ReplicaFailure") is None


async def _failure(c: Cluster, name: str) -> Obj | None:
    rs = await c.get(REPLICASETS, name)
    return rs if get_condition(rs, "ReplicaFailure") else None


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


async def test_replication_controller(server: RunningServer, request: pytest.FixtureRequest,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    async with workload_cluster(server, request, monkeypatch,
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
