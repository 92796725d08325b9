"""Bringing a Job's pod count to what it should run: creating pods (slow start, per-index
templates, failure backoff) and deleting surplus ones (suspension, lowered parallelism,
duplicate indexes)."""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable
from typing import ClassVar

from kubesmith.api.types import Obj
from kubesmith.client import ApiError
from kubesmith.controllers.expectations import ControllerExpectations
from kubesmith.controllers.job import per_index
from kubesmith.controllers.job.backoff import remaining_for_index
from kubesmith.controllers.job.indexed import (
    add_completion_index_env,
    completion_index,
    completions_of,
    first_pending_indexes,
    generate_name_with_index,
    indexes_of,
    is_indexed,
    template_for_index,
)
from kubesmith.controllers.job.pod_control import JobPodControl
from kubesmith.controllers.job.pods import (
    TRACKING_FINALIZER,
    is_counted_terminating,
    only_replace_failed_pods,
    removal_order_key,
)
from kubesmith.controllers.job.state import JobSync, is_suspended
from kubesmith.controllers.pod_control import gather_errors, slow_start_batch
from kubesmith.controllers.util import int_value, is_namespace_terminating, is_pod_ready, meta

#: Bounds the API calls (and time) one sync spends on one Job.
MAX_POD_CHANGES_PER_SYNC = 500


