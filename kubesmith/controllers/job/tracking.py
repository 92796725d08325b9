"""Counting a Job's finished pods with the tracking finalizer, and finishing the Job.

A finished pod's UID goes into ``status.uncountedTerminatedPods`` (written first), then its
finalizer is removed, then the UID moves into ``succeeded``/``failed`` (written again): a
crash between the steps neither loses nor double-counts a pod. The terminal condition
follows once nothing is left uncounted or terminating.
"""

from __future__ import annotations

from typing import Any

from kubesmith.api.types import Obj
from kubesmith.client import ApiError, Client
from kubesmith.client.events import EventRecorder
from kubesmith.client.rest import JOBS
from kubesmith.controllers.expectations import FinalizerRemovalExpectations
from kubesmith.controllers.job import conditions as jc
from kubesmith.controllers.job import per_index
from kubesmith.controllers.job.backoff import BackoffStore
from kubesmith.controllers.job.failure_policy import match_pod_failure_policy
from kubesmith.controllers.job.indexed import completion_index, completions_of, is_indexed
from kubesmith.controllers.job.pod_control import JobPodControl
from kubesmith.controllers.job.pods import has_tracking_finalizer, is_pod_failed
from kubesmith.controllers.job.state import JobSync
from kubesmith.controllers.pod_control import gather_errors
from kubesmith.controllers.util import is_terminating, pod_phase, uid_of

#: Bounds status.uncountedTerminatedPods (about 20 KB of UIDs) and the finalizer removals
#: of one sync, so a huge Job does not starve the others.
MAX_UNCOUNTED_PODS = 500


