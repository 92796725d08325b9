"""The in-process watch hub: routing by prefix, the subscription cut, overflow."""

from __future__ import annotations

import asyncio

import pytest

from kubesmith.storage.fanout import WatchHub, WatchOverflowError
from kubesmith.storage.interface import EventType, KeyValue, StoreUnavailableError, WatchEvent


def put(key: str, revision: int) -> WatchEvent:
    return WatchEvent(EventType.PUT, KeyValue(key, b"v", revision, revision), None)


async def test_events_reach_only_matching_prefixes() -> None:
    hub = WatchHub(revision=1, capacity=100)
    pods = hub.subscribe("/registry/pods/")
    everything = hub.subscribe("")
    hub.publish([put("/registry/pods/a", 2), put("/registry/podsx", 3), put("/other", 4)])
    assert (await pods.next()).kv.key == "/registry/pods/a"
    assert [(await everything.next()).revision for _ in range(3)] == [2, 3, 4]
    assert hub.revision == 4


async def test_subscription_records_the_cut() -> None:
    hub = WatchHub(revision=10, capacity=100)
    hub.publish([put("/a", 11)])
    sub = hub.subscribe("/")
    assert sub.since == 11
    hub.publish([put("/a", 12)])
    assert (await sub.next()).revision == 12


async def test_next_waits_for_a_publish() -> None:
    hub = WatchHub(revision=1, capacity=10)
    sub = hub.subscribe("/")
    pending = asyncio.ensure_future(sub.next())
    await asyncio.sleep(0)
    assert not pending.done()
    hub.publish([put("/a", 2)])
    assert (await asyncio.wait_for(pending, 1)).revision == 2


async def test_overflow_drains_then_fails_and_unsubscribes() -> None:
    hub = WatchHub(revision=1, capacity=3)
    sub = hub.subscribe("/")
    hub.publish([put("/a", 2), put("/a", 3)])
    hub.publish([put("/a", 4), put("/a", 5)])  # would make 4 queued: overflow
    assert hub.watcher_count == 0
    assert [(await sub.next()).revision for _ in range(2)] == [2, 3]
    with pytest.raises(WatchOverflowError) as err:
        await sub.next()
    assert err.value.last_revision == 3
    assert "watch again from revision 4" in str(err.value)


async def test_close_fails_waiting_subscribers() -> None:
    hub = WatchHub(revision=1, capacity=3)
    sub = hub.subscribe("/")
    pending = asyncio.ensure_future(sub.next())
    await asyncio.sleep(0)
    hub.close(StoreUnavailableError("closed"))
    with pytest.raises(StoreUnavailableError):
        await pending
