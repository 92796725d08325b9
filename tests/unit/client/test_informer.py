"""Informer resync logic against a scripted fake client: 410 Expired and broken streams
trigger a re-list whose diff reaches the handlers; a normal watch end resumes from the last
resourceVersion (bookmarks included) without a re-list."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, cast

import aiohttp
import pytest

from kubesmith.client.informer import Informer, object_key
from kubesmith.client.rest import CONFIGMAPS, NODES, ApiError, Client, ListResult, Resource, _event


def cm(name: str, rv: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns", "resourceVersion": rv}}


class FakeClient:
    """Scripted LIST results and WATCH streams (an exception ends a stream with it)."""

    def __init__(self, lists: list[list[dict[str, Any]]],
                 watches: list[list[tuple[str, dict[str, Any]] | BaseException]]) -> None:
        self.lists = lists
        self.watches = watches
        self.watch_versions: list[str | None] = []
        self.list_calls = 0

    async def list(self, resource: Resource, namespace: str | None = None,
                   **kwargs: Any) -> ListResult:
        items = self.lists[min(self.list_calls, len(self.lists) - 1)]
        self.list_calls += 1
        return ListResult(items, str(10 * self.list_calls), None)

    async def watch(self, resource: Resource, namespace: str | None = None, *,
                    resource_version: str | None = None,
                    **kwargs: Any) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        self.watch_versions.append(resource_version)
        if not self.watches:
            await asyncio.sleep(3600)
        for step in self.watches.pop(0):
            if isinstance(step, BaseException):
                raise step
            yield step


def recorder(informer: Informer) -> list[str]:
    log: list[str] = []
    informer.add_handlers(
        on_add=lambda o: log.append(f"add {o['metadata']['name']}"),
        on_update=lambda old, new: log.append(f"update {new['metadata']['name']}"),
        on_delete=lambda o: log.append(f"delete {o['metadata']['name']}"))
    return log


async def run_until(informer: Informer, fake: FakeClient, watches: int) -> None:
    informer.start()
    for _ in range(5000):
        if len(fake.watch_versions) >= watches:
            break
        await asyncio.sleep(0.001)
    await informer.stop()
    assert len(fake.watch_versions) >= watches


@pytest.mark.parametrize("failure", [
    pytest.param(ApiError(410, "Expired", "too old resource version"), id="410-expired"),
    pytest.param(aiohttp.ClientPayloadError("connection reset"), id="broken-stream"),
    pytest.param(ApiError(500, "InternalError", "boom"), id="other-api-error"),
])
async def test_failure_relists_and_diffs(failure: BaseException) -> None:
    fake = FakeClient(
        lists=[[cm("a", "1"), cm("b", "2")], [cm("b", "5"), cm("c", "6")]],
        watches=[[("MODIFIED", cm("a", "3")), failure]])
    informer = Informer(cast(Client, fake), CONFIGMAPS, "ns", backoff_base=0.001)
    log = recorder(informer)
    await run_until(informer, fake, watches=2)
    assert log == ["add a", "add b", "update a", "update b", "add c", "delete a"]
    assert fake.list_calls == 2
    assert fake.watch_versions == ["10", "20"]
    assert sorted(informer.keys()) == ["ns/b", "ns/c"]


async def test_normal_end_resumes_from_last_version_without_relist() -> None:
    fake = FakeClient(lists=[[cm("a", "1")]],
                      watches=[[("ADDED", cm("b", "11")), ("BOOKMARK", cm("", "15"))],
                               [("DELETED", cm("a", "16"))]])
    informer = Informer(cast(Client, fake), CONFIGMAPS, "ns")
    log = recorder(informer)
    await run_until(informer, fake, watches=3)
    assert fake.list_calls == 1
    assert fake.watch_versions == ["10", "15", "16"]
    assert log == ["add a", "add b", "delete a"]
    assert informer.has_synced


async def test_handler_errors_do_not_stop_the_informer() -> None:
    fake = FakeClient(lists=[[cm("a", "1")]], watches=[[("ADDED", cm("b", "2"))]])
    informer = Informer(cast(Client, fake), CONFIGMAPS, "ns")
    seen: list[str] = []

    async def bad(obj: dict[str, Any]) -> None:
        seen.append(obj["metadata"]["name"])
        raise RuntimeError("handler bug")

    informer.add_handlers(on_add=bad)
    await run_until(informer, fake, watches=2)
    assert seen == ["a", "b"]


def test_object_key() -> None:
    assert object_key(cm("a", "1")) == "ns/a"
    assert object_key({"metadata": {"name": "node-1"}}) == "node-1"


def test_error_event_raises_api_error() -> None:
    line = (b'{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","status":"Failure",'
            b'"message":"too old resource version: 1 (5)","reason":"Expired","code":410}}')
    with pytest.raises(ApiError) as info:
        _event(line)
    assert (info.value.code, info.value.reason) == (410, "Expired")
    assert _event(b'{"type":"ADDED","object":{"kind":"Node"}}') == ("ADDED", {"kind": "Node"})


def test_resource_paths() -> None:
    assert CONFIGMAPS.path("ns", "x") == "/api/v1/namespaces/ns/configmaps/x"
    assert CONFIGMAPS.path() == "/api/v1/configmaps"
    assert NODES.path(None, "n", "status") == "/api/v1/nodes/n/status"
    deploy = Resource("apps", "v1", "deployments")
    assert deploy.path("ns") == "/apis/apps/v1/namespaces/ns/deployments"
    with pytest.raises(ValueError, match="cluster-scoped"):
        NODES.path("ns")
