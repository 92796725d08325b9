"""The ReplicaSet and ReplicationController controllers (upstream ``pkg/controller/replicaset``;
a ReplicationController is the same logic on the core/v1 kind with a map selector).

Concurrency design: informer handlers only enqueue ``namespace/name`` keys and record
*expectations*; one worker at a time reconciles a key from the shared caches:

* **Expectations.** Before creating N pods a worker records "expect N creations"; before
  deleting pods it records their keys. The pod informer lowers those as it sees the pods
  appear or go. A key whose expectations are not yet met is not scaled again (its status
  still is), so a cache that has not caught up with our own writes never makes us create or
  delete twice. Expectations older than five minutes count as met, so a lost event cannot
  wedge a ReplicaSet.
* **Slow start.** Creations go in batches of 1, 2, 4, ... (at most 500 per sync): when the
  first pod is refused (quota, admission) the rest are not even tried, the refusal becomes
  a ``FailedCreate`` event and a ``ReplicaFailure`` condition, and the key is retried with
  backoff.
* **Ownership.** Orphan pods matching the selector are adopted (a controller
  ownerReference, after re-reading the owner from the server); owned pods that stopped
  matching are released.
* **Deletion order.** Surplus pods are deleted cheapest first: unscheduled, pending, not
  ready, lower ``pod-deletion-cost``, doubled up on a node, ready for less time (log
  scale), more restarts, newer (log scale).
"""

from __future__ import annotations

import asyncio
import copy
import functools
import logging
import math
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from kubesmith.api.selectors import (
    LabelSelector,
    SelectorError,
    label_selector_from_object,
    label_selector_from_set,
)
from kubesmith.api.types import Obj
from kubesmith.client import ApiError, Informer, object_key
from kubesmith.client.rest import PODS, REPLICASETS, REPLICATIONCONTROLLERS, Resource
from kubesmith.controllers.base import Controller, ControllerContext
from kubesmith.controllers.history import (
    CONTROLLER_UID_INDEX,
    Claimer,
    add_ownership_indexes,
    fresh_parent_check,
    owned_and_orphans,
)
from kubesmith.controllers.job.expectations import ControllerExpectations
from kubesmith.controllers.job.pod_control import (
    SLOW_START_INITIAL_BATCH,
    PodControl,
    is_namespace_terminating,
)
from kubesmith.controllers.util import (
    controller_ref,
    get_condition,
    is_controlled_by,
    is_pod_active,
    is_pod_available,
    is_pod_ready,
    is_terminating,
    labels_of,
    meta,
    now_rfc3339,
    owner_reference,
    parse_rfc3339,
    pod_phase,
)

log = logging.getLogger(__name__)

#: At most this many pods are created or deleted per sync (upstream ``BurstReplicas``).
BURST_REPLICAS = 500
#: One retry (after a fresh GET) when a status write conflicts.
STATUS_UPDATE_RETRIES = 1
#: Informer index: objects by namespace (ReplicaSets matching an orphan pod).
NAMESPACE_INDEX = "namespace"
#: ``controller.kubernetes.io/pod-deletion-cost``: lower is deleted first.
POD_DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"
REPLICA_FAILURE = "ReplicaFailure"
_DNS1123_SUBDOMAIN_MAX = 253


def index_by_namespace(obj: Obj) -> list[str]:
    """Informer index: the object's namespace."""
    return [str(meta(obj).get("namespace") or "")]


def resolve_controller(informer: Informer, kind: str, namespace: str,
                       ref: dict[str, Any]) -> Obj | None:
    """The cached object a controller reference names, if it has that kind and uid (a
    same-named successor is not the controller)."""
    if ref.get("kind") != kind:
        return None
    found = informer.get(f"{namespace}/{ref.get('name')}")
    if found is None or meta(found).get("uid") != ref.get("uid"):
        return None
    return found


def selecting(informer: Informer, obj: Obj,
              selector_of: Callable[[Obj], LabelSelector]) -> list[Obj]:
    """The cached objects (indexed by :data:`NAMESPACE_INDEX`) in ``obj``'s namespace whose
    non-empty selector matches its labels: the candidates to adopt an orphan."""
    labels = labels_of(obj)
    found = []
    for owner in informer.by_index(NAMESPACE_INDEX, str(meta(obj).get("namespace"))):
        try:
            selector = selector_of(owner)
        except SelectorError:
            continue
        if not selector.empty and selector.matches(labels):
            found.append(owner)
    return found


