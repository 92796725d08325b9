"""What every pod worker shares: the settings (:class:`PodConfig`) and the node's parts
(:class:`Parts`), handed from the :class:`~kubesmith.agent.pods.manager.PodManager` to its
workers in one object instead of a dozen arguments."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from kubesmith.agent.paths import AgentPaths
from kubesmith.agent.pods.backoff import Backoff
from kubesmith.agent.pods.env import EnvSources
from kubesmith.agent.pods.ports import (
    CNIPort,
    ImageStorePort,
    ProbePort,
    RuntimePort,
    VolumePort,
)
from kubesmith.api.types import Obj

DEFAULT_CLUSTER_DNS = ("10.96.0.10",)
DEFAULT_CLUSTER_DOMAIN = "cluster.local"


@dataclass(frozen=True)
class PodConfig:
    """The agent's pod settings (upstream kubelet flags in brackets)."""

    node_name: str
    #: The node's addresses for hostIP(s) and hostNetwork pods [--node-ip]; empty: the
    #: Node's InternalIP addresses.
    node_ips: tuple[str, ...] = ()
    cluster_dns: tuple[str, ...] = DEFAULT_CLUSTER_DNS          # [--cluster-dns]
    cluster_domain: str = DEFAULT_CLUSTER_DOMAIN                # [--cluster-domain]
    #: The host's resolver config for dnsPolicy Default [--resolv-conf]; None: none.
    resolv_conf: Path | None = Path("/etc/resolv.conf")
    #: The host's hosts file, which hostNetwork pods see.
    hosts_file: Path = Path("/etc/hosts")
    #: How often a pod is synced without a reason to [--sync-frequency, 1m upstream;
    #: shorter here since there is no separate relist loop for missed exits].
    resync_seconds: float = 10.0
    #: How often configMap/secret/downwardAPI/projected volumes are re-projected.
    volume_refresh_seconds: float = 30.0


class EventSink(Protocol):
    """Records an Event (:class:`kubesmith.client.events.EventRecorder` does)."""

    def event(self, obj: Obj, type_: str, reason: str, message: str, *,
              field_path: str | None = None) -> None: ...


class StatusPort(Protocol):
    """Writes pod statuses and deletes finished pods
    (:class:`~kubesmith.agent.pods.status_writer.StatusWriter`)."""

    async def write(self, pod: Obj, desired: Obj) -> Obj | None: ...

    async def delete(self, pod: Obj) -> None: ...

    def forget(self, uid: str) -> None: ...


class NodeView(Protocol):
    """What the workers read about their Node."""

    def node(self) -> Obj | None: ...

    def host_ips(self) -> list[str]: ...

    def allocatable(self) -> Mapping[str, Any]: ...


@dataclass
class Parts:
    """Everything a pod worker uses besides its own state."""

    config: PodConfig
    paths: AgentPaths
    images: ImageStorePort
    runtime: RuntimePort
    cni: CNIPort
    volumes: VolumePort
    probes: ProbePort
    events: EventSink
    status: StatusPort
    node: NodeView
    env: EnvSources
    #: Schedules a sync of the pod with this uid after ``delay`` seconds.
    wake: Callable[[str, float], None]
    crash_backoff: Backoff = field(default_factory=Backoff)
    pull_backoff: Backoff = field(default_factory=Backoff)
    clock: Callable[[], float] = time.time
