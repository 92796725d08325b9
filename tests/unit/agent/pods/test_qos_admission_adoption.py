"""QoS classes, kubelet admission and the adoption plan after an agent restart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kubesmith.agent.pods.admission import admit, rejection_status
from kubesmith.agent.pods.adoption import adopted_pod_ips, newest_sandbox, plan_adoption
from kubesmith.agent.pods.qos import compute_qos, pod_qos
from kubesmith.agent.runtime import spec as rt
from tests.unit.agent.pods.builders import make_pod

Obj = dict[str, Any]


def with_resources(*resources: Obj) -> Obj:
    return make_pod(*({"name": f"c{i}", "image": "x", "resources": r}
                      for i, r in enumerate(resources)), status={})


@pytest.mark.parametrize(("resources", "qos"), [
    (({},), "BestEffort"),
    (({"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1", "memory": "1Gi"}},),
     "Guaranteed"),
    (({"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m",
                                                             "memory": "1Gi"}},), "Burstable"),
    (({"limits": {"cpu": "1"}, "requests": {"cpu": "1"}},), "Burstable"),
    (({"requests": {"memory": "10Mi"}},), "Burstable"),
    (({"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1", "memory": "1Gi"}},
      {}), "Burstable"),
    (({"requests": {"example.com/gpu": "1"}},), "BestEffort"),
])
def test_qos(resources: tuple[Obj, ...], qos: str) -> None:
    assert compute_qos(with_resources(*resources)) == qos


def test_qos_prefers_the_stored_class() -> None:
    pod = with_resources({})
    pod["status"] = {"qosClass": "Burstable"}
    assert pod_qos(pod) == "Burstable"


NODE = {"metadata": {"name": "node-a", "labels": {"kubernetes.io/os": "linux",
                                                  "disk": "ssd"}},
        "spec": {"taints": []},
        "status": {"allocatable": {"cpu": "2", "memory": "1Gi", "pods": "2"}}}


def requesting(cpu: str = "0", memory: str = "0", **spec: Any) -> Obj:
    return make_pod({"name": "app", "image": "x", "resources": {
        "requests": {"cpu": cpu, "memory": memory}}}, **spec)


def test_admission_fits() -> None:
    assert admit(requesting("1"), NODE, [requesting("1")]) is None


@pytest.mark.parametrize(("pod", "others", "reason", "message"), [
    (requesting("1500m"), [requesting("1")], "OutOfcpu",
     "Node didn't have enough resource: cpu, requested: 1500, used: 1000, capacity: 2000"),
    (requesting(memory="2Gi"), [], "OutOfmemory",
     "Node didn't have enough resource: memory, requested: 2147483648, used: 0, "
     "capacity: 1073741824"),
    (requesting(), [requesting(), requesting()], "OutOfpods",
     "Node didn't have enough resource: pods, requested: 1, used: 2, capacity: 2"),
    (requesting(nodeSelector={"disk": "hdd"}), [], "NodeAffinity",
     "Predicate NodeAffinity failed: node(s) didn't match Pod's node affinity/selector"),
])
def test_admission_rejects(pod: Obj, others: list[Obj], reason: str, message: str) -> None:
    rejection = admit(pod, NODE, others)
    assert rejection is not None
    assert (rejection.reason, rejection.message) == (reason, message)
    status = rejection_status(pod, rejection)
    assert status["phase"] == "Failed" and status["message"] == f"Pod was rejected: {message}"


def test_admission_host_ports_and_taints() -> None:
    def with_port(port: int) -> Obj:
        return make_pod({"name": "app", "image": "x", "ports": [
            {"containerPort": 80, "hostPort": port, "protocol": "TCP"}]})
    rejection = admit(with_port(8080), NODE, [with_port(8080)])
    assert rejection is not None and rejection.reason == "NodePorts"
    assert admit(with_port(8081), NODE, [with_port(8080)]) is None
    tainted = {**NODE, "spec": {"taints": [{"key": "k", "effect": "NoExecute"}]}}
    rejection = admit(requesting(), tainted, [])
    assert rejection is not None and rejection.reason == "TaintToleration"
    tolerating = requesting(tolerations=[{"key": "k", "operator": "Exists"}])
    assert admit(tolerating, tainted, []) is None


def container(uid: str, name: str, status: str = rt.RUNNING) -> rt.ContainerState:
    return rt.ContainerState(id=f"{uid}-{name}", status=status, annotations={
        rt.POD_UID: uid, rt.CONTAINER_NAME: name, rt.POD_NAME: "p", rt.POD_NAMESPACE: "ns"})


def sandbox(uid: str, created: float = 1.0) -> rt.Sandbox:
    return rt.Sandbox(id=f"sb-{uid}-{created}", pod_uid=uid, netns_path=Path("/x"),
                      ipc_path=None, uts_path=None, created_at=created)


def test_adoption_maps_runtime_objects_back_to_pods() -> None:
    pods = {"u-1": make_pod(), "u-2": make_pod(status={"phase": "Succeeded"})}
    plan = plan_adoption(pods, [sandbox("u-1"), sandbox("gone")],
                         [container("u-1", "app"), container("u-2", "app", rt.STOPPED),
                          container("gone", "app"), container("gone", "side")])
    assert sorted(plan.adopt) == ["u-1", "u-2"]
    assert [c.id for c in plan.adopt["u-1"].containers] == ["u-1-app"]
    assert [s.id for s in plan.adopt["u-1"].sandboxes] == ["sb-u-1-1.0"]
    assert sorted(plan.orphans) == ["gone"]
    assert len(plan.orphans["gone"].containers) == 2


def test_adopted_sandbox_and_ips() -> None:
    plan = plan_adoption({"u": make_pod()}, [sandbox("u", 1.0), sandbox("u", 5.0)], [])
    newest = newest_sandbox(plan.adopt["u"])
    assert newest is not None and newest.created_at == 5.0
    pod = make_pod(status={"podIPs": [{"ip": "10.244.0.3"}]})
    assert adopted_pod_ips(pod, ["192.168.1.5"]) == ["10.244.0.3"]
    assert adopted_pod_ips(make_pod(hostNetwork=True), ["192.168.1.5"]) == ["192.168.1.5"]
