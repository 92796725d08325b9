"""Content-addressed storage on disk: verified blobs and unpacked layers.

``blobs/sha256/<hex>`` holds manifests, indexes and image configs by digest; compressed
layer blobs only pass through it while they are unpacked and are then dropped (the unpacked
layer is what containers use, keeping both would double the disk used). ``layers/<hex>``
holds a layer unpacked in overlayfs format, named by its diff id, so images sharing a layer
share one directory. Both are written under a temporary name in the same filesystem and
renamed into place, so a present entry is always complete.
"""

from __future__ import annotations

import os
import secrets
import shutil
import time
from pathlib import Path
from typing import BinaryIO

from kubesmith.agent.images.manifests import sha256_digest
from kubesmith.agent.images.unpack import unpack_layer

_TMP = ".tmp"


def digest_hex(digest: str) -> str:
    """The hex part of a ``sha256:<hex>`` digest."""
    return digest.partition(":")[2]


def remove_stale_temporaries(directory: Path, older_than: float) -> None:
    """Remove leftovers of interrupted writes (other processes may be writing newer ones)."""
    deadline = time.time() - older_than
    for entry in directory.iterdir() if directory.is_dir() else []:
        try:
            if entry.lstat().st_mtime < deadline:
                remove_tree(entry)
        except FileNotFoundError:
            continue


def remove_tree(path: Path) -> None:
    """Delete a file or a directory tree, whatever is there."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


class DigestMismatch(Exception):
    """Content did not hash to the digest that named it."""


class BlobStore:
    """Blobs by digest under ``root/sha256/``; temporaries under ``root/.tmp``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp = root / _TMP
        (root / "sha256").mkdir(parents=True, exist_ok=True)
        self.tmp.mkdir(parents=True, exist_ok=True)

    def path(self, digest: str) -> Path:
        return self.root / "sha256" / digest_hex(digest)

    def exists(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def read(self, digest: str) -> bytes:
        return self.path(digest).read_bytes()

    def temporary(self) -> Path:
        """A fresh path for a download in progress, on the same filesystem as the store."""
        return self.tmp / secrets.token_hex(8)

    def commit(self, temporary: Path, digest: str) -> Path:
        """Move an already verified temporary file into place."""
        target = self.path(digest)
        os.replace(temporary, target)
        return target

    def write(self, data: bytes, digest: str) -> None:
        """Store ``data`` after checking that it hashes to ``digest``."""
        if sha256_digest(data) != digest:
            raise DigestMismatch(f"content does not match digest {digest}")
        if self.exists(digest):
            return
        temporary = self.temporary()
        with open(temporary, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        self.commit(temporary, digest)

    def remove(self, digest: str) -> None:
        self.path(digest).unlink(missing_ok=True)

    def digests(self) -> set[str]:
        return {f"sha256:{p.name}" for p in (self.root / "sha256").iterdir()}


class LayerStore:
    """Unpacked layers by diff id under ``root/<hex>``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp = root / _TMP
        self.tmp.mkdir(parents=True, exist_ok=True)
        # overlayfs needs at least one lower directory; images without layers get this one.
        self.empty = root / "empty"
        self.empty.mkdir(exist_ok=True)

    def path(self, diff_id: str) -> Path:
        return self.root / digest_hex(diff_id)

    def exists(self, diff_id: str) -> bool:
        return self.path(diff_id).is_dir()

    def install(self, diff_id: str, blob: BinaryIO) -> None:
        """Unpack ``blob`` as the layer ``diff_id``; refuse it if the content hashes to
        anything else. Blocking: run it in a worker thread from async code."""
        work = self.tmp / f"{digest_hex(diff_id)}-{secrets.token_hex(4)}"
        work.mkdir(mode=0o755)
        try:
            actual = unpack_layer(blob, work)
            if actual != diff_id:
                raise DigestMismatch(f"layer content is {actual}, the image config says "
                                     f"{diff_id}")
            os.utime(work)  # the install time: garbage collection spares fresh layers
            try:
                os.rename(work, self.path(diff_id))
            except OSError:
                if not self.exists(diff_id):
                    raise
                # Another pull installed the same layer meanwhile; keep theirs.
        finally:
            if work.exists():
                remove_tree(work)

    def remove(self, diff_id: str) -> None:
        """Delete a layer."""
        detached = self.detach(diff_id)
        if detached is not None:
            remove_tree(detached)

    def detach(self, diff_id: str) -> Path | None:
        """Make a layer absent at once (a rename) and return where it now is, for deleting
        with :func:`remove_tree` later, outside any lock; None if it was not there."""
        doomed = self.tmp / f"deleted-{secrets.token_hex(8)}"
        try:
            os.rename(self.path(diff_id), doomed)
        except FileNotFoundError:
            return None
        return doomed

    def diff_ids(self) -> set[str]:
        return {f"sha256:{p.name}" for p in self.root.iterdir()
                if len(p.name) == 64 and p.is_dir()}

    def installed_at(self, diff_id: str) -> float:
        return self.path(diff_id).stat().st_mtime

