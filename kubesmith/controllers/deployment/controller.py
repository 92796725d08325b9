"""The Deployment controller (upstream ``pkg/controller/deployment``).

Informer handlers only enqueue the Deployment a change concerns: the Deployment itself,
the Deployment controlling a changed ReplicaSet (or every Deployment whose selector matches
an orphan ReplicaSet, to adopt it), and — for the Recreate strategy, which waits for old
pods to be gone — the Deployment whose last pod was deleted. A worker then re-reads the
caches and takes one step (:mod:`.sync`, :mod:`.rolling`, :mod:`.recreate`); the
ReplicaSet writes of that step bring the next sync.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from kubesmith.api.types import Obj
from kubesmith.client.rest import DEPLOYMENTS, PODS, REPLICASETS
from kubesmith.controllers.base import Controller, ControllerContext
from kubesmith.controllers.deployment.recreate import rollout_recreate
from kubesmith.controllers.deployment.replicas import RECREATE, ROLLING_UPDATE
from kubesmith.controllers.deployment.rolling import rollout_rolling
from kubesmith.controllers.deployment.sync import DeploymentSync
from kubesmith.controllers.history import (
    CONTROLLER_UID_INDEX,
    Claimer,
    add_ownership_indexes,
    fresh_parent_check,
    owned_and_orphans,
)
from kubesmith.controllers.replicaset import (
    NAMESPACE_INDEX,
    index_by_namespace,
    resolve_controller,
    selecting,
)
from kubesmith.controllers.util import (
    controller_ref,
    is_terminating,
    labels_of,
    meta,
    owner_reference,
    selector_of,
)

log = logging.getLogger(__name__)


def _typed(d: Obj) -> Obj:
    d["kind"] = "Deployment"
    d["apiVersion"] = "apps/v1"
    return d


class DeploymentController(Controller):
    """Rolls Deployments out through ReplicaSets (see the module docstring)."""

    name = "deployment-controller"
    component = "deployment-controller"
    default_workers = 5

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.deployments = self.informer(DEPLOYMENTS)
        self.deployments.add_index(NAMESPACE_INDEX, index_by_namespace)
        self.deployments.add_handlers(on_add=self.enqueue,
                                      on_update=lambda _old, new: self.enqueue(new),
                                      on_delete=self.enqueue)
        self.replicasets = self.informer(REPLICASETS)
        add_ownership_indexes(self.replicasets)
        self.replicasets.add_handlers(on_add=self._rs_added, on_update=self._rs_updated,
                                      on_delete=self._rs_deleted)
        self.pods = self.informer(PODS)
        add_ownership_indexes(self.pods)
        self.pods.add_handlers(on_delete=self._pod_deleted)

    # -- informer handlers -----------------------------------------------------------------

    def _resolve(self, namespace: str, ref: dict[str, Any]) -> Obj | None:
        return resolve_controller(self.deployments, "Deployment", namespace, ref)

    def _matching_deployments(self, rs: Obj) -> list[Obj]:
        return selecting(self.deployments, rs, selector_of)

    def _rs_added(self, rs: Obj) -> None:
        if is_terminating(rs):
            self._rs_deleted(rs)
            return
        ref = controller_ref(rs)
        if ref is not None:
            d = self._resolve(str(meta(rs).get("namespace")), ref)
            if d is not None:
                self.enqueue(d)
            return
        for d in self._matching_deployments(rs):
            self.enqueue(d)

    def _rs_updated(self, old: Obj, new: Obj) -> None:
        if meta(old).get("resourceVersion") == meta(new).get("resourceVersion"):
            return
        namespace = str(meta(new).get("namespace"))
        old_ref, new_ref = controller_ref(old), controller_ref(new)
        if old_ref != new_ref and old_ref is not None:
            previous = self._resolve(namespace, old_ref)
            if previous is not None:
                self.enqueue(previous)
        if new_ref is not None:
            d = self._resolve(namespace, new_ref)
            if d is not None:
                self.enqueue(d)
            return
        if labels_of(old) != labels_of(new) or old_ref != new_ref:
            for d in self._matching_deployments(new):
                self.enqueue(d)

    def _rs_deleted(self, rs: Obj) -> None:
        ref = controller_ref(rs)
        if ref is None:
            return
        d = self._resolve(str(meta(rs).get("namespace")), ref)
        if d is not None:
            self.enqueue(d)

    def _pod_deleted(self, pod: Obj) -> None:
        # Only Recreate waits for pods to be gone; wake it when the last one is.
        ref = controller_ref(pod)
        if ref is None:
            return
        namespace = str(meta(pod).get("namespace"))
        rs = resolve_controller(self.replicasets, "ReplicaSet", namespace, ref)
        if rs is None:
            return
        rs_ref = controller_ref(rs)
        d = self._resolve(namespace, rs_ref) if rs_ref is not None else None
        if d is None or ((d.get("spec") or {}).get("strategy") or {}).get("type") != RECREATE:
            return
        remaining = sum(len(self.pods.index_keys(CONTROLLER_UID_INDEX,
                                                 str(meta(owned).get("uid"))))
                        for owned in self.replicasets.by_index(CONTROLLER_UID_INDEX,
                                                               str(meta(d).get("uid"))))
        if remaining == 0:
            self.enqueue(d)

    # -- reconcile -------------------------------------------------------------------------

    async def reconcile(self, key: str) -> None:
        cached = self.deployments.get(key)
        if cached is None:
            return
        d = _typed(copy.deepcopy(cached))
        selector = selector_of(d)
        if selector.empty:
            self.recorder.event(d, "Warning", "SelectingAll",
                                "This deployment is selecting all pods. A non-empty "
                                "selector is required.")
            status = d.setdefault("status", {})
            if int(status.get("observedGeneration") or 0) < int(meta(d).get("generation") or 0):
                status["observedGeneration"] = meta(d).get("generation")
                await self.client.replace(DEPLOYMENTS, d, subresource="status")
            return
        claimer = Claimer(self.client, d, owner_reference(d), selector,
                          fresh_parent_check(self.client, DEPLOYMENTS, d))
        rs_list = [copy.deepcopy(rs) for rs in
                   await claimer.claim(REPLICASETS, owned_and_orphans(self.replicasets, d))]
        pods_by_rs = {str(meta(rs).get("uid")): self.pods.by_index(
            CONTROLLER_UID_INDEX, str(meta(rs).get("uid"))) for rs in rs_list}
        sync = DeploymentSync(self.client, self.recorder, self.replicasets, d, rs_list,
                              lambda delay: self.queue.add_after(key, delay))
        if is_terminating(d):
            await sync.sync_status_only()
            return
        await sync.check_paused_conditions()
        if (d.get("spec") or {}).get("paused") or await sync.is_scaling_event():
            await sync.sync()
            return
        strategy = ((d.get("spec") or {}).get("strategy") or {}).get("type")
        if strategy == RECREATE:
            await rollout_recreate(sync, pods_by_rs)
        elif strategy == ROLLING_UPDATE:
            await rollout_rolling(sync)
        else:
            raise ValueError(f"unexpected deployment strategy type: {strategy}")
