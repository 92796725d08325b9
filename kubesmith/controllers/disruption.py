"""The disruption controller: the status of every PodDisruptionBudget — how many of its
pods are healthy, how many must be, and so how many voluntary disruptions (evictions) are
allowed now — plus the ``DisruptionAllowed`` condition the eviction API relies on.

* ``expectedPods`` is the number of matching pods for an integer ``minAvailable``; for a
  percentage or for ``maxUnavailable`` it is the sum of the scales of the pods' controllers
  (ReplicationController, Deployment through its ReplicaSet, ReplicaSet, StatefulSet, or
  any controller serving ``/scale``), as upstream computes it.
* ``disruptedPods`` (written by the eviction API) is pruned of pods that were deleted or
  that outlived the two-minute deletion timeout; pods still listed there do not count as
  healthy, and the budget is checked again when the earliest entry expires.
* A budget whose status cannot be computed gets ``disruptionsAllowed: 0`` and the condition
  ``DisruptionAllowed=False`` with reason ``SyncFailed`` (fail safe), and is retried with
  backoff.
* Pods whose ``DisruptionTarget`` condition stayed True for two minutes without the pod
  being deleted get that condition reset to False (the eviction did not happen). Those
  items share the work queue under keys ``pod:<namespace>/<name>``.

Pod and budget events only enqueue keys; workers read the informer caches (pods and
budgets indexed by namespace) and write status only when it changed.
"""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from kubesmith.api import gofmt
from kubesmith.api.selectors import LabelSelector, SelectorError, label_selector_from_object
from kubesmith.api.types import Obj
from kubesmith.client import ApiError, object_key
from kubesmith.client.discovery import RestMapper, discover
from kubesmith.client.rest import (
    DEPLOYMENTS,
    PODDISRUPTIONBUDGETS,
    PODS,
    REPLICASETS,
    REPLICATIONCONTROLLERS,
    STATEFULSETS,
)
from kubesmith.controllers.base import Controller, ControllerContext
from kubesmith.controllers.util import (
    NAMESPACE_INDEX,
    controller_ref,
    get_condition,
    index_by_namespace,
    is_pod_ready,
    labels_of,
    meta,
    now_rfc3339,
    parse_rfc3339,
    scaled_value,
    set_condition,
)

log = logging.getLogger(__name__)

DISRUPTION_ALLOWED = "DisruptionAllowed"
SUFFICIENT_PODS = "SufficientPods"
INSUFFICIENT_PODS = "InsufficientPods"
SYNC_FAILED = "SyncFailed"
DISRUPTION_TARGET = "DisruptionTarget"
#: the DisruptionTarget reason the kubelet sets; never considered stale
TERMINATION_BY_KUBELET = "TerminationByKubelet"
#: How long a pod the eviction API disrupted may take to be deleted (upstream: 2 min).
DELETION_TIMEOUT = timedelta(minutes=2)
#: How long a DisruptionTarget=True condition may stay on a pod not being deleted.
STALE_POD_DISRUPTION_TIMEOUT = timedelta(minutes=2)

POD_KEY_PREFIX = "pod:"


class BudgetError(Exception):
    """The budget's status cannot be computed (the message is shown in its condition)."""


def budget_count(value: Any, total: int) -> int:
    """``minAvailable``/``maxUnavailable`` as a number of pods out of ``total`` (percentages
    rounded up, as upstream); a bad value makes the budget's status uncomputable."""
    try:
        return scaled_value(value, total, round_up=True, default=None)
    except ValueError as exc:
        raise BudgetError(str(exc)) from None


def go_selector_string(selector: Any) -> str:
    """A LabelSelector as Go's ``%v`` prints it (for upstream's UnmanagedPods message)."""
    if selector is None:
        return "nil"
    labels = selector.get("matchLabels") or {}
    label_text = "".join(f"{k}: {labels[k]}," for k in sorted(labels))
    exprs = "".join(
        f"LabelSelectorRequirement{{Key:{e.get('key', '')},Operator:{e.get('operator', '')},"
        f"Values:[{' '.join(str(v) for v in e.get('values') or ())}],}},"
        for e in selector.get("matchExpressions") or ())
    return (f"&LabelSelector{{MatchLabels:map[string]string{{{label_text}}},"
            f"MatchExpressions:[]LabelSelectorRequirement{{{exprs}}},}}")