@dataclass(frozen=True, slots=True)
class ReplicaKind:
    """What differs between a ReplicaSet and a ReplicationController."""

    resource: Resource
    kind: str
    api_version: str
    #: ``status.terminatingReplicas`` exists (apps/v1 ReplicaSet only).
    terminating_status: bool

    def selector(self, obj: Obj) -> LabelSelector:
        """The pod selector (raises SelectorError for an invalid one)."""
        raw = (obj.get("spec") or {}).get("selector")
        if self.kind == "ReplicationController":
            return label_selector_from_set(raw or {})
        return label_selector_from_object(raw)

    def with_type(self, obj: Obj) -> Obj:
        """``obj`` with kind/apiVersion set (owner references and events need them)."""
        obj["kind"] = self.kind
        obj["apiVersion"] = self.api_version
        return obj


REPLICASET = ReplicaKind(REPLICASETS, "ReplicaSet", "apps/v1", terminating_status=True)
REPLICATIONCONTROLLER = ReplicaKind(REPLICATIONCONTROLLERS, "ReplicationController", "v1",
                                    terminating_status=False)


# ---- expectations -------------------------------------------------------------------------

class PodExpectations:
    """Creations by count, deletions by pod key (upstream
    ``UIDTrackingControllerExpectations``): a pod seen first terminating and later gone
    lowers the deletions once, not twice."""

    def __init__(self) -> None:
        self.counts = ControllerExpectations()
        self._deleting: dict[str, set[str]] = {}

    def satisfied(self, key: str) -> bool:
        """Whether ``key`` may be scaled again."""
        return self.counts.satisfied(key)

    def expect_creations(self, key: str, count: int) -> None:
        """Expect ``count`` new pods for ``key``."""
        self._deleting.pop(key, None)
        self.counts.expect_creations(key, count)

    def expect_deletions(self, key: str, pod_keys: Iterable[str]) -> None:
        """Expect the pods ``pod_keys`` of ``key`` to go."""
        keys = set(pod_keys)
        self._deleting[key] = keys
        self.counts.expect_deletions(key, len(keys))

    def creation_observed(self, key: str) -> None:
        """One pod of ``key`` appeared (or its creation was given up)."""
        self.counts.creation_observed(key)

    def deletion_observed(self, key: str, pod_key: str) -> None:
        """The pod ``pod_key`` of ``key`` is going (counted once per pod)."""
        pending = self._deleting.get(key)
        if pending is not None and pod_key in pending:
            pending.discard(pod_key)
            self.counts.deletion_observed(key)

    def delete(self, key: str) -> None:
        """Forget ``key`` (its owner is gone)."""
        self._deleting.pop(key, None)
        self.counts.delete(key)


async def slow_start_batch(count: int, initial: int,
                           fn: Callable[[], Awaitable[None]]) -> tuple[int, Exception | None]:
    """Call ``fn`` ``count`` times in concurrent batches of ``initial``, doubling while
    every call succeeds; stop after the first batch with a failure. Returns the number of
    successes and the first error."""
    remaining, successes = count, 0
    batch = min(remaining, initial)
    while batch > 0:
        results = await asyncio.gather(*(fn() for _ in range(batch)), return_exceptions=True)
        errors: list[Exception] = []
        for result in results:
            if isinstance(result, Exception):
                errors.append(result)
            elif isinstance(result, BaseException):
                raise result
        successes += batch - len(errors)
        if errors:
            return successes, errors[0]
        remaining -= batch
        batch = min(2 * batch, remaining)
    return successes, None


# ---- which pods to delete -----------------------------------------------------------------

_PHASE_ORDINAL = {"Pending": 0, "Unknown": 1, "Running": 2}


def _deletion_cost(pod: Obj) -> int:
    raw = (meta(pod).get("annotations") or {}).get(POD_DELETION_COST)
    try:
        value = int(str(raw)) if raw is not None else 0
    except ValueError:
        return 0
    return value if -(2 ** 31) <= value < 2 ** 31 else 0


def _ready_since(pod: Obj) -> datetime | None:
    cond = get_condition(pod, "Ready")
    if cond is None or cond.get("status") != "True":
        return None
    return parse_rfc3339(cond.get("lastTransitionTime"))


def _max_restarts(pod: Obj) -> int:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return max((int(c.get("restartCount") or 0) for c in statuses), default=0)


def _log_bucket(moment: datetime, now: datetime) -> int:
    # The age's binary order of magnitude in nanoseconds: pods of "about the same age" tie.
    age = (now - moment).total_seconds() * 1e9
    return int(math.log2(age)) if age > 0 else -1


