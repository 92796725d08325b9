"""subPath and subPathExpr: expansion, validation and the symlink-safe bind mount (runs
as root: it mounts under the test's tmp directory and unmounts in teardown)."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubesmith.agent.volumes import mounts
from kubesmith.agent.volumes.subpath import (
    SubPathError,
    bind_subpath,
    expand,
    expand_subpath_expr,
    validate_subpath,
)


def exactly(text: str) -> str:
    """A ``match=`` pattern for exactly ``text``."""
    return f"^{re.escape(text)}$"

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mounts need root")


@pytest.mark.parametrize(("expr", "expected"), [
    ("$(A)/x", "1/x"),
    ("$$(A)", "$(A)"),
    ("$(A", "$(A"),
    ("a$", "a$"),
    ("$B$(A)", "$B1"),
    ("$(UNSET)", ""),
])
def test_expand(expr: str, expected: str) -> None:
    assert expand(expr, lambda name: {"A": "1"}.get(name, "")) == expected


def test_subpath_expr_needs_every_variable() -> None:
    assert expand_subpath_expr("logs/$(POD)", {"POD": "web-0"}) == "logs/web-0"
    with pytest.raises(SubPathError, match=exactly("missing value for EMPTY, NOPE")):
        expand_subpath_expr("$(NOPE)/$(EMPTY)/$(POD)", {"POD": "p", "EMPTY": ""})


@pytest.mark.parametrize(("subpath", "message"), [
    ("/etc", "error SubPath `/etc` must not be an absolute path"),
    ("a/../b", "unable to provision SubPath `a/../b`: must not contain '..'"),
])
def test_validation(subpath: str, message: str) -> None:
    with pytest.raises(SubPathError) as err:
        validate_subpath(subpath)
    assert str(err.value) == message


@pytest.fixture
def volume(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "volume"
    root.mkdir(mode=0o777)
    root.chmod(0o2777)
    (root / "dir").mkdir()
    (root / "dir" / "file").write_text("inside")
    yield root
    for point in mounts.mounts_under(tmp_path):
        mounts.unmount(Path(point))


@needs_root
def test_bind_directory_and_reuse(volume: Path, tmp_path: Path) -> None:
    target = tmp_path / "subpaths" / "v" / "c" / "0"
    assert bind_subpath(volume, "dir", target) == target
    assert mounts.is_mount_point(target)
    assert (target / "file").read_text() == "inside"
    # A container restart reuses the mount rather than stacking another.
    bind_subpath(volume, "dir", target)
    assert mounts.mounts_under(target) == [str(target)]


@needs_root
def test_bind_file(volume: Path, tmp_path: Path) -> None:
    target = tmp_path / "subpaths" / "v" / "c" / "1"
    bind_subpath(volume, "dir/file", target)
    assert target.is_file() and target.read_text() == "inside"


@needs_root
def test_missing_subpath_created_with_volume_mode(volume: Path, tmp_path: Path) -> None:
    target = tmp_path / "subpaths" / "v" / "c" / "2"
    bind_subpath(volume, "new/deeper", target)
    for made in (volume / "new", volume / "new" / "deeper"):
        assert made.is_dir()
        assert stat.S_IMODE(made.stat().st_mode) == 0o2777


@needs_root
def test_symlink_inside_the_volume_is_followed(volume: Path, tmp_path: Path) -> None:
    os.symlink("dir", volume / "alias")
    target = tmp_path / "subpaths" / "v" / "c" / "3"
    bind_subpath(volume, "alias", target)
    assert (target / "file").read_text() == "inside"


@needs_root
@pytest.mark.parametrize("link", ["/etc", "../../", "dir/../../"],
                         ids=["absolute", "relative-up", "nested-up"])
def test_symlink_escaping_the_volume_is_refused(volume: Path, tmp_path: Path,
                                                link: str) -> None:
    os.symlink(link, volume / "escape")
    target = tmp_path / "subpaths" / "v" / "c" / "4"
    with pytest.raises(SubPathError, match="is outside of allowed base"):
        bind_subpath(volume, "escape", target)
    assert not mounts.is_mount_point(target)


@needs_root
def test_escape_through_a_missing_path_is_refused(volume: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(str(outside), volume / "out")
    with pytest.raises(SubPathError, match="is outside of allowed base"):
        bind_subpath(volume, "out/created", tmp_path / "subpaths" / "x")
    assert not (outside / "created").exists()
