"""NodeResourcesFit: the pod's requests (CPU, memory, ephemeral storage, extended resources,
and one more pod) must fit in what the node has left; scoring prefers the least allocated
node (default) or the most allocated one."""

from __future__ import annotations

from collections.abc import Sequence

from kubesmith.scheduler.framework import (
    MAX_NODE_SCORE,
    CycleState,
    FilterPlugin,
    PreFilterPlugin,
    PreFilterResult,
    ScorePlugin,
    Status,
    unschedulable,
)
from kubesmith.scheduler.nodeinfo import NodeInfo
from kubesmith.scheduler.podinfo import PodInfo

LEAST_ALLOCATED = "LeastAllocated"
MOST_ALLOCATED = "MostAllocated"


def insufficient_resources(pod: PodInfo, node: NodeInfo) -> list[str]:
    """Upstream's reasons, in upstream's order: ``Too many pods``, ``Insufficient cpu``,
    ``Insufficient memory``, ``Insufficient ephemeral-storage``, then extended resources."""
    reasons: list[str] = []
    if len(node.pods) + 1 > node.alloc_pods:
        reasons.append("Too many pods")
    req = pod.requests
    if req.milli_cpu > 0 and req.milli_cpu > node.alloc_cpu - node.req_cpu:
        reasons.append("Insufficient cpu")
    if req.memory > 0 and req.memory > node.alloc_memory - node.req_memory:
        reasons.append("Insufficient memory")
    if req.ephemeral_storage > 0 and \
            req.ephemeral_storage > node.alloc_ephemeral - node.req_ephemeral:
        reasons.append("Insufficient ephemeral-storage")
    for name in sorted(req.scalar):
        amount = req.scalar[name]
        if amount > 0 and amount > node.alloc_scalar.get(name, 0) - node.req_scalar.get(name, 0):
            reasons.append(f"Insufficient {name}")
    return reasons


class NodeResourcesFit(PreFilterPlugin, FilterPlugin, ScorePlugin):
    """Upstream's NodeResourcesFit plugin with the cpu:1, memory:1 scoring resources."""

    name = "NodeResourcesFit"
    node_state_only = True

    def __init__(self, scoring_strategy: str = LEAST_ALLOCATED) -> None:
        if scoring_strategy not in (LEAST_ALLOCATED, MOST_ALLOCATED):
            raise ValueError(f"unsupported scoring strategy {scoring_strategy!r}")
        self.most_allocated = scoring_strategy == MOST_ALLOCATED

    def pre_filter(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
                   ) -> PreFilterResult | Status | None:
        """Requests are precomputed with the PodInfo; nothing to do."""
        return None

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        """Reject a node without room, with every missing resource as a reason."""
        reasons = insufficient_resources(pod, node)
        return unschedulable(*reasons) if reasons else None

    def by_node_state(self, pod: PodInfo) -> bool:
        """CPU, memory and pod count are part of the node resource state; ephemeral
        storage and extended resources are not."""
        return not (pod.requests.ephemeral_storage or pod.requests.scalar)

    def filter_nodes(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]
                     ) -> list[NodeInfo]:
        """Batch form of :meth:`filter` for the usual CPU/memory-only pod."""
        req = pod.requests
        if req.ephemeral_storage or req.scalar:
            return super().filter_nodes(state, pod, nodes)
        cpu, mem = req.milli_cpu, req.memory
        if cpu and mem:
            return [n for n in nodes
                    if n.free_pods > 0 and cpu <= n.free_cpu and mem <= n.free_memory]
        return [n for n in nodes if n.free_pods > 0
                and (not cpu or cpu <= n.free_cpu) and (not mem or mem <= n.free_memory)]

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        """LeastAllocated: the mean free share of CPU and memory after placing the pod,
        counting containers without requests at the scoring defaults; MostAllocated: the
        mean used share."""
        return self._score(pod, node)

    def score_nodes(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]
                    ) -> list[int]:
        """Batch form of :meth:`score`: computed once per distinct node resource state
        (``NodeInfo.sig``) and looked up for the rest."""
        memo: dict[int, int] = {}
        for n in nodes:
            if n.sig not in memo:
                memo[n.sig] = self._score(pod, n)
        return [memo[n.sig] for n in nodes]

    def _score(self, pod: PodInfo, n: NodeInfo) -> int:
        """Upstream's integer math over cpu and memory (weights 1 and 1)."""
        total = weights = 0
        for cap, used in ((n.alloc_cpu, n.nz_cpu + pod.non_zero_cpu),
                          (n.alloc_memory, n.nz_memory + pod.non_zero_memory)):
            if not cap:
                continue  # a resource the node does not have is left out
            if self.most_allocated:
                total += (min(used, cap) * MAX_NODE_SCORE) // cap
            elif used <= cap:
                total += ((cap - used) * MAX_NODE_SCORE) // cap
            weights += 1
        return total // weights if weights else 0