def _newer_first(a: datetime | None, b: datetime | None, now: datetime,
                 uid_a: str, uid_b: str) -> int:
    """-1 when ``a`` should go first: unknown times first, then the newer on a log scale
    (ties broken by uid for a stable pseudo-random order)."""
    if a is None or b is None:
        return -1 if a is None else 1
    diff = _log_bucket(a, now) - _log_bucket(b, now)
    if diff == 0:
        return -1 if uid_a < uid_b else (1 if uid_a > uid_b else 0)
    return -1 if diff < 0 else 1


def _compare_for_deletion(a: tuple[Obj, int], b: tuple[Obj, int], now: datetime) -> int:
    pa, rank_a = a
    pb, rank_b = b
    node_a = (pa.get("spec") or {}).get("nodeName") or ""
    node_b = (pb.get("spec") or {}).get("nodeName") or ""
    if node_a != node_b and (not node_a or not node_b):
        return -1 if not node_a else 1
    phase_a = _PHASE_ORDINAL.get(pod_phase(pa), 0)
    phase_b = _PHASE_ORDINAL.get(pod_phase(pb), 0)
    if phase_a != phase_b:
        return -1 if phase_a < phase_b else 1
    ready_a, ready_b = is_pod_ready(pa), is_pod_ready(pb)
    if ready_a != ready_b:
        return -1 if not ready_a else 1
    cost_a, cost_b = _deletion_cost(pa), _deletion_cost(pb)
    if cost_a != cost_b:
        return -1 if cost_a < cost_b else 1
    if rank_a != rank_b:
        return -1 if rank_a > rank_b else 1
    uid_a, uid_b = str(meta(pa).get("uid") or ""), str(meta(pb).get("uid") or "")
    if ready_a and ready_b:
        since_a, since_b = _ready_since(pa), _ready_since(pb)
        if since_a != since_b:
            return _newer_first(since_a, since_b, now, uid_a, uid_b)
    restarts_a, restarts_b = _max_restarts(pa), _max_restarts(pb)
    if restarts_a != restarts_b:
        return -1 if restarts_a > restarts_b else 1
    created_a = parse_rfc3339(meta(pa).get("creationTimestamp"))
    created_b = parse_rfc3339(meta(pb).get("creationTimestamp"))
    if created_a != created_b:
        return _newer_first(created_a, created_b, now, uid_a, uid_b)
    return 0


def pods_to_delete(pods: list[Obj], related: Iterable[Obj], count: int,
                   now: datetime | None = None) -> list[Obj]:
    """The ``count`` pods to delete first (upstream ``getPodsToDelete``). ``related`` are
    the active pods of every ReplicaSet with the same owner: a pod sharing its node with
    more of them is "doubled up" and goes first."""
    if count >= len(pods):
        return list(pods)
    on_node: dict[str, int] = {}
    for pod in related:
        if is_pod_active(pod):
            node = str((pod.get("spec") or {}).get("nodeName") or "")
            on_node[node] = on_node.get(node, 0) + 1
    ranked = [(pod, on_node.get(str((pod.get("spec") or {}).get("nodeName") or ""), 0))
              for pod in pods]
    moment = now or datetime.now(UTC)

    def compare(a: tuple[Obj, int], b: tuple[Obj, int]) -> int:
        return _compare_for_deletion(a, b, moment)

    ranked.sort(key=functools.cmp_to_key(compare))
    return [pod for pod, _ in ranked[:count]]


# ---- status -------------------------------------------------------------------------------

def _int(value: Any) -> int:
    return int(value) if isinstance(value, int) else 0


def calculate_status(owner: Obj, kind: ReplicaKind, active: list[Obj],
                     terminating: list[Obj], error: Exception | None,
                     now: datetime | None = None) -> dict[str, Any]:
    """The owner's new status from its claimed pods (upstream ``calculateStatus``)."""
    spec = owner.get("spec") or {}
    status: dict[str, Any] = copy.deepcopy(owner.get("status") or {})
    template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels")
    template_selector = label_selector_from_set(template_labels or {})
    min_ready = _int(spec.get("minReadySeconds"))
    moment = now or datetime.now(UTC)
    fully_labeled = ready = available = 0
    for pod in active:
        if template_selector.matches(labels_of(pod)):
            fully_labeled += 1
        if is_pod_ready(pod):
            ready += 1
            if is_pod_available(pod, min_ready, moment):
                available += 1
    failure = get_condition(owner, REPLICA_FAILURE)
    if error is not None and failure is None:
        diff = len(active) - _int(spec.get("replicas", 1))
        reason = "FailedCreate" if diff < 0 else ("FailedDelete" if diff > 0 else "")
        failure = {"type": REPLICA_FAILURE, "status": "True",
                   "lastTransitionTime": now_rfc3339(), "message": error_message(error)}
        if reason:
            failure["reason"] = reason
        status["conditions"] = [*(status.get("conditions") or []), failure]
    elif error is None and failure is not None:
        status["conditions"] = [c for c in status.get("conditions") or []
                                if c.get("type") != REPLICA_FAILURE]
    status["replicas"] = len(active)
    status["fullyLabeledReplicas"] = fully_labeled
    status["readyReplicas"] = ready
    status["availableReplicas"] = available
    if kind.terminating_status:
        status["terminatingReplicas"] = len(terminating)
    return without_empty_fields(status)


