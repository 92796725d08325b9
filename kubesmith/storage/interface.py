"""The storage contract every datastore backend implements.

It is etcd's contract, because the API server's semantics are built on it:

* one global, monotonically increasing revision; every successful write (create, update,
  delete) advances it by exactly one and stamps the written key with it (``mod_revision``);
* per-key ``create_revision`` (the revision that created the current incarnation of a key);
* compare-and-swap: updates and deletes may name the ``mod_revision`` they expect, and fail
  with :class:`RevisionMismatchError` (carrying the current value) otherwise;
* reads at a past revision, and paginated range reads by key prefix (``limit`` plus a
  ``start_key`` to continue from), all at one consistent revision;
* watch from a revision (inclusive, like etcd): every event with ``mod_revision >= start``
  in revision order, then live events; a watch that cannot be served because history
  before ``start`` was compacted fails with :class:`CompactedError`;
* compaction: history older than a revision may be dropped; reads at such a revision fail
  with :class:`CompactedError`.

Keys are ``str`` (the API layer uses ``/registry/<group>/<resource>/<namespace>/<name>``)
and values are opaque ``bytes``.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class KeyValue:
    """One key at one revision."""

    key: str
    value: bytes
    create_revision: int
    mod_revision: int


class EventType(enum.Enum):
    PUT = "PUT"
    DELETE = "DELETE"


@dataclass(frozen=True, slots=True)
class WatchEvent:
    """A change to one key.

    For PUT, ``kv`` is the new value and ``prev_kv`` the value it replaced (None on create).
    For DELETE, ``kv.mod_revision`` is the revision of the deletion, ``kv.value`` is the
    value the key held just before it was deleted, and ``prev_kv`` is that same prior
    key-value with its own revisions.
    """

    type: EventType
    kv: KeyValue
    prev_kv: KeyValue | None

    @property
    def revision(self) -> int:
        return self.kv.mod_revision


@dataclass(frozen=True, slots=True)
class ListResult:
    """A page of a range read, all at ``revision``.

    ``more`` says whether keys after the last returned one match the prefix; ``count`` is the
    number of matching keys from ``start_key`` on (including those returned), so callers can
    report ``remainingItemCount``.
    """

    kvs: list[KeyValue]
    revision: int
    more: bool
    count: int


class StoreError(Exception):
    """Base class of all storage errors."""


class KeyExistsError(StoreError):
    def __init__(self, key: str) -> None:
        super().__init__(f"key {key!r} already exists")
        self.key = key


class KeyNotFoundError(StoreError):
    def __init__(self, key: str) -> None:
        super().__init__(f"key {key!r} not found")
        self.key = key


class RevisionMismatchError(StoreError):
    """A compare-and-swap failed; ``current`` is what the key holds now (None if deleted)."""

    def __init__(self, key: str, expected: int, current: KeyValue | None) -> None:
        got = current.mod_revision if current else "deleted"
        super().__init__(f"key {key!r}: expected mod_revision {expected}, found {got}")
        self.key = key
        self.expected = expected
        self.current = current


class CompactedError(StoreError):
    """The requested revision is older than the compaction point."""

    def __init__(self, requested: int, compact_revision: int) -> None:
        super().__init__(
            f"required revision {requested} has been compacted (compacted up to "
            f"{compact_revision})"
        )
        self.requested = requested
        self.compact_revision = compact_revision


class FutureRevisionError(StoreError):
    """The requested revision is newer than the store's current revision."""

    def __init__(self, requested: int, current: int) -> None:
        super().__init__(f"required revision {requested} is a future revision (now {current})")
        self.requested = requested
        self.current = current


class StoreUnavailableError(StoreError):
    """The backend cannot be reached (etcd down, database closed)."""


class Store(Protocol):
    """A key-value store with etcd semantics. All methods are safe to call concurrently."""

    async def create(self, key: str, value: bytes) -> KeyValue:
        """Create ``key``; raise :class:`KeyExistsError` if it exists. Returns the new kv."""
        ...

    async def get(self, key: str, *, revision: int = 0) -> KeyValue | None:
        """The key's value at ``revision`` (0 = latest), or None if absent then."""
        ...

    async def update(self, key: str, value: bytes, *, expected_mod_revision: int) -> KeyValue:
        """Replace the key's value if its mod_revision is ``expected_mod_revision``.

        Raises :class:`KeyNotFoundError` if the key is absent and
        :class:`RevisionMismatchError` if it changed since.
        """
        ...

    async def delete(self, key: str, *, expected_mod_revision: int = 0) -> KeyValue:
        """Delete the key (only if at ``expected_mod_revision`` when non-zero).

        Returns the deleted value with ``mod_revision`` set to the deletion's revision.
        Raises :class:`KeyNotFoundError` or :class:`RevisionMismatchError`.
        """
        ...

    async def list(
        self, prefix: str, *, revision: int = 0, limit: int = 0, start_key: str = ""
    ) -> ListResult:
        """Keys starting with ``prefix`` (and >= ``start_key`` if given), in key order."""
        ...

    async def current_revision(self) -> int:
        """The latest revision (a consistent read: includes every acknowledged write)."""
        ...

    def watch(self, prefix: str, *, start_revision: int) -> AsyncIterator[WatchEvent]:
        """Events for keys under ``prefix`` with revision >= ``start_revision``, forever.

        Raises :class:`CompactedError` (on first iteration) if ``start_revision`` is older
        than the compaction point. Closing the iterator (``aclose``) ends the watch.
        """
        ...

    async def compact(self, revision: int) -> None:
        """Drop history older than ``revision``."""
        ...

    async def close(self) -> None:
        """Release connections and background tasks."""
        ...
