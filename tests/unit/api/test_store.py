"""The generic store and watch cache over a real SQLite datastore."""

from __future__ import annotations

import asyncio

import pytest

from kubesmith.api.errors import StatusError
from kubesmith.api.resources import Resources
from kubesmith.api.store import DeleteOptions, ListOptions, ResourceStore

pytestmark = pytest.mark.asyncio




def _cm(name: str, **data: str) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
            "data": dict(data)}


def _configmaps(res: Resources) -> ResourceStore:
    rs = res.for_kind("", "ConfigMap")
    assert rs is not None
    return rs


async def test_create_get_and_conflicting_create(resources: Resources) -> None:
    rs = _configmaps(resources)
    created = await rs.create("default", _cm("a", k="v"))
    meta = created["metadata"]
    assert meta["namespace"] == "default"
    assert meta["uid"] and meta["creationTimestamp"].endswith("Z")
    got = await rs.get("default", "a")
    assert got.obj["data"] == {"k": "v"}
    assert got.obj["metadata"]["resourceVersion"] == meta["resourceVersion"]
    with pytest.raises(StatusError) as exc:
        await rs.create("default", _cm("a"))
    assert (exc.value.code, exc.value.reason) == (409, "AlreadyExists")
    assert exc.value.message == 'configmaps "a" already exists'


async def test_generate_name(resources: Resources) -> None:
    rs = _configmaps(resources)
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "web-"}}
    created = await rs.create("default", obj)
    name = created["metadata"]["name"]
    assert name.startswith("web-") and len(name) == len("web-") + 5


async def test_stale_update_conflicts_and_noop_keeps_revision(resources: Resources) -> None:
    rs = _configmaps(resources)
    created = await rs.create("default", _cm("a", k="1"))
    rv1 = created["metadata"]["resourceVersion"]

    def set_k(value: str, rv: str | None) -> object:
        def transform(cur: dict[str, object] | None) -> dict[str, object]:
            assert cur is not None
            cur["data"] = {"k": value}
            if rv is not None:
                cur["metadata"]["resourceVersion"] = rv  # type: ignore[index]
            return cur
        return transform

    updated, _ = await rs.update("default", "a", set_k("2", rv1), retry_on_conflict=False)
    rv2 = updated["metadata"]["resourceVersion"]
    assert int(rv2) > int(rv1)
    with pytest.raises(StatusError) as exc:
        await rs.update("default", "a", set_k("3", rv1), retry_on_conflict=False)
    assert exc.value.code == 409 and exc.value.reason == "Conflict"
    assert "the object has been modified" in exc.value.message
    same, _ = await rs.update("default", "a", set_k("2", None))
    assert same["metadata"]["resourceVersion"] == rv2


async def test_list_pages_are_one_consistent_snapshot(resources: Resources) -> None:
    rs = _configmaps(resources)
    for i in range(25):
        await rs.create("default", _cm(f"cm-{i:02d}"))
    first = await rs.list(ListOptions(namespace="default", limit=10))
    assert [c.name for c in first.items] == [f"cm-{i:02d}" for i in range(10)]
    assert first.remaining == 15 and first.continue_token
    # A write between pages must not show up in the continued list (it is at page 1's rv).
    await rs.create("default", _cm("cm-05x"))
    await rs.delete("default", "cm-20")
    second = await rs.list(ListOptions(namespace="default", limit=10,
                                       continue_token=first.continue_token))
    assert [c.name for c in second.items] == [f"cm-{i:02d}" for i in range(10, 20)]
    assert second.resource_version == first.resource_version
    third = await rs.list(ListOptions(namespace="default", limit=10,
                                      continue_token=second.continue_token))
    assert [c.name for c in third.items] == [f"cm-{i:02d}" for i in range(20, 25)]
    assert not third.continue_token
    with pytest.raises(StatusError) as exc:
        await rs.list(ListOptions(continue_token="not-a-token"))
    assert exc.value.code == 400


async def test_watch_replays_from_revision_and_filters(resources: Resources) -> None:
    rs = _configmaps(resources)
    a = await rs.create("default", _cm("a"))
    start = a["metadata"]["resourceVersion"]
    await rs.create("default", _cm("b"))
    await rs.delete("default", "a")
    w = rs.watch("default", None, start)
    events = [await asyncio.wait_for(w.queue.get(), 2) for _ in range(2)]
    assert [(e.type, e.obj.name) for e in events if e] == [("ADDED", "b"), ("DELETED", "a")]
    rs.cache.unwatch(w)

    # Label-filtered watch: an object leaving the selector is seen as DELETED.
    labelled = rs.watch("default", lambda c: c.labels.get("app") == "x", None)
    obj = _cm("c")
    obj["metadata"]["labels"] = {"app": "x"}  # type: ignore[index]
    await rs.create("default", obj)

    def unlabel(cur: dict[str, object] | None) -> dict[str, object]:
        assert cur is not None
        cur["metadata"]["labels"] = {}  # type: ignore[index]
        return cur

    await rs.update("default", "c", unlabel)
    got = [await asyncio.wait_for(labelled.queue.get(), 2) for _ in range(2)]
    assert [(e.type, e.obj.name) for e in got if e] == [("ADDED", "c"), ("DELETED", "c")]


async def test_watch_too_old_is_410(resources: Resources) -> None:
    rs = _configmaps(resources)
    rs.cache.history_size = 3
    first = await rs.create("default", _cm("a"))
    for i in range(6):
        await rs.create("default", _cm(f"x{i}"))
    await rs.cache.wait_consistent()
    with pytest.raises(StatusError) as exc:
        rs.watch("default", None, first["metadata"]["resourceVersion"])
    assert exc.value.code == 410 and exc.value.reason == "Expired"


async def test_finalizers_hold_deletion(resources: Resources) -> None:
    rs = _configmaps(resources)
    obj = _cm("held")
    obj["metadata"]["finalizers"] = ["example.com/hold"]  # type: ignore[index]
    await rs.create("default", obj)
    result = await rs.delete("default", "held", DeleteOptions())
    assert not result.deleted
    assert result.obj["metadata"]["deletionTimestamp"]
    still = await rs.get("default", "held")
    assert still.obj["metadata"]["finalizers"] == ["example.com/hold"]

    def drop(cur: dict[str, object] | None) -> dict[str, object]:
        assert cur is not None
        cur["metadata"]["finalizers"] = []  # type: ignore[index]
        return cur

    await rs.update("default", "held", drop)
    with pytest.raises(StatusError) as exc:
        await rs.get("default", "held")
    assert exc.value.code == 404


async def test_namespace_delete_goes_terminating(resources: Resources) -> None:
    ns = resources.for_kind("", "Namespace")
    assert ns is not None
    await ns.create(None, {"apiVersion": "v1", "kind": "Namespace",
                           "metadata": {"name": "shop"}})
    result = await ns.delete(None, "shop")
    assert not result.deleted
    got = await ns.get(None, "shop")
    assert got.obj["status"]["phase"] == "Terminating"
    assert got.obj["spec"]["finalizers"] == ["kubernetes"]

