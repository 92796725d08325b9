"""Expectations: what a controller is waiting to see in its informer cache after its own
writes, so a sync working from a stale cache neither double-creates pods nor counts a
finished pod twice (client-go's ``ControllerExpectations`` and
``UIDTrackingControllerExpectations``, and the Job controller's finalizer-removal
expectations).

The workload controllers (ReplicaSet, DaemonSet, Job) record "expect N creations / M
deletions" before writing; their informer handlers lower the counts as the pods appear or
go. A key whose expectations are unmet is not scaled again until they are met or expire.

All state is touched from one event loop: informer handlers record observations, workers
record expectations; no locking is needed.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

#: An expectation older than this is considered stale and satisfied (upstream: 5 minutes),
#: so a lost watch event cannot wedge a controller forever.
EXPECTATIONS_TIMEOUT = 300.0


@dataclass(slots=True)
class _Pending:
    adds: int
    deletes: int
    since: float


class ControllerExpectations:
    """Pending creations and deletions per controller key, by count."""

    def __init__(self, timeout: float = EXPECTATIONS_TIMEOUT) -> None:
        self.timeout = timeout
        self._pending: dict[str, _Pending] = {}

    def satisfied(self, key: str) -> bool:
        """Whether every expected create/delete was observed (or the record expired)."""
        found = self._pending.get(key)
        if found is None:
            return True
        if found.adds <= 0 and found.deletes <= 0:
            return True
        return time.monotonic() - found.since > self.timeout

    def expect(self, key: str, adds: int, deletes: int) -> None:
        """Expect ``adds`` creations and ``deletes`` deletions (replacing any previous
        expectation)."""
        self._pending[key] = _Pending(adds, deletes, time.monotonic())

    def expect_creations(self, key: str, count: int) -> None:
        """Expect ``count`` creations (replacing any previous expectation)."""
        self.expect(key, count, 0)

    def expect_deletions(self, key: str, count: int) -> None:
        """Expect ``count`` deletions (replacing any previous expectation)."""
        self.expect(key, 0, count)

    def creation_observed(self, key: str) -> None:
        """One expected creation happened (or will never happen)."""
        found = self._pending.get(key)
        if found is not None:
            found.adds -= 1

    def deletion_observed(self, key: str) -> None:
        """One expected deletion happened (or will never happen)."""
        found = self._pending.get(key)
        if found is not None:
            found.deletes -= 1

    def lower(self, key: str, adds: int, deletes: int) -> None:
        """Stop waiting for creations/deletions that failed or were never attempted."""
        found = self._pending.get(key)
        if found is not None:
            found.adds -= adds
            found.deletes -= deletes

    def delete(self, key: str) -> None:
        """Forget ``key`` (its controller object is gone)."""
        self._pending.pop(key, None)


class UIDTrackingExpectations:
    """Creations by count, deletions by pod key (upstream
    ``UIDTrackingControllerExpectations``): a pod seen first terminating and later gone
    lowers the deletions once, not twice."""

    def __init__(self, timeout: float = EXPECTATIONS_TIMEOUT) -> None:
        self.counts = ControllerExpectations(timeout)
        self._deleting: dict[str, set[str]] = {}

    def satisfied(self, key: str) -> bool:
        """Whether ``key`` may be scaled again."""
        return self.counts.satisfied(key)

    def expect_creations(self, key: str, count: int) -> None:
        """Expect ``count`` new pods for ``key``."""
        self._deleting.pop(key, None)
        self.counts.expect_creations(key, count)

    def expect_deletions(self, key: str, pod_keys: Iterable[str]) -> None:
        """Expect the pods ``pod_keys`` of ``key`` to go."""
        keys = set(pod_keys)
        self._deleting[key] = keys
        self.counts.expect_deletions(key, len(keys))

    def creation_observed(self, key: str) -> None:
        """One pod of ``key`` appeared (or its creation was given up)."""
        self.counts.creation_observed(key)

    def deletion_observed(self, key: str, pod_key: str) -> None:
        """The pod ``pod_key`` of ``key`` is going (counted once per pod)."""
        pending = self._deleting.get(key)
        if pending is not None and pod_key in pending:
            pending.discard(pod_key)
            self.counts.deletion_observed(key)

    def delete(self, key: str) -> None:
        """Forget ``key`` (its owner is gone)."""
        self._deleting.pop(key, None)
        self.counts.delete(key)


class FinalizerRemovalExpectations:
    """Pod UIDs whose tracking-finalizer removal a Job is waiting to observe (upstream's
    ``uidTrackingExpectations`` of the Job controller)."""

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
