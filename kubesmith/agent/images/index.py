"""The store's index of images: one JSON file, rewritten atomically.

The agent and ``kubesmith images`` commands may use one store at the same time (and the
agent may import or collect in worker threads), so every change re-reads the file under a
thread lock and an exclusive ``flock`` and replaces it with ``os.replace``; readers never
lock and see the old or the new file, never a partial one. A reader notices another
process's change by the file's identity (inode, size, mtime) and reloads.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from kubesmith.agent.images.model import ImageConfig, ImageInfo

_VERSION = 1


@dataclass
class ImageRecord:
    """One image in the index (mutable while an update holds the lock)."""

    id: str
    layers: list[str]
    size: int
    config: ImageConfig
    references: list[str] = field(default_factory=list)
    repo_digests: list[str] = field(default_factory=list)
    # Manifests and indexes kept as blobs for this image; the config blob is ``id``.
    blobs: list[str] = field(default_factory=list)
    added_at: float = 0.0

    def info(self) -> ImageInfo:
        return ImageInfo(id=self.id, references=tuple(self.references),
                         repo_digests=tuple(self.repo_digests), size=self.size,
                         layers=tuple(self.layers), config=self.config)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "layers": self.layers, "size": self.size,
                "config": self.config.to_json(), "references": self.references,
                "repoDigests": self.repo_digests, "blobs": self.blobs,
                "addedAt": self.added_at}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> ImageRecord:
        return cls(id=value["id"], layers=list(value["layers"]), size=int(value["size"]),
                   config=ImageConfig.from_config_json({"config": value.get("config")}),
                   references=list(value.get("references") or []),
                   repo_digests=list(value.get("repoDigests") or []),
                   blobs=list(value.get("blobs") or []),
                   added_at=float(value.get("addedAt") or 0.0))


class ImageIndex:
    """Images by id, backed by ``path`` (``index.json``) with ``path.lock`` for writers.

    Readers get an immutable snapshot (a dict nobody changes after publishing it), so they
    take no lock, in this thread or another; writers serialize on a thread lock plus the
    file lock and publish a new snapshot.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock_path = path.with_name(path.name + ".lock")
        self._thread_lock = threading.Lock()
        self._snapshot: tuple[tuple[int, int, int] | None, dict[str, ImageRecord]] = (None, {})
        self.refresh()

    def refresh(self) -> Mapping[str, ImageRecord]:
        """The current records (do not change them), re-read if another writer replaced
        the file."""
        identity, records = self._snapshot
        current = self._identity()
        if current != identity:
            records = self._load() if current is not None else {}
            self._snapshot = (current, records)
        return records

    def _identity(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def _load(self) -> dict[str, ImageRecord]:
        try:
            document = orjson.loads(self.path.read_bytes())
        except FileNotFoundError:
            return {}
        return {r["id"]: ImageRecord.from_json(r) for r in document.get("images", [])}

    @contextmanager
    def update(self) -> Iterator[dict[str, ImageRecord]]:
        """Lock, read fresh records and yield them for changing in place; they are written
        and published when the block exits without an exception."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._thread_lock, open(self._lock_path, "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            records = self._load()
            yield records
            self._write(records)
            self._snapshot = (self._identity(), records)

    def _write(self, records: dict[str, ImageRecord]) -> None:
        data = orjson.dumps({"version": _VERSION,
                             "images": [r.to_json() for r in records.values()]},
                            option=orjson.OPT_INDENT_2)
        temporary = self.path.with_name(f".{self.path.name}.{secrets.token_hex(4)}")
        with open(temporary, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, self.path)
