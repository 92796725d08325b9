"""PodTopologySpread: ``DoNotSchedule`` constraints filter nodes whose domain would exceed
``maxSkew`` over the least loaded domain; ``ScheduleAnyway`` constraints score nodes by how
many matching pods their domain already has.

PreFilter counts the matching pods per topology value once per pod (walking the nodes
eligible under ``nodeAffinityPolicy`` / ``nodeTaintsPolicy``); Filter is a dictionary
lookup per constraint. A pod that declares no constraints is scored with upstream's system
defaults (:mod:`kubesmith.scheduler.spreading`: hostname maxSkew 3 and zone maxSkew 5,
both ``ScheduleAnyway``, among the pods of its Services and controller); with those, nodes
missing a zone label are still scored by hostname instead of being ignored.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from kubesmith.scheduler.framework import (
    MAX_NODE_SCORE,
    SKIP,
    CycleState,
    FilterPlugin,
    PreFilterPlugin,
    PreFilterResult,
    PreScorePlugin,
    ScorePlugin,
    Status,
    unresolvable,
    unschedulable,
)
from kubesmith.scheduler.handle import Handle
from kubesmith.scheduler.matching import NO_EXECUTE, NO_SCHEDULE, first_untolerated
from kubesmith.scheduler.nodeinfo import NodeInfo
from kubesmith.scheduler.podinfo import PodInfo, SpreadConstraint
from kubesmith.scheduler.spreading import HOSTNAME_LABEL, default_constraints

ERR_CONSTRAINTS = "node(s) didn't match pod topology spread constraints"
ERR_MISSING_LABEL = ERR_CONSTRAINTS + " (missing required label)"

_PRE_FILTER_KEY = "PreFilterPodTopologySpread"
_PRE_SCORE_KEY = "PreScorePodTopologySpread"
_HARD_TAINTS = frozenset((NO_SCHEDULE, NO_EXECUTE))


def _has_all_keys(node: NodeInfo, constraints: Sequence[SpreadConstraint]) -> bool:
    labels = node.labels
    return all(c.topology_key in labels for c in constraints)


def _included(c: SpreadConstraint, pod: PodInfo, node: NodeInfo) -> bool:
    """Whether ``node`` counts as a domain member under the constraint's node policies."""
    if c.honor_node_affinity and pod.node_affinity is not None and \
            not pod.node_affinity.matches(node.labels, node.name):
        return False
    return not (c.honor_node_taints and node.hard_taints and
                first_untolerated(node.hard_taints, pod.tolerations, _HARD_TAINTS))


def _count_matching(node: NodeInfo, c: SpreadConstraint, namespace: str) -> int:
    matches = c.selector.matches
    return sum(1 for p in node.pods.values()
               if p.namespace == namespace and not p.deleting and matches(p.labels))


class _FilterState:
    """Per hard constraint: topology value -> matching pods (cloned for what-ifs)."""

    __slots__ = ("constraints", "counts")

    def __init__(self, constraints: tuple[SpreadConstraint, ...],
                 counts: list[dict[str, int]]) -> None:
        self.constraints = constraints
        self.counts = counts

    def clone(self) -> _FilterState:
        return _FilterState(self.constraints, [dict(c) for c in self.counts])

    def update(self, pod: PodInfo, other: PodInfo, node: NodeInfo, delta: int) -> None:
        if other.namespace != pod.namespace or not _has_all_keys(node, self.constraints):
            return
        for i, c in enumerate(self.constraints):
            if _included(c, pod, node) and c.selector.matches(other.labels):
                value = node.labels[c.topology_key]
                self.counts[i][value] = self.counts[i].get(value, 0) + delta


class _ScoreState:
    """Per soft constraint: topology value -> matching pods (hostname ones are counted
    per node while scoring), and the constraint's normalizing weight."""

    __slots__ = ("constraints", "counts", "ignored", "weights")

    def __init__(self, constraints: tuple[SpreadConstraint, ...]) -> None:
        self.constraints = constraints
        self.ignored: set[str] = set()
        self.counts: list[dict[str, int]] = [{} for _ in constraints]
        self.weights: list[float] = []


