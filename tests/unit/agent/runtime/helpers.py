"""Records the runtime's unit tests build specs from."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubesmith.agent.runtime.spec import ContainerSpec, Sandbox


@dataclass(frozen=True)
class FakeImageConfig:
    user: str = ""


@dataclass(frozen=True)
class FakeImage:
    id: str = "sha256:" + "a" * 64
    references: tuple[str, ...] = ("docker.io/library/busybox:latest",)
    config: FakeImageConfig = field(default_factory=FakeImageConfig)


def make_spec(**overrides: Any) -> ContainerSpec:
    values: dict[str, Any] = {
        "pod_uid": "0f0e0d0c-1111-2222-3333-444455556666", "pod_name": "web",
        "namespace": "default", "container_name": "app", "attempt": 2,
        "image": FakeImage(), "rootfs": Path("/var/lib/x/rootfs"), "args": ["sh", "-c", "true"],
        "log_path": Path("/var/log/pods/default_web_uid/app/2.log"),
    }
    values.update(overrides)
    return ContainerSpec(**values)


def make_sandbox(**overrides: Any) -> Sandbox:
    values: dict[str, Any] = {
        "id": "s" * 64, "pod_uid": "0f0e0d0c-1111-2222-3333-444455556666",
        "netns_path": Path("/run/ns/s.net"), "ipc_path": Path("/run/ns/s.ipc"),
        "uts_path": Path("/run/ns/s.uts"), "pod_name": "web", "namespace": "default",
        "hostname": "web", "shm_path": Path("/run/ns/s.shm"),
    }
    values.update(overrides)
    return Sandbox(**values)
