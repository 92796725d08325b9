"""The CronJob controller (upstream's ``cronjob-controller``, v2): creates a Job per schedule
time and keeps the CronJob's status and Job history.

Each sync of a CronJob (key ``namespace/name``):

1. prunes finished Jobs beyond ``successfulJobsHistoryLimit`` / ``failedJobsHistoryLimit``;
2. reconciles ``status.active`` with its Jobs (finished ones leave, vanished ones too,
   ``lastSuccessfulTime`` follows the latest completion);
3. unless suspended or being deleted, finds the latest unmet schedule time and, within
   ``startingDeadlineSeconds`` and the concurrency policy, creates its Job;
4. writes the status once, and queues the CronJob again exactly at its next schedule time
   (plus 100 ms) — there is no polling.

A Job's name is derived from its schedule time, so a sync that runs twice for the same time
(a stale cache, a crash before the status write) finds the Job already there instead of
creating a second one.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, ClassVar

from kubesmith.api import gofmt
from kubesmith.api.types import Obj
from kubesmith.client import ApiError, object_key
from kubesmith.client.rest import CRONJOBS, JOBS
from kubesmith.controllers.base import Controller, ControllerContext
from kubesmith.controllers.cronjob import jobs as cj
from kubesmith.controllers.cronjob.schedule import (
    Missed,
    Schedule,
    ScheduleError,
    load_zone,
    most_recent_schedule_time,
    next_schedule_delay,
    parse_schedule,
)
from kubesmith.controllers.job.conditions import COMPLETE, FAILED, finished_type
from kubesmith.controllers.ownership import Owners
from kubesmith.controllers.util import (
    controller_ref,
    is_controlled_by,
    is_namespace_terminating,
    is_terminating,
    meta,
    parse_rfc3339,
    uid_of,
)

log = logging.getLogger(__name__)

#: Job index: ``namespace/name`` of the CronJob controlling the Job.
CRONJOB_INDEX = "cronjob"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _cronjob_of(job: Obj) -> list[str]:
    ref = controller_ref(job)
    if ref is None or ref.get("kind") != "CronJob":
        return []
    return [f"{meta(job).get('namespace')}/{ref.get('name')}"]


def _schedule_text(cronjob: Obj) -> tuple[str, str | None]:
    spec = cronjob.get("spec") or {}
    zone = spec.get("timeZone")
    return str(spec.get("schedule") or ""), zone if isinstance(zone, str) else None


@dataclass(slots=True)
class _SyncResult:
    changed: bool = False
    requeue_after: float | None = None


class CronJobController(Controller):
    """Runs Jobs on schedules (see the module docstring)."""

    name = "cronjob-controller"
    component = "cronjob-controller"
    default_workers = 5

    #: Seconds added to the wall clock. Tests move time forward to reach a schedule time
    #: without waiting for it; it is 0 otherwise.
    clock_offset: ClassVar[float] = 0.0

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.cronjobs = self.informer(CRONJOBS)
        self.owners = Owners(self.cronjobs, "CronJob", "batch/v1")
        self.jobs = self.informer(JOBS)
        self.jobs.add_index(CRONJOB_INDEX, _cronjob_of)
        self.cronjobs.add_handlers(on_add=self.enqueue, on_update=self._cronjob_updated,
                                   on_delete=self.enqueue)
        self.jobs.add_handlers(on_add=self._job_changed,
                               on_update=self._job_updated,
                               on_delete=self._job_changed)

    def now(self) -> datetime:
        """The controller's clock."""
        return datetime.now(UTC) + timedelta(seconds=self.clock_offset)

    # ---- event handlers ---------------------------------------------------------------

    def _owner_key(self, job: Obj, ref: dict[str, Any] | None) -> str | None:
        owner = self.owners.resolve(str(meta(job).get("namespace")), ref)
        return None if owner is None else object_key(owner)

    def _job_changed(self, job: Obj) -> None:
        key = self._owner_key(job, controller_ref(job))
        if key is not None:
            self.queue.add(key)

    def _job_updated(self, old: Obj, new: Obj) -> None:
        if meta(old).get("resourceVersion") == meta(new).get("resourceVersion"):
            return
        old_ref, ref = controller_ref(old), controller_ref(new)
        if old_ref != ref and (key := self._owner_key(old, old_ref)) is not None:
            self.queue.add(key)
        self._job_changed(new)

    def _cronjob_updated(self, old: Obj, new: Obj) -> None:
        if _schedule_text(old) == _schedule_text(new):
            # Anything else changed: look now; the sync queues the next schedule time.
            self.enqueue(new)
            return
        schedule, zone = _schedule_text(new)
        try:
            parsed = parse_schedule(schedule, zone)
        except ScheduleError:
            # The user must fix the spec; no retry loop until they do.
            self.recorder.event(new, "Warning", "UnParseableCronJobSchedule",
                                f"unparseable schedule for cronjob: {schedule}")
            return
        delay = self._next_delay(new, parsed)
        if delay is not None:
            self.queue.add_after(object_key(new), delay)

    def _next_delay(self, cronjob: Obj, schedule: Schedule) -> float | None:
        status = cronjob.get("status") or {}
        created = parse_rfc3339(meta(cronjob).get("creationTimestamp")) or _EPOCH
        return next_schedule_delay(created, parse_rfc3339(status.get("lastScheduleTime")),
                                   self.now(), schedule)

    # ---- reconcile ----------------------------------------------------------------------

    async def reconcile(self, key: str) -> None:
        shared = self.cronjobs.get(key)
        if shared is None:
            return
        cronjob = copy.deepcopy(shared)
        jobs = self.jobs.by_index(CRONJOB_INDEX, key)
        result = _SyncResult(changed=await self._cleanup_finished_jobs(cronjob, jobs))
        sync_error: ApiError | None = None
        try:
            await self._sync(cronjob, jobs, result)
        except ApiError as exc:
            sync_error = exc
        # Whatever was done before a failure is recorded, then the failure retried.
        if result.changed:
            await self.client.replace(CRONJOBS, cronjob, subresource="status")
        if result.requeue_after is not None:
            self.queue.add_after(key, result.requeue_after)
            return
        if sync_error is not None:
            raise sync_error

    async def _sync(self, cronjob: Obj, jobs: list[Obj], result: _SyncResult) -> None:
        """Reconcile the active list and start the due Job, recording in ``result`` when
        to look again (None: not until the spec changes) and whether the status changed."""
        now = self.now()
        if await self._reconcile_active(cronjob, jobs):
            result.changed = True
        if is_terminating(cronjob):
            return
        spec = cronjob.get("spec") or {}
        schedule_text, zone_name = _schedule_text(cronjob)
        try:
            zone = load_zone(zone_name)
        except ScheduleError as exc:
            self.recorder.event(cronjob, "Warning", "UnknownTimeZone",
                                f"invalid timeZone: {gofmt.quote(zone_name or '')}: {exc}")
            return
        if spec.get("suspend") is True:
            return
        if "TZ" in schedule_text:
            self.recorder.event(
                cronjob, "Warning", "UnsupportedSchedule",
                f"CRON_TZ or TZ used in schedule {gofmt.quote(schedule_text)} is not "
                "officially supported, see "
                "https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/ for more "
                "details")
        try:
            schedule = parse_schedule(schedule_text,
                                      None if "TZ" in schedule_text else zone_name)
        except ScheduleError as exc:
            self.recorder.event(cronjob, "Warning", "UnparseableSchedule",
                                f"unparseable schedule: {gofmt.quote(schedule_text)} : {exc}")
            return
        status = cronjob.get("status") or {}
        created = parse_rfc3339(meta(cronjob).get("creationTimestamp")) or _EPOCH
        last = parse_rfc3339(status.get("lastScheduleTime"))
        deadline = spec.get("startingDeadlineSeconds")
        try:
            recent = most_recent_schedule_time(
                created, last, deadline if isinstance(deadline, int) else None, now, schedule)
        except ScheduleError as exc:
            self.recorder.event(cronjob, "Warning", "InvalidSchedule",
                                f"invalid schedule: {schedule_text} : {exc}")
            return
        scheduled = recent.most_recent
        result.requeue_after = self._next_delay(cronjob, schedule)
        if scheduled is None or scheduled > now:
            return
        if recent.missed is Missed.MANY:
            self.recorder.event(cronjob, "Warning", "TooManyMissedTimes",
                                "too many missed start times. Set or decrease "
                                ".spec.startingDeadlineSeconds or check clock skew")
        if isinstance(deadline, int) and scheduled + timedelta(seconds=deadline) < now:
            self.recorder.event(cronjob, "Warning", "MissSchedule",
                                f"Missed scheduled time to start a job: {cj.rfc1123z(scheduled)}")
            return
        namespace = meta(cronjob)["namespace"]
        if cj.in_active_list_by_name(cronjob, namespace,
                                     cj.job_name(meta(cronjob)["name"], scheduled)) or \
                (last is not None and last == scheduled):
            # This schedule time was handled already.
            return
        policy = spec.get("concurrencyPolicy") or "Allow"
        if policy == "Forbid" and cj.active_refs(cronjob):
            self.recorder.event(cronjob, "Normal", "JobAlreadyActive",
                                "Not starting job because prior execution is running and "
                                "concurrency policy is Forbid")
            return
        # Until the new Job is recorded, a failure is retried with backoff instead.
        result.requeue_after = None
        if policy == "Replace" and await self._replace_active(cronjob):
            result.changed = True
        created_job = await self._create_job(cronjob, scheduled, zone)
        result.requeue_after = self._next_delay(cronjob, schedule)
        if created_job is None:
            return
        status = cronjob.setdefault("status", {})
        if not cj.in_active_list(cronjob, uid_of(created_job)):
            status.setdefault("active", []).append(cj.job_reference(created_job))
        status["lastScheduleTime"] = scheduled.strftime("%Y-%m-%dT%H:%M:%SZ")
        result.changed = True
        result.requeue_after = self._next_delay(cronjob, schedule)

    async def _reconcile_active(self, cronjob: Obj, jobs: list[Obj]) -> bool:
        changed = False
        children = {uid_of(j) for j in jobs}
        for job in jobs:
            uid = uid_of(job)
            found = cj.in_active_list(cronjob, uid)
            finished = finished_type(job)
            if not found and finished is None:
                fresh = await self.client.get(CRONJOBS, meta(cronjob)["name"],
                                              meta(cronjob)["namespace"])
                if cj.in_active_list(fresh, uid):
                    # Our cache was older than our own status write: go on with the fresh
                    # object.
                    cronjob.clear()
                    cronjob.update(fresh)
                    continue
                # Not created by us (kubectl create job --from), or we crashed before the
                # status write: it runs, but is not ours to track.
                self.recorder.event(cronjob, "Warning", "UnexpectedJob",
                                    "Saw a job that the controller did not create or forgot: "
                                    f"{meta(job)['name']}")
            elif found and finished is not None:
                cj.remove_from_active_list(cronjob, uid)
                self.recorder.event(cronjob, "Normal", "SawCompletedJob",
                                    f"Saw completed job: {meta(job)['name']}, "
                                    f"status: {finished}")
                changed = True
            if finished == COMPLETE:
                completed = cj.completion_time(job)
                status = cronjob.setdefault("status", {})
                last = parse_rfc3339(status.get("lastSuccessfulTime"))
                if completed is not None and (last is None or completed > last):
                    status["lastSuccessfulTime"] = job["status"]["completionTime"]
                    changed = True
        for ref in list(cj.active_refs(cronjob)):
            if ref.get("uid") in children:
                continue
            # The cache may lag behind a Job we just created: ask the server.
            try:
                await self.client.get(JOBS, str(ref.get("name")), ref.get("namespace"))
            except ApiError as exc:
                if exc.code != 404:
                    raise
                self.recorder.event(cronjob, "Normal", "MissingJob",
                                    f"Active job went missing: {ref.get('name')}")
                cj.remove_from_active_list(cronjob, str(ref.get("uid")))
                changed = True
        return changed

    async def _replace_active(self, cronjob: Obj) -> bool:
        changed = False
        for ref in list(cj.active_refs(cronjob)):
            try:
                job = await self.client.get(JOBS, str(ref.get("name")), ref.get("namespace"))
            except ApiError as exc:
                self.recorder.event(cronjob, "Warning", "FailedGet", f"Get job: {exc.message}")
                raise
            if not await self._delete_job(cronjob, job):
                raise ApiError(code=500, reason="InternalError",
                               message=f"could not replace job {object_key(job)}")
            changed = True
        return changed

    async def _create_job(self, cronjob: Obj, scheduled: datetime, zone: tzinfo
                          ) -> Obj | None:
        """Create the Job for ``scheduled``; returns it (also when an earlier attempt made
        it), or None when the name belongs to someone else."""
        body = cj.job_from_template(cronjob, scheduled, zone)
        namespace = meta(cronjob)["namespace"]
        try:
            created = await self.client.create(JOBS, body, namespace)
        except ApiError as exc:
            if exc.code != 409:
                if not is_namespace_terminating(exc):
                    self.recorder.event(cronjob, "Warning", "FailedCreate",
                                        f"Error creating job: {exc.message}")
                raise
            existing = await self.client.get(JOBS, body["metadata"]["name"], namespace)
            if not is_controlled_by(existing, cronjob) or \
                    cj.in_active_list(cronjob, uid_of(existing)):
                return None
            log.info("cronjob %s: job %s already exists", object_key(cronjob),
                     body["metadata"]["name"])
            return existing
        self.recorder.event(cronjob, "Normal", "SuccessfulCreate",
                            f"Created job {meta(created)['name']}")
        return created

    async def _delete_job(self, cronjob: Obj, job: Obj) -> bool:
        """Delete a Job (its pods in the background) and drop it from the active list."""
        try:
            await self.client.delete(JOBS, meta(job)["name"], meta(job)["namespace"],
                                     propagation_policy="Background")
        except ApiError as exc:
            self.recorder.event(cronjob, "Warning", "FailedDelete",
                                f"Deleted job: {exc.message}")
            return False
        cj.remove_from_active_list(cronjob, uid_of(job))
        self.recorder.event(cronjob, "Normal", "SuccessfulDelete",
                            f"Deleted job {meta(job)['name']}")
        return True

    async def _cleanup_finished_jobs(self, cronjob: Obj, jobs: list[Obj]) -> bool:
        """Delete the oldest finished Jobs beyond the history limits."""
        spec = cronjob.get("spec") or {}
        changed = False
        for kind, limit_key in ((COMPLETE, "successfulJobsHistoryLimit"),
                                (FAILED, "failedJobsHistoryLimit")):
            limit = spec.get(limit_key)
            if not isinstance(limit, int):
                continue
            finished = sorted((j for j in jobs if finished_type(j) == kind),
                              key=cj.start_time_order)
            for job in finished[:max(0, len(finished) - limit)]:
                if await self._delete_job(cronjob, job):
                    changed = True
        return changed
