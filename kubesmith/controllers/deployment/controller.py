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

from kubesmith.api.types import Obj
from kubesmith.client.rest import DEPLOYMENTS, PODS, REPLICASETS
from kubesmith.controllers.base import Controller, ControllerContext
from kubesmith.controllers.deployment.recreate import rollout_recreate
from kubesmith.controllers.deployment.replicas import RECREATE, ROLLING_UPDATE
from kubesmith.controllers.deployment.rolling import rollout_rolling
from kubesmith.controllers.deployment.sync import DeploymentSync
from kubesmith.controllers.ownership import (
    CONTROLLER_UID_INDEX,
    Claimer,
    DependentEvents,
    Owners,
    add_ownership_indexes,
    fresh_parent_check,
)
from kubesmith.controllers.util import (
    is_terminating,
    meta,
    owner_reference,
    selector_of,
)

log = logging.getLogger(__name__)


class DeploymentController(Controller):
    """Rolls Deployments out through ReplicaSets (see the module docstring)."""

    name = "deployment-controller"
    component = "deployment-controller"
    default_workers = 5

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.deployments = self.informer(DEPLOYMENTS)
        self.deployments.add_handlers(on_add=self.enqueue,
                                      on_update=lambda _old, new: self.enqueue(new),
                                      on_delete=self.enqueue)
        self.owners = Owners(self.deployments, "Deployment")
        self.replicasets = self.informer(REPLICASETS)
        add_ownership_indexes(self.replicasets)
        # A ReplicaSet change wakes its Deployment, an orphan the Deployments selecting it.
        DependentEvents(self.owners, self.queue.add).register(self.replicasets)
        self.replicaset_owners = Owners(self.replicasets, "ReplicaSet")
        self.pods = self.informer(PODS)
        add_ownership_indexes(self.pods)
        self.pods.add_handlers(on_delete=self._pod_deleted)

    # -- informer handlers -----------------------------------------------------------------

    def _pod_deleted(self, pod: Obj) -> None:
        # Only Recreate waits for pods to be gone; wake it when the last one is.
        rs = self.replicaset_owners.owner(pod)
        if rs is None:
            return
        d = self.owners.owner(rs)
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
        d = self.owners.typed(copy.deepcopy(cached))
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
                   await claimer.claim_cached(self.replicasets, REPLICASETS)]
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
