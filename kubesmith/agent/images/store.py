"""The node's image store: pull, import, look up, mount and garbage-collect images.

Layout under ``root`` (the agent's ``paths.images``)::

    index.json, index.json.lock   images by id with their names (see index.py)
    blobs/sha256/<hex>            manifests, indexes and configs (see content.py)
    layers/<hex>                  unpacked layers by diff id, shared between images

Concurrency: pulls run on the agent's event loop. Two pods pulling the same image (with the
same credentials) share one pull task; two images sharing a layer share its download through
a per-layer lock. Unpacking is blocking work and runs in a worker thread. Index changes take
the index's file lock, so ``kubesmith images`` commands can run beside the agent. Images are
removed only when no mounted root filesystem uses them: mounts are read from
/proc/self/mountinfo, which also protects images of containers the caller forgot to name.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import logging
import re
import time
from collections.abc import Coroutine, Iterable, Sequence
from pathlib import Path
from typing import Any

import aiohttp

from kubesmith.agent.images import gc, rootfs
from kubesmith.agent.images.content import (
    BlobStore,
    DigestMismatch,
    LayerStore,
    digest_hex,
    remove_stale_temporaries,
    remove_tree,
)
from kubesmith.agent.images.credentials import RegistryAuth, matching_credentials
from kubesmith.agent.images.importer import read_archive
from kubesmith.agent.images.index import ImageIndex, ImageRecord
from kubesmith.agent.images.manifests import (
    Descriptor,
    Index,
    ManifestError,
    parse_config,
    parse_document,
    select_platform,
)
from kubesmith.agent.images.model import (
    REASON_INVALID_NAME,
    REASON_NEVER_PULL,
    ImageConfig,
    ImageInfo,
    ImageInUseError,
    ImagePullError,
)
from kubesmith.agent.images.reference import (
    ImageReference,
    InvalidReference,
    is_image_id,
    parse_reference,
)
from kubesmith.agent.images.registry import RegistryClient, RegistryError, uses_plain_http
from kubesmith.agent.images.unpack import LayerError

log = logging.getLogger(__name__)

USER_AGENT = "kubesmith-agent"
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
# Parallel layer downloads per pull (Docker's default).
_DOWNLOADS = 3
# Orphaned layers, blobs and temporaries younger than this may belong to a pull in progress
# (possibly in another process), so garbage collection leaves them.
_ORPHAN_GRACE = 3600.0
_ID_PREFIX = re.compile(r"(?:sha256:)?([0-9a-f]{12,64})")
_PullKey = tuple[str, tuple[RegistryAuth, ...]]


class ImageStore:
    """Images on this node; see the module docstring for layout and concurrency."""

    def __init__(self, root: Path, *, insecure_registries: Sequence[str] = ()) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self.blobs = BlobStore(root / "blobs")
        self.layers = LayerStore(root / "layers")
        self.index = ImageIndex(root / "index.json")
        self.insecure_registries = tuple(insecure_registries)
        self._pulls: dict[_PullKey, asyncio.Future[ImageInfo]] = {}
        self._layer_locks: dict[str, asyncio.Lock] = {}
        self._installing: set[str] = set()
        # Last container start per image id; kept in memory like the kubelet's (after a
        # restart images count as used when they were added).
        self._last_used: dict[str, float] = {}

    # ---- queries -------------------------------------------------------------------------

    def list(self) -> list[ImageInfo]:
        """Every image, sorted by first name (unnamed images last)."""
        records = self.index.refresh().values()
        return sorted((r.info() for r in records),
                      key=lambda i: (not i.references, i.references[:1], i.id))

    def lookup(self, image: str) -> ImageInfo | None:
        """The present image a pod's ``image`` field (or an image id) names, or None."""
        record = self._find(image)
        if record is None or not all(self.layers.exists(d) for d in record.layers):
            return None
        return record.info()

    def _find(self, image: str) -> ImageRecord | None:
        records = self.index.refresh()
        if is_image_id(image):
            return records.get(image if image.startswith("sha256:") else f"sha256:{image}")
        try:
            ref = parse_reference(image)
        except InvalidReference:
            ref = None
        if ref is not None:
            for record in records.values():
                if (ref.with_digest(ref.digest) in record.repo_digests if ref.digest
                        else str(ref) in record.references):
                    return record
        match = _ID_PREFIX.fullmatch(image)
        if match:  # a short id, as `crictl images` shows them
            found = [r for r in records.values() if digest_hex(r.id).startswith(match[1])]
            if len(found) == 1:
                return found[0]
        return None

    # ---- pulling -------------------------------------------------------------------------

    async def ensure(self, image: str, policy: str,
                     credentials: Sequence[RegistryAuth] = ()) -> ImageInfo:
        """Make ``image`` present according to a container's ``imagePullPolicy``."""
        if policy not in PULL_POLICIES:
            raise ValueError(f"unknown image pull policy {policy!r}")
        try:
            parse_reference(image)
        except InvalidReference as exc:
            raise ImagePullError(f'Failed to apply default image tag "{image}": {exc}',
                                 reason=REASON_INVALID_NAME) from None
        if policy != "Always":
            present = self.lookup(image)
            if present is not None:
                return present
            if policy == "Never":
                raise ImagePullError(f'Container image "{image}" is not present with pull '
                                     "policy of Never", reason=REASON_NEVER_PULL)
        return await self.pull(image, credentials)

    async def pull(self, image: str, credentials: Sequence[RegistryAuth] = ()) -> ImageInfo:
        """Pull ``image`` from its registry (layers already present are not downloaded)."""
        try:
            ref = parse_reference(image)
        except InvalidReference as exc:
            raise ImagePullError(str(exc), reason=REASON_INVALID_NAME) from None
        key: _PullKey = (str(ref), tuple(credentials))
        task = self._pulls.get(key)
        if task is None:
            task = asyncio.ensure_future(self._pull(ref, credentials))
            self._pulls[key] = task
            task.add_done_callback(lambda done: self._pull_done(key, done))
        # A waiter giving up (its pod was deleted) must not cancel others' pull.
        return await asyncio.shield(task)

    def _pull_done(self, key: _PullKey, task: asyncio.Future[ImageInfo]) -> None:
        self._pulls.pop(key, None)
        if not task.cancelled():
            task.exception()  # retrieved: every waiter may have gone

    async def _pull(self, ref: ImageReference,
                    credentials: Sequence[RegistryAuth]) -> ImageInfo:
        attempts: builtins.list[RegistryAuth | None] = [
            *matching_credentials(credentials, ref)] or [None]
        plain_http = uses_plain_http(ref.domain, self.insecure_registries)
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=300)
        started = time.monotonic()
        async with aiohttp.ClientSession(timeout=timeout,
                                         headers={"User-Agent": USER_AGENT}) as session:
            for number, auth in enumerate(attempts, start=1):
                client = RegistryClient(session, ref, auth, plain_http=plain_http)
                try:
                    info = await self._pull_with(client, ref)
                except RegistryError as exc:
                    if exc.unauthorized and number < len(attempts):
                        continue  # the kubelet tries each matching credential in turn
                    raise ImagePullError(_pull_message(ref, exc.message)) from exc
                except (ManifestError, LayerError, DigestMismatch) as exc:
                    raise ImagePullError(_pull_message(ref, str(exc))) from exc
                except TimeoutError as exc:  # before OSError, its base class
                    raise ImagePullError(_pull_message(ref, "timed out talking to the "
                                                       "registry")) from exc
                except (aiohttp.ClientError, OSError) as exc:
                    raise ImagePullError(_pull_message(ref, str(exc) or type(exc).__name__)
                                         ) from exc
                log.info("pulled %s (%s) in %.1fs", ref, info.id, time.monotonic() - started)
                return info
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _pull_with(self, client: RegistryClient, ref: ImageReference) -> ImageInfo:
        try:
            data, media_type, top_digest = await client.get_manifest(ref.manifest_reference)
        except RegistryError as exc:
            raise RegistryError(f'failed to resolve reference "{ref}": {exc.message}',
                                exc.status) from exc
        documents = {top_digest: data}
        document = parse_document(data, media_type)
        if isinstance(document, Index):
            chosen = select_platform(document)
            data, media_type, digest = await client.get_manifest(chosen.digest)
            documents[digest] = data
            document = parse_document(data, media_type)
            if isinstance(document, Index):
                raise ManifestError("an image index inside an image index is not supported")
        config_data = await client.get_blob(document.config)
        config, diff_ids = parse_config(config_data)
        if len(diff_ids) != len(document.layers):
            raise ManifestError(f"image config lists {len(diff_ids)} layers, the manifest "
                                f"{len(document.layers)}")
        self._installing.update(diff_ids)
        try:
            limit = asyncio.Semaphore(_DOWNLOADS)
            await _all_or_nothing([self._ensure_layer(client, layer, diff_id, limit)
                                   for layer, diff_id in zip(document.layers, diff_ids,
                                                             strict=True)])
            for digest, content in documents.items():
                self.blobs.write(content, digest)
            self.blobs.write(config_data, document.config.digest)
            record = ImageRecord(
                id=document.config.digest, layers=list(diff_ids), size=document.size,
                config=ImageConfig.from_config_json(config),
                references=[str(ref)] if ref.digest is None else [],
                repo_digests=[ref.with_digest(top_digest)], blobs=list(documents),
                added_at=time.time())
            return self._record(record)
        finally:
            self._installing.difference_update(diff_ids)

    async def _ensure_layer(self, client: RegistryClient, layer: Descriptor, diff_id: str,
                            limit: asyncio.Semaphore) -> None:
        lock = self._layer_locks.setdefault(diff_id, asyncio.Lock())
        async with lock:
            if self.layers.exists(diff_id):
                return
            download = self.blobs.temporary()
            try:
                async with limit:
                    await client.download_blob(layer, download)
                install = asyncio.ensure_future(
                    asyncio.to_thread(self._install_layer, diff_id, download))
                try:
                    await asyncio.shield(install)
                finally:
                    # A thread cannot be cancelled: let the unpack finish before cleaning up.
                    if not install.done():
                        await asyncio.wait({install})
            finally:
                download.unlink(missing_ok=True)

    def _install_layer(self, diff_id: str, blob: Path) -> None:
        with open(blob, "rb") as stream:
            self.layers.install(diff_id, stream)

    # ---- importing -----------------------------------------------------------------------

    def import_archive(self, path: Path, *,
                       base_name: str | None = None) -> builtins.list[ImageInfo]:
        """Import every image of an OCI-layout or ``docker save`` tarball.

        ``base_name`` names images whose archive gives only a tag (``skopeo copy
        oci-archive:F:1`` writes just ``1``). Blocking: call it from a worker thread in
        async code.
        """
        records = read_archive(path, self.blobs, self.layers, base_name=base_name)
        return [self._record(record) for record in records]

    def _record(self, new: ImageRecord) -> ImageInfo:
        """Add or merge ``new`` into the index, moving its names off other images."""
        with self.index.update() as records:
            missing = [d for d in new.layers if not self.layers.exists(d)]
            if missing:
                raise ImagePullError(f"layer {missing[0]} was removed while the image was "
                                     "being stored; retry")
            names = set(new.references) | set(new.repo_digests)
            for other in records.values():
                other.references = [n for n in other.references if n not in names]
                other.repo_digests = [n for n in other.repo_digests if n not in names]
            current = records.get(new.id)
            if current is None:
                records[new.id] = current = new
            else:
                current.references += new.references
                current.repo_digests += new.repo_digests
                current.blobs = sorted(set(current.blobs) | set(new.blobs))
            return current.info()

    # ---- removal and garbage collection --------------------------------------------------

    def remove(self, image: str) -> str | None:
        """Remove the image ``image`` names, with all its names; returns its id (None if
        there was no such image). Raises :class:`ImageInUseError` if a root filesystem
        uses it."""
        record = self._find(image)
        if record is None:
            return None
        if self._mounted(record):
            raise ImageInUseError(f"image {record.id} is used by a running container")
        self._remove(record.id)
        return record.id

    def _remove(self, image_id: str) -> None:
        detached: builtins.list[Path] = []
        with self.index.update() as records:
            removed = records.pop(image_id, None)
            if removed is None:
                return
            kept_layers = {d for r in records.values() for d in r.layers}
            kept_blobs = {b for r in records.values() for b in (r.id, *r.blobs)}
            spared = kept_layers | self._mounted_layers() | self._installing
            for diff_id in set(removed.layers) - spared:
                detached += filter(None, [self.layers.detach(diff_id)])
            for digest in {removed.id, *removed.blobs} - kept_blobs:
                self.blobs.remove(digest)
        self._last_used.pop(image_id, None)
        for path in detached:  # slow for big layers: outside the index lock
            remove_tree(path)

    def garbage_collect(self, in_use: set[str], high_percent: int,
                        low_percent: int) -> builtins.list[str]:
        """Remove unused images, least recently used first, while the disk holding the store
        is above ``high_percent`` and until it is at ``low_percent``. ``in_use`` holds image
        ids or names of images containers use. Returns the removed image ids."""
        return self._collect(in_use, high_percent, low_percent, gc.statvfs_usage)

    def _collect(self, in_use: set[str], high_percent: int, low_percent: int,
                 disk_usage: gc.DiskUsage) -> builtins.list[str]:
        records = self.index.refresh()
        candidates = [(r.id, self._last_used.get(r.id, r.added_at))
                      for r in records.values()
                      if not self._used(r, in_use) and not self._mounted(r)]
        removed = gc.collect(self.root, candidates, self._remove, high_percent=high_percent,
                             low_percent=low_percent, disk_usage=disk_usage)
        self.prune_orphans()
        if removed:
            log.info("image garbage collection removed %s", ", ".join(removed))
        return removed

    @staticmethod
    def _used(record: ImageRecord, in_use: set[str]) -> bool:
        return bool(in_use & {record.id, digest_hex(record.id), *record.references,
                              *record.repo_digests})

    def prune_orphans(self, older_than: float = _ORPHAN_GRACE) -> None:
        """Remove layers and blobs no image references, and leftovers of interrupted pulls."""
        remove_stale_temporaries(self.blobs.tmp, older_than)
        remove_stale_temporaries(self.layers.tmp, older_than)
        deadline = time.time() - older_than
        detached: builtins.list[Path] = []
        with self.index.update() as records:
            kept_layers = ({d for r in records.values() for d in r.layers}
                           | self._mounted_layers() | self._installing)
            for diff_id in self.layers.diff_ids() - kept_layers:
                with contextlib.suppress(FileNotFoundError):
                    if self.layers.installed_at(diff_id) < deadline:
                        detached += filter(None, [self.layers.detach(diff_id)])
            kept_blobs = {b for r in records.values() for b in (r.id, *r.blobs)}
            for digest in self.blobs.digests() - kept_blobs:
                with contextlib.suppress(FileNotFoundError):
                    if self.blobs.path(digest).stat().st_mtime < deadline:
                        self.blobs.remove(digest)
        for path in detached:
            remove_tree(path)

    # ---- root filesystems ----------------------------------------------------------------

    def mount_rootfs(self, image: ImageInfo, container_dir: Path) -> Path:
        """Mount ``image`` as an overlay at ``container_dir/rootfs`` (writes go to
        ``container_dir/upper``); returns the rootfs path. Mounting again is a no-op."""
        target = container_dir / "rootfs"
        upper, work = container_dir / "upper", container_dir / "work"
        for directory in (target, upper, work):
            directory.mkdir(parents=True, exist_ok=True)
        self._last_used[image.id] = time.time()
        if rootfs.is_mounted(target):
            return target
        lowers = [self.layers.path(d) for d in reversed(image.layers)] or [self.layers.empty]
        absent = [p for p in lowers if not p.is_dir()]
        if absent:
            raise ImagePullError(f"image {image.id} is incomplete: layer {absent[0].name} "
                                 "is missing")
        rootfs.mount_overlay(lowers, upper, work, target)
        return target

    def unmount_rootfs(self, container_dir: Path) -> None:
        """Unmount ``container_dir/rootfs``; does nothing if it is not mounted."""
        rootfs.unmount(container_dir / "rootfs")

    def mark_used(self, image_ids: Iterable[str]) -> None:
        """Record that containers use these images now (garbage collection ordering)."""
        now = time.time()
        for image_id in image_ids:
            self._last_used[image_id] = now

    def _mounted_layers(self) -> set[str]:
        layers_dir = str(self.layers.root)
        found = set()
        for lowers in rootfs.overlay_lower_dirs():
            for lower in lowers:
                parent, _, name = lower.rpartition("/")
                if parent in ("", layers_dir) and len(name) == 64:
                    found.add(f"sha256:{name}")
        return found

    def _mounted(self, record: ImageRecord) -> bool:
        wanted = [digest_hex(d) for d in reversed(record.layers)] or ["empty"]
        # Only this store's layer directories (absolute, or relative to it in the long
        # options form): another store on the host may hold the same layers.
        layers_dir = str(self.layers.root)
        for lowers in rootfs.overlay_lower_dirs():
            split = [lower.rpartition("/") for lower in lowers]
            if [name for _, _, name in split] == wanted and \
                    all(parent in ("", layers_dir) for parent, _, _ in split):
                return True
        return False


async def _all_or_nothing(steps: builtins.list[Coroutine[Any, Any, None]]) -> None:
    """Run ``steps`` concurrently; when one fails, cancel and wait for the others so no
    download is left writing after the pull has failed."""
    tasks = [asyncio.ensure_future(step) for step in steps]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def _pull_message(ref: ImageReference, detail: str) -> str:
    return f'failed to pull and unpack image "{ref}": {detail}'
