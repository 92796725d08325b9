"""hostPath ``type`` checks with upstream's error texts."""

from __future__ import annotations

import re
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubesmith.agent.volumes.errors import SourceError
from kubesmith.agent.volumes.hostpath import check_type, setup_host_path


def exactly(text: str) -> str:
    """A ``match=`` pattern for exactly ``text``."""
    return f"^{re.escape(text)}$"


@pytest.fixture
def things(tmp_path: Path) -> Iterator[dict[str, str]]:
    directory = tmp_path / "dir"
    directory.mkdir()
    regular = tmp_path / "file"
    regular.write_text("x")
    sock_path = tmp_path / "sock"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(sock_path))
    try:
        yield {"Directory": str(directory), "File": str(regular), "Socket": str(sock_path),
               "CharDevice": "/dev/null"}
    finally:
        sock.close()


@pytest.mark.parametrize("kind", ["Directory", "File", "Socket", "CharDevice"])
def test_matching_types_pass(things: dict[str, str], kind: str) -> None:
    check_type(things[kind], kind)


@pytest.mark.parametrize(("kind", "actual", "description"), [
    ("Directory", "File", "directory"),
    ("DirectoryOrCreate", "File", "directory"),
    ("File", "Directory", "file"),
    ("FileOrCreate", "Directory", "file"),
    ("Socket", "File", "socket file"),
    ("CharDevice", "Directory", "character device"),
    ("BlockDevice", "CharDevice", "block device"),
])
def test_mismatches_name_both_types(things: dict[str, str], kind: str, actual: str,
                                    description: str) -> None:
    path = things[actual]
    with pytest.raises(SourceError) as err:
        check_type(path, kind)
    assert str(err.value) == \
        f"hostPath type check failed: {path} is not a {description}, it's a {actual}"


@pytest.mark.parametrize("kind", ["Directory", "File", "Socket", "CharDevice",
                                  "BlockDevice"])
def test_missing_path(tmp_path: Path, kind: str) -> None:
    missing = str(tmp_path / "missing")
    with pytest.raises(SourceError, match=f"^hostPath {missing} doesn't exist$"):
        check_type(missing, kind)


def test_directory_or_create_makes_0755(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b"
    check_type(str(target), "DirectoryOrCreate")
    assert target.is_dir()
    assert stat.S_IMODE(target.stat().st_mode) == 0o755
    # The local-path provisioner's volumes ask for a world-writable directory.
    wide = tmp_path / "wide"
    check_type(str(wide), "DirectoryOrCreate", create_mode=0o777)
    assert stat.S_IMODE(wide.stat().st_mode) == 0o777


def test_file_or_create_makes_empty_0644(tmp_path: Path) -> None:
    target = tmp_path / "f"
    check_type(str(target), "FileOrCreate")
    assert target.read_bytes() == b""
    assert stat.S_IMODE(target.stat().st_mode) & 0o644 == stat.S_IMODE(target.stat().st_mode)


def test_unset_type_checks_nothing(tmp_path: Path) -> None:
    assert setup_host_path(str(tmp_path / "nothing"), "") == tmp_path / "nothing"


def test_invalid_type_and_backsteps(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=exactly("Bogus is an invalid volume type")):
        check_type(str(tmp_path), "Bogus")
    with pytest.raises(SourceError,
                       match=exactly("invalid HostPath `/a/../b`: must not contain '..'")):
        setup_host_path("/a/../b", "")
