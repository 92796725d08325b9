"""Whether the node accepts a pod the scheduler bound to it (the kubelet's admission).

Checked in upstream's order, the first failure wins: the ``kubernetes.io/os`` label, the OS
field, then the general predicates — resources (pods, cpu, memory, ephemeral-storage and
extended resources against allocatable, given the pods already admitted), node affinity
(``nodeSelector`` and required node affinity), host ports — and last the node's
``NoExecute`` taints. A rejected pod fails with the predicate's reason (``OutOfcpu``,
``OutOfmemory``, ``OutOfpods``, ``NodeAffinity``...) and a message prefixed by
``Pod was rejected: `` (:func:`rejection_status`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from kubesmith.api.types import Obj
from kubesmith.scheduler.matching import NO_EXECUTE, RequiredNodeAffinity, Taint, Toleration
from kubesmith.scheduler.matching import first_untolerated as _first_untolerated
from kubesmith.scheduler.resources import CPU, EPHEMERAL_STORAGE, MEMORY, Resources, pod_requests
from kubesmith.scheduler.resources import value as quantity_value

OS = "linux"
OS_LABEL = "kubernetes.io/os"


@dataclass(frozen=True)
class Rejection:
    """Why a pod is not admitted: the status ``reason`` and the predicate's message."""

    reason: str
    message: str


def _insufficient(name: str, requested: int, used: int, capacity: int) -> Rejection:
    reasons = {CPU: "OutOfcpu", MEMORY: "OutOfmemory",
               EPHEMERAL_STORAGE: "OutOfephemeral-storage", "pods": "OutOfpods"}
    return Rejection(reasons.get(name, f"OutOf{name}"),
                     f"Node didn't have enough resource: {name}, requested: {requested}, "
                     f"used: {used}, capacity: {capacity}")


def _predicate(name: str, description: str) -> Rejection:
    return Rejection(name, f"Predicate {name} failed: {description}")


def _resources(pod: Obj, node: Obj, others: Sequence[Obj]) -> Rejection | None:
    allocatable = (node.get("status") or {}).get("allocatable") or {}
    capacity = Resources.from_list(allocatable)
    max_pods = quantity_value(allocatable.get("pods")) if "pods" in allocatable else 110
    if len(others) + 1 > max_pods:
        return _insufficient("pods", 1, len(others), max_pods)
    wanted = pod_requests(pod.get("spec") or {})
    used = Resources()
    for other in others:
        used.add(pod_requests(other.get("spec") or {}))
    names = [CPU, MEMORY, EPHEMERAL_STORAGE, *sorted(wanted.scalar)]
    for name in names:
        requested = wanted.get(name)
        if requested == 0:
            continue
        if name not in (CPU, MEMORY, EPHEMERAL_STORAGE) and name not in allocatable:
            continue  # extended resources unknown to the node (cluster-level, DRA)
        if requested > capacity.get(name) - used.get(name):
            return _insufficient(name, requested, used.get(name), capacity.get(name))
    return None


def _host_ports(pod: Obj) -> Iterable[tuple[str, str, int]]:
    spec = pod.get("spec") or {}
    containers = [*(spec.get("initContainers") or ()), *(spec.get("containers") or ())]
    for container in containers:
        for port in container.get("ports") or ():
            host_port = int(port.get("hostPort") or 0)
            if host_port > 0:
                yield (str(port.get("protocol") or "TCP"), str(port.get("hostIP") or "0.0.0.0"),
                       host_port)


def _ports_conflict(pod: Obj, others: Sequence[Obj]) -> bool:
    taken = {entry for other in others for entry in _host_ports(other)}
    for protocol, ip, port in _host_ports(pod):
        for t_protocol, t_ip, t_port in taken:
            if protocol == t_protocol and port == t_port and \
                    (ip == t_ip or "0.0.0.0" in (ip, t_ip)):
                return True
    return False


def admit(pod: Obj, node: Obj, others: Sequence[Obj]) -> Rejection | None:
    """None when ``node`` accepts ``pod`` next to the admitted pods ``others``."""
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    labels = (node.get("metadata") or {}).get("labels") or {}
    pod_os = (meta.get("labels") or {}).get(OS_LABEL)
    if pod_os is not None and pod_os != labels.get(OS_LABEL, OS):
        return Rejection("PodOSSelectorNodeLabelDoesNotMatch",
                         "Failed to admit pod as the `kubernetes.io/os` label doesn't match "
                         "node label")
    if (spec.get("os") or {}).get("name") not in (None, OS):
        return Rejection("PodOSNotSupported",
                         "Failed to admit pod as the OS field doesn't match node OS")
    rejected = _resources(pod, node, others)
    if rejected is not None:
        return rejected
    node_name = str((node.get("metadata") or {}).get("name") or "")
    affinity = RequiredNodeAffinity.from_pod_spec(spec)
    if affinity is not None and not affinity.matches(labels, node_name):
        return _predicate("NodeAffinity", "node(s) didn't match Pod's node affinity/selector")
    if spec.get("nodeName") and spec.get("nodeName") != node_name:
        return _predicate("NodeName", "node(s) didn't match the requested node name")
    if _ports_conflict(pod, others):
        return _predicate("NodePorts",
                          "node(s) didn't have free ports for the requested pod ports")
    taints = [Taint.from_object(t) for t in (node.get("spec") or {}).get("taints") or ()]
    tolerations = [Toleration.from_object(t) for t in spec.get("tolerations") or ()]
    if _first_untolerated(taints, tolerations, frozenset({NO_EXECUTE})) is not None:
        return _predicate("TaintToleration", "node(s) had untolerated taint(s)")
    return None


def rejection_status(pod: Obj, rejection: Rejection) -> Obj:
    """The status the kubelet writes for a pod it rejects (the phase is final)."""
    status = dict(pod.get("status") or {})
    status.update(phase="Failed", reason=rejection.reason,
                  message=f"Pod was rejected: {rejection.message}")
    return status
