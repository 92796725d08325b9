"""The worker's loop: wakes, resyncs, and a deletion interrupting a slow setup."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from kubesmith.agent.images.credentials import RegistryAuth
from kubesmith.agent.images.model import ImageInfo
from tests.unit.agent.pods.builders import make_pod
from tests.unit.agent.pods.fakes import FakeImages, Harness


class SlowImages(FakeImages):
    def __init__(self) -> None:
        super().__init__()
        self.pulling = asyncio.Event()

    async def pull(self, name: str, credentials: Sequence[RegistryAuth] = ()) -> ImageInfo:
        self.pulling.set()
        await asyncio.sleep(3600)
        raise AssertionError("not reached")


async def test_deletion_interrupts_an_image_pull(tmp_path: Path) -> None:
    h = Harness(tmp_path, make_pod())
    images = SlowImages()
    h.parts.images = images
    h.worker.start()
    h.worker.wake()
    async with asyncio.timeout(5):
        await images.pulling.wait()
    h.api.update(deletionTimestamp="2030-01-01T00:00:00Z", deletionGracePeriodSeconds=30)
    assert h.api.pod is not None
    h.worker.pod_changed(h.api.pod)
    async with asyncio.timeout(5):
        await h.worker.done.wait()
    assert h.api.deleted
    assert h.runtime.sandboxes == {} and h.cni.deleted == ["sandbox1"]


async def test_a_failing_sync_is_retried(tmp_path: Path) -> None:
    h = Harness(tmp_path, make_pod())
    calls = 0
    real = h.worker.sync
    running = asyncio.Event()

    async def flaky() -> bool:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OSError("disk hiccup")
        finished = await real()
        if h.api.pod is not None and h.api.pod["status"].get("phase") == "Running":
            running.set()
        return finished

    h.worker.sync = flaky  # type: ignore[method-assign]
    h.worker.start()
    h.worker.wake()
    async with asyncio.timeout(5):
        await running.wait()
    assert calls >= 2
    await h.worker.stop()
    assert h.runtime.containers      # stopping the worker leaves containers running