@dataclass(slots=True)
class DisruptedPods:
    """``status.disruptedPods`` pruned (upstream's buildDisruptedPodMap)."""

    #: pod name -> the time the eviction API disrupted it
    kept: dict[str, str] = field(default_factory=dict)
    #: when the earliest kept entry expires (check the budget again then)
    recheck: datetime | None = None
    #: pods past the deletion timeout yet not deleted
    not_deleted: list[Obj] = field(default_factory=list)


def prune_disrupted_pods(pods: list[Obj], disrupted: dict[str, str] | None,
                         now: datetime) -> DisruptedPods:
    """Keep the entries of pods that exist, are not being deleted and are within the
    deletion timeout."""
    result = DisruptedPods()
    if not disrupted:
        return result
    for pod in pods:
        m = meta(pod)
        if m.get("deletionTimestamp"):
            continue
        stamp = disrupted.get(str(m.get("name")))
        when = parse_rfc3339(stamp)
        if stamp is None or when is None:
            continue
        expires = when + DELETION_TIMEOUT
        if expires < now:
            result.not_deleted.append(pod)
            continue
        if result.recheck is None or expires < result.recheck:
            result.recheck = expires
        result.kept[str(m.get("name"))] = stamp
    return result


def count_healthy(pods: list[Obj], disrupted: dict[str, str], now: datetime) -> int:
    """Ready pods that are neither being deleted nor just disrupted."""
    healthy = 0
    for pod in pods:
        m = meta(pod)
        if m.get("deletionTimestamp"):
            continue
        when = parse_rfc3339(disrupted.get(str(m.get("name"))))
        if when is not None and when + DELETION_TIMEOUT > now:
            continue
        if is_pod_ready(pod):
            healthy += 1
    return healthy


def set_disruption_allowed(status: dict[str, Any], allowed: bool, reason: str,
                           message: str = "") -> None:
    """Set the DisruptionAllowed condition (a metav1.Condition: observedGeneration too)."""
    set_condition(status, DISRUPTION_ALLOWED, "True" if allowed else "False", reason, message)
    cond = next(c for c in status["conditions"] if c.get("type") == DISRUPTION_ALLOWED)
    generation = status.get("observedGeneration") or 0
    if generation:
        cond["observedGeneration"] = generation
    else:
        cond.pop("observedGeneration", None)


def conditions_up_to_date(pdb: Obj) -> bool:
    """Whether DisruptionAllowed agrees with ``disruptionsAllowed`` for this generation."""
    status = pdb.get("status") or {}
    cond = get_condition(pdb, DISRUPTION_ALLOWED)
    if cond is None or status.get("observedGeneration") != meta(pdb).get("generation"):
        return False
    if (status.get("disruptionsAllowed") or 0) > 0:
        return cond.get("status") == "True" and cond.get("reason") == SUFFICIENT_PODS
    return cond.get("status") == "False" and cond.get("reason") == INSUFFICIENT_PODS


def budget_status(pdb: Obj, current_healthy: int, desired_healthy: int, expected: int,
                  disrupted: dict[str, str]) -> dict[str, Any] | None:
    """The new status, or None when the current one already says this."""
    allowed = current_healthy - desired_healthy
    if expected <= 0 or allowed <= 0:
        # A budget matching no pods yet stays safe until this controller sees them.
        allowed = 0
    status = pdb.get("status") or {}
    generation = meta(pdb).get("generation")
    if (status.get("currentHealthy") or 0) == current_healthy and \
            (status.get("desiredHealthy") or 0) == desired_healthy and \
            (status.get("expectedPods") or 0) == expected and \
            (status.get("disruptionsAllowed") or 0) == allowed and \
            (status.get("disruptedPods") or {}) == disrupted and \
            status.get("observedGeneration") == generation and conditions_up_to_date(pdb):
        return None
    new: dict[str, Any] = {
        "currentHealthy": current_healthy, "desiredHealthy": desired_healthy,
        "expectedPods": expected, "disruptionsAllowed": allowed,
        "observedGeneration": generation,
        "conditions": copy.deepcopy(status.get("conditions") or [])}
    if disrupted:
        new["disruptedPods"] = dict(disrupted)
    if allowed > 0:
        set_disruption_allowed(new, True, SUFFICIENT_PODS)
    else:
        set_disruption_allowed(new, False, INSUFFICIENT_PODS)
    return new