class StatusTracker:
    """Writes Job status from pod outcomes and removes the pods' tracking finalizers."""

    def __init__(self, client: Client, recorder: EventRecorder, pod_control: JobPodControl,
                 finalizer_expectations: FinalizerRemovalExpectations,
                 backoff: BackoffStore) -> None:
        self.client = client
        self.recorder = recorder
        self.pod_control = pod_control
        self.finalizer_expectations = finalizer_expectations
        self.backoff = backoff

    def _can_remove_finalizer(self, sync: JobSync, pod: Obj, considered_failed: bool) -> bool:
        if is_terminating(sync.job) or sync.finished is not None or \
                pod_phase(pod) == "Succeeded":
            return True
        if not considered_failed:
            return False
        if per_index.has_backoff_limit_per_index(sync.job):
            ix = completion_index(pod)
            delayed = sync.delayed_deletion.get(ix) if ix is not None else None
            if delayed is not None and uid_of(delayed) == uid_of(pod):
                # Kept until its replacement carries the index's failure count.
                return False
        return True

    async def track(self, sync: JobSync, needs_flush: bool) -> None:
        """Record finished pods as uncounted, remove their finalizers, count them, and
        write the terminal condition once nothing is left to count."""
        job, status = sync.job, sync.status
        indexed = is_indexed(job)
        completions = completions_of(job)
        policy = (job.get("spec") or {}).get("podFailurePolicy")
        pods = sorted(sync.pods, key=_index_or_minus_one) if indexed else sync.pods
        with_finalizer = {uid_of(p) for p in pods
                          if has_tracking_finalizer(p) and uid_of(p) not in sync.expected_rm}
        uncounted = status.setdefault("uncountedTerminatedPods", {})
        uncounted_succeeded: list[str] = uncounted.setdefault("succeeded", [])
        uncounted_failed: list[str] = uncounted.setdefault("failed", [])
        if _count_uncounted_without_finalizer(status, with_finalizer):
            needs_flush = True
        to_unfinalize: list[Obj] = []
        new_indexes: list[int] = []
        reached_max = False
        finished_not_success = sync.finished is not None and \
            sync.finished.get("type") != jc.SUCCESS_CRITERIA_MET
        for pod in pods:
            uid = uid_of(pod)
            if not has_tracking_finalizer(pod) or uid in sync.expected_rm:
                continue
            considered_failed = is_pod_failed(pod, job)
            if not self._can_remove_finalizer(sync, pod, considered_failed):
                continue
            to_unfinalize.append(pod)
            ix = per_index.valid_index(pod, completions)
            if pod_phase(pod) == "Succeeded" and uid not in sync.uncounted_failed:
                if indexed:
                    if ix is not None and not sync.prev_succeeded_indexes.has(ix):
                        new_indexes.append(ix)
                        needs_flush = True
                elif uid not in sync.uncounted_succeeded:
                    uncounted_succeeded.append(uid)
                    needs_flush = True
            elif (considered_failed or finished_not_success) and \
                    uid not in sync.uncounted_failed and (not indexed or ix is not None) and \
                    (policy is None or match_pod_failure_policy(policy, pod).counts):
                # Once the Job is finished every unfinished pod counts as failed.
                uncounted_failed.append(uid)
                needs_flush = True
            if len(new_indexes) + len(uncounted_succeeded) + len(uncounted_failed) >= \
                    MAX_UNCOUNTED_PODS:
                # The rest waits for the next sync, bounding status size and sync time.
                reached_max = True
                break
        if indexed:
            sync.succeeded_indexes = sync.succeeded_indexes.with_indexes(sorted(new_indexes))
            text = str(sync.succeeded_indexes)
            if text != (status.get("completedIndexes") or ""):
                needs_flush = True
            status["succeeded"] = sync.succeeded_indexes.total()
            status["completedIndexes"] = text
            failed_text = str(sync.failed_indexes) if sync.failed_indexes is not None else None
            if failed_text != status.get("failedIndexes"):
                status["failedIndexes"] = failed_text
                needs_flush = True
        if sync.finished is not None and sync.finished.get("type") == jc.FAILURE_TARGET:
            status.setdefault("conditions", []).append(sync.finished)
            needs_flush = True
            sync.finished = jc.new_condition(jc.FAILED, "True", sync.finished["reason"],
                                             sync.finished["message"], sync.stamp)
        if sync.finished is not None and sync.finished.get("type") == jc.SUCCESS_CRITERIA_MET:
            if not jc.has_true_condition(job, jc.SUCCESS_CRITERIA_MET):
                status.setdefault("conditions", []).append(sync.finished)
                needs_flush = True
            sync.finished = jc.new_condition(jc.COMPLETE, "True",
                                             str(sync.finished.get("reason") or ""),
                                             str(sync.finished.get("message") or ""),
                                             sync.stamp)
        needs_flush = await self._flush_and_unfinalize(sync, to_unfinalize, with_finalizer,
                                                       needs_flush)
        finished = not reached_max and self._enact_finished(sync)
        if finished or needs_flush:
            sync.job = await self._update_status(sync.job)
            if finished and sync.finished is not None:
                self._record_finished(sync.job, sync.finished)

    async def _flush_and_unfinalize(self, sync: JobSync, pods: list[Obj],
                                    with_finalizer: set[str], needs_flush: bool) -> bool:
        """Write the uncounted UIDs, remove the finalizers, then move what was removed into
        the counters. Returns whether a status write is still pending."""
        if needs_flush:
            sync.job = await self._update_status(sync.job)
            if sync.new_backoff is not None:
                self.backoff.update(sync.new_backoff)
            needs_flush = False
        error: BaseException | None = None
        if pods:
            uids = [uid_of(p) for p in pods]
            self.finalizer_expectations.expect_removed(sync.key, uids)

            async def remove(pod: Obj) -> None:
                try:
                    await self.pod_control.remove_tracking_finalizer(pod)
                except ApiError as exc:
                    # No update event will come for this pod.
                    self.finalizer_expectations.removal_observed(sync.key, uid_of(pod))
                    if exc.code != 404:
                        raise

            errors = await gather_errors([remove(p) for p in pods])
            for pod, err in zip(pods, errors, strict=True):
                if err is None:
                    with_finalizer.discard(uid_of(pod))
                else:
                    error = error or err
        if _count_uncounted_without_finalizer(sync.status, with_finalizer):
            needs_flush = True
        if error is not None:
            if needs_flush:
                sync.job = await self._update_status(sync.job)
            raise error
        return needs_flush

    def _enact_finished(self, sync: JobSync) -> bool:
        """Add Complete/Failed once nothing is left uncounted or terminating."""
        if sync.finished is None:
            return False
        uncounted = sync.status.get("uncountedTerminatedPods") or {}
        if uncounted.get("succeeded") or uncounted.get("failed"):
            return False
        if sync.terminating > 0:
            return False
        finished = sync.finished
        jc.ensure_condition(sync.status, finished["type"], finished["status"],
                            finished["reason"], finished["message"], sync.stamp)
        if finished["type"] == jc.COMPLETE:
            sync.status["completionTime"] = finished["lastTransitionTime"]
        return True

    def _record_finished(self, job: Obj, finished: jc.Condition) -> None:
        if finished["type"] == jc.COMPLETE:
            completions = (job.get("spec") or {}).get("completions")
            if completions is not None and \
                    int((job.get("status") or {}).get("succeeded") or 0) > completions:
                self.recorder.event(job, "Warning", "TooManySucceededPods",
                                    "Too many succeeded pods running after completion count "
                                    "reached")
            self.recorder.event(job, "Normal", "Completed", "Job completed")
        else:
            self.recorder.event(job, "Warning", str(finished.get("reason") or ""),
                                str(finished.get("message") or ""))

    async def _update_status(self, job: Obj) -> Obj:
        status = job.setdefault("status", {})
        uncounted = status.get("uncountedTerminatedPods") or {}
        status["uncountedTerminatedPods"] = {k: v for k, v in uncounted.items() if v}
        if status.get("failedIndexes") is None:
            status.pop("failedIndexes", None)
        if not status.get("completedIndexes"):
            status.pop("completedIndexes", None)
        if not status.get("conditions"):
            status.pop("conditions", None)
        fresh = await self.client.replace(JOBS, job, subresource="status")
        fresh_status = fresh.setdefault("status", {})
        fresh_uncounted = fresh_status.setdefault("uncountedTerminatedPods", {})
        fresh_uncounted.setdefault("succeeded", [])
        fresh_uncounted.setdefault("failed", [])
        return fresh


def _index_or_minus_one(pod: Obj) -> int:
    index = completion_index(pod)
    return -1 if index is None else index


def _count_uncounted_without_finalizer(status: dict[str, Any], with_finalizer: set[str]
                                       ) -> bool:
    """Move UIDs whose finalizer is gone from uncountedTerminatedPods into the counters.
    Returns whether anything moved."""
    uncounted = status.setdefault("uncountedTerminatedPods", {})
    changed = False
    for key in ("succeeded", "failed"):
        uids: list[str] = uncounted.get(key) or []
        kept = [uid for uid in uids if uid in with_finalizer]
        if len(kept) != len(uids):
            status[key] = int(status.get(key) or 0) + len(uids) - len(kept)
            uncounted[key] = kept
            changed = True
    return changed
