"""InterPodAffinity: required pod affinity / anti-affinity (the pod's own and the existing
pods' anti-affinity towards it) per topology domain, and preferred terms as scores.

PreFilter counts, per ``(topologyKey, value)`` pair, the existing pods that match the new
pod's terms and the existing pods whose anti-affinity matches the new pod; Filter then
only looks up the node's pairs. A pod without terms, in a cluster where no pod has a
required anti-affinity term, skips the plugin entirely.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

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
from kubesmith.scheduler.nodeinfo import NodeInfo
from kubesmith.scheduler.podinfo import AffinityTerm, NamespaceLabels, PodInfo

ERR_EXISTING_ANTI_AFFINITY = "node(s) didn't satisfy existing pods anti-affinity rules"
ERR_AFFINITY = "node(s) didn't match pod affinity rules"
ERR_ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules"
#: Weight of an existing pod's *required* affinity term matching the new pod, in scoring
#: (upstream's hardPodAffinityWeight default).
HARD_POD_AFFINITY_WEIGHT = 1

_PRE_FILTER_KEY = "PreFilterInterPodAffinity"
_PRE_SCORE_KEY = "PreScoreInterPodAffinity"

Pair = tuple[str, str]


class _FilterState:
    """The three counters (cloned for what-if evaluations)."""

    __slots__ = ("affinity", "anti_affinity", "existing_anti_affinity")

    def __init__(self) -> None:
        self.existing_anti_affinity: Counter[Pair] = Counter()
        self.affinity: Counter[Pair] = Counter()
        self.anti_affinity: Counter[Pair] = Counter()

    def clone(self) -> _FilterState:
        other = _FilterState()
        other.existing_anti_affinity = self.existing_anti_affinity.copy()
        other.affinity = self.affinity.copy()
        other.anti_affinity = self.anti_affinity.copy()
        return other


def _bump(counter: Counter[Pair], node: NodeInfo, key: str, delta: int) -> None:
    value = node.labels.get(key)
    if value is not None:
        pair = (key, value)
        counter[pair] += delta
        if counter[pair] == 0:
            del counter[pair]


def _weigh(scores: Counter[Pair], terms: Iterable[tuple[AffinityTerm, int]], target: PodInfo,
           node: NodeInfo, ns_labels: NamespaceLabels) -> None:
    """Add each term's weight to the node's topology pair when the term selects
    ``target`` (a pod on ``node``, or the pod being scheduled)."""
    for term, weight in terms:
        value = node.labels.get(term.topology_key)
        if value is not None and term.matches(target, ns_labels):
            scores[(term.topology_key, value)] += weight


class InterPodAffinity(PreFilterPlugin, FilterPlugin, PreScorePlugin, ScorePlugin):
    """Upstream's InterPodAffinity plugin."""

    name = "InterPodAffinity"

    def __init__(self, handle: Handle) -> None:
        self.handle = handle

    # -- filtering ---------------------------------------------------------------------

    def _matches_all(self, terms: Sequence[AffinityTerm], pod: PodInfo) -> bool:
        ns_labels = self.handle.namespace_labels
        return bool(terms) and all(t.matches(pod, ns_labels) for t in terms)

    def _account(self, state: _FilterState, pod: PodInfo, existing: PodInfo,
                 node: NodeInfo, delta: int) -> None:
        """Count ``existing`` on ``node`` into the counters for the incoming ``pod``."""
        ns_labels = self.handle.namespace_labels
        for term in existing.anti_affinity:
            if term.matches(pod, ns_labels):
                _bump(state.existing_anti_affinity, node, term.topology_key, delta)
        if pod.affinity and self._matches_all(pod.affinity, existing):
            for term in pod.affinity:
                _bump(state.affinity, node, term.topology_key, delta)
        for term in pod.anti_affinity:
            if term.matches(existing, ns_labels):
                _bump(state.anti_affinity, node, term.topology_key, delta)

    def pre_filter(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
                   ) -> PreFilterResult | Status | None:
        """Build the counters (see the module docstring)."""
        cache = self.handle.cache
        own_terms = bool(pod.affinity or pod.anti_affinity)
        if not own_terms and not cache.nodes_with_required_anti_affinity_pods:
            return SKIP
        counts = _FilterState()
        ns_labels = self.handle.namespace_labels
        for name in cache.nodes_with_required_anti_affinity_pods:
            node = cache.node(name)
            if node is None:
                continue
            for existing in node.pods_with_required_anti_affinity.values():
                for term in existing.anti_affinity:
                    if term.matches(pod, ns_labels):
                        _bump(counts.existing_anti_affinity, node, term.topology_key, 1)
        if own_terms:
            for node in nodes:
                for existing in node.pods.values():
                    if pod.affinity and self._matches_all(pod.affinity, existing):
                        for term in pod.affinity:
                            _bump(counts.affinity, node, term.topology_key, 1)
                    for term in pod.anti_affinity:
                        if term.matches(existing, ns_labels):
                            _bump(counts.anti_affinity, node, term.topology_key, 1)
        state.data[_PRE_FILTER_KEY] = counts
        return None

    def add_pod(self, state: CycleState, pod: PodInfo, added: PodInfo, node: NodeInfo
                ) -> None:
        """A simulated pod joins ``node``."""
        counts = state.data.get(_PRE_FILTER_KEY)
        if counts is not None:
            self._account(counts, pod, added, node, 1)

    def remove_pod(self, state: CycleState, pod: PodInfo, removed: PodInfo, node: NodeInfo
                   ) -> None:
        """A simulated pod leaves ``node``."""
        counts = state.data.get(_PRE_FILTER_KEY)
        if counts is not None:
            self._account(counts, pod, removed, node, -1)

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        """Existing pods' anti-affinity, then the pod's affinity, then its anti-affinity."""
        counts: _FilterState | None = state.data.get(_PRE_FILTER_KEY)
        if counts is None:
            return None
        labels = node.labels
        if counts.existing_anti_affinity:
            existing = counts.existing_anti_affinity
            for pair in labels.items():
                if existing.get(pair, 0) > 0:
                    return unschedulable(ERR_EXISTING_ANTI_AFFINITY)
        if pod.affinity:
            pods_exist = True
            for term in pod.affinity:
                value = labels.get(term.topology_key)
                if value is None:
                    return unresolvable(ERR_AFFINITY)
                if counts.affinity.get((term.topology_key, value), 0) <= 0:
                    pods_exist = False
            # The first pod of a group with affinity to itself may go anywhere, as long as
            # no other pod matches and it matches its own terms.
            if not pods_exist and not (not counts.affinity
                                       and self._matches_all(pod.affinity, pod)):
                return unresolvable(ERR_AFFINITY)
        if counts.anti_affinity:
            for term in pod.anti_affinity:
                value = labels.get(term.topology_key)
                if value is not None and \
                        counts.anti_affinity.get((term.topology_key, value), 0) > 0:
                    return unschedulable(ERR_ANTI_AFFINITY)
        return None

    # -- scoring -----------------------------------------------------------------------

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]
                  ) -> Status | None:
        """Sum the weights of matching preferred (and existing pods' required) terms per
        topology pair; skip when there is nothing to weigh."""
        cache = self.handle.cache
        own = bool(pod.preferred_affinity or pod.preferred_anti_affinity)
        if not own and not cache.nodes_with_affinity_pods:
            return SKIP
        ns_labels = self.handle.namespace_labels
        scores: Counter[Pair] = Counter()
        incoming = [*((wt.term, wt.weight) for wt in pod.preferred_affinity),
                    *((wt.term, -wt.weight) for wt in pod.preferred_anti_affinity)]
        visit: Sequence[NodeInfo] = cache.node_list if own else \
            [n for n in (cache.node(name) for name in cache.nodes_with_affinity_pods)
             if n is not None]
        for node in visit:
            existing_pods = node.pods.values() if own else node.pods_with_affinity.values()
            for existing in existing_pods:
                # The new pod's preferences towards the existing pod...
                _weigh(scores, incoming, existing, node, ns_labels)
                if existing.has_affinity_terms:
                    # ... and the existing pod's terms towards the new one (its required
                    # affinity counts with the hard-affinity weight).
                    _weigh(scores, [
                        *((t, HARD_POD_AFFINITY_WEIGHT) for t in existing.affinity),
                        *((wt.term, wt.weight) for wt in existing.preferred_affinity),
                        *((wt.term, -wt.weight) for wt in existing.preferred_anti_affinity),
                    ], pod, node, ns_labels)
        if not scores:
            return SKIP
        state.data[_PRE_SCORE_KEY] = scores
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        """The summed weights of the node's topology pairs."""
        scores: Counter[Pair] = state.data.get(_PRE_SCORE_KEY) or Counter()
        return sum(scores.get(pair, 0) for pair in node.labels.items())

    def normalize(self, state: CycleState, pod: PodInfo, scores: list[int]) -> None:
        """Min-max scaling to 0..100 (all zero when every node scores the same)."""
        if not scores:
            return
        low, high = min(scores), max(scores)
        spread = high - low
        scores[:] = [int(MAX_NODE_SCORE * (s - low) / spread) if spread > 0 else 0
                     for s in scores]
