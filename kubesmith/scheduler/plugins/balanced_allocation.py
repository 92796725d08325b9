"""NodeResourcesBalancedAllocation: prefer nodes whose CPU and memory would be used in
similar proportions after placing the pod."""

from __future__ import annotations

from kubesmith.scheduler.framework import (
    MAX_NODE_SCORE,
    SKIP,
    CycleState,
    PreScorePlugin,
    ScorePlugin,
    Status,
)
from kubesmith.scheduler.nodeinfo import NodeInfo
from kubesmith.scheduler.podinfo import PodInfo


class BalancedAllocation(PreScorePlugin, ScorePlugin):
    """Upstream's NodeResourcesBalancedAllocation (cpu and memory, actual requests)."""

    name = "NodeResourcesBalancedAllocation"
    node_state_only = True

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]
                  ) -> Status | None:
        """A best-effort pod changes no node's balance: skip."""
        if not pod.requests.milli_cpu and not pod.requests.memory:
            return SKIP
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        """``(1 - std) * 100`` of the CPU and memory fractions (each capped at 1); with
        two resources the standard deviation is half their difference."""
        if not node.alloc_cpu or not node.alloc_memory:
            return MAX_NODE_SCORE  # one fraction or none: a deviation of zero
        f_cpu = min((node.req_cpu + pod.requests.milli_cpu) / node.alloc_cpu, 1.0)
        f_mem = min((node.req_memory + pod.requests.memory) / node.alloc_memory, 1.0)
        return int((1 - abs(f_cpu - f_mem) / 2) * MAX_NODE_SCORE)

    def score_nodes(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]
                    ) -> list[int]:
        """Batch form of :meth:`score`, once per distinct node resource state."""
        memo: dict[int, int] = {}
        for n in nodes:
            if n.sig not in memo:
                memo[n.sig] = self.score(state, pod, n)
        return [memo[n.sig] for n in nodes]
