"""Unpacking layers: overlay whiteouts, ownership and modes, refusal of escapes."""

from __future__ import annotations

import io
import os
import shutil
import stat
import subprocess
import tarfile
from pathlib import Path

import pytest

from kubesmith.agent.images.content import DigestMismatch, LayerStore
from kubesmith.agent.images.unpack import OVERLAY_OPAQUE_XATTR, LayerError, unpack_layer
from tests.support.oci_images import (
    TarEntry,
    digest_of,
    dir_entry,
    file_entry,
    gzip_bytes,
    hardlink_entry,
    layer_tar,
    opaque_entry,
    symlink_entry,
    whiteout_entry,
)

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="unpacking keeps ownership and makes device nodes: root")


def unpack(tmp_path: Path, entries: list[TarEntry], *, compress: bool = False) -> Path:
    dest = tmp_path / "layer"
    dest.mkdir()
    tar = layer_tar(entries)
    blob = gzip_bytes(tar) if compress else tar
    assert unpack_layer(io.BytesIO(blob), dest) == digest_of(tar)
    return dest


def test_files_dirs_links_keep_ownership_modes_and_times(tmp_path: Path) -> None:
    dest = unpack(tmp_path, [
        dir_entry("etc", 0o750, uid=5, gid=6),
        file_entry("etc/conf", "x=1\n", 0o640, uid=1000, gid=1001),
        file_entry("usr/bin/tool", b"\x7fELF", 0o4755),  # parent dirs implied
        symlink_entry("etc/link", "/etc/conf"),
        hardlink_entry("etc/hard", "etc/conf"),
        dir_entry("ro", 0o555),
        file_entry("ro/inside", "y"),
    ], compress=True)
    conf = (dest / "etc/conf").lstat()
    assert (conf.st_uid, conf.st_gid, stat.S_IMODE(conf.st_mode)) == (1000, 1001, 0o640)
    assert (dest / "etc/conf").read_text() == "x=1\n"
    assert conf.st_mtime == 1_700_000_000
    etc = (dest / "etc").lstat()
    assert (etc.st_uid, etc.st_gid, stat.S_IMODE(etc.st_mode)) == (5, 6, 0o750)
    assert etc.st_mtime == 1_700_000_000  # set after the directory was filled
    assert stat.S_IMODE((dest / "usr/bin/tool").lstat().st_mode) == 0o4755  # setuid kept
    assert os.readlink(dest / "etc/link") == "/etc/conf"  # absolute target kept verbatim
    assert (dest / "etc/hard").lstat().st_ino == conf.st_ino
    assert stat.S_IMODE((dest / "ro").lstat().st_mode) == 0o555
    assert (dest / "ro/inside").read_text() == "y"


def test_whiteouts_become_overlay_whiteouts_and_opaque_dirs(tmp_path: Path) -> None:
    dest = unpack(tmp_path, [
        dir_entry("etc"),
        whiteout_entry("etc/removed"),
        dir_entry("data"),
        opaque_entry("data"),
        file_entry("data/kept", "new"),
    ])
    removed = (dest / "etc/removed").lstat()
    assert stat.S_ISCHR(removed.st_mode) and removed.st_rdev == os.makedev(0, 0)
    assert not (dest / "etc/.wh.removed").exists()
    assert os.getxattr(dest / "data", OVERLAY_OPAQUE_XATTR) == b"y"
    assert not (dest / "data/.wh..wh..opq").exists()
    assert (dest / "data/kept").read_text() == "new"


def test_later_entries_replace_earlier_ones(tmp_path: Path) -> None:
    dest = unpack(tmp_path, [
        file_entry("a", "file"),
        dir_entry("a"),           # a directory replaces the file
        file_entry("a/b", "in"),
        symlink_entry("c", "x"),
        file_entry("c", "real"),  # a file replaces the symlink (not written through it)
    ])
    assert (dest / "a/b").read_text() == "in"
    assert not (dest / "c").is_symlink() and (dest / "c").read_text() == "real"


@pytest.mark.parametrize("name", ["../escape", "a/../../escape", "./../x", "a/.."])
def test_path_traversal_is_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(LayerError, match="path traversal"):
        unpack(tmp_path, [file_entry(name, "evil")])
    assert not (tmp_path / "escape").exists() and not (tmp_path / "x").exists()


