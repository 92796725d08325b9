"""The controller toolkit against a real API server: shared informers with indexes, the
event recorder (aggregation, kubectl describe), leader election over a Lease (one leader,
take-over after release and after expiry, renewal failure stops the work)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import pytest

from kubesmith.client import Client
from kubesmith.client.events import EventRecorder
from kubesmith.client.factory import InformerFactory
from kubesmith.client.leaderelection import LeaderElector, LeadershipLost
from kubesmith.client.rest import CONFIGMAPS, LEASES
from tests.conftest import RunningServer
from tests.integration.client.conftest import configmap, until

pytestmark = pytest.mark.integration


def _color(obj: dict[str, Any]) -> list[str]:
    value = ((obj.get("metadata") or {}).get("labels") or {}).get("color")
    return [value] if value else []


async def test_shared_informer_index_follows_changes(client: Client, ns: str) -> None:
    factory = InformerFactory(client)
    informer = factory.informer(CONFIGMAPS)
    assert factory.informer(CONFIGMAPS) is informer
    red = configmap("red1", ns)
    red["metadata"]["labels"] = {"color": "red"}
    await client.create(CONFIGMAPS, red)
    informer.add_index("color", _color)
    factory.start()
    try:
        await asyncio.wait_for(factory.wait_synced(), 10)
        # An index added before the first list is filled by it.
        assert [o["metadata"]["name"] for o in informer.by_index("color", "red")
                if o["metadata"]["namespace"] == ns] == ["red1"]
        await client.patch(CONFIGMAPS, "red1", {"metadata": {"labels": {"color": "blue"}}},
                           ns)
        await until(lambda: any(o["metadata"]["name"] == "red1"
                                for o in informer.by_index("color", "blue")))
        assert not [o for o in informer.by_index("color", "red")
                    if o["metadata"]["namespace"] == ns]
        # An index added later covers what is already cached.
        informer.add_index("ns", lambda o: [o["metadata"]["namespace"]])
        assert informer.index_keys("ns", ns) == [f"{ns}/red1"]
        await client.delete(CONFIGMAPS, "red1", ns)
        await until(lambda: not informer.index_keys("ns", ns))
        assert not [o for o in informer.by_index("color", "blue")
                    if o["metadata"]["namespace"] == ns]
    finally:
        await factory.stop()


async def test_events_are_aggregated_and_described(api_server: RunningServer,
                                                   client: Client, ns: str) -> None:
    owner = await client.create(CONFIGMAPS, configmap("subject", ns))
    recorder = EventRecorder(client, "test-controller", "host-a")
    try:
        for _ in range(3):
            recorder.event(owner, "Warning", "FailedThing", "it failed: reason x")
        recorder.event(owner, "Normal", "DidThing", "did the thing")
        await asyncio.wait_for(recorder.flush(), 10)
    finally:
        await recorder.close()
    events = json.loads(api_server.kubectl("get", "events", "-n", ns, "-o", "json",
                                           "--field-selector",
                                           "involvedObject.name=subject").stdout)["items"]
    by_reason = {e["reason"]: e for e in events}
    assert set(by_reason) == {"FailedThing", "DidThing"}
    failed = by_reason["FailedThing"]
    assert failed["count"] == 3
    assert failed["type"] == "Warning"
    assert failed["source"] == {"component": "test-controller", "host": "host-a"}
    assert failed["involvedObject"]["uid"] == owner["metadata"]["uid"]
    described = api_server.kubectl("describe", "configmap", "subject", "-n", ns).stdout
    assert "FailedThing" in described and "it failed: reason x" in described
    assert "(x3 over" in described


async def _lead_until_cancelled(started: asyncio.Event) -> None:
    started.set()
    await asyncio.Event().wait()


async def test_one_leader_and_take_over_after_release(client: Client, ns: str) -> None:
    a = LeaderElector(client, name="tk-lease", identity="a", namespace=ns,
                      lease_duration=3, renew_deadline=2, retry_period=0.2)
    b = LeaderElector(client, name="tk-lease", identity="b", namespace=ns,
                      lease_duration=3, renew_deadline=2, retry_period=0.2)
    a_started, b_started = asyncio.Event(), asyncio.Event()
    task_a = asyncio.create_task(a.run(lambda: _lead_until_cancelled(a_started)))
    await asyncio.wait_for(a_started.wait(), 5)
    task_b = asyncio.create_task(b.run(lambda: _lead_until_cancelled(b_started)))
    try:
        await asyncio.sleep(1.0)
        assert not b_started.is_set(), "two leaders at once"
        lease = await client.get(LEASES, "tk-lease", ns)
        assert lease["spec"]["holderIdentity"] == "a"
        # a stops cleanly: it releases the Lease and b takes over well before the
        # lease duration would have expired.
        task_a.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task_a
        loop = asyncio.get_running_loop()
        released_at = loop.time()
        await asyncio.wait_for(b_started.wait(), 5)
        assert loop.time() - released_at < 2.5
        lease = await client.get(LEASES, "tk-lease", ns)
        assert lease["spec"]["holderIdentity"] == "b"
        assert lease["spec"]["leaseTransitions"] >= 1
    finally:
        for task in (task_a, task_b):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def test_expired_lease_is_taken_over(client: Client, ns: str) -> None:
    # A holder that vanished without releasing (a crashed process).
    await client.create(LEASES, {
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "tk-stale", "namespace": ns},
        "spec": {"holderIdentity": "crashed", "leaseDurationSeconds": 1,
                 "renewTime": "2026-01-01T00:00:00.000000Z"}})
    c = LeaderElector(client, name="tk-stale", identity="c", namespace=ns,
                      lease_duration=3, renew_deadline=2, retry_period=0.2)
    started = asyncio.Event()
    task = asyncio.create_task(c.run(lambda: _lead_until_cancelled(started)))
    try:
        # Not before the holder's duration has passed on our clock, but soon after.
        await asyncio.wait_for(started.wait(), 5)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_lost_lease_cancels_the_work(client: Client, ns: str) -> None:
    d = LeaderElector(client, name="tk-lost", identity="d", namespace=ns,
                      lease_duration=3, renew_deadline=1, retry_period=0.2)
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def work() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    task = asyncio.create_task(d.run(work))
    await asyncio.wait_for(started.wait(), 5)
    # Someone else grabs the Lease (e.g. after a network partition): renewals now
    # conflict, and after the renew deadline the work must stop.
    lease = await client.get(LEASES, "tk-lost", ns)
    lease["spec"]["holderIdentity"] = "intruder"
    lease["spec"]["leaseDurationSeconds"] = 3600
    await client.replace(LEASES, lease, ns)
    with pytest.raises(LeadershipLost):
        await asyncio.wait_for(task, 10)
    assert cancelled.is_set()
