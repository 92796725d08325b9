"""Indexed Jobs' bookkeeping from their pods: succeeded and failed indexes,
``backoffLimitPerIndex`` (failure counts carried from a failed pod to its replacement) and
``successPolicy``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from kubesmith.api.types import Obj
from kubesmith.controllers.job.failure_policy import FAIL_INDEX, match_pod_failure_policy
from kubesmith.controllers.job.indexed import (
    INDEX_FAILURE_COUNT_ANNOTATION,
    INDEX_IGNORED_FAILURE_COUNT_ANNOTATION,
    Intervals,
    completion_index,
    completions_of,
    index_failure_count,
    index_ignored_failure_count,
)
from kubesmith.controllers.job.pods import finished_time, has_tracking_finalizer, is_pod_failed
from kubesmith.controllers.util import pod_phase


def has_backoff_limit_per_index(job: Obj) -> bool:
    """Whether ``spec.backoffLimitPerIndex`` is set."""
    return (job.get("spec") or {}).get("backoffLimitPerIndex") is not None


def valid_index(pod: Obj, completions: int) -> int | None:
    """The pod's completion index when it is below ``completions``."""
    index = completion_index(pod)
    return index if index is not None and index < completions else None


def succeeded_indexes(job: Obj, pods: Iterable[Obj]) -> tuple[Intervals, Intervals]:
    """``status.completedIndexes`` and that plus the indexes of succeeded pods not yet
    counted (still carrying the tracking finalizer)."""
    completions = completions_of(job)
    previous = Intervals.parse((job.get("status") or {}).get("completedIndexes"), completions)
    new = {ix for pod in pods
           if pod_phase(pod) == "Succeeded" and has_tracking_finalizer(pod)
           and (ix := valid_index(pod, completions)) is not None}
    return previous, previous.with_indexes(sorted(new))


def is_index_failed(job: Obj, pod: Obj) -> bool:
    """The pod's failure fails its whole index: a FailIndex rule, or the index used up
    ``backoffLimitPerIndex``."""
    counted = False
    if is_pod_failed(pod, job):
        policy = (job.get("spec") or {}).get("podFailurePolicy")
        if policy is not None:
            match = match_pod_failure_policy(policy, pod)
            if match.action == FAIL_INDEX:
                return True
            counted = match.counts
        else:
            counted = True
    limit = int((job.get("spec") or {}).get("backoffLimitPerIndex") or 0)
    return counted and index_failure_count(pod) >= limit


def failed_indexes(job: Obj, pods: Iterable[Obj]) -> Intervals:
    """``status.failedIndexes`` plus the indexes newly failed by uncounted pods."""
    completions = completions_of(job)
    previous = Intervals.parse((job.get("status") or {}).get("failedIndexes"), completions)
    new = {ix for pod in pods
           if has_tracking_finalizer(pod) and (ix := valid_index(pod, completions)) is not None
           and is_index_failed(job, pod)}
    return previous.with_indexes(sorted(new))


def pods_with_delayed_deletion(job: Obj, candidates: Sequence[Obj], succeeded: Intervals,
                               failed: Intervals, active_indexes: set[int]) -> dict[int, Obj]:
    """Per index still to be retried, its latest failed pod: kept (finalizer and all) until
    the replacement pod carries its failure count forward."""
    completions = completions_of(job)
    found: dict[int, Obj] = {}
    for pod in candidates:
        if not is_pod_failed(pod, job):
            continue
        ix = valid_index(pod, completions)
        if ix is None or succeeded.has(ix) or failed.has(ix) or ix in active_indexes:
            continue
        previous = found.get(ix)
        if previous is None or (
                _absolute_failures(previous) <= _absolute_failures(pod)
                and finished_time(pod) >= finished_time(previous)):
            found[ix] = pod
    return found


def _absolute_failures(pod: Obj) -> int:
    return index_failure_count(pod) + index_ignored_failure_count(pod)


def add_failure_count_annotations(template: dict[str, Any], job: Obj,
                                  replaced: Obj | None) -> None:
    """Carry the failure counts of the pod being replaced (plus its own failure) into the
    new pod's template."""
    failures = ignored = 0
    if replaced is not None:
        failures = index_failure_count(replaced)
        ignored = index_ignored_failure_count(replaced)
        policy = (job.get("spec") or {}).get("podFailurePolicy")
        if policy is None or match_pod_failure_policy(policy, replaced).counts:
            failures += 1
        else:
            ignored += 1
    annotations = template.setdefault("metadata", {}).setdefault("annotations", {})
    annotations[INDEX_FAILURE_COUNT_ANNOTATION] = str(failures)
    if ignored > 0:
        annotations[INDEX_IGNORED_FAILURE_COUNT_ANNOTATION] = str(ignored)


def _overlap_count(rule: Intervals, succeeded: Intervals) -> int:
    count = 0
    for first, last in rule.items:
        for s_first, s_last in succeeded.items:
            overlap = min(last, s_last) - max(first, s_first) + 1
            if overlap > 0:
                count += overlap
    return count


def match_success_policy(policy: dict[str, Any] | None, completions: int,
                         succeeded: Intervals) -> str | None:
    """The SuccessCriteriaMet message when a rule of ``spec.successPolicy`` is met."""
    if not policy or not succeeded:
        return None
    for index, rule in enumerate(policy.get("rules") or ()):
        count = rule.get("succeededCount")
        if rule.get("succeededIndexes") is not None:
            required = Intervals.parse(rule["succeededIndexes"], completions)
            if not required:
                continue
            contained = _overlap_count(required, succeeded)
            if contained == required.total() or (count is not None and contained >= count):
                return f"Matched rules at index {index}"
        elif count is not None and succeeded.total() >= count:
            return f"Matched rules at index {index}"
    return None
