"""The SQLite store's single writer thread and its group commit.

Concurrency design: exactly one thread owns the write connection, so revisions are assigned
without locks and every compare-and-swap check reads the state the write will apply to.
Async callers build an operation, attach a loop future and put it on a thread-safe queue
(:meth:`SqliteWriter.submit`). The writer blocks on the queue, then drains everything that
arrived meanwhile (up to ``max_batch``) and applies the whole batch in ONE transaction: each
operation gets its own revision and its existence/CAS check runs inside the transaction against
the latest state, including writes earlier in the same batch. One COMMIT (one WAL append, and
with ``synchronous=FULL`` one fsync) covers the batch; this is the group commit that lets the
store absorb many concurrent writers. A failed check only fails that operation; an SQLite error
(or any unexpected exception) rolls the whole batch back and fails all of it, and the
revision counter rewinds; the thread itself keeps running.

After the commit the writer publishes the new revision (:attr:`committed_revision`) and makes
ONE ``call_soon_threadsafe`` into the loop per batch, which first hands the batch's events to
the watch hub and then resolves the callers' futures. Publishing before resolving means a
caller that saw its write acknowledged and then starts a watch can never miss that event.

Log table (kine's layout): one row per revision. ``create_revision`` is the revision that
created the key's current incarnation, ``prev_revision`` the key's previous row (0 for the
first), ``deleted`` marks tombstones (their value is empty; the deleted value lives in the
previous row). Reads at a revision and watch replay are then range queries; the
``(key, revision, deleted)`` index answers "which row is current" without touching the table.

Compaction is split so it never stalls writers for long: one operation records the new
compact revision (reads below it fail from then on), then chunks of at most
``COMPACT_CHUNK`` revisions each delete, in their own short transaction, the rows that a newer
row below the compact revision supersedes, and tombstones below it. The latest row below the
compact revision of every live key survives: reads at or after the compact revision need it,
and so does the ``prev_kv`` of events at or after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import queue
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from kubesmith.storage.interface import (
    EventType,
    KeyExistsError,
    KeyNotFoundError,
    KeyValue,
    RevisionMismatchError,
    StoreUnavailableError,
    WatchEvent,
)

#: Revisions deleted per compaction transaction.
COMPACT_CHUNK = 10_000
#: Writes after which the writer asks for a WAL checkpoint before the timer would.
CHECKPOINT_EVERY = 2_000

SCHEMA = """
CREATE TABLE IF NOT EXISTS log (
    revision INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    create_revision INTEGER NOT NULL,
    prev_revision INTEGER NOT NULL,
    deleted INTEGER NOT NULL,
    value BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS log_key_revision ON log (key, revision, deleted);
CREATE TABLE IF NOT EXISTS meta (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
"""

_LATEST = (
    "SELECT revision, create_revision, deleted, value FROM log "
    "WHERE key = ? ORDER BY revision DESC LIMIT 1"
)
_INSERT = (
    "INSERT INTO log (revision, key, create_revision, prev_revision, deleted, value) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)
_SET_META = "INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)"


class OpKind(enum.Enum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    #: Record a new compact revision (``expected`` holds it).
    SET_COMPACT = "set-compact"
    #: Physically delete superseded rows in ``[low, high)`` (``expected``, ``high``).
    COMPACT_CHUNK = "compact-chunk"


OpResult = KeyValue | None | BaseException


@dataclass(slots=True)
class WriteOp:
    """One queued write and the loop future its caller awaits."""

    kind: OpKind
    key: str
    value: bytes
    expected: int
    future: asyncio.Future[KeyValue | None]
    high: int = 0


@dataclass(slots=True)
class _Batch:
    ops: list[WriteOp]
    results: list[OpResult] = field(default_factory=list)
    events: list[WatchEvent] = field(default_factory=list)


_STOP = object()


class SqliteWriter:
    """Owns the write connection; applies queued operations in group-committed batches."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        loop: asyncio.AbstractEventLoop,
        on_commit: Callable[[Sequence[WatchEvent], Sequence[WriteOp], Sequence[OpResult]], None],
        *,
        revision: int,
        compact_revision: int,
        compacted_through: int,
        max_batch: int = 1000,
        checkpointer: WalCheckpointer | None = None,
    ) -> None:
        self._conn = conn
        self._checkpointer = checkpointer
        self._ops_since_kick = 0
        self._loop = loop
        self._on_commit = on_commit
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[WriteOp | object] = queue.SimpleQueue()
        #: Revision of the last committed write; read lock-free by the loop thread.
        self.committed_revision = revision
        #: Reads and watches below this revision fail with CompactedError.
        self.compact_revision = compact_revision
        #: Rows below this revision have been physically compacted.
        self.compacted_through = compacted_through
        #: Number of transactions committed (the group-commit counter tests and benches read).
        self.commits = 0
        #: Number of operations applied.
        self.ops_applied = 0
        self._next_revision = revision
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="sqlite-writer", daemon=True)

    def start(self) -> None:
        """Start the writer thread."""
        self._thread.start()

    def submit(self, op: WriteOp) -> None:
        """Queue ``op`` (any thread). Its future is resolved on the loop after the commit."""
        if self._stopped:
            raise StoreUnavailableError("the SQLite store is closed")
        self._queue.put(op)

    def stop(self) -> None:
        """Ask the thread to finish the queued work and exit, then wait for it (blocking)."""
        self._stopped = True
        self._queue.put(_STOP)
        self._thread.join()

    # -- writer thread ----------------------------------------------------------------------

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                break
            assert isinstance(first, WriteOp)
            ops = [first]
            while len(ops) < self._max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                assert isinstance(item, WriteOp)
                ops.append(item)
            self._commit(_Batch(ops))
        # Anything submitted after the stop marker never reaches SQLite.
        leftovers: list[WriteOp] = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, WriteOp):
                leftovers.append(item)
        if leftovers:
            closed = StoreUnavailableError("the SQLite store is closed")
            self._deliver([], leftovers, [closed] * len(leftovers))

    def _commit(self, batch: _Batch) -> None:
        pending_compact = 0
        pending_through = 0
        cur = self._conn.cursor()
        try:
            cur.execute("BEGIN IMMEDIATE")
            for op in batch.ops:
                if op.kind is OpKind.SET_COMPACT:
                    cur.execute(_SET_META, ("compact_revision", op.expected))
                    pending_compact = op.expected
                    batch.results.append(None)
                elif op.kind is OpKind.COMPACT_CHUNK:
                    self._compact_chunk(cur, op.expected, op.high)
                    pending_through = op.high
                    batch.results.append(None)
                else:
                    batch.results.append(self._apply(cur, op, batch.events))
            cur.execute("COMMIT")
        except Exception as exc:
            # Never let the thread die (every later write would hang): roll the batch back,
            # rewind the revision counter and fail every operation in it.
            with contextlib.suppress(sqlite3.Error):
                cur.execute("ROLLBACK")
            self._next_revision = self.committed_revision
            failure = StoreUnavailableError(f"SQLite write failed: {exc}")
            failure.__cause__ = exc
            self._deliver([], batch.ops, [failure] * len(batch.ops))
            return
        finally:
            cur.close()
        self.committed_revision = self._next_revision
        if pending_compact:
            self.compact_revision = pending_compact
        if pending_through:
            self.compacted_through = pending_through
        self.commits += 1
        self.ops_applied += len(batch.ops)
        self._deliver(batch.events, batch.ops, batch.results)
        self._ops_since_kick += len(batch.ops)
        if self._checkpointer is not None and self._ops_since_kick >= CHECKPOINT_EVERY:
            self._ops_since_kick = 0
            self._checkpointer.kick()

    def _deliver(
        self, events: Sequence[WatchEvent], ops: Sequence[WriteOp], results: Sequence[OpResult]
    ) -> None:
        # The loop may already be closed when the store is torn down without close().
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._on_commit, events, ops, results)

    def _apply(self, cur: sqlite3.Cursor, op: WriteOp, events: list[WatchEvent]) -> OpResult:
        """Check and apply one key operation inside the open transaction."""
        row = cur.execute(_LATEST, (op.key,)).fetchone()
        live = row is not None and not row[2]
        prev = KeyValue(op.key, row[3], row[1], row[0]) if live else None
        prev_row_revision = row[0] if row is not None else 0
        if op.kind is OpKind.CREATE:
            if prev is not None:
                return KeyExistsError(op.key)
            revision = self._next_revision + 1
            cur.execute(_INSERT, (revision, op.key, revision, prev_row_revision, 0, op.value))
            kv = KeyValue(op.key, op.value, revision, revision)
            events.append(WatchEvent(EventType.PUT, kv, None))
        elif prev is None:
            return KeyNotFoundError(op.key)
        elif op.kind is OpKind.UPDATE:
            if prev.mod_revision != op.expected:
                return RevisionMismatchError(op.key, op.expected, prev)
            revision = self._next_revision + 1
            cur.execute(
                _INSERT, (revision, op.key, prev.create_revision, prev.mod_revision, 0, op.value)
            )
            kv = KeyValue(op.key, op.value, prev.create_revision, revision)
            events.append(WatchEvent(EventType.PUT, kv, prev))
        else:
            if op.expected and prev.mod_revision != op.expected:
                return RevisionMismatchError(op.key, op.expected, prev)
            revision = self._next_revision + 1
            cur.execute(
                _INSERT, (revision, op.key, prev.create_revision, prev.mod_revision, 1, b"")
            )
            kv = KeyValue(op.key, prev.value, prev.create_revision, revision)
            events.append(WatchEvent(EventType.DELETE, kv, prev))
        self._next_revision = revision
        return kv

    @staticmethod
    def _compact_chunk(cur: sqlite3.Cursor, low: int, high: int) -> None:
        """Delete rows superseded by a row in ``[low, high)``, and tombstones in it."""
        # Every row has at most one successor (the key's next row), so "is the prev of a row
        # below the compact revision" is exactly "superseded before the compact revision".
        cur.execute(
            "DELETE FROM log WHERE revision IN (SELECT prev_revision FROM log "
            "WHERE revision >= ? AND revision < ? AND prev_revision > 0)",
            (low, high),
        )
        cur.execute(
            "DELETE FROM log WHERE revision >= ? AND revision < ? AND deleted = 1", (low, high)
        )
        cur.execute(_SET_META, ("compacted_through", high))

    def close_connection(self) -> None:
        """Close the write connection (after :meth:`stop`; blocking)."""
        self._conn.close()


