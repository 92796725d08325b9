"""The delay before a failed Job pod is replaced: 10 s doubling per consecutive failure
(counted since the last success), capped. Records live in memory per Job, like upstream's
backoff store: a restarted controller starts counting afresh."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from kubesmith.api.types import Obj
from kubesmith.controllers.job.indexed import index_failure_count, index_ignored_failure_count
from kubesmith.controllers.job.pods import finished_time


@dataclass(frozen=True, slots=True)
class BackoffRecord:
    """Consecutive failures of one Job's pods since its last success."""

    key: str
    failures_after_last_success: int = 0
    last_failure_time: datetime | None = None

    def remaining(self, now: datetime, base: float, cap: float) -> float:
        """Seconds still to wait before creating a replacement pod."""
        return remaining_for_failures(now, base, cap, self.failures_after_last_success,
                                      self.last_failure_time)


def remaining_for_failures(now: datetime, base: float, cap: float, failures: int,
                           last_failure: datetime | None) -> float:
    """``base * 2**(failures-1)`` (capped) minus the time since ``last_failure``."""
    if failures <= 0 or last_failure is None:
        return 0.0
    delay = base
    for _ in range(1, failures):
        delay *= 2
        if delay >= cap:
            delay = cap
            break
    elapsed = (now - last_failure).total_seconds()
    return 0.0 if delay < elapsed else delay - elapsed


def remaining_for_index(now: datetime, base: float, cap: float, last_failed: Obj | None
                        ) -> float:
    """The wait before re-creating an index whose last pod failed (backoffLimitPerIndex):
    the failure count is the pod's annotations plus its own failure."""
    if last_failed is None:
        return 0.0
    failures = index_failure_count(last_failed) + index_ignored_failure_count(last_failed) + 1
    return remaining_for_failures(now, base, cap, failures, finished_time(last_failed))


class BackoffStore:
    """The records of every Job, by key."""

    def __init__(self) -> None:
        self._records: dict[str, BackoffRecord] = {}

    def update(self, record: BackoffRecord) -> None:
        """Keep ``record``."""
        self._records[record.key] = record

    def remove(self, key: str) -> None:
        """Forget a finished or deleted Job."""
        self._records.pop(key, None)

    def next_record(self, key: str, new_succeeded: Sequence[Obj], new_failed: Sequence[Obj]
                    ) -> BackoffRecord:
        """The record after the newly finished pods: a success resets the count, failures
        after the latest success add to it."""
        old = self._records.get(key) or BackoffRecord(key)
        failed = sorted(new_failed, key=finished_time)
        if not new_succeeded:
            if not failed:
                return old
            return BackoffRecord(key, old.failures_after_last_success + len(failed),
                                 finished_time(failed[-1]))
        last_success = max(finished_time(p) for p in new_succeeded)
        later = [finished_time(p) for p in failed if finished_time(p) > last_success]
        return BackoffRecord(key, len(later), later[-1] if later else None)
