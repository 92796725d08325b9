"""Go's text forms of times and durations."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from kubesmith.api.protobuf.gotime import (
    ZERO_TIME_UNIX,
    format_duration,
    format_rfc3339,
    normalize_unix,
)


@pytest.mark.parametrize(("nanos", "text"), [
    (0, "0s"),
    (1, "1ns"),
    (1_100, "1.1\u00b5s"),
    (2_200_000, "2.2ms"),
    (3_300_000_000, "3.3s"),
    (245_000_000_000, "4m5s"),
    (245_001_000_000, "4m5.001s"),
    (18_367_001_000_000, "5h6m7.001s"),
    (480_000_000_001, "8m0.000000001s"),
    (3_600_000_000_000, "1h0m0s"),
    (90_000_000_000, "1m30s"),
    (-1, "-1ns"),
    (-1_500_000, "-1.5ms"),
    (2**63 - 1, "2562047h47m16.854775807s"),
    (-(2**63), "-2562047h47m16.854775808s"),
])
def test_duration_string(nanos: int, text: str) -> None:
    assert format_duration(nanos) == text


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "1970-01-01T00:00:00Z"),
    (-1, "1969-12-31T23:59:59Z"),
    (1767323045, "2026-01-02T03:04:05Z"),
    (951782400, "2000-02-29T00:00:00Z"),
    (ZERO_TIME_UNIX, "0001-01-01T00:00:00Z"),
    (253402300799, "9999-12-31T23:59:59Z"),
    (253402300800, "10000-01-01T00:00:00Z"),
    (ZERO_TIME_UNIX - 366 * 86400, "0000-01-01T00:00:00Z"),
    (ZERO_TIME_UNIX - 731 * 86400, "-0001-01-01T00:00:00Z"),
])
def test_rfc3339(seconds: int, text: str) -> None:
    assert format_rfc3339(seconds) == text


def test_rfc3339_matches_datetime_across_the_calendar() -> None:
    rng = random.Random(7)
    for _ in range(2000):
        seconds = rng.randrange(ZERO_TIME_UNIX, 253402300800)
        when = datetime.fromtimestamp(seconds, UTC)
        expected = f"{when.year:04d}-{when:%m-%dT%H:%M:%S}Z"  # %Y does not pad on glibc
        assert format_rfc3339(seconds) == expected


def test_rfc3339_micro_truncates_to_microseconds() -> None:
    assert format_rfc3339(1767323045, 123_456_789, micro=True) == \
        "2026-01-02T03:04:05.123456Z"
    assert format_rfc3339(0, 0, micro=True) == "1970-01-01T00:00:00.000000Z"


@pytest.mark.parametrize(("given", "normalized"), [
    ((5, 0), (5, 0)),
    ((5, 1_500_000_000), (6, 500_000_000)),
    ((5, -1), (4, 999_999_999)),
    ((0, -2_000_000_000), (-2, 0)),
])
def test_normalize_unix_like_time_unix(given: tuple[int, int],
                                       normalized: tuple[int, int]) -> None:
    assert normalize_unix(*given) == normalized
