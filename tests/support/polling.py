"""Waiting for a condition in tests: poll with a deadline, never sleep blindly."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(probe: Callable[[], Awaitable[T | None]], what: str,
                     within: float = 20.0, interval: float = 0.05) -> T:
    """Poll ``probe`` until it returns something truthy (for at most ``within`` s); the
    failure names what was awaited and the last value seen."""
    deadline = time.monotonic() + within
    last: T | None = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")
