"""Root filesystems of pulled images as overlay mounts, and garbage collection that never
touches an image in use."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubesmith.agent.images import ImageInUseError, ImageStore
from kubesmith.agent.images import rootfs as rootfs_module
from kubesmith.agent.paths import AgentPaths
from tests.support.oci_images import (
    build_busybox,
    dir_entry,
    file_entry,
    layer_tar,
    opaque_entry,
    tar_directory,
    whiteout_entry,
    write_oci_layout,
)
from tests.support.registry import LoopbackRegistry

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(os.geteuid() != 0, reason="overlay mounts need root")]


@pytest.fixture
def paths(tmp_path: Path) -> AgentPaths:
    return AgentPaths(root=tmp_path / "root", run=tmp_path / "run", log=tmp_path / "log")


@pytest.fixture
def store(paths: AgentPaths) -> Iterator[ImageStore]:
    store = ImageStore(paths.images)
    yield store
    # Whatever a test left mounted goes, even when it failed.
    for container in paths.containers.glob("*") if paths.containers.exists() else []:
        store.unmount_rootfs(container)


def run_in(rootfs: Path, script: str) -> str:
    return subprocess.run(["chroot", str(rootfs), "/bin/sh", "-c", script], capture_output=True,
                          text=True, check=True, timeout=30).stdout


async def test_mount_a_pulled_image(tmp_path: Path, paths: AgentPaths, store: ImageStore,
                                    loopback_registry: LoopbackRegistry) -> None:
    middle = layer_tar([dir_entry("etc"), file_entry("etc/secret", "lower"),
                        dir_entry("data"), file_entry("data/a", "a"), file_entry("data/b", "b"),
                        file_entry("etc/motd", "hello from the image\n")])
    top = layer_tar([dir_entry("etc"), whiteout_entry("etc/secret"), dir_entry("data"),
                     opaque_entry("data"), file_entry("data/c", "c")])
    image = build_busybox([middle, top])
    layout = write_oci_layout(tmp_path / "layout", image, "mounted")
    ref = loopback_registry.push(layout, "rootfs/app:1")
    info = await store.ensure(ref, "IfNotPresent")

    container = paths.container_dir("c1")
    rootfs = store.mount_rootfs(info, container)
    assert rootfs == container / "rootfs"
    assert rootfs_module.is_mounted(rootfs)
    assert store.mount_rootfs(info, container) == rootfs  # again: no second mount
    assert (rootfs / "etc/motd").read_text() == "hello from the image\n"
    assert not (rootfs / "etc/secret").exists()              # whited out by the top layer
    assert sorted(p.name for p in (rootfs / "data").iterdir()) == ["c"]  # opaque directory
    assert run_in(rootfs, "echo hi; cat /etc/motd; ls /data") == (
        "hi\nhello from the image\nc\n")

    # Writes land in the container's upper directory, never in the shared layers.
    run_in(rootfs, "echo changed > /etc/motd; echo new > /tmp/new")
    assert (container / "upper/etc/motd").read_text() == "changed\n"
    assert (store.layers.path(info.layers[1]) / "etc/motd").read_text() == (
        "hello from the image\n")
    with pytest.raises(ImageInUseError):
        store.remove(ref)

    store.unmount_rootfs(container)
    store.unmount_rootfs(container)  # idempotent
    assert not rootfs_module.is_mounted(rootfs)
    assert list(rootfs.iterdir()) == []
    assert store.remove(ref) == info.id


def test_an_image_with_many_layers_mounts(tmp_path: Path, paths: AgentPaths,
                                          store: ImageStore) -> None:
    # 45 layers: absolute lower paths no longer fit in the one page mount(2) accepts.
    layers = [layer_tar([file_entry(f"layer-{n}", str(n))]) for n in range(45)]
    layout = write_oci_layout(tmp_path / "layout", build_busybox(layers), "example.com/deep:1")
    [info] = store.import_archive(tar_directory(layout, tmp_path / "deep.tar"))
    lowers = ":".join(str(store.layers.path(d)) for d in info.layers)
    assert len(lowers) > 4096
    container = paths.container_dir("deep")
    rootfs = store.mount_rootfs(info, container)
    assert sorted(p.name for p in rootfs.glob("layer-*")) == sorted(
        f"layer-{n}" for n in range(45))
    assert run_in(rootfs, "cat /layer-44") == "44"
    with pytest.raises(ImageInUseError):  # recognized from relative lower paths too
        store.remove(info.id)
    assert store.garbage_collect(set(), 0, 0) == []
    store.unmount_rootfs(container)
    assert not rootfs_module.is_mounted(rootfs)


async def test_gc_leaves_images_in_use(tmp_path: Path, paths: AgentPaths, store: ImageStore,
                                       loopback_registry: LoopbackRegistry) -> None:
    infos = {}
    for name in ("mounted", "named", "unused"):
        image = build_busybox([layer_tar([file_entry("name", name)])])
        layout = write_oci_layout(tmp_path / f"layout-{name}", image, name)
        infos[name] = await store.pull(loopback_registry.push(layout, f"gc/{name}:1"))
    container = paths.container_dir("gc")
    store.mount_rootfs(infos["mounted"], container)

    # Thresholds of 0 ask for everything that may go; only the unused image may.
    in_use = {loopback_registry.ref("gc/named:1")}
    assert store.garbage_collect(in_use, 0, 0) == [infos["unused"].id]
    assert {i.id for i in store.list()} == {infos["mounted"].id, infos["named"].id}
    assert store.lookup(infos["mounted"].id) is not None
    assert run_in(container / "rootfs", "cat /name") == "mounted"

    store.unmount_rootfs(container)
    assert store.garbage_collect({infos["named"].id}, 0, 0) == [infos["mounted"].id]
    assert [i.id for i in store.list()] == [infos["named"].id]
    assert store.layers.diff_ids() == set(infos["named"].layers)
    # Below the high threshold nothing goes, used or not.
    assert store.garbage_collect(set(), 100, 90) == []
