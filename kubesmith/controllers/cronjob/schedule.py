"""CronJob schedules: parsing (croniter, with robfig/cron's dialect as the API accepts it)
and upstream's arithmetic of missed and next schedule times.

The API server validates ``spec.schedule`` with robfig's grammar (5 fields or a
descriptor). croniter evaluates it; the few places where the dialects differ are bridged
here: ``?`` means ``*``, a ``*/1`` day field is a plain ``*`` (robfig keeps its "star"
meaning, which decides whether day-of-month and day-of-week are ANDed or ORed),
``@every <duration>`` is a fixed interval, and a ``TZ=``/``CRON_TZ=`` prefix names the zone.
Without a zone, schedules run in UTC (kube-controller-manager's local time in its image).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

# No stubs ship with croniter (typeshed's types-croniter is not a dependency).
from croniter import (  # type: ignore[import-untyped]
    CroniterBadDateError,
    CroniterError,
    croniter,
)

from kubesmith.api.validation.cron import CronError, load_location, parse_duration

#: Added to requeue delays so a slightly fast clock does not wake the controller just
#: before the schedule time (upstream's nextScheduleDelta).
NEXT_SCHEDULE_DELTA = 0.1
#: More missed times than this means a wrong clock or a long outage: warn.
MANY_MISSED = 100

_DESCRIPTORS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight",
                "@hourly"}


class ScheduleError(ValueError):
    """A schedule that cannot be parsed or never fires."""


class Missed(enum.Enum):
    """How many schedule times passed without a Job."""

    NONE = "none"
    FEW = "few"
    MANY = "many"


def load_zone(name: str | None) -> tzinfo:
    """A zone by IANA name; empty, ``UTC`` or ``Local`` is UTC (Go's ``time.LoadLocation``
    as the API server validates it)."""
    try:
        return load_location(name or "") or UTC
    except CronError as exc:
        raise ScheduleError(str(exc)) from None


@dataclass(frozen=True, slots=True)
class Schedule:
    """A parsed schedule: a cron expression in a zone, or a fixed interval."""

    expression: str
    zone: tzinfo = UTC
    every: timedelta | None = None

    def next(self, after: datetime) -> datetime | None:
        """The first activation strictly after ``after`` (UTC), None when there is none."""
        if self.every is not None:
            # robfig: whole seconds of the interval (at least one) after the whole second.
            step = max(timedelta(seconds=int(self.every.total_seconds())),
                       timedelta(seconds=1))
            return after.replace(microsecond=0) + step
        try:
            found: datetime = croniter(self.expression,
                                       after.astimezone(self.zone)).get_next(datetime)
        except CroniterBadDateError:
            return None
        return found.astimezone(UTC)


def _normalize_field(field: str) -> str:
    field = field.replace("?", "*")
    return "*" if field == "*/1" else field


def parse_schedule(schedule: str, time_zone: str | None = None) -> Schedule:
    """Parse ``spec.schedule`` (in ``spec.timeZone`` unless it has a TZ= prefix)."""
    text = schedule.strip()
    zone = load_zone(time_zone)
    if text.startswith(("TZ=", "CRON_TZ=")):
        prefix, _, text = text.partition(" ")
        zone = load_zone(prefix.split("=", 1)[1])
        text = text.strip()
    if not text:
        raise ScheduleError("empty spec string")
    if text.startswith("@every "):
        try:
            every = parse_duration(text[len("@every "):].strip())
        except CronError as exc:
            raise ScheduleError(f"failed to parse duration {text}: {exc}") from None
        return Schedule(text, zone, every)
    if text.startswith("@"):
        if text not in _DESCRIPTORS:
            raise ScheduleError(f"unrecognized descriptor: {text}")
        return Schedule(text, zone)
    fields = text.split()
    if len(fields) != 5:
        raise ScheduleError(f"expected exactly 5 fields, found {len(fields)}: "
                            f"[{' '.join(fields)}]")
    expression = " ".join(_normalize_field(f) for f in fields)
    try:
        croniter(expression, datetime(2000, 1, 1, tzinfo=UTC))
    except (CroniterError, ValueError, KeyError) as exc:
        raise ScheduleError(str(exc)) from None
    return Schedule(expression, zone)


@dataclass(frozen=True, slots=True)
class RecentSchedule:
    """Where a CronJob stands: the time it counts from, the latest missed schedule time
    (None if none is due) and how many were missed."""

    earliest: datetime
    most_recent: datetime | None
    missed: Missed


def most_recent_schedule_time(created: datetime, last_scheduled: datetime | None,
                              starting_deadline: int | None, now: datetime,
                              schedule: Schedule) -> RecentSchedule:
    """The latest schedule time due since the last run (or creation), without walking every
    missed time: the gap between two activations estimates how many were missed.

    Raises :class:`ScheduleError` for a schedule that never fires twice (``0 0 31 2 *``).
    """
    earliest = last_scheduled or created
    if starting_deadline is not None:
        # Nothing older than the deadline will be started anyway.
        earliest = max(earliest, now - timedelta(seconds=starting_deadline))
    first = schedule.next(earliest)
    second = schedule.next(first) if first is not None else None
    if first is not None and now < first:
        return RecentSchedule(earliest, None, Missed.NONE)
    if first is not None and second is not None and now < second:
        return RecentSchedule(earliest, first, Missed.NONE)
    if first is None or second is None or \
            round((second - first).total_seconds()) < 1:
        raise ScheduleError("time difference between two schedules is less than 1 second")
    between = round((second - first).total_seconds())
    missed_count = int((now - first).total_seconds()) // between + 1
    # Start one interval before the estimate and let the schedule find the exact times:
    # irregular schedules (30 6-16/4 * * 1-5) do not keep one interval.
    cursor: datetime | None = first + timedelta(seconds=(missed_count - 2) * between)
    latest: datetime | None = None
    while cursor is not None:
        cursor = schedule.next(cursor)
        if cursor is None or cursor > now:
            break
        latest = cursor
    missed = Missed.MANY if missed_count > MANY_MISSED else Missed.FEW
    return RecentSchedule(earliest, latest, missed)


def next_schedule_delay(created: datetime, last_scheduled: datetime | None, now: datetime,
                        schedule: Schedule) -> float | None:
    """Seconds until the CronJob should be looked at again (its next schedule time plus a
    small margin); None when the schedule never fires again."""
    try:
        recent = most_recent_schedule_time(created, last_scheduled, None, now, schedule)
    except ScheduleError:
        base = now
    else:
        if recent.most_recent is not None:
            base = recent.most_recent
        else:
            base = recent.earliest if recent.missed is Missed.NONE else now
    following = schedule.next(base)
    if following is None:
        return None
    return (following - now).total_seconds() + NEXT_SCHEDULE_DELTA
