"""The StatefulSet controller against a real API server, with a fake scheduler and kubelet
(tests/integration/controllers/fake_kubelet.py): ordered start and scale-down observed as
they happen, Parallel, claims from templates and their retention policy, rolling updates
with a partition (reverse ordinal order), OnDelete, failed pods, start ordinals and
``kubectl rollout status/history``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kubesmith.client import Informer
from kubesmith.client.rest import (
    CONTROLLERREVISIONS,
    PERSISTENTVOLUMECLAIMS,
    PODS,
    STATEFULSETS,
)
from kubesmith.controllers.util import is_pod_ready
from tests.conftest import RunningServer
from tests.integration.controllers.helpers import until
from tests.integration.controllers.workload_env import Env, workload_env

pytestmark = pytest.mark.integration


@pytest.fixture
async def env(server: RunningServer, request: pytest.FixtureRequest,
              monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Env]:
    # The fake scheduler binds every pod to the test's node (created below).
    async with workload_env(server, request, monkeypatch, "statefulset-controller",
                            "kubesmith.controllers.statefulset:StatefulSetController",
                            auto_ready=False) as e:
        e.nodes.default_node = await e.add_node("n")
        yield e


def statefulset(name: str = "web", replicas: int = 3, image: str = "nginx:1",
                claims: bool = True, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name},
        "spec": {"serviceName": name, "replicas": replicas,
                 "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              # Graceful deletion (the default 30 s): the fake kubelet
                              # finishes it, as a real one would once containers stop.
                              "spec": {"containers": [{"name": "c", "image": image}]}},
                 **spec}}
    if claims:
        body["spec"]["volumeClaimTemplates"] = [{
            "metadata": {"name": "data"},
            "spec": {"accessModes": ["ReadWriteOnce"],
                     "resources": {"requests": {"storage": "1Gi"}}}}]
    return body


async def live_pods(env: Env, app: str = "web") -> dict[str, dict[str, Any]]:
    return {p["metadata"]["name"]: p
            async for p in env.client.list_all(PODS, env.ns, label_selector=f"app={app}")
            if not p["metadata"].get("deletionTimestamp")}


async def wait_pods(env: Env, names: set[str], *, ready: bool = True,
                    app: str = "web") -> dict[str, dict[str, Any]]:
    async def check() -> dict[str, dict[str, Any]] | None:
        pods = await live_pods(env, app)
        if set(pods) != names or (ready and not all(map(is_pod_ready, pods.values()))):
            return None
        return pods
    return await until(check, what=f"pods {sorted(names)}")


async def wait_status(env: Env, name: str = "web", **want: Any) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        sts = await env.client.get(STATEFULSETS, name, env.ns)
        status = sts.get("status") or {}
        if status.get("observedGeneration") != sts["metadata"]["generation"]:
            return None
        return sts if all(status.get(k) == v for k, v in want.items()) else None
    return await until(check, what=f"{name} status {want}")


class PodLog:
    """Every pod ADDED/terminating/DELETED in the namespace, in the order seen, with the
    ready pods at that moment."""

    def __init__(self, env: Env) -> None:
        self.entries: list[tuple[str, str, frozenset[str]]] = []
        self.ready: set[str] = set()
        self.informer = Informer(env.client, PODS, env.ns)
        self.informer.add_handlers(on_add=lambda p: self._log("added", p),
                                   on_update=self._updated,
                                   on_delete=lambda p: self._log("deleted", p))
        self._task: asyncio.Task[None] | None = None

    def _log(self, what: str, pod: dict[str, Any]) -> None:
        name = pod["metadata"]["name"]
        if what == "deleted":
            self.ready.discard(name)
        elif is_pod_ready(pod):
            self.ready.add(name)
        self.entries.append((what, name, frozenset(self.ready)))

    def _updated(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        name = new["metadata"]["name"]
        if is_pod_ready(new):
            self.ready.add(name)
        else:
            self.ready.discard(name)
        if new["metadata"].get("deletionTimestamp") and \
                not old["metadata"].get("deletionTimestamp"):
            self._log("terminating", new)

    def first(self, what: str, name: str) -> int:
        return next(i for i, e in enumerate(self.entries) if e[:2] == (what, name))

    async def __aenter__(self) -> PodLog:
        self._task = asyncio.create_task(self.informer.run())
        await asyncio.wait_for(self.informer.wait_synced(), 10)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.informer.stop()


async def test_ordered_start_identity_claims_and_ordered_scale_down(env: Env) -> None:
    async with PodLog(env) as log:
        await env.client.create(STATEFULSETS, statefulset(), env.ns)
        await wait_pods(env, {"web-0"}, ready=False)
        # web-1 must not appear while web-0 is not Ready: watch for a while.
        for _ in range(10):
            await asyncio.sleep(0.05)
            assert set(await live_pods(env)) == {"web-0"}
        claim = await env.client.get(PERSISTENTVOLUMECLAIMS, "data-web-0", env.ns)
        pod = (await live_pods(env))["web-0"]
        assert int(claim["metadata"]["resourceVersion"]) < \
            int(pod["metadata"]["resourceVersion"])
        assert claim["metadata"]["labels"] == {"app": "web"}
        assert not claim["metadata"].get("ownerReferences")  # Retain/Retain

        sts = await env.client.get(STATEFULSETS, "web", env.ns)
        labels = pod["metadata"]["labels"]
        assert labels["statefulset.kubernetes.io/pod-name"] == "web-0"
        assert labels["apps.kubernetes.io/pod-index"] == "0"
        assert labels["controller-revision-hash"] == sts["status"]["updateRevision"]
        assert pod["spec"]["hostname"] == "web-0" and pod["spec"]["subdomain"] == "web"
        assert {"name": "data", "persistentVolumeClaim": {"claimName": "data-web-0"}} in \
            pod["spec"]["volumes"]
        assert pod["metadata"]["ownerReferences"][0]["kind"] == "StatefulSet"

        for n in range(3):
            await wait_pods(env, {f"web-{i}" for i in range(n + 1)}, ready=False)
            await env.nodes.set_ready(f"web-{n}")
        await wait_pods(env, {"web-0", "web-1", "web-2"})
        await wait_status(env, replicas=3, readyReplicas=3, availableReplicas=3,
                          currentReplicas=3, updatedReplicas=3)
        await env.kubectl("rollout", "status", "sts/web", "--timeout=20s")
        # Each pod was created only once its predecessor was Ready.
        for n in (1, 2):
            assert f"web-{n - 1}" in log.entries[log.first("added", f"web-{n}")][2]

        created = ("SuccessfulCreate", "create Pod web-0 in StatefulSet web successful")
        claimed = ("SuccessfulCreate",
                   "create Claim data-web-0 Pod web-0 in StatefulSet web success")
        events = {(e["reason"], e["message"]) for e in await env.events_for(
            "StatefulSet", "web", created, claimed)}
        assert created in events
        assert ("SuccessfulCreate",
                "create Claim data-web-0 Pod web-0 in StatefulSet web success") in events

        env.nodes.auto_ready = True
        await env.client.patch(STATEFULSETS, "web", {"spec": {"replicas": 1}}, env.ns)
        await wait_pods(env, {"web-0"})
        await wait_status(env, replicas=1, readyReplicas=1)
        # Highest ordinal first, and web-1 only once web-2 was gone.
        assert log.first("terminating", "web-2") < log.first("deleted", "web-2") < \
            log.first("terminating", "web-1")
        deleted = ("SuccessfulDelete", "delete Pod web-2 in StatefulSet web successful")
        events = {(e["reason"], e["message"]) for e in await env.events_for(
            "StatefulSet", "web", deleted)}
        assert deleted in events
    # Retained claims stay for when the set grows again.
    claims = {c["metadata"]["name"]
              async for c in env.client.list_all(PERSISTENTVOLUMECLAIMS, env.ns)}
    assert claims == {"data-web-0", "data-web-1", "data-web-2"}


async def test_parallel_creates_all_at_once(env: Env) -> None:
    await env.client.create(STATEFULSETS, statefulset(
        podManagementPolicy="Parallel", claims=False), env.ns)
    # None of them is Ready, yet all exist.
    await wait_pods(env, {"web-0", "web-1", "web-2"}, ready=False)
    await wait_status(env, replicas=3, readyReplicas=0)
    await env.client.patch(STATEFULSETS, "web", {"spec": {"replicas": 1}}, env.ns)
    await wait_pods(env, {"web-0"}, ready=False)


async def test_rolling_update_with_partition_in_reverse_order(env: Env) -> None:
    env.nodes.auto_ready = True
    await env.client.create(STATEFULSETS, statefulset(claims=False), env.ns)
    await wait_pods(env, {"web-0", "web-1", "web-2"})
    first = await wait_status(env, readyReplicas=3, currentReplicas=3)
    old_revision = first["status"]["currentRevision"]

    async with PodLog(env) as log:
        await env.client.patch(STATEFULSETS, "web", {"spec": {
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 1}},
            "template": {"spec": {"containers": [{"name": "c", "image": "nginx:2"}]}}}},
            env.ns)

        async def partitioned() -> dict[str, dict[str, Any]] | None:
            pods = await live_pods(env)
            images = {n: p["spec"]["containers"][0]["image"] for n, p in pods.items()}
            ok = images == {"web-0": "nginx:1", "web-1": "nginx:2", "web-2": "nginx:2"}
            return pods if ok and all(map(is_pod_ready, pods.values())) else None
        await until(partitioned, what="web-1 and web-2 updated, web-0 not")
        sts = await wait_status(env, updatedReplicas=2, currentReplicas=1, readyReplicas=3)
        assert log.first("terminating", "web-2") < log.first("terminating", "web-1")
    assert sts["status"]["currentRevision"] == old_revision != sts["status"]["updateRevision"]
    out = (await env.kubectl("rollout", "status", "sts/web", "--timeout=20s")).stdout
    assert "partitioned roll out complete: 2 new pods have been updated" in out

    await env.client.patch(STATEFULSETS, "web", {"spec": {"updateStrategy": {
        "rollingUpdate": {"partition": 0}}}}, env.ns)
    sts = await wait_status(env, updatedReplicas=3, currentReplicas=3, readyReplicas=3)
    assert sts["status"]["currentRevision"] == sts["status"]["updateRevision"] != old_revision
    pods = await live_pods(env)
    assert {p["spec"]["containers"][0]["image"] for p in pods.values()} == {"nginx:2"}
    history = (await env.kubectl("rollout", "history", "sts/web")).stdout
    assert "REVISION" in history and "2" in history

    # Undo goes back to the first template, whose revision becomes the newest (3).
    await env.kubectl("rollout", "undo", "sts/web")
    sts = await wait_status(env, updatedReplicas=3, currentReplicas=3, readyReplicas=3,
                            currentRevision=old_revision, updateRevision=old_revision)
    pods = await live_pods(env)
    assert {p["spec"]["containers"][0]["image"] for p in pods.values()} == {"nginx:1"}
    revisions = {r["metadata"]["name"]: r["revision"]
                 async for r in env.client.list_all(CONTROLLERREVISIONS, env.ns)}
    assert revisions[old_revision] == 3 and sorted(revisions.values()) == [2, 3]


async def test_claim_retention_policy_sets_owners(env: Env) -> None:
    env.nodes.auto_ready = True
    await env.client.create(STATEFULSETS, statefulset(
        replicas=2, persistentVolumeClaimRetentionPolicy={"whenDeleted": "Delete",
                                                          "whenScaled": "Delete"}), env.ns)
    await wait_pods(env, {"web-0", "web-1"})
    sts = await wait_status(env, readyReplicas=2)

    async def owners(name: str) -> list[tuple[str, str, bool]]:
        claim = await env.client.get(PERSISTENTVOLUMECLAIMS, name, env.ns)
        return sorted((r["kind"], r["name"], bool(r.get("controller")))
                      for r in claim["metadata"].get("ownerReferences") or ())

    async def set_owned() -> bool:
        found = [await owners(f"data-web-{i}") for i in (0, 1)]
        return found == [[("StatefulSet", "web", True)]] * 2
    await until(set_owned, what="claims controlled by the StatefulSet")
    uid = sts["metadata"]["uid"]
    claim = await env.client.get(PERSISTENTVOLUMECLAIMS, "data-web-0", env.ns)
    assert claim["metadata"]["ownerReferences"][0]["uid"] == uid

    # Scaled away: the claim goes with its pod, not with the set.
    await env.client.patch(STATEFULSETS, "web", {"spec": {"replicas": 1}}, env.ns)
    await wait_pods(env, {"web-0"})

    async def pod_owned() -> bool:
        return await owners("data-web-1") == [("Pod", "web-1", True)]
    await until(pod_owned, what="the scaled-away claim owned by its pod")
    assert await owners("data-web-0") == [("StatefulSet", "web", True)]


async def test_on_delete_failed_pods_and_start_ordinal(env: Env) -> None:
    env.nodes.auto_ready = True
    await env.client.create(STATEFULSETS, statefulset(
        replicas=2, claims=False, ordinals={"start": 5},
        updateStrategy={"type": "OnDelete"}), env.ns)
    pods = await wait_pods(env, {"web-5", "web-6"})
    assert pods["web-5"]["metadata"]["labels"]["apps.kubernetes.io/pod-index"] == "5"

    # A failed pod is replaced by a new one with the same name.
    old_uid = pods["web-6"]["metadata"]["uid"]
    await env.nodes.set_phase("web-6", "Failed")

    async def replaced() -> dict[str, dict[str, Any]] | None:
        found = await wait_pods(env, {"web-5", "web-6"})
        return found if found["web-6"]["metadata"]["uid"] != old_uid else None
    await until(replaced, what="web-6 recreated")

    await env.client.patch(STATEFULSETS, "web", {"spec": {"template": {"spec": {
        "containers": [{"name": "c", "image": "nginx:2"}]}}}}, env.ns)
    await wait_status(env, updatedReplicas=0, currentReplicas=2)
    await asyncio.sleep(0.3)  # a wrong controller would start replacing pods now
    images = {n: p["spec"]["containers"][0]["image"] for n, p in (await live_pods(env)).items()}
    assert images == {"web-5": "nginx:1", "web-6": "nginx:1"}
    await env.client.delete(PODS, "web-5", env.ns)

    async def updated() -> dict[str, str] | None:
        found = {n: p["spec"]["containers"][0]["image"]
                 for n, p in (await wait_pods(env, {"web-5", "web-6"})).items()}
        return found if found["web-5"] == "nginx:2" else None
    assert (await until(updated, what="web-5 recreated from the new template"))["web-6"] == \
        "nginx:1"
    proc = await env.kubectl("rollout", "status", "sts/web", check=False)
    assert proc.returncode != 0 and "only available for RollingUpdate" in proc.stderr
