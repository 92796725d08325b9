"""The StatefulSet controller: pods with stable names, storage and order (upstream
``pkg/controller/statefulset``).

Handlers only enqueue StatefulSet keys: a pod change wakes its controller (or, for an
orphan, the StatefulSets selecting it). A sync claims the set's ControllerRevisions and
pods (adopting matching orphans whose name makes them members) and hands them to
:class:`~kubesmith.controllers.statefulset.control.StatefulSetControl`. With
``minReadySeconds`` the set is looked at again once pods may have become available.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from kubesmith.api.selectors import SelectorError
from kubesmith.client.rest import (
    CONTROLLERREVISIONS,
    PERSISTENTVOLUMECLAIMS,
    PODS,
    STATEFULSETS,
)
from kubesmith.controllers.base import Controller, ControllerContext
from kubesmith.controllers.ownership import (
    Claimer,
    DependentEvents,
    Owners,
    add_ownership_indexes,
    fresh_parent_check,
)
from kubesmith.controllers.statefulset.control import StatefulSetControl
from kubesmith.controllers.statefulset.identity import is_member, replicas_of
from kubesmith.controllers.statefulset.pods import StatefulPodControl
from kubesmith.controllers.util import owner_reference, selector_of

log = logging.getLogger(__name__)

KIND = "StatefulSet"


class StatefulSetController(Controller):
    """Keeps every StatefulSet's ordered pods and claims (see the module docstring)."""

    name = "statefulset-controller"
    component = "statefulset-controller"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.sets = self.informer(STATEFULSETS)
        self.sets.add_handlers(on_add=self.enqueue,
                               on_update=lambda _old, new: self.enqueue(new),
                               on_delete=self.enqueue)
        self.pods = self.informer(PODS)
        add_ownership_indexes(self.pods)
        self.owners = Owners(self.sets, KIND)
        DependentEvents(self.owners, self.queue.add, self.queue.add_after).register(self.pods)
        self.revisions = self.informer(CONTROLLERREVISIONS)
        add_ownership_indexes(self.revisions)
        self.claims = self.informer(PERSISTENTVOLUMECLAIMS)
        self.control = StatefulSetControl(
            self.client, StatefulPodControl(self.client, self.recorder, self.pods,
                                            self.claims))

    # ---- sync --------------------------------------------------------------------------

    async def reconcile(self, key: str) -> None:
        cached = self.sets.get(key)
        if cached is None:
            return
        sts = self.owners.typed(cached)
        try:
            selector = selector_of(sts)
        except SelectorError as exc:
            # Validation keeps this from happening; retrying would not help.
            log.warning("statefulset %s: invalid selector: %s", key, exc)
            return
        owner_ref = owner_reference(sts)
        can_adopt = fresh_parent_check(self.client, STATEFULSETS, sts)
        revisions = await Claimer(self.client, sts, owner_ref, selector,
                                  can_adopt).claim_cached(self.revisions, CONTROLLERREVISIONS)
        # Only pods whose name makes them members are adopted (or kept).
        pods = await Claimer(self.client, sts, owner_ref, selector, can_adopt,
                             accept=lambda pod: is_member(sts, pod)).claim_cached(self.pods,
                                                                                  PODS)
        status = await self.control.sync(sts, owner_ref, pods, revisions, datetime.now(UTC))
        min_ready = int((sts.get("spec") or {}).get("minReadySeconds") or 0)
        if min_ready > 0 and status.get("availableReplicas") != replicas_of(sts):
            self.queue.add_after(key, min_ready)
