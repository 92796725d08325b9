"""Bad input never causes a 500: every served resource and subresource, every verb, fed
malformed, mistyped, oversized and nonsensical requests, answers a 4xx Status."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

pytestmark = pytest.mark.integration

BODIES: list[tuple[str, bytes]] = [
    ("application/json", b""),
    ("application/json", b"{"),
    ("application/json", b"[]"),
    ("application/json", b"null"),
    ("application/json", b"{}"),
    ("application/json", b'{"metadata": 5}'),
    ("application/json", b'{"metadata": {"name": 5}}'),
    ("application/json", b'{"metadata": {"name": "x", "labels": ["a"]}, "spec": "s"}'),
    ("application/json", b'{"metadata": {"name": "x"}, "spec": {"replicas": "x"}, '
                         b'"status": [], "data": 1, "rules": {}}'),
    ("application/yaml", b"a: [b\n"),
    ("application/yaml", b"a: &a [*a, *a]\n"),
    ("application/vnd.kubernetes.protobuf", b"k8s\x00\x0a\x02\x0a\x00"),
    ("application/vnd.kubernetes.protobuf", b"garbage"),
    ("text/plain", b"hello"),
]
PATCHES: list[tuple[str, bytes]] = [
    ("application/json-patch+json", b'[{"op": "nope"}]'),
    ("application/json-patch+json", b'{"op": "add"}'),
    ("application/merge-patch+json", b"5"),
    ("application/strategic-merge-patch+json", b'{"spec": {"$patch": "bogus"}}'),
    ("application/apply-patch+yaml", b"- a\n"),
    ("application/apply-patch+yaml", b'{"apiVersion": "v9", "kind": "Nope"}'),
]



async def test_no_request_causes_a_500(api_server: Any, tmp_path: Path) -> None:
    ctx = api_server.admin_ssl_context(tmp_path)
    failures: list[str] = []
    checked = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as http:
        async with http.get(f"{api_server.url}/apis") as resp:
            groups = (await resp.json())["groups"]
        paths = ["/api/v1"] + [f"/apis/{v['groupVersion']}" for g in groups
                               for v in g["versions"]]
        targets: list[str] = []
        for gv in paths:
            async with http.get(api_server.url + gv) as resp:
                resources = (await resp.json())["resources"]
            for res in resources:
                name, _, sub = res["name"].partition("/")
                base = f"{gv}/namespaces/default/{name}" if res["namespaced"] else \
                    f"{gv}/{name}"
                targets.append(f"{base}/x/{sub}" if sub else base)
                if not sub:
                    targets.append(f"{base}/x")

        async def check(method: str, url: str, ctype: str, body: bytes) -> None:
            nonlocal checked
            checked += 1
            async with http.request(method, api_server.url + url, data=body,
                                    headers={"Content-Type": ctype}) as resp:
                text = await resp.text()
                # A proxy to a node whose agent cannot be reached answers 503: the body
                # was never looked at, the node is unavailable (not a server fault).
                unreachable = url.split("?")[0].endswith("/proxy") and resp.status == 503 and \
                    json.loads(text).get("reason") == "ServiceUnavailable"
                if resp.status >= 500 and not unreachable:
                    failures.append(f"{method} {url} [{ctype}] {body[:40]!r} -> "
                                    f"{resp.status} {text[:200]}")
                elif resp.status >= 400:
                    status = json.loads(text)
                    assert status["kind"] == "Status", (method, url, text)

        queries = itertools.cycle(("?labelSelector=a%20in%20(", "?fieldSelector=x=y",
                                   "?limit=abc", "?continue=zzz", "?resourceVersion=-1",
                                   "?watch=true&resourceVersion=abc", "?timeoutSeconds=x"))
        for url in targets:
            for ctype, body in BODIES:
                await check("POST", url, ctype, body)
            # PUT and PATCH share the body decoding with POST; a few bodies each reach
            # their own code paths (missing objects, patch engines).
            for ctype, body in BODIES[4:9]:
                await check("PUT", url, ctype, body)
            for ctype, body in itertools.chain(PATCHES, BODIES[:2]):
                await check("PATCH", url, ctype, body)
            await check("DELETE", url, "application/json", b'{"gracePeriodSeconds": "x"}')
            await check("GET", url + next(queries), "application/json", b"")
        big = (b'{"metadata": {"name": "big"}, "data": {"a": "' + b"x" * (3 * 1024 * 1024)
               + b'"}}')
        await check("POST", "/api/v1/namespaces/default/configmaps", "application/json", big)
    assert checked > 1000
    assert not failures, "\n".join(failures[:30])
