"""The storage contract (kubesmith/storage/interface.py), run against every backend."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from kubesmith.storage.interface import (
    CompactedError,
    EventType,
    FutureRevisionError,
    KeyExistsError,
    KeyNotFoundError,
    KeyValue,
    RevisionMismatchError,
    Store,
    WatchEvent,
)

pytestmark = pytest.mark.timeout(60)


async def collect(
    events: AsyncIterator[WatchEvent], count: int, within: float = 10
) -> list[WatchEvent]:
    """The next ``count`` events (waiting at most ``within`` seconds), then close the watch."""
    out: list[WatchEvent] = []
    try:
        async with asyncio.timeout(within):
            async for event in events:
                out.append(event)
                if len(out) == count:
                    break
    finally:
        await events.aclose()  # type: ignore[attr-defined]
    return out


# -- revisions and single-key operations -----------------------------------------------------


async def test_every_write_advances_the_revision_by_one(store: Store, prefix: str) -> None:
    start = await store.current_revision()
    created = await store.create(prefix + "a", b"1")
    assert (created.create_revision, created.mod_revision) == (start + 1, start + 1)
    updated = await store.update(prefix + "a", b"2", expected_mod_revision=created.mod_revision)
    assert (updated.create_revision, updated.mod_revision) == (start + 1, start + 2)
    other = await store.create(prefix + "b", b"x")
    assert other.mod_revision == start + 3
    deleted = await store.delete(prefix + "a")
    assert deleted.mod_revision == start + 4
    assert await store.current_revision() == start + 4


async def test_failed_writes_do_not_advance_the_revision(store: Store, prefix: str) -> None:
    kv = await store.create(prefix + "a", b"1")
    with pytest.raises(KeyExistsError) as exists:
        await store.create(prefix + "a", b"again")
    assert exists.value.key == prefix + "a"
    with pytest.raises(RevisionMismatchError):
        await store.update(prefix + "a", b"2", expected_mod_revision=kv.mod_revision - 1)
    with pytest.raises(KeyNotFoundError):
        await store.delete(prefix + "missing")
    assert await store.current_revision() == kv.mod_revision
    assert await store.get(prefix + "a") == kv


async def test_create_after_delete_starts_a_new_incarnation(store: Store, prefix: str) -> None:
    first = await store.create(prefix + "a", b"1")
    await store.delete(prefix + "a")
    again = await store.create(prefix + "a", b"2")
    assert again.create_revision == again.mod_revision == first.mod_revision + 2
    assert await store.get(prefix + "a") == again


async def test_get_at_revisions(store: Store, prefix: str) -> None:
    key = prefix + "a"
    v1 = await store.create(key, b"one")
    v2 = await store.update(key, b"two", expected_mod_revision=v1.mod_revision)
    gone = await store.delete(key)
    assert await store.get(key, revision=v1.mod_revision) == v1
    assert await store.get(key, revision=v2.mod_revision) == v2
    assert await store.get(key, revision=gone.mod_revision) is None
    assert await store.get(key, revision=v1.mod_revision - 1) is None
    assert await store.get(key) is None
    assert await store.get(prefix + "never") is None


async def test_reads_beyond_the_current_revision_fail(store: Store, prefix: str) -> None:
    kv = await store.create(prefix + "a", b"1")
    with pytest.raises(FutureRevisionError) as err:
        await store.get(prefix + "a", revision=kv.mod_revision + 100)
    assert err.value.current == kv.mod_revision
    with pytest.raises(FutureRevisionError):
        await store.list(prefix, revision=kv.mod_revision + 100)


async def test_update_is_compare_and_swap(store: Store, prefix: str) -> None:
    key = prefix + "a"
    v1 = await store.create(key, b"one")
    v2 = await store.update(key, b"two", expected_mod_revision=v1.mod_revision)
    assert v2 == KeyValue(key, b"two", v1.create_revision, v1.mod_revision + 1)
    with pytest.raises(RevisionMismatchError) as err:
        await store.update(key, b"stale", expected_mod_revision=v1.mod_revision)
    assert err.value.expected == v1.mod_revision
    assert err.value.current == v2
    assert await store.get(key) == v2


async def test_update_of_an_absent_key_is_not_found(store: Store, prefix: str) -> None:
    with pytest.raises(KeyNotFoundError):
        await store.update(prefix + "never", b"x", expected_mod_revision=5)
    with pytest.raises(KeyNotFoundError):
        await store.update(prefix + "never", b"x", expected_mod_revision=0)
    kv = await store.create(prefix + "a", b"1")
    await store.delete(prefix + "a")
    with pytest.raises(KeyNotFoundError):
        await store.update(prefix + "a", b"x", expected_mod_revision=kv.mod_revision)
    assert await store.get(prefix + "never") is None


async def test_delete_unconditionally_and_with_expected_revision(store: Store, prefix: str) -> None:
    a = await store.create(prefix + "a", b"A")
    b = await store.create(prefix + "b", b"B")
    b2 = await store.update(prefix + "b", b"B2", expected_mod_revision=b.mod_revision)

    deleted = await store.delete(prefix + "a")
    assert deleted == KeyValue(prefix + "a", b"A", a.create_revision, b2.mod_revision + 1)

    with pytest.raises(RevisionMismatchError) as err:
        await store.delete(prefix + "b", expected_mod_revision=b.mod_revision)
    assert err.value.current == b2
    assert await store.get(prefix + "b") == b2

    deleted_b = await store.delete(prefix + "b", expected_mod_revision=b2.mod_revision)
    assert deleted_b.value == b"B2"
    assert deleted_b.mod_revision == await store.current_revision()
    with pytest.raises(KeyNotFoundError):
        await store.delete(prefix + "b")


# -- range reads --------------------------------------------------------------------------


async def test_list_pages_with_limit_continue_count_and_more(store: Store, prefix: str) -> None:
    keys = [f"{prefix}item-{i:02d}" for i in range(25)]
    for key in keys:
        await store.create(key, key.encode())
    # Neighbours that share text with the prefix but are outside it.
    await store.create(prefix.rstrip("/") + "0", b"after")
    await store.create(prefix.rstrip("/"), b"parent")

    first = await store.list(prefix, limit=10)
    assert [kv.key for kv in first.kvs] == keys[:10]
    assert (first.more, first.count) == (True, 25)
    assert first.revision == await store.current_revision()

    # Writes between pages must not show in pages read at the first page's revision.
    await store.delete(keys[15])
    await store.create(prefix + "item-10a", b"new")

    second = await store.list(
        prefix, revision=first.revision, limit=10, start_key=first.kvs[-1].key + "\0"
    )
    assert [kv.key for kv in second.kvs] == keys[10:20]
    assert (second.more, second.count, second.revision) == (True, 15, first.revision)
    third = await store.list(
        prefix, revision=first.revision, limit=10, start_key=second.kvs[-1].key + "\0"
    )
    assert [kv.key for kv in third.kvs] == keys[20:]
    assert (third.more, third.count) == (False, 5)
    assert all(kv.value == kv.key.encode() for kv in first.kvs + second.kvs + third.kvs)

    latest = await store.list(prefix)
    assert len(latest.kvs) == latest.count == 25
    assert prefix + "item-10a" in [kv.key for kv in latest.kvs]
    assert keys[15] not in [kv.key for kv in latest.kvs]
    assert not latest.more


async def test_list_at_an_old_revision(store: Store, prefix: str) -> None:
    a = await store.create(prefix + "a", b"a1")
    b = await store.create(prefix + "b", b"b1")
    snapshot = b.mod_revision
    await store.update(prefix + "a", b"a2", expected_mod_revision=a.mod_revision)
    await store.delete(prefix + "b")
    await store.create(prefix + "c", b"c1")

    old = await store.list(prefix, revision=snapshot)
    assert old.kvs == [a, b]
    assert (old.revision, old.count, old.more) == (snapshot, 2, False)
    now = await store.list(prefix)
    assert [(kv.key, kv.value) for kv in now.kvs] == [(prefix + "a", b"a2"), (prefix + "c", b"c1")]


async def test_list_of_an_empty_prefix_reports_the_current_revision(
    store: Store, prefix: str
) -> None:
    result = await store.list(prefix + "nothing/", limit=5)
    assert (result.kvs, result.more, result.count) == ([], False, 0)
    assert result.revision == await store.current_revision()


# -- watch --------------------------------------------------------------------------------


async def test_watch_replays_history_then_follows_live_writes(store: Store, prefix: str) -> None:
    a = await store.create(prefix + "a", b"1")
    await store.create("/elsewhere/" + prefix, b"not watched")
    a2 = await store.update(prefix + "a", b"2", expected_mod_revision=a.mod_revision)
    b = await store.create(prefix + "b", b"B")

    watch = store.watch(prefix, start_revision=a2.mod_revision)
    first = await anext(watch)  # replayed
    assert first == WatchEvent(EventType.PUT, a2, a)

    gone = await store.delete(prefix + "a")
    await store.create(prefix.rstrip("/") + "0/x", b"outside")
    c = await store.create(prefix + "c", b"C")
    rest = await collect(watch, 3)

    assert rest[0] == WatchEvent(EventType.PUT, b, None)
    assert rest[1].type is EventType.DELETE
    assert rest[1].kv == KeyValue(prefix + "a", b"2", a.create_revision, gone.mod_revision)
    assert rest[1].prev_kv == a2
    assert rest[2] == WatchEvent(EventType.PUT, c, None)
    revisions = [e.revision for e in [first, *rest]]
    assert revisions == sorted(revisions)


async def test_watch_switches_from_replay_to_live_without_gap_or_duplicate(
    store: Store, prefix: str
) -> None:
    start = await store.current_revision() + 1
    total = 500

    some_written = asyncio.Event()

    async def writer() -> None:
        for i in range(total):
            await store.create(f"{prefix}k{i:03d}", b"v")
            if i == 50:
                some_written.set()

    task = asyncio.create_task(writer())
    try:
        # Subscribe while the writer is running, so the watch is part replay, part live.
        await some_written.wait()
        assert not task.done()
        events = await collect(store.watch(prefix, start_revision=start), total, within=30)
    finally:
        await task
    assert [e.revision for e in events] == list(range(start, start + total))
    assert [e.kv.key for e in events] == [f"{prefix}k{i:03d}" for i in range(total)]


async def test_watch_from_a_future_revision_waits_for_it(store: Store, prefix: str) -> None:
    now = await store.current_revision()
    watch = store.watch(prefix, start_revision=now + 2)
    pending = asyncio.ensure_future(anext(watch))
    await store.create(prefix + "skipped", b"1")
    second = await store.create(prefix + "seen", b"2")
    event = await asyncio.wait_for(pending, 10)
    await watch.aclose()  # type: ignore[attr-defined]
    assert event.kv == second


async def test_watches_are_independent(store: Store, prefix: str) -> None:
    start = await store.current_revision() + 1
    w1 = store.watch(prefix + "one/", start_revision=start)
    w2 = store.watch(prefix, start_revision=start)
    one = await store.create(prefix + "one/x", b"1")
    two = await store.create(prefix + "two/y", b"2")
    got1 = await collect(w1, 1)
    got2 = await collect(w2, 2)
    assert [e.kv for e in got1] == [one]
    assert [e.kv for e in got2] == [one, two]


# -- compaction ---------------------------------------------------------------------------


async def test_compaction_drops_history_below_the_revision(store: Store, prefix: str) -> None:
    a = await store.create(prefix + "a", b"1")
    a2 = await store.update(prefix + "a", b"2", expected_mod_revision=a.mod_revision)
    b = await store.create(prefix + "b", b"B")
    b_gone = await store.delete(prefix + "b")
    c = await store.create(prefix + "c", b"C")
    at = b_gone.mod_revision

    await store.compact(at)
    await store.compact(at)  # compacting again at the same point is a no-op

    with pytest.raises(CompactedError) as err:
        await store.get(prefix + "a", revision=at - 1)
    assert err.value.requested == at - 1
    assert err.value.compact_revision >= at
    with pytest.raises(CompactedError):
        await store.list(prefix, revision=b.mod_revision)
    with pytest.raises(CompactedError):
        await anext(store.watch(prefix, start_revision=a.mod_revision))

    # At and after the compact revision everything still reads as before.
    assert await store.get(prefix + "a", revision=at) == a2
    assert await store.get(prefix + "b", revision=at) is None
    listed = await store.list(prefix, revision=at)
    assert listed.kvs == [a2]
    assert (await store.list(prefix)).kvs == [a2, c]
    # Events after the compact revision still carry a prev_kv from below it. (Events AT the
    # compact revision differ: etcd drops a tombstone there and a put's prev_kv, SQLite keeps
    # both; see docs/adr/0001-storage-backends.md.)
    a3 = await store.update(prefix + "a", b"3", expected_mod_revision=a2.mod_revision)
    events = await collect(store.watch(prefix, start_revision=at + 1), 2)
    assert events == [
        WatchEvent(EventType.PUT, c, None),
        WatchEvent(EventType.PUT, a3, a2),
    ]


async def test_compacting_a_future_revision_fails(store: Store, prefix: str) -> None:
    kv = await store.create(prefix + "a", b"1")
    with pytest.raises(FutureRevisionError):
        await store.compact(kv.mod_revision + 10)


# -- concurrency --------------------------------------------------------------------------


async def test_concurrent_creates_get_distinct_revisions(store: Store, prefix: str) -> None:
    start = await store.current_revision()
    kvs = await asyncio.gather(
        *(store.create(f"{prefix}{i:03d}", str(i).encode()) for i in range(200))
    )
    revisions = sorted(kv.mod_revision for kv in kvs)
    assert revisions == list(range(start + 1, start + 201))
    listed = await store.list(prefix)
    assert listed.count == 200
    assert {kv.key: kv.value for kv in listed.kvs} == {
        f"{prefix}{i:03d}": str(i).encode() for i in range(200)
    }


async def test_cas_increments_under_contention_lose_nothing(store: Store, prefix: str) -> None:
    key = prefix + "counter"
    await store.create(key, b"0")
    tasks, rounds = 16, 10
    conflicts = 0

    async def increment() -> None:
        nonlocal conflicts
        for _ in range(rounds):
            while True:
                current = await store.get(key)
                assert current is not None
                try:
                    await store.update(
                        key,
                        str(int(current.value) + 1).encode(),
                        expected_mod_revision=current.mod_revision,
                    )
                    break
                except RevisionMismatchError:
                    conflicts += 1

    await asyncio.gather(*(increment() for _ in range(tasks)))
    final = await store.get(key)
    assert final is not None
    assert int(final.value) == tasks * rounds
    assert conflicts > 0  # the test really raced