def stale_disruption_wait(pod: Obj, now: datetime) -> float | None:
    """Seconds until the pod's DisruptionTarget=True condition is stale (0: it is), or
    None when it has none that can go stale."""
    if meta(pod).get("deletionTimestamp"):
        return None
    if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        return None
    cond = get_condition(pod, DISRUPTION_TARGET)
    if cond is None or cond.get("status") != "True" or \
            cond.get("reason") == TERMINATION_BY_KUBELET:
        return None
    since = parse_rfc3339(cond.get("lastTransitionTime")) or now
    return max((since + STALE_POD_DISRUPTION_TIMEOUT - now).total_seconds(), 0.0)


class DisruptionController(Controller):
    name = "disruption-controller"
    #: upstream's event source for this controller
    component = "controllermanager"
    default_workers = 1
    #: Least time between two discovery rounds made to resolve a controller's kind.
    rediscovery_interval: ClassVar[float] = 10.0

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.pdbs = self.informer(PODDISRUPTIONBUDGETS)
        self.pods = self.informer(PODS)
        self.rcs = self.informer(REPLICATIONCONTROLLERS)
        self.replicasets = self.informer(REPLICASETS)
        self.deployments = self.informer(DEPLOYMENTS)
        self.statefulsets = self.informer(STATEFULSETS)
        self.pdbs.add_index(NAMESPACE_INDEX, index_by_namespace)
        self.pods.add_index(NAMESPACE_INDEX, index_by_namespace)
        self.pdbs.add_handlers(on_add=self.enqueue,
                               on_update=lambda _old, new: self.enqueue(new),
                               on_delete=self.enqueue)
        self.pods.add_handlers(on_add=self._pod_added, on_update=self._pod_updated,
                               on_delete=self._enqueue_budgets)
        self._mapper = RestMapper()
        self._mapped_at = float("-inf")

    # -- events --------------------------------------------------------------------------

    def _budgets_for(self, pod: Obj) -> list[Obj]:
        labels = labels_of(pod)
        found = []
        for pdb in self.pdbs.by_index(NAMESPACE_INDEX, str(meta(pod).get("namespace") or "")):
            try:
                if _selector(pdb).matches(labels):
                    found.append(pdb)
            except SelectorError:
                continue
        return sorted(found, key=lambda p: str(meta(p).get("name")))

    def _enqueue_budgets(self, pod: Obj) -> None:
        budgets = self._budgets_for(pod)
        if len(budgets) > 1:
            m = meta(pod)
            self.recorder.event(
                pod, "Warning", "MultiplePodDisruptionBudgets",
                f"Pod {gofmt.quote(str(m.get('namespace')))}/{gofmt.quote(str(m.get('name')))} "
                f"matches multiple PodDisruptionBudgets.  Chose "
                f"{gofmt.quote(str(meta(budgets[0]).get('name')))} arbitrarily.")
        # Every matching budget is synced (upstream syncs only the first; the others would
        # wait for their own events).
        for pdb in budgets:
            self.enqueue(pdb)

    def _check_stale_disruption(self, pod: Obj) -> None:
        wait = stale_disruption_wait(pod, datetime.now(UTC))
        if wait is not None:
            self.queue.add_after(POD_KEY_PREFIX + object_key(pod), wait)

    def _pod_added(self, pod: Obj) -> None:
        self._enqueue_budgets(pod)
        self._check_stale_disruption(pod)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        self._enqueue_budgets(new)
        if labels_of(old) != labels_of(new):
            # budgets the pod just left must count it out
            self._enqueue_budgets(old)
        self._check_stale_disruption(new)

    # -- reconcile -----------------------------------------------------------------------

    async def reconcile(self, key: str) -> None:
        if key.startswith(POD_KEY_PREFIX):
            await self._reset_stale_disruption(key[len(POD_KEY_PREFIX):])
            return
        pdb = self.pdbs.get(key)
        if pdb is None:
            return
        try:
            await self._try_sync(pdb)
        except ApiError as exc:
            if exc.code == 409:
                raise
            await self._fail_safe(pdb, str(exc))
            raise
        except (BudgetError, SelectorError) as exc:
            await self._fail_safe(pdb, str(exc))
            raise

    async def _try_sync(self, pdb: Obj) -> None:
        try:
            selector = _selector(pdb)
        except SelectorError as exc:
            self.recorder.event(pdb, "Warning", "NoPods", f"Failed to get pods: {exc}")
            raise
        namespace = str(meta(pdb).get("namespace") or "")
        pods = [p for p in self.pods.by_index(NAMESPACE_INDEX, namespace)
                if selector.matches(labels_of(p))]
        if not pods:
            self.recorder.event(pdb, "Normal", "NoPods", "No matching pods found")
        try:
            expected, desired, unmanaged = await self._expected_pod_count(pdb, pods)
        except (BudgetError, ApiError) as exc:
            self.recorder.event(pdb, "Warning", "CalculateExpectedPodCountFailed",
                                f"Failed to calculate the number of expected pods: {exc}")
            raise
        if unmanaged:
            self.recorder.event(
                pdb, "Warning", "UnmanagedPods",
                "Pods selected by this PodDisruptionBudget (selector: "
                f"{go_selector_string((pdb.get('spec') or {}).get('selector'))}) were found "
                "to be unmanaged. As a result, the status of the PDB cannot be calculated "
                "correctly, which may result in undefined behavior. To account for these pods "
                'please set ".spec.minAvailable" field of the PDB to an integer value.')
        now = datetime.now(UTC)
        disrupted = prune_disrupted_pods(
            pods, (pdb.get("status") or {}).get("disruptedPods"), now)
        for pod in disrupted.not_deleted:
            self.recorder.event(
                pod, "Warning", "NotDeleted",
                f"Pod was expected by PDB {namespace}/{meta(pdb).get('name')} to be deleted "
                "but it wasn't")
        healthy = count_healthy(pods, disrupted.kept, now)
        status = budget_status(pdb, healthy, desired, expected, disrupted.kept)
        if status is not None:
            await self._write_status(pdb, status)
        if disrupted.recheck is not None:
            self.queue.add_after(object_key(pdb), (disrupted.recheck - now).total_seconds())

    async def _fail_safe(self, pdb: Obj, message: str) -> None:
        """Allow no disruption while the budget cannot be computed (upstream's failSafe)."""
        status = copy.deepcopy(pdb.get("status") or {})
        status["disruptionsAllowed"] = 0
        set_disruption_allowed(status, False, SYNC_FAILED, message)
        await self._write_status(pdb, status)

    async def _write_status(self, pdb: Obj, status: dict[str, Any]) -> None:
        updated = {**pdb, "status": status}
        await self.client.replace(PODDISRUPTIONBUDGETS, updated, subresource="status")

    # -- expected pods -------------------------------------------------------------------

    async def _expected_pod_count(self, pdb: Obj, pods: list[Obj]
                                  ) -> tuple[int, int, list[str]]:
        """(expectedPods, desiredHealthy, names of pods without a controller)."""
        spec = pdb.get("spec") or {}
        if spec.get("maxUnavailable") is not None:
            expected, unmanaged = await self._expected_scale(pods)
            desired = max(expected - budget_count(spec["maxUnavailable"], expected), 0)
            return expected, desired, unmanaged
        min_available = spec.get("minAvailable")
        if min_available is None:
            return 0, 0, []
        if isinstance(min_available, int) and not isinstance(min_available, bool):
            return len(pods), min_available, []
        expected, unmanaged = await self._expected_scale(pods)
        return expected, budget_count(min_available, expected), unmanaged

    async def _expected_scale(self, pods: list[Obj]) -> tuple[int, list[str]]:
        """The summed scale of the pods' controllers, each counted once."""
        scales: dict[str, int] = {}
        resolved: set[str] = set()
        unmanaged: list[str] = []
        for pod in pods:
            ref = controller_ref(pod)
            name = str(meta(pod).get("name"))
            if ref is None:
                unmanaged.append(name)
                continue
            if ref.get("uid") in resolved:
                continue
            found = await self._controller_scale(ref, str(meta(pod).get("namespace") or ""))
            if found is None:
                raise BudgetError(f"found no controllers for pod {gofmt.quote(name)}")
            resolved.add(str(ref.get("uid")))
            scales[found[0]] = found[1]
        return sum(scales.values()), unmanaged

    async def _controller_scale(self, ref: dict[str, Any], namespace: str
                                ) -> tuple[str, int] | None:
        """(uid, replicas) of the controller ``ref`` names, tried as upstream's finders
        are: ReplicationController, Deployment (via its ReplicaSet), ReplicaSet,
        StatefulSet, then any resource with a scale subresource."""
        group = str(ref.get("apiVersion") or "").rpartition("/")[0]
        kind = str(ref.get("kind") or "")
        key = f"{namespace}/{ref.get('name')}"
        found: tuple[str, int] | None = None
        if (group, kind) == ("", "ReplicationController"):
            found = _owned_scale(self.rcs.get(key), ref)
        elif kind == "ReplicaSet" and group in ("apps", "extensions"):
            found = self._replicaset_scale(self.replicasets.get(key), ref, namespace)
        elif (group, kind) == ("apps", "StatefulSet"):
            found = _owned_scale(self.statefulsets.get(key), ref)
        return found or await self._scale_subresource(ref, namespace)

    def _replicaset_scale(self, rs: Obj | None, ref: dict[str, Any], namespace: str
                          ) -> tuple[str, int] | None:
        """A ReplicaSet's own scale, or its Deployment's when a Deployment controls it."""
        if rs is None or meta(rs).get("uid") != ref.get("uid"):
            return None
        owner = controller_ref(rs)
        if owner is None or owner.get("kind") != "Deployment":
            return _owned_scale(rs, ref)
        if str(owner.get("apiVersion") or "").rpartition("/")[0] not in ("apps", "extensions"):
            return None
        return _owned_scale(self.deployments.get(f"{namespace}/{owner.get('name')}"), owner)

    async def _scale_subresource(self, ref: dict[str, Any], namespace: str
                                 ) -> tuple[str, int] | None:
        api_version = str(ref.get("apiVersion") or "")
        kind = str(ref.get("kind") or "")
        api = self._mapper.resource_for(api_version, kind)
        if api is None and time.monotonic() - self._mapped_at > self.rediscovery_interval:
            self._mapped_at = time.monotonic()
            self._mapper = (await discover(self.client)).mapper()
            api = self._mapper.resource_for(api_version, kind)
        if api is None:
            raise BudgetError(f"no matches for kind {gofmt.quote(kind)} in version "
                              f"{gofmt.quote(api_version)}")
        try:
            scale = await self.client.get(api.resource, str(ref.get("name")),
                                          namespace if api.namespaced else None,
                                          subresource="scale")
        except ApiError as exc:
            if exc.code != 404:
                raise
            if "scale" not in api.subresources:
                group_resource = f"{api.plural}.{api.group}" if api.group else api.plural
                raise BudgetError(f"{group_resource} does not implement the scale "
                                  "subresource") from None
            return None
        if meta(scale).get("uid") != ref.get("uid"):
            return None
        return str(ref.get("uid")), int((scale.get("spec") or {}).get("replicas") or 0)

    # -- stale DisruptionTarget conditions -----------------------------------------------

    async def _reset_stale_disruption(self, key: str) -> None:
        pod = self.pods.get(key)
        if pod is None:
            return
        wait = stale_disruption_wait(pod, datetime.now(UTC))
        if wait is None:
            return
        if wait > 0:
            self.queue.add_after(POD_KEY_PREFIX + key, wait)
            return
        updated = copy.deepcopy(pod)
        conditions = [c for c in (updated.get("status") or {}).get("conditions") or ()
                      if c.get("type") != DISRUPTION_TARGET]
        conditions.append({"type": DISRUPTION_TARGET, "status": "False",
                           "lastTransitionTime": now_rfc3339()})
        updated.setdefault("status", {})["conditions"] = conditions
        await self.client.replace(PODS, updated, subresource="status")
        log.info("pod %s: reset stale DisruptionTarget condition to False", key)


def _selector(pdb: Obj) -> LabelSelector:
    # policy/v1: a missing selector selects nothing, an empty one every pod
    return label_selector_from_object((pdb.get("spec") or {}).get("selector"))


def _owned_scale(obj: Obj | None, ref: dict[str, Any]) -> tuple[str, int] | None:
    """(uid, spec.replicas) of ``obj`` when it is the object ``ref`` names."""
    if obj is None or meta(obj).get("uid") != ref.get("uid"):
        return None
    replicas = (obj.get("spec") or {}).get("replicas")
    return str(ref.get("uid")), int(replicas) if isinstance(replicas, int) else 1
