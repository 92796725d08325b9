"""CronJob schedules, parsed like ``github.com/robfig/cron/v3``'s ``ParseStandard``.

Five fields (minute hour day-of-month month day-of-week) with ``*``, ``?``, ranges, steps,
lists and month/weekday names, or a descriptor (``@hourly``, ``@every 90s``...). Errors carry
robfig's wording because upstream puts them verbatim into the 422 message. The parsed
:class:`CronSchedule` can also compute the next activation, which the CronJob controller
needs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["CronError", "CronSchedule", "parse_duration", "parse_standard"]


class CronError(ValueError):
    """A schedule that does not parse; ``str(error)`` is robfig's message."""


@dataclass(frozen=True, slots=True)
class _Bounds:
    low: int
    high: int
    names: dict[str, int]


_MINUTES = _Bounds(0, 59, {})
_HOURS = _Bounds(0, 23, {})
_DOM = _Bounds(1, 31, {})
_MONTHS = _Bounds(1, 12, {name: i + 1 for i, name in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"])})
_DOW = _Bounds(0, 6, {name: i for i, name in enumerate(
    ["sun", "mon", "tue", "wed", "thu", "fri", "sat"])})

_DESCRIPTORS = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


@dataclass(frozen=True, slots=True)
class CronSchedule:
    """A parsed schedule: the allowed values of each field, or a fixed interval."""

    minutes: frozenset[int]
    hours: frozenset[int]
    days_of_month: frozenset[int]
    months: frozenset[int]
    days_of_week: frozenset[int]
    # robfig's "star bit": a field written as * (or ?) does not restrict the day match.
    dom_star: bool = False
    dow_star: bool = False
    every: timedelta | None = None
    location: str = ""

    def _day_matches(self, when: datetime) -> bool:
        dom = when.day in self.days_of_month
        dow = (when.isoweekday() % 7) in self.days_of_week
        if self.dom_star or self.dow_star:
            return dom and dow
        return dom or dow

    def next_after(self, after: datetime) -> datetime | None:
        """The first activation strictly after ``after`` (None if none within 5 years)."""
        if self.every is not None:
            # robfig rounds the interval down to whole seconds, with a one-second floor.
            step = max(timedelta(seconds=int(self.every.total_seconds())), timedelta(seconds=1))
            return after.replace(microsecond=0) + step
        when = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
        limit = when + timedelta(days=366 * 5)
        while when < limit:
            if when.month not in self.months:
                month = when.month + 1
                year = when.year + (month > 12)
                when = when.replace(year=year, month=(month - 1) % 12 + 1, day=1, hour=0,
                                    minute=0)
                continue
            if not self._day_matches(when):
                when = (when + timedelta(days=1)).replace(hour=0, minute=0)
                continue
            if when.hour not in self.hours:
                when = (when + timedelta(hours=1)).replace(minute=0)
                continue
            if when.minute not in self.minutes:
                when += timedelta(minutes=1)
                continue
            return when
        return None


_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0,
                   "m": 60.0, "h": 3600.0}
_DURATION_PART = re.compile(r"([0-9]*(?:\.[0-9]*)?)([^0-9.]*)")


def parse_duration(text: str) -> timedelta:
    """Go's ``time.ParseDuration`` (``1h30m``, ``90s``, ``1.5h``)."""
    original = text
    sign = 1.0
    if text[:1] in "+-" and text:
        sign = -1.0 if text[0] == "-" else 1.0
        text = text[1:]
    if text == "0":
        return timedelta(0)
    if not text:
        raise CronError(f'time: invalid duration "{original}"')
    total = 0.0
    while text:
        match = _DURATION_PART.match(text)
        if match is None or match.group(1) in ("", "."):
            raise CronError(f'time: invalid duration "{original}"')
        number, unit = match.group(1), match.group(2)
        if not unit:
            raise CronError(f'time: missing unit in duration "{original}"')
        if unit not in _DURATION_UNITS:
            raise CronError(f'time: unknown unit "{unit}" in duration "{original}"')
        total += float(number) * _DURATION_UNITS[unit]
        text = text[match.end():]
    return timedelta(seconds=sign * total)


def _go_atoi_error(expr: str) -> str:
    return f'failed to parse int from {expr}: strconv.Atoi: parsing "{expr}": invalid syntax'


def _must_parse_int(expr: str) -> int:
    if not re.fullmatch(r"[+-]?[0-9]+", expr):
        raise CronError(_go_atoi_error(expr))
    number = int(expr)
    if not -(2**63) <= number < 2**63:
        raise CronError(f'failed to parse int from {expr}: strconv.Atoi: parsing "{expr}": '
                        "value out of range")
    if number < 0:
        raise CronError(f"negative number ({number}) not allowed: {expr}")
    return number


def _parse_int_or_name(expr: str, bounds: _Bounds) -> int:
    if bounds.names and expr.lower() in bounds.names:
        return bounds.names[expr.lower()]
    return _must_parse_int(expr)


def _parse_range(expr: str, bounds: _Bounds) -> tuple[set[int], bool]:
    range_and_step = expr.split("/")
    low_and_high = range_and_step[0].split("-")
    single = len(low_and_high) == 1
    star = False
    if low_and_high[0] in ("*", "?"):
        start, end, star = bounds.low, bounds.high, True
    else:
        start = _parse_int_or_name(low_and_high[0], bounds)
        if len(low_and_high) == 1:
            end = start
        elif len(low_and_high) == 2:
            end = _parse_int_or_name(low_and_high[1], bounds)
        else:
            raise CronError(f"too many hyphens: {expr}")
    if len(range_and_step) == 1:
        step = 1
    elif len(range_and_step) == 2:
        step = _must_parse_int(range_and_step[1])
        # "N/step" means "N-max/step".
        if single:
            end = bounds.high
        if step > 1:
            star = False
    else:
        raise CronError(f"too many slashes: {expr}")
    if start < bounds.low:
        raise CronError(f"beginning of range ({start}) below minimum ({bounds.low}): {expr}")
    if end > bounds.high:
        raise CronError(f"end of range ({end}) above maximum ({bounds.high}): {expr}")
    if start > end:
        raise CronError(f"beginning of range ({start}) beyond end of range ({end}): {expr}")
    if step == 0:
        raise CronError(f"step of range should be a positive number: {expr}")
    return set(range(start, end + 1, step)), star


def _parse_field(text: str, bounds: _Bounds) -> tuple[frozenset[int], bool]:
    values: set[int] = set()
    star = False
    for expr in (part for part in text.split(",") if part):
        more, is_star = _parse_range(expr, bounds)
        values |= more
        star = star or is_star
    return frozenset(values), star


def _go_fields(fields: list[str]) -> str:
    return "[" + " ".join(fields) + "]"


def parse_standard(spec: str) -> CronSchedule:
    """Parse a standard 5-field schedule or descriptor; :class:`CronError` on failure."""
    if not spec:
        raise CronError("empty spec string")
    location = ""
    if spec.startswith(("TZ=", "CRON_TZ=")):
        space = spec.find(" ")
        equals = spec.find("=")
        location = spec[equals + 1:space] if space >= 0 else spec[equals + 1:]
        try:
            load_location(location)
        except CronError as exc:
            raise CronError(f"provided bad location {location}: {exc}") from None
        spec = spec[space:].strip() if space >= 0 else ""
    if spec.startswith("@"):
        if spec in _DESCRIPTORS:
            return _with_location(parse_standard(_DESCRIPTORS[spec]), location)
        if spec.startswith("@every "):
            try:
                every = parse_duration(spec[len("@every "):])
            except CronError as exc:
                raise CronError(f"failed to parse duration {spec}: {exc}") from None
            empty: frozenset[int] = frozenset()
            return CronSchedule(empty, empty, empty, empty, empty, every=every,
                                location=location)
        raise CronError(f"unrecognized descriptor: {spec}")
    fields = spec.split()
    if len(fields) != 5:
        raise CronError(f"expected exactly 5 fields, found {len(fields)}: {_go_fields(fields)}")
    minutes, _ = _parse_field(fields[0], _MINUTES)
    hours, _ = _parse_field(fields[1], _HOURS)
    dom, dom_star = _parse_field(fields[2], _DOM)
    months, _ = _parse_field(fields[3], _MONTHS)
    dow, dow_star = _parse_field(fields[4], _DOW)
    return CronSchedule(minutes, hours, dom, months, dow, dom_star, dow_star, location=location)


def _with_location(schedule: CronSchedule, location: str) -> CronSchedule:
    return CronSchedule(schedule.minutes, schedule.hours, schedule.days_of_month,
                        schedule.months, schedule.days_of_week, schedule.dom_star,
                        schedule.dow_star, schedule.every, location)


def load_location(name: str) -> ZoneInfo | None:
    """Go's ``time.LoadLocation``: ``""``/``UTC`` are UTC, ``Local`` is the host zone."""
    if name in ("", "UTC"):
        return ZoneInfo("UTC")
    if name == "Local":
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise CronError(f"unknown time zone {name}") from None
