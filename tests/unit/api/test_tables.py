"""Server-side Table printing: columns and cells as kube-apiserver produces them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kubesmith.api.errors import StatusError
from kubesmith.api.tables import (
    DEFAULT_PRINTER,
    JSONPathError,
    build_table,
    compile_jsonpath,
    crd_columns,
    human_duration,
    table_for,
)

NOW = datetime(2026, 1, 10, 12, 0, 0, tzinfo=UTC)


def ago(**delta: float) -> str:
    """An RFC 3339 timestamp ``delta`` before NOW."""
    return (NOW - timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


def meta(name: str, created: str | None = None, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "namespace": "default",
                           "creationTimestamp": created or ago(minutes=5, seconds=12)}
    out.update(extra)
    return out


def cells(group: str, version: str, kind: str, obj: dict[str, Any]) -> list[Any]:
    return table_for(group, version, kind).row(obj, NOW)


def column_names(group: str, version: str, kind: str, priority: int | None = None) -> list[str]:
    return [c["name"] for c in table_for(group, version, kind).column_definitions()
            if priority is None or c["priority"] == priority]


# ---- ages ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        pytest.param(timedelta(seconds=-3), "<invalid>", id="future"),
        pytest.param(timedelta(seconds=-1), "0s", id="skew"),
        pytest.param(timedelta(seconds=0), "0s", id="zero"),
        pytest.param(timedelta(seconds=29.9), "29s", id="truncates-fractions"),
        pytest.param(timedelta(seconds=119), "119s", id="under-two-minutes"),
        pytest.param(timedelta(minutes=5, seconds=12), "5m12s", id="minutes-seconds"),
        pytest.param(timedelta(minutes=7), "7m", id="whole-minutes"),
        pytest.param(timedelta(minutes=179), "179m", id="under-three-hours"),
        pytest.param(timedelta(hours=3, minutes=4), "3h4m", id="hours-minutes"),
        pytest.param(timedelta(hours=8, minutes=59), "8h", id="hours"),
        pytest.param(timedelta(hours=47), "47h", id="under-two-days"),
        pytest.param(timedelta(days=3), "3d", id="days"),
        pytest.param(timedelta(days=7, hours=5), "7d5h", id="days-hours"),
        pytest.param(timedelta(days=400), "400d", id="many-days"),
        pytest.param(timedelta(days=365 * 2 + 5), "2y5d", id="years-days"),
        pytest.param(timedelta(days=365 * 9), "9y", id="years"),
    ],
)
def test_human_duration(delta: timedelta, text: str) -> None:
    assert human_duration(delta) == text


# ---- pods ------------------------------------------------------------------------------


def container_status(name: str, *, ready: bool = True, restarts: int = 0,
                     state: dict[str, Any] | None = None,
                     last: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    out = {"name": name, "ready": ready, "restartCount": restarts,
           "state": state if state is not None else {"running": {"startedAt": ago(hours=1)}},
           **extra}
    if last is not None:
        out["lastState"] = last
    return out


def pod(*statuses: dict[str, Any], containers: int | None = None, phase: str = "Running",
        init: list[dict[str, Any]] | None = None,
        init_statuses: list[dict[str, Any]] | None = None,
        conditions: list[dict[str, Any]] | None = None, **meta_extra: Any) -> dict[str, Any]:
    count = containers if containers is not None else len(statuses)
    status: dict[str, Any] = {"phase": phase, "containerStatuses": list(statuses),
                              "conditions": conditions or [], "podIPs": [{"ip": "10.244.1.7"}]}
    if init_statuses is not None:
        status["initContainerStatuses"] = init_statuses
    return {
        "apiVersion": "v1", "kind": "Pod", "metadata": meta("web", **meta_extra),
        "spec": {"nodeName": "node-1", "initContainers": init or [],
                 "containers": [{"name": f"c{i}", "image": "nginx"} for i in range(count)]},
        "status": status,
    }


READY = [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"}]
CRASH = {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off"}}


@pytest.mark.parametrize(
    ("obj", "ready", "status", "restarts"),
    [
        pytest.param(pod(container_status("c0"), container_status("c1", ready=False,
                                                                     state={"waiting": {}}),
                         conditions=READY),
                     "1/2", "Running", "0", id="one-of-two-ready"),
        pytest.param(pod(container_status("c0", ready=False, restarts=5, state=CRASH,
                                          last={"terminated": {"exitCode": 1,
                                                               "finishedAt": ago(minutes=5)}})),
                     "0/1", "CrashLoopBackOff", "5 (5m ago)", id="crashloop"),
        pytest.param(pod(container_status("c0", restarts=2)), "1/1", "Running", "2",
                     id="restarts-without-last-state"),
        pytest.param(pod(phase="Pending", containers=1), "0/1", "Pending", "0",
                     id="pending-no-statuses"),
        pytest.param(pod(container_status("c0", ready=False, state={"waiting": {
            "reason": "ContainerCreating"}}), phase="Pending"),
                     "0/1", "ContainerCreating", "0", id="container-creating"),
        pytest.param(pod(container_status("c0", ready=False, state={"terminated": {
            "exitCode": 0, "reason": "Completed"}}), phase="Succeeded"),
                     "0/1", "Completed", "0", id="completed"),
        pytest.param(pod(container_status("c0", ready=False, state={"terminated": {
            "exitCode": 2}}), phase="Failed"), "0/1", "ExitCode:2", "0", id="exit-code"),
        pytest.param(pod(container_status("c0", ready=False, state={"terminated": {
            "exitCode": 137, "signal": 9}}), phase="Failed"), "0/1", "Signal:9", "0",
            id="signal"),
        pytest.param(pod(container_status("c0", ready=False, state={"terminated": {
            "exitCode": 0, "reason": "Completed"}}), container_status("c1"),
                         conditions=READY),
                     "1/2", "Running", "0", id="completed-but-another-running"),
        pytest.param(pod(container_status("c0", ready=False, state={"terminated": {
            "exitCode": 0, "reason": "Completed"}}), container_status("c1"),
                         conditions=[{"type": "Ready", "status": "False"}]),
                     "1/2", "NotReady", "0", id="completed-running-not-ready"),
        pytest.param(pod(container_status("c0"), deletionTimestamp=ago(seconds=10)),
                     "1/1", "Terminating", "0", id="terminating"),
        pytest.param(pod(container_status("c0", ready=False, state={"terminated": {
            "exitCode": 0, "reason": "Completed"}}), phase="Succeeded",
                         deletionTimestamp=ago(seconds=10)),
                     "0/1", "Completed", "0", id="terminal-pod-not-terminating"),
        pytest.param(pod(phase="Pending", containers=1, init=[{"name": "i0"}],
                         init_statuses=[container_status("i0", ready=False, state={
                             "running": {}})]),
                     "0/1", "Init:0/1", "0", id="init-running"),
        pytest.param(pod(phase="Pending", containers=1, init=[{"name": "i0"}, {"name": "i1"}],
                         init_statuses=[
                             container_status("i0", ready=False, state={"terminated": {
                                 "exitCode": 0, "reason": "Completed"}}),
                             container_status("i1", ready=False, restarts=3, state=CRASH)]),
                     "0/1", "Init:CrashLoopBackOff", "3", id="init-crashloop"),
        pytest.param(pod(phase="Pending", containers=1, init=[{"name": "i0"}],
                         init_statuses=[container_status("i0", ready=False, state={
                             "terminated": {"exitCode": 3}})]),
                     "0/1", "Init:ExitCode:3", "0", id="init-exit-code"),
        pytest.param(pod(container_status("c0"),
                         init=[{"name": "proxy", "restartPolicy": "Always"}],
                         init_statuses=[container_status("proxy", started=True, restarts=1,
                                                         last={"terminated": {
                                                             "finishedAt": ago(hours=1)}})],
                         conditions=READY),
                     "2/2", "Running", "1 (60m ago)", id="sidecar-counts"),
        pytest.param(pod(phase="Pending", containers=1, conditions=[
            {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]),
                     "0/1", "SchedulingGated", "0", id="scheduling-gated"),
        pytest.param({**pod(container_status("c0")), "status": {
            "phase": "Running", "reason": "NodeLost",
            "containerStatuses": [container_status("c0", ready=False, state={})]},
            "metadata": meta("web", deletionTimestamp=ago(minutes=1))},
                     "0/1", "Unknown", "0", id="node-lost"),
        pytest.param({**pod(phase="Failed", containers=1), "status": {
            "phase": "Failed", "reason": "Evicted"}}, "0/1", "Evicted", "0", id="evicted"),
    ],
)
def test_pod_ready_status_restarts(obj: dict[str, Any], ready: str, status: str,
                                   restarts: str) -> None:
    row = cells("", "v1", "Pod", obj)
    assert row[:5] == ["web", ready, status, restarts, "5m12s"]


def test_pod_wide_cells() -> None:
    obj = pod(container_status("c0"), conditions=[*READY, {"type": "www.example.com/gate",
                                                           "status": "True"}])
    obj["spec"]["readinessGates"] = [{"conditionType": "www.example.com/gate"},
                                     {"conditionType": "other"}]
    assert cells("", "v1", "Pod", obj)[5:] == ["10.244.1.7", "node-1", "<none>", "1/2"]
    bare = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}]}}
    assert cells("", "v1", "Pod", bare) == ["p", "0/1", "", "0", "<unknown>", "<none>",
                                            "<none>", "<none>", "<none>"]


def test_pod_columns() -> None:
    definitions = table_for("", "v1", "Pod").column_definitions()
    assert [(c["name"], c["type"], c["priority"]) for c in definitions] == [
        ("Name", "string", 0), ("Ready", "string", 0), ("Status", "string", 0),
        ("Restarts", "string", 0), ("Age", "string", 0), ("IP", "string", 1),
        ("Node", "string", 1), ("Nominated Node", "string", 1),
        ("Readiness Gates", "string", 1)]
    assert definitions[0]["format"] == "name"
    assert definitions[0]["description"].startswith("Name must be unique within a namespace.")
    assert definitions[4]["description"].startswith("CreationTimestamp is a timestamp")
    assert definitions[6]["description"].startswith("NodeName indicates in which node")


# ---- services, endpoints, ingress --------------------------------------------------------


def service(spec: dict[str, Any], status: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"metadata": meta("svc"), "spec": spec, "status": status or {}}


@pytest.mark.parametrize(
    ("spec", "status", "expected"),
    [
        pytest.param({"type": "ClusterIP", "clusterIP": "10.96.0.10",
                      "clusterIPs": ["10.96.0.10"], "selector": {"k8s-app": "kube-dns"},
                      "ports": [{"port": 53, "protocol": "UDP"},
                                {"port": 53, "protocol": "TCP"}]}, None,
                     ["svc", "ClusterIP", "10.96.0.10", "<none>", "53/UDP,53/TCP", "5m12s",
                      "k8s-app=kube-dns"], id="cluster-ip"),
        pytest.param({"type": "NodePort", "clusterIPs": ["10.96.1.1"],
                      "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"},
                                {"port": 443, "nodePort": 30443}]}, None,
                     ["svc", "NodePort", "10.96.1.1", "<none>", "80:30080/TCP,443:30443/TCP",
                      "5m12s", "<none>"], id="node-port"),
        pytest.param({"type": "LoadBalancer", "clusterIPs": ["10.96.1.2"],
                      "ports": [{"port": 80, "nodePort": 31000, "protocol": "TCP"}]}, None,
                     ["svc", "LoadBalancer", "10.96.1.2", "<pending>", "80:31000/TCP", "5m12s",
                      "<none>"], id="load-balancer-pending"),
        pytest.param({"type": "LoadBalancer", "clusterIPs": ["10.96.1.2"],
                      "externalIPs": ["192.0.2.9"], "ports": []},
                     {"loadBalancer": {"ingress": [
                         {"hostname": "a-very-long-name.elb.example.com"},
                         {"ip": "203.0.113.7"}]}},
                     ["svc", "LoadBalancer", "10.96.1.2",
                      "203.0.113.7,a-very-long-name.elb.example.com,192.0.2.9", "<none>",
                      "5m12s", "<none>"], id="load-balancer-ingress-and-external"),
        pytest.param({"type": "ExternalName", "externalName": "db.example.com"}, None,
                     ["svc", "ExternalName", "<none>", "db.example.com", "<none>", "5m12s",
                      "<none>"], id="external-name"),
        pytest.param({"clusterIP": "None", "ports": [{"port": 5432}]}, None,
                     ["svc", "ClusterIP", "None", "<none>", "5432/TCP", "5m12s", "<none>"],
                     id="headless-defaults"),
        pytest.param({"type": "ClusterIP", "clusterIPs": ["10.96.3.3"],
                      "externalIPs": ["198.51.100.1", "198.51.100.2"]}, None,
                     ["svc", "ClusterIP", "10.96.3.3", "198.51.100.1,198.51.100.2", "<none>",
                      "5m12s", "<none>"], id="external-ips"),
    ],
)
def test_service_cells(spec: dict[str, Any], status: dict[str, Any] | None,
                       expected: list[Any]) -> None:
    assert cells("", "v1", "Service", service(spec, status)) == expected


@pytest.mark.parametrize(
    ("subsets", "text"),
    [
        pytest.param(None, "<none>", id="none"),
        pytest.param([{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}],
                       "ports": [{"port": 8080}]}], "10.0.0.1:8080,10.0.0.2:8080",
                     id="addresses-ports"),
        pytest.param([{"addresses": [{"ip": "10.0.0.1"}]}], "10.0.0.1", id="headless"),
        pytest.param([{"addresses": [{"ip": "fd00::1"}], "ports": [{"port": 80}]}],
                     "[fd00::1]:80", id="ipv6"),
        pytest.param([{"addresses": [{"ip": f"10.0.0.{i}"} for i in range(1, 6)],
                       "ports": [{"port": 80}]}],
                     "10.0.0.1:80,10.0.0.2:80,10.0.0.3:80 + 2 more...", id="more"),
        pytest.param([{"notReadyAddresses": [{"ip": "10.0.0.9"}], "ports": [{"port": 80}]}],
                     "", id="only-not-ready"),
    ],
)
def test_endpoints_cells(subsets: Any, text: str) -> None:
    obj = {"metadata": meta("ep"), "subsets": subsets}
    assert cells("", "v1", "Endpoints", obj) == ["ep", text, "5m12s"]


def test_endpoint_slice_cells() -> None:
    obj = {"metadata": meta("svc-abc"), "addressType": "IPv4",
           "ports": [{"name": "http", "port": 80}, {"name": "named"}, {}, {"port": 9}],
           "endpoints": [{"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.2"]}]}
    assert cells("discovery.k8s.io", "v1", "EndpointSlice", obj) == [
        "svc-abc", "IPv4", "80,named,* + 1 more...", "10.0.0.1,10.0.0.2", "5m12s"]
    empty = {"metadata": meta("e"), "addressType": "IPv6"}
    assert cells("discovery.k8s.io", "v1", "EndpointSlice", empty)[1:4] == [
        "IPv6", "<unset>", "<unset>"]


def test_ingress_cells() -> None:
    obj = {"metadata": meta("ing"),
           "spec": {"ingressClassName": "nginx", "tls": [{"hosts": ["a.example.com"]}],
                    "rules": [{"host": "a.example.com"}, {"host": "b.example.com"}, {},
                              {"host": "c.example.com"}, {"host": "d.example.com"}]},
           "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}]}}}
    assert cells("networking.k8s.io", "v1", "Ingress", obj) == [
        "ing", "nginx", "a.example.com,b.example.com,c.example.com + 2 more...",
        "192.0.2.1", "80, 443", "5m12s"]
    plain = {"metadata": meta("ing2"), "spec": {"rules": [{}]}}
    assert cells("networking.k8s.io", "v1", "Ingress", plain) == [
        "ing2", "<none>", "*", "", "80", "5m12s"]


def test_ingress_class_and_network_policy() -> None:
    ingress_class = {"metadata": meta("nginx"), "spec": {
        "controller": "k8s.io/ingress-nginx",
        "parameters": {"apiGroup": "k8s.example.com", "kind": "IngressParameters",
                       "name": "external-lb"}}}
    assert cells("networking.k8s.io", "v1", "IngressClass", ingress_class) == [
        "nginx", "k8s.io/ingress-nginx", "IngressParameters.k8s.example.com/external-lb",
        "5m12s"]
    policy = {"metadata": meta("deny"), "spec": {"podSelector": {}}}
    assert cells("networking.k8s.io", "v1", "NetworkPolicy", policy) == [
        "deny", "<none>", "5m12s"]
    policy["spec"]["podSelector"] = {"matchLabels": {"role": "db"}}
    assert cells("networking.k8s.io", "v1", "NetworkPolicy", policy)[1] == "role=db"


# ---- workloads -------------------------------------------------------------------------

TEMPLATE = {"metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"},
                                    {"name": "sidecar", "image": "busybox"}],
                     "nodeSelector": {"kubernetes.io/os": "linux"}}}


def test_deployment_cells() -> None:
    obj = {"metadata": meta("web"),
           "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                    "template": TEMPLATE},
           "status": {"replicas": 3, "readyReplicas": 2, "updatedReplicas": 3,
                      "availableReplicas": 2}}
    assert cells("apps", "v1", "Deployment", obj) == [
        "web", "2/3", 3, 2, "5m12s", "nginx,sidecar", "nginx:1.27,busybox", "app=web"]
    assert column_names("apps", "v1", "Deployment", priority=0) == [
        "Name", "Ready", "Up-to-date", "Available", "Age"]
    fresh = {"metadata": meta("new"), "spec": {"template": {"spec": {"containers": []}}}}
    # replicas defaults to 1; an absent selector prints as "" here (not <none>).
    assert cells("apps", "v1", "Deployment", fresh) == ["new", "0/1", 0, 0, "5m12s", "", "",
                                                        ""]


def test_replica_set_daemon_set_stateful_set() -> None:
    rs = {"metadata": meta("web-5d4f"),
          "spec": {"replicas": 2, "template": TEMPLATE, "selector": {
              "matchLabels": {"app": "web", "pod-template-hash": "5d4f"}}},
          "status": {"replicas": 2, "readyReplicas": 1}}
    assert cells("apps", "v1", "ReplicaSet", rs) == [
        "web-5d4f", 2, 2, 1, "5m12s", "nginx,sidecar", "nginx:1.27,busybox",
        "app=web,pod-template-hash=5d4f"]
    ds = {"metadata": meta("agent"),
          "spec": {"template": TEMPLATE, "selector": {"matchExpressions": [
              {"key": "app", "operator": "In", "values": ["web", "agent"]}]}},
          "status": {"desiredNumberScheduled": 3, "currentNumberScheduled": 3,
                     "numberReady": 2, "updatedNumberScheduled": 3, "numberAvailable": 2}}
    assert cells("apps", "v1", "DaemonSet", ds) == [
        "agent", 3, 3, 2, 3, 2, "kubernetes.io/os=linux", "5m12s", "nginx,sidecar",
        "nginx:1.27,busybox", "app in (agent,web)"]
    sts = {"metadata": meta("db"), "spec": {"replicas": 3, "template": TEMPLATE},
           "status": {"readyReplicas": 1}}
    assert cells("apps", "v1", "StatefulSet", sts) == [
        "db", "1/3", "5m12s", "nginx,sidecar", "nginx:1.27,busybox"]


def test_replication_controller_and_revision() -> None:
    rc = {"metadata": meta("legacy"), "spec": {"replicas": 2, "selector": {"app": "web"},
                                               "template": TEMPLATE},
          "status": {"replicas": 2, "readyReplicas": 2}}
    assert cells("", "v1", "ReplicationController", rc) == [
        "legacy", 2, 2, 2, "5m12s", "nginx,sidecar", "nginx:1.27,busybox", "app=web"]
    revision = {"metadata": meta("agent-6b7c", ownerReferences=[
        {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "agent", "controller": True}]),
        "revision": 4}
    assert cells("apps", "v1", "ControllerRevision", revision) == [
        "agent-6b7c", "daemonset.apps/agent", 4, "5m12s"]
    orphan = {"metadata": meta("x"), "revision": 1}
    assert cells("apps", "v1", "ControllerRevision", orphan)[1] == "<none>"


@pytest.mark.parametrize(
    ("spec", "status", "expected"),
    [
        pytest.param({"completions": 1, "parallelism": 1},
                     {"succeeded": 1, "startTime": ago(minutes=5), "completionTime":
                      ago(minutes=4, seconds=48),
                      "conditions": [{"type": "Complete", "status": "True"}]},
                     ["Complete", "1/1", "12s"], id="complete"),
        pytest.param({"completions": 3, "parallelism": 2},
                     {"succeeded": 1, "startTime": ago(minutes=3)},
                     ["Running", "1/3", "3m"], id="running"),
        pytest.param({"parallelism": 4}, {}, ["Running", "0/1 of 4", ""],
                     id="work-queue-not-started"),
        pytest.param({"parallelism": 1}, {"conditions": [
            {"type": "Failed", "status": "True"}]}, ["Failed", "0/1", ""], id="failed"),
        pytest.param({"completions": 1, "suspend": True}, {"conditions": [
            {"type": "Suspended", "status": "True"}]}, ["Suspended", "0/1", ""],
            id="suspended"),
        pytest.param({"completions": 1}, {"conditions": [
            {"type": "FailureTarget", "status": "True"}]}, ["FailureTarget", "0/1", ""],
            id="failure-target"),
    ],
)
def test_job_cells(spec: dict[str, Any], status: dict[str, Any],
                   expected: list[Any]) -> None:
    obj = {"metadata": meta("pi"),
           "spec": {**spec, "template": {"spec": {"containers": [
               {"name": "pi", "image": "perl:5.34"}]}},
               "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "u1"}}},
           "status": status}
    assert cells("batch", "v1", "Job", obj) == [
        "pi", *expected, "5m12s", "pi", "perl:5.34", "batch.kubernetes.io/controller-uid=u1"]


def test_cron_job_cells() -> None:
    obj = {"metadata": meta("hello"),
           "spec": {"schedule": "*/5 * * * *", "suspend": False, "jobTemplate": {"spec": {
               "template": {"spec": {"containers": [{"name": "hello", "image": "busybox"}]}}}}},
           "status": {"active": [{"name": "hello-1"}], "lastScheduleTime": ago(seconds=40)}}
    assert cells("batch", "v1", "CronJob", obj) == [
        "hello", "*/5 * * * *", "<none>", "False", 1, "40s", "5m12s", "hello", "busybox",
        "<none>"]
    obj["spec"]["timeZone"] = "Etc/UTC"
    del obj["spec"]["suspend"]
    obj["status"] = {}
    assert cells("batch", "v1", "CronJob", obj)[1:6] == [
        "*/5 * * * *", "Etc/UTC", "<unset>", 0, "<none>"]


# ---- nodes, namespaces, config, storage ---------------------------------------------------


def test_node_cells() -> None:
    obj = {"metadata": meta("cp-1", labels={"node-role.kubernetes.io/control-plane": "",
                                            "node-role.kubernetes.io/etcd": "",
                                            "kubernetes.io/role": "master"}),
           "spec": {"unschedulable": True},
           "status": {"conditions": [{"type": "MemoryPressure", "status": "False"},
                                     {"type": "Ready", "status": "True"}],
                      "addresses": [{"type": "InternalIP", "address": "192.168.1.10"},
                                    {"type": "Hostname", "address": "cp-1"}],
                      "nodeInfo": {"kubeletVersion": "v1.37.0", "osImage": "Debian 13",
                                   "kernelVersion": "6.12.0",
                                   "containerRuntimeVersion": "runc://1.2"}}}
    assert cells("", "v1", "Node", obj) == [
        "cp-1", "Ready,SchedulingDisabled", "control-plane,etcd,master", "5m12s", "v1.37.0",
        "192.168.1.10", "<none>", "Debian 13", "6.12.0", "runc://1.2"]
    bare = {"metadata": meta("n2"), "status": {"conditions": [
        {"type": "Ready", "status": "Unknown"}]}}
    assert cells("", "v1", "Node", bare) == [
        "n2", "NotReady", "<none>", "5m12s", "", "<none>", "<none>", "<unknown>",
        "<unknown>", "<unknown>"]
    assert cells("", "v1", "Node", {"metadata": meta("n3")})[1] == "Unknown"


@pytest.mark.parametrize(
    ("kind", "obj", "expected"),
    [
        pytest.param("Namespace", {"metadata": meta("prod"), "status": {"phase": "Active"}},
                     ["prod", "Active", "5m12s"], id="namespace"),
        pytest.param("Namespace", {"metadata": meta("old"),
                                   "status": {"phase": "Terminating"}},
                     ["old", "Terminating", "5m12s"], id="namespace-terminating"),
        pytest.param("ConfigMap", {"metadata": meta("cfg"), "data": {"a": "1", "b": "2"},
                                   "binaryData": {"c": "AA=="}}, ["cfg", 3, "5m12s"],
                     id="configmap"),
        pytest.param("Secret", {"metadata": meta("tls"), "type": "kubernetes.io/tls",
                                "data": {"tls.crt": "", "tls.key": ""}},
                     ["tls", "kubernetes.io/tls", 2, "5m12s"], id="secret"),
        pytest.param("ServiceAccount", {"metadata": meta("default")},
                     ["default", 0, "5m12s"], id="serviceaccount"),
        pytest.param("ResourceQuota", {"metadata": meta("quota"), "status": {
            "hard": {"requests.cpu": "2", "limits.memory": "2Gi", "pods": "10",
                     "requests.memory": "1024Mi"},
            "used": {"requests.cpu": "500m", "limits.memory": "512Mi", "pods": "3"}}},
                     ["quota", "pods: 3/10, requests.cpu: 500m/2, requests.memory: 0/1Gi",
                      "limits.memory: 512Mi/2Gi", "5m12s"], id="resourcequota"),
        pytest.param("PersistentVolume", {
            "metadata": meta("pv-1", annotations={
                "volume.beta.kubernetes.io/storage-class": "beta"}),
            "spec": {"capacity": {"storage": "1024Mi"},
                     "accessModes": ["ReadWriteMany", "ReadWriteOnce"],
                     "persistentVolumeReclaimPolicy": "Retain", "storageClassName": "fast",
                     "claimRef": {"namespace": "default", "name": "data"},
                     "volumeMode": "Filesystem"},
            "status": {"phase": "Bound"}},
            ["pv-1", "1Gi", "RWO,RWX", "Retain", "Bound", "default/data", "beta", "<unset>",
             "", "5m12s", "Filesystem"], id="pv"),
        pytest.param("PersistentVolume", {
            "metadata": meta("pv-2", deletionTimestamp=ago(seconds=1)),
            "spec": {"accessModes": ["ReadWriteOncePod"]}, "status": {"phase": "Released",
                                                                       "reason": "x"}},
            ["pv-2", "0", "RWOP", "", "Terminating", "", "", "<unset>", "x", "5m12s",
             "<unset>"], id="pv-terminating"),
        pytest.param("PersistentVolumeClaim", {
            "metadata": meta("data"),
            "spec": {"volumeName": "pv-1", "storageClassName": "fast",
                     "resources": {"requests": {"storage": "1Gi"}}},
            "status": {"phase": "Bound", "capacity": {"storage": "1536Mi"},
                       "accessModes": ["ReadWriteOnce"]}},
            ["data", "Bound", "pv-1", "1536Mi", "RWO", "fast", "<unset>", "5m12s", "<unset>"],
            id="pvc-bound"),
        pytest.param("PersistentVolumeClaim", {
            "metadata": meta("pending"),
            "spec": {"resources": {"requests": {"storage": "1Gi"}}},
            "status": {"phase": "Pending"}},
            ["pending", "Pending", "", "", "", "", "<unset>", "5m12s", "<unset>"],
            id="pvc-pending"),
    ],
)
def test_core_kinds(kind: str, obj: dict[str, Any], expected: list[Any]) -> None:
    assert cells("", "v1", kind, obj) == expected


def test_storage_class_and_lease() -> None:
    default = {"metadata": meta("standard", annotations={
        "storageclass.kubernetes.io/is-default-class": "true"}),
        "provisioner": "rancher.io/local-path", "volumeBindingMode": "WaitForFirstConsumer"}
    assert cells("storage.k8s.io", "v1", "StorageClass", default) == [
        "standard (default)", "rancher.io/local-path", "Delete", "WaitForFirstConsumer",
        False, "5m12s"]
    lease = {"metadata": meta("kube-scheduler"), "spec": {"holderIdentity": "cp-1_abc"}}
    assert cells("coordination.k8s.io", "v1", "Lease", lease) == [
        "kube-scheduler", "cp-1_abc", "5m12s"]


# ---- events ----------------------------------------------------------------------------


def test_core_event_cells() -> None:
    obj = {"metadata": meta("web.17a"), "type": "Warning", "reason": "BackOff",
           "message": "Back-off restarting failed container\n",
           "involvedObject": {"kind": "Pod", "name": "web", "fieldPath": "spec.containers{c}"},
           "source": {"component": "kubelet", "host": "node-1"},
           "firstTimestamp": ago(hours=1), "lastTimestamp": ago(minutes=2), "count": 12}
    assert cells("", "v1", "Event", obj) == [
        "2m", "Warning", "BackOff", "pod/web", "spec.containers{c}", "kubelet, node-1",
        "Back-off restarting failed container", "60m", 12, "web.17a"]
    assert column_names("", "v1", "Event", priority=0) == [
        "Last Seen", "Type", "Reason", "Object", "Message"]


def test_new_style_event_cells() -> None:
    # Created through events.k8s.io: eventTime and series instead of timestamps and count.
    core = {"metadata": meta("e2"), "type": "Normal", "reason": "Scheduled",
            "message": "assigned", "eventTime": "2026-01-10T11:59:29.900000Z",
            "reportingComponent": "default-scheduler", "reportingInstance": "sched-1",
            "involvedObject": {"kind": "Pod", "name": "web"}, "source": {}}
    assert cells("", "v1", "Event", core) == [
        "30s", "Normal", "Scheduled", "pod/web", "", "default-scheduler, sched-1",
        "assigned", "30s", 1, "e2"]
    v1 = {"metadata": meta("e2"), "type": "Normal", "reason": "Scheduled",
          "note": "assigned", "eventTime": "2026-01-10T11:59:29.900000Z",
          "reportingController": "default-scheduler", "reportingInstance": "sched-1",
          "regarding": {"kind": "Pod", "name": "web"},
          "series": {"count": 4, "lastObservedTime": "2026-01-10T11:59:50.000000Z"}}
    assert cells("events.k8s.io", "v1", "Event", v1) == [
        "10s", "Normal", "Scheduled", "pod/web", "", "default-scheduler, sched-1",
        "assigned", "30s", 4, "e2"]
    no_name = {"metadata": meta("e3"), "involvedObject": {"kind": "Node"}}
    assert cells("", "v1", "Event", no_name)[:4] == ["<unknown>", "", "", "node"]


# ---- rbac, policy, scheduling, autoscaling, certificates -----------------------------------


def test_bindings() -> None:
    binding = {"metadata": meta("admins"), "roleRef": {"kind": "ClusterRole",
                                                       "name": "cluster-admin"},
               "subjects": [{"kind": "User", "name": "alice"}, {"kind": "User", "name": "bob"},
                            {"kind": "Group", "name": "ops"},
                            {"kind": "ServiceAccount", "name": "ci", "namespace": "tools"}]}
    expected = ["admins", "ClusterRole/cluster-admin", "5m12s", "alice, bob", "ops",
                "tools/ci"]
    assert cells("rbac.authorization.k8s.io", "v1", "RoleBinding", binding) == expected
    assert cells("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", binding) == expected
    wide = [c for c in table_for("rbac.authorization.k8s.io", "v1",
                                 "ClusterRoleBinding").column_definitions() if c["priority"]]
    assert [c["description"] for c in wide] == [
        "Users in the clusterRoleBinding", "Groups in the clusterRoleBinding",
        "ServiceAccounts in the clusterRoleBinding"]


@pytest.mark.parametrize(
    ("group", "kind"),
    [
        pytest.param("rbac.authorization.k8s.io", "Role", id="role"),
        pytest.param("rbac.authorization.k8s.io", "ClusterRole", id="clusterrole"),
        pytest.param("", "LimitRange", id="limitrange"),
        pytest.param("apiextensions.k8s.io", "CustomResourceDefinition", id="crd"),
        pytest.param("example.com", "Unknown", id="unknown"),
    ],
)
def test_default_printer(group: str, kind: str) -> None:
    printer = table_for(group, "v1", kind)
    assert printer is DEFAULT_PRINTER
    assert [(c["name"], c["type"], c["format"]) for c in printer.column_definitions()] == [
        ("Name", "string", "name"), ("Created At", "date", "")]
    obj = {"metadata": {"name": "view", "creationTimestamp": "2026-01-02T03:04:05Z"}}
    assert printer.row(obj, NOW) == ["view", "2026-01-02T03:04:05Z"]
    assert printer.row({"metadata": {"name": "x"}}, NOW) == ["x", "0001-01-01T00:00:00Z"]


def test_pdb_priority_class_csr() -> None:
    pdb = {"metadata": meta("web"), "spec": {"minAvailable": "50%"},
           "status": {"disruptionsAllowed": 1}}
    assert cells("policy", "v1", "PodDisruptionBudget", pdb) == [
        "web", "50%", "N/A", 1, "5m12s"]
    pdb["spec"] = {"maxUnavailable": 1}
    assert cells("policy", "v1", "PodDisruptionBudget", pdb)[1:3] == ["N/A", "1"]
    pc = {"metadata": meta("high"), "value": 1000000, "globalDefault": False,
          "preemptionPolicy": "PreemptLowerPriority"}
    assert cells("scheduling.k8s.io", "v1", "PriorityClass", pc) == [
        "high", 1000000, False, "5m12s", "PreemptLowerPriority"]
    csr = {"metadata": meta("node-csr"), "spec": {
        "signerName": "kubernetes.io/kube-apiserver-client-kubelet",
        "username": "system:node:n1", "expirationSeconds": 86400},
        "status": {"conditions": [{"type": "Approved", "status": "True"}],
                   "certificate": "LS0t"}}
    assert cells("certificates.k8s.io", "v1", "CertificateSigningRequest", csr) == [
        "node-csr", "5m12s", "kubernetes.io/kube-apiserver-client-kubelet", "system:node:n1",
        "24h", "Approved,Issued"]
    pending = {"metadata": meta("p"), "spec": {}, "status": {"conditions": [
        {"type": "Failed", "status": "True"}]}}
    assert cells("certificates.k8s.io", "v1", "CertificateSigningRequest", pending)[2:] == [
        "<none>", "", "<none>", "Pending,Failed"]


def test_hpa_cells() -> None:
    v2 = {"metadata": meta("web"), "spec": {
        "scaleTargetRef": {"kind": "Deployment", "name": "web"}, "minReplicas": 2,
        "maxReplicas": 10, "metrics": [
            {"type": "Resource", "resource": {"name": "cpu", "target": {
                "type": "Utilization", "averageUtilization": 50}}},
            {"type": "Resource", "resource": {"name": "memory", "target": {
                "type": "AverageValue", "averageValue": "512Mi"}}},
            {"type": "Pods", "pods": {"metric": {"name": "qps"}, "target": {
                "type": "AverageValue", "averageValue": "1k"}}}]},
        "status": {"currentReplicas": 3, "currentMetrics": [
            {"type": "Resource", "resource": {"name": "cpu", "current": {
                "averageUtilization": 37, "averageValue": "120m"}}}]}}
    assert cells("autoscaling", "v2", "HorizontalPodAutoscaler", v2) == [
        "web", "Deployment/web", "cpu: 37%/50%, memory: <unknown>/512Mi + 1 more...", "2",
        10, 3, "5m12s"]
    v1 = {"metadata": meta("api"), "spec": {
        "scaleTargetRef": {"kind": "Deployment", "name": "api"}, "maxReplicas": 5,
        "targetCPUUtilizationPercentage": 80}, "status": {"currentReplicas": 1}}
    assert cells("autoscaling", "v1", "HorizontalPodAutoscaler", v1) == [
        "api", "Deployment/api", "cpu: <unknown>/80%", "<unset>", 5, 1, "5m12s"]
    v1["status"]["currentCPUUtilizationPercentage"] = 12
    assert cells("autoscaling", "v1", "HorizontalPodAutoscaler", v1)[2] == "cpu: 12%/80%"
    no_metrics = {"metadata": meta("x"), "spec": {"scaleTargetRef": {"kind": "StatefulSet",
                                                                     "name": "db"}}}
    assert cells("autoscaling", "v2", "HorizontalPodAutoscaler", no_metrics)[2] == "<none>"


# ---- building the Table ------------------------------------------------------------------


def test_build_table_with_metadata_rows() -> None:
    running = pod(container_status("c0"), conditions=READY)
    done = pod(container_status("c0", ready=False, state={"terminated": {
        "exitCode": 0, "reason": "Completed"}}), phase="Succeeded")
    table = build_table(table_for("", "v1", "Pod"), [running, done], now=NOW,
                        list_meta={"resourceVersion": "42", "continue": "tok"})
    assert table["kind"] == "Table"
    assert table["apiVersion"] == "meta.k8s.io/v1"
    assert table["metadata"] == {"resourceVersion": "42", "continue": "tok"}
    assert [c["name"] for c in table["columnDefinitions"]][:2] == ["Name", "Ready"]
    first, second = table["rows"]
    assert first["cells"][:3] == ["web", "1/1", "Running"]
    assert "conditions" not in first
    assert first["object"] == {"kind": "PartialObjectMetadata",
                               "apiVersion": "meta.k8s.io/v1",
                               "metadata": running["metadata"]}
    assert second["conditions"] == [{"type": "Completed", "status": "True",
                                     "reason": "Succeeded",
                                     "message": "The pod has completed successfully."}]


@pytest.mark.parametrize(
    ("include", "expected"),
    [
        pytest.param("Object", "full", id="object"),
        pytest.param("None", None, id="none"),
        pytest.param("", "partial", id="empty-means-metadata"),
    ],
)
def test_build_table_include_object(include: str, expected: str | None) -> None:
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {}}
    table = build_table(table_for("", "v1", "ConfigMap"), [obj], include_object=include,
                        now=NOW, api_version="meta.k8s.io/v1beta1")
    row = table["rows"][0]
    assert "object" in row
    if expected == "full":
        assert row["object"] == obj
    elif expected == "partial":
        assert row["object"] == {"kind": "PartialObjectMetadata",
                                 "apiVersion": "meta.k8s.io/v1beta1",
                                 "metadata": {"name": "c", "creationTimestamp": None}}
    else:
        assert row["object"] is None


def test_build_table_rejects_unknown_include_object() -> None:
    with pytest.raises(StatusError) as info:
        build_table(DEFAULT_PRINTER, [], include_object="Everything")
    assert (info.value.code, info.value.message) == (
        400, 'unrecognized includeObject value: "Everything"')


def test_build_table_without_headers_and_rows() -> None:
    table = build_table(DEFAULT_PRINTER, [], no_headers=True, now=NOW)
    assert table["columnDefinitions"] is None
    assert table["rows"] == []
    assert table["metadata"] == {}


def test_flow_schemas_are_sorted_by_precedence() -> None:
    schemas = [{"metadata": meta(name), "spec": {"matchingPrecedence": precedence,
                                                 "priorityLevelConfiguration": {"name": "pl"}}}
               for name, precedence in (("b", 1000), ("a", 1000), ("exempt", 1))]
    table = build_table(table_for("flowcontrol.apiserver.k8s.io", "v1", "FlowSchema"),
                        schemas, now=NOW)
    assert [r["cells"][0] for r in table["rows"]] == ["exempt", "a", "b"]
    assert table["rows"][0]["cells"] == ["exempt", "pl", 1, "<none>", "5m12s", "?"]


# ---- custom resources --------------------------------------------------------------------

WIDGET = {
    "apiVersion": "example.com/v1", "kind": "Widget",
    "metadata": {"name": "w1", "creationTimestamp": ago(days=3),
                 "labels": {"app.kubernetes.io/name": "shop"}},
    "spec": {"replicas": 3, "ratio": 0.5, "paused": False, "tags": ["a", "b"],
             "config": {"z": 1, "a": "<x>"}, "big": 1e6, "nothing": None},
    "status": {"conditions": [{"type": "Synced", "status": "False"},
                              {"type": "Ready", "status": "True",
                               "lastTransitionTime": ago(minutes=7)}]},
}


def test_crd_default_columns_are_name_and_age() -> None:
    printer = crd_columns([])
    assert [(c["name"], c["type"]) for c in printer.column_definitions()] == [
        ("Name", "string"), ("Age", "date")]
    assert printer.row(WIDGET, NOW) == ["w1", "3d"]


@pytest.mark.parametrize(
    ("column", "cell"),
    [
        pytest.param({"type": "integer", "jsonPath": ".spec.replicas"}, 3, id="integer"),
        pytest.param({"type": "integer", "jsonPath": ".spec.ratio"}, 0, id="integer-from-float"),
        pytest.param({"type": "number", "jsonPath": ".spec.replicas"}, 3.0, id="number"),
        pytest.param({"type": "boolean", "jsonPath": ".spec.paused"}, False, id="boolean"),
        pytest.param({"type": "boolean", "jsonPath": ".spec.replicas"}, None,
                     id="boolean-wrong-type"),
        pytest.param({"type": "string", "jsonPath": ".spec.replicas"}, "3",
                     id="string-of-int"),
        pytest.param({"type": "string", "jsonPath": ".spec.big"}, "1e+06",
                     id="string-of-float"),
        pytest.param({"type": "string", "jsonPath": ".spec.paused"}, "false",
                     id="string-of-bool"),
        pytest.param({"type": "string", "jsonPath": ".spec.tags"}, '["a","b"]',
                     id="string-of-list"),
        pytest.param({"type": "string", "jsonPath": ".spec.config"},
                     '{"a":"\\u003cx\\u003e","z":1}', id="string-of-map"),
        pytest.param({"type": "string", "jsonPath": ".spec.nothing"}, "<no value>",
                     id="string-of-null"),
        pytest.param({"type": "string", "jsonPath": ".spec.missing"}, None, id="missing"),
        pytest.param({"type": "string",
                      "jsonPath": '.status.conditions[?(@.type=="Ready")].status'}, "True",
                     id="filter"),
        pytest.param({"type": "date",
                      "jsonPath": ".status.conditions[?(@.type=='Ready')].lastTransitionTime"},
                     "7m", id="date"),
        pytest.param({"type": "date", "jsonPath": ".spec.tags[0]"}, "<invalid>",
                     id="date-invalid"),
        pytest.param({"type": "string", "jsonPath": ".spec.tags[5]"}, None,
                     id="index-out-of-range"),
        pytest.param({"type": "string",
                      "jsonPath": ".metadata.labels.app\\.kubernetes\\.io/name"}, "shop",
                     id="escaped-dots"),
        pytest.param({"type": "string",
                      "jsonPath": ".metadata.labels['app.kubernetes.io/name']"}, "shop",
                     id="bracket-key"),
        pytest.param({"type": "string", "jsonPath": ".spec.tags[-1]"}, "b",
                     id="negative-index"),
        pytest.param({"type": "color", "jsonPath": ".spec.replicas"}, None,
                     id="unknown-type"),
    ],
)
def test_crd_column_cells(column: dict[str, Any], cell: Any) -> None:
    printer = crd_columns([{"name": "X", **column}])
    assert printer.row(WIDGET, NOW) == ["w1", cell]


def test_crd_column_definitions() -> None:
    printer = crd_columns([
        {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
        {"name": "Ratio", "type": "number", "format": "float", "priority": 1,
         "description": "How much", "jsonPath": ".spec.ratio"}])
    assert printer.column_definitions() == [
        {"name": "Name", "type": "string", "format": "name",
         "description": table_for("", "v1", "Pod").column_definitions()[0]["description"],
         "priority": 0},
        {"name": "Replicas", "type": "integer", "format": "",
         "description": "Custom resource definition column (in JSONPath format): "
                        ".spec.replicas", "priority": 0},
        {"name": "Ratio", "type": "number", "format": "float", "description": "How much",
         "priority": 1}]
    with pytest.raises(ValueError, match="unrecognized column definition"):
        crd_columns([{"name": "Bad", "type": "string", "jsonPath": ".spec[?(@.x"}])


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        pytest.param(".spec.replicas", [3], id="field"),
        pytest.param("{.spec.replicas}", [3], id="braces"),
        pytest.param("$.spec.tags[*]", ["a", "b"], id="wildcard"),
        pytest.param(".spec.tags[0:1]", ["a"], id="slice"),
        pytest.param(".spec.tags[0,1]", ["a", "b"], id="union"),
        pytest.param("..type", ["Synced", "Ready"], id="recursive"),
        pytest.param(".status.conditions[?(@.status!='True')].type", ["Synced"],
                     id="filter-not-equal"),
        pytest.param(".status.conditions[?(@.lastTransitionTime)].type", ["Ready"],
                     id="filter-exists"),
        pytest.param(".spec.missing.deeper", [], id="missing"),
        pytest.param(".spec.nothing", [None], id="explicit-null"),
    ],
)
def test_jsonpath(expression: str, expected: list[Any]) -> None:
    assert compile_jsonpath(expression).find(WIDGET) == expected


@pytest.mark.parametrize(
    "expression",
    [
        pytest.param(".spec.replicas[0]", id="index-non-list"),
        pytest.param(".spec.config[?(@.a)]", id="filter-non-list"),
        pytest.param(".status.conditions[?(@.status==1)]", id="compare-string-int"),
        pytest.param(".spec.tags[3]", id="out-of-range"),
    ],
)
def test_jsonpath_evaluation_errors(expression: str) -> None:
    with pytest.raises(JSONPathError):
        compile_jsonpath(expression).find(WIDGET)


def test_column_descriptions_come_from_the_api_documentation() -> None:
    from kubesmith.api import schema
    from kubesmith.api.tables._descriptions import description

    pod_spec = schema.definitions()["io.k8s.api.core.v1.PodSpec"]["properties"]
    assert description("core/v1.PodSpec.nodeName") == pod_spec["nodeName"]["description"]
    # A type of a version no longer served resolves to the served one.
    assert description("extensions/v1beta1.IngressSpec.rules") != ""
    assert description("core/v1.NoSuchType.field") == ""
