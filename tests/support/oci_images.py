"""Build container images for tests, locally and reproducibly, from Python.

Layers are tar streams built with :mod:`tarfile` (fixed times, root ownership); images are
written as OCI image layouts (a directory, or a tar of one as ``oci-archive`` has it) or as
``docker save`` archives. The busybox image carries Debian's static busybox and a symlink per
applet, which is enough for shells, ``sleep``, ``httpd``, ``nc``, ``wget`` and friends.
``push_to_registry`` copies a layout into a registry with the real ``skopeo``.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import io
import json
import shutil
import subprocess
import tarfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BUSYBOX = Path("/usr/bin/busybox")
MTIME = 1_700_000_000
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_REF_NAME = "org.opencontainers.image.ref.name"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

TarEntry = tuple[tarfile.TarInfo, bytes | None]


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# ---- layer entries ---------------------------------------------------------------------------

def _info(path: str, kind: bytes, mode: int, uid: int = 0, gid: int = 0) -> tarfile.TarInfo:
    info = tarfile.TarInfo(path)
    info.type, info.mode, info.uid, info.gid, info.mtime = kind, mode, uid, gid, MTIME
    return info


def file_entry(path: str, data: bytes | str, mode: int = 0o644, uid: int = 0,
               gid: int = 0, xattrs: dict[str, str] | None = None) -> TarEntry:
    raw = data.encode() if isinstance(data, str) else data
    info = _info(path, tarfile.REGTYPE, mode, uid, gid)
    info.size = len(raw)
    for name, value in (xattrs or {}).items():
        info.pax_headers[f"SCHILY.xattr.{name}"] = value
    return info, raw


def dir_entry(path: str, mode: int = 0o755, uid: int = 0, gid: int = 0) -> TarEntry:
    return _info(path, tarfile.DIRTYPE, mode, uid, gid), None


def symlink_entry(path: str, target: str) -> TarEntry:
    info = _info(path, tarfile.SYMTYPE, 0o777)
    info.linkname = target
    return info, None


def hardlink_entry(path: str, target: str) -> TarEntry:
    info = _info(path, tarfile.LNKTYPE, 0o644)
    info.linkname = target
    return info, None


def whiteout_entry(path: str) -> TarEntry:
    """Hide ``path`` of lower layers (OCI whiteout file ``.wh.<name>``)."""
    parent, _, name = path.rpartition("/")
    return file_entry(f"{parent}/.wh.{name}" if parent else f".wh.{name}", b"", 0o600)


def opaque_entry(directory: str) -> TarEntry:
    """Hide everything lower layers have in ``directory``."""
    return file_entry(f"{directory}/.wh..wh..opq", b"", 0o600)


def layer_tar(entries: Iterable[TarEntry]) -> bytes:
    """An uncompressed layer tar of ``entries`` in the given order."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for info, data in entries:
            archive.addfile(info, io.BytesIO(data) if data is not None else None)
    return out.getvalue()


@functools.lru_cache(maxsize=16)
def gzip_bytes(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=6, mtime=0)


# ---- images ----------------------------------------------------------------------------------

@dataclass
class OciImage:
    """A single-platform image: its blobs and the documents naming them."""

    layer_tars: list[bytes]          # uncompressed
    layer_blobs: list[bytes]         # as stored (gzip or plain)
    layer_media_type: str
    config: bytes
    manifest: bytes
    architecture: str = "amd64"

    @property
    def config_digest(self) -> str:
        return digest_of(self.config)

    @property
    def image_id(self) -> str:
        return self.config_digest

    @property
    def manifest_digest(self) -> str:
        return digest_of(self.manifest)

    @property
    def diff_ids(self) -> list[str]:
        return [digest_of(t) for t in self.layer_tars]

    def descriptor(self) -> dict[str, Any]:
        return {"mediaType": OCI_MANIFEST, "digest": self.manifest_digest,
                "size": len(self.manifest),
                "platform": {"architecture": self.architecture, "os": "linux"}}

    def blobs(self) -> dict[str, bytes]:
        found = {digest_of(b): b for b in self.layer_blobs}
        found[self.config_digest] = self.config
        found[self.manifest_digest] = self.manifest
        return found


