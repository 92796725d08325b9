"""kubesmith.client against a real API server: CRUD and Status errors, watch, informers
(initial sync, following changes, recovering when the server ends the watch).

Every test uses its own namespace on the module's one server.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kubesmith.client import ApiError, Client, Informer
from kubesmith.client.rest import CONFIGMAPS
from tests.integration.client.conftest import configmap, until

pytestmark = pytest.mark.integration


async def test_configmap_crud(client: Client, ns: str) -> None:
    created = await client.create(CONFIGMAPS, configmap("cm", ns, a="1"))
    assert created["metadata"]["uid"]
    got = await client.get(CONFIGMAPS, "cm", ns)
    assert got["data"] == {"a": "1"}

    page = await client.list(CONFIGMAPS, ns)
    assert [i["metadata"]["name"] for i in page.items] == ["cm"]
    assert page.resource_version

    patched = await client.patch(CONFIGMAPS, "cm", {"data": {"b": "2"}}, ns)
    assert patched["data"] == {"a": "1", "b": "2"}
    patched = await client.patch(CONFIGMAPS, "cm",
                                 [{"op": "replace", "path": "/data/a", "value": "x"}], ns,
                                 patch_type="json")
    assert patched["data"]["a"] == "x"

    patched["data"] = {"c": "3"}
    replaced = await client.replace(CONFIGMAPS, patched)
    assert replaced["data"] == {"c": "3"}

    await client.delete(CONFIGMAPS, "cm", ns)
    with pytest.raises(ApiError) as info:
        await client.get(CONFIGMAPS, "cm", ns)
    assert info.value.code == 404


async def test_list_all_follows_continue(client: Client, ns: str) -> None:
    for i in range(5):
        await client.create(CONFIGMAPS, configmap(f"cm-{i}", ns))
    first = await client.list(CONFIGMAPS, ns, limit=2)
    assert len(first.items) == 2
    assert first.continue_
    names = [o["metadata"]["name"] async for o in client.list_all(CONFIGMAPS, ns, page_size=2)]
    assert names == [f"cm-{i}" for i in range(5)]


async def test_api_errors_carry_status(client: Client, ns: str) -> None:
    with pytest.raises(ApiError) as info:
        await client.get(CONFIGMAPS, "missing", ns)
    assert (info.value.code, info.value.reason) == (404, "NotFound")
    assert info.value.status["kind"] == "Status"
    assert 'configmaps "missing" not found' in info.value.message

    await client.create(CONFIGMAPS, configmap("dup", ns))
    with pytest.raises(ApiError) as info:
        await client.create(CONFIGMAPS, configmap("dup", ns))
    assert (info.value.code, info.value.reason) == (409, "AlreadyExists")

    stale = await client.get(CONFIGMAPS, "dup", ns)
    await client.patch(CONFIGMAPS, "dup", {"data": {"x": "1"}}, ns)
    with pytest.raises(ApiError) as info:
        await client.replace(CONFIGMAPS, stale)
    assert (info.value.code, info.value.reason) == (409, "Conflict")


async def test_watch_sees_added_modified_deleted(client: Client, ns: str) -> None:
    start = (await client.list(CONFIGMAPS, ns)).resource_version
    events: list[tuple[str, str]] = []

    async def consume() -> None:
        async for kind, obj in client.watch(CONFIGMAPS, ns, resource_version=start,
                                            timeout_seconds=30):
            if kind == "BOOKMARK":
                continue
            events.append((kind, obj["metadata"]["name"]))
            if kind == "DELETED":
                return

    task = asyncio.create_task(consume())
    await client.create(CONFIGMAPS, configmap("w", ns))
    await client.patch(CONFIGMAPS, "w", {"data": {"k": "v"}}, ns)
    await client.delete(CONFIGMAPS, "w", ns)
    await asyncio.wait_for(task, 15)
    assert events == [("ADDED", "w"), ("MODIFIED", "w"), ("DELETED", "w")]


async def test_watch_rejected_request_raises(client: Client, ns: str) -> None:
    async def drain() -> None:
        async for _ in client.watch(CONFIGMAPS, ns, label_selector="a in (",
                                    timeout_seconds=5):
            pass

    with pytest.raises(ApiError) as info:
        await asyncio.wait_for(drain(), 10)
    assert info.value.code == 400


async def test_informer_syncs_and_follows_changes(client: Client, ns: str) -> None:
    await client.create(CONFIGMAPS, configmap("pre", ns, v="0"))
    informer = Informer(client, CONFIGMAPS, ns)
    added: list[str] = []
    updated: list[str] = []
    deleted: list[str] = []

    async def on_update(old: dict[str, Any], new: dict[str, Any]) -> None:
        updated.append(f"{old['data']['v']}->{new['data']['v']}")

    informer.add_handlers(on_add=lambda o: added.append(o["metadata"]["name"]),
                          on_update=on_update,
                          on_delete=lambda o: deleted.append(o["metadata"]["name"]))
    informer.start()
    try:
        async with asyncio.timeout(10):
            await informer.wait_synced()
        assert informer.has_synced
        assert added == ["pre"]
        assert informer.get(f"{ns}/pre") is not None

        await client.create(CONFIGMAPS, configmap("new", ns, v="1"))
        await client.patch(CONFIGMAPS, "pre", {"data": {"v": "2"}}, ns)
        await client.delete(CONFIGMAPS, "new", ns)
        await until(lambda: deleted == ["new"])
        assert added == ["pre", "new"]
        assert updated == ["0->2"]
        assert [o["metadata"]["name"] for o in informer.list()] == ["pre"]
        assert informer.get(f"{ns}/new") is None
        assert informer.list_count == 1
    finally:
        await informer.stop()


async def test_informer_resumes_after_server_ends_the_watch(client: Client, ns: str) -> None:
    informer = Informer(client, CONFIGMAPS, ns, watch_timeout_seconds=1)
    seen: list[str] = []
    informer.add_handlers(on_add=lambda o: seen.append(o["metadata"]["name"]))
    informer.start()
    try:
        async with asyncio.timeout(10):
            await informer.wait_synced()
        await asyncio.sleep(2.5)  # the server has closed the watch at least twice
        await client.create(CONFIGMAPS, configmap("after", ns))
        await until(lambda: seen == ["after"])
        assert informer.get(f"{ns}/after") is not None
        assert informer.list_count == 1  # resumed from its resourceVersion, no re-list
    finally:
        await informer.stop()


async def test_informer_restart_relists_and_diffs_its_store(client: Client, ns: str) -> None:
    await client.create(CONFIGMAPS, configmap("a", ns))
    informer = Informer(client, CONFIGMAPS, ns, backoff_base=0.01)
    deleted: list[str] = []
    added: list[str] = []
    informer.add_handlers(on_add=lambda o: added.append(o["metadata"]["name"]),
                          on_delete=lambda o: deleted.append(o["metadata"]["name"]))
    informer.start()
    try:
        async with asyncio.timeout(10):
            await informer.wait_synced()
        await informer.stop()
        # While stopped: one object goes away, one appears; the restarted informer's
        # re-list must diff against its store and report both.
        await client.delete(CONFIGMAPS, "a", ns)
        await client.create(CONFIGMAPS, configmap("b", ns))
        informer.start()
        await until(lambda: deleted == ["a"] and "b" in added)
        assert informer.keys() == [f"{ns}/b"]
        assert informer.list_count >= 2
    finally:
        await informer.stop()
