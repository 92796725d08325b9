"""fsGroup: give a volume's files to the pod's supplemental group (upstream's
``SetVolumeOwnership``).

Every entry gets the group; files gain ``g+r`` (read-only volumes) or ``g+rw``, directories
also ``g+x`` and the setgid bit so files created later inherit the group. Symlinks only get
the group (their mode means nothing). With ``fsGroupChangePolicy: OnRootMismatch`` the walk
is skipped when the volume root already looks right, which is what makes large volumes
start fast.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

READ_WRITE_MASK = 0o660
READ_ONLY_MASK = 0o440
EXEC_MASK = 0o110
ON_ROOT_MISMATCH = "OnRootMismatch"


def _wanted_mode(mode: int, read_only: bool) -> int:
    mask = READ_ONLY_MASK if read_only else READ_WRITE_MASK
    if stat.S_ISDIR(mode):
        mask |= stat.S_ISGID | EXEC_MASK
    return stat.S_IMODE(mode) | mask


def _root_matches(root: Path, fs_group: int, read_only: bool) -> bool:
    st = root.stat()
    return st.st_gid == fs_group and stat.S_IMODE(st.st_mode) == _wanted_mode(st.st_mode,
                                                                               read_only)


def _change(path: str, fs_group: int, read_only: bool) -> None:
    os.lchown(path, -1, fs_group)
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        return
    wanted = _wanted_mode(st.st_mode, read_only)
    if wanted != stat.S_IMODE(st.st_mode):
        os.chmod(path, wanted)


def set_volume_ownership(root: Path, fs_group: int | None, *, read_only: bool,
                         policy: str | None = None, recursive: bool = True) -> None:
    """Apply ``fs_group`` to ``root`` and (when ``recursive``) everything below it,
    without following symlinks or leaving the filesystem of ``root``."""
    if fs_group is None:
        return
    if policy == ON_ROOT_MISMATCH and _root_matches(root, fs_group, read_only):
        return
    _change(str(root), fs_group, read_only)
    if not recursive:
        return
    device = root.stat().st_dev
    for current, dirs, files in os.walk(root):
        # Never descend into another filesystem mounted inside the volume.
        dirs[:] = [d for d in dirs
                   if os.lstat(os.path.join(current, d)).st_dev == device]
        for name in (*dirs, *files):
            _change(os.path.join(current, name), fs_group, read_only)
