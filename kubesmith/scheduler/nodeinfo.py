"""Per-node scheduling state (upstream ``framework.NodeInfo``), kept incrementally.

A :class:`NodeInfo` holds the node's allocatable resources and what the pods on it
(bound, or assumed by the scheduler and not yet confirmed by the watch) request, as plain
integers, plus the host ports in use and the pods with (anti-)affinity terms. Adding or
removing a pod adjusts the sums; nothing is recomputed from the pod list, so a filter or a
score is a handful of integer comparisons.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from typing import Any

from kubesmith.api.types import Obj
from kubesmith.scheduler.matching import NO_EXECUTE, NO_SCHEDULE, PREFER_NO_SCHEDULE, Taint
from kubesmith.scheduler.podinfo import HostPort, PodInfo
from kubesmith.scheduler.resources import (
    CPU,
    EPHEMERAL_STORAGE,
    MEMORY,
    PODS,
    is_scalar_resource,
    milli_value,
    value,
)

ANY_IP = "0.0.0.0"

_STATE_IDS: dict[tuple[int, ...], int] = {}
_NEXT_STATE_ID = itertools.count(1)
_MAX_STATE_IDS = 100_000


def state_id(state: tuple[int, ...]) -> int:
    """A small integer naming a node *resource state* (allocatable and requested CPU,
    memory and pods, and the scoring requests).

    Nodes in the same state get the same id, so a filter or score that depends on nothing
    else is computed once per state — typically a handful for hundreds of nodes — and
    compared by an int. Ids are never reused: when the table is reset (to bound it), a
    state seen again gets a fresh id, which only costs a recomputation; equal ids always
    mean equal states.
    """
    found = _STATE_IDS.get(state)
    if found is None:
        if len(_STATE_IDS) >= _MAX_STATE_IDS:
            _STATE_IDS.clear()
        found = _STATE_IDS[state] = next(_NEXT_STATE_ID)
    return found


class NodeInfo:
    """One node and the pods on it (see the module docstring).

    ``node`` is None for a node the scheduler saw pods for but not (yet) the Node itself;
    such nodes are never offered to a pod.
    """

    __slots__ = (
        "alloc_cpu", "alloc_ephemeral", "alloc_memory", "alloc_pods", "alloc_scalar",
        "fields", "free_cpu", "free_memory", "free_pods", "hard_taints", "images", "labels",
        "name",
        "node", "nz_cpu", "nz_memory", "pods",
        "pods_with_affinity", "pods_with_required_anti_affinity", "prefer_taints",
        "req_cpu", "req_ephemeral", "req_memory", "req_scalar", "sig", "taints",
        "unschedulable", "used_ports",
    )

    def __init__(self, name: str, node: Obj | None = None) -> None:
        self.name = name
        self.fields = {"metadata.name": name}
        self.node: Obj | None = None
        self.labels: dict[str, str] = {}
        self.taints: tuple[Taint, ...] = ()
        self.hard_taints: tuple[Taint, ...] = ()
        self.prefer_taints: tuple[Taint, ...] = ()
        self.unschedulable = False
        #: image name (every name an image is known by) -> its size in bytes
        self.images: dict[str, int] = {}
        self.alloc_cpu = self.alloc_memory = self.alloc_ephemeral = self.alloc_pods = 0
        self.alloc_scalar: dict[str, int] = {}
        self.req_cpu = self.req_memory = self.req_ephemeral = 0
        self.req_scalar: dict[str, int] = {}
        self.nz_cpu = self.nz_memory = 0
        self.pods: dict[str, PodInfo] = {}
        # (protocol, port) -> {hostIP: count}
        self.used_ports: dict[tuple[str, int], dict[str, int]] = {}
        self.pods_with_affinity: dict[str, PodInfo] = {}
        self.pods_with_required_anti_affinity: dict[str, PodInfo] = {}
        self.free_cpu = self.free_memory = self.free_pods = 0
        self.sig = 0
        if node is not None:
            self.set_node(node)
        else:
            self._derive()

    def set_node(self, node: Obj) -> None:
        """Take the node's labels, taints, unschedulable flag and allocatable resources."""
        self.node = node
        self.labels = (node.get("metadata") or {}).get("labels") or {}
        spec = node.get("spec") or {}
        self.unschedulable = bool(spec.get("unschedulable"))
        self.taints = tuple(Taint.from_object(t) for t in spec.get("taints") or ())
        self.hard_taints = tuple(t for t in self.taints if t.effect in (NO_SCHEDULE, NO_EXECUTE))
        self.prefer_taints = tuple(t for t in self.taints if t.effect == PREFER_NO_SCHEDULE)
        status = node.get("status") or {}
        self.images = {str(name): int(image.get("sizeBytes") or 0)
                       for image in status.get("images") or () for name in
                       image.get("names") or ()}
        alloc: Mapping[str, Any] = status.get("allocatable") or {}
        self.alloc_cpu = milli_value(alloc.get(CPU))
        self.alloc_memory = value(alloc.get(MEMORY))
        self.alloc_ephemeral = value(alloc.get(EPHEMERAL_STORAGE))
        self.alloc_pods = value(alloc.get(PODS))
        self.alloc_scalar = {k: value(v) for k, v in alloc.items() if is_scalar_resource(k)}
        self._derive()

    def _derive(self) -> None:
        """Recompute what follows from allocatable and requested: the free amounts the
        fit filter compares with, and ``sig`` (see :func:`state_id`)."""
        self.free_cpu = self.alloc_cpu - self.req_cpu
        self.free_memory = self.alloc_memory - self.req_memory
        self.free_pods = self.alloc_pods - len(self.pods)
        self.sig = state_id((self.alloc_cpu, self.alloc_memory, self.alloc_pods,
                             len(self.pods), self.req_cpu, self.req_memory, self.nz_cpu,
                             self.nz_memory))

    # -- pods --------------------------------------------------------------------------

    def add_pod(self, pod: PodInfo) -> None:
        """Count a pod on this node."""
        self.pods[pod.key] = pod
        self._account(pod, 1)

    def remove_pod(self, key: str) -> PodInfo | None:
        """Stop counting the pod ``key``; returns it, or None if it was not here."""
        pod = self.pods.pop(key, None)
        if pod is not None:
            self._account(pod, -1)
        return pod

    def _account(self, pod: PodInfo, sign: int) -> None:
        req = pod.requests
        self.req_cpu += sign * req.milli_cpu
        self.req_memory += sign * req.memory
        self.req_ephemeral += sign * req.ephemeral_storage
        for name, amount in req.scalar.items():
            self.req_scalar[name] = self.req_scalar.get(name, 0) + sign * amount
        self.nz_cpu += sign * pod.non_zero_cpu
        self.nz_memory += sign * pod.non_zero_memory
        if pod.host_ports:
            self._ports(pod.host_ports, sign)
        if pod.has_affinity_terms:
            if sign > 0:
                self.pods_with_affinity[pod.key] = pod
            else:
                self.pods_with_affinity.pop(pod.key, None)
        if pod.anti_affinity:
            if sign > 0:
                self.pods_with_required_anti_affinity[pod.key] = pod
            else:
                self.pods_with_required_anti_affinity.pop(pod.key, None)
        self._derive()

    def _ports(self, ports: Iterable[HostPort], sign: int) -> None:
        for ip, protocol, port in ports:
            ips = self.used_ports.setdefault((protocol, port), {})
            count = ips.get(ip, 0) + sign
            if count > 0:
                ips[ip] = count
            else:
                ips.pop(ip, None)
                if not ips:
                    del self.used_ports[(protocol, port)]

    def port_conflict(self, ports: Iterable[HostPort]) -> bool:
        """Whether any of ``ports`` is taken: same protocol and port, and the same host IP
        or either side bound to every address (0.0.0.0)."""
        for ip, protocol, port in ports:
            ips = self.used_ports.get((protocol, port))
            if ips and (ip == ANY_IP or ANY_IP in ips or ip in ips):
                return True
        return False

    def clone(self) -> NodeInfo:
        """A copy whose pods can be added and removed without touching this one (used to
        simulate preemption and nominated pods)."""
        other = NodeInfo.__new__(NodeInfo)
        for attr in NodeInfo.__slots__:
            setattr(other, attr, getattr(self, attr))
        other.alloc_scalar = self.alloc_scalar
        other.req_scalar = dict(self.req_scalar)
        other.pods = dict(self.pods)
        other.used_ports = {k: dict(v) for k, v in self.used_ports.items()}
        other.pods_with_affinity = dict(self.pods_with_affinity)
        other.pods_with_required_anti_affinity = dict(self.pods_with_required_anti_affinity)
        return other

    def __repr__(self) -> str:
        return f"NodeInfo({self.name}, pods={len(self.pods)})"
