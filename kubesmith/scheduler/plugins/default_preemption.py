"""DefaultPreemption: when a pod fits nowhere, evict lower-priority pods from one node so it
fits there, and nominate that node for it (upstream's preemption ``Evaluator``).

1. The pod must be eligible: not ``preemptionPolicy: Never``, and not already waiting for
   victims of an earlier preemption to terminate on its nominated node.
2. Candidates are the nodes that failed with a resolvable status (``Unschedulable``:
   resources, ports, anti-affinity — not a selector or a taint). From a random offset,
   each is dry-run: remove every lower-priority pod, check the pod fits, then give back
   ("reprieve") as many of them as still let it fit, most important first, PDB-protected
   ones before the others. The search stops once enough candidates are found (10% of the
   nodes, at least 100) and one of them violates no PodDisruptionBudget.
3. The best candidate has the fewest PDB violations, then the lowest highest victim
   priority, the lowest priority sum, the fewest victims, the latest start among the
   highest-priority victims.
4. Its victims get a ``DisruptionTarget`` condition (reason ``PreemptionByScheduler``), are
   deleted and get a ``Preempted`` event; lower-priority pods nominated to the node lose
   their nomination. The scheduler then records ``status.nominatedNodeName``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from kubesmith.api.selectors import LabelSelector, SelectorError, label_selector_from_object
from kubesmith.api.types import Obj
from kubesmith.client.rest import PODS, ApiError
from kubesmith.scheduler.framework import (
    Code,
    CycleState,
    Diagnosis,
    PostFilterPlugin,
    Status,
    fit_error_message,
    unresolvable,
    unschedulable,
)
from kubesmith.scheduler.handle import Handle
from kubesmith.scheduler.nodeinfo import NodeInfo
from kubesmith.scheduler.podinfo import PodInfo

log = logging.getLogger(__name__)

NOT_HELPFUL = "Preemption is not helpful for scheduling"
NO_VICTIMS = "No preemption victims found for incoming pod"
NOT_ELIGIBLE_NEVER = "not eligible due to preemptionPolicy=Never."
NOT_ELIGIBLE_TERMINATING = "not eligible due to a terminating pod on the nominated node."
MIN_CANDIDATE_NODES_PERCENTAGE = 10
MIN_CANDIDATE_NODES_ABSOLUTE = 100


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def more_important(a: PodInfo, b: PodInfo) -> bool:
    """Upstream ``MoreImportantPod``: higher priority, then the one running longer."""
    if a.priority != b.priority:
        return a.priority > b.priority
    return a.start_time < b.start_time


def _importance_key(p: PodInfo) -> tuple[int, float]:
    return (-p.priority, p.start_time)


def terminating_by_preemption(pod: PodInfo) -> bool:
    """A pod being deleted because the scheduler preempted it."""
    if not pod.deleting:
        return False
    for cond in (pod.pod.get("status") or {}).get("conditions") or ():
        if cond.get("type") == "DisruptionTarget":
            return bool(cond.get("status") == "True"
                        and cond.get("reason") == "PreemptionByScheduler")
    return False


class Victims:
    """The pods to evict on one node and how many PDBs that violates."""

    __slots__ = ("node", "num_pdb_violations", "pods")

    def __init__(self, node: str, pods: list[PodInfo], num_pdb_violations: int) -> None:
        self.node = node
        self.pods = pods
        self.num_pdb_violations = num_pdb_violations


def split_by_pdb_violation(pods: list[PodInfo], pdbs: list[Obj]
                           ) -> tuple[list[PodInfo], list[PodInfo]]:
    """(pods whose eviction would violate a PodDisruptionBudget, the others), order kept;
    each evicted pod uses up one of its budgets' allowed disruptions."""
    allowed = [int((pdb.get("status") or {}).get("disruptionsAllowed") or 0) for pdb in pdbs]
    selectors: list[LabelSelector | None] = []
    for pdb in pdbs:
        try:
            selectors.append(label_selector_from_object((pdb.get("spec") or {})
                                                        .get("selector")))
        except SelectorError:
            selectors.append(None)
    violating: list[PodInfo] = []
    fine: list[PodInfo] = []
    for pod in pods:
        violated = False
        if pod.labels:
            for i, pdb in enumerate(pdbs):
                meta = pdb.get("metadata") or {}
                selector = selectors[i]
                if meta.get("namespace") != pod.namespace or selector is None or \
                        selector.empty or selector.matches_nothing or \
                        not selector.matches(pod.labels):
                    continue
                disrupted = (pdb.get("status") or {}).get("disruptedPods") or {}
                if pod.name in disrupted:
                    continue  # already counted by the disruption controller
                allowed[i] -= 1
                if allowed[i] < 0:
                    violated = True
        (violating if violated else fine).append(pod)
    return violating, fine


