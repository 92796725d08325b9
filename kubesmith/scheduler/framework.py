"""The scheduling framework: extension points, the plugins that join them, and one
scheduling decision (upstream ``pkg/scheduler/framework`` and ``schedule_one.go``).

A plugin is a class with a ``name`` that subclasses the extension points it joins
(:class:`PreFilterPlugin`, :class:`FilterPlugin`, :class:`ScorePlugin`, ...). The
:class:`Framework` runs them in the profile's order:

1. **PreFilter** computes per-pod state into the :class:`CycleState`, may restrict the
   candidate nodes, may reject the pod outright, or returns ``SKIP`` so its Filter is not
   run for this pod (a pod without host ports never pays for NodePorts).
2. **Filter** over the nodes, starting at a rotating index and stopping once
   ``percentageOfNodesToScore`` worth of feasible nodes are found. Plugins filter a batch
   of nodes at a time (:meth:`FilterPlugin.filter_nodes`), so the common case is a list
   comprehension of integer comparisons per plugin rather than a Python call per plugin
   per node; only when no node fits is every node run through the per-node
   :meth:`FilterPlugin.filter` to explain why (the FailedScheduling message).
3. **PostFilter** (preemption) when nothing fits.
4. **PreScore / Score / NormalizeScore**, each score 0..100 times the plugin's weight;
   the highest total wins, ties broken at random.
5. **Reserve**, then in the binding cycle **PreBind** and **Bind**.

Statuses: ``None`` means success everywhere on the hot path; a :class:`Status` carries a
:class:`Code` and upstream's reason strings.
"""

from __future__ import annotations

import abc
import random
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, ClassVar, Protocol

from kubesmith.scheduler.nodeinfo import NodeInfo
from kubesmith.scheduler.podinfo import PodInfo

MAX_NODE_SCORE = 100
MIN_FEASIBLE_NODES_TO_FIND = 100
MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND = 5


class Code(IntEnum):
    """Upstream's status codes."""

    SUCCESS = 0
    ERROR = 1
    UNSCHEDULABLE = 2
    UNSCHEDULABLE_AND_UNRESOLVABLE = 3
    WAIT = 4
    SKIP = 5
    PENDING = 6


@dataclass(slots=True)
class Status:
    """A non-success result; ``reasons`` are upstream's strings (one per failed check)."""

    code: Code
    reasons: tuple[str, ...] = ()
    plugin: str = ""

    @property
    def message(self) -> str:
        """The reasons joined as upstream's ``Status.Message``."""
        return ", ".join(self.reasons)

    @property
    def rejected(self) -> bool:
        """Unschedulable, with or without a chance that preemption helps."""
        return self.code in (Code.UNSCHEDULABLE, Code.UNSCHEDULABLE_AND_UNRESOLVABLE,
                             Code.PENDING)


def unschedulable(*reasons: str) -> Status:
    """The node does not fit now; preempting pods there might make it fit."""
    return Status(Code.UNSCHEDULABLE, reasons)


def unresolvable(*reasons: str) -> Status:
    """The node does not fit and preemption cannot change that."""
    return Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, reasons)


def error(message: str) -> Status:
    """An internal error (not a scheduling verdict)."""
    return Status(Code.ERROR, (message,))


SKIP = Status(Code.SKIP)


class CycleState:
    """Per-pod, per-cycle data the plugins share (upstream ``CycleState``).

    Values that change when a simulated pod is added or removed (preemption, nominated
    pods) implement ``clone()``; :meth:`clone` copies those and shares the rest.
    """

    __slots__ = ("data", "skip_filter", "skip_score")

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.skip_filter: set[str] = set()
        self.skip_score: set[str] = set()

    def clone(self) -> CycleState:
        """A copy for a what-if evaluation."""
        other = CycleState()
        other.data = {k: (v.clone() if hasattr(v, "clone") else v) for k, v in self.data.items()}
        other.skip_filter = set(self.skip_filter)
        other.skip_score = set(self.skip_score)
        return other


# -- extension points ----------------------------------------------------------------------


class Plugin(abc.ABC):
    """A scheduler plugin; subclass the extension points it joins."""

    name: ClassVar[str]


@dataclass(slots=True)
class PreFilterResult:
    """A PreFilter's restriction of the candidate nodes (None: all nodes)."""

    node_names: frozenset[str] | None = None


