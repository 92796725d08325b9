"""Per-key exponential back-off with client-go's ``flowcontrol.Backoff`` semantics, as the
kubelet uses it for crash loops (``CrashLoopBackOff``) and failed image pulls
(``ImagePullBackOff``): 10 s, doubling, at most 300 s.

* :meth:`Backoff.next` is called when a restart (or pull) is attempted: the first time the
  delay is the initial one, then it doubles. ``last_update`` is *now*, the moment the new
  attempt begins.
* A key whose last attempt is more than twice the cap (10 minutes) before the event being
  judged has expired: the container ran cleanly that long, so the delay starts over.
* :meth:`Backoff.is_in_backoff_since` judges a container that finished at ``event_time``:
  it must wait until the current delay has passed since then.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from kubesmith.api.protobuf.gotime import format_duration

INITIAL_SECONDS = 10.0
MAX_SECONDS = 300.0


@dataclass(slots=True)
class _Entry:
    delay: float
    last_update: float


def go_seconds(seconds: float) -> str:
    """A delay as Go prints a ``time.Duration`` (``10s``, ``1m20s``, ``5m0s``, ``1.2s``)."""
    return format_duration(round(seconds * 1e9))


class Backoff:
    """Back-off delays by key (see the module docstring)."""

    def __init__(self, initial: float = INITIAL_SECONDS, cap: float = MAX_SECONDS,
                 clock: Callable[[], float] = time.time) -> None:
        self.initial = initial
        self.cap = cap
        self.clock = clock
        self._entries: dict[str, _Entry] = {}

    def _expired(self, event_time: float, entry: _Entry) -> bool:
        return event_time - entry.last_update > 2 * self.cap

    def get(self, key: str) -> float:
        """The current delay of ``key`` (0 when it has none)."""
        entry = self._entries.get(key)
        return entry.delay if entry is not None else 0.0

    def next(self, key: str, event_time: float) -> None:
        """Count an attempt for ``key`` now: start at the initial delay, or double it."""
        entry = self._entries.get(key)
        if entry is None or self._expired(event_time, entry):
            entry = self._entries[key] = _Entry(self.initial, 0.0)
        else:
            entry.delay = min(entry.delay * 2, self.cap)
        entry.last_update = self.clock()

    def is_in_backoff_since(self, key: str, event_time: float) -> bool:
        """Whether less than the current delay has passed since ``event_time``."""
        entry = self._entries.get(key)
        if entry is None or self._expired(event_time, entry):
            return False
        return self.clock() - event_time < entry.delay

    def is_in_backoff_since_update(self, key: str, event_time: float) -> bool:
        """Whether less than the current delay separates ``event_time`` from the last
        attempt (image pulls judge the time of the request against the last pull)."""
        entry = self._entries.get(key)
        if entry is None or self._expired(event_time, entry):
            return False
        return event_time - entry.last_update < entry.delay

    def remaining_since(self, key: str, event_time: float) -> float:
        """Seconds until ``key`` is out of back-off for an event at ``event_time``."""
        entry = self._entries.get(key)
        if entry is None:
            return 0.0
        return max(0.0, entry.delay - (self.clock() - event_time))

    def remaining_since_update(self, key: str) -> float:
        """Seconds until ``key`` is out of back-off counted from its last attempt."""
        entry = self._entries.get(key)
        if entry is None:
            return 0.0
        return max(0.0, entry.delay - (self.clock() - entry.last_update))

    def forget(self, prefix: str) -> None:
        """Drop every key starting with ``prefix`` (a deleted pod's entries)."""
        for key in [k for k in self._entries if k.startswith(prefix)]:
            del self._entries[key]

    def gc(self) -> None:
        """Drop entries that expired (their last attempt is over twice the cap old)."""
        now = self.clock()
        for key in [k for k, e in self._entries.items() if self._expired(now, e)]:
            del self._entries[key]
