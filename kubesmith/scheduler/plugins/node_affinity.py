"""NodeAffinity: ``spec.nodeSelector`` and required node affinity filter nodes; preferred
node affinity terms add their weight to the nodes they match."""

from __future__ import annotations

from collections.abc import Sequence

from kubesmith.scheduler.framework import (
    SKIP,
    CycleState,
    FilterPlugin,
    PreFilterPlugin,
    PreFilterResult,
    PreScorePlugin,
    ScorePlugin,
    Status,
    default_normalize,
    unresolvable,
)
from kubesmith.scheduler.matching import NodeSelectorTerm
from kubesmith.scheduler.nodeinfo import NodeInfo
from kubesmith.scheduler.podinfo import PodInfo

ERR_REASON = "node(s) didn't match Pod's node affinity/selector"
ERR_REASON_CONFLICT = "pod affinity terms conflict"
_STATE_KEY = "PreScoreNodeAffinity"


class NodeAffinity(PreFilterPlugin, FilterPlugin, PreScorePlugin, ScorePlugin):
    """Upstream's NodeAffinity plugin."""

    name = "NodeAffinity"

    def pre_filter(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
                   ) -> PreFilterResult | Status | None:
        """Skip pods without node constraints; narrow the candidates to the nodes named by
        ``matchFields metadata.name In`` when every term names some (DaemonSet pods)."""
        required = pod.node_affinity
        if required is None:
            return SKIP
        if required.affinity is None or not required.affinity.terms:
            return None
        names: frozenset[str] | None = None
        for term in required.affinity.terms:
            term_names = term.node_names()
            if term_names is None:
                return None  # terms are ORed: this one allows every node
            names = term_names if names is None else names | term_names
        if names is not None and not names:
            return unresolvable(ERR_REASON_CONFLICT)
        return PreFilterResult(names)

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        """Reject a node the pod's selector or required affinity does not match."""
        required = pod.node_affinity
        if required is not None and not required.matches(node.labels, node.name):
            return unresolvable(ERR_REASON)
        return None

    def filter_nodes(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]
                     ) -> list[NodeInfo]:
        """Batch form of :meth:`filter`."""
        required = pod.node_affinity
        if required is None:
            return nodes
        matches = required.matches
        return [n for n in nodes if matches(n.labels, n.name)]

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]
                  ) -> Status | None:
        """Compile the preferred terms; skip scoring when there are none."""
        affinity = (pod.pod.get("spec") or {}).get("affinity") or {}
        preferred = (affinity.get("nodeAffinity") or {}).get(
            "preferredDuringSchedulingIgnoredDuringExecution") or ()
        terms = tuple((NodeSelectorTerm.from_object(p.get("preference") or {}),
                       int(p.get("weight") or 0)) for p in preferred)
        terms = tuple(t for t in terms if t[1])
        if not terms:
            return SKIP
        state.data[_STATE_KEY] = terms
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        """The sum of the weights of the preferred terms the node matches."""
        terms: tuple[tuple[NodeSelectorTerm, int], ...] = state.data.get(_STATE_KEY, ())
        return sum(w for term, w in terms if term.matches(node.labels, node.fields))

    def normalize(self, state: CycleState, pod: PodInfo, scores: list[int]) -> None:
        """Scale by the best node."""
        default_normalize(scores)
