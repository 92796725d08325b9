"""The DaemonSet controller against a real API server, with a fake scheduler and kubelets
(tests/integration/controllers/fake_kubelet.py) binding its pods and making them Ready:
placement (nodeSelector, taints, new nodes, relabelled nodes), status, rolling updates node
by node, OnDelete, failed pods, and ``kubectl rollout status/history/undo``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kubesmith.client import ApiError
from kubesmith.client.rest import CONTROLLERREVISIONS, DAEMONSETS, NODES, PODS
from kubesmith.controllers.util import is_pod_ready
from tests.conftest import RunningServer
from tests.integration.controllers.fake_kubelet import affinity_node
from tests.integration.controllers.helpers import until
from tests.integration.controllers.workload_env import Env, workload_env

pytestmark = pytest.mark.integration


@pytest.fixture
async def env(server: RunningServer, request: pytest.FixtureRequest,
              monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Env]:
    async with workload_env(server, request, monkeypatch, "daemonset-controller",
                            "kubesmith.controllers.daemonset:DaemonSetController") as e:
        yield e


def daemonset(name: str, image: str = "pause:1", **spec: Any) -> dict[str, Any]:
    pod_spec: dict[str, Any] = {"containers": [{"name": "c", "image": image}],
                                "terminationGracePeriodSeconds": 0}
    pod_spec.update(spec.pop("pod", {}))
    return {"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": name},
            "spec": {"selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": pod_spec},
                     **spec}}


async def pods_of(env: Env, app: str) -> list[dict[str, Any]]:
    return [p async for p in env.client.list_all(PODS, env.ns, label_selector=f"app={app}")]


async def live_pods_by_node(env: Env, app: str) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for pod in await pods_of(env, app):
        if not pod["metadata"].get("deletionTimestamp"):
            out.setdefault(pod["spec"].get("nodeName") or affinity_node(pod) or "", []
                           ).append(pod)
    return out


async def settled(env: Env, app: str, nodes: set[str], image: str | None = None
                  ) -> dict[str, Any]:
    """Wait until exactly ``nodes`` run one ready pod each (of ``image``) and the status
    says so; return the DaemonSet."""
    async def check() -> dict[str, Any] | None:
        by_node = await live_pods_by_node(env, app)
        if set(by_node) != nodes or any(len(p) != 1 or not is_pod_ready(p[0])
                                        for p in by_node.values()):
            return None
        if image and any(p[0]["spec"]["containers"][0]["image"] != image
                         for p in by_node.values()):
            return None
        ds = await env.client.get(DAEMONSETS, app, env.ns)
        status = ds.get("status") or {}
        n = len(nodes)
        if status.get("observedGeneration") != ds["metadata"]["generation"] or \
                [status.get(k) for k in ("desiredNumberScheduled", "currentNumberScheduled",
                                         "numberReady", "numberAvailable",
                                         "updatedNumberScheduled")] != [n] * 5 or \
                status.get("numberMisscheduled") != 0 or status.get("numberUnavailable", 0):
            return None
        return ds
    return await until(check, what=f"{app} settled on {sorted(nodes)}")


async def test_one_pod_per_eligible_node(env: Env) -> None:
    workers = {await env.add_node(n, {"role": "worker"}) for n in ("a", "b", "c")}
    infra = await env.add_node("infra", {"role": "worker"},
                           [{"key": "dedicated", "value": "infra", "effect": "NoSchedule"}])
    await env.add_node("other")  # no role label: not selected
    await env.client.create(DAEMONSETS, daemonset(
        "agent", pod={"nodeSelector": {"role": "worker"}}), env.ns)
    ds = await settled(env, "agent", workers)

    pod = (await pods_of(env, "agent"))[0]
    assert pod["metadata"]["generateName"] == "agent-"
    assert pod["metadata"]["ownerReferences"][0]["kind"] == "DaemonSet"
    assert pod["metadata"]["labels"]["controller-revision-hash"]
    # The scheduler places the pod: the controller only pins it by affinity.
    terms = pod["spec"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms == [{"matchFields": [{"key": "metadata.name", "operator": "In",
                                       "values": [pod["spec"]["nodeName"]]}]}]
    tolerations = {(t["key"], t["effect"]) for t in pod["spec"]["tolerations"]}
    assert {("node.kubernetes.io/not-ready", "NoExecute"),
            ("node.kubernetes.io/unreachable", "NoExecute"),
            ("node.kubernetes.io/disk-pressure", "NoSchedule"),
            ("node.kubernetes.io/memory-pressure", "NoSchedule"),
            ("node.kubernetes.io/pid-pressure", "NoSchedule"),
            ("node.kubernetes.io/unschedulable", "NoSchedule")} <= tolerations
    assert ("node.kubernetes.io/network-unavailable", "NoSchedule") not in tolerations
    revisions = [r async for r in env.client.list_all(CONTROLLERREVISIONS, env.ns)]
    assert [r["revision"] for r in revisions] == [1]
    assert revisions[0]["metadata"]["labels"]["controller-revision-hash"] == \
        pod["metadata"]["labels"]["controller-revision-hash"]
    events = await env.events_for("DaemonSet", "agent", "SuccessfulCreate")
    created = [e for e in events if e["reason"] == "SuccessfulCreate"]
    assert created and all(e["message"].startswith("Created pod: agent-") for e in created)

    # Tolerating the taint brings the tainted node in.
    await env.client.patch(DAEMONSETS, "agent", {"spec": {"template": {"spec": {
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "infra",
                         "effect": "NoSchedule"}]}}}}, env.ns)
    await settled(env, "agent", workers | {infra})

    # A new matching node gets a pod; a node losing the label loses its pod.
    late = await env.add_node("late", {"role": "worker"})
    await settled(env, "agent", workers | {infra, late})
    gone = f"{env.prefix}-b"
    await env.client.patch(NODES, gone, {"metadata": {"labels": {"role": None}}})
    ds = await settled(env, "agent", (workers - {gone}) | {infra, late})
    assert ds["status"]["desiredNumberScheduled"] == 4
    events = await env.events_for("DaemonSet", "agent", "SuccessfulDelete")
    assert [e for e in events if e["reason"] == "SuccessfulDelete"]


async def test_rolling_update_node_by_node_and_rollout_commands(env: Env) -> None:
    nodes = {await env.add_node(n) for n in ("a", "b", "c")}
    await env.client.create(DAEMONSETS, daemonset("roll", "pause:1"), env.ns)
    await settled(env, "roll", nodes)
    await env.kubectl("rollout", "status", "ds/roll", "--timeout=30s")

    # Watch availability while the update runs: with maxUnavailable 1, never more than one
    # node may lack an available pod.
    lowest = len(nodes)
    stop = asyncio.Event()

    async def watch_availability() -> None:
        nonlocal lowest
        while not stop.is_set():
            by_node = await live_pods_by_node(env, "roll")
            ready = sum(1 for n in nodes if any(is_pod_ready(p) for p in by_node.get(n, ())))
            lowest = min(lowest, ready)
            await asyncio.sleep(0.02)

    watcher = asyncio.create_task(watch_availability())
    await env.client.patch(DAEMONSETS, "roll", {"spec": {"template": {"spec": {
        "containers": [{"name": "c", "image": "pause:2"}]}}}}, env.ns)
    await env.kubectl("rollout", "status", "ds/roll", "--timeout=60s")
    await settled(env, "roll", nodes, image="pause:2")
    stop.set()
    await watcher
    assert lowest >= len(nodes) - 1, f"{len(nodes) - lowest} nodes unavailable at once"

    history = (await env.kubectl("rollout", "history", "ds/roll")).stdout
    assert "REVISION" in history and "1" in history and "2" in history
    shown = (await env.kubectl("rollout", "history", "ds/roll", "--revision=1")).stdout
    assert "pause:1" in shown

    await env.kubectl("rollout", "undo", "ds/roll")
    await settled(env, "roll", nodes, image="pause:1")
    revisions = sorted([(r["revision"], r["data"]["spec"]["template"]["spec"]["containers"][0]
                         ["image"])
                        async for r in env.client.list_all(CONTROLLERREVISIONS, env.ns)])
    # Going back renumbers the old revision instead of duplicating it.
    assert revisions == [(2, "pause:2"), (3, "pause:1")]
    await env.kubectl("rollout", "status", "ds/roll", "--timeout=30s")


async def test_on_delete_waits_for_manual_deletion(env: Env) -> None:
    nodes = {await env.add_node(n) for n in ("a", "b")}
    await env.client.create(DAEMONSETS, daemonset(
        "manual", "pause:1", updateStrategy={"type": "OnDelete"}), env.ns)
    await settled(env, "manual", nodes)
    await env.client.patch(DAEMONSETS, "manual", {"spec": {"template": {"spec": {
        "containers": [{"name": "c", "image": "pause:2"}]}}}}, env.ns)

    async def observed() -> dict[str, Any] | None:
        ds = await env.client.get(DAEMONSETS, "manual", env.ns)
        status = ds.get("status") or {}
        if status.get("observedGeneration") == ds["metadata"]["generation"]:
            return ds
        return None
    ds = await until(observed, what="generation observed")
    assert ds["status"]["updatedNumberScheduled"] == 0
    await asyncio.sleep(0.5)  # give a wrong controller the chance to replace pods
    before = await live_pods_by_node(env, "manual")
    assert all(p[0]["spec"]["containers"][0]["image"] == "pause:1" for p in before.values())

    victim = before[sorted(nodes)[0]][0]["metadata"]["name"]
    await env.client.delete(PODS, victim, env.ns)

    async def replaced() -> dict[str, list[dict[str, Any]]] | None:
        by_node = await live_pods_by_node(env, "manual")
        pods = by_node.get(sorted(nodes)[0]) or []
        if len(pods) == 1 and pods[0]["spec"]["containers"][0]["image"] == "pause:2" and \
                is_pod_ready(pods[0]):
            return by_node
        return None
    by_node = await until(replaced, what="the deleted pod replaced by the new template")
    assert by_node[sorted(nodes)[1]][0]["spec"]["containers"][0]["image"] == "pause:1"
    proc = await env.kubectl("rollout", "status", "ds/manual", check=False)
    assert proc.returncode != 0 and "only available for RollingUpdate" in proc.stderr


async def test_failed_pod_is_replaced_with_an_event(env: Env) -> None:
    node = await env.add_node("a")
    await env.client.create(DAEMONSETS, daemonset("flaky"), env.ns)
    await settled(env, "flaky", {node})
    failed = (await pods_of(env, "flaky"))[0]["metadata"]["name"]
    await env.nodes.set_phase(failed, "Failed")

    async def replaced() -> list[dict[str, Any]] | None:
        pods = await pods_of(env, "flaky")
        names = [p["metadata"]["name"] for p in pods]
        return pods if failed not in names and len(pods) == 1 and is_pod_ready(pods[0]) else None
    await until(replaced, what="the failed pod replaced")
    events = await env.events_for("DaemonSet", "flaky", "FailedDaemonPod")
    reasons = {(e["reason"], e["type"], e["message"]) for e in events}
    assert ("FailedDaemonPod", "Warning",
            f"Found failed daemon pod {env.ns}/{failed} on node {node}, will try to kill it"
            ) in reasons


async def test_describe_and_status_counts_with_unready_pod(env: Env) -> None:
    nodes = {await env.add_node(n) for n in ("a", "b")}
    held_node = sorted(nodes)[0]
    env.nodes.auto_ready = False
    await env.client.create(DAEMONSETS, daemonset("half"), env.ns)

    async def two_pods() -> dict[str, list[dict[str, Any]]] | None:
        by_node = await live_pods_by_node(env, "half")
        bound = all(p[0]["spec"].get("nodeName") for p in by_node.values())
        return by_node if set(by_node) == nodes and bound else None
    by_node = await until(two_pods, what="pods bound")
    for node_name, pods in by_node.items():
        if node_name != held_node:
            await env.nodes.set_ready(pods[0]["metadata"]["name"])

    async def counted() -> dict[str, Any] | None:
        ds = await env.client.get(DAEMONSETS, "half", env.ns)
        s = ds.get("status") or {}
        want = {"desiredNumberScheduled": 2, "currentNumberScheduled": 2, "numberReady": 1,
                "numberAvailable": 1, "numberUnavailable": 1, "updatedNumberScheduled": 2}
        return ds if all(s.get(k) == v for k, v in want.items()) else None
    await until(counted, what="status with one unready pod")
    proc = await env.kubectl("rollout", "status", "ds/half", "--timeout=1s", check=False)
    assert proc.returncode != 0 and "1 of 2 updated pods are available" in proc.stdout
    described = (await env.kubectl("describe", "ds", "half")).stdout
    assert "SuccessfulCreate" in described
    got = json.loads((await env.kubectl("get", "ds", "half", "-o", "json")).stdout)
    assert got["status"]["numberReady"] == 1
    with pytest.raises(ApiError):
        await env.client.get(DAEMONSETS, "missing", env.ns)


async def test_matching_orphan_pod_is_adopted(env: Env) -> None:
    a, b = await env.add_node("a"), await env.add_node("b")
    orphan = await env.client.create(PODS, {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "orphan", "labels": {"app": "adopt"}},
        "spec": {"nodeName": a, "containers": [{"name": "c", "image": "pause:1"}]}}, env.ns)
    await env.client.create(DAEMONSETS, daemonset(
        "adopt", updateStrategy={"type": "OnDelete"}), env.ns)
    ds = await settled_counts(env, "adopt", desiredNumberScheduled=2, numberReady=2,
                              updatedNumberScheduled=1)
    by_node = await live_pods_by_node(env, "adopt")
    assert set(by_node) == {a, b} and all(len(p) == 1 for p in by_node.values())
    adopted = by_node[a][0]
    assert adopted["metadata"]["uid"] == orphan["metadata"]["uid"]
    [ref] = adopted["metadata"]["ownerReferences"]
    assert (ref["kind"], ref["uid"], ref["controller"]) == \
        ("DaemonSet", ds["metadata"]["uid"], True)


async def settled_counts(env: Env, app: str, **want: int) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        ds = await env.client.get(DAEMONSETS, app, env.ns)
        status = ds.get("status") or {}
        return ds if all(status.get(k) == v for k, v in want.items()) else None
    return await until(check, what=f"{app} status {want}")
