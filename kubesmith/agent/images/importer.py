"""Reading image tarballs: an OCI image layout (``skopeo copy ... oci-archive:``, ``docker
save`` since Docker 25, ``buildah push``) or a classic ``docker save`` archive.

Nothing in the archive is trusted: every manifest and config is checked against its digest,
every layer against the diff id the (verified) config lists, and archive paths are only used
to look members up, never to write files.
"""

from __future__ import annotations

import tarfile
import time
from pathlib import Path
from typing import Any

import orjson

from kubesmith.agent.images.content import BlobStore, DigestMismatch, LayerStore, digest_hex
from kubesmith.agent.images.index import ImageRecord
from kubesmith.agent.images.manifests import (
    Descriptor,
    Index,
    Manifest,
    ManifestError,
    host_platform,
    parse_config,
    parse_document,
    select_platform,
    sha256_digest,
)
from kubesmith.agent.images.model import ImageConfig
from kubesmith.agent.images.reference import ImageReference, InvalidReference, parse_reference

# Annotations naming an image in an OCI layout's index.json.
CONTAINERD_NAME = "io.containerd.image.name"
OCI_REF_NAME = "org.opencontainers.image.ref.name"


class ArchiveError(ValueError):
    """The file is not an image archive we understand, or its content is inconsistent."""


def read_archive(path: Path, blobs: BlobStore, layers: LayerStore, *,
                 base_name: str | None = None) -> list[ImageRecord]:
    """Unpack the layers of every image in the archive at ``path`` into ``layers`` and store
    its manifests and configs in ``blobs``; returns the images to record."""
    try:
        with tarfile.open(path) as archive:
            reader = _ArchiveReader(archive)
            if reader.has("oci-layout") and reader.has("index.json"):
                return _OciLayout(reader, blobs, layers, base_name).images()
            if reader.has("manifest.json"):
                return _DockerArchive(reader, blobs, layers).images()
    except (tarfile.TarError, EOFError) as exc:
        raise ArchiveError(f"{path}: not a readable tar archive: {exc}") from exc
    except (ManifestError, DigestMismatch, InvalidReference) as exc:
        raise ArchiveError(f"{path}: {exc}") from exc
    raise ArchiveError(f"{path}: neither an OCI image layout nor a docker save archive")


def _normalize(name: str) -> str:
    while name.startswith("./"):
        name = name[2:]
    return name.lstrip("/")


class _ArchiveReader:
    """Members of the outer tar by normalized name."""

    def __init__(self, archive: tarfile.TarFile) -> None:
        self.archive = archive
        self.members = {_normalize(m.name): m for m in archive.getmembers()
                        if m.isreg() or m.issym() or m.islnk()}

    def has(self, name: str) -> bool:
        return name in self.members

    def open(self, name: str) -> Any:
        member = self.members.get(_normalize(name))
        stream = self.archive.extractfile(member) if member is not None else None
        if stream is None:
            raise ArchiveError(f"archive has no file {name!r}")
        return stream

    def read(self, name: str, limit: int = 64 << 20) -> bytes:
        with self.open(name) as stream:
            data: bytes = stream.read(limit + 1)
        if len(data) > limit:
            raise ArchiveError(f"{name} is too large")
        return data

    def size(self, name: str) -> int:
        return self.members[_normalize(name)].size


def _install_layers(reader: _ArchiveReader, layers: LayerStore,
                    paths_and_diff_ids: list[tuple[str, str]]) -> None:
    for name, diff_id in paths_and_diff_ids:
        if not layers.exists(diff_id):
            with reader.open(name) as stream:
                layers.install(diff_id, stream)


