"""ResourceQuota under concurrent creates: parallel requests can never together exceed a
quota (admission charges the quota with a compare-and-swap on its status), the reported
usage stays right, and deleting an object frees its share."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from kubesmith.client import ApiError, Client
from kubesmith.client.rest import CONFIGMAPS, PODS, Resource
from tests.conftest import namespace_manifest, namespace_name

pytestmark = pytest.mark.integration

PARALLEL = 20


def _quota(name: str, hard: dict[str, str]) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "ResourceQuota",
                       "metadata": {"name": name}, "spec": {"hard": hard}})


def _body(resource: Resource, name: str) -> dict[str, Any]:
    if resource is PODS:
        return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
            "data": {"k": "v"}}


async def _create_in_parallel(client: Client, resource: Resource, namespace: str,
                              prefix: str) -> tuple[list[str], list[ApiError]]:
    results = await asyncio.gather(*(
        client.create(resource, _body(resource, f"{prefix}-{i}"), namespace)
        for i in range(PARALLEL)), return_exceptions=True)
    created = [r["metadata"]["name"] for r in results if isinstance(r, dict)]
    refused = [r for r in results if isinstance(r, ApiError)]
    assert len(created) + len(refused) == PARALLEL, results
    return created, refused


def _used(server: Any, namespace: str, name: str) -> dict[str, str]:
    quota = json.loads(server.kubectl("get", "resourcequota", name, "-n", namespace,
                                      "-o", "json").stdout)
    used: dict[str, str] = (quota.get("status") or {}).get("used") or {}
    return used


@pytest.fixture
def namespace(api_server: Any, request: pytest.FixtureRequest) -> Any:
    name = namespace_name(request.node.name)
    api_server.kubectl("create", "-f", "-", input=namespace_manifest(name))
    yield name
    api_server.kubectl("delete", "namespace", name, "--wait=false")


@pytest.mark.parametrize(("resource", "quota", "hard", "limit", "message"), [
    (PODS, "pods-q", {"pods": "3"}, 3,
     "exceeded quota: pods-q, requested: pods=1, used: pods=3, limited: pods=3"),
    (CONFIGMAPS, "cm-q", {"count/configmaps": "5"}, 5,
     "exceeded quota: cm-q, requested: count/configmaps=1, used: count/configmaps=5, "
     "limited: count/configmaps=5"),
], ids=["pods", "configmaps"])
async def test_parallel_creates_never_exceed(api_server: Any, namespace: str,
                                             resource: Resource, quota: str,
                                             hard: dict[str, str], limit: int,
                                             message: str) -> None:
    api_server.kubectl("create", "-n", namespace, "-f", "-", input=_quota(quota, hard))
    async with Client.from_kubeconfig(str(api_server.kubeconfig)) as client:
        created, refused = await _create_in_parallel(client, resource, namespace, "a")
        assert len(created) == limit
        for error in refused:
            assert error.code == 403
            assert error.message.endswith(f" is forbidden: {message}"), error.message

        # The background recalculation never releases what the live objects use.
        key = next(iter(hard))
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            assert _used(api_server, namespace, quota) == {key: str(limit)}
            await asyncio.sleep(0.25)
        listed = await client.list(resource, namespace)
        assert len(listed.items) == limit

        # Deleting one frees exactly one slot (once the usage is recalculated).
        await client.delete(resource, created[0], namespace, grace_period_seconds=0)
        deadline = time.monotonic() + 15
        while True:
            more, _ = await _create_in_parallel(client, resource, namespace,
                                                f"b{int(time.monotonic() * 1000)}")
            if more or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        assert len(more) == 1
        assert len((await client.list(resource, namespace)).items) == limit
