"""The node lifecycle controller (upstream's ``nodelifecycle``, with taint-based eviction).

Loops, all on the controller's task group:

* **Health monitor** (every ``node_monitor_period``): for each cached Node, compare its
  posted Ready heartbeat and its Lease (``kube-node-lease/<node>``) with what was seen
  before (:mod:`.health`); silent for longer than ``node_monitor_grace_period`` → its
  kubelet-owned conditions become Unknown (``NodeStatusUnknown``, "Kubelet stopped posting
  node status."), a ``NodeNotReady`` event is recorded and its pods' Ready condition is set
  False. A node observed not ready is queued for a NoExecute taint (``unreachable`` for
  Unknown, ``not-ready`` for False); a node observed Ready again loses both at once.
  Per-zone disruption states set the tainting rate (:mod:`.evictor`).
* **NoExecute tainting pass** (every 100 ms): applies the queued taints at the zone's rate.
* **NoSchedule pass** (the work queue, per node event): keeps the condition taints
  (``not-ready``, ``unreachable``, memory/disk/PID pressure, network unavailable) and
  ``node.kubernetes.io/unschedulable`` (from ``spec.unschedulable``, what ``kubectl
  cordon`` sets) with effect NoSchedule in line with the node (TaintNodesByCondition), and
  mirrors the stable os/arch labels to their beta names.
* **Pod pass**: a pod bound to a node known not ready is marked not ready.
* **Taint-based eviction** (:mod:`.taint_eviction`).
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from typing import Any

from kubesmith.api.types import Obj
from kubesmith.client import ApiError, RetryLater, WorkQueue, object_key, run_workers
from kubesmith.client.events import EventRecorder
from kubesmith.client.rest import LEASES, NODES, PODS
from kubesmith.controllers.base import Controller, ControllerContext
from kubesmith.controllers.nodelifecycle.evictor import (
    EVICTION_QPS,
    RateLimitedTimedQueue,
    TimedValue,
    ZoneState,
    compute_zone_state,
    zone_qps,
)
from kubesmith.controllers.nodelifecycle.health import (
    NodeHealth,
    observe_lease,
    observe_status,
    set_conditions_unknown,
    unknown_ready,
)
from kubesmith.controllers.nodelifecycle.nodes import (
    CONDITION_TAINT_KEYS,
    CONDITION_TAINTS,
    NO_SCHEDULE,
    NOT_READY_NO_EXECUTE,
    TAINT_UNSCHEDULABLE,
    UNREACHABLE_NO_EXECUTE,
    node_condition,
    node_taints,
    record_node_event,
    record_node_status_change,
    swap_node_taints,
    taint_exists,
    taint_matches,
    zone_key,
)
from kubesmith.controllers.nodelifecycle.taint_eviction import (
    COMPONENT as TAINT_EVICTION_COMPONENT,
)
from kubesmith.controllers.nodelifecycle.taint_eviction import (
    NODE_NAME_INDEX,
    TaintEvictionManager,
)
from kubesmith.controllers.util import get_condition, labels_of, meta, now_rfc3339

log = logging.getLogger(__name__)

NODE_LEASE_NAMESPACE = "kube-node-lease"
#: Nodes with this label are left out of zone disruption accounting.
EXCLUDE_DISRUPTION_LABEL = "node.kubernetes.io/exclude-disruption"
#: How often queued NoExecute taints are applied (upstream's NodeEvictionPeriod).
TAINTING_PERIOD = 0.1
#: Attempts to write a node's health before giving up until the next pass.
HEALTH_UPDATE_RETRIES = 5
#: Nodes whose health is checked concurrently.
MONITOR_CONCURRENCY = 8
#: Stable label -> deprecated beta label the controller keeps equal.
MIRRORED_LABELS = {"kubernetes.io/os": "beta.kubernetes.io/os",
                   "kubernetes.io/arch": "beta.kubernetes.io/arch"}


class NodeLifecycleController(Controller):
    name = "node-controller"
    component = "node-controller"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.nodes = self.informer(NODES)
        self.leases = self.informer(LEASES)
        self.pods = self.informer(PODS)
        self.nodes.add_handlers(on_add=self.enqueue,
                                on_update=lambda _old, new: self.enqueue(new),
                                on_delete=self._node_deleted)
        self.pods.add_handlers(on_add=lambda pod: self._pod_bound(None, pod),
                               on_update=self._pod_bound)
        self.pod_queue: WorkQueue[str] = WorkQueue()
        self.health: dict[str, NodeHealth] = {}
        self.known: dict[str, Obj] = {}
        self.zone_states: dict[str, ZoneState] = {}
        self.tainters: dict[str, RateLimitedTimedQueue] = {}
        self.nodes_to_retry: set[str] = set()
        # Upstream's taint manager records as its own component.
        self.eviction_recorder = EventRecorder(self.client, TAINT_EVICTION_COMPONENT,
                                               ctx.recorder.host)
        self.taint_manager = TaintEvictionManager(self.client, self.pods, self.nodes,
                                                  self.eviction_recorder)

    # -- handlers --------------------------------------------------------------------------

    def _node_deleted(self, node: Obj) -> None:
        name = str(meta(node).get("name"))
        self.health.pop(name, None)
        self.nodes_to_retry.discard(name)

    def _pod_bound(self, old: Obj | None, new: Obj) -> None:
        node = (new.get("spec") or {}).get("nodeName")
        if node and (old is None or (old.get("spec") or {}).get("nodeName") != node):
            self.pod_queue.add(object_key(new))

    # -- run -------------------------------------------------------------------------------

    async def run(self) -> None:
        if self.pod_queue.shutting_down:
            self.pod_queue = WorkQueue()
        try:
            await self.ctx.informers.wait_synced(*self._used)
            async with asyncio.TaskGroup() as group:
                group.create_task(run_workers(self.queue, self.workers, self.reconcile))
                group.create_task(run_workers(self.pod_queue, 4, self._process_pod))
                group.create_task(self.taint_manager.run())
                group.create_task(self._every(self.options.node_monitor_period,
                                              self.monitor_node_health))
                group.create_task(self._every(TAINTING_PERIOD, self._no_execute_tainting_pass))
        finally:
            self.queue.shutdown()
            self.pod_queue.shutdown()
            await self.eviction_recorder.close()

    async def _every(self, period: float, action: Any) -> None:
        while True:
            started = time.monotonic()
            try:
                await action()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("node lifecycle: %s failed", action.__name__)
            await asyncio.sleep(max(0.0, period - (time.monotonic() - started)))

    # -- NoSchedule taints and labels (per node event) --------------------------------------

    async def reconcile(self, key: str) -> None:
        node = self.nodes.get(key)
        if node is None:
            return
        wanted: list[dict[str, Any]] = []
        for cond in (node.get("status") or {}).get("conditions") or ():
            taint_key = CONDITION_TAINTS.get(cond.get("type"), {}).get(cond.get("status"))
            if taint_key:
                wanted.append({"key": taint_key, "effect": NO_SCHEDULE})
        if (node.get("spec") or {}).get("unschedulable"):
            wanted.append({"key": TAINT_UNSCHEDULABLE, "effect": NO_SCHEDULE})
        owned = [t for t in node_taints(node) if t.get("effect") == NO_SCHEDULE and
                 (t.get("key") == TAINT_UNSCHEDULABLE or t.get("key") in CONDITION_TAINT_KEYS)]
        add = [t for t in wanted if not taint_exists(owned, t)]
        remove = [t for t in owned if not any(taint_matches(t, w) for w in wanted)]
        if (add or remove) and not await swap_node_taints(self.client, node, add, remove):
            raise RetryLater(f"the NoSchedule taints of node {key} changed meanwhile")
        await self._mirror_labels(node)

    async def _mirror_labels(self, node: Obj) -> None:
        labels = labels_of(node)
        changes = {beta: labels[stable] for stable, beta in MIRRORED_LABELS.items()
                   if stable in labels and labels.get(beta) != labels[stable]}
        if changes:
            await self.client.patch(NODES, str(meta(node)["name"]),
                                    {"metadata": {"labels": changes}})

    # -- health monitor ----------------------------------------------------------------------

    def _tainter(self, zone: str) -> RateLimitedTimedQueue:
        found = self.tainters.get(zone)
        if found is None:
            found = self.tainters[zone] = RateLimitedTimedQueue(EVICTION_QPS)
            self.zone_states.setdefault(zone, ZoneState.INITIAL)
        return found

    async def monitor_node_health(self) -> None:
        """One pass over every node (see the module docstring)."""
        nodes = self.nodes.list()
        current = {str(meta(n).get("name")): n for n in nodes}
        for name, node in current.items():
            self._tainter(zone_key(node))
            if name not in self.known:
                self.known[name] = node
                record_node_event(self.recorder, node, "Normal", "RegisteredNode",
                                  f"Registered Node {name} in Controller")
                await self._mark_reachable(node)
        for name in [n for n in self.known if n not in current]:
            record_node_event(self.recorder, self.known.pop(name), "Normal", "RemovingNode",
                              f"Removing Node {name} from Controller")
        zone_ready: dict[str, list[str | None]] = {}
        limit = asyncio.Semaphore(MONITOR_CONCURRENCY)

        async def check(node: Obj) -> None:
            async with limit:
                await self._check_node(node, zone_ready)

        await asyncio.gather(*(check(n) for n in nodes))
        await self._handle_disruption(zone_ready, nodes)

    async def _check_node(self, cached: Obj, zone_ready: dict[str, list[str | None]]) -> None:
        name = str(meta(cached).get("name"))
        node = copy.deepcopy(cached)
        for attempt in range(HEALTH_UPDATE_RETRIES):
            try:
                observed, current = await self._update_health(node)
                break
            except ApiError as exc:
                if exc.code == 404 or attempt == HEALTH_UPDATE_RETRIES - 1:
                    log.warning("cannot update health of node %s: %s", name, exc.message)
                    return
            try:
                node = await self.client.get(NODES, name)
            except ApiError:
                return  # deleted meanwhile
        if EXCLUDE_DISRUPTION_LABEL not in labels_of(node):
            zone_ready.setdefault(zone_key(node), []).append(
                current.get("status") if current is not None else None)
        if current is None:
            self.nodes_to_retry.discard(name)
            return
        await self._taint_based_eviction(node, observed)
        transitioned = current.get("status") != "True" and observed.get("status") == "True"
        if transitioned:
            record_node_status_change(self.recorder, node, "NodeNotReady")
        if transitioned or (name in self.nodes_to_retry and observed.get("status") != "True"):
            try:
                await self._mark_pods_not_ready(name)
            except ApiError as exc:
                log.warning("cannot mark pods on node %s not ready: %s", name, exc.message)
                self.nodes_to_retry.add(name)
                return
        self.nodes_to_retry.discard(name)

    async def _update_health(self, node: Obj) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """(the Ready condition as observed, as it is now) after declaring a silent node's
        conditions Unknown."""
        name = str(meta(node).get("name"))
        now = time.time()
        current = node_condition(node, "Ready")
        observed = copy.deepcopy(current) if current is not None else unknown_ready(node)
        grace = self.options.node_monitor_grace_period if current is not None else \
            self.options.node_startup_grace_period
        health = observe_status(self.health.get(name), node, now)
        observe_lease(health, self.leases.get(f"{NODE_LEASE_NAMESPACE}/{name}"), now)
        self.health[name] = health
        if now <= health.probe + grace:
            return observed, current
        set_conditions_unknown(node, now_rfc3339())
        current = node_condition(node, "Ready")
        if current == observed:
            return observed, current
        written = await self.client.replace(NODES, node, subresource="status")
        # Later writes of this pass (taints) start from what was stored, not a stale copy.
        node.clear()
        node.update(written)
        self.health[name] = NodeHealth(health.probe, time.time(), copy.deepcopy(current),
                                       health.lease_renew)
        return observed, current

    async def _taint_based_eviction(self, node: Obj, observed: dict[str, Any]) -> None:
        status = observed.get("status")
        taints = node_taints(node)
        if status == "False":
            if taint_exists(taints, UNREACHABLE_NO_EXECUTE):
                # Already evicting as unreachable: switch the reason at once.
                await swap_node_taints(self.client, node, [NOT_READY_NO_EXECUTE],
                                       [UNREACHABLE_NO_EXECUTE])
            else:
                self._mark_for_tainting(node, NOT_READY_NO_EXECUTE)
        elif status == "Unknown":
            if taint_exists(taints, NOT_READY_NO_EXECUTE):
                await swap_node_taints(self.client, node, [UNREACHABLE_NO_EXECUTE],
                                       [NOT_READY_NO_EXECUTE])
            else:
                self._mark_for_tainting(node, UNREACHABLE_NO_EXECUTE)
        elif status == "True":
            await self._mark_reachable(node)

    def _mark_for_tainting(self, node: Obj, taint: dict[str, Any]) -> None:
        tainter = self._tainter(zone_key(node))
        name = str(meta(node).get("name"))
        if not taint_exists(node_taints(node), taint):
            # Not (or no longer) tainted: queue it afresh even if it was processed before.
            tainter.remove(name)
        tainter.add(name, str(meta(node).get("uid") or ""))

    async def _mark_reachable(self, node: Obj) -> None:
        # A no-op (no request) when neither taint is there.
        if not await swap_node_taints(self.client, node, [],
                                      [UNREACHABLE_NO_EXECUTE, NOT_READY_NO_EXECUTE]):
            log.warning("cannot remove NoExecute taints from node %s; retrying next pass",
                        meta(node).get("name"))
            return
        self._tainter(zone_key(node)).remove(str(meta(node).get("name")))

    async def _no_execute_tainting_pass(self) -> None:
        for tainter in list(self.tainters.values()):
            await tainter.try_process(self._taint_one)

    async def _taint_one(self, value: TimedValue) -> tuple[bool, float]:
        node = self.nodes.get(value.value)
        if node is None:
            return True, 0.0
        ready = node_condition(node, "Ready")
        if ready is None:
            return False, 0.05
        # The two taints mirror the Ready condition and exclude each other.
        if ready.get("status") == "False":
            add, remove = NOT_READY_NO_EXECUTE, UNREACHABLE_NO_EXECUTE
        elif ready.get("status") == "Unknown":
            add, remove = UNREACHABLE_NO_EXECUTE, NOT_READY_NO_EXECUTE
        else:
            return True, 0.0  # ready again meanwhile
        return await swap_node_taints(self.client, node, [add], [remove]), 0.0

    async def _handle_disruption(self, zone_ready: dict[str, list[str | None]],
                                 nodes: list[Obj]) -> None:
        new_states: dict[str, ZoneState] = {}
        all_fully_disrupted = True
        for zone, statuses in zone_ready.items():
            _, state = compute_zone_state(statuses)
            if state != ZoneState.FULL_DISRUPTION:
                all_fully_disrupted = False
            new_states[zone] = state
            self._tainter(zone)
        all_were_fully_disrupted = True
        for zone in list(self.zone_states):
            if zone not in zone_ready:
                del self.zone_states[zone]
                continue
            if self.zone_states[zone] != ZoneState.FULL_DISRUPTION:
                all_were_fully_disrupted = False
                break
        if all_fully_disrupted and all_were_fully_disrupted:
            return
        if all_fully_disrupted:
            # Every node silent at once: far more likely our network than all machines.
            log.info("every node is not ready: entering master disruption mode "
                     "(no NoExecute taints, no evictions)")
            for node in nodes:
                await self._mark_reachable(node)
            for zone in self.zone_states:
                self._tainter(zone).swap_limiter(0.0)
                self.zone_states[zone] = ZoneState.FULL_DISRUPTION
            return
        if all_were_fully_disrupted:
            log.info("some nodes are ready again: leaving master disruption mode")
            now = time.time()
            for health in self.health.values():
                health.probe = health.ready_transition = now
        for zone, state in list(self.zone_states.items()):
            wanted = new_states.get(zone, state)
            if state == wanted and not all_were_fully_disrupted:
                continue
            log.info("zone %r is now in state %s", zone, wanted)
            self._tainter(zone).swap_limiter(zone_qps(wanted, len(zone_ready.get(zone, ()))))
            self.zone_states[zone] = wanted

    # -- pods --------------------------------------------------------------------------------

    async def _mark_pods_not_ready(self, node_name: str) -> None:
        errors: list[str] = []
        for pod in self.pods.by_index(NODE_NAME_INDEX, node_name):
            try:
                await self._mark_pod_not_ready(pod)
            except ApiError as exc:
                errors.append(f"{object_key(pod)}: {exc.message}")
        if errors:
            raise ApiError(code=500, reason="InternalError", message="; ".join(errors))

    async def _mark_pod_not_ready(self, pod: Obj) -> None:
        ready = get_condition(pod, "Ready")
        if ready is None or ready.get("status") == "False":
            return
        m = meta(pod)
        patch = {"status": {"conditions": [{"type": "Ready", "status": "False",
                                            "lastTransitionTime": now_rfc3339()}]}}
        try:
            await self.client.patch(PODS, m["name"], patch, m["namespace"],
                                    patch_type="strategic", subresource="status")
        except ApiError as exc:
            if exc.code == 404:
                return
            raise
        self.recorder.event(pod, "Warning", "NodeNotReady", "Node is not ready")

    async def _process_pod(self, key: str) -> None:
        pod = self.pods.get(key)
        if pod is None:
            return
        node_name = str((pod.get("spec") or {}).get("nodeName") or "")
        health = self.health.get(node_name)
        if health is None:
            return  # not seen yet; the next monitor pass handles its pods
        if self.nodes.get(node_name) is None:
            raise RuntimeError(f"node {node_name} of pod {key} is not in the cache")
        if health.ready is not None and health.ready.get("status") != "True":
            await self._mark_pod_not_ready(pod)
