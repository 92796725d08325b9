"""Mount syscalls and the mount table, for tmpfs volumes and subPath bind mounts.

The syscalls go through libc (ctypes) rather than the ``mount`` binary: a pod with a
ServiceAccount token already needs a tmpfs, and forking a process per mount would
dominate pod start-up. Everything here is synchronous and fast (no I/O beyond the kernel
call), so callers on the event loop call it directly.
"""

from __future__ import annotations

import ctypes
import errno
import os
from pathlib import Path

from kubesmith.agent.libc import MNT_DETACH
from kubesmith.agent.libc import libc as _libc

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_BIND = 0x1000
MS_REC = 0x4000
MS_SHARED = 1 << 20



def _check(result: int, what: str, target: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what} {target}: {os.strerror(code)}")


def mount_tmpfs(target: Path, size_bytes: int | None) -> None:
    """Mount a tmpfs on ``target`` (``size=`` when given, else the kernel's default)."""
    data = f"size={size_bytes}".encode() if size_bytes else None
    _check(_libc.mount(b"tmpfs", os.fsencode(target), b"tmpfs", 0, data),
           "mount tmpfs on", str(target))


def bind_mount(source: str, target: Path) -> None:
    """Bind ``source`` (may be ``/proc/self/fd/N``) onto ``target``."""
    _check(_libc.mount(os.fsencode(source), os.fsencode(target), None, MS_BIND, None),
           "bind mount on", str(target))


def make_rshared(path: Path) -> None:
    """Make ``path`` a shared mount (binding it onto itself first if it is none), as the
    kubelet does with its root directory so Bidirectional mounts propagate back."""
    if not is_mount_point(path):
        bind_mount(str(path), path)
    _check(_libc.mount(b"none", os.fsencode(path), None, MS_SHARED | MS_REC, None),
           "make rshared", str(path))


def unmount(target: Path) -> None:
    """Unmount ``target``; a busy mount is detached lazily (it goes away with its last
    user) rather than left behind."""
    if _libc.umount2(os.fsencode(target), 0) == 0:
        return
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOENT):  # not a mount point (any more)
        return
    if code == errno.EBUSY:
        _check(_libc.umount2(os.fsencode(target), MNT_DETACH), "detach", str(target))
        return
    raise OSError(code, f"unmount {target}: {os.strerror(code)}")


def _unescape(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo octal.
    out, i = [], 0
    while i < len(field):
        code = field[i + 1:i + 4]
        if field[i] == "\\" and len(code) == 3 and code.isdigit():
            out.append(chr(int(code, 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def mount_points() -> list[tuple[str, str]]:
    """(mount point, filesystem type) of every mount in this mount namespace, in mount
    order."""
    result = []
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            fields = line.split()
            sep = fields.index("-")
            result.append((_unescape(fields[4]), fields[sep + 1]))
    return result


def mounts_under(path: Path) -> list[str]:
    """Mount points at or below ``path``, deepest (and latest) first, the order to unmount
    them in."""
    root = os.path.realpath(path)
    prefix = root.rstrip("/") + "/"
    found = [point for point, _ in mount_points() if point == root or point.startswith(prefix)]
    found.reverse()
    found.sort(key=lambda p: p.count("/"), reverse=True)
    return found


def is_mount_point(path: Path) -> bool:
    """Whether ``path`` itself is a mount point (bind mounts on the same device too)."""
    real = os.path.realpath(path)
    return any(point == real for point, _ in mount_points())


def filesystem_type(path: Path) -> str | None:
    """The type of the filesystem mounted exactly at ``path``, or None."""
    real = os.path.realpath(path)
    fstype = None
    for point, kind in mount_points():
        if point == real:
            fstype = kind  # the last one wins: it is the one on top
    return fstype
