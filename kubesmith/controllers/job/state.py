"""The state of one Job sync, and small facts about Jobs every step needs."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kubesmith.api.types import Obj
from kubesmith.controllers.job import conditions as jc
from kubesmith.controllers.job.backoff import BackoffRecord
from kubesmith.controllers.job.indexed import Intervals
from kubesmith.controllers.util import format_rfc3339

JOB_CONTROLLER_NAME = "kubernetes.io/job-controller"


def managed_externally(job: Obj) -> bool:
    """A Job whose ``spec.managedBy`` names another controller is left alone."""
    managed_by = (job.get("spec") or {}).get("managedBy")
    return managed_by is not None and managed_by != JOB_CONTROLLER_NAME


def is_suspended(job: Obj) -> bool:
    """``spec.suspend`` is true."""
    return (job.get("spec") or {}).get("suspend") is True


@dataclass
class JobSync:
    """What one sync of one Job works with, shared by its steps."""

    key: str
    job: Obj
    now: datetime
    pods: list[Obj]
    active_pods: list[Obj]
    ready: int
    terminating: int
    expected_rm: set[str]
    uncounted_succeeded: set[str]
    uncounted_failed: set[str]
    succeeded: int = 0
    failed: int = 0
    finished: jc.Condition | None = None
    prev_succeeded_indexes: Intervals = field(default_factory=Intervals)
    succeeded_indexes: Intervals = field(default_factory=Intervals)
    failed_indexes: Intervals | None = None
    new_backoff: BackoffRecord | None = None
    delayed_deletion: dict[int, Obj] = field(default_factory=dict)

    @property
    def status(self) -> dict[str, Any]:
        """The status of the working copy of the Job."""
        found: dict[str, Any] = self.job.setdefault("status", {})
        return found

    @property
    def stamp(self) -> str:
        """This sync's time as an API timestamp."""
        return format_rfc3339(self.now)
