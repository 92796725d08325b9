"""SqliteStore behaviour beyond the shared contract: files, persistence, batching, back-pressure."""

from __future__ import annotations

import asyncio
import sqlite3
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kubesmith.storage import WatchOverflowError, open_store
from kubesmith.storage.interface import (
    CompactedError,
    EventType,
    KeyValue,
    StoreUnavailableError,
    WatchEvent,
)
from kubesmith.storage.sqlite import SqliteStore

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    opened = await SqliteStore.open(str(tmp_path / "db" / "state.db"))
    try:
        yield opened
    finally:
        await opened.close()


async def drain_until_error(watch: AsyncIterator[WatchEvent], seen: list[int]) -> Exception:
    """Consume ``watch`` (recording revisions in ``seen``) until it fails; the failure."""
    try:
        async for event in watch:
            seen.append(event.revision)
    except Exception as exc:  # the caller asserts which error it is
        return exc
    raise AssertionError("the watch ended without an error")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_database_files_are_private(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "state.db"
    store = await SqliteStore.open(str(path))
    try:
        await store.create("/k", b"v")
        files = [path, Path(f"{path}-wal"), Path(f"{path}-shm")]
        assert all(f.exists() for f in files)
        assert [_mode(f) for f in files] == [0o600, 0o600, 0o600]
        assert _mode(path.parent) == 0o700
    finally:
        await store.close()


async def test_an_empty_store_starts_at_revision_one(store: SqliteStore) -> None:
    assert await store.current_revision() == 1
    assert (await store.create("/k", b"v")).mod_revision == 2


async def test_reopening_continues_revisions_and_keeps_data(tmp_path: Path) -> None:
    path = str(tmp_path / "state.db")
    first = await SqliteStore.open(path)
    a = await first.create("/a", b"1")
    b = await first.create("/b", b"2")
    await first.delete("/b")
    await first.compact(b.mod_revision)
    last = await first.current_revision()
    await first.close()

    second = await SqliteStore.open(path)
    try:
        assert await second.current_revision() == last
        assert await second.get("/a") == a
        assert await second.get("/b") is None
        with pytest.raises(CompactedError):
            await second.get("/a", revision=a.mod_revision)
        assert (await second.create("/c", b"3")).mod_revision == last + 1
    finally:
        await second.close()


async def test_concurrent_writes_share_commits(store: SqliteStore) -> None:
    commits_before, writes_before = store.commits, store.writes
    kvs = await asyncio.gather(*(store.create(f"/gc/{i:03d}", b"v") for i in range(500)))
    assert len({kv.mod_revision for kv in kvs}) == 500
    assert store.writes - writes_before == 500
    # Group commit: the writer drains everything queued into one transaction.
    assert store.commits - commits_before <= 25


async def test_sequential_writes_commit_one_by_one(store: SqliteStore) -> None:
    # The counter is honest: without concurrency there is nothing to batch.
    before = store.commits
    for i in range(5):
        await store.create(f"/seq/{i}", b"v")
    assert store.commits - before == 5


async def test_a_slow_watcher_is_cut_off_and_can_resume(tmp_path: Path) -> None:
    store = await SqliteStore.open(str(tmp_path / "state.db"), watch_queue_size=8)
    try:
        first = await store.create("/w/000", b"v")
        watch = store.watch("/w/", start_revision=first.mod_revision)
        assert (await anext(watch)).kv == first
        # The consumer stops reading while 40 writes land: its queue overflows.
        for i in range(1, 41):
            await store.create(f"/w/{i:03d}", b"v")
        seen = [first.mod_revision]
        error = await drain_until_error(watch, seen)
        assert isinstance(error, WatchOverflowError)
        assert error.last_revision == seen[-1]
        assert len(seen) < 41  # it really was cut off
        assert seen == list(range(first.mod_revision, seen[-1] + 1))  # no gap before the cut

        # Resuming from the reported revision replays the rest from the log: nothing lost.
        resumed = store.watch("/w/", start_revision=error.last_revision + 1)
        rest = [(await anext(resumed)).revision for _ in range(41 - len(seen))]
        await resumed.aclose()  # type: ignore[attr-defined]
        assert seen + rest == list(range(first.mod_revision, first.mod_revision + 41))
    finally:
        await store.close()


async def test_other_watchers_keep_receiving_when_one_overflows(tmp_path: Path) -> None:
    store = await SqliteStore.open(str(tmp_path / "state.db"), watch_queue_size=4)
    try:
        start = await store.current_revision() + 1
        slow = store.watch("/x/", start_revision=start)
        fast = store.watch("/x/", start_revision=start)
        slow_first = asyncio.ensure_future(anext(slow))
        fast_events = []
        for i in range(12):
            kv = await store.create(f"/x/{i}", b"v")
            fast_events.append(await asyncio.wait_for(anext(fast), 5))
            assert fast_events[-1].kv == kv
        assert (await slow_first).revision == start
        assert isinstance(await drain_until_error(slow, []), WatchOverflowError)
        await fast.aclose()  # type: ignore[attr-defined]
    finally:
        await store.close()


async def test_compaction_deletes_superseded_rows_in_chunks(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = await SqliteStore.open(str(path), compact_chunk=7)
    try:
        kv = await store.create("/c/a", b"0")
        for i in range(1, 30):
            kv = await store.update("/c/a", str(i).encode(), expected_mod_revision=kv.mod_revision)
        gone = await store.create("/c/gone", b"x")
        await store.delete("/c/gone")
        keep = await store.create("/c/keep", b"k")
        commits = store.commits
        await store.compact(keep.mod_revision)
        # One transaction records the compact revision, then several bounded chunks.
        assert store.commits - commits > 2
        assert store.compact_revision == keep.mod_revision

        with sqlite3.connect(path) as db:
            rows = db.execute("SELECT key, revision, deleted FROM log ORDER BY revision").fetchall()
        assert rows == [("/c/a", kv.mod_revision, 0), ("/c/keep", keep.mod_revision, 0)]
        assert gone.mod_revision not in [r[1] for r in rows]
        assert await store.get("/c/a") == kv
        assert (await store.list("/c/")).kvs == [kv, keep]
    finally:
        await store.close()


async def test_cancelled_writer_still_applies_like_etcd(store: SqliteStore) -> None:
    task = asyncio.create_task(store.create("/cancel", b"v"))
    await asyncio.sleep(0)  # submitted
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.05)
    kv = await store.get("/cancel")
    assert kv is not None
    assert kv.value == b"v"


async def test_close_ends_watches_and_rejects_new_calls(tmp_path: Path) -> None:
    store = await SqliteStore.open(str(tmp_path / "state.db"))
    watch = store.watch("/", start_revision=0)
    pending = asyncio.ensure_future(anext(watch))
    await asyncio.sleep(0.01)
    await store.close()
    with pytest.raises(StoreUnavailableError):
        await asyncio.wait_for(pending, 5)
    with pytest.raises(StoreUnavailableError):
        await store.create("/k", b"v")
    with pytest.raises(StoreUnavailableError):
        await store.get("/k")


async def test_watch_from_zero_starts_at_the_next_write(store: SqliteStore) -> None:
    old = await store.create("/z/old", b"v")
    await store.compact(old.mod_revision)  # "now" is never compacted
    watch = store.watch("/z/", start_revision=0)
    pending = asyncio.ensure_future(anext(watch))
    await asyncio.sleep(0.01)  # the first iteration subscribes
    new = await store.create("/z/new", b"v")
    event = await asyncio.wait_for(pending, 5)
    await watch.aclose()  # type: ignore[attr-defined]
    assert (event.type, event.kv) == (EventType.PUT, new)


async def test_keys_with_non_ascii_and_prefix_edges(store: SqliteStore) -> None:
    keys = ["/p/é", "/p/\U0001f600", "/p/z", "/p\x7f", "/p0"]
    for key in keys:
        await store.create(key, key.encode())
    listed = await store.list("/p/")
    assert [kv.key for kv in listed.kvs] == ["/p/z", "/p/é", "/p/\U0001f600"]
    everything = await store.list("")
    assert sorted(kv.key for kv in everything.kvs) == sorted(keys)


async def test_open_store_accepts_relative_sqlite_urls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = await open_store("sqlite://data/state.db")
    try:
        assert isinstance(store, SqliteStore)
        kv = await store.create("/k", b"v")
        assert kv == KeyValue("/k", b"v", 2, 2)
    finally:
        await store.close()
    assert (tmp_path / "data" / "state.db").exists()


async def test_replay_spans_many_pages_and_filters_by_prefix(store: SqliteStore) -> None:
    start = await store.current_revision() + 1
    await asyncio.gather(
        *(store.create(f"/{side}/{i:05d}", b"v") for i in range(1500) for side in ("a", "b"))
    )
    watch = store.watch("/a/", start_revision=start)
    events = [await anext(watch) for _ in range(1500)]
    await watch.aclose()  # type: ignore[attr-defined]
    assert all(e.kv.key.startswith("/a/") for e in events)
    assert sorted(e.kv.key for e in events) == [f"/a/{i:05d}" for i in range(1500)]
    revisions = [e.revision for e in events]
    assert revisions == sorted(set(revisions))


async def test_bad_argument_types_fail_alone(store: SqliteStore) -> None:
    good = asyncio.ensure_future(store.create("/good", b"v"))
    with pytest.raises(TypeError):
        await store.create("/bad", "not bytes")  # type: ignore[arg-type]
    assert (await good).key == "/good"
    assert await store.get("/bad") is None


async def test_wal_is_checkpointed_off_the_commit_path(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = await SqliteStore.open(str(path))
    try:
        await asyncio.gather(*(store.create(f"/cp/{i:05d}", b"v" * 200) for i in range(3000)))
        # 3000 writes kicked the checkpointer (every 2000); its timer would fire within 0.2 s.
        await asyncio.sleep(0.5)
        assert store.checkpoints > 0
    finally:
        await store.close()
    # Everything committed is in the main database file after the checkpoints and close.
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT COUNT(*) FROM log").fetchone() == (3000,)
