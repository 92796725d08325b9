"""TaintToleration: ``NoSchedule`` / ``NoExecute`` taints the pod does not tolerate rule a
node out; untolerated ``PreferNoSchedule`` taints lower its score."""

from __future__ import annotations

from kubesmith.scheduler.framework import (
    SKIP,
    CycleState,
    FilterPlugin,
    PreScorePlugin,
    ScorePlugin,
    Status,
    default_normalize,
    unresolvable,
)
from kubesmith.scheduler.handle import Handle
from kubesmith.scheduler.matching import (
    NO_EXECUTE,
    NO_SCHEDULE,
    PREFER_NO_SCHEDULE,
    Toleration,
    first_untolerated,
    tolerated,
)
from kubesmith.scheduler.nodeinfo import NodeInfo
from kubesmith.scheduler.podinfo import PodInfo

# Since 1.35 upstream no longer names the taint: keys and values may be sensitive.
ERR_REASON = "node(s) had untolerated taint(s)"
_HARD = frozenset((NO_SCHEDULE, NO_EXECUTE))
_STATE_KEY = "PreScoreTaintToleration"


class TaintToleration(FilterPlugin, PreScorePlugin, ScorePlugin):
    """Upstream's TaintToleration plugin."""

    name = "TaintToleration"

    def __init__(self, handle: Handle) -> None:
        self.handle = handle

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        """Reject a node with a hard taint the pod does not tolerate."""
        if node.hard_taints and first_untolerated(node.hard_taints, pod.tolerations, _HARD):
            return unresolvable(ERR_REASON)
        return None

    def filter_nodes(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]
                     ) -> list[NodeInfo]:
        """Batch form of :meth:`filter`: untainted nodes pass without a call."""
        if not self.handle.cache.hard_tainted_nodes:
            return nodes
        tolerations = pod.tolerations
        return [n for n in nodes if not n.hard_taints
                or first_untolerated(n.hard_taints, tolerations, _HARD) is None]

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]
                  ) -> Status | None:
        """Keep the tolerations that can apply to PreferNoSchedule taints; skip scoring
        when no candidate node has such a taint (every node would score the same)."""
        if not self.handle.cache.prefer_tainted_nodes or \
                not any(n.prefer_taints for n in nodes):
            return SKIP
        state.data[_STATE_KEY] = tuple(t for t in pod.tolerations
                                       if t.effect in ("", PREFER_NO_SCHEDULE))
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        """How many PreferNoSchedule taints the pod does not tolerate (fewer is better)."""
        tolerations: tuple[Toleration, ...] = state.data.get(_STATE_KEY, ())
        return sum(1 for t in node.prefer_taints if not tolerated(t, tolerations))

    def normalize(self, state: CycleState, pod: PodInfo, scores: list[int]) -> None:
        """Reverse: the node with the most untolerated taints scores 0."""
        default_normalize(scores, reverse=True)
