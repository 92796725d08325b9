"""Host facts the OCI spec builder needs: memory capacity, the capabilities the agent holds
and the device nodes."""

from __future__ import annotations

import functools
import os
import stat
from pathlib import Path

from kubesmith.agent.runtime.oci_spec import ALL_CAPABILITIES, Device

# Directories under /dev that are per-container mounts (or virtual), never device nodes
# to copy; /dev/console and /dev/ptmx are set up by runc itself.
_SKIP_DIRS = frozenset(("pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"))
_SKIP_FILES = frozenset(("console", "ptmx"))


@functools.cache
def memory_capacity(meminfo: Path = Path("/proc/meminfo")) -> int:
    """Total memory in bytes (MemTotal), 0 when unknown."""
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


@functools.cache
def current_capabilities(status: Path = Path("/proc/self/status")) -> tuple[str, ...]:
    """The capabilities in the agent's bounding set (all known ones when unreadable)."""
    try:
        for line in status.read_text().splitlines():
            if line.startswith("CapBnd:"):
                mask = int(line.split()[1], 16)
                return tuple(name for bit, name in enumerate(ALL_CAPABILITIES)
                             if mask & (1 << bit))
    except (OSError, ValueError, IndexError):
        pass
    return ALL_CAPABILITIES


CAP_SYS_RESOURCE = 24
OOM_SCORE_ADJ_MIN = -1000


@functools.cache
def lowest_oom_score_adj(status: Path = Path("/proc/self/status"),
                         own: Path = Path("/proc/self/oom_score_adj")) -> int:
    """The lowest ``oomScoreAdj`` the agent can give a container. Lowering a score needs
    CAP_SYS_RESOURCE, which an agent in a restricted container may lack; runc would then
    fail every Guaranteed container ("can't get final child's PID from pipe"), so like
    containerd's ``restrict_oom_score_adj`` scores are kept at or above the agent's own."""
    try:
        for line in status.read_text().splitlines():
            if line.startswith("CapEff:"):
                if int(line.split()[1], 16) & (1 << CAP_SYS_RESOURCE):
                    return OOM_SCORE_ADJ_MIN
                return int(own.read_text().strip())
    except (OSError, ValueError, IndexError):
        pass
    return OOM_SCORE_ADJ_MIN


def host_devices(root: Path = Path("/dev")) -> list[Device]:
    """Every character and block device under ``root``, for privileged containers."""
    devices: list[Device] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in _SKIP_DIRS]
        for name in filenames:
            if dirpath == str(root) and name in _SKIP_FILES:
                continue
            path = os.path.join(dirpath, name)
            try:
                st = os.lstat(path)
            except OSError:
                continue
            if stat.S_ISCHR(st.st_mode):
                kind = "c"
            elif stat.S_ISBLK(st.st_mode):
                kind = "b"
            else:
                continue
            devices.append(Device(path=path, type=kind, major=os.major(st.st_rdev),
                                  minor=os.minor(st.st_rdev),
                                  file_mode=stat.S_IMODE(st.st_mode),
                                  uid=st.st_uid, gid=st.st_gid))
    return devices
