"""run_restarting: restarts after failures with backoff, resets state, stops on return or
cancellation, logs expected failures without a traceback."""

from __future__ import annotations

import asyncio
import logging

import pytest

from kubesmith.client.supervise import run_restarting


class Expected(Exception):
    pass


async def test_restarts_until_success(caplog: pytest.LogCaptureFixture) -> None:
    runs: list[int] = []
    resets: list[int] = []

    async def start() -> None:
        runs.append(len(runs))
        if len(runs) == 1:
            raise RuntimeError("bug")
        if len(runs) == 2:
            raise Expected("lease lost")

    with caplog.at_level(logging.WARNING):
        await asyncio.wait_for(run_restarting("part", start, first_delay=0.01,
                                              expected=(Expected,),
                                              before_restart=lambda: resets.append(1)), 5)
    assert len(runs) == 3 and len(resets) == 2
    bug, lost = (r for r in caplog.records if r.name == "kubesmith.client.supervise")
    assert bug.exc_info is not None and "part stopped" in bug.getMessage()
    assert lost.exc_info is None and "lease lost" in lost.getMessage()


async def test_cancellation_stops_it() -> None:
    started = asyncio.Event()

    async def start() -> None:
        started.set()
        await asyncio.Event().wait()

    task = asyncio.create_task(run_restarting("part", start))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
