"""What a hollow node looks like in the API, as pure functions: the Node it registers, the
status it reports and the Lease it renews.

Condition reasons and messages are the kubelet's; the bookkeeping shared with the real node
agent lives in :mod:`kubesmith.agent.node.nodeobjects`. Heartbeats follow the kubelet with
node leases on: the Lease is renewed every few seconds while the Node status is written
only when something in it changed, or every ``report_interval`` (5 min, the kubelet's
``nodeStatusReportFrequency``) to refresh ``lastHeartbeatTime``.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass, field
from typing import Any

from kubesmith.agent.node import nodeobjects
from kubesmith.agent.node.nodeobjects import (
    CONTROLLER_MANAGED_ATTACH_DETACH,
    HEALTHY,
    KUBELET_PORT,
    NODE_LEASE_NAMESPACE,
    REPORT_INTERVAL,
    heartbeat_due,
    well_known_labels,
)
from kubesmith.api.types import Obj
from kubesmith.hollow.clock import api_micro_time, api_time

__all__ = ["CONTAINER_RUNTIME_VERSION", "HOLLOW_LABEL", "KUBELET_PORT", "KUBELET_VERSION",
           "NODE_LEASE_NAMESPACE", "REPORT_INTERVAL", "NodeTemplate", "desired_node_status",
           "heartbeat_due", "new_node", "node_labels", "node_lease"]

KUBELET_VERSION = "v1.37.0-kubesmith-hollow"
CONTAINER_RUNTIME_VERSION = "hollow://1"
HOLLOW_LABEL = ("type", "hollow")


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
    return {**well_known_labels(name), HOLLOW_LABEL[0]: HOLLOW_LABEL[1], **extra}


def new_node(name: str, template: NodeTemplate) -> Obj:
    """The Node a hollow node registers, without its status (see
    :func:`desired_node_status`)."""
    node: Obj = {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": node_labels(name, template.labels),
                     "annotations": {CONTROLLER_MANAGED_ATTACH_DETACH: "true"}},
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


def desired_node_status(node: Obj, template: NodeTemplate, internal_ip: str, now: float,
                        report_interval: float = REPORT_INTERVAL) -> Obj:
    """The status the hollow kubelet reports for ``node``: fields it owns set, others
    (conditions such as ``NetworkUnavailable``, ``volumesAttached``...) kept. Heartbeat and
    transition times are kept unless a condition changed or the heartbeat is due."""
    name = str((node.get("metadata") or {}).get("name") or "")
    resources = _resources(template)
    owned = dict(
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
    return nodeobjects.render_status(node, owned, HEALTHY, now, api_time(now), report_interval)


def node_lease(name: str, node_uid: str, duration_seconds: int, now: float,
               current: Obj | None = None) -> Obj:
    """The node's Lease renewed at ``now`` (``current`` keeps its metadata, so a PUT is a
    compare-and-swap on its resourceVersion)."""
    return nodeobjects.node_lease(name, node_uid, duration_seconds, api_micro_time(now),
                                  current)
