"""A container's root filesystem: an overlay mount of the image's layers.

``lowerdir`` lists the layer directories top layer first; ``upperdir`` and ``workdir`` live
in the container's directory, so a container's writes never touch the shared layers and go
away with the container. The mount is made with ``mount(2)`` through ctypes (no process
per container start). The mount options must fit in one page; an image with so many layers
that absolute paths do not fit is mounted by the ``mount`` tool run from the layers
directory with relative paths, the trick Docker's overlay2 driver uses too (which also
makes short links to reach 128 layers; relative 64-hex names reach about 60).
"""

from __future__ import annotations

import ctypes
import errno
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

from kubesmith.agent.libc import MNT_DETACH as _MNT_DETACH
from kubesmith.agent.libc import libc as _libc

_PAGE = 4096


class MountError(OSError):
    """Mounting or unmounting a root filesystem failed."""


def _check_option_path(path: Path) -> None:
    # overlayfs splits its options on ',' and lower directories on ':'.
    if any(c in str(path) for c in ",:\n"):
        raise MountError(errno.EINVAL, f"path unusable in overlay options: {path}")


def mount_overlay(lowers: Sequence[Path], upper: Path, work: Path, target: Path) -> None:
    """Mount an overlay of ``lowers`` (top first) with ``upper``/``work`` at ``target``."""
    if not lowers:
        raise MountError(errno.EINVAL, "overlay needs at least one lower directory")
    for path in (*lowers, upper, work, target):
        _check_option_path(path)
    options = (f"lowerdir={':'.join(str(p) for p in lowers)},upperdir={upper},"
               f"workdir={work}")
    if len(options) < _PAGE:
        if _libc.mount(b"overlay", os.fsencode(target), b"overlay", 0,
                       options.encode()) != 0:
            code = ctypes.get_errno()
            raise MountError(code, f"mount overlay at {target}: {os.strerror(code)}")
        return
    base = lowers[0].parent
    relative = (f"lowerdir={':'.join(p.name for p in lowers)},"
                f"upperdir={os.path.relpath(upper, base)},workdir={os.path.relpath(work, base)}")
    if any(p.parent != base for p in lowers) or len(relative) >= _PAGE:
        raise MountError(errno.E2BIG, f"too many layers ({len(lowers)}) for one overlay mount")
    result = subprocess.run(["mount", "-t", "overlay", "overlay", "-o", relative, str(target)],
                            cwd=base, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise MountError(errno.EIO, f"mount overlay at {target}: {result.stderr.strip()}")


def unmount(target: Path) -> None:
    """Unmount ``target``; nothing to do if it is not mounted or does not exist. A busy
    mount is detached lazily so a stuck process cannot block pod teardown."""
    path = os.fsencode(target)
    while is_mounted(target):
        if _libc.umount2(path, 0) == 0:
            continue
        code = ctypes.get_errno()
        if code in (errno.EINVAL, errno.ENOENT):
            return
        if code != errno.EBUSY or _libc.umount2(path, _MNT_DETACH) != 0:
            code = ctypes.get_errno()
            raise MountError(code, f"unmount {target}: {os.strerror(code)}")


def is_mounted(target: Path) -> bool:
    """Whether something is mounted exactly at ``target``."""
    wanted = os.fsencode(os.path.realpath(target)) if os.path.lexists(target) else None
    return wanted is not None and any(m[0] == wanted for m in _mountinfo())


def overlay_lower_dirs() -> list[list[str]]:
    """The lower directories of every overlay mount visible here (as the mount options
    name them: absolute, or relative to the layers directory)."""
    found = []
    for _, fstype, options in _mountinfo():
        if fstype != b"overlay":
            continue
        lowers: list[str] = []
        for option in options.split(b","):
            if option.startswith(b"lowerdir="):
                lowers += [os.fsdecode(p) for p in option[len(b"lowerdir="):].split(b":")]
            elif option.startswith(b"lowerdir+="):  # mounted layer by layer (fsconfig API)
                lowers.append(os.fsdecode(option[len(b"lowerdir+="):]))
        found.append(lowers)
    return found


def _mountinfo() -> list[tuple[bytes, bytes, bytes]]:
    """(mount point, fs type, super options) of each line of /proc/self/mountinfo."""
    entries = []
    with open("/proc/self/mountinfo", "rb") as f:
        for line in f:
            left, _, right = line.rstrip(b"\n").partition(b" - ")
            fields, tail = left.split(b" "), right.split(b" ")
            if len(fields) < 5 or len(tail) < 3:
                continue
            entries.append((_unescape(fields[4]), tail[0], tail[2]))
    return entries


def _unescape(value: bytes) -> bytes:
    """mountinfo escapes space, tab, newline and backslash as octal ``\\NNN``."""
    if b"\\" not in value:
        return value
    out, i = bytearray(), 0
    while i < len(value):
        if value[i:i + 1] == b"\\" and value[i + 1:i + 4].isdigit():
            out.append(int(value[i + 1:i + 4], 8))
            i += 4
        else:
            out.append(value[i])
            i += 1
    return bytes(out)