def pick_one_node(candidates: list[Victims]) -> Victims:
    """The best candidate by upstream's ordered criteria (module docstring, step 3)."""
    def earliest_top_start(v: Victims) -> float:
        top = max(p.priority for p in v.pods)
        return min(p.start_time for p in v.pods if p.priority == top)

    criteria: list[Callable[[Victims], float]] = [
        lambda v: -v.num_pdb_violations,
        lambda v: -max(p.priority for p in v.pods),
        lambda v: -sum(p.priority + 2**31 for p in v.pods),
        lambda v: -len(v.pods),
        earliest_top_start,
    ]
    remaining = candidates
    for criterion in criteria:
        best = max(criterion(v) for v in remaining)
        remaining = [v for v in remaining if criterion(v) == best]
        if len(remaining) == 1:
            break
    return remaining[0]


class DefaultPreemption(PostFilterPlugin):
    """Upstream's DefaultPreemption PostFilter plugin (see the module docstring)."""

    name = "DefaultPreemption"

    def __init__(self, handle: Handle) -> None:
        self.handle = handle

    async def post_filter(self, state: CycleState, pod: PodInfo,
                          statuses: dict[str, Status]) -> tuple[str | None, Status | None]:
        """Preempt; returns the nominated node (``""`` to clear a nomination)."""
        node, status = await self._preempt(state, pod, statuses)
        if status is not None and status.message:
            status = Status(status.code, (f"preemption: {status.message}",))
        return node, status

    async def _preempt(self, state: CycleState, pod: PodInfo, statuses: dict[str, Status]
                       ) -> tuple[str | None, Status | None]:
        cache = self.handle.cache
        eligible, reason = self.eligible(pod, statuses)
        if not eligible:
            return None, unschedulable(reason)
        all_nodes = cache.node_list
        potential = [n for n in all_nodes
                     if (s := statuses.get(n.name)) is not None and s.code == Code.UNSCHEDULABLE]
        if not potential:
            diagnosis = Diagnosis()
            self._absent_not_helpful(diagnosis, all_nodes)
            return "", unschedulable(fit_error_message(len(all_nodes), diagnosis))
        pdbs = self.handle.listers.pdbs.list()
        candidates, node_statuses = self.dry_run(state, pod, potential, pdbs)
        if not candidates:
            diagnosis = Diagnosis(node_statuses=node_statuses)
            self._absent_not_helpful(diagnosis, all_nodes)
            return "", unschedulable(fit_error_message(len(all_nodes), diagnosis))
        best = pick_one_node(candidates)
        failure = await self.prepare_candidate(best, pod)
        if failure is not None:
            return None, failure
        return best.node, None

    @staticmethod
    def _absent_not_helpful(diagnosis: Diagnosis, nodes: list[NodeInfo]) -> None:
        for n in nodes:
            diagnosis.node_statuses.setdefault(n.name, unresolvable(NOT_HELPFUL))

    def eligible(self, pod: PodInfo, statuses: dict[str, Status]) -> tuple[bool, str]:
        """Upstream ``PodEligibleToPreemptOthers``."""
        if pod.preemption_never:
            return False, NOT_ELIGIBLE_NEVER
        nominated = pod.nominated_node_name
        if nominated:
            status = statuses.get(nominated)
            if status is not None and status.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE:
                return True, ""
            node = self.handle.cache.node(nominated)
            if node is not None:
                for other in node.pods.values():
                    if other.priority < pod.priority and terminating_by_preemption(other):
                        return False, NOT_ELIGIBLE_TERMINATING
        return True, ""

    def dry_run(self, state: CycleState, pod: PodInfo, potential: list[NodeInfo],
                pdbs: list[Obj], offset: int | None = None
                ) -> tuple[list[Victims], dict[str, Status]]:
        """Find candidates from a random offset (upstream ``DryRunPreemption``)."""
        framework = self.handle.framework
        assert framework is not None
        n = len(potential)
        wanted = min(max(n * MIN_CANDIDATE_NODES_PERCENTAGE // 100,
                         MIN_CANDIDATE_NODES_ABSOLUTE), n)
        start = framework.rng.randrange(n) if offset is None else offset
        fine: list[Victims] = []
        violating: list[Victims] = []
        statuses: dict[str, Status] = {}
        for i in range(n):
            node = potential[(start + i) % n]
            victims, num_violations, status = self.select_victims(state, pod, node, pdbs)
            if status is None and victims:
                (violating if num_violations else fine).append(
                    Victims(node.name, victims, num_violations))
                if fine and len(fine) + len(violating) >= wanted:
                    break
                continue
            statuses[node.name] = status or unresolvable(NO_VICTIMS)
        return fine + violating, statuses

    def select_victims(self, state: CycleState, pod: PodInfo, node: NodeInfo,
                       pdbs: list[Obj]) -> tuple[list[PodInfo], int, Status | None]:
        """The fewest, least important pods to evict from ``node`` (upstream
        ``SelectVictimsOnNode``)."""
        framework = self.handle.framework
        assert framework is not None
        candidates = [p for p in node.pods.values() if p.priority < pod.priority]
        if not candidates:
            return [], 0, unresolvable(NO_VICTIMS)
        sim_node = node.clone()
        sim_state = state.clone()

        def remove(p: PodInfo) -> None:
            sim_node.remove_pod(p.key)
            for plugin in framework.pre_filter_plugins:
                plugin.remove_pod(sim_state, pod, p, sim_node)

        def add(p: PodInfo) -> None:
            sim_node.add_pod(p)
            for plugin in framework.pre_filter_plugins:
                plugin.add_pod(sim_state, pod, p, sim_node)

        for p in candidates:
            remove(p)
        status = framework.run_filters_with_nominated(sim_state, pod, sim_node)
        if status is not None:
            return [], 0, status
        candidates.sort(key=_importance_key)
        violating, fine = split_by_pdb_violation(candidates, pdbs)
        victims: list[PodInfo] = []
        num_violations = 0

        def reprieve(p: PodInfo) -> bool:
            add(p)
            if framework.run_filters_with_nominated(sim_state, pod, sim_node) is None:
                return True
            remove(p)
            victims.append(p)
            return False

        for p in violating:
            if not reprieve(p):
                num_violations += 1
        for p in fine:
            reprieve(p)
        if violating and fine:
            victims.sort(key=_importance_key)
        return victims, num_violations, None

    async def prepare_candidate(self, best: Victims, pod: PodInfo) -> Status | None:
        """Evict the victims and clear lower-priority nominations on the node."""
        client = self.handle.client
        recorder = self.handle.recorder
        if client is None:
            return Status(Code.ERROR, ("no API client to preempt with",))
        scheduler_name = pod.scheduler_name
        for victim in best.pods:
            condition: dict[str, Any] = {
                "type": "DisruptionTarget", "status": "True",
                "reason": "PreemptionByScheduler",
                "message": f"{scheduler_name}: preempting to accommodate a higher "
                           "priority pod",
                "lastTransitionTime": _now()}
            try:
                await client.patch(PODS, victim.name, {"status": {"conditions": [condition]}},
                                   victim.namespace, patch_type="strategic",
                                   subresource="status")
                await client.delete(PODS, victim.name, victim.namespace)
            except ApiError as exc:
                if exc.code != 404:
                    log.warning("preempting %s failed: %s", victim.key, exc.message)
                    return Status(Code.ERROR, (exc.message,))
            if recorder is not None:
                recorder.event(victim.typed, "Normal", "Preempted",
                               f"Preempted by pod {pod.uid} on node {best.node}")
        queue = self.handle.queue
        if queue is not None:
            for other in queue.nominated_pods(best.node):
                if other.priority < pod.priority:
                    queue.delete_nominated(other.key)
                    with contextlib.suppress(ApiError):
                        await client.patch(PODS, other.name,
                                           {"status": {"nominatedNodeName": None}},
                                           other.namespace, subresource="status")
        return None