_OMIT_ZERO = ("fullyLabeledReplicas", "readyReplicas", "availableReplicas",
              "observedGeneration")


def without_empty_fields(status: dict[str, Any]) -> dict[str, Any]:
    """Drop zero counters and empty conditions, as Go's ``omitempty`` writes a status."""
    out = {k: v for k, v in status.items() if not (k in _OMIT_ZERO and not v)}
    if not out.get("conditions"):
        out.pop("conditions", None)
    out.setdefault("replicas", 0)
    return out


def status_unchanged(owner: Obj, status: dict[str, Any]) -> bool:
    """Whether writing ``status`` would change nothing (and the generation is observed)."""
    old = without_empty_fields(owner.get("status") or {})
    observed = old.pop("observedGeneration", 0)
    new = without_empty_fields(status)
    new.pop("observedGeneration", None)
    return old == new and observed == _int(meta(owner).get("generation"))


def error_message(error: BaseException) -> str:
    """What an error says (an API Status's message, as upstream's ``err.Error()``)."""
    if isinstance(error, ApiError):
        return error.message
    return str(error) or type(error).__name__


def pod_name_prefix(owner_name: str) -> str:
    """``<owner>-``, or the owner's name when the dash would make it too long."""
    prefix = f"{owner_name}-"
    return prefix if len(prefix) <= _DNS1123_SUBDOMAIN_MAX else owner_name


class ManageReplicasError(Exception):
    """Creating or deleting pods failed; reported in status, then retried with backoff."""


# ---- the controller -----------------------------------------------------------------------

