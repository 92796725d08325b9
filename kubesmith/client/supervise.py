"""Keeping a long-running part alive: run it again, with exponential backoff, whenever it
fails. Used for each controller in the controller manager and for the components
``kubesmith server`` runs in its process — a failure in one must neither take the others
down nor leave it dead."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


async def run_restarting(name: str, start: Callable[[], Awaitable[None]], *,
                         before_restart: Callable[[], None] | None = None,
                         expected: tuple[type[Exception], ...] = (),
                         first_delay: float = 1.0, max_delay: float = 60.0) -> None:
    """Await ``start()`` until it returns; after an exception log it (with its traceback:
    a crash is a bug — in one line for the ``expected`` kinds, such as a lost leader
    lease) and start again after a doubling delay. ``before_restart`` resets state the
    failed run left behind."""
    delay = first_delay
    while True:
        try:
            await start()
            return
        except asyncio.CancelledError:
            raise
        except expected as exc:
            log.warning("%s stopped (%s); restarting in %.0fs", name, exc, delay)
        except Exception:
            log.exception("%s stopped; restarting in %.0fs", name, delay)
        await asyncio.sleep(delay)
        delay = min(delay * 2, max_delay)
        if before_restart is not None:
            before_restart()
