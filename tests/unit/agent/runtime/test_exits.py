"""The exit watcher wakes waiters and subscribers when conmon's exit file appears."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from kubesmith.agent.runtime import exits
from kubesmith.agent.runtime.exits import ExitWatcher


def write_like_conmon(directory: Path, name: str, code: str) -> None:
    # g_file_set_contents: a temporary sibling, then a rename.
    tmp = directory / f"{name}.AB12CD"
    tmp.write_text(code)
    os.replace(tmp, directory / name)


async def test_wait_and_subscribe(tmp_path: Path) -> None:
    watcher = ExitWatcher(tmp_path / "exits")
    queue = watcher.subscribe()
    try:
        waiter = asyncio.create_task(watcher.wait("abc", timeout=10))
        await asyncio.sleep(0.05)
        assert not waiter.done()
        write_like_conmon(tmp_path / "exits", "abc", "0")
        assert await waiter is True
        assert await asyncio.wait_for(queue.get(), 5) == "abc"
        assert queue.empty()    # the temporary file's events are not reported
        assert await watcher.wait("abc", timeout=0.1) is True   # already exited
        assert await watcher.wait("other", timeout=0.1) is False
    finally:
        watcher.close()


async def test_polling_fallback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(exits, "POLL_INTERVAL", 0.05)
    monkeypatch.setattr(exits._libc, "inotify_init1", lambda flags: -1)
    watcher = ExitWatcher(tmp_path / "exits")
    queue = watcher.subscribe()
    try:
        assert watcher._poller is not None
        write_like_conmon(tmp_path / "exits", "def", "1")
        assert await asyncio.wait_for(queue.get(), 5) == "def"
        assert await watcher.wait("def", timeout=1) is True
    finally:
        watcher.close()