@dataclass
class OciIndex:
    """A multi-platform image index over several images."""

    images: list[OciImage]
    index: bytes = field(init=False)

    def __post_init__(self) -> None:
        self.index = _json({"schemaVersion": 2, "mediaType": OCI_INDEX,
                            "manifests": [i.descriptor() for i in self.images]})

    @property
    def manifest_digest(self) -> str:
        return digest_of(self.index)

    def descriptor(self) -> dict[str, Any]:
        return {"mediaType": OCI_INDEX, "digest": self.manifest_digest,
                "size": len(self.index)}

    def blobs(self) -> dict[str, bytes]:
        found = {self.manifest_digest: self.index}
        for image in self.images:
            found.update(image.blobs())
        return found


def _json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def build_image(layer_tars: Sequence[bytes], *, cmd: Sequence[str] | None = ("sh",),
                entrypoint: Sequence[str] | None = None, env: Sequence[str] | None = None,
                working_dir: str = "", user: str = "", architecture: str = "amd64",
                compress: bool = True, labels: dict[str, str] | None = None) -> OciImage:
    """An OCI image of the given uncompressed layer tars (bottom first)."""
    blobs = [gzip_bytes(t) if compress else t for t in layer_tars]
    config = _json({
        "architecture": architecture, "os": "linux", "created": "2023-11-14T22:13:20Z",
        "config": {"Env": list(env) if env is not None else [f"PATH={DEFAULT_PATH}"],
                   "Cmd": list(cmd) if cmd is not None else None,
                   "Entrypoint": list(entrypoint) if entrypoint is not None else None,
                   "WorkingDir": working_dir, "User": user, "Labels": labels or {}},
        "rootfs": {"type": "layers", "diff_ids": [digest_of(t) for t in layer_tars]},
        "history": [{"created": "2023-11-14T22:13:20Z", "created_by": "tests"}
                    for _ in layer_tars]})
    media_type = OCI_LAYER_GZIP if compress else OCI_LAYER
    manifest = _json({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": digest_of(config), "size": len(config)},
        "layers": [{"mediaType": media_type, "digest": digest_of(b), "size": len(b)}
                   for b in blobs]})
    return OciImage(layer_tars=list(layer_tars), layer_blobs=blobs, layer_media_type=media_type,
                    config=config, manifest=manifest, architecture=architecture)


