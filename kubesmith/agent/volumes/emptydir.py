"""emptyDir volumes, and the tmpfs that secret and projected volumes live on.

A disk emptyDir is a 0777 directory in the pod's volume directory. ``medium: Memory`` (and
every secret or projected volume, so secrets never touch the disk) is a tmpfs sized as
upstream sizes it: the node's allocatable memory, lowered to the pod's memory limit when
every container has one, lowered again to ``sizeLimit`` when that is smaller.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kubesmith.agent.volumes import mounts
from kubesmith.agent.volumes.errors import SourceError
from kubesmith.api.types import Obj
from kubesmith.api.validation.quantity import QuantityError, parse_quantity

EMPTY_DIR_MODE = 0o777


def host_memory_bytes() -> int:
    """MemTotal of this host."""
    with open("/proc/meminfo", encoding="ascii") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    raise OSError("MemTotal missing from /proc/meminfo")


def _bytes(value: Any) -> int | None:
    if value is None:
        return None
    try:
        return parse_quantity(value).value()
    except QuantityError:
        return None


def pod_memory_limit(pod: Obj) -> int | None:
    """The pod's memory limit as its cgroup gets it: the sum over app containers (and
    the largest init container if larger), or None when any container has no limit."""
    spec = pod.get("spec") or {}

    def limit(container: Obj) -> int | None:
        return _bytes(((container.get("resources") or {}).get("limits") or {}).get("memory"))

    total = 0
    for container in spec.get("containers") or []:
        value = limit(container)
        if value is None:
            return None
        total += value
    sidecars = 0
    init_peak = 0
    for container in spec.get("initContainers") or []:
        value = limit(container)
        if value is None:
            return None
        if container.get("restartPolicy") == "Always":
            # Sidecars keep running beside the app containers.
            sidecars += value
            init_peak = max(init_peak, sidecars)
        else:
            init_peak = max(init_peak, sidecars + value)
    return max(total + sidecars, init_peak)


def memory_medium_size(pod: Obj, size_limit: Any,
                       node_allocatable: Mapping[str, Any]) -> int:
    """Bytes a memory-backed volume of ``pod`` may hold."""
    size = _bytes(node_allocatable.get("memory")) or host_memory_bytes()
    pod_limit = pod_memory_limit(pod)
    if pod_limit is not None and 0 < pod_limit <= size:
        size = pod_limit
    volume_limit = _bytes(size_limit)
    if volume_limit is not None and 0 < volume_limit <= size:
        size = volume_limit
    return size


def make_dir(path: Path, mode: int = EMPTY_DIR_MODE) -> bool:
    """Create ``path`` with exactly ``mode``; True when it was created now."""
    try:
        path.mkdir(parents=True, mode=mode)
    except FileExistsError:
        return False
    os.chmod(path, mode)  # mkdir honours the umask
    return True


def ensure_tmpfs(path: Path, size_bytes: int) -> bool:
    """A tmpfs of ``size_bytes`` mounted on ``path`` (created 0777); True when mounted
    now, False when one was there already."""
    make_dir(path)
    if mounts.filesystem_type(path) == "tmpfs":
        return False
    mounts.mount_tmpfs(path, size_bytes)
    return True


def setup_empty_dir(path: Path, source: Obj, pod: Obj,
                    node_allocatable: Mapping[str, Any]) -> bool:
    """Set up an emptyDir at ``path``; True on first setup (ownership still to apply)."""
    medium = source.get("medium") or ""
    if medium == "":
        return make_dir(path)
    if medium == "Memory":
        return ensure_tmpfs(path, memory_medium_size(pod, source.get("sizeLimit"),
                                                     node_allocatable))
    raise SourceError(f"unsupported emptyDir medium {medium!r}")
