"""CRI log files: parsing records, tail, since, timestamps, limits, partial lines and
following across rotation."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from kubesmith.agent.server import crilog
from kubesmith.agent.server.crilog import LogOptions


def record(second: int, stream: str, text: str, tag: str = "F") -> str:
    return f"2026-11-27T02:09:{second:02d}.172472279+00:00 {stream} {tag} {text}\n"


LOG = "".join([
    record(1, "stdout", "one"),
    record(2, "stderr", "two"),
    record(3, "stdout", "thr", "P"),
    record(4, "stdout", "ee"),
    record(5, "stdout", "four"),
])


@pytest.mark.parametrize(("line", "expected"), [
    (b"2026-11-27T02:09:05.172472279+00:00 stdout F hello",
     crilog.LogRecord(1795745345172472279, "stdout", False, b"hello")),
    (b"2026-11-27T02:09:05Z stderr P part ", crilog.LogRecord(
        1795745345000000000, "stderr", True, b"part ")),
    (b"2026-11-27T04:09:05.5+02:00 stdout F", crilog.LogRecord(
        1795745345500000000, "stdout", False, b"")),
    (b"2026-11-27T02:09:05Z stdout F:x with spaces  ", crilog.LogRecord(
        1795745345000000000, "stdout", False, b"with spaces  ")),
], ids=["nanos", "partial", "offset-and-empty", "tag-with-parts"])
def test_parse_line(line: bytes, expected: crilog.LogRecord) -> None:
    assert crilog.parse_line(line) == expected


@pytest.mark.parametrize("line", [b"", b"garbage", b"2026-11-27T02:09:05Z stdin F x",
                                  b"yesterday stdout F x", b"2026-11-27T02:09:05Z stdout X x"])
def test_malformed_lines_are_skipped(line: bytes) -> None:
    assert crilog.parse_line(line) is None


def test_timestamp_format_is_fixed_nanoseconds_in_utc() -> None:
    ns = crilog.parse_timestamp("2026-11-27T04:09:05.1+02:00")
    assert crilog.format_timestamp(ns) == "2026-11-27T02:09:05.100000000Z"


def render(text: str, options: LogOptions) -> bytes:
    formatter = crilog.LogFormatter(options)
    records = [crilog.parse_line(line.encode()) for line in text.splitlines()]
    return b"".join(formatter.render(r) for r in records if r is not None)


def test_partial_lines_join_and_are_stamped_once() -> None:
    assert render(LOG, LogOptions()) == b"one\ntwo\nthree\nfour\n"
    stamped = render(LOG, LogOptions(timestamps=True)).decode().splitlines()
    assert stamped[2] == "2026-11-27T02:09:03.172472279Z three"


def test_stream_since_and_limit() -> None:
    assert render(LOG, LogOptions(stream="Stderr")) == b"two\n"
    since = crilog.parse_timestamp("2026-11-27T02:09:04Z")
    assert render(LOG, LogOptions(since_ns=since)) == b"ee\nfour\n"
    assert render(LOG, LogOptions(limit_bytes=6)) == b"one\ntw"


@pytest.mark.parametrize(("lines", "expected"), [
    (0, b""), (1, b"four\n"), (2, b"three\nfour\n"), (4, b"one\ntwo\nthree\nfour\n"),
    (10, b"one\ntwo\nthree\nfour\n")])
def test_tail_counts_logical_lines(tmp_path: Path, lines: int, expected: bytes) -> None:
    path = tmp_path / "0.log"
    path.write_text(LOG)
    offset = crilog.tail_offset(path, lines, LogOptions().wants)
    assert render(path.read_bytes()[offset:].decode(), LogOptions()) == expected


def test_tail_scans_backwards_across_blocks(tmp_path: Path) -> None:
    path = tmp_path / "0.log"
    path.write_text("".join(record(i % 60, "stdout", f"line {i} " + "x" * 100)
                            for i in range(3000))
                    + "2026-11-27T02:09:05Z stdout F still being writ")
    offset = crilog.tail_offset(path, 3, LogOptions().wants)
    tail = render(path.read_bytes()[offset:].decode(), LogOptions())
    assert [line.split(b" ")[1] for line in tail.splitlines()[:3]] == [b"2997", b"2998",
                                                                        b"2999"]


async def collect(path: Path, options: LogOptions, running: list[bool]) -> bytes:
    async def still_running() -> bool:
        return running[0]

    return b"".join([chunk async for chunk in crilog.stream_log(path, options,
                                                                 still_running)])


async def test_stream_log_without_follow(tmp_path: Path) -> None:
    path = tmp_path / "0.log"
    path.write_text(LOG)
    out = await collect(path, LogOptions(tail_lines=1), [True])
    assert out == b"four\n"


async def test_follow_across_rotation_until_the_container_stops(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(crilog, "POLL_INTERVAL", 0.01)
    monkeypatch.setattr(crilog, "RUNNING_CHECK_INTERVAL", 0.05)
    path = tmp_path / "0.log"
    path.write_text(record(1, "stdout", "before"))
    running = [True]
    task = asyncio.ensure_future(collect(path, LogOptions(follow=True), running))
    await asyncio.sleep(0.1)
    with path.open("a") as f:
        f.write(record(2, "stdout", "appended"))
    await asyncio.sleep(0.1)
    # Rotation: renamed away (with a last line written to the old file), then recreated.
    os.rename(path, tmp_path / "0.log.20261127")
    with (tmp_path / "0.log.20261127").open("a") as f:
        f.write(record(3, "stdout", "late in the old file"))
    await asyncio.sleep(0.1)
    path.write_text(record(4, "stdout", "new file"))
    await asyncio.sleep(0.1)
    running[0] = False
    out = await asyncio.wait_for(task, 5)
    assert out == b"before\nappended\nlate in the old file\nnew file\n"


async def test_follow_after_truncation(tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(crilog, "POLL_INTERVAL", 0.01)
    monkeypatch.setattr(crilog, "RUNNING_CHECK_INTERVAL", 0.05)
    path = tmp_path / "0.log"
    path.write_text(record(1, "stdout", "a long first line"))
    running = [True]
    task = asyncio.ensure_future(collect(path, LogOptions(follow=True, limit_bytes=40),
                                         running))
    await asyncio.sleep(0.1)
    path.write_text(record(2, "stdout", "short"))  # truncated in place, then written
    await asyncio.sleep(0.1)
    running[0] = False
    assert await asyncio.wait_for(task, 5) == b"a long first line\nshort\n"
