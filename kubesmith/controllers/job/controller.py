"""The Job controller (upstream's ``job-controller``): runs a Job's pods to completion.

Design, as upstream's:

* **Queue keys.** Job events enqueue ``namespace/name`` at once; pod events and the Job's own
  status updates enqueue it after a one-second batching delay, so a burst of pod changes
  costs one sync. Pods that lost their Job but still carry the tracking finalizer are queued
  as ``orphan:namespace/name`` and only get the finalizer removed.
* **Tracking with finalizers.** Every pod is created with ``batch.kubernetes.io/job-tracking``.
  A finished pod is first recorded in ``status.uncountedTerminatedPods`` (one status write),
  then its finalizer is removed, then the UID moves into ``succeeded``/``failed`` (a second
  write). A crash between the steps loses and double-counts nothing.
* **Expectations.** Creations and deletions not yet seen in the pod cache (and finalizer
  removals not yet seen) block a new pod-count decision, so a stale cache cannot create pods
  twice.
* **Terminal conditions.** A failure first gets ``FailureTarget`` and a success
  ``SuccessCriteriaMet``; ``Failed``/``Complete`` follow once no pod is left terminating or
  uncounted.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, ClassVar

from kubesmith.api.types import Obj
from kubesmith.client import ApiError, object_key
from kubesmith.client.rest import JOBS, PODS
from kubesmith.controllers.base import Controller, ControllerContext
from kubesmith.controllers.expectations import (
    ControllerExpectations,
    FinalizerRemovalExpectations,
)
from kubesmith.controllers.job import conditions as jc
from kubesmith.controllers.job import per_index
from kubesmith.controllers.job.backoff import BackoffStore
from kubesmith.controllers.job.claim import PodClaimer
from kubesmith.controllers.job.failure_policy import match_pod_failure_policy
from kubesmith.controllers.job.indexed import completions_of, indexes_of, is_indexed
from kubesmith.controllers.job.manage import PodManager
from kubesmith.controllers.job.pod_control import JobPodControl
from kubesmith.controllers.job.pods import (
    has_tracking_finalizer,
    is_counted_terminating,
    is_pod_failed,
    restart_count_total,
)
from kubesmith.controllers.job.state import (
    JobSync,
    is_suspended,
    managed_externally,
)
from kubesmith.controllers.job.tracking import StatusTracker
from kubesmith.controllers.ownership import CONTROLLER_UID_INDEX, Owners
from kubesmith.controllers.util import (
    controller_ref,
    get_condition,
    int_value,
    is_pod_active,
    is_pod_ready,
    is_terminating,
    labels_of,
    meta,
    parse_rfc3339,
    pod_phase,
    uid_of,
)

log = logging.getLogger(__name__)

ORPHAN_PREFIX = "orphan:"


class JobController(Controller):
    """Creates and tracks the pods of Jobs (see the module docstring)."""

    name = "job-controller"
    component = "job-controller"
    default_workers = 5

    #: Delay that batches pod events (and our own status writes) into one sync.
    sync_batch_period: ClassVar[float] = 1.0

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.jobs = self.informer(JOBS)
        self.pods = self.informer(PODS)
        self.owners = Owners(self.jobs, "Job", "batch/v1")
        self.jobs.add_handlers(on_add=self._job_added, on_update=self._job_updated,
                               on_delete=self._job_deleted)
        self.pods.add_handlers(on_add=self._pod_added, on_update=self._pod_updated,
                               on_delete=lambda pod: self._pod_gone(pod, final=True))
        self.expectations = ControllerExpectations()
        self.finalizer_expectations = FinalizerRemovalExpectations()
        self.backoff = BackoffStore()
        self.pod_control = JobPodControl(self.client, self.recorder)
        self.claimer = PodClaimer(self.client, self.pods)
        self.manager = PodManager(self.pod_control, self.expectations, self._enqueue_batched)
        self.tracker = StatusTracker(self.client, self.recorder, self.pod_control,
                                     self.finalizer_expectations, self.backoff)

    # ---- event handlers ---------------------------------------------------------------

    def _enqueue_batched(self, key: str, delay: float | None = None) -> None:
        self.queue.add_after(key, max(delay or 0.0, self.sync_batch_period))

    def _enqueue_orphan(self, pod: Obj) -> None:
        self.queue.add(ORPHAN_PREFIX + object_key(pod))

    def _pod_added(self, pod: Obj) -> None:
        if is_terminating(pod):
            # A restarted controller may first see a pod already being deleted: that is no
            # creation it waits for.
            self._pod_gone(pod, final=False)
            return
        ref = controller_ref(pod)
        if ref is not None:
            job = self.owners.resolve(str(meta(pod).get("namespace")), ref)
            if job is not None:
                key = object_key(job)
                self.expectations.creation_observed(key)
                self._enqueue_batched(key)
            return
        if has_tracking_finalizer(pod):
            self._enqueue_orphan(pod)
        for job in self.owners.selecting(pod):
            self._enqueue_batched(object_key(job))

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        if meta(old).get("resourceVersion") == meta(new).get("resourceVersion"):
            return
        if is_terminating(new):
            self._pod_gone(new, final=False)
            return
        namespace = str(meta(new).get("namespace"))
        finalizer_removed = not has_tracking_finalizer(new)
        ref, old_ref = controller_ref(new), controller_ref(old)
        if ref != old_ref and old_ref is not None:
            old_job = self.owners.resolve(namespace, old_ref)
            if old_job is not None:
                if finalizer_removed:
                    self.finalizer_expectations.removal_observed(object_key(old_job),
                                                                 uid_of(new))
                self._enqueue_batched(object_key(old_job))
        if ref is not None:
            job = self.owners.resolve(namespace, ref)
            if job is not None:
                if finalizer_removed:
                    self.finalizer_expectations.removal_observed(object_key(job), uid_of(new))
                self._enqueue_batched(object_key(job))
            return
        if has_tracking_finalizer(new):
            self._enqueue_orphan(new)
        if labels_of(new) != labels_of(old) or ref != old_ref:
            for job in self.owners.selecting(new):
                self._enqueue_batched(object_key(job))

    def _pod_gone(self, pod: Obj, *, final: bool) -> None:
        """The pod was deleted (``final``) or its deletion began."""
        ref = controller_ref(pod)
        has_finalizer = has_tracking_finalizer(pod)
        if ref is None:
            if has_finalizer:
                self._enqueue_orphan(pod)
            return
        job = self.owners.resolve(str(meta(pod).get("namespace")), ref)
        if job is None or jc.is_finished(job):
            # No sync of this Job will remove the finalizer any more.
            if has_finalizer:
                self._enqueue_orphan(pod)
            return
        key = object_key(job)
        self.expectations.deletion_observed(key)
        if final or not has_finalizer:
            self.finalizer_expectations.removal_observed(key, uid_of(pod))
        self._enqueue_batched(key)

    def _job_added(self, job: Obj) -> None:
        self.queue.add(object_key(job))

    def _job_updated(self, old: Obj, new: Obj) -> None:
        key = object_key(new)
        if meta(old).get("generation") == meta(new).get("generation"):
            # Status writes (mostly our own) only need a batched look.
            self._enqueue_batched(key)
        else:
            self.queue.add(key)
        if jc.is_finished(new):
            self._cleanup_pod_finalizers(new)
        # A changed activeDeadlineSeconds needs a wake-up at the new deadline.
        start = parse_rfc3339((new.get("status") or {}).get("startTime"))
        deadline = (new.get("spec") or {}).get("activeDeadlineSeconds")
        old_deadline = (old.get("spec") or {}).get("activeDeadlineSeconds")
        if start is not None and deadline is not None and deadline != old_deadline:
            passed = (datetime.now(UTC) - start).total_seconds()
            self.queue.add_after(key, deadline - passed)

    def _job_deleted(self, job: Obj) -> None:
        self.queue.add(object_key(job))
        self._cleanup_pod_finalizers(job)

    def _cleanup_pod_finalizers(self, job: Obj) -> None:
        for pod in self.pods.by_index(CONTROLLER_UID_INDEX, uid_of(job)):
            if has_tracking_finalizer(pod):
                self._enqueue_orphan(pod)

    # ---- reconcile ----------------------------------------------------------------------

    async def reconcile(self, key: str) -> None:
        if key.startswith(ORPHAN_PREFIX):
            await self._sync_orphan_pod(key[len(ORPHAN_PREFIX):])
        else:
            await self._sync_job(key)

    async def _sync_orphan_pod(self, key: str) -> None:
        """Remove the tracking finalizer of a pod no running Job counts any more."""
        pod = self.pods.get(key)
        if pod is None:
            return
        ref = controller_ref(pod)
        if ref is not None:
            if ref.get("kind") != "Job" or ref.get("apiVersion") != "batch/v1":
                return
            job = self.owners.resolve(str(meta(pod).get("namespace")), ref)
            if job is not None and (managed_externally(job) or not jc.is_finished(job)):
                return
        try:
            await self.pod_control.remove_tracking_finalizer(pod)
        except ApiError as exc:
            if exc.code != 404:
                raise

    async def _sync_job(self, key: str) -> None:
        shared = self.jobs.get(key)
        if shared is None:
            self.expectations.delete(key)
            self.finalizer_expectations.delete(key)
            self.backoff.remove(key)
            return
        if managed_externally(shared):
            return
        if jc.is_finished(shared):
            self.backoff.remove(key)
            return
        job = copy.deepcopy(shared)
        if (job.get("spec") or {}).get("completionMode") not in (None, "NonIndexed", "Indexed"):
            self.recorder.event(job, "Warning", "UnknownCompletionMode",
                                "Skipped Job sync because completion mode is unknown")
            return
        status: dict[str, Any] = job.setdefault("status", {})
        uncounted = status.setdefault("uncountedTerminatedPods", {})
        # Read expectations before the pods, so a pod arriving in between defers the sync
        # instead of being counted twice.
        satisfied = self.expectations.satisfied(key)
        pods = await self.claimer.pods_for_job(job)
        active_pods = [p for p in pods if is_pod_active(p)]
        sync = JobSync(
            key=key, job=job, now=datetime.now(UTC), pods=pods, active_pods=active_pods,
            ready=sum(1 for p in active_pods if is_pod_ready(p)),
            terminating=sum(1 for p in pods if is_counted_terminating(p)),
            expected_rm=self.finalizer_expectations.expected(key),
            uncounted_succeeded=set(uncounted.get("succeeded") or ()),
            uncounted_failed=set(uncounted.get("failed") or ()))
        active = len(active_pods)
        new_succeeded, new_failed = self._new_finished_pods(sync)
        sync.succeeded = int(status.get("succeeded") or 0) + len(new_succeeded) + \
            len(sync.uncounted_succeeded)
        sync.failed = int(status.get("failed") or 0) + len(sync.uncounted_failed) + \
            self._counted_failures(job, new_failed)
        if not status.get("startTime") and not is_suspended(job):
            status["startTime"] = sync.stamp
        sync.new_backoff = self.backoff.next_record(key, new_succeeded, new_failed)

        self._check_failure(sync)
        if is_indexed(job):
            self._check_indexes(sync, active_pods)

        suspend_changed = False
        manage_error: BaseException | None = None
        if sync.finished is not None:
            deleted_ready, deleted, manage_error = await self.manager.delete_active_pods(
                job, active_pods)
            if deleted != active or not satisfied:
                # Pods may be left with finalizers, or not yet in the cache: finish later.
                sync.finished = None
            active -= deleted
            sync.terminating += deleted
            sync.ready -= deleted_ready
        else:
            manage_called = False
            if satisfied and not is_terminating(job):
                active, manage_error = await self.manager.manage(sync)
                manage_called = True
            completions = (job.get("spec") or {}).get("completions")
            if completions is None:
                # Any success finishes a work-queue Job once nothing runs any more.
                complete = sync.succeeded > 0 and active == 0
            else:
                complete = sync.succeeded >= completions and active == 0
            if complete:
                sync.finished = jc.new_condition(
                    jc.SUCCESS_CRITERIA_MET, "True", jc.REASON_COMPLETIONS_REACHED,
                    jc.MESSAGE_COMPLETIONS_REACHED, sync.stamp)
            elif manage_called:
                suspend_changed = self._record_suspension(sync)

        needs_flush = suspend_changed or active != int(status.get("active") or 0) or \
            sync.ready != status.get("ready") or sync.terminating != status.get("terminating")
        status["active"] = active
        status["ready"] = sync.ready
        status["terminating"] = sync.terminating
        await self.tracker.track(sync, needs_flush)
        if manage_error is not None:
            raise manage_error

    # ---- deciding whether the Job failed or succeeded --------------------------------------

    def _check_failure(self, sync: JobSync) -> None:
        job, status, spec = sync.job, sync.status, sync.job.get("spec") or {}
        met = get_condition(job, jc.SUCCESS_CRITERIA_MET)
        if met is not None and met.get("status") == "True":
            # Success was already decided; the failure policy no longer applies.
            sync.finished = met
            return
        target = get_condition(job, jc.FAILURE_TARGET)
        if target is not None and target.get("status") == "True":
            sync.finished = jc.new_condition(jc.FAILED, "True", str(target.get("reason") or ""),
                                             str(target.get("message") or ""), sync.stamp)
            return
        if (message := self._fail_job_message(job, sync.pods)) is not None:
            sync.finished = jc.new_condition(jc.FAILURE_TARGET, "True",
                                             jc.REASON_POD_FAILURE_POLICY, message, sync.stamp)
            return
        if sync.failed > int_value(spec.get("backoffLimit"), 6) or \
                self._past_backoff_limit_on_failure(job, sync.pods):
            sync.finished = jc.new_condition(jc.FAILURE_TARGET, "True", jc.REASON_BACKOFF_LIMIT,
                                             jc.MESSAGE_BACKOFF_LIMIT, sync.stamp)
            return
        deadline = spec.get("activeDeadlineSeconds")
        start = parse_rfc3339(status.get("startTime"))
        if deadline is None or start is None or is_suspended(job):
            return
        remaining = deadline - (sync.now - start).total_seconds()
        if remaining <= 0:
            sync.finished = jc.new_condition(jc.FAILURE_TARGET, "True", jc.REASON_DEADLINE,
                                             jc.MESSAGE_DEADLINE, sync.stamp)
        else:
            self.queue.add_after(sync.key, remaining)

    @staticmethod
    def _fail_job_message(job: Obj, pods: Iterable[Obj]) -> str | None:
        policy = (job.get("spec") or {}).get("podFailurePolicy")
        if policy is None:
            return None
        for pod in pods:
            if is_pod_failed(pod, job):
                message = match_pod_failure_policy(policy, pod).fail_job_message
                if message is not None:
                    return message
        return None

    @staticmethod
    def _past_backoff_limit_on_failure(job: Obj, pods: Iterable[Obj]) -> bool:
        """With restartPolicy OnFailure, container restarts count against backoffLimit."""
        spec = job.get("spec") or {}
        if ((spec.get("template") or {}).get("spec") or {}).get("restartPolicy") != "OnFailure":
            return False
        restarts = sum(restart_count_total(p) for p in pods
                       if pod_phase(p) in ("Running", "Pending"))
        limit = int(spec.get("backoffLimit") or 0)
        return restarts > 0 if limit == 0 else restarts >= limit

    def _check_indexes(self, sync: JobSync, active_pods: list[Obj]) -> None:
        job, spec = sync.job, sync.job.get("spec") or {}
        completions = completions_of(job)
        sync.prev_succeeded_indexes, sync.succeeded_indexes = per_index.succeeded_indexes(
            job, sync.pods)
        sync.succeeded = sync.succeeded_indexes.total()
        if per_index.has_backoff_limit_per_index(job):
            sync.failed_indexes = per_index.failed_indexes(job, sync.pods)
            failed_total = sync.failed_indexes.total()
            if sync.finished is None:
                max_failed = spec.get("maxFailedIndexes")
                if max_failed is not None and failed_total > max_failed:
                    sync.finished = jc.new_condition(
                        jc.FAILURE_TARGET, "True", jc.REASON_MAX_FAILED_INDEXES,
                        jc.MESSAGE_MAX_FAILED_INDEXES, sync.stamp)
                elif failed_total > 0 and \
                        failed_total + sync.succeeded_indexes.total() >= completions:
                    sync.finished = jc.new_condition(
                        jc.FAILURE_TARGET, "True", jc.REASON_FAILED_INDEXES,
                        jc.MESSAGE_FAILED_INDEXES, sync.stamp)
            candidates = [p for p in sync.pods if has_tracking_finalizer(p)
                          and uid_of(p) not in sync.expected_rm]
            sync.delayed_deletion = per_index.pods_with_delayed_deletion(
                job, candidates, sync.succeeded_indexes, sync.failed_indexes,
                indexes_of(active_pods))
        if sync.finished is None:
            message = per_index.match_success_policy(spec.get("successPolicy"), completions,
                                                     sync.succeeded_indexes)
            if message is not None:
                sync.finished = jc.new_condition(jc.SUCCESS_CRITERIA_MET, "True",
                                                 jc.REASON_SUCCESS_POLICY, message, sync.stamp)

    def _record_suspension(self, sync: JobSync) -> bool:
        """Suspended/Resumed condition and event; a resume restarts the deadline clock."""
        if is_suspended(sync.job):
            changed = jc.ensure_condition(sync.status, jc.SUSPENDED, "True", "JobSuspended",
                                          "Job suspended", sync.stamp)
            if changed:
                self.recorder.event(sync.job, "Normal", "Suspended", "Job suspended")
            return changed
        changed = jc.ensure_condition(sync.status, jc.SUSPENDED, "False", "JobResumed",
                                      "Job resumed", sync.stamp)
        if changed:
            self.recorder.event(sync.job, "Normal", "Resumed", "Job resumed")
            # activeDeadlineSeconds counts continuous activity: start it afresh.
            sync.status["startTime"] = sync.stamp
        return changed

    # ---- pods ---------------------------------------------------------------------------

    def _valid_uncounted_pods(self, sync: JobSync, skip: set[str]) -> list[Obj]:
        """Pods not yet accounted for: tracking finalizer still on, not already in
        ``skip`` or waiting for finalizer removal, and (Indexed) with a valid index."""
        completions = completions_of(sync.job)
        indexed = is_indexed(sync.job)
        found = []
        for pod in sync.pods:
            uid = uid_of(pod)
            if not has_tracking_finalizer(pod) or uid in skip or uid in sync.expected_rm:
                continue
            if indexed and per_index.valid_index(pod, completions) is None:
                continue
            found.append(pod)
        return found

    def _new_finished_pods(self, sync: JobSync) -> tuple[list[Obj], list[Obj]]:
        succeeded = [p for p in self._valid_uncounted_pods(sync, sync.uncounted_succeeded)
                     if pod_phase(p) == "Succeeded"]
        failed = [p for p in self._valid_uncounted_pods(sync, sync.uncounted_failed)
                  if is_pod_failed(p, sync.job)]
        return succeeded, failed

    @staticmethod
    def _counted_failures(job: Obj, failed: list[Obj]) -> int:
        policy = (job.get("spec") or {}).get("podFailurePolicy")
        if policy is None:
            return len(failed)
        return sum(1 for p in failed if match_pod_failure_policy(policy, p).counts)