class PodManager:
    """Creates and deletes a Job's pods, keeping the controller's expectations."""

    #: First delay before replacing a failed pod, doubled per consecutive failure (tests
    #: shorten it; upstream's is fixed).
    pod_failure_backoff: ClassVar[float] = 10.0
    max_pod_failure_backoff: ClassVar[float] = 600.0

    def __init__(self, pod_control: JobPodControl, expectations: ControllerExpectations,
                 requeue: Callable[[str, float], None]) -> None:
        self.pod_control = pod_control
        self.expectations = expectations
        #: Queue a Job key again after a delay (at least the batching period).
        self.requeue = requeue

    async def delete_active_pods(self, job: Obj, pods: list[Obj]
                                  ) -> tuple[int, int, BaseException | None]:
        """Delete (keeping finalizers) every active pod of a finished Job; returns the
        ready and total pods deleted and the first error."""

        async def delete(pod: Obj) -> None:
            try:
                await self.pod_control.delete(job, meta(pod)["name"])
            except ApiError as exc:
                if exc.code != 404:
                    raise

        return await _delete_all(pods, delete)

    async def _delete_job_pods(self, sync: JobSync, pods: list[Obj]
                               ) -> tuple[int, int, BaseException | None]:
        """Remove the finalizer of, then delete, surplus pods (suspension, scale down)."""
        job, key = sync.job, sync.key

        async def remove(pod: Obj) -> None:
            try:
                await self.pod_control.remove_tracking_finalizer(pod)
                await self.pod_control.delete(job, meta(pod)["name"])
            except ApiError as exc:
                # The informer will not see this deletion: stop waiting for it.
                self.expectations.deletion_observed(key)
                if exc.code != 404:
                    raise

        return await _delete_all(pods, remove)

    def _pods_for_removal(self, job: Obj, active_pods: list[Obj], at_least: int) -> list[Obj]:
        """Surplus active pods: duplicate or invalid indexes first, then the cheapest."""
        remove: list[Obj] = []
        left = active_pods
        if is_indexed(job):
            completions = completions_of(job)
            left = []
            by_index: dict[int, list[Obj]] = {}
            for pod in active_pods:
                ix = completion_index(pod)
                if ix is None or ix >= completions:
                    remove.append(pod)
                else:
                    by_index.setdefault(ix, []).append(pod)
            for group in by_index.values():
                group.sort(key=removal_order_key)
                remove.extend(group[:-1])
                left.append(group[-1])
        if len(remove) < at_least:
            left = sorted(left, key=removal_order_key)
            remove.extend(left[:at_least - len(remove)])
        return remove

    async def manage(self, sync: JobSync) -> tuple[int, BaseException | None]:
        """Create or delete pods so the Job runs as many as it should; returns the new
        active count and the first error."""
        job, key, spec = sync.job, sync.key, sync.job.get("spec") or {}
        active = len(sync.active_pods)
        if is_suspended(job):
            doomed = self._pods_for_removal(job, sync.active_pods, active)
            self.expectations.expect_deletions(key, len(doomed))
            ready, removed, error = await self._delete_job_pods(sync, doomed)
            sync.terminating += removed
            sync.ready -= ready
            return active - removed, error
        parallelism = int_value(spec.get("parallelism"), 1)
        completions = spec.get("completions")
        if completions is None:
            # A work-queue Job keeps what runs once one pod succeeded.
            want = active if sync.succeeded > 0 else parallelism
        else:
            want = max(0, min(int(completions) - sync.succeeded, parallelism))
        doomed = self._pods_for_removal(job, sync.active_pods, max(0, active - want))
        doomed = doomed[:MAX_POD_CHANGES_PER_SYNC]
        if doomed:
            self.expectations.expect_deletions(key, len(doomed))
            ready, removed, error = await self._delete_job_pods(sync, doomed)
            sync.terminating += removed
            sync.ready -= ready
            # Deleting takes precedence: creations wait for the next sync.
            return active - removed, error
        terminating = sync.terminating if only_replace_failed_pods(job) else 0
        diff = want - terminating - active
        if diff <= 0:
            return active, None
        return await self._create_pods(sync, active, min(diff, MAX_POD_CHANGES_PER_SYNC))

    async def _create_pods(self, sync: JobSync, active: int, diff: int
                           ) -> tuple[int, BaseException | None]:
        job, key = sync.job, sync.key
        per_index_backoff = per_index.has_backoff_limit_per_index(job)
        if not per_index_backoff and sync.new_backoff is not None:
            wait = sync.new_backoff.remaining(sync.now, self.pod_failure_backoff,
                                              self.max_pod_failure_backoff)
            if wait > 0:
                self.requeue(key, wait)
                return active, None
        indexes: list[int] = []
        if is_indexed(job):
            taken = sync.succeeded_indexes.with_indexes(indexes_of(sync.active_pods))
            if only_replace_failed_pods(job):
                taken = taken.with_indexes(indexes_of(
                    p for p in sync.pods if is_counted_terminating(p)))
            if sync.failed_indexes is not None:
                taken = taken.merge(sync.failed_indexes)
            indexes = first_pending_indexes(diff, completions_of(job), taken)
            if per_index_backoff:
                indexes, wait = self._indexes_ready_to_create(sync, indexes)
                if wait > 0:
                    self.requeue(key, wait)
                    return active, None
            diff = len(indexes)
        if diff <= 0:
            return active, None

        self.expectations.expect_creations(key, diff)
        template = copy.deepcopy((job.get("spec") or {}).get("template") or {})
        if is_indexed(job):
            add_completion_index_env(template)
        finalizers = template.setdefault("metadata", {}).setdefault("finalizers", [])
        if TRACKING_FINALIZER not in finalizers:
            finalizers.append(TRACKING_FINALIZER)

        refused_by_namespace = 0

        async def create(index: int | None) -> None:
            nonlocal refused_by_namespace
            pod_template, generate_name = template, ""
            if index is not None:
                pod_template = template_for_index(template, meta(job)["name"], index)
                generate_name = generate_name_with_index(meta(job)["name"], index)
                if per_index_backoff:
                    per_index.add_failure_count_annotations(
                        pod_template, job, sync.delayed_deletion.get(index))
            try:
                await self.pod_control.create(job, pod_template, generate_name)
            except ApiError as exc:
                # A terminating namespace refuses every pod: no failure that stops the
                # slow start, but the informer will never see this pod either.
                if not is_namespace_terminating(exc):
                    raise
                self.expectations.creation_observed(key)
                refused_by_namespace += 1

        planned: list[int | None] = list(indexes) if indexes else [None] * diff
        created, error = await slow_start_batch(planned, create)
        # Refused pods, and those not tried after a refusal (slow start: until the next
        # sync), will never show up in the informer.
        for _ in range(diff - created):
            self.expectations.creation_observed(key)
        return active + created - refused_by_namespace, error

    def _indexes_ready_to_create(self, sync: JobSync, indexes: list[int]
                                 ) -> tuple[list[int], float]:
        """With backoffLimitPerIndex, the indexes whose own backoff has passed, or (when
        none has) the shortest remaining wait."""
        ready: list[int] = []
        shortest: float | None = None
        for index in indexes:
            wait = remaining_for_index(sync.now, self.pod_failure_backoff,
                                       self.max_pod_failure_backoff,
                                       sync.delayed_deletion.get(index))
            if wait == 0:
                ready.append(index)
            elif shortest is None or wait < shortest:
                shortest = wait
        if ready:
            return ready, 0.0
        return [], shortest or 0.0


async def _delete_all(pods: list[Obj], delete: Callable[[Obj], Awaitable[None]]
                      ) -> tuple[int, int, BaseException | None]:
    """Run ``delete`` on every pod concurrently; the ready and total pods deleted and the
    first error."""
    errors = await gather_errors([delete(p) for p in pods])
    deleted = [p for p, err in zip(pods, errors, strict=True) if err is None]
    first = next((e for e in errors if e is not None), None)
    return sum(1 for p in deleted if is_pod_ready(p)), len(deleted), first
