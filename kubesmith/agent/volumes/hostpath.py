"""hostPath volumes: the host path itself is bind-mounted, after upstream's ``type`` check
(with its error texts), creating it first for the ``...OrCreate`` types."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from kubesmith.agent.volumes.errors import SourceError

#: The file type names upstream's host utilities report.
_TYPE_NAMES = {stat.S_IFSOCK: "Socket", stat.S_IFBLK: "BlockDevice",
               stat.S_IFCHR: "CharDevice", stat.S_IFDIR: "Directory", stat.S_IFREG: "File"}

#: type -> (the type the path must have, how the error describes it)
_EXPECTED = {
    "Directory": ("Directory", "directory"), "DirectoryOrCreate": ("Directory", "directory"),
    "File": ("File", "file"), "FileOrCreate": ("File", "file"),
    "Socket": ("Socket", "socket file"), "CharDevice": ("CharDevice", "character device"),
    "BlockDevice": ("BlockDevice", "block device"),
}


def no_backsteps(path: str) -> None:
    """Refuse a path with a ``..`` element (upstream's ValidatePathNoBacksteps)."""
    if ".." in path.split("/"):
        raise SourceError(f"invalid HostPath `{path}`: must not contain '..'")


def file_type(path: str) -> str:
    """Upstream's name of the type of ``path`` (symlinks followed)."""
    mode = os.stat(path).st_mode
    name = _TYPE_NAMES.get(stat.S_IFMT(mode))
    if name is None:
        raise OSError("only recognise file, directory, socket, block device and character "
                      "device")
    return name


def check_type(path: str, path_type: str, *, create_mode: int = 0o755) -> None:
    """Check (or create) ``path`` as a hostPath ``type`` demands; "" checks nothing.

    ``DirectoryOrCreate`` creates missing directories with ``create_mode`` (0755 as
    upstream; the local-path provisioner's volumes ask for 0777), ``FileOrCreate`` an
    empty 0644 file in an existing directory.
    """
    if path_type == "":
        return
    expected = _EXPECTED.get(path_type)
    if expected is None:
        raise SourceError(f"{path_type} is an invalid volume type")
    exists = os.path.exists(path)
    if path_type == "DirectoryOrCreate" and not exists:
        try:
            os.makedirs(path, mode=create_mode)
        except FileExistsError:
            pass
        else:
            os.chmod(path, create_mode)  # makedirs honours the umask
        return
    if path_type == "FileOrCreate" and not exists:
        fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o644)
        os.close(fd)
        return
    wanted, description = expected
    if not exists:
        raise SourceError(f"hostPath {path} doesn't exist")
    try:
        actual = file_type(path)
    except OSError as exc:
        raise SourceError(f"hostPath type check failed, {path} is not a {description}, "
                          f"unable to determine its type: {exc.strerror or exc}") from exc
    if actual != wanted:
        raise SourceError(f"hostPath type check failed: {path} is not a {description}, "
                          f"it's a {actual}")


def setup_host_path(path: str, path_type: str, *, create_mode: int = 0o755) -> Path:
    """Validate and check a hostPath; the path the container gets bound."""
    no_backsteps(path)
    try:
        check_type(path, path_type, create_mode=create_mode)
    except OSError as exc:
        raise SourceError(str(exc)) from exc
    return Path(path)
