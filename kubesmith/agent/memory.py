"""Giving the agent's freed heap memory back to the system.

CPython keeps small objects in its own arenas and unmaps an arena once it is empty; larger
blocks — subprocess output, API response bodies, TLS buffers, big dicts and lists — come
from glibc's ``malloc``, whose main heap only shrinks from its top. A burst of pod work
(a hundred pods started or removed at once: runc/CNI subprocesses, status writes, one TLS
connection per concurrent request) leaves that heap full of free holes pinned by a few
live blocks, so without help the agent's resident size stays at the burst's peak and
ratchets up with every burst. ``bench/agent_bench.py`` saw 84 MB with 100 pods running
become 99 MB after they were deleted; with ``malloc_trim(0)`` every few seconds it was
82 MB after the deletion.

``malloc_trim(0)`` releases the free pages of every arena (not only the heap's top), and
costs a few milliseconds for a heap of the agent's size, so :func:`trim_heap_periodically`
calls it on the event loop every :data:`TRIM_PERIOD` seconds. On a C library without
``malloc_trim`` (musl) it does nothing.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)

#: Seconds between trims: short enough that a burst's peak does not linger, long enough
#: that the cost (milliseconds) is noise.
TRIM_PERIOD = 30.0


def heap_trimmer() -> Callable[[], object] | None:
    """glibc's ``malloc_trim(0)`` as a callable, or None when the C library lacks it."""
    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return None
    trim = getattr(libc, "malloc_trim", None)
    if trim is None:
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return lambda: trim(0)


async def trim_heap_periodically(period: float = TRIM_PERIOD) -> None:
    """Return freed heap pages to the system every ``period`` seconds, until cancelled."""
    trim = heap_trimmer()
    if trim is None:
        log.debug("malloc_trim is not available: freed heap memory stays mapped")
        return
    while True:
        await asyncio.sleep(period)
        trim()
