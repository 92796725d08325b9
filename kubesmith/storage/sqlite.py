"""Embedded datastore: etcd semantics on one SQLite file (the default backend).

Design (kine-like, see docs/adr/0001-storage-backends.md):

* **Log table.** Every write appends one row keyed by its revision (see
  :mod:`kubesmith.storage.sqlite_writer`), so "the state at revision R" is "per key, the
  newest row with revision <= R unless it is a tombstone" and watch replay is a scan of a
  revision range. An index on ``(key, revision)`` serves point reads and prefix ranges.
* **Writes** go through the single writer thread with group commit; callers only await a
  future. The latest committed revision lives in memory (``current_revision`` costs nothing).
* **Reads** run in a small bounded thread pool, each thread with its own read-only
  connection. WAL mode lets them read a committed snapshot while the writer appends. A read
  "at revision 0" is pinned to the committed revision sampled when it starts, so a page of a
  list and the revision it reports always agree, however many writes land meanwhile.
* **Watch** is in-process fan-out through :class:`~kubesmith.storage.fanout.WatchHub`; a
  watch from an older revision replays the log up to the hub's revision at subscription time
  and then continues with live events (no gap, no duplicate). Slow watchers are disconnected
  with :class:`~kubesmith.storage.fanout.WatchOverflowError` instead of slowing the writer.
* **Durability.** WAL with ``synchronous=NORMAL`` (the default): a commit is atomic and
  survives a crash of this process, but the WAL is only fsynced at checkpoints, so an OS crash
  or power loss can roll back the most recent acknowledged transactions (never corrupt the
  file). ``synchronous="FULL"`` fsyncs the WAL on every commit; with group commit that is one
  fsync per batch. WAL checkpoints (the fsyncs of NORMAL mode) run on a separate thread so
  they never stall a commit.

:meth:`SqliteStore.open` is an async classmethod because opening runs file I/O and schema
setup in a worker thread; it must be awaited on the loop that will use the store.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

from kubesmith.storage.fanout import Subscription, WatchHub
from kubesmith.storage.interface import (
    CompactedError,
    EventType,
    FutureRevisionError,
    KeyValue,
    ListResult,
    StoreUnavailableError,
    WatchEvent,
)
from kubesmith.storage.keys import prefix_end
from kubesmith.storage.sqlite_writer import (
    COMPACT_CHUNK,
    SCHEMA,
    OpKind,
    OpResult,
    SqliteWriter,
    WalCheckpointer,
    WriteOp,
)

T = TypeVar("T")

#: Rows fetched per query while replaying history into a watch.
REPLAY_PAGE = 1000
#: Initial revision of an empty store. Like etcd, the first write gets revision 2, so no
#: object ever carries resourceVersion "0" or "1" (both have special meanings upstream).
EMPTY_REVISION = 1


class SqliteStore:
    """A :class:`~kubesmith.storage.interface.Store` on one SQLite database file."""

    def __init__(
        self,
        path: str,
        opened: _OpenedDatabase,
        loop: asyncio.AbstractEventLoop,
        *,
        readers: int,
        watch_queue_size: int,
        max_batch: int,
        compact_chunk: int,
    ) -> None:
        """Use :meth:`open`; this wires an opened database to a new writer and hub."""
        self.path = path
        self._hub = WatchHub(opened.revision, watch_queue_size)
        self._checkpointer = WalCheckpointer(path)
        self._writer = SqliteWriter(
            opened.conn,
            loop,
            self._on_commit,
            revision=opened.revision,
            compact_revision=opened.compact_revision,
            compacted_through=opened.compacted_through,
            max_batch=max_batch,
            checkpointer=self._checkpointer,
        )
        self._local = threading.local()
        self._read_conns: list[sqlite3.Connection] = []
        self._read_conns_lock = threading.Lock()
        self._readers = ThreadPoolExecutor(max_workers=readers, thread_name_prefix="sqlite-read")
        self._compact_lock = asyncio.Lock()
        self._compact_chunk = compact_chunk
        self._closed = False

    @classmethod
    async def open(
        cls,
        path: str,
        *,
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
        readers: int = 2,
        watch_queue_size: int = 10_000,
        max_batch: int = 1000,
        compact_chunk: int = COMPACT_CHUNK,
    ) -> SqliteStore:
        """Open (creating if needed) the database at ``path`` and start the writer thread.

        Parent directories are created with mode 0700 and the database file with mode 0600
        (SQLite gives its ``-wal``/``-shm`` files the database file's mode). ``readers`` bounds
        the read thread pool; ``watch_queue_size`` is each watcher's backlog limit;
        ``max_batch`` caps how many writes share one transaction; ``compact_chunk`` is how
        many revisions one compaction transaction covers.
        """
        loop = asyncio.get_running_loop()
        opened = await asyncio.to_thread(_open_write_connection, path, synchronous)
        store = cls(
            path,
            opened,
            loop,
            readers=readers,
            watch_queue_size=watch_queue_size,
            max_batch=max_batch,
            compact_chunk=compact_chunk,
        )
        store._checkpointer.start()
        store._writer.start()
        return store

    # -- introspection ------------------------------------------------------------------------

    @property
    def commits(self) -> int:
        """Transactions committed since open (fewer than writes when group commit batches)."""
        return self._writer.commits

    @property
    def writes(self) -> int:
        """Operations the writer applied since open (including failed CAS checks)."""
        return self._writer.ops_applied

    @property
    def checkpoints(self) -> int:
        """WAL checkpoints the background checkpointer has run since open."""
        return self._checkpointer.checkpoints

    @property
    def compact_revision(self) -> int:
        """Reads and watches below this revision raise CompactedError."""
        return self._writer.compact_revision

    # -- writes ----------------------------------------------------------------------------

    async def create(self, key: str, value: bytes) -> KeyValue:
        """Create ``key``; KeyExistsError if it exists."""
        return await self._write(OpKind.CREATE, key, value, 0)

    async def update(self, key: str, value: bytes, *, expected_mod_revision: int) -> KeyValue:
        """Compare-and-swap ``key`` against ``expected_mod_revision``."""
        return await self._write(OpKind.UPDATE, key, value, expected_mod_revision)

    async def delete(self, key: str, *, expected_mod_revision: int = 0) -> KeyValue:
        """Delete ``key`` (if at ``expected_mod_revision`` when non-zero)."""
        return await self._write(OpKind.DELETE, key, b"", expected_mod_revision)

    async def _write(self, kind: OpKind, key: str, value: bytes, expected: int) -> KeyValue:
        # Reject bad arguments here: inside the writer they would fail a whole batch.
        if not isinstance(key, str) or not isinstance(value, bytes):
            raise TypeError("keys are str and values are bytes")
        kv = await self._submit(kind, key, value, expected)
        assert kv is not None
        return kv

    async def _submit(
        self, kind: OpKind, key: str, value: bytes, expected: int, high: int = 0
    ) -> KeyValue | None:
        self._check_open()
        future: asyncio.Future[KeyValue | None] = asyncio.get_running_loop().create_future()
        self._writer.submit(WriteOp(kind, key, value, expected, future, high))
        # Shield: a cancelled caller must not cancel the future the writer resolves; the
        # write is applied regardless, as with etcd.
        return await asyncio.shield(future)

    def _on_commit(
        self, events: Sequence[WatchEvent], ops: Sequence[WriteOp], results: Sequence[OpResult]
    ) -> None:
        """Loop-side end of a batch: publish events first, then acknowledge the callers."""
        self._hub.publish(events)
        for op, result in zip(ops, results, strict=True):
            if op.future.done():
                continue
            if isinstance(result, BaseException):
                op.future.set_exception(result)
            else:
                op.future.set_result(result)

    # -- reads -----------------------------------------------------------------------------

    async def current_revision(self) -> int:
        """The latest committed revision (every acknowledged write is included)."""
        self._check_open()
        return self._writer.committed_revision

    async def get(self, key: str, *, revision: int = 0) -> KeyValue | None:
        """The key's value at ``revision`` (0 = latest), or None if absent then."""
        at = self._read_revision(revision)
        row = await self._read(_get_row, key, at)
        self._check_not_compacted(at)
        if row is None or row[2]:
            return None
        return KeyValue(key, row[3], row[1], row[0])

    async def list(
        self, prefix: str, *, revision: int = 0, limit: int = 0, start_key: str = ""
    ) -> ListResult:
        """Keys under ``prefix`` (from ``start_key``) at one revision, in key order."""
        at = self._read_revision(revision)
        low = max(prefix, start_key)
        high = prefix_end(prefix)
        kvs, more, count = await self._read(_list_rows, low, high, at, limit)
        self._check_not_compacted(at)
        return ListResult(kvs=kvs, revision=at, more=more, count=count)

    def _read_revision(self, revision: int) -> int:
        self._check_open()
        current = self._writer.committed_revision
        if revision == 0:
            return current
        if revision > current:
            raise FutureRevisionError(revision, current)
        self._check_not_compacted(revision)
        return revision

    def _check_not_compacted(self, revision: int) -> None:
        # Checked again after each query: compaction records its revision before deleting
        # rows, so a query that still passes this check afterwards read complete history.
        compact = self._writer.compact_revision
        if revision < compact:
            raise CompactedError(revision, compact)

    async def _read(self, fn: Callable[..., T], *args: object) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._readers, self._run_read, fn, args)
        except RuntimeError as exc:  # executor shut down under us
            raise StoreUnavailableError("the SQLite store is closed") from exc

    def _run_read(self, fn: Callable[..., T], args: tuple[object, ...]) -> T:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = _open_read_connection(self.path)
            self._local.conn = conn
            with self._read_conns_lock:
                self._read_conns.append(conn)
        try:
            return fn(conn, *args)
        except sqlite3.Error as exc:
            raise StoreUnavailableError(f"SQLite read failed: {exc}") from exc

    # -- watch -----------------------------------------------------------------------------

    async def watch(self, prefix: str, *, start_revision: int) -> AsyncIterator[WatchEvent]:
        """Events under ``prefix`` from ``start_revision`` (inclusive; 0 = from now on).

        The watch registers at its first iteration; with ``start_revision=0`` it delivers
        what is committed after that. Raises CompactedError if ``start_revision`` is below the
        compact revision, and :class:`~kubesmith.storage.fanout.WatchOverflowError` if the
        consumer falls more than ``watch_queue_size`` events behind. Live events queue in that
        same bound while history is replayed, so a very long replay under heavy writes can
        overflow as well.
        """
        self._check_open()
        if start_revision:
            self._check_not_compacted(start_revision)
        # Subscribing is synchronous on the loop: every event up to sub.since is already
        # committed (replay it from the log), every later one will reach the subscription.
        sub: Subscription = self._hub.subscribe(prefix)
        try:
            start = start_revision or sub.since + 1
            if start <= sub.since:
                async for event in self._replay(prefix, start, sub.since):
                    yield event
            while True:
                event = await sub.next()
                if event.kv.mod_revision >= start:
                    yield event
        finally:
            self._hub.unsubscribe(sub)

    async def _replay(self, prefix: str, start: int, end: int) -> AsyncIterator[WatchEvent]:
        """Events under ``prefix`` with revisions in ``[start, end]`` from the log table."""
        high = prefix_end(prefix)
        low = start
        while low <= end:
            events, scanned_to = await self._read(_replay_rows, prefix, high, low, end)
            self._check_not_compacted(low)
            for event in events:
                yield event
            low = scanned_to + 1

    # -- compaction and shutdown -----------------------------------------------------------

    async def compact(self, revision: int) -> None:
        """Drop history before ``revision``; reads and watches below it then fail.

        Compacting to a revision at or below the current compact revision is a no-op. The
        physical deletion runs in chunks interleaved with other writes.
        """
        self._check_open()
        async with self._compact_lock:
            current = self._writer.committed_revision
            if revision > current:
                raise FutureRevisionError(revision, current)
            if revision > self._writer.compact_revision:
                await self._submit(OpKind.SET_COMPACT, "", b"", revision)
            target = self._writer.compact_revision
            low = self._writer.compacted_through
            while low < target:
                high = min(low + self._compact_chunk, target)
                await self._submit(OpKind.COMPACT_CHUNK, "", b"", low, high)
                low = high

    async def close(self) -> None:
        """Finish queued writes, stop the writer, fail open watches, close connections."""
        if self._closed:
            return
        self._closed = True
        await asyncio.to_thread(self._writer.stop)
        # Let the writer's final call_soon_threadsafe callbacks (acknowledgements) run.
        await asyncio.sleep(0)
        self._hub.close(StoreUnavailableError("the SQLite store is closed"))
        await asyncio.to_thread(self._readers.shutdown, wait=True)
        with self._read_conns_lock:
            for conn in self._read_conns:
                conn.close()
            self._read_conns.clear()
        await asyncio.to_thread(self._checkpointer.stop)
        await asyncio.to_thread(self._writer.close_connection)

    def _check_open(self) -> None:
        if self._closed:
            raise StoreUnavailableError("the SQLite store is closed")