class PreFilterPlugin(Plugin):
    """Per-pod precomputation before filtering."""

    @abc.abstractmethod
    def pre_filter(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
                   ) -> PreFilterResult | Status | None:
        """Return None (go on), a :class:`PreFilterResult`, ``SKIP`` (do not run this
        plugin's Filter) or a rejection for the whole pod."""

    def add_pod(self, state: CycleState, pod: PodInfo, added: PodInfo, node: NodeInfo
                ) -> None:
        """PreFilterExtensions: ``added`` was put on ``node`` in a what-if evaluation."""

    def remove_pod(self, state: CycleState, pod: PodInfo, removed: PodInfo, node: NodeInfo
                   ) -> None:
        """PreFilterExtensions: ``removed`` was taken off ``node`` in a what-if evaluation."""


class FilterPlugin(Plugin):
    """Decides whether a pod fits a node."""

    @abc.abstractmethod
    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        """None if ``pod`` fits ``node``, else why not."""

    def by_node_state(self, pod: PodInfo) -> bool:
        """Whether this pod's verdict depends only on the node's resource state
        (``NodeInfo.sig``), so the framework may judge one node per state."""
        return False

    def filter_nodes(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]
                     ) -> list[NodeInfo]:
        """The nodes of ``nodes`` that pass (same verdicts as :meth:`filter`, faster)."""
        check = self.filter
        return [n for n in nodes if check(state, pod, n) is None]


class PostFilterPlugin(Plugin):
    """Runs when no node fits (preemption)."""

    @abc.abstractmethod
    async def post_filter(self, state: CycleState, pod: PodInfo,
                          statuses: dict[str, Status]) -> tuple[str | None, Status | None]:
        """Return (node to nominate or None, status); a None status means success."""


class PreScorePlugin(Plugin):
    """Per-pod precomputation before scoring."""

    @abc.abstractmethod
    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]
                  ) -> Status | None:
        """None to go on, ``SKIP`` to skip this plugin's Score for this pod."""


class ScorePlugin(Plugin):
    """Ranks feasible nodes."""

    #: True when the score depends only on the pod and the node's resource state
    #: (``NodeInfo.sig``) and needs no normalization: the framework then scores each
    #: distinct node state once instead of every node.
    node_state_only: ClassVar[bool] = False

    @abc.abstractmethod
    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        """The raw score of one node."""

    def score_nodes(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]
                    ) -> list[int]:
        """Raw scores of all nodes (same as :meth:`score`, faster)."""
        score = self.score
        return [score(state, pod, n) for n in nodes]

    def normalize(self, state: CycleState, pod: PodInfo, scores: list[int]) -> None:
        """NormalizeScore: bring raw scores into 0..100 in place (default: they are)."""


class ReservePlugin(Plugin):
    """Reserves per-node state for a pod before binding."""

    @abc.abstractmethod
    def reserve(self, state: CycleState, pod: PodInfo, node_name: str) -> Status | None:
        """Reserve; a failure aborts this attempt."""

    @abc.abstractmethod
    def unreserve(self, state: CycleState, pod: PodInfo, node_name: str) -> None:
        """Undo :meth:`reserve` (a later step failed)."""


class PreBindPlugin(Plugin):
    """Work before the binding (provisioning volumes)."""

    @abc.abstractmethod
    async def pre_bind(self, state: CycleState, pod: PodInfo, node_name: str
                       ) -> Status | None:
        """None when done."""


class BindPlugin(Plugin):
    """Binds a pod to a node."""

    @abc.abstractmethod
    async def bind(self, state: CycleState, pod: PodInfo, node_name: str) -> Status | None:
        """None when bound, ``SKIP`` to let the next binder handle it."""


class Nominator(Protocol):
    """Pods nominated to nodes by preemption (the scheduling queue keeps them)."""

    def nominated_pods(self, node_name: str) -> list[PodInfo]:
        """The pods nominated to ``node_name``."""

    def has_nominations(self) -> bool:
        """Whether any pod is nominated anywhere."""


# -- the failure message -------------------------------------------------------------------


@dataclass(slots=True)
class Diagnosis:
    """Why a pod fits nowhere: the per-node statuses and the plugins that rejected it."""

    node_statuses: dict[str, Status] = field(default_factory=dict)
    unschedulable_plugins: set[str] = field(default_factory=set)
    pre_filter_msg: str = ""
    post_filter_msg: str = ""


