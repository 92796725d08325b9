"""The atomic writer: timestamped directories, the ``..data`` swap, user-visible symlinks,
rewrites only on change, cleanup of old directories."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest

from kubesmith.agent.volumes.atomic_writer import (
    AtomicWriter,
    FileProjection,
    PayloadError,
    validate_path,
)

TS_NAME = re.compile(r"^\.\.\d{4}_\d{2}_\d{2}_\d{2}_\d{2}_\d{2}\.\d+$")


def files(**contents: str) -> dict[str, FileProjection]:
    return {key.replace("__", "/"): FileProjection(value.encode(), 0o644)
            for key, value in contents.items()}


def hidden(target: Path) -> list[str]:
    return sorted(p.name for p in target.iterdir() if p.name.startswith(".."))


def test_first_write_links_through_data(tmp_path: Path) -> None:
    writer = AtomicWriter(tmp_path)
    assert writer.write(files(a="1", sub__b="2"))
    data_target = os.readlink(tmp_path / "..data")
    assert TS_NAME.match(data_target), data_target
    assert os.readlink(tmp_path / "a") == "..data/a"
    assert os.readlink(tmp_path / "sub") == "..data/sub"
    assert (tmp_path / "a").read_text() == "1"
    assert (tmp_path / "sub" / "b").read_text() == "2"
    assert stat.S_IMODE((tmp_path / data_target).stat().st_mode) == 0o755
    assert hidden(tmp_path) == sorted(["..data", data_target])


def test_unchanged_payload_is_not_rewritten(tmp_path: Path) -> None:
    writer = AtomicWriter(tmp_path)
    writer.write(files(a="1", b="2"))
    before = os.readlink(tmp_path / "..data")
    assert not writer.write(files(a="1", b="2"))
    assert os.readlink(tmp_path / "..data") == before


def test_change_swaps_data_and_removes_old_dir(tmp_path: Path) -> None:
    writer = AtomicWriter(tmp_path)
    writer.write(files(a="1", b="2"))
    old = os.readlink(tmp_path / "..data")
    # An open handle on the old file keeps the old content (readers are never torn).
    with (tmp_path / "a").open() as held:
        assert writer.write(files(a="changed", b="2"))
        assert held.read() == "1"
    new = os.readlink(tmp_path / "..data")
    assert new != old
    assert not (tmp_path / old).exists()
    assert (tmp_path / "a").read_text() == "changed"
    assert hidden(tmp_path) == sorted(["..data", new])


def test_removed_keys_disappear(tmp_path: Path) -> None:
    writer = AtomicWriter(tmp_path)
    writer.write(files(a="1", b="2", dir__x="3"))
    assert writer.write(files(a="1"))
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("..")) == ["a"]


def test_modes_win_over_umask(tmp_path: Path) -> None:
    old_umask = os.umask(0o077)
    try:
        AtomicWriter(tmp_path).write({"x": FileProjection(b"x", 0o644),
                                      "y": FileProjection(b"y", 0o400)})
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE((tmp_path / "x").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "y").stat().st_mode) == 0o400


def test_owner_and_set_perms_hook(tmp_path: Path) -> None:
    seen: list[Path] = []
    AtomicWriter(tmp_path).write({"t": FileProjection(b"x", 0o600, fs_user=1234)},
                                 set_perms=seen.append)
    assert (tmp_path / "t").stat().st_uid == 1234
    assert seen == [tmp_path / os.readlink(tmp_path / "..data")]


def test_leftovers_of_a_crash_are_cleaned(tmp_path: Path) -> None:
    writer = AtomicWriter(tmp_path)
    writer.write(files(a="1"))
    (tmp_path / "..2020_01_01_00_00_00.1").mkdir()
    os.symlink("..2020_01_01_00_00_00.1", tmp_path / "..data_tmp")
    assert writer.write(files(a="2"))
    assert hidden(tmp_path) == sorted(["..data", os.readlink(tmp_path / "..data")])


def test_empty_payload_clears_visible_entries(tmp_path: Path) -> None:
    writer = AtomicWriter(tmp_path)
    writer.write(files(a="1"))
    assert writer.write({})
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith("..")] == []


@pytest.mark.parametrize(("path", "message"), [
    ("", 'invalid path: must not be empty: ""'),
    ("/abs", "invalid path: must be relative path: /abs"),
    ("a/../b", "invalid path: must not contain '..': a/../b"),
    ("..data", "invalid path: must not start with '..': ..data"),
    ("x" * 256, "invalid path: filenames must be less than or equal to 255 characters"),
], ids=["empty", "absolute", "backstep", "reserved", "long-name"])
def test_invalid_paths(path: str, message: str) -> None:
    with pytest.raises(PayloadError) as err:
        validate_path(path)
    assert str(err.value) == message


def test_invalid_payload_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(PayloadError):
        AtomicWriter(tmp_path).write(files(a="1") | {"../x": FileProjection(b"", 0o644)})
    assert list(tmp_path.iterdir()) == []
