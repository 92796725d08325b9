"""Per (DaemonSet, node) exponential backoff before deleting another failed pod there, so
a node whose kubelet keeps rejecting the pod is not hot-looped (upstream
``flowcontrol.Backoff``: 1 s doubling to 15 min).

Touched only from the controller's own event loop, so it needs no locking.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

# Quiet backoff entries are dropped when this many accumulated (upstream runs a periodic GC).
_GC_THRESHOLD = 1024


@dataclass(slots=True)
class _Entry:
    delay: float
    updated: float


class FailedPodBackoff:
    """Exponential backoff per key, reset after a quiet period of twice the maximum."""

    def __init__(self, initial: float = 1.0, maximum: float = 900.0) -> None:
        self.initial = initial
        self.maximum = maximum
        self._entries: dict[str, _Entry] = {}

    def in_backoff(self, key: str, now: float | None = None) -> float | None:
        """The remaining delay when ``key`` was bumped less than its delay ago."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        elapsed = (time.monotonic() if now is None else now) - entry.updated
        return entry.delay - elapsed if elapsed < entry.delay else None

    def step(self, key: str, now: float | None = None) -> None:
        """Record an action for ``key``: the next one waits twice as long."""
        stamp = time.monotonic() if now is None else now
        if len(self._entries) >= _GC_THRESHOLD:
            self.gc(stamp)
        entry = self._entries.get(key)
        if entry is None or stamp - entry.updated > 2 * self.maximum:
            self._entries[key] = _Entry(self.initial, stamp)
        else:
            entry.delay = min(entry.delay * 2, self.maximum)
            entry.updated = stamp

    def gc(self, now: float | None = None) -> None:
        """Drop entries quiet for longer than twice the maximum."""
        stamp = time.monotonic() if now is None else now
        for key in [k for k, e in self._entries.items()
                    if stamp - e.updated > 2 * self.maximum]:
            del self._entries[key]
