"""Running chosen controllers against a real API server from inside a test."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from kubesmith.controllers.base import ControllerOptions
from kubesmith.controllers.manager import ControllerManager, ManagerConfig
from tests.conftest import RunningServer


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


@pytest.fixture
def controllers() -> Callable[..., Any]:
    """``async with controllers(server, "name", ...):`` runs those controllers."""
    return running_controllers
