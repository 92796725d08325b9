"""Reading and removing the cgroups runc creates for containers and pods.

runc's cgroupfs driver creates a container's cgroup at the same absolute path (e.g.
``/kubepods/burstable/pod<uid>/<id>``) in every mounted hierarchy: each cgroup v1
controller, the named ``systemd`` hierarchy and, on hybrid hosts, the unified (v2) one.
``runc delete`` removes the container's own directory but never the pod's or the QoS
parents, so the agent removes a pod's directory when the pod is gone, across all of them.

OOM kills are counted per cgroup by the kernel: ``memory.oom_control``'s ``oom_kill``
line on v1, ``memory.events``' ``oom_kill`` on v2. The counter lives only as long as the
cgroup, so it must be read before ``runc delete``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

MOUNTINFO = Path("/proc/self/mountinfo")


@dataclass(frozen=True)
class Hierarchy:
    mountpoint: Path
    version: int                   # 1 or 2
    controllers: frozenset[str]    # v1 controllers (and name=...) of this mount


def _unescape(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as octal.
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def hierarchies(mountinfo: Path = MOUNTINFO) -> list[Hierarchy]:
    """The cgroup hierarchies mounted in this mount namespace, one entry per mountpoint."""
    found: dict[Path, Hierarchy] = {}
    for line in mountinfo.read_text().splitlines():
        before, sep, after = line.partition(" - ")
        if not sep:
            continue
        fields, tail = before.split(), after.split()
        if len(fields) < 5 or len(tail) < 3 or tail[0] not in ("cgroup", "cgroup2"):
            continue
        mountpoint = Path(_unescape(fields[4]))
        if tail[0] == "cgroup2":
            found[mountpoint] = Hierarchy(mountpoint, 2, frozenset())
        else:
            options = frozenset(tail[2].split(",")) - {"rw", "ro"}
            found[mountpoint] = Hierarchy(mountpoint, 1, options)
    return list(found.values())


def cgroup_dirs(relative: str) -> list[Path]:
    """``relative`` (an absolute cgroup path like ``/kubepods/...``) in every hierarchy."""
    rel = relative.strip("/")
    return [h.mountpoint / rel for h in hierarchies()]


def memory_dir(relative: str) -> tuple[Path, int] | None:
    """The cgroup's directory in the hierarchy that accounts memory, with its version."""
    rel = relative.strip("/")
    all_h = hierarchies()
    for h in all_h:
        if h.version == 1 and "memory" in h.controllers:
            return h.mountpoint / rel, 1
    for h in all_h:
        if h.version == 2:
            controllers = (h.mountpoint / "cgroup.controllers")
            with contextlib.suppress(OSError):
                if "memory" in controllers.read_text().split():
                    return h.mountpoint / rel, 2
    return None


def oom_kill_count(relative: str) -> int | None:
    """How many processes the kernel OOM-killed in this cgroup; None when it is gone."""
    found = memory_dir(relative)
    if found is None:
        return None
    directory, version = found
    name = "memory.oom_control" if version == 1 else "memory.events"
    try:
        text = (directory / name).read_text()
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key == "oom_kill":
            return int(value)
    return 0


def _remove_tree(directory: Path) -> bool:
    """rmdir a cgroup and its child cgroups, deepest first. True when it is gone."""
    if not directory.is_dir():
        return True
    for child in directory.iterdir():
        if child.is_dir() and not child.is_symlink():
            _remove_tree(child)
    try:
        directory.rmdir()
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return True


async def remove_cgroup(relative: str, *, timeout: float = 5.0) -> list[Path]:  # noqa: ASYNC109
    """Remove the cgroup (and its children) from every hierarchy; returns what remains.

    A cgroup is busy (EBUSY) while a process, even an exiting one, is inside, so it is
    retried until ``timeout``.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    remaining = cgroup_dirs(relative)
    while True:
        remaining = [d for d in remaining if not _remove_tree(d)]
        if not remaining or loop.time() >= deadline:
            return remaining
        await asyncio.sleep(0.05)


def cgroup_processes(relative: str) -> set[int]:
    """Pids in the cgroup (any hierarchy), to find stragglers before removal."""
    pids: set[int] = set()
    for directory in cgroup_dirs(relative):
        with contextlib.suppress(OSError, ValueError):
            pids.update(int(p) for p in (directory / "cgroup.procs").read_text().split())
    return pids


def kill_processes(relative: str, signal: int) -> None:
    for pid in cgroup_processes(relative):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal)
