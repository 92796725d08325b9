"""Running chosen controllers against a real API server from inside a test, and the
fixtures most controller test modules share (the server, an admin client, a namespace)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from kubesmith.client import Client, Resource
from kubesmith.client.rest import NAMESPACES
from kubesmith.controllers import manager as controller_manager
from kubesmith.controllers.base import ControllerOptions
from kubesmith.controllers.manager import ControllerManager, ManagerConfig
from tests.conftest import RunningServer, namespace_name
from tests.integration.controllers.helpers import (
    delete_namespace_with,
    drop_namespace,
    make_namespace,
)


@asynccontextmanager
async def running_controllers(server: RunningServer, *names: str,
                              options: ControllerOptions | None = None
                              ) -> AsyncIterator[ControllerManager]:
    """Run ``names`` in a controller manager (no leader election) with the
    controller-manager identity of ``server`` until the block ends."""
    manager = ControllerManager(ManagerConfig(
        kubeconfig=str(server.data_dir / "controller-manager.kubeconfig"),
        controllers=list(names), options=options or ControllerOptions(),
        leader_elect=False))
    task = asyncio.create_task(manager.run())
    try:
        yield manager
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@asynccontextmanager
async def running_registered(server: RunningServer, monkeypatch: pytest.MonkeyPatch,
                             name: str, target: str,
                             options: ControllerOptions | None = None
                             ) -> AsyncIterator[ControllerManager]:
    """Register the controller ``target`` ("module:Class") as ``name`` for this test only
    (the lead registers controllers globally) and run it until the block ends."""
    monkeypatch.setitem(controller_manager.CONTROLLERS, name, target)
    async with running_controllers(server, name, options=options) as manager:
        yield manager


@asynccontextmanager
async def namespace_with_controller(server: RunningServer, request: pytest.FixtureRequest,
                                    monkeypatch: pytest.MonkeyPatch, name: str, target: str,
                                    *cleanup: Resource) -> AsyncIterator[tuple[Client, str]]:
    """An admin client and a fresh namespace (named after the test) with the controller
    ``target`` running as ``name``; afterwards the objects of the ``cleanup`` resources
    and the namespace are deleted."""
    namespace = namespace_name(request.node.name)
    async with Client.from_kubeconfig(str(server.kubeconfig)) as client:
        await client.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace",
                                         "metadata": {"name": namespace}})
        try:
            async with running_registered(server, monkeypatch, name, target):
                yield client, namespace
        finally:
            await delete_namespace_with(client, namespace, *cleanup)


@pytest.fixture
def controllers() -> Callable[..., Any]:
    """``async with controllers(server, "name", ...):`` runs those controllers."""
    return running_controllers


@pytest.fixture(scope="module")
def server(server_factory: Callable[..., RunningServer]) -> RunningServer:
    """An API server (one per module) running only the ServiceAccounts controller: the
    controllers under test run in the test itself, as the only instance."""
    return server_factory("--controllers", "serviceaccount-controller")


@pytest.fixture
async def admin(server: RunningServer) -> AsyncIterator[Client]:
    """A client with the admin credentials."""
    async with Client.from_kubeconfig(str(server.kubeconfig)) as client:
        yield client


@pytest.fixture
async def ns(admin: Client) -> AsyncIterator[str]:
    """A fresh namespace (with its default ServiceAccount), released by hand afterwards:
    no namespace controller runs to empty it."""
    name = f"test-{uuid.uuid4().hex[:8]}"
    await make_namespace(admin, name)
    try:
        yield name
    finally:
        await drop_namespace(admin, name)
