"""The parts of a Node and its Lease that every kubelet writes the same way, as pure
functions of their inputs: the well-known labels, condition bookkeeping (heartbeat and
transition times) and the node Lease.

The node agent (:mod:`kubesmith.agent.node.registration`) and the simulated hollow nodes
(:mod:`kubesmith.hollow.nodestatus`) both build on these, so a real and a hollow node report
identically wherever upstream's kubelet would.

Heartbeats follow the kubelet with node leases on: conditions keep their
``lastHeartbeatTime`` until one of them changes or ``report_interval`` (the kubelet's
``nodeStatusReportFrequency``, 5 minutes) has passed, so an unchanged status needs no write
and liveness is carried by the Lease alone.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC
from typing import Any

from kubesmith.api.objectmeta import parse_time
from kubesmith.api.types import Obj

KUBELET_PORT = 10250
NODE_LEASE_NAMESPACE = "kube-node-lease"
REPORT_INTERVAL = 300.0
#: Set by the kubelet at registration: volumes are attached by the controller manager.
CONTROLLER_MANAGED_ATTACH_DETACH = "volumes.kubernetes.io/controller-managed-attach-detach"

#: One condition as the kubelet reports it: (type, status, reason, message).
NodeCondition = tuple[str, str, str, str]

MEMORY_OK: NodeCondition = ("MemoryPressure", "False", "KubeletHasSufficientMemory",
                            "kubelet has sufficient memory available")
MEMORY_PRESSURE: NodeCondition = ("MemoryPressure", "True", "KubeletHasInsufficientMemory",
                                  "kubelet has insufficient memory available")
DISK_OK: NodeCondition = ("DiskPressure", "False", "KubeletHasNoDiskPressure",
                          "kubelet has no disk pressure")
DISK_PRESSURE: NodeCondition = ("DiskPressure", "True", "KubeletHasDiskPressure",
                                "kubelet has disk pressure")
PID_OK: NodeCondition = ("PIDPressure", "False", "KubeletHasSufficientPID",
                         "kubelet has sufficient PID available")
PID_PRESSURE: NodeCondition = ("PIDPressure", "True", "KubeletHasInsufficientPID",
                               "kubelet has insufficient PID available")
READY: NodeCondition = ("Ready", "True", "KubeletReady", "kubelet is posting ready status")
#: What a healthy kubelet reports, in upstream's order.
HEALTHY: tuple[NodeCondition, ...] = (MEMORY_OK, DISK_OK, PID_OK, READY)


def well_known_labels(name: str, os: str = "linux", arch: str = "amd64") -> dict[str, str]:
    """The labels every kubelet sets on its Node (and restores on an adopted one)."""
    return {"beta.kubernetes.io/arch": arch, "beta.kubernetes.io/os": os,
            "kubernetes.io/arch": arch, "kubernetes.io/hostname": name,
            "kubernetes.io/os": os}


def _epoch(value: object) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = parse_time(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def conditions_heartbeat_due(conditions: Iterable[Any], now: float,
                             report_interval: float = REPORT_INTERVAL) -> bool:
    """Whether the Ready condition among ``conditions`` has not been heartbeated for
    ``report_interval`` (or never was)."""
    ready = next((c for c in conditions if isinstance(c, dict) and c.get("type") == "Ready"),
                 None)
    beat = _epoch(ready.get("lastHeartbeatTime")) if ready is not None else None
    return beat is None or now - beat >= report_interval


def heartbeat_due(node: Obj, now: float, report_interval: float = REPORT_INTERVAL) -> bool:
    """Whether the Node's status should be written again to refresh its heartbeat."""
    return conditions_heartbeat_due((node.get("status") or {}).get("conditions") or (), now,
                                    report_interval)


def merge_conditions(current: Iterable[Any], wanted: Sequence[NodeCondition], now: float,
                     now_text: str, report_interval: float = REPORT_INTERVAL) -> list[Obj]:
    """The conditions to report: others' conditions (``NetworkUnavailable``...) kept as
    they are, then ours. ``now_text`` is ``now`` as a ``metav1.Time``.

    Heartbeats move to ``now`` only when one of ours changed or the heartbeat is due; a
    condition's ``lastTransitionTime`` moves only when its status did."""
    found = [c for c in current if isinstance(c, dict)]
    previous = {str(c.get("type")): c for c in found}
    changed = any((previous.get(t) or {}).get("status") != s or
                  (previous.get(t) or {}).get("reason") != r or
                  (previous.get(t) or {}).get("message") != m for t, s, r, m in wanted)
    beat = changed or conditions_heartbeat_due(found, now, report_interval)
    ours: list[Obj] = []
    for type_, status, reason, message in wanted:
        before = previous.get(type_) or {}
        transition = before.get("lastTransitionTime") if before.get("status") == status \
            else None
        heartbeat = now_text if beat or not before.get("lastHeartbeatTime") \
            else before["lastHeartbeatTime"]
        ours.append({"type": type_, "status": status, "reason": reason, "message": message,
                     "lastHeartbeatTime": heartbeat,
                     "lastTransitionTime": transition or now_text})
    mine = {c[0] for c in wanted}
    return [c for c in found if c.get("type") not in mine] + ours


def render_status(node: Obj, owned: Mapping[str, Any], conditions: Sequence[NodeCondition],
                  now: float, now_text: str, report_interval: float = REPORT_INTERVAL) -> Obj:
    """``node``'s status with the kubelet's fields replaced by ``owned`` and its
    conditions merged (:func:`merge_conditions`); fields others own are kept. ``node`` is
    not modified; ``owned``'s values are placed as they are (pass objects you will not
    change afterwards)."""
    current: Obj = node.get("status") or {}
    status = copy.deepcopy(current)
    status.update(owned)
    status["conditions"] = merge_conditions(current.get("conditions") or (), conditions, now,
                                            now_text, report_interval)
    return status


def node_lease(name: str, node_uid: str, duration_seconds: int, renew_time: str,
               current: Obj | None = None) -> Obj:
    """The node's Lease renewed at ``renew_time`` (a ``metav1.MicroTime``), owned by its
    Node once the Node's uid is known. ``current`` keeps its metadata, so a PUT is a
    compare-and-swap on its resourceVersion; it is not modified."""
    # Shallow copies of the two levels changed: hollow nodes renew hundreds a second.
    lease: Obj = {**current} if current is not None else {
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": name, "namespace": NODE_LEASE_NAMESPACE}}
    lease["metadata"] = {**lease["metadata"]}
    if node_uid:
        lease["metadata"]["ownerReferences"] = [
            {"apiVersion": "v1", "kind": "Node", "name": name, "uid": node_uid}]
    lease["spec"] = {**(lease.get("spec") or {}), "holderIdentity": name,
                     "leaseDurationSeconds": duration_seconds, "renewTime": renew_time}
    return lease
