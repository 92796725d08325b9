"""WorkQueue semantics: dedupe, one worker per key, re-add during processing, delays,
per-key exponential backoff, shutdown and the run_workers helper."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from kubesmith.client.workqueue import ExponentialBackoff, QueueShutDown, WorkQueue, run_workers


async def test_add_dedupes_while_queued() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add("a")
    q.add("b")
    q.add("a")
    assert len(q) == 2
    assert await q.get() == "a"
    assert await q.get() == "b"
    assert len(q) == 0


async def test_key_in_processing_is_not_handed_out_again() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add("a")
    key = await q.get()
    q.add("a")
    q.add("a")
    assert len(q) == 0  # held back while processing
    second = asyncio.create_task(q.get())
    await asyncio.sleep(0.01)
    assert not second.done()
    q.done(key)
    assert await asyncio.wait_for(second, 1) == "a"
    q.done("a")
    assert len(q) == 0  # the two re-adds were queued once


async def test_done_without_readd_does_not_requeue() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add("a")
    q.done(await q.get())
    assert len(q) == 0


async def test_fifo_across_keys_and_waiting_worker_is_woken() -> None:
    q: WorkQueue[int] = WorkQueue()
    waiter = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    q.add(1)
    q.add(2)
    assert await asyncio.wait_for(waiter, 1) == 1
    assert await q.get() == 2


async def test_add_after_delays_the_key() -> None:
    q: WorkQueue[str] = WorkQueue()
    loop = asyncio.get_running_loop()
    start = loop.time()
    q.add_after("a", 0.05)
    assert len(q) == 0
    assert await asyncio.wait_for(q.get(), 1) == "a"
    assert loop.time() - start >= 0.045


async def test_add_after_keeps_the_soonest_timer() -> None:
    q: WorkQueue[str] = WorkQueue()
    loop = asyncio.get_running_loop()
    start = loop.time()
    q.add_after("a", 5)
    q.add_after("a", 0.02)
    q.add_after("a", 3)
    assert await asyncio.wait_for(q.get(), 1) == "a"
    assert loop.time() - start < 1
    q.done("a")
    await asyncio.sleep(0.05)
    assert len(q) == 0


def test_backoff_doubles_from_5ms_to_1000s_and_forget_resets() -> None:
    b: ExponentialBackoff[str] = ExponentialBackoff()
    delays = [b.when("a") for _ in range(20)]
    assert delays[:4] == pytest.approx([0.005, 0.01, 0.02, 0.04])
    assert all(later == pytest.approx(2 * earlier) or later == 1000.0
               for earlier, later in itertools.pairwise(delays))
    assert max(b.when("a") for _ in range(100)) == 1000.0
    assert b.when("other") == pytest.approx(0.005)  # per key
    b.forget("a")
    assert b.when("a") == pytest.approx(0.005)


async def test_add_rate_limited_grows_and_forget_resets() -> None:
    q: WorkQueue[str] = WorkQueue(ExponentialBackoff(base=0.01, cap=1))
    for expected in (1, 2, 3):
        q.add_rate_limited("a")
        assert q.num_requeues("a") == expected
        q.done(await asyncio.wait_for(q.get(), 1))
    q.forget("a")
    assert q.num_requeues("a") == 0


async def test_shutdown_wakes_waiters_and_refuses_keys() -> None:
    q: WorkQueue[str] = WorkQueue()
    waiters = [asyncio.create_task(q.get()) for _ in range(3)]
    q.add_after("later", 0.01)
    await asyncio.sleep(0)
    q.shutdown()
    for w in waiters:
        with pytest.raises(QueueShutDown):
            await asyncio.wait_for(w, 1)
    q.add("x")
    await asyncio.sleep(0.03)
    assert len(q) == 0
    assert q.shutting_down


async def test_shutdown_drains_queued_keys_first() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add("a")
    q.shutdown()
    assert await q.get() == "a"
    with pytest.raises(QueueShutDown):
        await q.get()


async def test_run_workers_reconciles_one_key_at_a_time_and_retries() -> None:
    q: WorkQueue[str] = WorkQueue(ExponentialBackoff(base=0.001, cap=0.01))
    active: set[str] = set()
    overlaps: list[str] = []
    calls: dict[str, int] = {}
    all_done = asyncio.Event()

    async def reconcile(key: str) -> None:
        if key in active:
            overlaps.append(key)
        active.add(key)
        calls[key] = calls.get(key, 0) + 1
        try:
            await asyncio.sleep(0.005)
            if calls[key] == 1:
                q.add(key)  # a re-add while processing
            if key == "flaky" and calls[key] < 3:
                raise RuntimeError("transient")
        finally:
            active.discard(key)
        if calls.get("flaky", 0) >= 3 and calls.get("steady", 0) >= 2:
            all_done.set()

    q.add("flaky")
    q.add("steady")
    runner = asyncio.create_task(run_workers(q, 4, reconcile))
    await asyncio.wait_for(all_done.wait(), 5)
    q.shutdown()
    await asyncio.wait_for(runner, 5)
    assert overlaps == []
    assert calls["flaky"] >= 3
    assert q.num_requeues("flaky") == 0  # forgotten after the success


async def test_run_workers_accepts_sync_reconcile() -> None:
    q: WorkQueue[str] = WorkQueue()
    seen: list[str] = []
    q.add("a")
    q.add("b")

    def reconcile(key: str) -> None:
        seen.append(key)
        if len(seen) == 2:
            q.shutdown()

    await asyncio.wait_for(run_workers(q, 2, reconcile), 5)
    assert sorted(seen) == ["a", "b"]
