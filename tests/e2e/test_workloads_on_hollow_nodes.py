"""The issue's kubectl scenario on simulated nodes: `kubesmith server` with its in-process
controller manager and scheduler, `kubesmith hollow-nodes` as separate processes, and real
kubectl driving Deployments (rollout, set image, undo, scale, wait), a DaemonSet, a
StatefulSet's ordered start, a Job, a CronJob firing, cascade and orphan deletes, namespace
deletion, and a node going away with its pods evicted and replaced.

Short timeouts are configured for the node lifecycle (4 s grace) so the run takes about two
minutes; everything else runs with upstream's defaults.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RunningServer, start_server, stop_server

pytestmark = pytest.mark.e2e

DEPLOY_TIMEOUT = "90s"


def wait_for(check: Callable[[], Any], seconds: float, what: str) -> Any:
    deadline = time.monotonic() + seconds
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.25)
    raise AssertionError(f"timed out after {seconds:.0f}s waiting for {what} (last: {last!r})")


def _hollow(server: RunningServer, log: Path, *args: str) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "kubesmith", "hollow-nodes", "--kubeconfig",
             str(server.kubeconfig), "--lease-renew-interval", "1s",
             "--node-lease-duration-seconds", "4", *args],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def _kill(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


class Cluster:
    def __init__(self, server: RunningServer, doomed: subprocess.Popen[bytes]) -> None:
        self.server = server
        self.doomed = doomed

    def kubectl(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return self.server.kubectl(*args, **kwargs)

    def json(self, *args: str) -> Any:
        return json.loads(self.kubectl(*args, "-o", "json").stdout)

    def pods(self, ns: str, selector: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.json("get", "pods", "-n", ns, "-l", selector)["items"]
        return items

    def apply(self, manifest: dict[str, Any]) -> None:
        self.kubectl("apply", "-f", "-", input=json.dumps(manifest))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    data = tmp_path_factory.mktemp("e2e-server")
    server = start_server(data, "--node-monitor-grace-period", "4s",
                          "--node-monitor-period", "500ms")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(_hollow(server, data / "hollow.log", "--count", "3"))
        doomed = _hollow(server, data / "doomed.log", "--count", "1", "--name-prefix",
                         "doomed-")
        procs.append(doomed)
        wait_for(lambda: len([n for n in json.loads(server.kubectl(
            "get", "nodes", "-o", "json").stdout)["items"] if not any(
                t.get("key", "").startswith("node.kubernetes.io/")
                for t in n["spec"].get("taints") or ())]) == 4, 60, "4 schedulable nodes")
        server.kubectl("wait", "--for=condition=Ready", "node", "--all", "--timeout=60s")
        yield Cluster(server, doomed)
    finally:
        for proc in procs:
            _kill(proc)
        stop_server(server.process)
        errors = [line for line in server.log.read_text().splitlines()
                  if "Traceback" in line or "internal error" in line]
        assert not errors, f"server logged internal errors:\n{server.log.read_text()[-20000:]}"


def test_nodes_have_pod_cidrs_and_leases(cluster: Cluster) -> None:
    nodes = cluster.json("get", "nodes")["items"]
    cidrs = sorted(n["spec"]["podCIDR"] for n in nodes)
    assert len(set(cidrs)) == 4 and all(c.startswith("10.244.") for c in cidrs)
    leases = cluster.json("get", "leases", "-n", "kube-node-lease")["items"]
    assert {lease["metadata"]["name"] for lease in leases} >= \
        {n["metadata"]["name"] for n in nodes}


def test_deployment_rollout_undo_scale(cluster: Cluster) -> None:
    k = cluster.kubectl
    k("create", "namespace", "shop")
    k("create", "deployment", "web", "-n", "shop", "--image=nginx:1.25", "--replicas=3")
    k("rollout", "status", "deployment/web", "-n", "shop", f"--timeout={DEPLOY_TIMEOUT}")
    pods = cluster.pods("shop", "app=web")
    assert len(pods) == 3
    assert all(p["status"]["phase"] == "Running" and p["status"].get("podIP") and
               p["spec"].get("nodeName") for p in pods)
    k("set", "image", "deployment/web", "-n", "shop", "nginx=nginx:1.26")
    k("rollout", "status", "deployment/web", "-n", "shop", f"--timeout={DEPLOY_TIMEOUT}")
    history = k("rollout", "history", "deployment/web", "-n", "shop").stdout
    assert "1 " in history and "2 " in history
    k("rollout", "undo", "deployment/web", "-n", "shop")
    k("rollout", "status", "deployment/web", "-n", "shop", f"--timeout={DEPLOY_TIMEOUT}")
    image = k("get", "deployment", "web", "-n", "shop", "-o",
              "jsonpath={.spec.template.spec.containers[0].image}").stdout
    assert image == "nginx:1.25"
    k("scale", "deployment", "web", "-n", "shop", "--replicas=5")
    k("wait", "--for=condition=Available", "deployment/web", "-n", "shop",
      f"--timeout={DEPLOY_TIMEOUT}")
    wait_for(lambda: len([p for p in cluster.pods("shop", "app=web")
                          if p["status"].get("phase") == "Running"
                          and not p["metadata"].get("deletionTimestamp")]) == 5,
             60, "5 running web pods")
    described = k("describe", "deployment", "web", "-n", "shop").stdout
    assert "ScalingReplicaSet" in described
    # Every pod of the Service's selector gets into its Endpoints.
    k("expose", "deployment", "web", "-n", "shop", "--port=80")
    wait_for(lambda: len([a for s in cluster.json("get", "endpoints", "web", "-n",
                                                   "shop").get("subsets") or ()
                          for a in s.get("addresses") or ()]) == 5, 30, "5 endpoints")


def test_daemonset_covers_every_node(cluster: Cluster) -> None:
    cluster.apply({
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": "agent", "namespace": "kube-system"},
        "spec": {"selector": {"matchLabels": {"app": "agent"}},
                 "template": {"metadata": {"labels": {"app": "agent"}},
                              "spec": {"containers": [{"name": "a", "image": "busybox"}]}}}})
    cluster.kubectl("rollout", "status", "daemonset/agent", "-n", "kube-system",
                    f"--timeout={DEPLOY_TIMEOUT}")
    nodes = {p["spec"]["nodeName"] for p in cluster.pods("kube-system", "app=agent")}
    assert nodes == {n["metadata"]["name"] for n in cluster.json("get", "nodes")["items"]}


def test_statefulset_starts_in_order(cluster: Cluster) -> None:
    k = cluster.kubectl
    k("create", "namespace", "data")
    k("create", "service", "clusterip", "db", "-n", "data", "--clusterip=None",
      "--tcp=5432:5432")
    cluster.apply({
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "db", "namespace": "data"},
        "spec": {"serviceName": "db", "replicas": 3,
                 "selector": {"matchLabels": {"app": "db"}},
                 "template": {"metadata": {"labels": {"app": "db"}},
                              "spec": {"containers": [{"name": "pg", "image": "postgres"}]}}}})
    k("rollout", "status", "statefulset/db", "-n", "data", f"--timeout={DEPLOY_TIMEOUT}")
    pods = {p["metadata"]["name"]: p for p in cluster.pods("data", "app=db")}
    assert sorted(pods) == ["db-0", "db-1", "db-2"]

    def ready_at(name: str) -> str:
        return next(c["lastTransitionTime"] for c in pods[name]["status"]["conditions"]
                    if c["type"] == "Ready")
    # OrderedReady: each pod was created only after its predecessor was Ready.
    for before, after in (("db-0", "db-1"), ("db-1", "db-2")):
        assert pods[after]["metadata"]["creationTimestamp"] >= ready_at(before)
    assert pods["db-1"]["spec"]["hostname"] == "db-1"
    assert pods["db-1"]["spec"]["subdomain"] == "db"


def test_job_runs_to_completion(cluster: Cluster) -> None:
    cluster.apply({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "pi", "namespace": "default"},
        "spec": {"completions": 3, "parallelism": 2, "template": {"spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "pi", "image": "perl", "command": ["true"]}]}}}})
    cluster.kubectl("wait", "--for=condition=complete", "job/pi", f"--timeout={DEPLOY_TIMEOUT}")
    job = cluster.json("get", "job", "pi")
    assert job["status"]["succeeded"] == 3


def test_cronjob_fires(cluster: Cluster) -> None:
    cluster.kubectl("create", "cronjob", "tick", "--image=busybox", "--schedule=* * * * *",
                    "--", "true")
    # The next minute boundary is at most 60 s away.
    jobs = wait_for(lambda: [j for j in cluster.json("get", "jobs")["items"]
                             if any(r.get("kind") == "CronJob" and r.get("name") == "tick"
                                    for r in j["metadata"].get("ownerReferences") or ())],
                    75, "the CronJob's first Job")
    assert jobs[0]["metadata"]["name"].startswith("tick-")
    wait_for(lambda: cluster.json("get", "cronjob", "tick")["status"].get("lastScheduleTime"),
             20, "lastScheduleTime")
    cluster.kubectl("delete", "cronjob", "tick")


def test_cascade_and_orphan_deletes(cluster: Cluster) -> None:
    k = cluster.kubectl
    k("create", "namespace", "gc")
    for name in ("gone", "kept"):
        k("create", "deployment", name, "-n", "gc", "--image=nginx", "--replicas=2")
        k("rollout", "status", f"deployment/{name}", "-n", "gc", f"--timeout={DEPLOY_TIMEOUT}")
    k("delete", "deployment", "gone", "-n", "gc")
    wait_for(lambda: not cluster.pods("gc", "app=gone") and not cluster.json(
        "get", "replicasets", "-n", "gc", "-l", "app=gone")["items"], 30,
        "the deployment's ReplicaSets and pods to go")
    k("delete", "deployment", "kept", "-n", "gc", "--cascade=orphan")
    time.sleep(2)
    replicasets = cluster.json("get", "replicasets", "-n", "gc", "-l", "app=kept")["items"]
    assert len(replicasets) == 1
    assert not replicasets[0]["metadata"].get("ownerReferences")
    assert len(cluster.pods("gc", "app=kept")) == 2


def test_namespace_deletion_takes_its_content(cluster: Cluster) -> None:
    k = cluster.kubectl
    k("create", "namespace", "tmp")
    k("create", "deployment", "w", "-n", "tmp", "--image=nginx", "--replicas=2")
    k("create", "configmap", "c", "-n", "tmp", "--from-literal=a=b")
    k("rollout", "status", "deployment/w", "-n", "tmp", f"--timeout={DEPLOY_TIMEOUT}")
    started = time.monotonic()
    k("delete", "namespace", "tmp", "--timeout=60s")
    assert time.monotonic() - started < 60
    assert k("get", "namespace", "tmp", check=False).returncode != 0


def test_lost_node_pods_are_evicted_and_replaced(cluster: Cluster) -> None:
    k = cluster.kubectl
    k("create", "namespace", "ha")
    cluster.apply({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "spread", "namespace": "ha"},
        "spec": {"replicas": 4, "selector": {"matchLabels": {"app": "spread"}},
                 "template": {"metadata": {"labels": {"app": "spread"}}, "spec": {
                     "containers": [{"name": "c", "image": "nginx"}],
                     "tolerations": [{"key": "node.kubernetes.io/unreachable",
                                      "operator": "Exists", "effect": "NoExecute",
                                      "tolerationSeconds": 2}],
                     "topologySpreadConstraints": [{
                         "maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                         "whenUnsatisfiable": "ScheduleAnyway",
                         "labelSelector": {"matchLabels": {"app": "spread"}}}]}}}})
    k("rollout", "status", "deployment/spread", "-n", "ha", f"--timeout={DEPLOY_TIMEOUT}")
    on_doomed = [p for p in cluster.pods("ha", "app=spread")
                 if p["spec"]["nodeName"] == "doomed-0"]
    assert on_doomed, "topology spread should have put one pod on every node"
    _kill(cluster.doomed, signal.SIGKILL)
    wait_for(lambda: any(t.get("key") == "node.kubernetes.io/unreachable" for t in
                         cluster.json("get", "node", "doomed-0")["spec"].get("taints") or ()),
             30, "the unreachable taint")
    ready = next(c for c in cluster.json("get", "node", "doomed-0")["status"]["conditions"]
                 if c["type"] == "Ready")
    assert ready["status"] == "Unknown"
    # Evicted after its 2 s toleration (it stays Terminating: no kubelet is left to
    # confirm), and replaced on a live node.
    wait_for(lambda: all(p["metadata"].get("deletionTimestamp")
                         for p in cluster.pods("ha", "app=spread")
                         if p["spec"].get("nodeName") == "doomed-0"), 30,
             "the pod on the lost node to be evicted")
    wait_for(lambda: len([p for p in cluster.pods("ha", "app=spread")
                          if p["status"].get("phase") == "Running"
                          and not p["metadata"].get("deletionTimestamp")]) == 4, 60,
             "4 running replicas again")
    events = k("get", "events", "-n", "ha", "--field-selector",
               "reason=TaintManagerEviction").stdout
    assert "Marking for deletion Pod ha/" in events
