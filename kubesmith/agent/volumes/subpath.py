"""subPath and subPathExpr: mounting a path inside a volume, without letting the pod
reach outside it.

A container that can write into a volume can plant symlinks there (``data -> /etc``), so
the kubelet never hands the runtime ``volume/subPath`` as a string. Like upstream we:

1. expand ``subPathExpr`` from the container's environment (``$(VAR)``, ``$$`` escapes;
   an unset or empty variable is an error);
2. refuse absolute paths and ``..`` elements;
3. create a missing subPath directory component by component under the volume, never
   following a symlink, with the volume root's mode;
4. resolve symlinks once, require the result to stay inside the (resolved) volume, then
   open it again component by component with ``O_NOFOLLOW`` — a symlink swapped in after
   the resolution fails the open instead of being followed;
5. bind-mount the opened file descriptor (``/proc/self/fd/N``) onto
   ``<pod dir>/volume-subpaths/<volume>/<container>/<mount index>``, the path the runtime
   binds into the container. What gets mounted is the object that passed the checks,
   whatever happens to the names afterwards.

The bind mounts are removed with the pod (the volume manager's teardown unmounts
everything under the pod directory).
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable
from pathlib import Path

from kubesmith.agent.volumes import mounts


class SubPathError(Exception):
    """A subPath is refused; the message is the kubelet's."""


def expand(expr: str, lookup: Callable[[str], str]) -> str:
    """Expand ``$(NAME)`` references in ``expr`` (upstream's env expansion syntax):
    ``$$`` is a literal ``$``, an unterminated ``$(`` or a ``$`` before anything else is
    kept as written."""
    out: list[str] = []
    i = 0
    while i < len(expr):
        char = expr[i]
        if char != "$" or i + 1 >= len(expr):
            out.append(char)
            i += 1
            continue
        following = expr[i + 1]
        if following == "$":
            out.append("$")
            i += 2
        elif following == "(":
            end = expr.find(")", i + 2)
            if end < 0:
                out.append("$(")
                i += 2
            else:
                out.append(lookup(expr[i + 2:end]))
                i = end + 1
        else:
            out.append("$" + following)
            i += 2
    return "".join(out)


def expand_subpath_expr(expr: str, env: dict[str, str]) -> str:
    """``subPathExpr`` expanded from ``env``; every unset or empty variable is an error
    (``missing value for A, B``)."""
    missing: set[str] = set()

    def lookup(name: str) -> str:
        value = env.get(name, "")
        if not value:
            missing.add(name)
        return value

    expanded = expand(expr, lookup)
    if missing:
        raise SubPathError(f"missing value for {', '.join(sorted(missing))}")
    return expanded


def validate_subpath(subpath: str) -> None:
    """Refuse an absolute subPath or one with a ``..`` element (the kubelet's wording)."""
    if os.path.isabs(subpath):
        raise SubPathError(f"error SubPath `{subpath}` must not be an absolute path")
    if ".." in subpath.split("/"):
        raise SubPathError(f"unable to provision SubPath `{subpath}`: must not contain '..'")


def _within(path: str, base: str) -> bool:
    return path == base or path.startswith(base.rstrip("/") + "/")


_PATH_FLAGS = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC


def _open_nofollow(base: str, relative: str) -> int:
    """Open ``base/relative`` (an O_PATH descriptor) refusing any symlink on the way."""
    fd = os.open(base, _PATH_FLAGS | os.O_DIRECTORY)
    current = base
    try:
        for segment in [s for s in relative.split("/") if s and s != "."]:
            current = os.path.join(current, segment)
            try:
                child = os.open(segment, _PATH_FLAGS, dir_fd=fd)
            except OSError as exc:
                raise SubPathError(f"cannot open {current}: {exc.strerror}") from exc
            os.close(fd)
            fd = child
            if stat.S_ISLNK(os.fstat(fd).st_mode):
                raise SubPathError(f"unexpected symlink found {current}")
    except BaseException:
        os.close(fd)
        raise
    return fd


def safe_make_dir(volume_root: str, subpath: str, mode: int) -> None:
    """Create the missing directories of ``subpath`` under ``volume_root`` with ``mode``,
    never following a symlink and never leaving the volume."""
    base = os.path.realpath(volume_root)
    full = os.path.join(base, subpath)
    existing = full
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    resolved = os.path.realpath(existing)
    if not _within(resolved, base):
        raise SubPathError(f"path {resolved} is outside of allowed base {base}")
    if not os.path.isdir(resolved):
        raise SubPathError(f"{existing} is not a directory")
    missing = os.path.relpath(full, existing)
    fd = _open_nofollow(base, os.path.relpath(resolved, base))
    try:
        for segment in [s for s in missing.split("/") if s and s != "."]:
            with contextlib.suppress(FileExistsError):
                os.mkdir(segment, mode, dir_fd=fd)
            child = os.open(segment, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW |
                            os.O_CLOEXEC, dir_fd=fd)
            os.close(fd)
            fd = child
            os.fchmod(fd, mode)  # mkdir honours the umask
    finally:
        os.close(fd)


def _prepare_target(target: Path, is_dir: bool, source: os.stat_result) -> bool:
    """Make ``target`` ready to be mounted on; True when a mount of the same object is
    there already (a container restart)."""
    if mounts.is_mount_point(target):
        st = target.stat()
        if (st.st_dev, st.st_ino) == (source.st_dev, source.st_ino):
            return True
        mounts.unmount(target)
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
    if target.is_dir() != is_dir or not target.exists():
        if target.is_dir():
            target.rmdir()
        else:
            target.unlink(missing_ok=True)
        if is_dir:
            target.mkdir(mode=0o750)
        else:
            os.close(os.open(target, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o640))
    return False


def bind_subpath(volume_path: Path, subpath: str, target: Path) -> Path:
    """Check ``subpath`` of the volume at ``volume_path`` and bind-mount what it names on
    ``target`` (see the module docstring); returns ``target``."""
    validate_subpath(subpath)
    base = os.path.realpath(volume_path)
    candidate = os.path.join(base, subpath)
    if not os.path.exists(candidate):
        safe_make_dir(base, subpath, stat.S_IMODE(os.stat(base).st_mode))
    resolved = os.path.realpath(candidate)
    if not _within(resolved, base):
        raise SubPathError(f"path {resolved} is outside of allowed base {base}")
    fd = _open_nofollow(base, os.path.relpath(resolved, base))
    try:
        source = os.fstat(fd)
        if _prepare_target(target, stat.S_ISDIR(source.st_mode), source):
            return target
        mounts.bind_mount(f"/proc/self/fd/{fd}", target)
    finally:
        os.close(fd)
    return target
