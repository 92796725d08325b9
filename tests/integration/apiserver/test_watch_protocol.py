"""The watch protocol on the wire: initial events, the initial-events-end bookmark, live
events in order, many watchers sharing one change, resuming from a resourceVersion."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

pytestmark = pytest.mark.integration



async def _lines(resp: aiohttp.ClientResponse, count: int) -> list[dict[str, Any]]:
    out = []
    while len(out) < count:
        line = await asyncio.wait_for(resp.content.readline(), 10)
        assert line, "stream ended early"
        out.append(json.loads(line))
    return out


async def test_initial_events_bookmark_and_live_events(api_server: Any,
                                                       tmp_path: Path) -> None:
    ctx = api_server.admin_ssl_context(tmp_path)
    base = f"{api_server.url}/api/v1/namespaces/default/configmaps"
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as http:
        for name in ("a", "b"):
            body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}}
            async with http.post(base, json=body) as resp:
                assert resp.status == 201
        params = {"watch": "true", "sendInitialEvents": "true", "allowWatchBookmarks": "true",
                  "resourceVersionMatch": "NotOlderThan", "resourceVersion": ""}
        async with http.get(base, params=params) as stream:
            assert stream.status == 200
            first = await _lines(stream, 3)
            assert [(e["type"], e["object"]["metadata"].get("name")) for e in first[:2]] == \
                [("ADDED", "a"), ("ADDED", "b")]
            assert first[2]["type"] == "BOOKMARK"
            assert first[2]["object"]["metadata"]["annotations"] == {
                "k8s.io/initial-events-end": "true"}
            async with http.delete(f"{base}/a") as resp:
                assert resp.status == 200
            live = await _lines(stream, 1)
            assert live[0]["type"] == "DELETED"
            assert live[0]["object"]["metadata"]["name"] == "a"
            deleted_rv = live[0]["object"]["metadata"]["resourceVersion"]

        # Resume after the first create: everything after it replays, in order.
        a_rv = first[0]["object"]["metadata"]["resourceVersion"]
        async with http.get(base, params={"watch": "true", "resourceVersion": a_rv}) as stream:
            replay = await _lines(stream, 2)
        assert [(e["type"], e["object"]["metadata"]["name"]) for e in replay] == \
            [("ADDED", "b"), ("DELETED", "a")]
        assert replay[1]["object"]["metadata"]["resourceVersion"] == deleted_rv


async def test_many_watchers_see_every_change(api_server: Any, tmp_path: Path) -> None:
    ctx = api_server.admin_ssl_context(tmp_path)
    base = f"{api_server.url}/api/v1/namespaces/kube-public/configmaps"
    connector = aiohttp.TCPConnector(ssl=ctx, limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        async with http.get(base) as resp:
            rv = (await resp.json())["metadata"]["resourceVersion"]
        streams = [await http.get(base, params={"watch": "true", "resourceVersion": rv})
                   for _ in range(50)]
        try:
            for i in range(5):
                body = {"apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"name": f"m{i}"}, "data": {"i": str(i)}}
                async with http.post(base, json=body) as resp:
                    assert resp.status == 201
            for stream in streams:
                events = await _lines(stream, 5)
                assert [e["object"]["metadata"]["name"] for e in events] == \
                    [f"m{i}" for i in range(5)]
        finally:
            for stream in streams:
                stream.close()