class ReplicaSetController(Controller):
    """Keeps ``spec.replicas`` pods running for every ReplicaSet (see the module docstring)."""

    name = "replicaset-controller"
    component = "replicaset-controller"
    default_workers = 5
    kind: ClassVar[ReplicaKind] = REPLICASET

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.expectations = PodExpectations()
        self.pod_control = PodControl(self.client, self.recorder)
        self.owners = self.informer(self.kind.resource)
        add_ownership_indexes(self.owners)
        self.owners.add_index(NAMESPACE_INDEX, index_by_namespace)
        self.owners.add_handlers(on_add=self.enqueue, on_update=self._owner_updated,
                                 on_delete=self._owner_deleted)
        self.pods = self.informer(PODS)
        add_ownership_indexes(self.pods)
        self.pods.add_handlers(on_add=self._pod_added, on_update=self._pod_updated,
                               on_delete=self._pod_deleted)

    # -- informer handlers (only enqueue and observe) --------------------------------------

    def _owner_updated(self, old: Obj, new: Obj) -> None:
        if meta(old).get("uid") != meta(new).get("uid"):
            self._owner_deleted(old)
        self.enqueue(new)

    def _owner_deleted(self, obj: Obj) -> None:
        key = object_key(obj)
        self.expectations.delete(key)
        self.queue.add(key)

    def _resolve(self, namespace: str, ref: dict[str, Any]) -> Obj | None:
        return resolve_controller(self.owners, self.kind.kind, namespace, ref)

    def _matching_owners(self, pod: Obj) -> list[Obj]:
        return selecting(self.owners, pod, self.kind.selector)

    def _pod_added(self, pod: Obj) -> None:
        if is_terminating(pod):
            # Seen first while already being deleted (e.g. after a restart): a deletion.
            self._pod_deleted(pod)
            return
        ref = controller_ref(pod)
        if ref is not None:
            owner = self._resolve(str(meta(pod).get("namespace")), ref)
            if owner is not None:
                key = object_key(owner)
                self.expectations.creation_observed(key)
                self.queue.add(key)
            return
        for owner in self._matching_owners(pod):
            self.enqueue(owner)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        if meta(old).get("resourceVersion") == meta(new).get("resourceVersion"):
            return
        labels_changed = labels_of(old) != labels_of(new)
        if is_terminating(new):
            # Replace a pod as soon as its deletion starts, not when it is finally gone.
            self._pod_deleted(new)
            if labels_changed:
                self._pod_deleted(old)
            return
        old_ref, new_ref = controller_ref(old), controller_ref(new)
        namespace = str(meta(new).get("namespace"))
        if old_ref != new_ref and old_ref is not None:
            previous = self._resolve(namespace, old_ref)
            if previous is not None:
                self.enqueue(previous)
        if new_ref is not None:
            owner = self._resolve(namespace, new_ref)
            if owner is None:
                return
            self.enqueue(owner)
            min_ready = _int((owner.get("spec") or {}).get("minReadySeconds"))
            if min_ready > 0 and not is_pod_ready(old) and is_pod_ready(new):
                # Availability needs another look once minReadySeconds have passed.
                self.queue.add_after(object_key(owner), min_ready + 1)
            return
        if labels_changed or old_ref != new_ref:
            for owner in self._matching_owners(new):
                self.enqueue(owner)

    def _pod_deleted(self, pod: Obj) -> None:
        ref = controller_ref(pod)
        if ref is None:
            return
        owner = self._resolve(str(meta(pod).get("namespace")), ref)
        if owner is None:
            return
        key = object_key(owner)
        self.expectations.deletion_observed(key, object_key(pod))
        self.queue.add(key)

    # -- reconcile -------------------------------------------------------------------------

    async def reconcile(self, key: str) -> None:
        cached = self.owners.get(key)
        if cached is None:
            self.expectations.delete(key)
            return
        owner = self.kind.with_type(copy.deepcopy(cached))
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
        min_ready = _int(spec.get("minReadySeconds"))
        replicas = _int(spec.get("replicas", 1))
        if error is None and min_ready > 0 and \
                _int(new_status.get("readyReplicas")) == replicas and \
                _int(new_status.get("availableReplicas")) != replicas:
            # A last look after minReadySeconds in case a pod event is missed.
            self.queue.add_after(key, min_ready)
        if error is not None:
            raise error

    async def manage_replicas(self, key: str, owner: Obj, active: list[Obj]
                              ) -> Exception | None:
        """Create or delete pods towards ``spec.replicas``; returns what went wrong."""
        wanted = _int((owner.get("spec") or {}).get("replicas", 1))
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

        async def create() -> None:
            try:
                await self.pod_control.create(owner, template, prefix)
            except ApiError as exc:
                # A terminating namespace refuses every pod; nothing to report.
                if not is_namespace_terminating(exc):
                    raise

        created, error = await slow_start_batch(count, SLOW_START_INITIAL_BATCH, create)
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
                await self.pod_control.delete(owner, pod)
            except ApiError as exc:
                self.expectations.deletion_observed(key, object_key(pod))
                if exc.code != 404:  # already gone is what we wanted
                    raise
            except Exception:
                self.expectations.deletion_observed(key, object_key(pod))
                raise

        results = await asyncio.gather(*(delete(p) for p in chosen), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, Exception):
                raise result
        return next((r for r in results if isinstance(r, Exception)), None)

    def _related_pods(self, owner: Obj) -> list[Obj]:
        """Active pods of every ReplicaSet sharing ``owner``'s controller (a Deployment's
        old and new ReplicaSets), for spreading deletions over nodes."""
        ref = controller_ref(owner)
        if ref is None:
            return []
        related: dict[str, Obj] = {}
        for sibling in self.owners.by_index(CONTROLLER_UID_INDEX, str(ref.get("uid"))):
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
                              "observedGeneration": _int(meta(body).get("generation"))}
            body["status"] = without_empty_fields(body["status"])
            try:
                updated: Obj = await self.client.replace(self.kind.resource, body,
                                                         subresource="status")
                return updated
            except ApiError as exc:
                if exc.code != 409 or attempt >= STATUS_UPDATE_RETRIES:
                    raise
            m = meta(owner)
            body = self.kind.with_type(
                await self.client.get(self.kind.resource, m["name"], m["namespace"]))
        raise AssertionError("unreachable")


class ReplicationManager(ReplicaSetController):
    """The same controller for ReplicationControllers (upstream ``ReplicationManager``)."""

    name = "replication-controller"
    component = "replication-controller"
    kind = REPLICATIONCONTROLLER
