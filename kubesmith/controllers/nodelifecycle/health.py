"""When the node lifecycle controller last heard from each node.

A node proves it is alive two ways: its kubelet posts status (a new ``lastHeartbeatTime``
on the Ready condition) or renews its Lease in ``kube-node-lease``. The controller records
*its own* clock when it sees either change (``probe``), so clock skew between machines never
matters, and declares the node's conditions Unknown once nothing changed for the grace
period (the longer startup grace for a node that never posted status).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kubesmith.api.types import Obj
from kubesmith.controllers.nodelifecycle.nodes import node_condition
from kubesmith.controllers.util import meta, parse_rfc3339

#: Conditions set Unknown when the kubelet goes silent (NetworkUnavailable is owned by
#: the network plugin / cloud provider, not the kubelet, and left alone).
SILENCED_CONDITIONS = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")


@dataclass(slots=True)
class NodeHealth:
    """What we last saw of a node, on our clock (seconds since the epoch)."""

    probe: float
    ready_transition: float
    ready: dict[str, Any] | None
    lease_renew: datetime | None = None


def _timestamp(value: Any) -> float:
    parsed = parse_rfc3339(value) if isinstance(value, str) else None
    return parsed.timestamp() if parsed is not None else 0.0


def unknown_ready(node: Obj) -> dict[str, Any]:
    """The Ready condition assumed for a node that never posted one."""
    created = meta(node).get("creationTimestamp")
    return {"type": "Ready", "status": "Unknown", "lastHeartbeatTime": created,
            "lastTransitionTime": created}


def observe_status(health: NodeHealth | None, node: Obj, now: float) -> NodeHealth:
    """Update ``health`` with the node's posted Ready condition: a new heartbeat moves the
    probe time to now (and the transition time, if the condition flipped)."""
    current = node_condition(node, "Ready")
    saved = health.ready if health is not None else None
    lease = health.lease_renew if health is not None else None
    if current is None:
        if health is None:
            created = _timestamp(meta(node).get("creationTimestamp")) or now
            return NodeHealth(created, created, None)
        health.ready = None
        return health
    if health is None or saved is None:
        return NodeHealth(now, now, copy.deepcopy(current), lease)
    if saved.get("lastHeartbeatTime") != current.get("lastHeartbeatTime"):
        transition = now if saved.get("lastTransitionTime") != \
            current.get("lastTransitionTime") else health.ready_transition
        return NodeHealth(now, transition, copy.deepcopy(current), lease)
    return health


def observe_lease(health: NodeHealth, lease: Obj | None, now: float) -> None:
    """A renewed Lease moves the probe time to now."""
    if lease is None:
        return
    renewed = parse_rfc3339((lease.get("spec") or {}).get("renewTime"))
    if renewed is None:
        return
    if health.lease_renew is None or health.lease_renew < renewed:
        health.lease_renew = renewed
        health.probe = now


def set_conditions_unknown(node: Obj, now: str) -> None:
    """Mark the kubelet-owned conditions of ``node`` (a private copy) Unknown."""
    status = node.setdefault("status", {})
    conditions: list[dict[str, Any]] = status.setdefault("conditions", [])
    for type_ in SILENCED_CONDITIONS:
        cond = node_condition(node, type_)
        if cond is None:
            conditions.append({
                "type": type_, "status": "Unknown", "reason": "NodeStatusNeverUpdated",
                "message": "Kubelet never posted node status.",
                "lastHeartbeatTime": meta(node).get("creationTimestamp"),
                "lastTransitionTime": now})
        elif cond.get("status") != "Unknown":
            cond.update(status="Unknown", reason="NodeStatusUnknown",
                        message="Kubelet stopped posting node status.",
                        lastTransitionTime=now)
