"""Atomic projection of a set of files into a volume directory, as the kubelet does for
configMap, secret, downwardAPI and projected volumes.

A reader inside the container must never see half of an update (a new certificate with
the old key). So the real files live in a hidden timestamped directory
(``..2026_11_27_02_09_05.123456789``); ``..data`` is a symlink to it and every
user-visible top-level entry is a symlink through it (``ca.crt -> ..data/ca.crt``). An
update writes a complete new timestamped directory, points a fresh ``..data_tmp`` symlink
at it and renames that over ``..data`` — one atomic ``rename(2)`` switches every file at
once — then prunes entries that disappeared and the previous directory. Names starting
with ``..`` are reserved for this machinery.

Not thread-safe: the caller serializes writes to one directory (the volume manager holds a
per-pod lock).
"""

from __future__ import annotations

import datetime as dt
import os
import random
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

DATA_DIR = "..data"
NEW_DATA_DIR = "..data_tmp"
MAX_FILE_NAME = 255
MAX_PATH = 4096


@dataclass(frozen=True, slots=True)
class FileProjection:
    """One file of a payload: its bytes, mode and (optionally) owner uid."""

    data: bytes
    mode: int
    fs_user: int | None = None


class PayloadError(ValueError):
    """A payload path the writer refuses (upstream's wording)."""


def validate_path(path: str) -> None:
    """Refuse empty, absolute, over-long, ``..``-containing or ``..``-prefixed paths."""
    if path == "":
        raise PayloadError(f'invalid path: must not be empty: "{path}"')
    if os.path.isabs(path):
        raise PayloadError(f"invalid path: must be relative path: {path}")
    if len(path) > MAX_PATH:
        raise PayloadError(f"invalid path: must be less than or equal to {MAX_PATH} "
                           "characters")
    items = path.split("/")
    for item in items:
        if item == "..":
            raise PayloadError(f"invalid path: must not contain '..': {path}")
        if len(item) > MAX_FILE_NAME:
            raise PayloadError("invalid path: filenames must be less than or equal to "
                               f"{MAX_FILE_NAME} characters")
    if items[0].startswith("..") and len(items[0]) > 2:
        raise PayloadError(f"invalid path: must not start with '..': {path}")


def _clean(path: str) -> str:
    return os.path.normpath(path)


def _timestamped_name(now: dt.datetime) -> str:
    return now.strftime("..%Y_%m_%d_%H_%M_%S.") + str(random.randrange(2**32))


class AtomicWriter:
    """Projects payloads into ``target`` (which must exist)."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def current_dir(self) -> Path | None:
        """The timestamped directory ``..data`` points to, if any."""
        try:
            return self.target / os.readlink(self.target / DATA_DIR)
        except FileNotFoundError:
            return None

    def write(self, payload: Mapping[str, FileProjection],
              set_perms: Callable[[Path], None] | None = None) -> bool:
        """Make the directory show exactly ``payload``; returns False when nothing needed
        writing (same paths, same bytes). ``set_perms`` runs on the new timestamped
        directory before it becomes visible (fsGroup ownership)."""
        for path in payload:
            validate_path(path)
        clean = {_clean(path): proj for path, proj in payload.items()}
        old = self.current_dir()
        stale: set[str] = set()
        if old is not None:
            stale = self._paths_to_remove(clean, old)
            if not stale and not self._content_differs(clean, old):
                return False
        new = self._new_timestamped_dir()
        try:
            self._write_files(clean, new)
            if set_perms is not None:
                set_perms(new)
            tmp_link = self.target / NEW_DATA_DIR
            if tmp_link.is_symlink():  # left by a crash between symlink and rename
                tmp_link.unlink()
            os.symlink(new.name, tmp_link)
            os.rename(tmp_link, self.target / DATA_DIR)
        except BaseException:
            (self.target / NEW_DATA_DIR).unlink(missing_ok=True)
            shutil.rmtree(new, ignore_errors=True)
            raise
        self._create_visible(clean)
        self._remove_visible(stale)
        self._remove_old_dirs(keep=new.name)
        return True

    @staticmethod
    def _content_differs(payload: Mapping[str, FileProjection], old: Path) -> bool:
        for path, proj in payload.items():
            try:
                if (old / path).read_bytes() != proj.data:
                    return True
            except FileNotFoundError:
                return True
        return False

    @staticmethod
    def _paths_to_remove(payload: Mapping[str, FileProjection], old: Path) -> set[str]:
        present: set[str] = set()
        for root, dirs, files in os.walk(old):
            rel_root = os.path.relpath(root, old)
            for name in (*dirs, *files):
                present.add(name if rel_root == "." else f"{rel_root}/{name}")
        wanted: set[str] = set()
        for path in payload:
            # Every parent of a wanted file stays, or a non-empty directory would be removed.
            while path:
                wanted.add(path)
                path = os.path.dirname(path)
        return present - wanted

    def _new_timestamped_dir(self) -> Path:
        while True:
            path = self.target / _timestamped_name(dt.datetime.now(dt.UTC))
            try:
                path.mkdir()
            except FileExistsError:
                continue
            # Group and others must be able to traverse it whatever the umask.
            path.chmod(0o755)
            return path

    @staticmethod
    def _write_files(payload: Mapping[str, FileProjection], directory: Path) -> None:
        for path, proj in payload.items():
            full = directory / path
            full.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(full, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW,
                         proj.mode & 0o7777)
            try:
                os.write(fd, proj.data)
                # open(2) applies the umask; the projected mode must win regardless.
                os.fchmod(fd, proj.mode & 0o7777)
                if proj.fs_user is not None:
                    os.fchown(fd, proj.fs_user, -1)
            finally:
                os.close(fd)

    def _create_visible(self, payload: Mapping[str, FileProjection]) -> None:
        for path in payload:
            top = path.split("/", 1)[0]
            link = self.target / top
            if not link.is_symlink():
                os.symlink(f"{DATA_DIR}/{top}", link)

    def _remove_visible(self, stale: set[str]) -> None:
        # Only top-level entries are user-visible symlinks; deeper paths vanished with the
        # old timestamped directory.
        for path in stale:
            if "/" not in path:
                (self.target / path).unlink(missing_ok=True)

    def _remove_old_dirs(self, keep: str) -> None:
        """Remove every timestamped directory but ``keep`` (the previous one, and any a
        crash left behind)."""
        for entry in os.scandir(self.target):
            if entry.name.startswith("..") and entry.name not in (keep, DATA_DIR) \
                    and entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
