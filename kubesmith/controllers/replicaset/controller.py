"""The ReplicaSet controller and the ReplicationManager (see the package docstring)."""

from __future__ import annotations

import copy
import logging
from typing import Any, ClassVar

from kubesmith.api.selectors import SelectorError
from kubesmith.api.types import Obj
from kubesmith.client import ApiError, object_key
from kubesmith.client.rest import PODS
from kubesmith.controllers.base import Controller, ControllerContext
from kubesmith.controllers.expectations import UIDTrackingExpectations
from kubesmith.controllers.ownership import (
    CONTROLLER_UID_INDEX,
    Claimer,
    DependentEvents,
    Owners,
    add_ownership_indexes,
    fresh_parent_check,
    owned_and_orphans,
)
from kubesmith.controllers.pod_control import PodControl, gather_errors, slow_start_batch
from kubesmith.controllers.replicaset.deletion import pods_to_delete
from kubesmith.controllers.replicaset.kinds import REPLICASET, REPLICATIONCONTROLLER, ReplicaKind
from kubesmith.controllers.replicaset.status import (
    calculate_status,
    status_unchanged,
    without_empty_fields,
)
from kubesmith.controllers.util import (
    controller_ref,
    int_value,
    is_controlled_by,
    is_namespace_terminating,
    is_pod_active,
    is_terminating,
    labels_of,
    meta,
    owner_reference,
    pod_phase,
)

log = logging.getLogger(__name__)

#: At most this many pods are created or deleted per sync (upstream ``BurstReplicas``).
BURST_REPLICAS = 500
#: One retry (after a fresh GET) when a status write conflicts.
STATUS_UPDATE_RETRIES = 1
_DNS1123_SUBDOMAIN_MAX = 253


def pod_name_prefix(owner_name: str) -> str:
    """``<owner>-``, or the owner's name when the dash would make it too long."""
    prefix = f"{owner_name}-"
    return prefix if len(prefix) <= _DNS1123_SUBDOMAIN_MAX else owner_name


class ManageReplicasError(Exception):
    """Creating or deleting pods failed; reported in status, then retried with backoff."""