def test_absolute_names_stay_inside(tmp_path: Path) -> None:
    dest = unpack(tmp_path, [file_entry("/etc/abs", "in")])
    assert (dest / "etc/abs").read_text() == "in"


@pytest.mark.parametrize("target", ["/", "/tmp", "..", "../outside"])
def test_writing_through_a_symlink_is_refused(tmp_path: Path, target: str) -> None:
    (tmp_path / "outside").mkdir()
    with pytest.raises(LayerError, match="through symlink"):
        unpack(tmp_path, [symlink_entry("evil", target), file_entry("evil/pwned", "x")])
    assert not (tmp_path / "outside/pwned").exists()
    assert not Path("/pwned").exists() and not Path("/tmp/pwned").exists()


def test_hard_links_leaving_the_layer_are_refused(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("host")
    with pytest.raises(LayerError, match="path traversal"):
        unpack(tmp_path, [hardlink_entry("h", "../secret")])
    shutil.rmtree(tmp_path / "layer")
    with pytest.raises(LayerError, match="refusing hard link"):
        unpack(tmp_path, [symlink_entry("d", str(tmp_path)), hardlink_entry("h", "d/secret")])


def test_layer_cannot_set_overlay_xattrs(tmp_path: Path) -> None:
    with pytest.raises(LayerError, match=r"trusted\.overlay\.opaque"):
        unpack(tmp_path, [dir_entry("d"),
                          file_entry("d/f", "x", xattrs={"trusted.overlay.opaque": "y"})])


def test_xattrs_are_kept(tmp_path: Path) -> None:
    dest = unpack(tmp_path, [file_entry("f", "x", xattrs={"user.note": "hello"})])
    assert os.getxattr(dest / "f", "user.note") == b"hello"


def test_devices_and_fifos(tmp_path: Path) -> None:
    null = tarfile.TarInfo("dev/null")
    null.type, null.mode, null.devmajor, null.devminor = tarfile.CHRTYPE, 0o666, 1, 3
    fifo = tarfile.TarInfo("run/fifo")
    fifo.type, fifo.mode = tarfile.FIFOTYPE, 0o600
    dest = unpack(tmp_path, [(null, None), (fifo, None)])
    assert (dest / "dev/null").lstat().st_rdev == os.makedev(1, 3)
    assert stat.S_IMODE((dest / "dev/null").lstat().st_mode) == 0o666
    assert stat.S_ISFIFO((dest / "run/fifo").lstat().st_mode)


def test_zstd_layers_unpack_through_the_zstd_tool(tmp_path: Path) -> None:
    if shutil.which("zstd") is None:
        pytest.skip("zstd tool not installed")
    tar = layer_tar([file_entry("z", "zstd content")])
    blob = subprocess.run(["zstd", "-q", "-c"], input=tar, capture_output=True,
                          check=True).stdout
    dest = tmp_path / "layer"
    dest.mkdir()
    assert unpack_layer(io.BytesIO(blob), dest) == digest_of(tar)
    assert (dest / "z").read_text() == "zstd content"


def test_garbage_is_refused(tmp_path: Path) -> None:
    dest = tmp_path / "layer"
    dest.mkdir()
    with pytest.raises(LayerError, match="cannot unpack layer"):
        unpack_layer(io.BytesIO(gzip_bytes(b"not a tar" * 100)), dest)


def test_layer_store_checks_the_diff_id_and_installs_atomically(tmp_path: Path) -> None:
    store = LayerStore(tmp_path / "layers")
    tar = layer_tar([file_entry("hello", "world")])
    with pytest.raises(DigestMismatch):
        store.install(digest_of(b"something else"), io.BytesIO(tar))
    assert store.diff_ids() == set()
    assert list(store.tmp.iterdir()) == []  # the half-made layer is gone
    store.install(digest_of(tar), io.BytesIO(gzip_bytes(tar)))
    assert (store.path(digest_of(tar)) / "hello").read_text() == "world"
    assert store.diff_ids() == {digest_of(tar)}
    store.remove(digest_of(tar))
    assert not store.exists(digest_of(tar))
