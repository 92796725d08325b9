"""Picking up after an agent restart: the runtime still has the sandboxes and containers the
previous agent created (conmon keeps them running); their annotations say which pod each
belongs to. :func:`plan_adoption` maps them back:

* a pod bound to this node that still exists in the API (same UID) gets its sandbox and
  containers back — its worker resumes where the old one stopped, nothing is restarted, and
  its pod IPs are those its status reports (the network namespace kept them);
* anything else — a pod deleted meanwhile, re-created under a new UID, or now bound to
  another node — is an orphan: its containers are stopped and removed with its sandbox
  (:func:`remove_orphan`, upstream's 1 s grace for containers of unknown pods).
"""

from __future__ import annotations

import contextlib
import logging
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from kubesmith.agent.cni.errors import CNIError
from kubesmith.agent.paths import AgentPaths
from kubesmith.agent.pods.ports import CNIPort, ImageStorePort, RuntimePort, VolumePort
from kubesmith.agent.pods.runs import ROOTFS_DIR
from kubesmith.agent.runtime import spec as rt
from kubesmith.agent.runtime.errors import RuntimeFailure
from kubesmith.api.types import Obj

log = logging.getLogger(__name__)

#: Grace for containers of pods the agent no longer knows (upstream: 1 s override).
ORPHAN_GRACE_SECONDS = 1.0


@dataclass
class Found:
    """What the runtime holds for one pod UID."""

    uid: str
    sandboxes: list[rt.Sandbox] = field(default_factory=list)
    containers: list[rt.ContainerState] = field(default_factory=list)


@dataclass
class AdoptionPlan:
    """Runtime objects by pod UID: those to adopt and those to remove."""

    adopt: dict[str, Found] = field(default_factory=dict)
    orphans: dict[str, Found] = field(default_factory=dict)


def plan_adoption(pods: Mapping[str, Obj], sandboxes: Iterable[rt.Sandbox],
                  containers: Iterable[rt.ContainerState]) -> AdoptionPlan:
    """Split the runtime's sandboxes and containers between the pods that are still ours
    (``pods``: by UID, those bound to this node) and orphans."""
    found: dict[str, Found] = {}
    for sandbox in sandboxes:
        found.setdefault(sandbox.pod_uid, Found(sandbox.pod_uid)).sandboxes.append(sandbox)
    for container in containers:
        uid = container.pod_uid
        found.setdefault(uid, Found(uid)).containers.append(container)
    plan = AdoptionPlan()
    for uid, what in found.items():
        # A terminal pod is adopted too: its exited containers keep its logs readable.
        (plan.adopt if uid in pods else plan.orphans)[uid] = what
    return plan


def newest_sandbox(found: Found) -> rt.Sandbox | None:
    """The sandbox to keep when (after a crash mid-creation) a pod has several."""
    if not found.sandboxes:
        return None
    return max(found.sandboxes, key=lambda s: s.created_at)


def adopted_pod_ips(pod: Obj, host_ips: list[str]) -> list[str]:
    """The IPs an adopted pod's sandbox has: its status's (hostNetwork: the node's)."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    if spec.get("hostNetwork"):
        return list(host_ips)
    return [str(p.get("ip")) for p in status.get("podIPs") or () if p.get("ip")]


class TeardownParts(Protocol):
    """What removing a pod's leftovers needs (the workers' Parts has it; so does
    ``kubesmith agent reset``, which has no API connection)."""

    @property
    def paths(self) -> AgentPaths: ...
    @property
    def images(self) -> ImageStorePort: ...
    @property
    def runtime(self) -> RuntimePort: ...
    @property
    def cni(self) -> CNIPort: ...
    @property
    def volumes(self) -> VolumePort: ...


def release_rootfs(parts: TeardownParts, directory: Path) -> None:
    """Unmount a container's root filesystem and remove its directory."""
    parts.images.unmount_rootfs(directory)
    shutil.rmtree(directory, ignore_errors=True)


async def remove_orphan(parts: TeardownParts, found: Found) -> None:
    """Stop and remove everything the runtime holds for a pod that is not ours any more."""
    for container in found.containers:
        with contextlib.suppress(RuntimeFailure):
            await parts.runtime.stop_container(container.id, ORPHAN_GRACE_SECONDS)
        with contextlib.suppress(RuntimeFailure):
            await parts.runtime.remove_container(container.id)
        rootfs = container.annotations.get(ROOTFS_DIR)
        if rootfs:
            release_rootfs(parts, Path(rootfs))
    for sandbox in found.sandboxes:
        if sandbox.netns_path is not None:
            try:
                await parts.cni.delete(container_id=sandbox.id, netns=sandbox.netns_path,
                                       pod_name=sandbox.pod_name, namespace=sandbox.namespace,
                                       pod_uid=found.uid)
            except CNIError as exc:
                log.warning("CNI DEL of orphaned sandbox %s failed: %s", sandbox.id, exc)
        with contextlib.suppress(RuntimeFailure):
            await parts.runtime.remove_sandbox(sandbox.id)
    with contextlib.suppress(RuntimeFailure, OSError):
        await parts.runtime.remove_pod_cgroups(found.uid)
    with contextlib.suppress(OSError):
        await parts.volumes.teardown(found.uid)
    names = {(c.annotations.get(rt.POD_NAMESPACE, ""), c.annotations.get(rt.POD_NAME, ""))
             for c in found.containers}
    for namespace, name in names:
        if namespace and name:
            shutil.rmtree(parts.paths.pod_log_dir(namespace, name, found.uid),
                          ignore_errors=True)
