"""Node helpers the node controllers share (upstream's ``controller/util/node`` and
``util/taints``): node event references and wording, conditions, the taints the node
controllers own, swapping them with optimistic concurrency, and the zone a node is in.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from typing import Any

from kubesmith.api.types import Obj
from kubesmith.client import ApiError, Client
from kubesmith.client.events import EventRecorder
from kubesmith.client.rest import NODES
from kubesmith.controllers.util import labels_of, meta, now_rfc3339

log = logging.getLogger(__name__)

NO_SCHEDULE = "NoSchedule"
NO_EXECUTE = "NoExecute"

TAINT_NOT_READY = "node.kubernetes.io/not-ready"
TAINT_UNREACHABLE = "node.kubernetes.io/unreachable"
TAINT_UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
TAINT_MEMORY_PRESSURE = "node.kubernetes.io/memory-pressure"
TAINT_DISK_PRESSURE = "node.kubernetes.io/disk-pressure"
TAINT_PID_PRESSURE = "node.kubernetes.io/pid-pressure"
TAINT_NETWORK_UNAVAILABLE = "node.kubernetes.io/network-unavailable"

UNREACHABLE_NO_EXECUTE: dict[str, Any] = {"key": TAINT_UNREACHABLE, "effect": NO_EXECUTE}
NOT_READY_NO_EXECUTE: dict[str, Any] = {"key": TAINT_NOT_READY, "effect": NO_EXECUTE}

#: Which condition status taints a node with which key (TaintNodesByCondition).
CONDITION_TAINTS: dict[str, dict[str, str]] = {
    "Ready": {"False": TAINT_NOT_READY, "Unknown": TAINT_UNREACHABLE},
    "MemoryPressure": {"True": TAINT_MEMORY_PRESSURE},
    "DiskPressure": {"True": TAINT_DISK_PRESSURE},
    "NetworkUnavailable": {"True": TAINT_NETWORK_UNAVAILABLE},
    "PIDPressure": {"True": TAINT_PID_PRESSURE},
}
#: Taint keys that mirror a condition.
CONDITION_TAINT_KEYS = frozenset(k for m in CONDITION_TAINTS.values() for k in m.values())

ZONE_LABEL = "topology.kubernetes.io/zone"
REGION_LABEL = "topology.kubernetes.io/region"
_BETA_ZONE_LABEL = "failure-domain.beta.kubernetes.io/zone"
_BETA_REGION_LABEL = "failure-domain.beta.kubernetes.io/region"

_SWAP_ATTEMPTS = 5


# ---- events ----------------------------------------------------------------------------------

def node_ref(node: Obj) -> Obj:
    """What node events are about: a reference to the Node (kind set, as list items may
    omit it)."""
    m = meta(node)
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": m.get("name", ""), "uid": m.get("uid", "")}}


def record_node_event(recorder: EventRecorder, node: Obj, type_: str, reason: str,
                      text: str) -> None:
    """``Node <name> event: <text>`` (upstream's RecordNodeEvent)."""
    recorder.event(node_ref(node), type_, reason,
                   f"Node {meta(node).get('name')} event: {text}")


def record_node_status_change(recorder: EventRecorder, node: Obj, new_status: str,
                              type_: str = "Normal") -> None:
    """``Node <name> status is now: <status>`` (upstream's RecordNodeStatusChange)."""
    recorder.event(node_ref(node), type_, new_status,
                   f"Node {meta(node).get('name')} status is now: {new_status}")


# ---- conditions and zones --------------------------------------------------------------------

def node_condition(node: Obj, type_: str) -> dict[str, Any] | None:
    """The node's condition of ``type_``, if posted."""
    for cond in (node.get("status") or {}).get("conditions") or ():
        if isinstance(cond, dict) and cond.get("type") == type_:
            return cond
    return None


def zone_key(node: Obj) -> str:
    """The failure zone a node is in (region and zone; empty when unlabelled)."""
    labels = labels_of(node)
    zone = labels.get(ZONE_LABEL, labels.get(_BETA_ZONE_LABEL, ""))
    region = labels.get(REGION_LABEL, labels.get(_BETA_REGION_LABEL, ""))
    if not zone and not region:
        return ""
    # NUL cannot occur in label values, so the key is unambiguous.
    return f"{region}:\x00:{zone}"


# ---- taints ----------------------------------------------------------------------------------

def node_taints(node: Obj) -> list[dict[str, Any]]:
    """``spec.taints``."""
    return [t for t in (node.get("spec") or {}).get("taints") or () if isinstance(t, dict)]


def taint_matches(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Same key and effect (a node has at most one such taint)."""
    return a.get("key") == b.get("key") and a.get("effect") == b.get("effect")


def taint_exists(taints: Sequence[dict[str, Any]], template: dict[str, Any]) -> bool:
    """Whether a taint with the template's key and effect is present."""
    return any(taint_matches(t, template) for t in taints)


def swapped_taints(taints: list[dict[str, Any]], add: Sequence[dict[str, Any]],
                   remove: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """``taints`` without ``remove`` and with ``add`` (an equal taint already there keeps
    its ``timeAdded``; a new one is stamped now)."""
    result = [t for t in taints if not any(taint_matches(t, r) for r in remove)]
    for wanted in add:
        existing = next((t for t in result if taint_matches(t, wanted)), None)
        if existing is not None and existing.get("value", "") == wanted.get("value", ""):
            continue
        stamped = dict(wanted)
        if stamped.get("effect") == NO_EXECUTE:
            stamped["timeAdded"] = now_rfc3339()
        result = [t for t in result if not taint_matches(t, wanted)] + [stamped]
    return result


async def swap_node_taints(client: Client, node: Obj, add: Sequence[dict[str, Any]],
                           remove: Sequence[dict[str, Any]]) -> bool:
    """Add and remove taints on ``node`` (a cached copy) with a resourceVersion-guarded
    patch, re-reading the Node after a conflict. False when it could not be done."""
    name = str(meta(node).get("name"))
    current = node
    for _ in range(_SWAP_ATTEMPTS):
        taints = node_taints(current)
        wanted = swapped_taints(copy.deepcopy(taints), add, remove)
        if wanted == taints:
            return True
        patch = {"metadata": {"resourceVersion": meta(current).get("resourceVersion")},
                 "spec": {"taints": wanted or None}}
        try:
            await client.patch(NODES, name, patch)
            return True
        except ApiError as exc:
            if exc.code == 404:
                return False
            if exc.code != 409:
                log.warning("cannot change taints of node %s: %s", name, exc.message)
                return False
        try:
            current = await client.get(NODES, name)
        except ApiError:
            return False
    log.warning("cannot change taints of node %s: too many conflicts", name)
    return False
