"""Pod configuration on a real node through the real kubectl: readiness and liveness
probes, every kind of volume (with a live configMap update, a ServiceAccount token the API
server accepts and a local-path PersistentVolumeClaim), environment variables, DNS files
and security contexts, and bad input that must not hurt the node."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.e2e.agent.cluster import (
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
from tests.support.registry import LoopbackRegistry

pytestmark = pytest.mark.e2e

#: Sleeps in short steps so SIGTERM ends it promptly.
IDLE = "trap 'exit 0' TERM; while true; do sleep 1; done"


def ready_addresses(cluster: AgentCluster, ns: str, service: str) -> set[str]:
    slices = cluster.json("get", "endpointslices", "-n", ns, "-l",
                          f"kubernetes.io/service-name={service}")["items"]
    return {address for s in slices for e in s.get("endpoints") or []
            if (e.get("conditions") or {}).get("ready") for address in e["addresses"]}


def test_readiness_and_liveness_probes(cluster: AgentCluster, ns: str) -> None:
    web = container("web", "exec httpd -f -p 8080 -h /www", readinessProbe={
        "httpGet": {"path": "/ready.html", "port": 8080}, "periodSeconds": 1,
        "failureThreshold": 1})
    alive = container("alive", "trap 'exit 0' TERM; touch /tmp/alive; "
                      "while true; do sleep 1; done", livenessProbe={
                          "exec": {"command": ["test", "-f", "/tmp/alive"]},
                          "periodSeconds": 1, "failureThreshold": 1})
    cluster.apply(
        {**pod_manifest("probed", ns, [web]), "metadata": {
            "name": "probed", "namespace": ns, "labels": {"app": "probed"}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "probed", "namespace": ns},
         "spec": {"selector": {"app": "probed"}, "ports": [{"port": 80, "targetPort": 8080}]}},
        pod_manifest("lively", ns, [alive]))

    pod = cluster.wait_pod(ns, "probed", lambda p: status_of(p, "web").get("started"), 60,
                           "the web container running")
    ip = pod["status"]["podIP"]
    # The probe keeps failing (404): NotReady, and not a ready endpoint of the Service.
    slices = wait_for(lambda: cluster.json(
        "get", "endpointslices", "-n", ns, "-l", "kubernetes.io/service-name=probed")["items"],
        30, "the Service's EndpointSlice")
    assert slices
    pod = cluster.pod(ns, "probed")
    assert not is_ready(pod) and not status_of(pod, "web")["ready"]
    assert ip not in ready_addresses(cluster, ns, "probed")
    cluster.kubectl("exec", "-n", ns, "probed", "--", "sh", "-c", "echo ok > /www/ready.html")
    cluster.wait_pod(ns, "probed", is_ready, 30, "Ready once the probe passes")
    wait_for(lambda: ip in ready_addresses(cluster, ns, "probed"), 30,
             "the pod to be a ready endpoint")

    lively = cluster.wait_pod(ns, "lively", is_ready, 60, "Ready")
    first_id = status_of(lively, "alive")["containerID"]
    cluster.kubectl("exec", "-n", ns, "lively", "--", "rm", "/tmp/alive")
    restarted = cluster.wait_pod(
        ns, "lively", lambda p: status_of(p, "alive")["restartCount"] >= 1 and
        status_of(p, "alive").get("state", {}).get("running"), 60, "a liveness restart")
    assert status_of(restarted, "alive")["containerID"] != first_id
    events = cluster.events(ns, "lively")
    unhealthy = [e for e in events if e["reason"] == "Unhealthy"]
    assert unhealthy and unhealthy[0]["message"].startswith("Liveness probe failed"), events
    killing = [e["message"] for e in events if e["reason"] == "Killing"]
    assert "Container alive failed liveness probe, will be restarted" in killing, killing


def test_volumes(cluster: AgentCluster, ns: str) -> None:
    cluster.kubectl("create", "configmap", "settings", "-n", ns, "--from-literal=color=blue",
                    "--from-literal=size=large")
    cluster.kubectl("create", "secret", "generic", "creds", "-n", ns,
                    "--from-literal=user=admin", "--from-literal=password=hunter2")
    cluster.apply({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                   "metadata": {"name": "data", "namespace": ns},
                   "spec": {"accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": "10Mi"}}}})
    mounts = [{"name": "settings", "mountPath": "/etc/settings"},
              {"name": "creds", "mountPath": "/etc/creds", "readOnly": True},
              {"name": "info", "mountPath": "/etc/info"},
              {"name": "cache", "mountPath": "/cache"},
              {"name": "data", "mountPath": "/data"},
              {"name": "host", "mountPath": "/host"},
              {"name": "scratch", "mountPath": "/scratch"},
              {"name": "scratch", "mountPath": "/nested", "subPath": "deep/er"},
              {"name": "all", "mountPath": "/etc/all"}]
    host_dir = cluster.tmp / f"host-{ns}"
    volumes = [
        {"name": "settings", "configMap": {"name": "settings", "defaultMode": 0o640,
                                           "items": [{"key": "color", "path": "c/color"},
                                                     {"key": "size", "path": "size",
                                                      "mode": 0o400}]}},
        {"name": "creds", "secret": {"secretName": "creds", "defaultMode": 0o440}},
        {"name": "info", "downwardAPI": {"items": [
            {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}},
        {"name": "cache", "emptyDir": {"medium": "Memory", "sizeLimit": "8Mi"}},
        {"name": "data", "persistentVolumeClaim": {"claimName": "data"}},
        {"name": "host", "hostPath": {"path": str(host_dir), "type": "DirectoryOrCreate"}},
        {"name": "scratch", "emptyDir": {}},
        {"name": "all", "projected": {"sources": [
            {"configMap": {"name": "settings", "items": [{"key": "size", "path": "size"}]}},
            {"secret": {"name": "creds", "items": [{"key": "user", "path": "user"}]}},
            {"downwardAPI": {"items": [{"path": "name",
                                        "fieldRef": {"fieldPath": "metadata.name"}}]}},
            {"serviceAccountToken": {"path": "token", "expirationSeconds": 3600,
                                     "audience": "e2e-audience"}}]}}]

    def volume_pod() -> dict[str, Any]:
        manifest = pod_manifest("vols", ns, [container("main", IDLE, volumeMounts=mounts)],
                                volumes=volumes)
        manifest["metadata"]["labels"] = {"app": "vols", "tier": "test"}
        return manifest
    cluster.apply(volume_pod())
    cluster.wait_pod(ns, "vols", is_ready, 60, "Ready")

    def sh(script: str, **kwargs: Any) -> str:
        return cluster.kubectl("exec", "-n", ns, "vols", "--", "sh", "-c", script,
                               **kwargs).stdout

    assert sh("cat /etc/settings/c/color /etc/settings/size") == "bluelarge"
    assert sh("stat -L -c %a /etc/settings/c/color /etc/settings/size").split() == \
        ["640", "400"]
    assert sh("ls /etc/settings").split() == ["c", "size"]
    assert sh("cat /etc/creds/user; echo; stat -L -c %a /etc/creds/password") == \
        "admin\n440\n"
    assert sh("touch /etc/creds/x 2>&1; echo $?").strip().endswith("1")
    assert sh("cat /etc/info/labels").splitlines() == ['app="vols"', 'tier="test"']
    assert "tmpfs" in sh("grep ' /cache ' /proc/mounts")
    sh("echo from-pod > /host/file; echo nested > /nested/file")
    assert (host_dir / "file").read_text() == "from-pod\n"
    assert sh("cat /scratch/deep/er/file") == "nested\n"
    assert sh("cat /etc/all/size /etc/all/user /etc/all/name") == "largeadminvols"
    assert sh("cat /etc/all/token").count(".") == 2  # a JWT

    # the projected ServiceAccount token authenticates against the API server
    token = sh("cat /var/run/secrets/kubernetes.io/serviceaccount/token")
    assert sh("cat /var/run/secrets/kubernetes.io/serviceaccount/namespace") == ns
    whoami = cluster.server.kubectl_as("auth", "whoami", "-o", "json", token=token)
    assert whoami.returncode == 0, whoami.stderr
    user = json.loads(whoami.stdout)["status"]["userInfo"]
    assert user["username"] == f"system:serviceaccount:{ns}:default"

    # a live configMap update reaches the pod (the agent runs with --sync-frequency 3s)
    cluster.kubectl("patch", "configmap", "settings", "-n", ns, "--type=merge",
                    "-p", '{"data": {"color": "green"}}')
    wait_for(lambda: sh("cat /etc/settings/c/color") == "green", 15,
             "the configMap update in the pod")

    # the claim's data outlives the pod
    sh("echo persisted > /data/file")
    claim = cluster.json("get", "pvc", "-n", ns, "data")
    assert claim["status"]["phase"] == "Bound"
    assert claim["spec"]["storageClassName"] == "local-path"
    old = cluster.pod(ns, "vols")
    old_id = status_of(old, "main")["containerID"].partition("://")[2]
    traces = (old["metadata"]["uid"], sandbox_of(cluster, old_id))
    cluster.kubectl("delete", "pod", "-n", ns, "vols", "--timeout=60s")
    # its tmpfs volumes (memory emptyDir, secret, projected) are unmounted and removed
    wait_for(lambda: not pod_traces(cluster, *traces) or None, 20,
             "the deleted pod's volumes to go")
    cluster.apply(volume_pod())
    cluster.wait_pod(ns, "vols", is_ready, 60, "Ready again")
    assert sh("cat /data/file") == "persisted\n"


def test_bad_input_leaves_the_node_healthy(cluster: AgentCluster, ns: str,
                                           loopback_registry: LoopbackRegistry) -> None:
    missing_image = f"{loopback_registry.host}/e2e/missing:v1"
    env = [{"name": "COLOR", "valueFrom": {"configMapKeyRef": {"name": "absent",
                                                                "key": "color"}}}]
    cluster.apply(
        pod_manifest("no-image", ns, [{"name": "main", "image": missing_image}]),
        pod_manifest("no-config", ns, [container("main", IDLE, env=env)]),
        pod_manifest("as-root", ns, [container("main", IDLE,
                                               securityContext={"runAsNonRoot": True})]),
        pod_manifest("healthy", ns, [container("main", IDLE)]))

    def waiting(pod: dict[str, Any]) -> dict[str, Any]:
        found: dict[str, Any] = status_of(pod, "main").get("state", {}).get("waiting") or {}
        return found

    pulled = cluster.wait_pod(ns, "no-image", lambda p: waiting(p).get("reason") in (
        "ErrImagePull", "ImagePullBackOff"), 60, "an image pull error")
    assert "manifest unknown" in waiting(pulled)["message"], waiting(pulled)
    cluster.wait_pod(ns, "no-image", lambda p: waiting(p).get("reason") == "ImagePullBackOff",
                     40, "ImagePullBackOff")
    failed = [e["message"] for e in cluster.events(ns, "no-image") if e["reason"] == "Failed"]
    assert any(missing_image in m for m in failed), failed

    config = cluster.wait_pod(ns, "no-config", lambda p: waiting(p).get("reason") ==
                              "CreateContainerConfigError", 60, "CreateContainerConfigError")
    assert waiting(config)["message"] == 'configmap "absent" not found'
    as_root = cluster.wait_pod(ns, "as-root", lambda p: waiting(p).get("reason") ==
                               "CreateContainerConfigError", 60, "CreateContainerConfigError")
    assert waiting(as_root)["message"].startswith(
        "container has runAsNonRoot and image will run as root"), waiting(as_root)

    cluster.wait_pod(ns, "healthy", is_ready, 60, "Ready")
    assert cluster.kubectl("exec", "-n", ns, "healthy", "--", "cat",
                           "/www/index.html").stdout == INDEX_HTML
    node = cluster.json("get", "node", cluster.node)
    ready = [c for c in node["status"]["conditions"] if c["type"] == "Ready"]
    assert ready[0]["status"] == "True"
    assert cluster.agent is not None and cluster.agent.poll() is None
    # the missing ConfigMap appears: the pod starts without being recreated
    cluster.kubectl("create", "configmap", "absent", "-n", ns, "--from-literal=color=red")
    cluster.wait_pod(ns, "no-config", is_ready, 40, "Ready once the ConfigMap exists")
    assert cluster.kubectl("exec", "-n", ns, "no-config", "--", "sh", "-c",
                           "echo $COLOR").stdout == "red\n"


def test_env_dns_and_security_context(cluster: AgentCluster, ns: str) -> None:
    cluster.kubectl("create", "configmap", "env-source", "-n", ns, "--from-literal=color=teal")
    cluster.kubectl("create", "secret", "generic", "env-secret", "-n", ns,
                    "--from-literal=token=t0k3n")
    env = [
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        {"name": "MEMORY_MI", "valueFrom": {"resourceFieldRef": {
            "resource": "limits.memory", "divisor": "1Mi"}}},
        {"name": "COLOR", "valueFrom": {"configMapKeyRef": {"name": "env-source",
                                                            "key": "color"}}},
        {"name": "GREETING", "value": "hello-$(POD_NAME)-$(COLOR)"}]
    main = container("main", IDLE, env=env,
                     envFrom=[{"prefix": "S_", "secretRef": {"name": "env-secret"}}],
                     resources={"limits": {"memory": "64Mi", "cpu": "250m"}},
                     securityContext={"runAsUser": 65534, "runAsGroup": 65534,
                                      "readOnlyRootFilesystem": True,
                                      "allowPrivilegeEscalation": False,
                                      "capabilities": {"drop": ["ALL"]}})
    cluster.apply(pod_manifest("configured", ns, [main], dnsConfig={"options": [
        {"name": "timeout", "value": "2"}]}))
    pod = cluster.wait_pod(ns, "configured", is_ready, 60, "Ready")
    assert pod["status"]["qosClass"] == "Guaranteed"

    def sh(script: str) -> str:
        return cluster.kubectl("exec", "-n", ns, "configured", "--", "sh", "-c",
                               script).stdout

    values = dict(line.split("=", 1) for line in sh("env").splitlines() if "=" in line)
    assert values["POD_NAME"] == "configured" and values["NODE"] == cluster.node
    assert values["POD_IP"] == pod["status"]["podIP"]
    assert values["MEMORY_MI"] == "64" and values["COLOR"] == "teal"
    assert values["GREETING"] == "hello-configured-teal" and values["S_token"] == "t0k3n"
    assert sh("id -u; id -g").split() == ["65534", "65534"]
    assert sh("touch /x 2>/dev/null; echo $?").strip() != "0"  # read-only root
    assert sh("grep CapEff /proc/self/status").split()[1] == "0000000000000000"

    resolv = sh("cat /etc/resolv.conf").splitlines()
    assert "nameserver 10.96.0.10" in resolv
    assert f"search {ns}.svc.cluster.local svc.cluster.local cluster.local" in resolv
    assert any(line.startswith("options") and "ndots:5" in line and "timeout:2" in line
               for line in resolv), resolv
    hosts = sh("cat /etc/hosts")
    assert any(line.split()[:2] == [pod["status"]["podIP"], "configured"]
               for line in hosts.splitlines() if line.strip()), hosts
    # the cgroup limits are the container's resources
    limit = sh("cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || "
               "cat /sys/fs/cgroup/memory.max").strip()
    assert limit == str(64 * 1024 * 1024), limit