class WalCheckpointer:
    """Checkpoints the WAL from its own thread and connection.

    SQLite's automatic checkpoint runs inside the COMMIT that crosses the WAL threshold, on
    the writer thread, and with ``synchronous=NORMAL`` it is the step that fsyncs, so every
    ~1000 pages one batch of callers waited for an fsync (update p99 went from 2 ms to 17 ms
    in bench/store_bench.py). The writer therefore disables auto-checkpoints and this thread
    runs PASSIVE checkpoints instead, which never block the writer or readers: every
    ``interval`` seconds, or sooner when the writer calls :meth:`kick` after many writes.
    Durability is unchanged: the same data is fsynced at checkpoints, only elsewhere.
    """

    def __init__(self, path: str, interval: float = 0.2) -> None:
        self._path = path
        self._interval = interval
        self._wake = threading.Event()
        self._stopping = False
        #: Checkpoints run so far (for tests and benchmarks).
        self.checkpoints = 0
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)

    def start(self) -> None:
        """Start the checkpoint thread."""
        self._thread.start()

    def kick(self) -> None:
        """Ask for a checkpoint now (any thread)."""
        self._wake.set()

    def stop(self) -> None:
        """Stop the thread after one last checkpoint (blocking)."""
        self._stopping = True
        self._wake.set()
        self._thread.join()

    def _run(self) -> None:
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA busy_timeout=5000")
            while True:
                self._wake.wait(self._interval)
                self._wake.clear()
                # A failed checkpoint only delays WAL reuse; the next round retries.
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    self.checkpoints += 1
                if self._stopping:
                    break
        finally:
            conn.close()
