"""CronJob schedule parsing (robfig's dialect on croniter) and upstream's arithmetic of
missed and next schedule times, plus the Job made for a schedule time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from kubesmith.api.validation.cron import parse_standard
from kubesmith.controllers.cronjob.jobs import (
    SCHEDULED_TIMESTAMP_ANNOTATION,
    job_from_template,
    job_name,
    rfc1123z,
    start_time_order,
)
from kubesmith.controllers.cronjob.schedule import (
    Missed,
    ScheduleError,
    most_recent_schedule_time,
    next_schedule_delay,
    parse_schedule,
)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(("schedule", "after", "expected"), [
    pytest.param("*/1 * * * *", "2026-05-01T10:00:30", "2026-05-01T10:01:00", id="every-minute"),
    pytest.param("*/15 * * * *", "2026-05-01T10:00:00", "2026-05-01T10:15:00", id="strictly-after"),
    pytest.param("@hourly", "2026-05-01T10:20:00", "2026-05-01T11:00:00", id="hourly"),
    pytest.param("@daily", "2026-05-01T10:20:00", "2026-05-02T00:00:00", id="daily"),
    pytest.param("@weekly", "2026-05-01T10:20:00", "2026-05-03T00:00:00", id="weekly-sunday"),
    pytest.param("@monthly", "2026-05-01T10:20:00", "2026-06-01T00:00:00", id="monthly"),
    pytest.param("@yearly", "2026-05-01T10:20:00", "2027-01-01T00:00:00", id="yearly"),
    pytest.param("0 9 * * MON-FRI", "2026-05-01T10:00:00", "2026-05-04T09:00:00",
                 id="weekday-names"),
    pytest.param("0 0 1 JAN ?", "2026-05-01T10:00:00", "2027-01-01T00:00:00",
                 id="question-mark"),
    # Both day fields restricted: either matches (day 3 is a Sunday, the 15th is not).
    pytest.param("0 0 15 * mon", "2026-05-01T00:00:00", "2026-05-04T00:00:00", id="dom-or-dow"),
    # robfig keeps */1 a "star": days are then ANDed, so only Mondays match.
    pytest.param("0 0 */1 * mon", "2026-05-01T00:00:00", "2026-05-04T00:00:00",
                 id="star-step-one-dow"),
    pytest.param("@every 90s", "2026-05-01T10:00:00.700", "2026-05-01T10:01:30",
                 id="every"),
])
def test_next_activation(schedule: str, after: str, expected: str) -> None:
    assert parse_schedule(schedule).next(at(after)) == at(expected)


@pytest.mark.parametrize("schedule", [
    "*/5 * * * *", "0 */2 * * *", "30 6-16/4 * * 1-5", "0 0 1,15 * *", "0 0 * * 0",
    "15 14 1 * *", "0 22 * * 1-5", "5 4 * * sun", "0 0 */2 * mon", "0 0 */1 * mon",
    "0 12 ? * *",
])
def test_agrees_with_the_validating_parser(schedule: str) -> None:
    """The API validates with a robfig-exact parser; the controller must fire at the same
    times for the schedules it accepts."""
    ours = parse_schedule(schedule)
    reference = parse_standard(schedule)
    when = at("2026-02-27T13:17:00")
    for _ in range(30):
        expected = reference.next_after(when)
        assert ours.next(when) == expected
        assert expected is not None
        when = expected


def test_time_zone_field_and_prefix() -> None:
    zone = ZoneInfo("Europe/Berlin")
    by_field = parse_schedule("0 9 * * *", "Europe/Berlin")
    by_prefix = parse_schedule("TZ=Europe/Berlin 0 9 * * *")
    after = at("2026-07-01T00:00:00")
    expected = datetime(2026, 7, 1, 9, 0, tzinfo=zone).astimezone(UTC)
    assert by_field.next(after) == expected == at("2026-07-01T07:00:00")
    assert by_prefix.next(after) == expected
    assert parse_schedule("CRON_TZ=America/New_York 0 9 * * *").next(after) == \
        at("2026-07-01T13:00:00")


def test_dst_gap_runs_once() -> None:
    schedule = parse_schedule("30 2 * * *", "America/New_York")
    # 2:30 does not exist on 2026-03-08 there; the job still runs once that day.
    first = schedule.next(at("2026-03-08T05:00:00"))
    assert first is not None
    second = schedule.next(first)
    assert second is not None and second - first >= timedelta(hours=22)


@pytest.mark.parametrize(("schedule", "zone", "message"), [
    ("", None, "empty spec string"),
    ("* * * *", None, "expected exactly 5 fields, found 4: [* * * *]"),
    ("* * * * * *", None, "expected exactly 5 fields, found 6"),
    ("@fortnightly", None, "unrecognized descriptor: @fortnightly"),
    ("61 * * * *", None, "out of range"),
    ("@every 1x", None, "failed to parse duration @every 1x: time: unknown unit"),
    ("0 * * * *", "Mars/Olympus", "unknown time zone Mars/Olympus"),
    ("TZ=Nowhere/Land 0 * * * *", None, "unknown time zone Nowhere/Land"),
])
def test_parse_errors(schedule: str, zone: str | None, message: str) -> None:
    with pytest.raises(ScheduleError, match=message.replace("[", r"\[").replace("*", r"\*")):
        parse_schedule(schedule, zone)


def test_a_schedule_that_never_fires() -> None:
    schedule = parse_schedule("0 0 31 2 *")
    assert schedule.next(at("2026-01-01T00:00:00")) is None
    with pytest.raises(ScheduleError, match="less than 1 second"):
        most_recent_schedule_time(at("2026-01-01T00:00:00"), None, None,
                                  at("2026-06-01T00:00:00"), schedule)


EVERY_MINUTE = parse_schedule("*/1 * * * *")
CREATED = at("2026-05-01T10:00:10")


def test_nothing_due_before_the_first_time() -> None:
    recent = most_recent_schedule_time(CREATED, None, None, at("2026-05-01T10:00:50"),
                                       EVERY_MINUTE)
    assert recent.most_recent is None
    assert recent.missed is Missed.NONE
    assert recent.earliest == CREATED


def test_one_time_due() -> None:
    recent = most_recent_schedule_time(CREATED, None, None, at("2026-05-01T10:01:20"),
                                       EVERY_MINUTE)
    assert recent.most_recent == at("2026-05-01T10:01:00")
    assert recent.missed is Missed.NONE


def test_several_missed_gives_the_latest() -> None:
    recent = most_recent_schedule_time(CREATED, at("2026-05-01T10:01:00"), None,
                                       at("2026-05-01T10:07:30"), EVERY_MINUTE)
    assert recent.most_recent == at("2026-05-01T10:07:00")
    assert recent.missed is Missed.FEW


def test_many_missed() -> None:
    recent = most_recent_schedule_time(CREATED, None, None, at("2026-05-01T13:00:30"),
                                       EVERY_MINUTE)
    assert recent.most_recent == at("2026-05-01T13:00:00")
    assert recent.missed is Missed.MANY


def test_irregular_schedule_finds_the_exact_latest_time() -> None:
    schedule = parse_schedule("30 6-16/4 * * 1-5")
    recent = most_recent_schedule_time(at("2026-04-01T00:00:00"), None, None,
                                       at("2026-05-01T15:00:00"), schedule)
    assert recent.most_recent == at("2026-05-01T14:30:00")


def test_starting_deadline_limits_how_far_back() -> None:
    now = at("2026-05-01T13:00:30")
    recent = most_recent_schedule_time(CREATED, None, 45, now, EVERY_MINUTE)
    assert recent.earliest == now - timedelta(seconds=45)
    assert recent.most_recent == at("2026-05-01T13:00:00")
    assert recent.missed is Missed.NONE
    # Nothing inside the deadline window: nothing to start.
    late = most_recent_schedule_time(CREATED, None, 20, now, EVERY_MINUTE)
    assert late.most_recent is None


def test_next_delay_points_at_the_next_time() -> None:
    delay = next_schedule_delay(CREATED, None, at("2026-05-01T10:00:40"), EVERY_MINUTE)
    assert delay == pytest.approx(20.1)
    # After the 10:01 run was recorded, the next look is at 10:02.
    delay = next_schedule_delay(CREATED, at("2026-05-01T10:01:00"), at("2026-05-01T10:01:02"),
                                EVERY_MINUTE)
    assert delay == pytest.approx(58.1)
    # Missed runs: from now on, not from the past.
    delay = next_schedule_delay(CREATED, None, at("2026-05-01T10:05:30"), EVERY_MINUTE)
    assert delay == pytest.approx(30.1)
    assert next_schedule_delay(CREATED, None, at("2026-05-01T10:05:30"),
                               parse_schedule("0 0 31 2 *")) is None


def test_job_for_a_schedule_time() -> None:
    cronjob = {"apiVersion": "batch/v1", "kind": "CronJob",
               "metadata": {"name": "backup", "namespace": "ops", "uid": "u-1"},
               "spec": {"jobTemplate": {
                   "metadata": {"labels": {"app": "backup"}, "annotations": {"a": "b"}},
                   "spec": {"template": {"spec": {"containers": [{"name": "c"}]}}}}}}
    scheduled = at("2026-05-01T10:01:00")
    job = job_from_template(cronjob, scheduled, ZoneInfo("Asia/Tokyo"))
    minutes = int(scheduled.timestamp()) // 60
    assert job["metadata"]["name"] == job_name("backup", scheduled) == f"backup-{minutes}"
    assert job["metadata"]["labels"] == {"app": "backup"}
    assert job["metadata"]["annotations"] == {
        "a": "b", SCHEDULED_TIMESTAMP_ANNOTATION: "2026-05-01T19:01:00+09:00"}
    assert job["metadata"]["ownerReferences"] == [{
        "apiVersion": "batch/v1", "kind": "CronJob", "name": "backup", "uid": "u-1",
        "controller": True, "blockOwnerDeletion": True}]
    assert job["spec"] == cronjob["spec"]["jobTemplate"]["spec"]
    assert job["spec"] is not cronjob["spec"]["jobTemplate"]["spec"]
    utc_job = job_from_template(cronjob, scheduled, UTC)
    assert utc_job["metadata"]["annotations"][SCHEDULED_TIMESTAMP_ANNOTATION] == \
        "2026-05-01T10:01:00Z"


def test_history_order_and_event_time_format() -> None:
    jobs = [{"metadata": {"name": n}, "status": {"startTime": t} if t else {}}
            for n, t in (("c", "2026-05-01T10:02:00Z"), ("a", None),
                         ("b", "2026-05-01T10:01:00Z"), ("d", "2026-05-01T10:01:00Z"))]
    assert [j["metadata"]["name"] for j in sorted(jobs, key=start_time_order)] == \
        ["b", "d", "c", "a"]
    assert rfc1123z(at("2026-05-01T10:01:00")) == "Fri, 01 May 2026 10:01:00 +0000"