def write_oci_layout(directory: Path, content: OciImage | OciIndex,
                     ref_name: str | None = None) -> Path:
    """Add ``content`` to the OCI layout in ``directory`` (created if needed), named
    ``ref_name`` in its index.json; returns ``directory``."""
    blobs_dir = directory / "blobs" / "sha256"
    blobs_dir.mkdir(parents=True, exist_ok=True)
    (directory / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    for digest, data in content.blobs().items():
        (blobs_dir / digest.removeprefix("sha256:")).write_bytes(data)
    index_path = directory / "index.json"
    index = (json.loads(index_path.read_text()) if index_path.exists()
             else {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []})
    descriptor = content.descriptor()
    if isinstance(content, OciIndex):
        descriptor.pop("platform", None)
    if ref_name:
        descriptor["annotations"] = {OCI_REF_NAME: ref_name}
    index["manifests"].append(descriptor)
    index_path.write_bytes(_json(index))
    return directory


def tar_directory(directory: Path, archive: Path) -> Path:
    """A tar of ``directory``'s content (an ``oci-archive`` when it holds a layout)."""
    with tarfile.open(archive, "w") as out:
        for path in sorted(directory.rglob("*")):
            out.add(path, arcname=str(path.relative_to(directory)), recursive=False)
    return archive


def docker_archive(archive: Path, image: OciImage, repo_tags: Sequence[str]) -> Path:
    """A classic ``docker save`` archive (manifest.json, <id>.json, <n>/layer.tar)."""
    config_name = f"{image.config_digest.removeprefix('sha256:')}.json"
    layer_names = [f"{digest_of(t).removeprefix('sha256:')}/layer.tar"
                   for t in image.layer_tars]
    manifest = _json([{"Config": config_name, "RepoTags": list(repo_tags),
                       "Layers": layer_names}])
    files = [("manifest.json", manifest), (config_name, image.config),
             *zip(layer_names, image.layer_tars, strict=True)]
    with tarfile.open(archive, "w") as out:
        for name, data in files:
            info = _info(name, tarfile.REGTYPE, 0o644)
            info.size = len(data)
            out.addfile(info, io.BytesIO(data))
    return archive


# ---- busybox ---------------------------------------------------------------------------------

@functools.cache
def busybox_applets() -> tuple[str, ...]:
    listed = subprocess.run([str(BUSYBOX), "--list"], capture_output=True, text=True,
                            check=True).stdout.split()
    return tuple(a for a in listed if a != "busybox" and "/" not in a)


@functools.cache
def busybox_layer() -> bytes:
    """A root filesystem: /bin/busybox with one symlink per applet, /etc/passwd and group,
    and the usual empty directories."""
    entries: list[TarEntry] = [dir_entry(d) for d in
                               ("bin", "dev", "etc", "proc", "sys", "usr", "usr/bin", "var",
                                "var/www", "home")]
    entries += [dir_entry("tmp", 0o1777), dir_entry("root", 0o700)]
    entries.append(file_entry("bin/busybox", BUSYBOX.read_bytes(), 0o755))
    entries += [symlink_entry(f"bin/{applet}", "busybox") for applet in busybox_applets()]
    entries.append(file_entry("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"
                              "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"))
    entries.append(file_entry("etc/group", "root:x:0:\nnobody:x:65534:\n"))
    return layer_tar(entries)


def build_busybox(extra_layers: Sequence[bytes] = (), **config: Any) -> OciImage:
    """The busybox image, optionally with more layers on top."""
    return build_image([busybox_layer(), *extra_layers], **config)


def busybox_layout(directory: Path, ref_name: str = "docker.io/library/busybox:latest"
                   ) -> Path:
    """An OCI layout directory holding the busybox image named ``ref_name``."""
    return write_oci_layout(directory, build_busybox(), ref_name)


def busybox_image(dest: Path, ref_name: str = "docker.io/library/busybox:latest") -> Path:
    """The busybox image as an OCI-layout tarball in directory ``dest``; returns its path."""
    layout = busybox_layout(dest / "busybox-layout", ref_name)
    return tar_directory(layout, dest / "busybox-oci.tar")


# ---- registries ------------------------------------------------------------------------------

def push_to_registry(layout_dir: Path, destination: str, *, source_ref: str | None = None,
                     all_platforms: bool = False, creds: str | None = None) -> None:
    """Copy an image (or with ``all_platforms`` a whole index) from an OCI layout into a
    registry with skopeo, keeping digests. ``destination`` is ``host:port/repo:tag``."""
    skopeo = shutil.which("skopeo")
    if skopeo is None:
        raise RuntimeError("skopeo is not installed (scripts/install-deps.sh installs it)")
    source = f"oci:{layout_dir}" + (f":{source_ref}" if source_ref else "")
    command = [skopeo, "--insecure-policy", "copy", "--quiet", "--dest-tls-verify=false",
               "--preserve-digests"]
    if all_platforms:
        command.append("--all")
    if creds:
        command += ["--dest-creds", creds]
    result = subprocess.run([*command, source, f"docker://{destination}"],
                            capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"skopeo copy to {destination} failed: {result.stderr.strip()}")
