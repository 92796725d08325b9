"""Manifest, image index and descriptor documents (OCI and Docker schema 2), and choosing
the manifest for this host's platform out of an index."""

from __future__ import annotations

import hashlib
import platform
from dataclasses import dataclass, field
from typing import Any

import orjson

from kubesmith.agent.images.reference import is_digest

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
# Refuse bigger documents: a manifest is a few KiB; containerd uses the same bound.
MAX_MANIFEST_BYTES = 4 << 20

_ARCHITECTURES = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le",
                  "s390x": "s390x", "riscv64": "riscv64"}


class ManifestError(ValueError):
    """A manifest or index document is malformed or of an unsupported kind."""


def sha256_digest(data: bytes) -> str:
    """The ``sha256:<hex>`` digest of ``data``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def host_platform() -> tuple[str, str]:
    """(os, architecture) in OCI terms for this machine, e.g. ("linux", "amd64")."""
    machine = platform.machine()
    return "linux", _ARCHITECTURES.get(machine, machine)


@dataclass(frozen=True, slots=True)
class Descriptor:
    """A pointer to content: media type, digest and size (OCI descriptor)."""

    media_type: str
    digest: str
    size: int
    platform: dict[str, Any] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, value: Any) -> Descriptor:
        if not isinstance(value, dict):
            raise ManifestError("descriptor is not an object")
        digest, size = value.get("digest"), value.get("size")
        if not isinstance(digest, str) or not is_digest(digest):
            raise ManifestError(f"unsupported or malformed digest {digest!r}")
        if not isinstance(size, int) or size < 0:
            raise ManifestError(f"descriptor {digest} has no valid size")
        return cls(media_type=str(value.get("mediaType") or ""), digest=digest, size=size,
                   platform=dict(value.get("platform") or {}),
                   annotations={str(k): str(v)
                                for k, v in (value.get("annotations") or {}).items()})


@dataclass(frozen=True, slots=True)
class Manifest:
    """An image manifest: its config blob and layer blobs, bottom layer first."""

    config: Descriptor
    layers: tuple[Descriptor, ...]

    @property
    def size(self) -> int:
        """Bytes of every blob the manifest names."""
        return self.config.size + sum(layer.size for layer in self.layers)


@dataclass(frozen=True, slots=True)
class Index:
    """An OCI image index or Docker manifest list."""

    manifests: tuple[Descriptor, ...]


def _json_object(data: bytes, what: str) -> dict[str, Any]:
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ManifestError(f"{what} is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise ManifestError(f"{what} is not a JSON object")
    return document


def parse_document(data: bytes, media_type: str = "") -> Manifest | Index:
    """Parse a manifest or index; ``media_type`` (from Content-Type) may be empty, then the
    document's own ``mediaType`` or its shape decides."""
    document = _json_object(data, "manifest")
    kind = str(document.get("mediaType") or "")
    if media_type in INDEX_TYPES + MANIFEST_TYPES:
        kind = media_type
    if not kind:
        kind = OCI_INDEX if "manifests" in document else OCI_MANIFEST
    if document.get("schemaVersion") == 1:
        raise ManifestError("Docker image manifest schema 1 is not supported")
    if kind in INDEX_TYPES:
        return Index(tuple(Descriptor.from_json(m) for m in document.get("manifests") or []))
    if kind in MANIFEST_TYPES:
        if "config" not in document:
            raise ManifestError("manifest has no config")
        return Manifest(config=Descriptor.from_json(document["config"]),
                        layers=tuple(Descriptor.from_json(x)
                                     for x in document.get("layers") or []))
    raise ManifestError(f"unsupported manifest media type {kind!r}")


def select_platform(index: Index, wanted: tuple[str, str] | None = None) -> Descriptor:
    """The index entry for ``wanted`` (default: this host), skipping attestations and
    nested entries without a platform when a platform-specific one exists."""
    os_name, arch = wanted or host_platform()
    candidates = [m for m in index.manifests
                  if m.platform.get("os") == os_name and m.platform.get("architecture") == arch]
    if not candidates:
        raise ManifestError(f"no matching manifest for {os_name}/{arch} in the manifest "
                            "list entries")
    # Prefer the common variant (arm64 → v8) when several variants are listed.
    candidates.sort(key=lambda m: m.platform.get("variant") not in (None, "", "v8"))
    return candidates[0]


def parse_config(data: bytes) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The image config document and its layer diff ids."""
    document = _json_object(data, "image config")
    diff_ids = (document.get("rootfs") or {}).get("diff_ids") or []
    if not all(isinstance(d, str) and is_digest(d) for d in diff_ids):
        raise ManifestError("image config has malformed rootfs.diff_ids")
    return document, tuple(diff_ids)