def fit_error_message(num_all_nodes: int, diagnosis: Diagnosis) -> str:
    """Upstream ``FitError.Error()``: ``0/3 nodes are available: 1 Insufficient cpu, 2
    node(s) didn't match Pod's node affinity/selector.`` plus the PostFilter's message.

    Each distinct reason is counted over the nodes and the ``"<count> <reason>"`` strings are
    sorted as strings, exactly as upstream sorts them.
    """
    msg = f"0/{num_all_nodes} nodes are available:"
    if diagnosis.pre_filter_msg:
        msg += f" {diagnosis.pre_filter_msg}."
    else:
        histogram: Counter[str] = Counter()
        for status in diagnosis.node_statuses.values():
            histogram.update(status.reasons)
        if histogram:
            msg += " " + ", ".join(sorted(f"{n} {r}" for r, n in histogram.items())) + "."
    if diagnosis.post_filter_msg:
        # Preemption's message is itself a FitError ending in "."; since 1.30 upstream
        # avoids the doubled period.
        msg += f" {diagnosis.post_filter_msg.removesuffix('.')}."
    return msg


# -- the framework -------------------------------------------------------------------------


def num_feasible_nodes_to_find(percentage: int | None, num_all_nodes: int) -> int:
    """How many feasible nodes a cycle looks for (upstream ``numFeasibleNodesToFind``):
    all of them below 100 nodes; else ``percentage`` percent, by default the adaptive
    50% - nodes/125 with a floor of 5%, never fewer than 100."""
    if num_all_nodes < MIN_FEASIBLE_NODES_TO_FIND:
        return num_all_nodes
    pct = percentage or 0
    if pct >= 100:
        return num_all_nodes
    if pct <= 0:
        pct = max(50 - num_all_nodes // 125, MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND)
    return max(num_all_nodes * pct // 100, MIN_FEASIBLE_NODES_TO_FIND)


@dataclass(slots=True)
class ScheduleResult:
    """A decision: the node, and how many nodes were evaluated / found feasible."""

    node: str
    evaluated: int
    feasible: int


class FitError(Exception):
    """No node fits the pod; ``diagnosis`` says why."""

    def __init__(self, pod: PodInfo, num_all_nodes: int, diagnosis: Diagnosis) -> None:
        super().__init__(fit_error_message(num_all_nodes, diagnosis))
        self.pod = pod
        self.num_all_nodes = num_all_nodes
        self.diagnosis = diagnosis

    def __str__(self) -> str:
        # Recomputed: the PostFilter message is added after construction.
        return fit_error_message(self.num_all_nodes, self.diagnosis)


class NoNodesAvailable(Exception):
    """The cluster has no nodes at all."""

    def __str__(self) -> str:
        return "no nodes available to schedule pods"


class Framework:
    """One scheduling profile's plugins and the decision algorithm (module docstring)."""

    def __init__(self, plugins: Iterable[Plugin], *, weights: dict[str, int],
                 nominator: Nominator, node_lookup: Callable[[str], NodeInfo | None],
                 percentage_of_nodes_to_score: int | None = None,
                 rng: random.Random | None = None) -> None:
        self.plugins = list(plugins)
        self.pre_filter_plugins = [p for p in self.plugins if isinstance(p, PreFilterPlugin)]
        self.filter_plugins = [p for p in self.plugins if isinstance(p, FilterPlugin)]
        self.post_filter_plugins = [p for p in self.plugins
                                    if isinstance(p, PostFilterPlugin)]
        self.pre_score_plugins = [p for p in self.plugins if isinstance(p, PreScorePlugin)]
        self.score_plugins = [p for p in self.plugins if isinstance(p, ScorePlugin)]
        self.reserve_plugins = [p for p in self.plugins if isinstance(p, ReservePlugin)]
        self.pre_bind_plugins = [p for p in self.plugins if isinstance(p, PreBindPlugin)]
        self.bind_plugins = [p for p in self.plugins if isinstance(p, BindPlugin)]
        self.weights = {p.name: weights.get(p.name, 1) for p in self.score_plugins}
        self.nominator = nominator
        self.node_lookup = node_lookup
        self.percentage_of_nodes_to_score = percentage_of_nodes_to_score
        self.rng = rng or random.Random()
        self.next_start_node_index = 0

    def plugin(self, name: str) -> Plugin | None:
        """The plugin called ``name``."""
        return next((p for p in self.plugins if p.name == name), None)

    # -- filtering ---------------------------------------------------------------------

    def run_pre_filter(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
                       ) -> tuple[frozenset[str] | None, Status | None]:
        """Run every PreFilter; returns the node-name restriction and any rejection."""
        allowed: frozenset[str] | None = None
        restricting: list[str] = []
        for plugin in self.pre_filter_plugins:
            result = plugin.pre_filter(state, pod, nodes)
            if result is None:
                continue
            if isinstance(result, PreFilterResult):
                if result.node_names is not None:
                    restricting.append(plugin.name)
                    allowed = result.node_names if allowed is None \
                        else allowed & result.node_names
                continue
            if result.code == Code.SKIP:
                state.skip_filter.add(plugin.name)
                continue
            result.plugin = plugin.name
            return None, result
        if allowed is not None:
            state.data["prefilter/restricting"] = restricting
        return allowed, None

    def run_filters(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        """All Filters on one node, stopping at the first failure (per-node path)."""
        skip = state.skip_filter
        for plugin in self.filter_plugins:
            if plugin.name in skip:
                continue
            status = plugin.filter(state, pod, node)
            if status is not None:
                status.plugin = plugin.name
                return status
        return None

    def _nominated(self, pod: PodInfo, node: NodeInfo) -> list[PodInfo]:
        return [p for p in self.nominator.nominated_pods(node.name)
                if p.key != pod.key and p.priority >= pod.priority]

    def run_filters_with_nominated(self, state: CycleState, pod: PodInfo, node: NodeInfo
                                   ) -> Status | None:
        """Filters as if the higher-or-equal-priority pods nominated to ``node`` were
        already there (they were promised its space by preemption), then without them
        (a nominated pod may never arrive, so affinity to it must not count)."""
        nominated = self._nominated(pod, node) if self.nominator.has_nominations() else []
        if nominated:
            state_copy = state.clone()
            node_copy = node.clone()
            for other in nominated:
                node_copy.add_pod(other)
                for plugin in self.pre_filter_plugins:
                    plugin.add_pod(state_copy, pod, other, node_copy)
            status = self.run_filters(state_copy, pod, node_copy)
            if status is not None:
                return status
        return self.run_filters(state, pod, node)

    def _filter_batch(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]
                      ) -> list[NodeInfo]:
        skip = state.skip_filter
        if self.nominator.has_nominations():
            # Nodes with nominated pods take the exact per-node path; they are few.
            out: list[NodeInfo] = []
            plain: list[NodeInfo] = []
            for n in nodes:
                if self._nominated(pod, n):
                    if self.run_filters_with_nominated(state, pod, n) is None:
                        out.append(n)
                else:
                    plain.append(n)
            if not out:
                nodes = plain
            else:
                keep = set(map(id, out))
                keep.update(map(id, self._filter_plain(state, pod, plain, skip)))
                return [n for n in nodes if id(n) in keep]
        return self._filter_plain(state, pod, nodes, skip)

    def _filter_plain(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo],
                      skip: set[str]) -> list[NodeInfo]:
        groups: dict[int, NodeInfo] | None = None  # node resource state -> one such node
        for plugin in self.filter_plugins:
            if not nodes:
                break
            if plugin.name in skip:
                continue
            if not plugin.by_node_state(pod):
                nodes = plugin.filter_nodes(state, pod, nodes)
                groups = None
                continue
            # Judge each distinct resource state once (NodeInfo.sig).
            if groups is None:
                groups = {n.sig: n for n in nodes}
            check = plugin.filter
            passing = {sig for sig, rep in groups.items() if check(state, pod, rep) is None}
            if len(passing) != len(groups):
                nodes = [n for n in nodes if n.sig in passing]
                groups = {sig: groups[sig] for sig in passing}
        return nodes

    def find_feasible_nodes(self, state: CycleState, pod: PodInfo, all_nodes: list[NodeInfo]
                            ) -> tuple[list[NodeInfo], Diagnosis]:
        """PreFilter + Filter with sampling (module docstring); raises nothing — an empty
        list comes with a full :class:`Diagnosis`."""
        diagnosis = Diagnosis()
        allowed, status = self.run_pre_filter(state, pod, all_nodes)
        if status is not None:
            if status.code == Code.ERROR:
                raise RuntimeError(status.message)
            diagnosis.pre_filter_msg = status.message
            diagnosis.unschedulable_plugins.add(status.plugin)
            for n in all_nodes:
                diagnosis.node_statuses[n.name] = status
            return [], diagnosis

        # A pod nominated by an earlier preemption tries its node first.
        nominated = pod.nominated_node_name
        if nominated and (allowed is None or nominated in allowed):
            target = self.node_lookup(nominated)
            if target is not None and \
                    self.run_filters_with_nominated(state, pod, target) is None:
                return [target], diagnosis

        candidates = all_nodes
        if allowed is not None:
            # Typically one node (a DaemonSet pod): look the names up, do not scan.
            found = (self.node_lookup(name) for name in sorted(allowed))
            candidates = [n for n in found if n is not None]
        total = len(candidates)
        if not total:
            self._left_out(diagnosis, all_nodes, allowed, state)
            return [], diagnosis
        need = num_feasible_nodes_to_find(self.percentage_of_nodes_to_score, total)
        start = self.next_start_node_index % total
        feasible: list[NodeInfo] = []
        processed = 0
        while processed < total and len(feasible) < need:
            want = need - len(feasible)
            size = min(max(want, 16), total - processed)
            begin = (start + processed) % total
            chunk = candidates[begin:begin + size]
            if len(chunk) < size:
                chunk += candidates[:size - len(chunk)]
            passed = self._filter_batch(state, pod, chunk)
            if len(passed) >= want:
                last = passed[want - 1]
                processed += chunk.index(last) + 1
                feasible.extend(passed[:want])
                break
            feasible.extend(passed)
            processed += size
        if allowed is None:
            self.next_start_node_index = (start + processed) % max(total, 1)
        if not feasible:
            self._left_out(diagnosis, all_nodes, allowed, state)
            self._diagnose(state, pod, candidates, diagnosis)
        return feasible, diagnosis

    @staticmethod
    def _left_out(diagnosis: Diagnosis, all_nodes: list[NodeInfo],
                  allowed: frozenset[str] | None, state: CycleState) -> None:
        """The status of the nodes a PreFilter ruled out by name."""
        if allowed is None:
            return
        plugins = state.data.get("prefilter/restricting") or []
        reason = unresolvable(f"node(s) didn't satisfy plugin(s) [{' '.join(plugins)}]")
        for n in all_nodes:
            if n.name not in allowed:
                diagnosis.node_statuses[n.name] = reason

    def _diagnose(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo],
                  diagnosis: Diagnosis) -> None:
        """Why each node fails (the per-node path), for the FailedScheduling message,
        preemption and requeueing."""
        for n in nodes:
            status = self.run_filters_with_nominated(state, pod, n)
            if status is None:
                continue  # cannot happen without a plugin disagreeing with itself
            diagnosis.node_statuses[n.name] = status
            diagnosis.unschedulable_plugins.add(status.plugin)

    # -- scoring -----------------------------------------------------------------------

    def run_pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]
                      ) -> list[ScorePlugin]:
        """PreScore; returns the Score plugins that take part for this pod."""
        for pre in self.pre_score_plugins:
            status = pre.pre_score(state, pod, nodes)
            if status is not None and status.code == Code.SKIP:
                state.skip_score.add(pre.name)
            elif status is not None:
                raise RuntimeError(f"{pre.name}: {status.message}")
        return [p for p in self.score_plugins if p.name not in state.skip_score]

    def _select_by_node_state(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo],
                              plugins: list[ScorePlugin]) -> NodeInfo:
        """Score and select when every taking-part plugin scores by node resource state
        alone: nodes in the same state (``NodeInfo.sig``) score the same, so each state is
        scored once (usually a handful for hundreds of nodes) — the same totals and the
        same uniform choice among the best as scoring every node."""
        weights = self.weights
        representatives = {n.sig: n for n in nodes}
        totals = {sig: sum(weights[p.name] * p.score(state, pod, rep) for p in plugins)
                  for sig, rep in representatives.items()}
        best = max(totals.values())
        if len(totals) == 1:
            ties = nodes
        else:
            best_sigs = {sig for sig, total in totals.items() if total == best}
            ties = [n for n in nodes if n.sig in best_sigs]
        return ties[0] if len(ties) == 1 else self.rng.choice(ties)

    def select_host(self, nodes: list[NodeInfo], totals: list[int]) -> NodeInfo:
        """The highest total; ties broken uniformly at random (upstream's reservoir
        sampling has the same distribution)."""
        best = max(totals)
        ties = [i for i, t in enumerate(totals) if t == best]
        return nodes[ties[0] if len(ties) == 1 else self.rng.choice(ties)]

    def schedule(self, state: CycleState, pod: PodInfo, all_nodes: list[NodeInfo]
                 ) -> ScheduleResult:
        """One decision (synchronous: no other task can change the cache meanwhile).
        Raises :class:`FitError` or :class:`NoNodesAvailable`."""
        if not all_nodes:
            raise NoNodesAvailable()
        feasible, diagnosis = self.find_feasible_nodes(state, pod, all_nodes)
        if not feasible:
            raise FitError(pod, len(all_nodes), diagnosis)
        if len(feasible) == 1:
            return ScheduleResult(feasible[0].name, len(all_nodes), 1)
        evaluated = len(feasible) + len(diagnosis.node_statuses)
        plugins = self.run_pre_score(state, pod, feasible)
        if all(p.node_state_only for p in plugins):
            chosen = self._select_by_node_state(state, pod, feasible, plugins) if plugins \
                else self.rng.choice(feasible)
            return ScheduleResult(chosen.name, evaluated, len(feasible))
        totals = [0] * len(feasible)
        for plugin in plugins:
            scores = plugin.score_nodes(state, pod, feasible)
            plugin.normalize(state, pod, scores)
            weight = self.weights[plugin.name]
            totals = [t + s * weight for t, s in zip(totals, scores, strict=True)]
        return ScheduleResult(self.select_host(feasible, totals).name, evaluated,
                              len(feasible))

    # -- after the decision ------------------------------------------------------------

    async def run_post_filter(self, state: CycleState, pod: PodInfo, diagnosis: Diagnosis
                              ) -> str | None:
        """Run PostFilters until one succeeds; returns the nominated node (or None) and
        records the last message in ``diagnosis.post_filter_msg``."""
        for plugin in self.post_filter_plugins:
            node, status = await plugin.post_filter(state, pod, diagnosis.node_statuses)
            if status is None or status.code == Code.SUCCESS:
                return node
            if status.message:
                diagnosis.post_filter_msg = status.message
            if status.code != Code.UNSCHEDULABLE:
                break
        return None

    def run_reserve(self, state: CycleState, pod: PodInfo, node_name: str) -> Status | None:
        """Reserve in order; on failure unreserve everything (upstream does all)."""
        for plugin in self.reserve_plugins:
            status = plugin.reserve(state, pod, node_name)
            if status is not None:
                status.plugin = plugin.name
                self.run_unreserve(state, pod, node_name)
                return status
        return None

    def run_unreserve(self, state: CycleState, pod: PodInfo, node_name: str) -> None:
        """Unreserve in reverse order."""
        for plugin in reversed(self.reserve_plugins):
            plugin.unreserve(state, pod, node_name)

    async def run_pre_bind(self, state: CycleState, pod: PodInfo, node_name: str
                           ) -> Status | None:
        """PreBind in order; the first failure stops."""
        for plugin in self.pre_bind_plugins:
            status = await plugin.pre_bind(state, pod, node_name)
            if status is not None and status.code != Code.SKIP:
                status.plugin = plugin.name
                return status
        return None

    async def run_bind(self, state: CycleState, pod: PodInfo, node_name: str
                       ) -> Status | None:
        """The first binder that does not skip binds."""
        for plugin in self.bind_plugins:
            status = await plugin.bind(state, pod, node_name)
            if status is not None and status.code == Code.SKIP:
                continue
            if status is not None:
                status.plugin = plugin.name
            return status
        return error("no bind plugin bound the pod")


def default_normalize(scores: list[int], reverse: bool = False) -> None:
    """Upstream ``helper.DefaultNormalizeScore``: scale to 0..100 by the maximum (reversed:
    100 minus that), in place."""
    highest = max(scores, default=0)
    if highest == 0:
        if reverse:
            scores[:] = [MAX_NODE_SCORE] * len(scores)
        return
    if reverse:
        scores[:] = [MAX_NODE_SCORE - MAX_NODE_SCORE * s // highest for s in scores]
    else:
        scores[:] = [MAX_NODE_SCORE * s // highest for s in scores]

