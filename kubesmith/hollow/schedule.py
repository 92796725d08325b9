"""Periodic work for many members, spread evenly over the period.

Concurrency design: one task drives every member (no task per node). Each cycle takes a
snapshot of the members and starts member ``k`` of ``n`` at ``cycle start + k/n of the
interval``, so 5,000 node leases renewed every 10 s become a steady 500 renewals a second
instead of 5,000 at once. At most ``concurrency`` actions run at a time; when the API server
is slower than the schedule, starting the next action waits for a free slot, so the schedule
slips instead of piling up requests. A failing action is logged and retried next cycle.
Members added mid-cycle join the next cycle.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

M = TypeVar("M")


class SpreadSchedule(Generic[M]):
    """Call ``action(member)`` for every member once per ``interval`` seconds."""

    def __init__(self, interval: float, action: Callable[[M], Awaitable[object]], *,
                 concurrency: int = 50, name: str = "schedule") -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        self.interval = interval
        self.action = action
        self.name = name
        self._members: dict[M, None] = {}  # insertion-ordered set
        self._slots = asyncio.Semaphore(concurrency)
        self._running: set[asyncio.Task[None]] = set()

    def add(self, member: M) -> None:
        """Include ``member`` from the next cycle on."""
        self._members[member] = None

    def discard(self, member: M) -> None:
        """Leave ``member`` out from the next cycle on."""
        self._members.pop(member, None)

    def __len__(self) -> int:
        return len(self._members)

    async def run(self) -> None:
        """Run cycles until cancelled; cancelling also cancels actions in flight."""
        loop = asyncio.get_running_loop()
        try:
            while True:
                start = loop.time()
                members = [*self._members]
                for k, member in enumerate(members):
                    due = start + self.interval * k / len(members)
                    delay = due - loop.time()
                    if delay > 0.001:
                        await asyncio.sleep(delay)
                    await self._slots.acquire()
                    task = loop.create_task(self._one(member))
                    self._running.add(task)
                    task.add_done_callback(self._running.discard)
                await asyncio.sleep(max(0.0, start + self.interval - loop.time()))
        finally:
            for task in [*self._running]:
                task.cancel()
            if self._running:
                await asyncio.gather(*self._running, return_exceptions=True)

    async def _one(self, member: M) -> None:
        try:
            await self.action(member)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("%s: action for %r failed", self.name, member, exc_info=True)
        finally:
            self._slots.release()
