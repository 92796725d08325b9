"""Bookkeeping the DaemonSet controller keeps between syncs.

* :class:`Expectations` — how many pod creations and deletions a DaemonSet still waits to
  see in the informer cache. Until they are seen (or time out) the controller does not
  manage that DaemonSet's pods again, so a cache lagging behind its own writes never makes
  it create a second pod for a node (upstream ``ControllerExpectations``).
* :class:`FailedPodBackoff` — per (DaemonSet, node) exponential backoff before deleting
  another failed pod there, so a node whose kubelet keeps rejecting the pod is not hot-looped
  (upstream ``flowcontrol.Backoff``: 1 s doubling to 15 min).

Both are touched only from the controller's own event loop, so they need no locking.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

#: Expectations older than this are considered fulfilled (a lost watch event must not stall
#: the DaemonSet forever).
EXPECTATIONS_TIMEOUT = 300.0
# Quiet backoff entries are dropped when this many accumulated (upstream runs a periodic GC).
_GC_THRESHOLD = 1024


@dataclass(slots=True)
class _Pending:
    adds: int
    deletes: int
    since: float


class Expectations:
    """Pending creations/deletions per controller key."""

    def __init__(self, timeout: float = EXPECTATIONS_TIMEOUT) -> None:
        self.timeout = timeout
        self._pending: dict[str, _Pending] = {}

    def expect(self, key: str, adds: int, deletes: int) -> None:
        """Record that ``adds`` creations and ``deletes`` deletions are under way."""
        self._pending[key] = _Pending(adds, deletes, time.monotonic())

    def creation_observed(self, key: str) -> None:
        """One creation showed up (or failed and will not)."""
        found = self._pending.get(key)
        if found is not None:
            found.adds -= 1

    def deletion_observed(self, key: str) -> None:
        """One deletion showed up (or failed and will not)."""
        found = self._pending.get(key)
        if found is not None:
            found.deletes -= 1

    def lower(self, key: str, adds: int, deletes: int) -> None:
        """Stop waiting for creations/deletions that were never attempted."""
        found = self._pending.get(key)
        if found is not None:
            found.adds -= adds
            found.deletes -= deletes

    def satisfied(self, key: str) -> bool:
        """Whether the controller may manage ``key``'s pods again."""
        found = self._pending.get(key)
        if found is None:
            return True
        if found.adds <= 0 and found.deletes <= 0:
            return True
        return time.monotonic() - found.since > self.timeout

    def forget(self, key: str) -> None:
        """Drop ``key`` (its controller was deleted)."""
        self._pending.pop(key, None)


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