class PodTopologySpread(PreFilterPlugin, FilterPlugin, PreScorePlugin, ScorePlugin):
    """Upstream's PodTopologySpread plugin (explicit and system default constraints)."""

    name = "PodTopologySpread"

    def __init__(self, handle: Handle) -> None:
        self.handle = handle

    # -- filtering ---------------------------------------------------------------------

    def pre_filter(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
                   ) -> PreFilterResult | Status | None:
        """Count matching pods per topology value for the hard constraints."""
        constraints = tuple(c for c in pod.spread_constraints if c.hard)
        if not constraints:
            return SKIP
        counts: list[dict[str, int]] = [{} for _ in constraints]
        for node in nodes:
            if not _has_all_keys(node, constraints):
                continue
            for i, c in enumerate(constraints):
                if not _included(c, pod, node):
                    continue
                value = node.labels[c.topology_key]
                counts[i][value] = counts[i].get(value, 0) + \
                    _count_matching(node, c, pod.namespace)
        state.data[_PRE_FILTER_KEY] = _FilterState(constraints, counts)
        return None

    def add_pod(self, state: CycleState, pod: PodInfo, added: PodInfo, node: NodeInfo
                ) -> None:
        """A simulated pod joins ``node``."""
        s: _FilterState | None = state.data.get(_PRE_FILTER_KEY)
        if s is not None:
            s.update(pod, added, node, 1)

    def remove_pod(self, state: CycleState, pod: PodInfo, removed: PodInfo, node: NodeInfo
                   ) -> None:
        """A simulated pod leaves ``node``."""
        s: _FilterState | None = state.data.get(_PRE_FILTER_KEY)
        if s is not None:
            s.update(pod, removed, node, -1)

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        """``matching in the node's domain + (1 if the pod matches itself) - global
        minimum`` must not exceed ``maxSkew`` for every hard constraint."""
        s: _FilterState | None = state.data.get(_PRE_FILTER_KEY)
        if s is None:
            return None
        for i, c in enumerate(s.constraints):
            value = node.labels.get(c.topology_key)
            if value is None:
                return unresolvable(ERR_MISSING_LABEL)
            domains = s.counts[i]
            minimum = min(domains.values()) if domains else 0
            if len(domains) < c.min_domains:
                minimum = 0
            self_match = 1 if c.selector.matches(pod.labels) else 0
            if domains.get(value, 0) + self_match - minimum > c.max_skew:
                return unschedulable(ERR_CONSTRAINTS)
        return None

    # -- scoring -----------------------------------------------------------------------

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]
                  ) -> Status | None:
        """Count matching pods per topology value of the candidate nodes' domains."""
        own = bool(pod.spread_constraints)
        constraints = tuple(c for c in pod.spread_constraints if not c.hard) if own \
            else default_constraints(pod, self.handle.listers)
        if not constraints:
            return SKIP
        # Only a pod's own constraints need every topology label on a node; the system
        # defaults still spread by hostname over nodes that have no zone.
        require_all = own
        s = _ScoreState(constraints)
        for node in nodes:
            if require_all and not _has_all_keys(node, constraints):
                s.ignored.add(node.name)
                continue
            for i, c in enumerate(constraints):
                if c.topology_key != HOSTNAME_LABEL:
                    s.counts[i].setdefault(node.labels.get(c.topology_key, ""), 0)
        for i, c in enumerate(constraints):
            size = len(nodes) - len(s.ignored) if c.topology_key == HOSTNAME_LABEL \
                else len(s.counts[i])
            s.weights.append(math.log(size + 2))
        if any(s.counts):
            for node in self.handle.cache.node_list:
                if require_all and not _has_all_keys(node, constraints):
                    continue
                for i, c in enumerate(constraints):
                    counts = s.counts[i]
                    value = node.labels.get(c.topology_key, "")
                    if value not in counts or not _included(c, pod, node):
                        continue
                    counts[value] += _count_matching(node, c, pod.namespace)
        state.data[_PRE_SCORE_KEY] = s
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        """Weighted matching-pod counts of the node's domains (lower is better)."""
        s: _ScoreState | None = state.data.get(_PRE_SCORE_KEY)
        if s is None or node.name in s.ignored:
            return 0
        total = 0.0
        for i, c in enumerate(s.constraints):
            value = node.labels.get(c.topology_key)
            if value is None:
                continue
            if c.topology_key == HOSTNAME_LABEL:
                count = _count_matching(node, c, pod.namespace)
            else:
                count = s.counts[i].get(value, 0)
            total += count * s.weights[i] + (c.max_skew - 1)
        return round(total)

    def score_nodes(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]
                    ) -> list[int]:
        """Raw scores, with ignored nodes marked -1 for :meth:`normalize`."""
        s: _ScoreState | None = state.data.get(_PRE_SCORE_KEY)
        ignored = s.ignored if s is not None else set()
        return [-1 if n.name in ignored else self.score(state, pod, n) for n in nodes]

    def normalize(self, state: CycleState, pod: PodInfo, scores: list[int]) -> None:
        """Fewer matching pods scores higher: ``100 * (max + min - s) / max``; ignored
        nodes score 0."""
        valid = [s for s in scores if s >= 0]
        if not valid:
            scores[:] = [0] * len(scores)
            return
        low, high = min(valid), max(valid)
        scores[:] = [0 if s < 0 else MAX_NODE_SCORE if high == 0
                     else MAX_NODE_SCORE * (high + low - s) // high for s in scores]
