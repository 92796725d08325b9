"""The agent's own lifecycle on a real node: joining with a bootstrap token, a restarted
agent adopting the running pods without restarting them, a deleted pod leaving nothing
behind on the host, and images pulled from a real registry on loopback."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.agent.cluster import (
    IMAGE,
    INDEX_HTML,
    AgentCluster,
    container,
    is_ready,
    pod_manifest,
    pod_traces,
    sandbox_of,
    status_of,
    wait_for,
)
from tests.support.oci_images import build_busybox, push_to_registry, write_oci_layout
from tests.support.registry import LoopbackRegistry

pytestmark = pytest.mark.e2e

IDLE = "trap 'exit 0' TERM; echo up; while true; do sleep 1; done"


def container_ids(pod: dict[str, Any]) -> dict[str, tuple[str, int]]:
    return {s["name"]: (s["containerID"], s["restartCount"])
            for s in pod["status"]["containerStatuses"]}


def test_node_joined_with_a_bootstrap_token(cluster: AgentCluster) -> None:
    csrs = [c for c in cluster.json("get", "csr")["items"]
            if c["spec"]["username"].startswith("system:bootstrap:")]
    assert len(csrs) == 1
    conditions = {c["type"] for c in csrs[0]["status"]["conditions"]}
    assert conditions == {"Approved"} and csrs[0]["status"].get("certificate")
    assert csrs[0]["spec"]["signerName"] == "kubernetes.io/kube-apiserver-client-kubelet"
    node = cluster.json("get", "node", cluster.node)
    labels = node["metadata"]["labels"]
    assert labels["kubernetes.io/hostname"] == cluster.node
    assert labels["kubernetes.io/os"] == "linux"
    status = node["status"]
    assert {"type": "InternalIP", "address": "127.0.0.1"} in status["addresses"]
    assert status["daemonEndpoints"]["kubeletEndpoint"]["Port"] == cluster.agent_port
    assert status["capacity"]["pods"] == "110" and int(status["capacity"]["cpu"]) >= 1
    assert {c["type"] for c in status["conditions"]} >= {
        "Ready", "MemoryPressure", "DiskPressure", "PIDPressure"}
    # The Lease is renewed (every 10 s) and the image imported after the agent started
    # shows in the node's status at its next update (every 10 s too): one wait for both.
    renewed = cluster.json("get", "lease", "-n", "kube-node-lease", cluster.node)[
        "spec"]["renewTime"]
    wait_for(lambda: any(IMAGE in i["names"] for i in cluster.json(
        "get", "node", cluster.node)["status"].get("images") or []), 25,
        "the imported image in the node status")
    wait_for(lambda: cluster.json("get", "lease", "-n", "kube-node-lease", cluster.node)[
        "spec"]["renewTime"] != renewed, 25, "the node Lease to be renewed")
    # the node's identity is its own: system:node:<name>
    kubeconfig = cluster.root_dir / "pki" / "kubelet.kubeconfig"
    whoami = cluster.kubectl("--kubeconfig", str(kubeconfig), "auth", "whoami", "-o", "json",
                             env={"KUBECONFIG": str(kubeconfig)})
    user = json.loads(whoami.stdout)["status"]["userInfo"]
    assert user["username"] == f"system:node:{cluster.node}"
    assert "system:nodes" in user["groups"]


def test_agent_restart_adopts_running_pods(cluster: AgentCluster, ns: str) -> None:
    cluster.apply(pod_manifest("steady", ns, [container("a", IDLE), container("b", IDLE)]),
                  pod_manifest("doomed", ns, [container("a", IDLE)]))
    before = cluster.wait_pod(ns, "steady", is_ready, 60, "Ready")
    doomed = cluster.wait_pod(ns, "doomed", is_ready, 60, "Ready")
    doomed_uid = doomed["metadata"]["uid"]
    doomed_id = status_of(doomed, "a")["containerID"].partition("://")[2]
    doomed_sandbox = sandbox_of(cluster, doomed_id)
    ids = container_ids(before)
    assert cluster.agent is not None
    agent_pid = cluster.agent.pid
    # A crash, not a clean stop: the pods must not notice either way.
    os.kill(agent_pid, signal.SIGKILL)
    cluster.agent.wait(10)
    cluster.stop_agent()
    assert cluster.kubectl("exec", "-n", ns, "steady", "-c", "a", "--", "true",
                           check=False).returncode != 0  # nobody serves exec now
    # A pod removed while the agent is away is an orphan the restarted agent removes.
    cluster.kubectl("delete", "pod", "-n", ns, "doomed", "--force", "--grace-period=0")
    cluster.start_agent()
    wait_for(lambda: not pod_traces(cluster, doomed_uid, doomed_sandbox) or None, 30,
             "the orphaned pod's mounts, namespaces and cgroups to go")
    assert not (cluster.root_dir / "containers" / doomed_id).exists()
    after = cluster.wait_pod(ns, "steady", is_ready, 30, "Ready after the restart")
    assert container_ids(after) == ids
    assert cluster.kubectl("exec", "-n", ns, "steady", "-c", "b", "--", "cat",
                           "/www/index.html").stdout == INDEX_HTML
    assert cluster.kubectl("logs", "-n", ns, "steady", "-c", "a").stdout.startswith("up\n")

    # deleting the pod removes everything it had on the host
    uid = after["metadata"]["uid"]
    container_id = ids["a"][0].partition("://")[2]
    sandbox = sandbox_of(cluster, container_id)
    assert pod_traces(cluster, uid, sandbox), "the pod's traces are not where expected"
    cluster.kubectl("delete", "pod", "-n", ns, "steady", "--timeout=60s")
    wait_for(lambda: not pod_traces(cluster, uid, sandbox) or None, 30,
             "the pod's mounts, namespaces and cgroups to go")
    assert not (cluster.root_dir / "containers" / container_id).exists()


def test_termination_grace_period_then_kill(cluster: AgentCluster, ns: str) -> None:
    # sleep as PID 1 ignores SIGTERM: only the SIGKILL after the grace period ends it
    cluster.apply(pod_manifest("stubborn", ns, [container("main", "exec sleep 3600")],
                               terminationGracePeriodSeconds=3))
    pod = cluster.wait_pod(ns, "stubborn", is_ready, 60, "Ready")
    began = time.monotonic()
    cluster.kubectl("delete", "pod", "-n", ns, "stubborn", "--timeout=60s")
    took = time.monotonic() - began
    assert 2.5 <= took < 15, took
    killing = [e["message"] for e in cluster.events(ns, "stubborn") if e["reason"] == "Killing"]
    assert killing == ["Stopping container main"], killing
    container_id = status_of(pod, "main")["containerID"].partition("://")[2]
    assert not (cluster.root_dir / "containers" / container_id).exists()


def test_pull_from_loopback_registry(cluster: AgentCluster, ns: str, tmp_path: Path,
                                     loopback_registry: LoopbackRegistry) -> None:
    image = build_busybox(labels={"e2e": "pulled"})
    layout = write_oci_layout(tmp_path / "layout", image, "v1")
    reference = f"{loopback_registry.host}/e2e/busybox:v1"
    push_to_registry(layout, reference, source_ref="v1")
    cluster.apply(pod_manifest("pulled", ns, [container(
        "main", IDLE, image=reference, imagePullPolicy="Always")]))
    pod = cluster.wait_pod(ns, "pulled", is_ready, 60, "Ready")
    status = status_of(pod, "main")
    assert status["image"] == reference
    assert status["imageID"] == \
        f"{loopback_registry.host}/e2e/busybox@{image.manifest_digest}"
    events = cluster.events(ns, "pulled")
    pulled = [e["message"] for e in events if e["reason"] == "Pulled"]
    assert any(m.startswith(f'Successfully pulled image "{reference}"') for m in pulled), \
        events
    assert "Pulling" in {e["reason"] for e in events}
