"""The agent's heap trimming: available on this host's glibc, harmless to call, and the
periodic task stops when cancelled."""

from __future__ import annotations

import asyncio
import contextlib

from kubesmith.agent.memory import heap_trimmer, trim_heap_periodically


def test_trimmer_returns_freed_heap_without_error() -> None:
    trim = heap_trimmer()
    assert trim is not None  # Debian's glibc has malloc_trim
    assert trim() in (0, 1)  # 1: memory was released, 0: nothing to release


async def test_periodic_trim_runs_until_cancelled() -> None:
    task = asyncio.create_task(trim_heap_periodically(period=0.01))
    await asyncio.sleep(0.05)
    assert not task.done()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert task.cancelled()
