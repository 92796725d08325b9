"""CronJob schedules parsed like robfig/cron's ParseStandard, with its error messages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kubesmith.api.validation.cron import CronError, parse_duration, parse_standard

VALID = ["*/5 * * * *", "0 0 * * MON-FRI", "0 12 1 jan,jul *", "30 2 * * 0", "0 0 13 * 5",
         "@hourly", "@daily", "@midnight", "@weekly", "@monthly", "@yearly", "@annually",
         "@every 1h30m", "? * * * *", "5/15 * * * *", "TZ=UTC 0 * * * *",
         "CRON_TZ=Europe/Paris 0 9 * * *"]

INVALID = [
    ("", "empty spec string"),
    ("* * * *", "expected exactly 5 fields, found 4: [* * * *]"),
    ("* * * * * *", "expected exactly 5 fields, found 6: [* * * * * *]"),
    ("60 * * * *", "end of range (60) above maximum (59): 60"),
    ("* 24 * * *", "end of range (24) above maximum (23): 24"),
    ("* * 0 * *", "beginning of range (0) below minimum (1): 0"),
    ("* * * * 7", "end of range (7) above maximum (6): 7"),
    ("3-1 * * * *", "beginning of range (3) beyond end of range (1): 3-1"),
    ("*/0 * * * *", "step of range should be a positive number: */0"),
    ("1-2-3 * * * *", "too many hyphens: 1-2-3"),
    ("1/2/3 * * * *", "too many slashes: 1/2/3"),
    ("a * * * *", 'failed to parse int from a: strconv.Atoi: parsing "a": invalid syntax'),
    ("@fortnightly", "unrecognized descriptor: @fortnightly"),
    ("@every x", 'failed to parse duration @every x: time: invalid duration "x"'),
    ("TZ=Nowhere/Land 0 * * * *", "provided bad location Nowhere/Land: "
                                  "unknown time zone Nowhere/Land"),
]


@pytest.mark.parametrize("schedule", VALID)
def test_valid_schedules(schedule: str) -> None:
    parse_standard(schedule)


@pytest.mark.parametrize(("schedule", "message"), INVALID, ids=[c[0] or "empty" for c in INVALID])
def test_invalid_schedules_carry_robfig_messages(schedule: str, message: str) -> None:
    with pytest.raises(CronError) as info:
        parse_standard(schedule)
    assert str(info.value) == message


START = datetime(2024, 1, 1, 0, 0, 30, tzinfo=UTC)  # a Monday
NEXT = [
    ("*/5 * * * *", datetime(2024, 1, 1, 0, 5, tzinfo=UTC)),
    ("0 * * * *", datetime(2024, 1, 1, 1, 0, tzinfo=UTC)),
    ("0 0 * * SAT", datetime(2024, 1, 6, 0, 0, tzinfo=UTC)),
    # both day fields restricted: either one matching is enough (the 5th is a Friday)
    ("0 0 13 * 5", datetime(2024, 1, 5, 0, 0, tzinfo=UTC)),
    # day-of-week "*" keeps day-of-month alone in charge
    ("0 0 15 * *", datetime(2024, 1, 15, 0, 0, tzinfo=UTC)),
    ("0 0 1 3 *", datetime(2024, 3, 1, 0, 0, tzinfo=UTC)),
    ("0 0 29 2 *", datetime(2024, 2, 29, 0, 0, tzinfo=UTC)),
    ("@every 90s", datetime(2024, 1, 1, 0, 2, 0, tzinfo=UTC)),
]


@pytest.mark.parametrize(("schedule", "expected"), NEXT, ids=[c[0] for c in NEXT])
def test_next_activation(schedule: str, expected: datetime) -> None:
    assert parse_standard(schedule).next_after(START) == expected


def test_impossible_dates_never_fire() -> None:
    assert parse_standard("0 0 31 2 *").next_after(START) is None


@pytest.mark.parametrize(("text", "expected"), [
    ("1h30m", timedelta(hours=1, minutes=30)), ("90s", timedelta(seconds=90)),
    ("1.5h", timedelta(minutes=90)), ("250ms", timedelta(milliseconds=250)),
])
def test_go_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "5", "1d", "h"])
def test_bad_go_durations(text: str) -> None:
    with pytest.raises(CronError):
        parse_duration(text)
