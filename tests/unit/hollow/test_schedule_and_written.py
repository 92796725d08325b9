"""The spread schedule (even spacing, bounded concurrency) and the written-objects overlay."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterable
from typing import TypeVar

from kubesmith.hollow.schedule import SpreadSchedule
from kubesmith.hollow.written import WrittenObjects

M = TypeVar("M")


async def run_until(schedule: SpreadSchedule[M], members: Iterable[M],
                    done: asyncio.Event) -> None:
    """Run ``schedule`` over ``members`` until ``done`` is set (at most 5 s), then stop it."""
    for member in members:
        schedule.add(member)
    task = asyncio.create_task(schedule.run())
    try:
        async with asyncio.timeout(5):
            await done.wait()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_members_are_spread_over_the_interval() -> None:
    loop = asyncio.get_running_loop()
    seen: dict[str, list[float]] = {}
    done = asyncio.Event()

    async def action(member: str) -> None:
        seen.setdefault(member, []).append(loop.time())
        if len(seen.get("d", ())) >= 2:
            done.set()

    await run_until(SpreadSchedule(0.4, action), "abcd", done)
    firsts = [seen[m][0] for m in "abcd"]
    gaps = [b - a for a, b in itertools.pairwise(firsts)]
    assert all(0.07 <= gap <= 0.3 for gap in gaps), gaps  # 0.1 s apart, not at once
    period = seen["a"][1] - seen["a"][0]
    assert 0.35 <= period <= 0.8, period


async def test_concurrency_is_bounded_and_failures_do_not_stop_the_schedule() -> None:
    in_flight = 0
    peak = 0
    calls = 0
    done = asyncio.Event()

    async def action(member: int) -> None:
        nonlocal in_flight, peak, calls
        in_flight += 1
        peak = max(peak, in_flight)
        try:
            await asyncio.sleep(0.05)
            calls += 1
            if calls >= 30:
                done.set()
            if member % 2:
                raise RuntimeError("flaky")
        finally:
            in_flight -= 1

    await run_until(SpreadSchedule(0.01, action, concurrency=3), range(10), done)
    assert peak == 3
    assert in_flight == 0  # cancelled with the schedule


def _obj(rv: str, tag: str) -> dict[str, object]:
    return {"metadata": {"resourceVersion": rv}, "tag": tag}


def test_written_objects_win_until_the_cache_catches_up() -> None:
    written = WrittenObjects()
    assert written.newest("k", None) is None
    written.remember("k", _obj("12", "ours"))
    assert written.newest("k", None) == _obj("12", "ours")
    assert written.newest("k", _obj("9", "stale")) == _obj("12", "ours")
    assert written.newest("k", _obj("12", "cache")) == _obj("12", "cache")
    assert len(written) == 0  # dropped once the cache caught up
    written.remember("k", _obj("20", "ours"))
    written.forget("k")
    assert written.newest("k", _obj("3", "cache")) == _obj("3", "cache")


def test_non_numeric_versions_trust_the_cache() -> None:
    written = WrittenObjects()
    written.remember("k", _obj("abc", "ours"))
    assert written.newest("k", _obj("1", "cache")) == _obj("1", "cache")