class _OciLayout:
    def __init__(self, reader: _ArchiveReader, blobs: BlobStore, layers: LayerStore,
                 base_name: str | None) -> None:
        self.reader, self.blobs, self.layers, self.base_name = reader, blobs, layers, base_name

    def _blob(self, descriptor: Descriptor) -> bytes:
        data = self.reader.read(f"blobs/sha256/{digest_hex(descriptor.digest)}")
        if sha256_digest(data) != descriptor.digest:
            raise DigestMismatch(f"blob {descriptor.digest} does not match its digest")
        return data

    def images(self) -> list[ImageRecord]:
        index = parse_document(self.reader.read("index.json"))
        if not isinstance(index, Index):
            raise ManifestError("index.json is not an image index")
        entries = [d for d in index.manifests
                   if not d.platform or (d.platform.get("os"), d.platform.get("architecture"))
                   == host_platform()]
        if not entries:
            raise ManifestError("no image for {}/{} in the archive".format(*host_platform()))
        return [self._image(entry) for entry in entries]

    def _image(self, entry: Descriptor) -> ImageRecord:
        stored = {}
        data = self._blob(entry)
        stored[entry.digest] = data
        document = parse_document(data, entry.media_type)
        if isinstance(document, Index):
            chosen = select_platform(document)
            data = self._blob(chosen)
            stored[chosen.digest] = data
            document = parse_document(data, chosen.media_type)
        if not isinstance(document, Manifest):
            raise ManifestError("an image index inside an image index is not supported")
        config_data = self._blob(document.config)
        config, diff_ids = parse_config(config_data)
        if len(diff_ids) != len(document.layers):
            raise ManifestError(f"image config lists {len(diff_ids)} layers, the manifest "
                                f"{len(document.layers)}")
        _install_layers(self.reader, self.layers, [
            (f"blobs/sha256/{digest_hex(layer.digest)}", diff_id)
            for layer, diff_id in zip(document.layers, diff_ids, strict=True)])
        for digest, content in stored.items():
            self.blobs.write(content, digest)
        self.blobs.write(config_data, document.config.digest)
        name = self._name(entry)
        return ImageRecord(id=document.config.digest, layers=list(diff_ids),
                           size=document.size, config=ImageConfig.from_config_json(config),
                           references=[str(name)] if name else [],
                           repo_digests=[name.with_digest(entry.digest)] if name else [],
                           blobs=list(stored), added_at=time.time())

    def _name(self, entry: Descriptor) -> ImageReference | None:
        """The entry's reference: a full name annotation, or a bare tag joined to the base
        name (OCI says ref.name is usually just a tag)."""
        text = entry.annotations.get(CONTAINERD_NAME) or entry.annotations.get(OCI_REF_NAME)
        if not text:
            return None
        if "/" in text or ":" in text:
            return parse_reference(text)
        if self.base_name:
            return parse_reference(f"{self.base_name}:{text}")
        return None


class _DockerArchive:
    def __init__(self, reader: _ArchiveReader, blobs: BlobStore, layers: LayerStore) -> None:
        self.reader, self.blobs, self.layers = reader, blobs, layers

    def images(self) -> list[ImageRecord]:
        try:
            entries = orjson.loads(self.reader.read("manifest.json"))
        except orjson.JSONDecodeError as exc:
            raise ManifestError(f"manifest.json is not valid JSON: {exc}") from None
        if not isinstance(entries, list):
            raise ManifestError("manifest.json is not a list")
        return [self._image(entry) for entry in entries]

    def _image(self, entry: Any) -> ImageRecord:
        if not isinstance(entry, dict) or not isinstance(entry.get("Config"), str):
            raise ManifestError("manifest.json entry without Config")
        config_data = self.reader.read(entry["Config"])
        image_id = sha256_digest(config_data)
        config, diff_ids = parse_config(config_data)
        layer_paths = [str(p) for p in entry.get("Layers") or []]
        if len(diff_ids) != len(layer_paths):
            raise ManifestError(f"image config lists {len(diff_ids)} layers, manifest.json "
                                f"{len(layer_paths)}")
        _install_layers(self.reader, self.layers,
                        list(zip(layer_paths, diff_ids, strict=True)))
        self.blobs.write(config_data, image_id)
        names = [str(parse_reference(t)) for t in entry.get("RepoTags") or []]
        size = len(config_data) + sum(self.reader.size(p) for p in layer_paths)
        return ImageRecord(id=image_id, layers=list(diff_ids), size=size,
                           config=ImageConfig.from_config_json(config), references=names,
                           added_at=time.time())
