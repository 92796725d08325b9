"""Fixtures for running real containers with runc + conmon as root.

Every test gets its own agent paths under its tmp directory (so its own runc root, conmon
dirs and pinned namespaces) and a busybox root filesystem directory built from the host's
static busybox. Teardown removes every container, sandbox and pod cgroup the test made,
even when it failed, and then checks nothing is left.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from kubesmith.agent.paths import AgentPaths
from kubesmith.agent.runtime import ContainerSpec, Runtime, Sandbox
from kubesmith.agent.runtime.cgroups import cgroup_dirs
from kubesmith.agent.runtime.resources import pod_cgroup_candidates
from tests.unit.agent.runtime.helpers import FakeImage

BUSYBOX = shutil.which("busybox") or "/usr/bin/busybox"

needs_root_runtime = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("runc") or not shutil.which("conmon")
    or not os.path.exists(BUSYBOX),
    reason="needs root, runc, conmon and busybox")


def build_busybox_rootfs(root: Path) -> Path:
    """A minimal root filesystem: busybox, its applet links, passwd and group."""
    bin_dir = root / "bin"
    bin_dir.mkdir(parents=True)
    shutil.copy(BUSYBOX, bin_dir / "busybox")
    applets = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True,
                             check=True).stdout.split()
    for applet in applets:
        if applet != "busybox":
            (bin_dir / applet).symlink_to("busybox")
    for directory in ("etc", "tmp", "proc", "sys", "dev"):
        (root / directory).mkdir(exist_ok=True)
    (root / "tmp").chmod(0o1777)
    (root / "etc" / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/tmp:/bin/sh\n")
    (root / "etc" / "group").write_text("root:x:0:\napp:x:1000:\naudio:x:29:app\n")
    return root


@dataclass
class Pod:
    uid: str
    name: str
    sandbox: Sandbox


@dataclass
class RuntimeHarness:
    """A Runtime on a test's own paths, plus helpers to make pods and containers."""

    runtime: Runtime
    paths: AgentPaths
    rootfs: Path
    pod_uids: list[str] = field(default_factory=list)

    async def pod(self, *, host_network: bool = False, host_ipc: bool = False,
                  host_pid: bool = False, hostname: str | None = None) -> Pod:
        uid = str(uuid.uuid4())
        name = f"rt-{uid[:8]}"
        self.pod_uids.append(uid)
        sandbox = await self.runtime.create_sandbox(
            pod_uid=uid, pod_name=name, namespace="default", hostname=hostname or name,
            host_network=host_network, host_ipc=host_ipc, host_pid=host_pid)
        return Pod(uid, name, sandbox)

    def spec(self, pod: Pod, name: str, args: list[str], **overrides: Any) -> ContainerSpec:
        values: dict[str, Any] = {
            "pod_uid": pod.uid, "pod_name": pod.name, "namespace": "default",
            "container_name": name, "attempt": 0, "image": FakeImage(),
            "rootfs": self.rootfs, "args": args,
            "log_path": self.paths.container_log("default", pod.name, pod.uid, name, 0),
        }
        values.update(overrides)
        return ContainerSpec(**values)

    async def run(self, pod: Pod, name: str, args: list[str], **overrides: Any) -> str:
        """Create and start a container; its id."""
        container_id = await self.runtime.create_container(
            pod.sandbox, self.spec(pod, name, args, **overrides))
        await self.runtime.start_container(container_id)
        return container_id

    async def wait_for_log(self, pod: Pod, name: str, text: str,
                           timeout: float = 15) -> str:  # noqa: ASYNC109
        """Poll the container's log until it contains ``text``; the log."""
        path = self.paths.container_log("default", pod.name, pod.uid, name, 0)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            content = path.read_text() if path.exists() else ""
            if text in content:
                return content
            if loop.time() > deadline:
                raise AssertionError(f"{text!r} not in log of {name}:\n{content}")
            await asyncio.sleep(0.05)

    async def clean_up(self) -> None:
        for state in await self.runtime.list_containers():
            await self.runtime.remove_container(state.id)
        for sandbox in await self.runtime.list_sandboxes():
            await self.runtime.remove_sandbox(sandbox.id)
        for uid in self.pod_uids:
            await self.runtime.remove_pod_cgroups(uid)
        self.runtime.close()


def leftovers(paths: AgentPaths, pod_uids: list[str]) -> list[str]:
    """Everything a removed pod must not leave behind on the host."""
    found: list[str] = []
    mountinfo = Path("/proc/self/mountinfo").read_text()
    for line in mountinfo.splitlines():
        if str(paths.run) in line or str(paths.root) in line:
            found.append(f"mount: {line}")
    if paths.netns.exists():
        found += [f"netns dir: {p.name}" for p in paths.netns.iterdir()]
    runc_state = list(paths.runc_root.iterdir()) if paths.runc_root.exists() else []
    found += [f"runc state: {p.name}" for p in runc_state]
    if paths.containers.exists():
        found += [f"container dir: {p.name}" for p in paths.containers.iterdir()]
    for uid in pod_uids:
        for parent in pod_cgroup_candidates(uid):
            found += [f"cgroup: {d}" for d in cgroup_dirs(parent) if d.exists()]
    for sub in ("exits", "persist", "sockets"):
        directory = paths.conmon / sub
        if directory.exists():
            found += [f"conmon {sub}: {p.name}" for p in directory.iterdir()]
    return found


@pytest.fixture
def busybox_rootfs(tmp_path: Path) -> Path:
    return build_busybox_rootfs(tmp_path / "busybox-rootfs")


@pytest.fixture
async def harness(tmp_path: Path, busybox_rootfs: Path) -> AsyncIterator[RuntimeHarness]:
    paths = AgentPaths(root=tmp_path / "root", run=tmp_path / "run", log=tmp_path / "log")
    h = RuntimeHarness(Runtime(paths), paths, busybox_rootfs)
    try:
        yield h
    finally:
        await h.clean_up()
    assert leftovers(paths, h.pod_uids) == []
