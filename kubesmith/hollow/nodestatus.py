"""What a hollow node looks like in the API, as pure functions: the Node it registers, the
status it reports and the Lease it renews.

Condition reasons and messages are the kubelet's. Heartbeats follow the kubelet with node
leases on: the Lease is renewed every few seconds while the Node status is written only
when something in it changed, or every ``report_interval`` (5 min, the kubelet's
``nodeStatusReportFrequency``) to refresh ``lastHeartbeatTime``.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass, field
from typing import Any

from kubesmith.api.types import Obj
from kubesmith.hollow.clock import api_micro_time, api_time, parse_api_time

KUBELET_VERSION = "v1.37.0-kubesmith-hollow"
CONTAINER_RUNTIME_VERSION = "hollow://1"
KUBELET_PORT = 10250
NODE_LEASE_NAMESPACE = "kube-node-lease"
HOLLOW_LABEL = ("type", "hollow")
REPORT_INTERVAL = 300.0

# (type, status, reason, message) — what a healthy kubelet reports.
NODE_CONDITIONS: tuple[tuple[str, str, str, str], ...] = (
    ("MemoryPressure", "False", "KubeletHasSufficientMemory",
     "kubelet has sufficient memory available"),
    ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
)
_OWN_CONDITIONS = frozenset(c[0] for c in NODE_CONDITIONS)


@dataclass(frozen=True, slots=True)
class NodeTemplate:
    """What every hollow node of one run reports (its capacity, labels and taints)."""

    cpu: str = "8"
    memory: str = "32Gi"
    pods: int = 110
    ephemeral_storage: str = "100Gi"
    labels: dict[str, str] = field(default_factory=dict)
    taints: list[dict[str, Any]] = field(default_factory=list)


def node_labels(name: str, extra: dict[str, str]) -> dict[str, str]:
    """The kubelet's default labels, ``type=hollow`` and the given ones."""
    return {"beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64", "kubernetes.io/hostname": name,
            "kubernetes.io/os": "linux", HOLLOW_LABEL[0]: HOLLOW_LABEL[1], **extra}


def new_node(name: str, template: NodeTemplate) -> Obj:
    """The Node a hollow node registers, without its status (see
    :func:`desired_node_status`)."""
    node: Obj = {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": node_labels(name, template.labels),
                     "annotations": {
                         "volumes.kubernetes.io/controller-managed-attach-detach": "true"}},
        "spec": {},
    }
    if template.taints:
        node["spec"]["taints"] = copy.deepcopy(template.taints)
    return node


def _stable_uuid(kind: str, name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"kubesmith-hollow/{kind}/{name}"))


def _resources(template: NodeTemplate) -> dict[str, str]:
    return {"cpu": template.cpu, "ephemeral-storage": template.ephemeral_storage,
            "hugepages-1Gi": "0", "hugepages-2Mi": "0", "memory": template.memory,
            "pods": str(template.pods)}


def _heartbeat_due(conditions: dict[str, dict[str, Any]], now: float,
                   report_interval: float) -> bool:
    ready = conditions.get("Ready")
    beat = parse_api_time(ready.get("lastHeartbeatTime")) if ready is not None else None
    return beat is None or now - beat >= report_interval


def heartbeat_due(node: Obj, now: float, report_interval: float = REPORT_INTERVAL) -> bool:
    """Whether the Node's status should be written again to refresh its heartbeat."""
    found = {str(c.get("type")): c for c in (node.get("status") or {}).get("conditions")
             or () if isinstance(c, dict)}
    return _heartbeat_due(found, now, report_interval)


def desired_node_status(node: Obj, template: NodeTemplate, internal_ip: str, now: float,
                        report_interval: float = REPORT_INTERVAL) -> Obj:
    """The status the hollow kubelet reports for ``node``: fields it owns set, others
    (conditions such as ``NetworkUnavailable``, ``volumesAttached``...) kept. Heartbeat and
    transition times are kept unless a condition changed or the heartbeat is due."""
    name = str((node.get("metadata") or {}).get("name") or "")
    current: Obj = node.get("status") or {}
    status = copy.deepcopy(current)
    resources = _resources(template)
    status.update(
        capacity=resources, allocatable=dict(resources),
        addresses=[{"type": "InternalIP", "address": internal_ip},
                   {"type": "Hostname", "address": name}],
        daemonEndpoints={"kubeletEndpoint": {"Port": KUBELET_PORT}},
        nodeInfo={"machineID": _stable_uuid("machine", name).replace("-", ""),
                  "systemUUID": _stable_uuid("system", name),
                  "bootID": _stable_uuid("boot", name),
                  "kernelVersion": "6.1.0-hollow", "osImage": "kubesmith hollow node",
                  "containerRuntimeVersion": CONTAINER_RUNTIME_VERSION,
                  "kubeletVersion": KUBELET_VERSION, "kubeProxyVersion": "",
                  "operatingSystem": "linux", "architecture": "amd64"},
    )
    found = [c for c in current.get("conditions") or () if isinstance(c, dict)]
    previous = {str(c.get("type")): c for c in found}
    changed = any((previous.get(t) or {}).get("status") != s or
                  (previous.get(t) or {}).get("reason") != r or
                  (previous.get(t) or {}).get("message") != m
                  for t, s, r, m in NODE_CONDITIONS)
    beat = changed or _heartbeat_due(previous, now, report_interval)
    ours = []
    for type_, cstatus, reason, message in NODE_CONDITIONS:
        before = previous.get(type_) or {}
        transition = before.get("lastTransitionTime") \
            if before.get("status") == cstatus else None
        ours.append({"type": type_, "status": cstatus, "reason": reason, "message": message,
                     "lastHeartbeatTime": api_time(now) if beat or not
                     before.get("lastHeartbeatTime") else before["lastHeartbeatTime"],
                     "lastTransitionTime": transition or api_time(now)})
    status["conditions"] = [c for c in found if c.get("type") not in _OWN_CONDITIONS] + ours
    return status


def node_lease(name: str, node_uid: str, duration_seconds: int, now: float,
               current: Obj | None = None) -> Obj:
    """The node's Lease renewed at ``now`` (``current`` keeps its metadata, so a PUT is a
    compare-and-swap on its resourceVersion)."""
    # Shallow copies of the two levels changed: this runs hundreds of times a second.
    lease: Obj = {**current} if current is not None else {
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": name, "namespace": NODE_LEASE_NAMESPACE}}
    lease["metadata"] = {**lease["metadata"]}
    if node_uid:
        lease["metadata"]["ownerReferences"] = [
            {"apiVersion": "v1", "kind": "Node", "name": name, "uid": node_uid}]
    lease["spec"] = {**(lease.get("spec") or {}), "holderIdentity": name,
                     "leaseDurationSeconds": duration_seconds,
                     "renewTime": api_micro_time(now)}
    return lease