class ReplicaSetController(Controller):
    """Keeps ``spec.replicas`` pods running for every ReplicaSet (see the package
    docstring)."""

    name = "replicaset-controller"
    component = "replicaset-controller"
    default_workers = 5
    kind: ClassVar[ReplicaKind] = REPLICASET

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.expectations = UIDTrackingExpectations()
        self.pod_control = PodControl(self.client, self.recorder)
        owners = self.informer(self.kind.resource)
        add_ownership_indexes(owners)
        owners.add_handlers(on_add=self.enqueue, on_update=self._owner_updated,
                            on_delete=self._owner_deleted)
        self.owners = Owners(owners, self.kind.kind, self.kind.api_version, self.kind.selector)
        self.pods = self.informer(PODS)
        add_ownership_indexes(self.pods)
        DependentEvents(self.owners, self.queue.add, self.queue.add_after,
                        self._observed).register(self.pods)

    # -- informer handlers (only enqueue and observe) --------------------------------------

    def _owner_updated(self, old: Obj, new: Obj) -> None:
        if meta(old).get("uid") != meta(new).get("uid"):
            self._owner_deleted(old)
        self.enqueue(new)

    def _owner_deleted(self, obj: Obj) -> None:
        key = object_key(obj)
        self.expectations.delete(key)
        self.queue.add(key)

    def _observed(self, key: str, pod: Obj, created: bool) -> None:
        if created:
            self.expectations.creation_observed(key)
        else:
            self.expectations.deletion_observed(key, object_key(pod))

    # -- reconcile -------------------------------------------------------------------------

    async def reconcile(self, key: str) -> None:
        cached = self.owners.informer.get(key)
        if cached is None:
            self.expectations.delete(key)
            return
        owner = self.owners.typed(copy.deepcopy(cached))
        needs_sync = self.expectations.satisfied(key)
        try:
            selector = self.kind.selector(owner)
        except SelectorError as exc:
            # Validation keeps these out; nothing sensible can be done with one.
            log.warning("%s %s has an invalid selector: %s", self.kind.kind, key, exc)
            return
        candidates = owned_and_orphans(self.pods, owner)
        claimer = Claimer(self.client, owner, owner_reference(owner), selector,
                          fresh_parent_check(self.client, self.kind.resource, owner))
        active = await claimer.claim(PODS, [p for p in candidates if is_pod_active(p)])
        terminating = [p for p in candidates
                       if is_terminating(p) and pod_phase(p) not in ("Succeeded", "Failed")
                       and is_controlled_by(p, owner) and selector.matches(labels_of(p))]
        error: Exception | None = None
        if needs_sync and not is_terminating(owner):
            error = await self.manage_replicas(key, owner, active)
        status = calculate_status(owner, self.kind, active, terminating, error)
        updated = await self.update_status(owner, status)
        spec = updated.get("spec") or {}
        new_status = updated.get("status") or {}
        min_ready = int_value(spec.get("minReadySeconds"))
        replicas = int_value(spec.get("replicas", 1))
        if error is None and min_ready > 0 and \
                int_value(new_status.get("readyReplicas")) == replicas and \
                int_value(new_status.get("availableReplicas")) != replicas:
            # A last look after minReadySeconds in case a pod event is missed.
            self.queue.add_after(key, min_ready)
        if error is not None:
            raise error

    async def manage_replicas(self, key: str, owner: Obj, active: list[Obj]
                              ) -> Exception | None:
        """Create or delete pods towards ``spec.replicas``; returns what went wrong."""
        wanted = int_value((owner.get("spec") or {}).get("replicas", 1))
        diff = len(active) - wanted
        if diff < 0:
            return await self._create_pods(key, owner, min(-diff, BURST_REPLICAS))
        if diff > 0:
            return await self._delete_pods(key, owner, active, min(diff, BURST_REPLICAS))
        return None

    async def _create_pods(self, key: str, owner: Obj, count: int) -> Exception | None:
        template = (owner.get("spec") or {}).get("template") or {}
        if not ((template.get("metadata") or {}).get("labels")):
            return ManageReplicasError("unable to create pods, no labels")
        prefix = pod_name_prefix(str(meta(owner)["name"]))
        self.expectations.expect_creations(key, count)

        async def create(_: int) -> None:
            try:
                await self.pod_control.create(owner, template, prefix)
            except ApiError as exc:
                # A terminating namespace refuses every pod; nothing to report.
                if not is_namespace_terminating(exc):
                    raise

        created, error = await slow_start_batch(range(count), create)
        # Pods never attempted (or refused) will not show up in the informer.
        for _ in range(count - created):
            self.expectations.creation_observed(key)
        return error

    async def _delete_pods(self, key: str, owner: Obj, active: list[Obj], count: int
                           ) -> Exception | None:
        chosen = pods_to_delete(active, self._related_pods(owner), count)
        # Claiming awaited: a pod the cache dropped meanwhile would never be observed.
        chosen = [p for p in chosen if self.pods.get(object_key(p)) is not None]
        self.expectations.expect_deletions(key, [object_key(p) for p in chosen])

        async def delete(pod: Obj) -> None:
            try:
                await self.pod_control.delete(owner, meta(pod)["name"])
            except ApiError as exc:
                self.expectations.deletion_observed(key, object_key(pod))
                if exc.code != 404:  # already gone is what we wanted
                    raise
            except Exception:
                self.expectations.deletion_observed(key, object_key(pod))
                raise

        errors = await gather_errors([delete(p) for p in chosen])
        return next((e for e in errors if e is not None), None)

    def _related_pods(self, owner: Obj) -> list[Obj]:
        """Active pods of every ReplicaSet sharing ``owner``'s controller (a Deployment's
        old and new ReplicaSets), for spreading deletions over nodes."""
        ref = controller_ref(owner)
        if ref is None:
            return []
        related: dict[str, Obj] = {}
        for sibling in self.owners.informer.by_index(CONTROLLER_UID_INDEX, str(ref.get("uid"))):
            try:
                selector = self.kind.selector(sibling)
            except SelectorError:
                continue
            for pod in self.pods.by_index(CONTROLLER_UID_INDEX,
                                          str(meta(sibling).get("uid"))):
                if selector.matches(labels_of(pod)):
                    related.setdefault(str(meta(pod).get("uid")), pod)
        return [*related.values()]

    async def update_status(self, owner: Obj, status: dict[str, Any]) -> Obj:
        """Write ``status`` (with ``observedGeneration``) unless nothing changed."""
        if status_unchanged(owner, status):
            return owner
        body = owner
        for attempt in range(STATUS_UPDATE_RETRIES + 1):
            body["status"] = {**status,
                              "observedGeneration": int_value(meta(body).get("generation"))}
            body["status"] = without_empty_fields(body["status"])
            try:
                updated: Obj = await self.client.replace(self.kind.resource, body,
                                                         subresource="status")
                return updated
            except ApiError as exc:
                if exc.code != 409 or attempt >= STATUS_UPDATE_RETRIES:
                    raise
            m = meta(owner)
            body = self.owners.typed(
                await self.client.get(self.kind.resource, m["name"], m["namespace"]))
        raise AssertionError("unreachable")


class ReplicationManager(ReplicaSetController):
    """The same controller for ReplicationControllers (upstream ``ReplicationManager``)."""

    name = "replication-controller"
    component = "replication-controller"
    kind = REPLICATIONCONTROLLER
