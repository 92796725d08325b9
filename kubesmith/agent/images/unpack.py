"""Unpack one image layer (a tar stream, plain, gzip or zstd) into its own directory in
overlayfs format.

Each layer lives in its own directory and overlayfs stacks them, so whiteouts are not applied
here but converted to what overlayfs understands: ``.wh.NAME`` becomes a 0:0 character
device ``NAME`` and ``.wh..wh..opq`` marks its directory opaque with the
``trusted.overlay.opaque`` xattr. Ownership, modes, times and xattrs are kept (the agent runs
as root). A layer is untrusted input: names with ``..``, writes through a symlink the layer
itself created (which could point anywhere on the host) and hard links leaving the layer are
refused, and a layer may not set ``trusted.overlay.*`` xattrs itself. Extraction never
follows a symlink: every directory on the way is checked with ``lstat``.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import stat
import subprocess
import tarfile
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, BinaryIO, cast

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
OVERLAY_OPAQUE_XATTR = "trusted.overlay.opaque"
_PAX_XATTR = "SCHILY.xattr."
_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_CHUNK = 1 << 20


class LayerError(Exception):
    """The layer is malformed or tries to escape its directory."""


class _HashingReader(io.RawIOBase):
    """Hashes everything read through it: the diff id is the digest of the uncompressed tar."""

    def __init__(self, inner: IO[bytes]) -> None:
        self._inner = inner
        self.sha256 = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self._inner.read(len(buffer))
        self.sha256.update(data)
        buffer[:len(data)] = data
        return len(data)

    def drain(self) -> None:
        """Read to the end: tar stops at its end marker, but padding after it is part of
        the blob the diff id covers."""
        while data := self._inner.read(_CHUNK):
            self.sha256.update(data)


def unpack_layer(blob: BinaryIO, dest: Path) -> str:
    """Extract the layer tar read from ``blob`` into the (new, empty) directory ``dest``.

    Returns the layer's diff id (``sha256:`` of the uncompressed tar) so the caller can
    compare it with the image config's ``rootfs.diff_ids``.
    """
    with _decompressed(blob) as plain:
        hashing = _HashingReader(plain)
        try:
            with tarfile.open(fileobj=cast(IO[bytes], hashing), mode="r|") as archive:
                _Extractor(dest).extract_all(archive)
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise LayerError(f"cannot unpack layer: {exc}") from exc
        hashing.drain()
    return "sha256:" + hashing.sha256.hexdigest()


@contextmanager
def _decompressed(blob: BinaryIO) -> Iterator[IO[bytes]]:
    buffered = cast(io.BufferedReader,
                    blob if hasattr(blob, "peek") else io.BufferedReader(cast(io.RawIOBase, blob)))
    magic = buffered.peek(4)[:4]
    if magic.startswith(_GZIP_MAGIC):
        with gzip.GzipFile(fileobj=buffered, mode="rb") as plain:
            yield cast(IO[bytes], plain)
    elif magic == _ZSTD_MAGIC:
        with _zstd_decompressed(buffered) as plain:
            yield plain
    else:
        yield buffered


@contextmanager
def _zstd_decompressed(blob: IO[bytes]) -> Iterator[IO[bytes]]:
    """Decompress through the ``zstd`` tool (Python 3.11 has no zstd module); a thread feeds
    its stdin so the whole layer never sits in memory."""
    tool = shutil.which("zstd")
    if tool is None:
        raise LayerError("layer is zstd-compressed and the zstd tool is not installed")
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen([tool, "-dcq"], stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, stderr=errors)
        assert process.stdin is not None and process.stdout is not None

        def feed() -> None:
            stdin = cast(IO[bytes], process.stdin)
            try:
                shutil.copyfileobj(blob, stdin, _CHUNK)
            except BrokenPipeError:
                pass  # zstd stopped early; its exit status says why
            finally:
                stdin.close()

        feeder = threading.Thread(target=feed, name="zstd-feed", daemon=True)
        feeder.start()
        try:
            yield process.stdout
            while process.stdout.read(_CHUNK):
                pass
        finally:
            process.stdout.close()
            feeder.join()
            code = process.wait()
        if code != 0:
            errors.seek(0)
            raise LayerError(f"zstd failed: {errors.read(500).decode(errors='replace')}")


def safe_relpath(name: str) -> str:
    """The member name as a path relative to the layer root ("" for the root itself).

    A leading ``/`` is dropped (tar convention); ``..`` anywhere is refused rather than
    resolved, because no honest layer needs it.
    """
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise LayerError(f"refusing layer entry {name!r}: path traversal")
    return "/".join(parts)


class _Extractor:
    """Extracts tar members under ``root`` without ever following a symlink."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._safe_dirs: set[str] = {""}     # relative dirs verified to be real directories
        self._dirs: list[tuple[str, tarfile.TarInfo]] = []

    def extract_all(self, archive: tarfile.TarFile) -> None:
        for member in archive:
            self._extract(archive, member)
        # Directory modes and times last: creating entries inside changes a directory's mtime,
        # and a read-only mode must not stop later entries.
        for rel, member in reversed(self._dirs):
            path = self._path(rel)
            os.chmod(path, stat.S_IMODE(member.mode))
            os.utime(path, (member.mtime, member.mtime), follow_symlinks=False)

    def _path(self, rel: str) -> str:
        return os.path.join(self.root, rel) if rel else str(self.root)

    def _extract(self, archive: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        rel = safe_relpath(member.name)
        if not rel:
            return  # the root entry: the layer directory's own attributes are ours
        parent, _, base = rel.rpartition("/")
        self._ensure_dir(parent)
        if base == OPAQUE_MARKER:
            os.setxattr(self._path(parent), OVERLAY_OPAQUE_XATTR, b"y")
            return
        if base.startswith(WHITEOUT_PREFIX):
            hidden = base[len(WHITEOUT_PREFIX):]
            if not hidden or hidden in (".", ".."):
                raise LayerError(f"refusing layer entry {member.name!r}: bad whiteout")
            target = f"{parent}/{hidden}" if parent else hidden
            self._clear(target)
            os.mknod(self._path(target), stat.S_IFCHR | 0o000, os.makedev(0, 0))
            return
        path = self._path(rel)
        if member.isdir():
            if not self._is_real_dir(path):
                self._clear(rel)
                os.mkdir(path, 0o700)
            self._safe_dirs.add(rel)
            self._dirs.append((rel, member))
        else:
            self._clear(rel)
            self._create(archive, member, path)
            if member.islnk():
                return  # one inode: the entry it links to already set its attributes
        os.lchown(path, member.uid, member.gid)
        self._set_xattrs(path, member)
        if not member.issym():
            # After chown, which clears set-id bits.
            os.chmod(path, stat.S_IMODE(member.mode))
        if not member.isdir():
            os.utime(path, (member.mtime, member.mtime), follow_symlinks=False)

    def _create(self, archive: tarfile.TarFile, member: tarfile.TarInfo, path: str) -> None:
        if member.isreg():
            source = archive.extractfile(member)
            assert source is not None
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(source, out, _CHUNK)
        elif member.issym():
            os.symlink(member.linkname, path)
        elif member.islnk():
            target = safe_relpath(member.linkname)
            target_parent = target.rpartition("/")[0]
            if not target or not self._is_safe_dir(target_parent):
                raise LayerError(f"refusing hard link {member.name!r} -> {member.linkname!r}")
            target_path = self._path(target)
            if not os.path.lexists(target_path) or self._is_real_dir(target_path):
                raise LayerError(f"hard link {member.name!r} to missing {member.linkname!r}")
            os.link(target_path, path, follow_symlinks=False)
        elif member.ischr() or member.isblk():
            kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
            os.mknod(path, kind | 0o600, os.makedev(member.devmajor, member.devminor))
        elif member.isfifo():
            os.mkfifo(path, 0o600)
        else:
            raise LayerError(f"unsupported tar entry type for {member.name!r}")

    def _ensure_dir(self, rel: str) -> None:
        """Make ``rel`` a real directory, refusing a symlink anywhere on the way."""
        if rel in self._safe_dirs:
            return
        current = ""
        for part in rel.split("/"):
            current = f"{current}/{part}" if current else part
            if current in self._safe_dirs:
                continue
            path = self._path(current)
            try:
                mode = os.lstat(path).st_mode
            except FileNotFoundError:
                os.mkdir(path, 0o755)
            else:
                if stat.S_ISLNK(mode):
                    raise LayerError(f"refusing to write through symlink {current!r}")
                if not stat.S_ISDIR(mode):
                    os.unlink(path)  # a file where the layer wants a directory: tar replaces it
                    os.mkdir(path, 0o755)
            self._safe_dirs.add(current)

    def _is_safe_dir(self, rel: str) -> bool:
        """Whether ``rel`` exists as a directory reached without symlinks."""
        current = ""
        for part in rel.split("/") if rel else []:
            current = f"{current}/{part}" if current else part
            if current not in self._safe_dirs and not self._is_real_dir(self._path(current)):
                return False
        return True

    @staticmethod
    def _is_real_dir(path: str) -> bool:
        try:
            return stat.S_ISDIR(os.lstat(path).st_mode)
        except FileNotFoundError:
            return False

    def _clear(self, rel: str) -> None:
        """Remove whatever is at ``rel`` so a later entry replaces it (tar semantics)."""
        path = self._path(rel)
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            return
        if not stat.S_ISDIR(mode):
            os.unlink(path)
            return
        # Rare (a layer replacing its own directory): forget what was known under it.
        shutil.rmtree(path)
        prefix = rel + "/"
        self._safe_dirs = {d for d in self._safe_dirs if d != rel and not d.startswith(prefix)}
        self._dirs = [(d, m) for d, m in self._dirs if d != rel and not d.startswith(prefix)]

    @staticmethod
    def _set_xattrs(path: str, member: tarfile.TarInfo) -> None:
        for key, value in member.pax_headers.items():
            if not key.startswith(_PAX_XATTR):
                continue
            name = key[len(_PAX_XATTR):]
            if name.startswith("trusted.overlay."):
                raise LayerError(f"refusing layer entry {member.name!r}: sets {name}")
            raw = value.encode("utf-8", "surrogateescape")
            try:
                os.setxattr(path, name, raw, follow_symlinks=False)
            except OSError:
                # Filesystems without user/security xattrs (or symlinks) just lose them,
                # as with Docker's overlay2 driver.
                continue
