"""What the pod workers hand to the runtime and what the runtime reports back.

The runtime does not import the image store or the volume manager: it only needs a few
attributes of their records, so those are typed as Protocols (``ImageLike``,
``MountLike``) that ``kubesmith.agent.images.ImageInfo`` and the volume manager's mounts
satisfy structurally.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

Obj = dict[str, Any]

# Annotation keys stored in each container's OCI config and read back on adoption.
POD_UID = "io.kubernetes.pod.uid"
POD_NAME = "io.kubernetes.pod.name"
POD_NAMESPACE = "io.kubernetes.pod.namespace"
CONTAINER_NAME = "io.kubernetes.container.name"
RESTART_COUNT = "io.kubernetes.container.restartCount"
SANDBOX_ID = "io.kubernetes.sandbox.id"
LOG_PATH = "kubesmith.io/log-path"
IMAGE_REF = "kubesmith.io/image-ref"
IMAGE_ID = "kubesmith.io/image-id"

QOS_GUARANTEED = "Guaranteed"
QOS_BURSTABLE = "Burstable"
QOS_BEST_EFFORT = "BestEffort"

# Container states as runc names them, plus "unknown" for a bundle without runc state.
CREATED = "created"
RUNNING = "running"
STOPPED = "stopped"
UNKNOWN = "unknown"


class ImageConfigLike(Protocol):
    @property
    def user(self) -> str: ...


class ImageLike(Protocol):
    """The parts of the image store's ``ImageInfo`` the runtime reads."""

    @property
    def id(self) -> str: ...
    @property
    def references(self) -> tuple[str, ...]: ...
    @property
    def config(self) -> ImageConfigLike: ...


class MountLike(Protocol):
    """One container mount, as the volume manager produces it (see :class:`Mount`)."""

    @property
    def host_path(self) -> str: ...
    @property
    def container_path(self) -> str: ...
    @property
    def readonly(self) -> bool: ...
    @property
    def propagation(self) -> str: ...
    @property
    def kind(self) -> str: ...


@dataclass(frozen=True)
class Mount:
    """A mount into the container.

    ``kind`` is ``bind`` (``host_path`` is a host file or directory) or ``tmpfs``
    (``host_path`` ignored). ``propagation`` takes the OCI names (``private``, ``rslave``,
    ``rshared``) or upstream's (``None``, ``HostToContainer``, ``Bidirectional``).
    """

    host_path: str
    container_path: str
    readonly: bool = False
    propagation: str = "private"
    kind: str = "bind"


@dataclass(kw_only=True)
class ContainerSpec:
    """Everything the runtime needs to create one container of a pod."""

    pod_uid: str
    pod_name: str
    namespace: str
    container_name: str
    attempt: int
    image: ImageLike
    rootfs: Path                     # from ImageStore.mount_rootfs
    args: list[str]                  # final argv (command/args merged with the image's)
    env: list[tuple[str, str]] = field(default_factory=list)
    working_dir: str = ""
    mounts: Sequence[MountLike] = ()
    tty: bool = False
    stdin: bool = False
    stdin_once: bool = False
    security: Obj | None = None      # merged pod + container securityContext
    resources: Obj = field(default_factory=dict)   # container.resources
    qos_class: str = QOS_BEST_EFFORT
    log_path: Path
    annotations: dict[str, str] = field(default_factory=dict)
    image_ref: str = ""              # the image as the pod names it; default: first reference


@dataclass(frozen=True)
class Sandbox:
    """A pod's shared namespaces, pinned by bind mounts so they outlive any container.

    A ``None`` path means the host's namespace (hostNetwork / hostIPC); ``shm_path`` is the
    pod's ``/dev/shm`` tmpfs (``None`` with hostIPC, where the host's is used).
    """

    id: str
    pod_uid: str
    netns_path: Path | None
    ipc_path: Path | None
    uts_path: Path | None
    pod_name: str = ""
    namespace: str = ""
    hostname: str = ""
    host_pid: bool = False
    shm_path: Path | None = None
    created_at: float = 0.0


@dataclass(frozen=True)
class ContainerState:
    """A container as the runtime sees it now."""

    id: str
    status: str                      # created | running | stopped | unknown
    pid: int = 0
    exit_code: int | None = None
    created_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    oom_killed: bool = False
    annotations: dict[str, str] = field(default_factory=dict)

    @property
    def pod_uid(self) -> str:
        return self.annotations.get(POD_UID, "")

    @property
    def container_name(self) -> str:
        return self.annotations.get(CONTAINER_NAME, "")

    @property
    def sandbox_id(self) -> str:
        return self.annotations.get(SANDBOX_ID, "")

    @property
    def restart_count(self) -> int:
        try:
            return int(self.annotations.get(RESTART_COUNT, "0"))
        except ValueError:
            return 0


def pod_description(pod_name: str, namespace: str, pod_uid: str) -> str:
    """A pod as the kubelet names it in messages (``format.Pod``): ``name_ns(uid)``."""
    return f"{pod_name}_{namespace}({pod_uid})"
