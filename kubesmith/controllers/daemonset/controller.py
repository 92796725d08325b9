"""The DaemonSet controller: one pod on every node that should run one (upstream
``pkg/controller/daemon``).

Event handlers only enqueue DaemonSet keys: node changes wake the DaemonSets whose verdict
for that node changed, pod and ControllerRevision changes wake their controller (or, for
orphans, the DaemonSets selecting them). A sync then, from the caches:

1. claims the pods and revisions (adopting matching orphans, releasing strays),
2. finds or creates the revision of the current template (its hash labels new pods),
3. unless earlier creations/deletions are still unobserved (expectations), creates pods on
   nodes that lack one, deletes pods from nodes that must not run one, replaces failed pods
   (with per-node backoff) and, for RollingUpdate, replaces old pods within
   maxUnavailable/maxSurge,
4. trims old revisions and writes the status counters.

Pods are not bound here: each carries a required node affinity to its node and the
scheduler binds it, as upstream since ScheduleDaemonSetPods.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from datetime import UTC, datetime

from kubesmith.api.types import Obj
from kubesmith.client import ApiError, object_key
from kubesmith.client.rest import CONTROLLERREVISIONS, DAEMONSETS, NODES, PODS
from kubesmith.controllers.base import Controller, ControllerContext
from kubesmith.controllers.daemonset.backoff import FailedPodBackoff
from kubesmith.controllers.daemonset.placement import (
    Placement,
    pin_to_node,
    pod_template,
    target_node,
    template_generation,
)
from kubesmith.controllers.daemonset.revisions import current_and_old, trim_history
from kubesmith.controllers.daemonset.rollout import (
    RolloutInput,
    allows_surge,
    plan_rolling_update,
)
from kubesmith.controllers.daemonset.status import (
    compute_counters,
    oldest_first,
    status_current,
)
from kubesmith.controllers.expectations import ControllerExpectations
from kubesmith.controllers.history import REVISION_HASH_LABEL
from kubesmith.controllers.ownership import (
    Claimer,
    DependentEvents,
    Owners,
    add_ownership_indexes,
    fresh_parent_check,
)
from kubesmith.controllers.pod_control import PodControl, gather_errors, slow_start_batch
from kubesmith.controllers.util import (
    controller_ref,
    is_namespace_terminating,
    is_pod_available,
    is_pod_ready,
    is_terminating,
    labels_of,
    meta,
    owner_reference,
    pod_phase,
    selector_of,
)

log = logging.getLogger(__name__)

KIND = "DaemonSet"
#: At most this many pods are created or deleted per sync (upstream BurstReplicas).
BURST_REPLICAS = 250


class DaemonSetController(Controller):
    """Runs one pod per eligible node for every DaemonSet (see the module docstring)."""

    name = "daemon-set-controller"
    component = "daemonset-controller"
    default_workers = 2

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.expectations = ControllerExpectations()
        self.failed_backoff = FailedPodBackoff()
        self.pod_control = PodControl(self.client, self.recorder)
        self.daemonsets = self.informer(DAEMONSETS)
        self.owners = Owners(self.daemonsets, KIND)
        self.daemonsets.add_handlers(on_add=self.enqueue,
                                     on_update=lambda _old, new: self.enqueue(new),
                                     on_delete=self._daemonset_deleted)
        self.pods = self.informer(PODS)
        add_ownership_indexes(self.pods)
        DependentEvents(self.owners, self.queue.add, self.queue.add_after,
                        self._observed).register(self.pods)
        self.nodes = self.informer(NODES)
        self.nodes.add_handlers(on_add=self._node_added, on_update=self._node_updated,
                                on_delete=lambda _node: self._enqueue_all())
        self.revisions = self.informer(CONTROLLERREVISIONS)
        add_ownership_indexes(self.revisions)
        self.revisions.add_handlers(on_add=self._revision_changed,
                                    on_update=lambda _old, new: self._revision_changed(new),
                                    on_delete=self._revision_changed)

    # ---- event handlers: only enqueue --------------------------------------------------

    def _daemonset_deleted(self, ds: Obj) -> None:
        self.expectations.delete(object_key(ds))
        self.enqueue(ds)

    def _observed(self, key: str, _pod: Obj, created: bool) -> None:
        if created:
            self.expectations.creation_observed(key)
        else:
            self.expectations.deletion_observed(key)

    def _node_added(self, node: Obj) -> None:
        for ds in self.daemonsets.list():
            if Placement.of(ds).evaluate(node)[0]:
                self.enqueue(ds)

    def _node_updated(self, old: Obj, new: Obj) -> None:
        if labels_of(old) == labels_of(new) and \
                (old.get("spec") or {}).get("taints") == (new.get("spec") or {}).get("taints"):
            return
        for ds in self.daemonsets.list():
            placement = Placement.of(ds)
            if placement.evaluate(old) != placement.evaluate(new):
                self.enqueue(ds)

    def _enqueue_all(self) -> None:
        for ds in self.daemonsets.list():
            self.enqueue(ds)

    def _revision_changed(self, revision: Obj) -> None:
        ds = self.owners.owner(revision)
        if ds is not None:
            self.enqueue(ds)
        elif controller_ref(revision) is None and not is_terminating(revision):
            for match in self.owners.selecting(revision):
                self.enqueue(match)

    # ---- sync --------------------------------------------------------------------------

    async def reconcile(self, key: str) -> None:
        cached = self.daemonsets.get(key)
        if cached is None:
            self.expectations.delete(key)
            return
        ds = self.owners.typed(cached)
        selector = (ds.get("spec") or {}).get("selector")
        if isinstance(selector, dict) and not selector.get("matchLabels") and \
                not selector.get("matchExpressions"):
            self.recorder.event(ds, "Warning", "SelectingAll",
                                "This daemon set is selecting all pods. A non-empty "
                                "selector is required.")
            return
        if is_terminating(ds):
            # Its revisions may be going away with it: no trustworthy status either.
            return
        owner_ref = owner_reference(ds)
        can_adopt = fresh_parent_check(self.client, DAEMONSETS, ds)
        compiled = selector_of(ds)
        claimer = Claimer(self.client, ds, owner_ref, compiled, can_adopt)
        pods = await claimer.claim_cached(self.pods, PODS)
        revisions = await claimer.claim_cached(self.revisions, CONTROLLERREVISIONS)
        current, old = await current_and_old(self.client, ds, owner_ref, revisions, pods)
        sync = _Sync(ds, key, list(self.nodes.list()), pods,
                     labels_of(current).get(REVISION_HASH_LABEL, ""))
        if not self.expectations.satisfied(key):
            await self._store_status(sync, observe=False)
            return
        try:
            await self._manage(sync)
            if self.expectations.satisfied(key) and _strategy(ds) == "RollingUpdate":
                await self._rolling_update(sync)
            await trim_history(self.client, ds, old, pods)
        except Exception:
            try:
                await self._store_status(sync, observe=True)
            except ApiError:
                log.warning("daemonset %s: status update failed", key, exc_info=True)
            raise
        await self._store_status(sync, observe=True)

    async def _manage(self, sync: _Sync) -> None:
        create_on: list[str] = []
        delete: list[str] = []
        for node in sync.nodes:
            node_name = str(meta(node)["name"])
            wanted, remove = self._node_changes(sync, node, sync.node_pods.get(node_name))
            create_on += wanted
            delete += remove
        # Pods meant for nodes that are gone never get scheduled, and the pod GC only
        # removes pods bound to a missing node: delete them here.
        existing = {str(meta(n)["name"]) for n in sync.nodes}
        for node_name, pods in sync.node_pods.items():
            if node_name not in existing:
                delete += [meta(p)["name"] for p in pods
                           if not (p.get("spec") or {}).get("nodeName")]
        await self._sync_nodes(sync, delete, create_on)

    def _node_changes(self, sync: _Sync, node: Obj, pods: Sequence[Obj] | None
                      ) -> tuple[list[str], list[str]]:
        """Nodes needing a pod (this one or none) and pods to delete on this node."""
        node_name = str(meta(node)["name"])
        should_run, should_continue = sync.placement.evaluate(node)
        if should_run and not pods:
            return [node_name], []
        if not pods:
            return [], []
        if not should_continue:
            return [], [meta(p)["name"] for p in pods if not is_terminating(p)]
        delete: list[str] = []
        running: list[Obj] = []
        for pod in pods:
            if is_terminating(pod):
                continue
            phase = pod_phase(pod)
            if phase == "Failed":
                if self._failed_pod_may_go(sync, node_name, pod):
                    delete.append(meta(pod)["name"])
            elif phase == "Succeeded":
                self.recorder.event(sync.ds, "Normal", "SucceededDaemonPod",
                                    f"Found succeeded daemon pod {meta(pod)['namespace']}/"
                                    f"{meta(pod)['name']} on node {node_name}, will try to "
                                    "delete it")
                delete.append(meta(pod)["name"])
            else:
                running.append(pod)
        if not allows_surge(sync.ds):
            # One pod per node: keep the oldest.
            delete += [meta(p)["name"] for p in oldest_first(running)[1:]]
            return [], delete
        if len(running) <= 1:
            return ([node_name] if not running and should_run else []), delete
        return [], delete + self._surge_excess(sync, running)

    def _surge_excess(self, sync: _Sync, running: Sequence[Obj]) -> list[str]:
        """With surge, a node keeps its oldest new pod and, while that one is not yet
        available, its oldest old pod; everything else goes."""
        delete: list[str] = []
        newest: Obj | None = None
        oldest_old: Obj | None = None
        for pod in oldest_first(running):
            if labels_of(pod).get(REVISION_HASH_LABEL) == sync.hash:
                if newest is None:
                    newest = pod
                    continue
            elif oldest_old is None:
                oldest_old = pod
                continue
            delete.append(meta(pod)["name"])
        if newest is not None and oldest_old is not None and (
                not is_pod_ready(oldest_old) or sync.available(newest)):
            delete.append(meta(oldest_old)["name"])
        return delete

    def _failed_pod_may_go(self, sync: _Sync, node_name: str, pod: Obj) -> bool:
        """Whether a failed pod may be deleted now (per-node backoff against a kubelet that
        keeps failing it)."""
        status = sync.ds.get("status") or {}
        backoff_key = f"{meta(sync.ds).get('uid')}/{status.get('observedGeneration', 0)}/" \
                      f"{node_name}"
        remaining = self.failed_backoff.in_backoff(backoff_key)
        if remaining is not None:
            self.queue.add_after(sync.key, remaining)
            return False
        self.failed_backoff.step(backoff_key)
        self.recorder.event(sync.ds, "Warning", "FailedDaemonPod",
                            f"Found failed daemon pod {meta(pod)['namespace']}/"
                            f"{meta(pod)['name']} on node {node_name}, will try to kill it")
        return True

    async def _rolling_update(self, sync: _Sync) -> None:
        node_pods: dict[str, Sequence[Obj]] = dict(sync.node_pods)
        desired = 0
        should_run: dict[str, bool] = {}
        for node in sync.nodes:
            name = str(meta(node)["name"])
            should_run[name] = sync.placement.evaluate(node)[0]
            if should_run[name]:
                desired += 1
                node_pods.setdefault(name, [])
        plan = plan_rolling_update(RolloutInput(
            sync.ds, node_pods, desired, sync.hash, sync.generation,
            lambda name: should_run.get(name, False), sync.now))
        await self._sync_nodes(sync, plan.delete, plan.create_on)

    async def _sync_nodes(self, sync: _Sync, delete: list[str], create_on: list[str]) -> None:
        """Create pods on ``create_on`` (slow start: batches of 1, 2, 4, ...) and delete the
        pods named ``delete``; raise the first failure after trying all deletions."""
        create_on, delete = create_on[:BURST_REPLICAS], delete[:BURST_REPLICAS]
        if not create_on and not delete:
            return
        self.expectations.expect(sync.key, len(create_on), len(delete))
        template = pod_template(sync.ds, sync.generation, sync.hash)
        created, create_error = await slow_start_batch(
            create_on, lambda node_name: self._create_pod(sync, template, node_name))
        # Refused pods, and those not tried after a refusal (likely all would fail the same
        # way: quota, admission), will never show up in the informer.
        self.expectations.lower(sync.key, len(create_on) - created, 0)
        delete_errors = await gather_errors([self._delete_pod(sync, name) for name in delete])
        failures = [e for e in (create_error, *delete_errors) if e is not None]
        if failures:
            raise failures[0]

    async def _create_pod(self, sync: _Sync, template: Obj, node_name: str) -> None:
        spec = copy.deepcopy(template.get("spec") or {})
        pin_to_node(spec, node_name)
        try:
            await self.pod_control.create(sync.ds, {**template, "spec": spec})
        except ApiError as exc:
            if exc.code != 403 or not is_namespace_terminating(exc):
                raise
            # The namespace is going away: nothing to report, and no pod will show up.
            self.expectations.creation_observed(sync.key)

    async def _delete_pod(self, sync: _Sync, name: str) -> None:
        try:
            await self.pod_control.delete(sync.ds, name)
        except ApiError as exc:
            # The informer will not see this deletion: stop waiting for it.
            self.expectations.deletion_observed(sync.key)
            if exc.code != 404:
                raise

    async def _store_status(self, sync: _Sync, *, observe: bool) -> None:
        counts = compute_counters(sync.ds, sync.nodes, sync.node_pods, sync.placement,
                                  sync.hash, sync.generation, sync.now)
        min_ready = int((sync.ds.get("spec") or {}).get("minReadySeconds") or 0)
        if min_ready > 0 and counts["numberReady"] != counts["numberAvailable"]:
            # Look again once the ready pods may have become available.
            self.queue.add_after(sync.key, min_ready)
        if status_current(sync.ds, counts):
            return
        body = copy.deepcopy(sync.ds)
        for attempt in range(2):
            status = body.setdefault("status", {})
            if observe:
                status["observedGeneration"] = meta(sync.ds).get("generation")
            status.update(counts)
            try:
                await self.client.replace(DAEMONSETS, body, subresource="status")
                return
            except ApiError as exc:
                if exc.code != 409 or attempt:
                    raise
            body = await self.client.get(DAEMONSETS, meta(sync.ds)["name"],
                                         meta(sync.ds)["namespace"])
            if meta(body).get("uid") != meta(sync.ds).get("uid"):
                return


def _strategy(ds: Obj) -> str:
    return str(((ds.get("spec") or {}).get("updateStrategy") or {}).get("type")
               or "RollingUpdate")


class _Sync:
    """What one sync of one DaemonSet works from (computed once from the caches)."""

    def __init__(self, ds: Obj, key: str, nodes: list[Obj], pods: list[Obj],
                 hash_: str) -> None:
        self.ds = ds
        self.key = key
        self.nodes = nodes
        self.hash = hash_
        self.generation = template_generation(ds)
        self.placement = Placement.of(ds)
        self.now = datetime.now(UTC)
        self.min_ready = int((ds.get("spec") or {}).get("minReadySeconds") or 0)
        #: node name -> the DaemonSet's pods meant for it; finished pods already being
        #: deleted are left out (nothing more to do with them).
        self.node_pods: dict[str, list[Obj]] = {}
        for pod in pods:
            if is_terminating(pod) and pod_phase(pod) in ("Succeeded", "Failed"):
                continue
            node_name = target_node(pod)
            if node_name is not None:
                self.node_pods.setdefault(node_name, []).append(pod)

    def available(self, pod: Obj) -> bool:
        """Ready for at least minReadySeconds."""
        return is_pod_available(pod, self.min_ready, self.now)
