"""``kubesmith agent reset``: remove every pod the agent ran on this host.

Stopping the agent leaves pods running on purpose (a restarted agent adopts them). When a
node leaves the cluster — ``make lab-down``, a test's teardown, decommissioning — this
stops and removes every container, releases each pod's network (CNI DEL), unpins its
namespaces, unmounts its volumes and root filesystems and removes its cgroups, using the
same teardown the agent uses for orphaned pods. Images are kept unless asked.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from kubesmith.agent.cni import CNI
from kubesmith.agent.images import ImageStore
from kubesmith.agent.options import AgentOptions
from kubesmith.agent.paths import AgentPaths
from kubesmith.agent.pods.adoption import plan_adoption, remove_orphan
from kubesmith.agent.runtime.runtime import Runtime
from kubesmith.agent.volumes import VolumeManager

log = logging.getLogger(__name__)


@dataclass
class _Teardown:
    paths: AgentPaths
    images: ImageStore
    runtime: Runtime
    cni: CNI
    volumes: VolumeManager


def _unmount_self_bind(path: Path) -> None:
    """The agent bind-mounts its root onto itself (to make it shared); undo that."""
    target = str(path.resolve())
    with open("/proc/self/mountinfo") as mounts:
        mounted = [line.split()[4] for line in mounts]
    for _ in range(mounted.count(target)):
        subprocess.run(["umount", target], check=False, capture_output=True)


async def reset_node(options: AgentOptions, *, remove_images: bool = False) -> int:
    """Remove every pod's leftovers; returns how many pods were removed."""
    paths = options.paths
    runtime = Runtime(paths, runc=options.runc, conmon=options.conmon)
    try:
        parts = _Teardown(
            paths=paths, images=ImageStore(paths.images), runtime=runtime,
            cni=CNI(conf_dir=options.cni_conf_dir, bin_dirs=options.cni_bin_dirs,
                    cache_dir=paths.cni_cache, bridge=options.default_network_bridge),
            # Teardown needs no API connection; the manager only keeps the client.
            volumes=VolumeManager(paths, None, node_name=options.node_name))  # type: ignore[arg-type]
        plan = plan_adoption({}, await runtime.list_sandboxes(),
                             await runtime.list_containers())
        for uid, found in plan.orphans.items():
            log.info("removing pod %s (%d containers)", uid, len(found.containers))
            await remove_orphan(parts, found)
        if paths.pods.exists():
            for pod_dir in list(paths.pods.iterdir()):
                await parts.volumes.teardown(pod_dir.name)
                await runtime.remove_pod_cgroups(pod_dir.name)
        if paths.containers.exists():
            for leftover in list(paths.containers.iterdir()):
                parts.images.unmount_rootfs(leftover)
                shutil.rmtree(leftover, ignore_errors=True)
        if remove_images:
            shutil.rmtree(paths.images, ignore_errors=True)
        await asyncio.to_thread(_unmount_self_bind, paths.root)
        shutil.rmtree(paths.run, ignore_errors=True)
        return len(plan.orphans)
    finally:
        runtime.close()