# -- connections (worker threads) ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _OpenedDatabase:
    conn: sqlite3.Connection
    revision: int
    compact_revision: int
    compacted_through: int


def _open_write_connection(path: str, synchronous: str) -> _OpenedDatabase:
    """Create the file 0600 if needed, set up WAL and schema; return recovered counters."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # Create the file ourselves so it never exists with umask-derived permissions.
    fd = os.open(target, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(fd)
    os.chmod(target, 0o600)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={synchronous}")
        conn.execute("PRAGMA temp_store=MEMORY")
        # Checkpoints run on their own thread (WalCheckpointer), never inside a commit.
        conn.execute("PRAGMA wal_autocheckpoint=0")
        # After a checkpoint lets SQLite restart the WAL, cap the file it leaves behind.
        conn.execute("PRAGMA journal_size_limit=67108864")
        conn.execute("PRAGMA cache_size=-65536")  # 64 MiB page cache for the writer
        conn.executescript(SCHEMA)
        (max_revision,) = conn.execute("SELECT COALESCE(MAX(revision), 0) FROM log").fetchone()
        meta = dict(conn.execute("SELECT name, value FROM meta").fetchall())
    except BaseException:
        conn.close()
        raise
    compact = int(meta.get("compact_revision", 0))
    through = int(meta.get("compacted_through", 0))
    revision = max(int(max_revision), compact, EMPTY_REVISION)
    return _OpenedDatabase(conn, revision, compact, through)


def _open_read_connection(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(
        f"file:{path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False
    )
    conn.execute("PRAGMA busy_timeout=5000")
    conn.execute("PRAGMA cache_size=-32768")
    return conn


# -- read queries (run in the read pool; each is one statement or one read transaction) ---

_GET_AT = (
    "SELECT revision, create_revision, deleted, value FROM log "
    "WHERE key = ? AND revision <= ? ORDER BY revision DESC LIMIT 1"
)


def _get_row(conn: sqlite3.Connection, key: str, at: int) -> tuple[int, int, int, bytes] | None:
    row: tuple[int, int, int, bytes] | None = conn.execute(_GET_AT, (key, at)).fetchone()
    return row


def _range_sql(high: str | None, select: str, tail: str) -> str:
    # Per key, the newest row at or below the revision, unless it is a tombstone. Written
    # as NOT EXISTS so SQLite walks the (key, revision, deleted) index in key order, answers
    # the check from the index alone and stops at LIMIT (a GROUP BY form materialises and
    # sorts the whole remaining range first: ~8x slower per page).
    bound = "AND l.key < :high " if high is not None else ""
    return (
        f"SELECT {select} FROM log AS l WHERE l.key >= :low {bound}"
        "AND l.revision <= :at AND l.deleted = 0 AND NOT EXISTS (SELECT 1 FROM log AS n "
        "WHERE n.key = l.key AND n.revision > l.revision AND n.revision <= :at) "
        f"{tail}"
    )


def _list_rows(
    conn: sqlite3.Connection, low: str, high: str | None, at: int, limit: int
) -> tuple[list[KeyValue], bool, int]:
    params: dict[str, object] = {"low": low, "high": high, "at": at, "limit": limit + 1}
    tail = "ORDER BY l.key LIMIT :limit" if limit > 0 else "ORDER BY l.key"
    # One read transaction so the page and its count see the same snapshot.
    conn.execute("BEGIN")
    try:
        rows = conn.execute(
            _range_sql(high, "l.key, l.value, l.create_revision, l.revision", tail), params
        ).fetchall()
        more = limit > 0 and len(rows) > limit
        if more:
            rows = rows[:limit]
            (count,) = conn.execute(_range_sql(high, "COUNT(*)", ""), params).fetchone()
        else:
            count = len(rows)
    finally:
        conn.execute("COMMIT")
    return [KeyValue(k, v, c, m) for k, v, c, m in rows], more, int(count)


def _replay_sql(high: str | None) -> str:
    bound = "AND l.key < :high " if high is not None else ""
    return (
        "SELECT l.revision, l.key, l.create_revision, l.deleted, l.value, "
        "p.revision, p.create_revision, p.deleted, p.value "
        "FROM log AS l LEFT JOIN log AS p ON p.revision = l.prev_revision "
        f"WHERE l.revision >= :low AND l.revision <= :end AND l.key >= :prefix {bound}"
        "ORDER BY l.revision LIMIT :page"
    )


def _replay_rows(
    conn: sqlite3.Connection, prefix: str, high: str | None, low: int, end: int
) -> tuple[list[WatchEvent], int]:
    """One page of history as events, and the last revision the page covers."""
    params = {"low": low, "end": end, "prefix": prefix, "high": high, "page": REPLAY_PAGE}
    rows = conn.execute(_replay_sql(high), params).fetchall()
    events: list[WatchEvent] = []
    for rev, key, create, deleted, value, p_rev, p_create, p_deleted, p_value in rows:
        # A tombstone's prev row is the deleted value; a create after a delete has none.
        prev = KeyValue(key, p_value, p_create, p_rev) if p_rev and not p_deleted else None
        if deleted:
            deleted_value = prev.value if prev is not None else b""
            kv = KeyValue(key, deleted_value, create, rev)
            events.append(WatchEvent(EventType.DELETE, kv, prev))
        else:
            events.append(WatchEvent(EventType.PUT, KeyValue(key, value, create, rev), prev))
    covered = rows[-1][0] if len(rows) == REPLAY_PAGE else end
    return events, covered


__all__ = ["SqliteStore"]
