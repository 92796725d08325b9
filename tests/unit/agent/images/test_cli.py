"""``kubesmith images`` commands against a store in a temporary root directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kubesmith.agent.images import ImageStore
from kubesmith.agent.images.cli import human_size, images_main
from kubesmith.agent.paths import AgentPaths
from tests.support.oci_images import build_busybox, busybox_image, docker_archive

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="unpacking layers needs root")


@pytest.mark.parametrize(("size", "text"), [(0, "0B"), (999, "999B"), (1000, "1kB"),
                                            (1_036_514, "1.04MB"), (4_270_000, "4.27MB"),
                                            (772_500, "772kB"), (1_230_000_000, "1.23GB")])
def test_sizes_print_like_crictl(size: int, text: str) -> None:
    assert human_size(size) == text


def test_import_list_remove_gc(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = ["--root-dir", str(tmp_path / "agent")]
    archive = busybox_image(tmp_path, "docker.io/library/busybox:1.36")
    assert images_main(["import", str(archive), *root]) == 0
    image = build_busybox()
    assert capsys.readouterr().out == (f"imported docker.io/library/busybox:1.36 "
                                       f"{image.image_id}\n")
    saved = docker_archive(tmp_path / "save.tar", build_busybox(compress=False, cmd=["id"]),
                           [])
    assert images_main(["import", str(saved), *root]) == 0
    capsys.readouterr()

    assert images_main(["list", *root]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["IMAGE", "TAG", "IMAGE", "ID", "SIZE"]
    short = image.image_id.removeprefix("sha256:")[:13]
    assert lines[1].split() == ["docker.io/library/busybox", "1.36", short, "1.04MB"]
    assert lines[2].split()[:2] == ["<none>", "<none>"]
    assert images_main(["ls", "-q", *root]) == 0
    assert len(capsys.readouterr().out.split()) == 2

    store = ImageStore(AgentPaths(root=tmp_path / "agent").images)
    assert store.lookup("busybox:1.36") is not None
    assert images_main(["rmi", "busybox:1.36", "nothing:here", *root]) == 1
    captured = capsys.readouterr()
    assert captured.out == "Deleted: busybox:1.36\n"
    assert captured.err == "error: no such image nothing:here\n"
    assert store.lookup("busybox:1.36") is None

    assert images_main(["gc", "--high-percent", "0", "--low-percent", "0", *root]) == 0
    assert capsys.readouterr().out.startswith("Deleted: sha256:")
    assert store.list() == []


def test_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = ["--root-dir", str(tmp_path / "agent")]
    (tmp_path / "junk.tar").write_bytes(b"junk")
    assert images_main(["import", str(tmp_path / "junk.tar"), *root]) == 1
    assert capsys.readouterr().err.startswith("error: ")
    # Nothing listens on port 9 of loopback: a connection error, reported, not raised.
    assert images_main(["pull", "127.0.0.1:9/x/y:1", *root]) == 1
    err = capsys.readouterr().err
    assert err.startswith('error: failed to pull and unpack image "127.0.0.1:9/x/y:1": ')
    assert "Cannot connect" in err
