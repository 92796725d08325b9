"""Importing OCI-layout and docker-save tarballs into the store."""

from __future__ import annotations

import json
import os
import tarfile
from pathlib import Path

import pytest

from kubesmith.agent.images import ImageStore
from kubesmith.agent.images.importer import ArchiveError
from tests.support.oci_images import (
    OciIndex,
    build_busybox,
    build_image,
    busybox_image,
    docker_archive,
    file_entry,
    layer_tar,
    tar_directory,
    write_oci_layout,
)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="unpacking layers needs root")


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    return ImageStore(tmp_path / "images")


def test_oci_layout_tarball(tmp_path: Path, store: ImageStore) -> None:
    archive = busybox_image(tmp_path, "docker.io/library/busybox:1.36")
    image = build_busybox()
    [info] = store.import_archive(archive)
    assert info.id == image.image_id
    assert info.references == ("docker.io/library/busybox:1.36",)
    assert info.repo_digests == (f"docker.io/library/busybox@{image.manifest_digest}",)
    assert info.layers == tuple(image.diff_ids)
    assert info.size == len(image.config) + sum(len(b) for b in image.layer_blobs)
    assert info.config.cmd == ["sh"]
    assert store.lookup("busybox:1.36") == info
    layer = store.layers.path(info.layers[0])
    assert os.readlink(layer / "bin/sh") == "busybox"
    assert (layer / "bin/busybox").stat().st_mode & 0o111
    # Compressed layer blobs are dropped once unpacked; manifest and config are kept.
    assert store.blobs.digests() == {image.manifest_digest, image.config_digest}


def test_tag_only_names_need_a_base_name(tmp_path: Path, store: ImageStore) -> None:
    layout = write_oci_layout(tmp_path / "layout", build_busybox(), "1.0")
    archive = tar_directory(layout, tmp_path / "oci.tar")
    [unnamed] = store.import_archive(archive)
    assert unnamed.references == ()
    [named] = store.import_archive(archive, base_name="example.com/tools/bb")
    assert named.references == ("example.com/tools/bb:1.0",)
    assert store.lookup(unnamed.id) == named


def test_docker_save_archive(tmp_path: Path, store: ImageStore) -> None:
    top = layer_tar([file_entry("etc/motd", "from docker\n")])
    image = build_busybox([top], compress=False, entrypoint=["/bin/sh", "-c"], cmd=["id"],
                          working_dir="/tmp", user="65534")
    archive = docker_archive(tmp_path / "save.tar", image, ["bb:saved", "example.com/x:y"])
    [info] = store.import_archive(archive)
    assert info.id == image.image_id
    assert info.references == ("docker.io/library/bb:saved", "example.com/x:y")
    assert info.repo_digests == ()
    assert info.config.entrypoint == ["/bin/sh", "-c"]
    assert (info.config.working_dir, info.config.user) == ("/tmp", "65534")
    assert (store.layers.path(info.layers[1]) / "etc/motd").read_text() == "from docker\n"


def test_layers_shared_between_images_are_stored_once(tmp_path: Path,
                                                      store: ImageStore) -> None:
    first = build_busybox([layer_tar([file_entry("a", "1")])])
    second = build_busybox([layer_tar([file_entry("b", "2")])])
    layout = write_oci_layout(tmp_path / "layout", first, "example.com/one:1")
    write_oci_layout(layout, second, "example.com/two:1")
    infos = store.import_archive(tar_directory(layout, tmp_path / "two.tar"))
    assert [i.references for i in infos] == [("example.com/one:1",), ("example.com/two:1",)]
    assert infos[0].layers[0] == infos[1].layers[0]
    assert len(store.layers.diff_ids()) == 3
    # Importing again changes nothing.
    assert store.import_archive(tmp_path / "two.tar") == infos
    assert len(store.list()) == 2


def test_an_index_in_the_layout_selects_this_platform(tmp_path: Path,
                                                      store: ImageStore) -> None:
    amd64 = build_busybox([layer_tar([file_entry("arch", "amd64")])])
    arm64 = build_image([layer_tar([file_entry("arch", "arm64")])], architecture="arm64")
    index = OciIndex([arm64, amd64])
    layout = write_oci_layout(tmp_path / "layout", index, "example.com/multi:1")
    [info] = store.import_archive(tar_directory(layout, tmp_path / "multi.tar"))
    assert info.id == amd64.image_id
    assert info.repo_digests == (f"example.com/multi@{index.manifest_digest}",)


def test_tampered_config_is_refused(tmp_path: Path, store: ImageStore) -> None:
    image = build_busybox()
    layout = write_oci_layout(tmp_path / "layout", image, "example.com/x:1")
    config = layout / "blobs/sha256" / image.config_digest.removeprefix("sha256:")
    config.write_bytes(config.read_bytes().replace(b'"sh"', b'"id"'))
    with pytest.raises(ArchiveError, match="does not match its digest"):
        store.import_archive(tar_directory(layout, tmp_path / "bad.tar"))
    assert store.list() == []


def test_layer_not_matching_its_diff_id_is_refused(tmp_path: Path, store: ImageStore) -> None:
    image = build_busybox(compress=False)
    config = json.loads(image.config)
    config["rootfs"]["diff_ids"][0] = "sha256:" + "0" * 64
    image.config = json.dumps(config).encode()
    archive = docker_archive(tmp_path / "save.tar", image, ["bad:1"])
    with pytest.raises(Exception, match="the image config says sha256:0000"):
        store.import_archive(archive)
    assert store.list() == [] and store.layers.diff_ids() == set()


def test_not_an_image_archive(tmp_path: Path, store: ImageStore) -> None:
    with tarfile.open(tmp_path / "other.tar", "w") as archive:
        archive.add(__file__, arcname="hello.py")
    with pytest.raises(ArchiveError, match="neither an OCI image layout nor a docker save"):
        store.import_archive(tmp_path / "other.tar")
    (tmp_path / "junk.tar").write_bytes(b"junk")
    with pytest.raises(ArchiveError, match="not a readable tar archive"):
        store.import_archive(tmp_path / "junk.tar")
