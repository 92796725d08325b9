"""What the client's integration tests share: an admin client on the module's server, a
namespace per test, a ConfigMap builder and a poll helper."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kubesmith.client import Client
from kubesmith.client.rest import NAMESPACES
from tests.conftest import RunningServer, namespace_name


@pytest.fixture
async def client(api_server: RunningServer) -> AsyncIterator[Client]:
    async with Client.from_kubeconfig(str(api_server.kubeconfig)) as c:
        yield c


@pytest.fixture
async def ns(client: Client, request: pytest.FixtureRequest) -> str:
    name = namespace_name("client-" + request.node.name)
    await client.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace",
                                     "metadata": {"name": name}})
    return name


def configmap(name: str, ns: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": ns}, "data": data}


async def until(predicate: Any, seconds: float = 10) -> None:
    """Poll ``predicate`` every 20 ms until it holds (fail after ``seconds``)."""
    for _ in range(int(seconds / 0.02)):
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached in time")
