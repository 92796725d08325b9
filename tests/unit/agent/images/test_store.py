"""The image store without a registry: names, lookups, removal, pull policy Never,
garbage collection order, and sharing the index between processes."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from kubesmith.agent.images import ImageInfo, ImageInUseError, ImagePullError, ImageStore, rootfs
from kubesmith.agent.images.model import REASON_INVALID_NAME, REASON_NEVER_PULL
from tests.support.oci_images import (
    build_busybox,
    digest_of,
    file_entry,
    layer_tar,
    tar_directory,
    write_oci_layout,
)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="unpacking layers needs root")


def import_images(store: ImageStore, tmp_path: Path, names: list[str]) -> list[ImageInfo]:
    """One busybox-based image per name, each with its own top layer."""
    layout = tmp_path / f"layout-{len(os.listdir(tmp_path))}"
    for name in names:
        write_oci_layout(layout, build_busybox([layer_tar([file_entry("name", name)])]), name)
    return store.import_archive(tar_directory(layout, layout.with_suffix(".tar")))


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    return ImageStore(tmp_path / "images")


def test_lookup_by_name_id_short_id_and_digest(tmp_path: Path, store: ImageStore) -> None:
    [info] = import_images(store, tmp_path, ["docker.io/library/app:1"])
    hex_id = info.id.removeprefix("sha256:")
    for name in ("app:1", "docker.io/library/app:1", "library/app:1", info.id, hex_id,
                 hex_id[:13], info.repo_digests[0], "app@" + info.repo_digests[0].split("@")[1]):
        assert store.lookup(name) == info, name
    for name in ("app", "app:2", "other/app:1", "sha256:" + "0" * 64, "000000000000",
                 "Not A Name"):
        assert store.lookup(name) is None, name


def test_an_image_with_a_missing_layer_is_not_present(tmp_path: Path,
                                                      store: ImageStore) -> None:
    [info] = import_images(store, tmp_path, ["example.com/app:1"])
    store.layers.remove(info.layers[-1])
    assert store.lookup("example.com/app:1") is None

async def test_never_policy_and_invalid_names(tmp_path: Path, store: ImageStore) -> None:
    with pytest.raises(ImagePullError) as caught:
        await store.ensure("example.com/absent:1", "Never")
    assert caught.value.reason == REASON_NEVER_PULL
    assert caught.value.message == ('Container image "example.com/absent:1" is not present '
                                    "with pull policy of Never")
    with pytest.raises(ImagePullError) as invalid:
        await store.ensure("Bad:Name", "IfNotPresent")
    assert invalid.value.reason == REASON_INVALID_NAME
    assert invalid.value.message.startswith("Failed to apply default image tag \"Bad:Name\"")
    with pytest.raises(ValueError, match="unknown image pull policy"):
        await store.ensure("busybox", "Sometimes")
    [info] = import_images(store, tmp_path, ["example.com/present:1"])
    assert await store.ensure("example.com/present:1", "Never") == info
    assert await store.ensure("example.com/present:1", "IfNotPresent") == info


def test_a_name_moves_to_the_newer_image(tmp_path: Path, store: ImageStore) -> None:
    [old] = import_images(store, tmp_path, ["example.com/app:1"])
    layout = write_oci_layout(tmp_path / "newer",
                              build_busybox([layer_tar([file_entry("v", "2")])]),
                              "example.com/app:1")
    [new] = store.import_archive(tar_directory(layout, tmp_path / "newer.tar"))
    assert new.id != old.id
    assert store.lookup("example.com/app:1") == new
    untagged = store.lookup(old.id)
    # Like Docker's "<none>" tag: the old repo digest still names that content.
    assert untagged is not None and untagged.references == ()
    assert untagged.repo_digests == old.repo_digests


def test_remove_keeps_layers_other_images_share(tmp_path: Path, store: ImageStore) -> None:
    one, two = import_images(store, tmp_path, ["example.com/one:1", "example.com/two:1"])
    assert store.remove("example.com/one:1") == one.id
    assert store.remove("example.com/one:1") is None
    assert store.lookup("example.com/two:1") == two
    assert store.layers.diff_ids() == set(two.layers)
    assert one.id not in store.blobs.digests()
    assert store.remove(two.id) == two.id
    assert store.layers.diff_ids() == set() and store.blobs.digests() == set()
    assert store.list() == []


def test_only_this_stores_mounts_keep_an_image_in_use(
        tmp_path: Path, store: ImageStore, monkeypatch: pytest.MonkeyPatch) -> None:
    [one] = import_images(store, tmp_path, ["example.com/one:1"])
    names = [d.removeprefix("sha256:") for d in reversed(one.layers)]
    mounts: list[list[str]] = []
    monkeypatch.setattr(rootfs, "overlay_lower_dirs", lambda: mounts)
    # another agent's store on the host mounting the same layers does not count
    mounts.append([f"/elsewhere/images/layers/{n}" for n in names])
    mounts.append(names)  # relative to the layers directory: ours
    with pytest.raises(ImageInUseError):
        store.remove("example.com/one:1")
    mounts[1:] = []
    assert store.remove("example.com/one:1") == one.id


def test_two_stores_on_one_root_see_each_others_changes(tmp_path: Path,
                                                        store: ImageStore) -> None:
    other = ImageStore(store.root)  # e.g. `kubesmith images import` beside the agent
    assert other.list() == []
    [info] = import_images(other, tmp_path, ["example.com/app:1"])
    assert store.lookup("example.com/app:1") == info
    store.remove(info.id)
    assert other.list() == []


def test_gc_removes_least_recently_used_first_until_low(tmp_path: Path,
                                                        store: ImageStore) -> None:
    a, b, c, d = import_images(store, tmp_path, [f"example.com/{n}:1" for n in "abcd"])
    store.mark_used([c.id])
    store.mark_used([a.id])
    # Oldest use first: b and d were never used (their import time counts), then c, then a.
    available = [10]

    def disk_usage(path: Path) -> tuple[int, int]:
        assert path == store.root
        return 100, available[0]

    assert store._collect(set(), 95, 70, disk_usage) == []  # 90% used: below the threshold
    remove = store._remove

    def remove_and_free(image_id: str) -> None:
        remove(image_id)
        available[0] += 10

    store._remove = remove_and_free  # type: ignore[method-assign]
    # b is in use; d and c go, then 30% is free, above the 25% wanted.
    assert store._collect({"example.com/b:1"}, 90, 75, disk_usage) == [d.id, c.id]
    assert {i.id for i in store.list()} == {a.id, b.id}


def test_gc_with_zero_thresholds_removes_every_unused_image(tmp_path: Path,
                                                            store: ImageStore) -> None:
    a, b = import_images(store, tmp_path, ["example.com/a:1", "example.com/b:1"])
    assert store.garbage_collect({b.id}, 100, 100) == []  # never that full
    assert store.garbage_collect({b.id}, 0, 0) == [a.id]
    assert [i.id for i in store.list()] == [b.id]
    assert store.layers.diff_ids() == set(b.layers)


def test_prune_orphans(tmp_path: Path, store: ImageStore) -> None:
    [info] = import_images(store, tmp_path, ["example.com/a:1"])
    orphan = layer_tar([file_entry("orphan", "x")])
    store.layers.install(digest_of(orphan), io.BytesIO(orphan))
    store.prune_orphans()  # young: maybe a pull in progress
    assert digest_of(orphan) in store.layers.diff_ids()
    store.prune_orphans(older_than=0)
    assert store.layers.diff_ids() == set(info.layers)
    assert store.lookup(info.id) == info
