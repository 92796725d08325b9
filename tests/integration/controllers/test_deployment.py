"""The Deployment controller (with the ReplicaSet controller) against a real API server,
judged by real kubectl: ``rollout status``, ``wait --for=condition=Available``, ``set image``,
``rollout history``/``undo``/``pause``/``resume``, ``scale`` and ``describe``. Rolling updates
are watched pod by pod to check maxSurge and maxUnavailable; Recreate never runs old and new
pods together; the progress deadline is reported when pods never become ready.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from kubesmith.api.types import Obj
from kubesmith.client import Informer
from kubesmith.client.rest import DEPLOYMENTS, PODS, REPLICASETS
from kubesmith.controllers.util import get_condition, labels_of
from tests.conftest import RunningServer
from tests.integration.controllers.helpers import until
from tests.integration.controllers.replicaset_env import NEVER_READY, Cluster, workload_cluster

pytestmark = pytest.mark.integration

HASH = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"


@pytest.fixture
async def cluster(server: RunningServer, request: pytest.FixtureRequest,
                  monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Cluster]:
    async with workload_cluster(server, request, monkeypatch, "replicaset-controller",
                                "deployment-controller") as c:
        yield c


def deployment(name: str, replicas: int, image: str = "nginx:1", *,
               strategy: dict[str, Any] | None = None, extra_labels: dict[str, str]
               | None = None, **spec: Any) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name,
                                                          **(extra_labels or {})}},
                                  "spec": {"containers": [{"name": "c", "image": image}]}},
                     **({"strategy": strategy} if strategy else {}), **spec}}


async def rolled_out(c: Cluster, name: str) -> str:
    proc = await c.akubectl("rollout", "status", f"deployment/{name}", "--timeout=60s",
                            seconds=90)
    out: str = proc.stdout
    assert f'deployment "{name}" successfully rolled out' in out
    return out


async def replica_sets(c: Cluster, app: str) -> list[Obj]:
    found = await c.client.list(REPLICASETS, c.namespace, label_selector=f"app={app}")
    return sorted(found.items, key=lambda rs: rs["metadata"]["creationTimestamp"])


def annotations(obj: Obj) -> dict[str, str]:
    found: dict[str, str] = obj["metadata"].get("annotations") or {}
    return found


def image_of(obj: Obj) -> str:
    image: str = obj["spec"]["template"]["spec"]["containers"][0]["image"]
    return image


async def events(c: Cluster, name: str, reason: str, count: int = 1) -> list[str] | None:
    found = [e["message"] for e in await c.events(name, reason)]
    return found if len(found) >= count else None


@dataclass
class RolloutWatch:
    """Every pod and ReplicaSet change of a namespace, summarized after each event in
    order: how many pods existed, how many were ready, which templates they ran, and how
    many replicas the ReplicaSets wanted."""

    cluster: Cluster
    app: str
    pods: list[tuple[int, int, dict[str, int]]] = field(default_factory=list)
    wanted: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        c = self.cluster
        self.pod_informer = Informer(c.client, PODS, c.namespace,
                                     label_selector=f"app={self.app}")
        self.rs_informer = Informer(c.client, REPLICASETS, c.namespace,
                                    label_selector=f"app={self.app}")
        for informer, record in ((self.pod_informer, self._pods),
                                 (self.rs_informer, self._replica_sets)):
            informer.add_handlers(on_add=lambda _o, r=record: r(),
                                  on_update=lambda _o, _n, r=record: r(),
                                  on_delete=lambda _o, r=record: r())

    def _pods(self) -> None:
        live = [p for p in self.pod_informer.list() if not p["metadata"].get(
            "deletionTimestamp")]
        ready = sum(1 for p in live if get_condition(p, "Ready") and
                    get_condition(p, "Ready")["status"] == "True")  # type: ignore[index]
        by_hash: dict[str, int] = {}
        for pod in live:
            by_hash[labels_of(pod)[HASH]] = by_hash.get(labels_of(pod)[HASH], 0) + 1
        self.pods.append((len(live), ready, by_hash))

    def _replica_sets(self) -> None:
        self.wanted.append(sum(rs["spec"]["replicas"] for rs in self.rs_informer.list()))

    async def __aenter__(self) -> RolloutWatch:
        for informer in (self.pod_informer, self.rs_informer):
            informer.start()
            await asyncio.wait_for(informer.wait_synced(), 10)
        self.pods.clear()
        self.wanted.clear()
        return self

    async def __aexit__(self, *exc: object) -> None:
        for informer in (self.pod_informer, self.rs_informer):
            await informer.stop()


# ---- tests --------------------------------------------------------------------------------

async def test_create_rollout_status_wait_and_describe(cluster: Cluster) -> None:
    c = cluster
    await c.akubectl("create", "deployment", "web", "--image=nginx:1", "--replicas=3")
    await rolled_out(c, "web")
    await c.akubectl("wait", "--for=condition=Available", "deployment/web", "--timeout=30s")

    [rs] = await replica_sets(c, "web")
    hash_ = labels_of(rs)[HASH]
    assert rs["metadata"]["name"] == f"web-{hash_}"
    assert rs["spec"]["selector"]["matchLabels"] == {"app": "web", HASH: hash_}
    assert rs["spec"]["template"]["metadata"]["labels"] == {"app": "web", HASH: hash_}
    assert [(o["kind"], o["name"], o["controller"]) for o in rs["metadata"]["ownerReferences"]
            ] == [("Deployment", "web", True)]
    assert {k: v for k, v in annotations(rs).items() if k.startswith("deployment.")} == {
        REVISION: "1", "deployment.kubernetes.io/desired-replicas": "3",
        "deployment.kubernetes.io/max-replicas": "4"}
    assert all(labels_of(p)[HASH] == hash_ for p in await c.pods("app=web"))

    d = await c.get(DEPLOYMENTS, "web")
    assert annotations(d)[REVISION] == "1"
    status = d["status"]
    assert status["observedGeneration"] == d["metadata"]["generation"]
    assert (status["replicas"], status["updatedReplicas"], status["readyReplicas"],
            status["availableReplicas"]) == (3, 3, 3, 3)
    assert "unavailableReplicas" not in status
    available = get_condition(d, "Available")
    assert available is not None
    assert (available["status"], available["reason"], available["message"]) == \
        ("True", "MinimumReplicasAvailable", "Deployment has minimum availability.")
    progressing = get_condition(d, "Progressing")
    assert progressing is not None
    assert (progressing["status"], progressing["reason"], progressing["message"]) == \
        ("True", "NewReplicaSetAvailable",
         f'ReplicaSet "{rs["metadata"]["name"]}" has successfully progressed.')

    scaled = await until(lambda: events(c, "web", "ScalingReplicaSet"), what="scaling event")
    assert scaled == [f"Scaled up replica set web-{hash_} from 0 to 3"]
    described = (await c.akubectl("describe", "deployment", "web")).stdout
    assert "ScalingReplicaSet" in described
    assert f"Scaled up replica set web-{hash_} from 0 to 3" in described
    assert f"NewReplicaSet:   web-{hash_} (3/3 replicas created)" in described

    # Scaling through the scale subresource.
    await c.akubectl("scale", "deployment", "web", "--replicas=5")
    await rolled_out(c, "web")
    assert len(await c.pods("app=web")) == 5
    assert await until(lambda: events(c, "web", "ScalingReplicaSet", 2), what="scale event")
    assert f"Scaled up replica set web-{hash_} from 3 to 5" in \
        (await events(c, "web", "ScalingReplicaSet", 2) or [])


@pytest.mark.parametrize(("max_surge", "max_unavailable", "most_pods", "fewest_ready"), [
    (1, 0, 5, 4),
    (0, "50%", 4, 2),
], ids=["surge-one", "half-unavailable"])
async def test_rolling_update_respects_surge_and_unavailability(
        cluster: Cluster, max_surge: int | str, max_unavailable: int | str, most_pods: int,
        fewest_ready: int) -> None:
    c = cluster
    strategy = {"type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": max_surge, "maxUnavailable": max_unavailable}}
    await c.client.create(DEPLOYMENTS, deployment("web", 4, strategy=strategy), c.namespace)
    await rolled_out(c, "web")
    [old] = await replica_sets(c, "web")

    async with RolloutWatch(c, "web") as watch:
        await c.akubectl("set", "image", "deployment/web", "c=nginx:2")
        await rolled_out(c, "web")
        await until(lambda: _only_new_pods(c, labels_of(old)[HASH]), what="old pods gone")

    assert watch.pods and watch.wanted
    assert max(total for total, _, _ in watch.pods) <= most_pods
    assert min(ready for _, ready, _ in watch.pods) >= fewest_ready
    assert max(watch.wanted) <= most_pods
    # Pods of both templates ran side by side: it was a rolling update.
    assert any(len(by_hash) == 2 for _, _, by_hash in watch.pods)

    rss = {rs["metadata"]["name"]: rs for rs in await replica_sets(c, "web")}
    assert rss[old["metadata"]["name"]]["spec"]["replicas"] == 0
    [new] = [rs for name, rs in rss.items() if name != old["metadata"]["name"]]
    assert new["spec"]["replicas"] == 4 and annotations(new)[REVISION] == "2"
    scaled = await events(c, "web", "ScalingReplicaSet", 3) or []
    assert any(m.startswith(f"Scaled down replica set {old['metadata']['name']} from 4 to ")
               for m in scaled)
    assert any(m.startswith(f"Scaled up replica set {new['metadata']['name']} from ")
               for m in scaled)


async def _only_new_pods(c: Cluster, old_hash: str) -> bool:
    pods = await c.pods("app=web")
    return len(pods) == 4 and all(labels_of(p)[HASH] != old_hash for p in pods)


async def _set_image_with_cause(c: Cluster, image: str, cause: str) -> None:
    # One write, so the new ReplicaSet is created with its own change-cause.
    patch = {"metadata": {"annotations": {"kubernetes.io/change-cause": cause}},
             "spec": {"template": {"spec": {"containers": [{"name": "c", "image": image}]}}}}
    await c.akubectl("patch", "deployment", "web", "-p", json.dumps(patch))
    await rolled_out(c, "web")


def _history(text: str) -> list[tuple[str, str]]:
    rows = [line.split(None, 1) for line in text.splitlines()[1:] if line.strip()]
    return [(row[0], row[1].strip() if len(row) > 1 else "") for row in rows
            if row[0].isdigit()]


async def test_history_change_cause_and_undo(cluster: Cluster) -> None:
    c = cluster
    body = deployment("web", 2)
    body["metadata"]["annotations"] = {"kubernetes.io/change-cause": "first"}
    await c.client.create(DEPLOYMENTS, body, c.namespace)
    await rolled_out(c, "web")
    await _set_image_with_cause(c, "nginx:2", "second")
    await _set_image_with_cause(c, "nginx:3", "third")

    history = (await c.akubectl("rollout", "history", "deployment/web")).stdout
    assert _history(history) == [("1", "first"), ("2", "second"), ("3", "third")]
    detail = (await c.akubectl("rollout", "history", "deployment/web", "--revision=2")).stdout
    assert "nginx:2" in detail

    # Back to the previous revision: its ReplicaSet comes back as revision 4.
    undo = (await c.akubectl("rollout", "undo", "deployment/web")).stdout
    assert "rolled back" in undo
    await rolled_out(c, "web")
    d = await c.get(DEPLOYMENTS, "web")
    assert image_of(d) == "nginx:2"
    assert annotations(d)[REVISION] == "4"
    by_image = {image_of(rs): rs for rs in await replica_sets(c, "web")}
    assert len(by_image) == 3
    assert annotations(by_image["nginx:2"])[REVISION] == "4"
    assert annotations(by_image["nginx:2"])["deployment.kubernetes.io/revision-history"] == "2"
    assert by_image["nginx:2"]["spec"]["replicas"] == 2
    assert by_image["nginx:3"]["spec"]["replicas"] == 0
    assert [r for r, _ in _history((await c.akubectl("rollout", "history",
                                                      "deployment/web")).stdout)] == \
        ["1", "3", "4"]

    await c.akubectl("rollout", "undo", "deployment/web", "--to-revision=1")
    await rolled_out(c, "web")
    d = await c.get(DEPLOYMENTS, "web")
    assert image_of(d) == "nginx:1" and annotations(d)[REVISION] == "5"
    assert {p["spec"]["containers"][0]["image"] for p in await c.pods("app=web")} == \
        {"nginx:1"}
    skipped = (await c.akubectl("rollout", "undo", "deployment/web", "--to-revision=5")).stdout
    assert "skipped rollback" in skipped


async def _paused_noted(c: Cluster) -> Obj | None:
    d = await c.get(DEPLOYMENTS, "web")
    cond = get_condition(d, "Progressing")
    if d["status"].get("observedGeneration") == d["metadata"]["generation"] and cond and \
            cond["reason"] == "DeploymentPaused":
        return d
    return None


async def test_pause_scale_and_resume(cluster: Cluster) -> None:
    c = cluster
    await c.client.create(DEPLOYMENTS, deployment("web", 2), c.namespace)
    await rolled_out(c, "web")
    await c.akubectl("rollout", "pause", "deployment/web")
    await c.akubectl("set", "image", "deployment/web", "c=nginx:2")
    d = await until(lambda: _paused_noted(c), what="the pause noted")
    cond = get_condition(d, "Progressing")
    assert cond is not None
    assert (cond["status"], cond["message"]) == ("Unknown", "Deployment is paused")
    # Paused: the new template is not rolled out...
    assert [image_of(rs) for rs in await replica_sets(c, "web")] == ["nginx:1"]
    # ...but scaling works.
    await c.akubectl("scale", "deployment", "web", "--replicas=3")
    await until(lambda: _ready_pods(c, 3), what="3 ready pods while paused")
    assert [image_of(rs) for rs in await replica_sets(c, "web")] == ["nginx:1"]

    await c.akubectl("rollout", "resume", "deployment/web")
    await rolled_out(c, "web")
    rss = await replica_sets(c, "web")
    assert [(image_of(rs), rs["spec"]["replicas"]) for rs in rss] == \
        [("nginx:1", 0), ("nginx:2", 3)]
    d = await c.get(DEPLOYMENTS, "web")
    cond = get_condition(d, "Progressing")
    assert cond is not None and cond["reason"] == "NewReplicaSetAvailable"


async def _ready_pods(c: Cluster, count: int) -> bool:
    pods = await c.pods("app=web")
    return len(pods) == count and all(
        (get_condition(p, "Ready") or {}).get("status") == "True" for p in pods)


async def test_recreate_never_mixes_old_and_new_pods(cluster: Cluster) -> None:
    c = cluster
    await c.client.create(DEPLOYMENTS, deployment("web", 3, strategy={"type": "Recreate"}),
                          c.namespace)
    await rolled_out(c, "web")
    [old] = await replica_sets(c, "web")
    async with RolloutWatch(c, "web") as watch:
        await c.akubectl("set", "image", "deployment/web", "c=nginx:2")
        await rolled_out(c, "web")
    assert watch.pods
    assert all(len(by_hash) <= 1 for _, _, by_hash in watch.pods), \
        "old and new pods ran together"
    assert any(labels_of(old)[HASH] not in by_hash and by_hash for _, _, by_hash in watch.pods)
    new = next(rs for rs in await replica_sets(c, "web")
               if rs["metadata"]["name"] != old["metadata"]["name"])
    scaled = await until(lambda: events(c, "web", "ScalingReplicaSet", 3), what="events")
    assert f"Scaled down replica set {old['metadata']['name']} from 3 to 0" in scaled
    assert f"Scaled up replica set {new['metadata']['name']} from 0 to 3" in scaled


async def test_revision_history_limit_cleans_old_replica_sets(cluster: Cluster) -> None:
    c = cluster
    await c.client.create(DEPLOYMENTS, deployment("web", 1, revisionHistoryLimit=1),
                          c.namespace)
    await rolled_out(c, "web")
    for image in ("nginx:2", "nginx:3", "nginx:4"):
        await c.akubectl("set", "image", "deployment/web", f"c={image}")
        await rolled_out(c, "web")

    async def kept() -> list[str] | None:
        images = [image_of(rs) for rs in await replica_sets(c, "web")]
        return images if len(images) == 2 else None

    assert sorted(await until(kept, what="one old ReplicaSet kept")) == ["nginx:3", "nginx:4"]


async def test_progress_deadline_exceeded(cluster: Cluster) -> None:
    c = cluster
    await c.client.create(DEPLOYMENTS, deployment(
        "slow", 2, extra_labels={NEVER_READY: "true"}, progressDeadlineSeconds=2),
        c.namespace)
    proc = await c.akubectl("rollout", "status", "deployment/slow", "--timeout=60s",
                            check=False, seconds=90)
    assert proc.returncode != 0
    assert 'deployment "slow" exceeded its progress deadline' in proc.stderr
    d = await c.get(DEPLOYMENTS, "slow")
    [rs] = await replica_sets(c, "slow")
    cond = get_condition(d, "Progressing")
    assert cond is not None
    assert (cond["status"], cond["reason"], cond["message"]) == \
        ("False", "ProgressDeadlineExceeded",
         f'ReplicaSet "{rs["metadata"]["name"]}" has timed out progressing.')
    available = get_condition(d, "Available")
    assert available is not None
    assert (available["status"], available["reason"]) == ("False", "MinimumReplicasUnavailable")
    assert d["status"]["unavailableReplicas"] == 2


async def _sizes(c: Cluster, expected: dict[str, int]) -> bool:
    return {image_of(rs): rs["spec"]["replicas"] for rs in await replica_sets(c, "web")} == \
        expected


async def test_scaling_during_a_rollout_is_proportional(cluster: Cluster) -> None:
    c = cluster
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 3, "maxUnavailable": 2}}
    await c.client.create(DEPLOYMENTS, deployment("web", 10, strategy=strategy), c.namespace)
    await rolled_out(c, "web")
    # New pods never get ready: the rollout stops at old 8 + new 5 (13 = 10 + surge).
    c.kubelet.paused = True
    await c.akubectl("set", "image", "deployment/web", "c=nginx:2")
    await until(lambda: _sizes(c, {"nginx:1": 8, "nginx:2": 5}), what="a stuck rollout")
    # 20 replicas: the 23 allowed are shared in proportion (8:5 of 13).
    await c.akubectl("scale", "deployment", "web", "--replicas=20")
    await until(lambda: _sizes(c, {"nginx:1": 14, "nginx:2": 9}), what="proportional sizes")
    for rs in await replica_sets(c, "web"):
        assert annotations(rs)["deployment.kubernetes.io/desired-replicas"] == "20"
        assert annotations(rs)["deployment.kubernetes.io/max-replicas"] == "23"
    c.kubelet.resume()
    await rolled_out(c, "web")
    assert await _sizes(c, {"nginx:1": 0, "nginx:2": 20})
