"""Fixtures for the node agent's Node tests: an admin client, a unique node name whose Node
and Lease are deleted afterwards, and polling with a deadline."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import pytest

from kubesmith.client import ApiError, Client
from kubesmith.client.rest import LEASES, NODES
from tests.support.polling import eventually as shared_eventually

T = TypeVar("T")
Eventually = Callable[..., Awaitable[Any]]


@pytest.fixture
def eventually() -> Eventually:
    return shared_eventually


@pytest.fixture
async def admin(api_server: Any) -> AsyncIterator[Client]:
    client = Client.from_kubeconfig(str(api_server.kubeconfig))
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def node_name(admin: Client) -> AsyncIterator[str]:
    """A fresh node name; its Node and Lease are deleted after the test."""
    name = f"agent-{secrets.token_hex(3)}"
    try:
        yield name
    finally:
        for resource, namespace in ((LEASES, "kube-node-lease"), (NODES, None)):
            with contextlib.suppress(ApiError):
                await admin.delete(resource, name, namespace)
