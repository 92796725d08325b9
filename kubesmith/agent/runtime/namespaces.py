"""Pinned pod namespaces (network, IPC, UTS) without an infra container.

Like CRI-O's ``pinns``: util-linux ``unshare --net=FILE --ipc=FILE --uts=FILE`` creates
the namespaces for one short-lived process and bind-mounts each ``/proc/<pid>/ns/<kind>``
onto a file, which keeps the namespace alive after the process exits. Containers then
join the namespaces by path. The pinning process also sets the pod's hostname in the new
UTS namespace and brings up ``lo`` in the new network namespace, so containers of a pod
reach each other on localhost even before (or without) CNI.

Unpinning is a lazy unmount plus unlink, idempotent. The pod's ``/dev/shm`` (shared by its
containers, like its IPC namespace) is a tmpfs mounted on a directory next to them.

The mount syscalls go through libc: they are quick kernel calls, cheaper than a process.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import os
import shutil
from pathlib import Path

from kubesmith.agent.libc import MNT_DETACH
from kubesmith.agent.libc import libc as _libc
from kubesmith.agent.runtime.errors import RuntimeFailure

NET, IPC, UTS = "net", "ipc", "uts"
KINDS = (NET, IPC, UTS)
SHM_SIZE = "65536k"

MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8


# Runs inside the new namespaces: "$1" is the hostname ("" keeps the host's, when the UTS
# namespace is not new), "$2" is "lo" when the network namespace is new.
_SETUP_SCRIPT = 'if [ -n "$1" ]; then hostname "$1" || exit 1; fi; ' \
                'if [ -n "$2" ]; then ip link set lo up || exit 1; fi'


def ns_path(directory: Path, sandbox_id: str, kind: str) -> Path:
    return directory / f"{sandbox_id}.{kind}"


def shm_path(directory: Path, sandbox_id: str) -> Path:
    return directory / f"{sandbox_id}.shm"


def unmount(path: Path) -> None:
    """Detach every mount stacked on ``path``; nothing to do when none (or no path)."""
    target = os.fsencode(path)
    while _libc.umount2(target, MNT_DETACH) == 0:
        pass
    code = ctypes.get_errno()
    if code not in (errno.EINVAL, errno.ENOENT):
        raise OSError(code, f"umount {path}: {os.strerror(code)}")


async def pin(directory: Path, sandbox_id: str, *, net: bool, ipc: bool, uts: bool,
              hostname: str, unshare: str = "unshare") -> dict[str, Path]:
    """Create and pin the requested namespaces; returns their files by kind.

    On failure nothing stays pinned.
    """
    wanted = [kind for kind, on in ((NET, net), (IPC, ipc), (UTS, uts)) if on]
    if not wanted:
        return {}
    paths = _mount_targets(directory, sandbox_id, wanted)
    flag = {NET: "--net", IPC: "--ipc", UTS: "--uts"}
    argv = [unshare, *(f"{flag[k]}={p}" for k, p in paths.items()), "--",
            shutil.which("sh") or "/bin/sh", "-c", _SETUP_SCRIPT, "pin",
            hostname if uts else "", "lo" if net else ""]
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE)
    _, stderr = await proc.communicate()
    if proc.returncode != 0:
        unpin(directory, sandbox_id)
        raise RuntimeFailure(
            f"pinning namespaces failed: {stderr.decode(errors='replace').strip()}")
    return paths


def _mount_targets(directory: Path, sandbox_id: str, kinds: list[str]) -> dict[str, Path]:
    """Empty files to pin onto (unshare bind-mounts onto an existing file)."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {kind: ns_path(directory, sandbox_id, kind) for kind in kinds}
    for path in paths.values():
        path.touch()
    return paths


def unpin(directory: Path, sandbox_id: str) -> None:
    """Release the sandbox's namespaces and its /dev/shm; idempotent."""
    for kind in KINDS:
        path = ns_path(directory, sandbox_id, kind)
        unmount(path)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    shm = shm_path(directory, sandbox_id)
    unmount(shm)
    with contextlib.suppress(FileNotFoundError):
        shm.rmdir()


def mount_shm(path: Path, size: str = SHM_SIZE) -> None:
    """A fresh tmpfs for the pod's /dev/shm."""
    path.mkdir(parents=True, exist_ok=True)
    data = f"mode=1777,size={size}".encode()
    if _libc.mount(b"shm", os.fsencode(path), b"tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                   data) != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"mount tmpfs on {path}: {os.strerror(code)}")


def pinned_sandbox_ids(directory: Path) -> set[str]:
    """Sandbox ids with any namespace file or shm directory left in ``directory``."""
    ids: set[str] = set()
    with contextlib.suppress(FileNotFoundError):
        for entry in directory.iterdir():
            stem, _, suffix = entry.name.rpartition(".")
            if stem and suffix in (*KINDS, "shm"):
                ids.add(stem)
    return ids
