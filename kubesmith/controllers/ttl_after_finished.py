"""Deleting finished Jobs ``spec.ttlSecondsAfterFinished`` after they finished (upstream's
``ttl-after-finished-controller``).

Job events queue a Job that has finished and has a TTL; the worker either deletes it (the
TTL has run out) or queues it again for the moment it will. Before deleting, the Job is read
fresh from the server: its TTL may have just been changed. The deletion is cascading in the
foreground (the garbage collector removes the pods first) with a UID precondition, so a new
Job of the same name is never hit.
"""

from __future__ import annotations

from datetime import UTC, datetime

from kubesmith.api.types import Obj
from kubesmith.client import ApiError, object_key
from kubesmith.client.rest import JOBS
from kubesmith.controllers.base import Controller, ControllerContext
from kubesmith.controllers.job.conditions import COMPLETE, FAILED, is_finished
from kubesmith.controllers.util import is_terminating, meta, parse_rfc3339


class MissingFinishTimeError(ValueError):
    """A finished Job whose terminal condition has no transition time."""


def needs_cleanup(job: Obj) -> bool:
    """Finished, with a TTL, and not already being deleted."""
    return (job.get("spec") or {}).get("ttlSecondsAfterFinished") is not None and \
        is_finished(job) and not is_terminating(job)


def finish_time(job: Obj) -> datetime:
    """When the Job finished: its Complete/Failed condition's transition time."""
    for cond in (job.get("status") or {}).get("conditions") or ():
        if cond.get("type") in (COMPLETE, FAILED) and cond.get("status") == "True":
            when = parse_rfc3339(cond.get("lastTransitionTime"))
            if when is None:
                raise MissingFinishTimeError(
                    f"unable to find the time when the Job {object_key(job)} finished")
            return when
    raise MissingFinishTimeError(f"unable to find the status of the finished Job "
                                 f"{object_key(job)}")


def time_left(job: Obj, now: datetime) -> float:
    """Seconds until the TTL of a finished Job runs out (<= 0: expired)."""
    ttl = int((job.get("spec") or {})["ttlSecondsAfterFinished"])
    return (finish_time(job) - now).total_seconds() + ttl


class TTLAfterFinishedController(Controller):
    """Deletes finished Jobs whose TTL expired (see the module docstring)."""

    name = "ttl-after-finished-controller"
    component = "ttl-after-finished-controller"
    default_workers = 5

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.jobs = self.informer(JOBS)
        self.jobs.add_handlers(on_add=self._maybe_enqueue,
                               on_update=lambda _old, new: self._maybe_enqueue(new))

    def _maybe_enqueue(self, job: Obj) -> None:
        if needs_cleanup(job):
            self.enqueue(job)

    def _expired(self, job: Obj) -> bool:
        """Whether the TTL ran out; if it will later, queue the Job for that moment."""
        if not needs_cleanup(job):
            return False
        left = time_left(job, datetime.now(UTC))
        if left <= 0:
            return True
        self.queue.add_after(object_key(job), left)
        return False

    async def reconcile(self, key: str) -> None:
        job = self.jobs.get(key)
        if job is None or not self._expired(job):
            return
        name, namespace = meta(job)["name"], meta(job)["namespace"]
        try:
            fresh = await self.client.get(JOBS, name, namespace)
        except ApiError as exc:
            if exc.code == 404:
                return
            raise
        if not self._expired(fresh):
            return
        try:
            await self.client.delete(JOBS, name, namespace, propagation_policy="Foreground",
                                     preconditions={"uid": meta(fresh)["uid"]})
        except ApiError as exc:
            # Gone already, or replaced by a new Job of the same name (uid precondition).
            if exc.code not in (404, 409):
                raise
