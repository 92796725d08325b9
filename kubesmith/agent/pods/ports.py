"""The other agent parts the pod workers drive, as Protocols mirroring their real APIs
(:class:`kubesmith.agent.images.ImageStore`, :class:`kubesmith.agent.runtime.runtime.Runtime`,
:class:`kubesmith.agent.cni.CNI`, :class:`kubesmith.agent.volumes.VolumeManager`,
:class:`kubesmith.agent.probes.ProbeManager`), so the real classes satisfy them structurally
and unit tests can hand in small fakes. The value types (``ContainerSpec``, ``Mount``,
``Sandbox``, ``ContainerState``, ``ImageInfo``) are the real ones: they are plain data.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from kubesmith.agent.images.credentials import RegistryAuth
from kubesmith.agent.images.model import ImageInfo
from kubesmith.agent.probes.result import ExecSync
from kubesmith.agent.probes.worker import ProbeKind
from kubesmith.agent.runtime.spec import ContainerSpec, ContainerState, Mount, Sandbox
from kubesmith.api.types import Obj

if TYPE_CHECKING:
    from kubesmith.agent.cni import CNI
    from kubesmith.agent.images import ImageStore
    from kubesmith.agent.probes import ProbeManager
    from kubesmith.agent.runtime.runtime import Runtime
    from kubesmith.agent.volumes import VolumeManager


class ImageStorePort(Protocol):
    def lookup(self, image: str) -> ImageInfo | None: ...

    async def pull(self, image: str, credentials: Sequence[RegistryAuth] = ()) -> ImageInfo:
        ...

    def mount_rootfs(self, image: ImageInfo, container_dir: Path) -> Path: ...

    def unmount_rootfs(self, container_dir: Path) -> None: ...


class RuntimePort(Protocol):
    async def create_sandbox(self, *, pod_uid: str, pod_name: str, namespace: str,
                             hostname: str, host_network: bool = False, host_ipc: bool = False,
                             host_pid: bool = False) -> Sandbox: ...

    async def remove_sandbox(self, sandbox_id: str) -> None: ...

    async def list_sandboxes(self) -> list[Sandbox]: ...

    async def remove_pod_cgroups(self, pod_uid: str) -> list[Path]: ...

    async def create_container(self, sandbox: Sandbox, spec: ContainerSpec) -> str: ...

    async def start_container(self, container_id: str) -> None: ...

    async def stop_container(self, container_id: str, grace_seconds: float) -> None: ...

    async def remove_container(self, container_id: str) -> None: ...

    async def state(self, container_id: str) -> ContainerState: ...

    async def list_containers(self) -> list[ContainerState]: ...

    async def exec_sync(self, container_id: str, argv: list[str],
                        timeout: float) -> tuple[int, bytes]: ...  # noqa: ASYNC109

    def exit_events(self) -> asyncio.Queue[str]: ...


class PodNetworkLike(Protocol):
    @property
    def ips(self) -> list[str]: ...


class CNIPort(Protocol):
    async def add(self, *, container_id: str, netns: Path, pod_name: str, namespace: str,
                  pod_uid: str, port_mappings: Sequence[Obj] = ()) -> PodNetworkLike: ...

    async def delete(self, *, container_id: str, netns: Path | None, pod_name: str = "",
                     namespace: str = "", pod_uid: str = "") -> None: ...


class VolumePort(Protocol):
    async def setup(self, pod: Obj) -> dict[str, Path]: ...

    async def refresh(self, pod: Obj) -> None: ...

    def mounts_for(self, pod: Obj, container: Obj, volume_paths: Mapping[str, Path],
                   env: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> list[Mount]:
        ...

    async def teardown(self, pod_uid: str) -> None: ...


class ProbePort(Protocol):
    def container_started(self, pod_uid: str, container: Obj, *, container_id: str,
                          started_at: float, pod_ip: str, exec_sync: ExecSync | None = None,
                          terminating: bool = False) -> None: ...

    def container_stopped(self, pod_uid: str, container_name: str) -> None: ...

    def pod_terminating(self, pod_uid: str) -> None: ...

    def remove_pod(self, pod_uid: str) -> None: ...

    def started(self, pod_uid: str, container_name: str) -> bool: ...

    def ready(self, pod_uid: str, container_name: str) -> bool: ...

    def result(self, pod_uid: str, container_name: str, kind: ProbeKind) -> bool | None: ...

    async def close(self) -> None: ...


def _conformance(images: ImageStore, runtime: Runtime, cni: CNI, volumes: VolumeManager,
                 probes: ProbeManager) -> None:
    """Never called: mypy checks here that the real parts satisfy the ports."""
    _i: ImageStorePort = images
    _r: RuntimePort = runtime
    _c: CNIPort = cni
    _v: VolumePort = volumes
    _p: ProbePort = probes
