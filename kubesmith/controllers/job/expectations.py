"""Expectations: what a controller is waiting to see in its informer cache after its own
writes, so a sync working from a stale cache neither double-creates pods nor counts a
finished pod twice (client-go's ``ControllerExpectations`` and the Job controller's
``uidTrackingExpectations``).

All state is touched from one event loop: informer handlers record observations, workers
record expectations; no locking is needed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

#: An expectation older than this is considered stale and satisfied (upstream: 5 minutes),
#: so a lost watch event cannot wedge a controller forever.
EXPECTATIONS_TIMEOUT = 300.0


@dataclass(slots=True)
class _Counts:
    adds: int
    dels: int
    since: float


class ControllerExpectations:
    """Pending creations and deletions per controller key."""

    def __init__(self, timeout: float = EXPECTATIONS_TIMEOUT) -> None:
        self.timeout = timeout
        self._counts: dict[str, _Counts] = {}

    def satisfied(self, key: str) -> bool:
        """Whether every expected create/delete was observed (or the record expired)."""
        counts = self._counts.get(key)
        if counts is None:
            return True
        if counts.adds <= 0 and counts.dels <= 0:
            return True
        return time.monotonic() - counts.since > self.timeout

    def expect_creations(self, key: str, count: int) -> None:
        """Expect ``count`` creations (replacing any previous expectation)."""
        self._counts[key] = _Counts(count, 0, time.monotonic())

    def expect_deletions(self, key: str, count: int) -> None:
        """Expect ``count`` deletions (replacing any previous expectation)."""
        self._counts[key] = _Counts(0, count, time.monotonic())

    def creation_observed(self, key: str) -> None:
        """One expected creation happened (or will never happen)."""
        counts = self._counts.get(key)
        if counts is not None:
            counts.adds -= 1

    def deletion_observed(self, key: str) -> None:
        """One expected deletion happened (or will never happen)."""
        counts = self._counts.get(key)
        if counts is not None:
            counts.dels -= 1

    def delete(self, key: str) -> None:
        """Forget ``key`` (its controller object is gone)."""
        self._counts.pop(key, None)


class UIDExpectations:
    """Pod UIDs whose tracking-finalizer removal a Job is waiting to observe."""

    def __init__(self) -> None:
        self._uids: dict[str, set[str]] = {}

    def expected(self, key: str) -> set[str]:
        """A copy of the UIDs still expected for ``key``."""
        return set(self._uids.get(key, ()))

    def expect_removed(self, key: str, uids: list[str]) -> None:
        """Expect the finalizer of ``uids`` to disappear."""
        self._uids.setdefault(key, set()).update(uids)

    def removal_observed(self, key: str, uid: str) -> None:
        """The finalizer of ``uid`` is gone (or its removal failed)."""
        found = self._uids.get(key)
        if found is not None:
            found.discard(uid)
            if not found:
                del self._uids[key]

    def delete(self, key: str) -> None:
        """Forget ``key``."""
        self._uids.pop(key, None)
