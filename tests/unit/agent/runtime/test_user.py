"""Resolving the container user against the image's passwd/group, and runAsNonRoot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kubesmith.agent.runtime.errors import ContainerConfigError
from kubesmith.agent.runtime.user import (
    ResolvedUser,
    path_in_root,
    resolve_user,
    verify_run_as_non_root,
)

PASSWD = """\
root:x:0:0:root:/root:/bin/sh
# a comment
daemon:x:1:1::/:/bin/false
app:x:1000:1000::/home/app:/bin/sh
"""
GROUP = """\
root:x:0:
daemon:x:1:
app:x:1000:
audio:x:29:app,other
video:x:44:other
"""


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").write_text(PASSWD)
    (tmp_path / "etc" / "group").write_text(GROUP)
    return tmp_path


@pytest.mark.parametrize(("image_user", "security", "expected"), [
    pytest.param("", None, ResolvedUser(0, 0, (0,), "root"), id="default-root"),
    pytest.param("app", None, ResolvedUser(1000, 1000, (1000, 29), "app"), id="by-name"),
    pytest.param("1000", None, ResolvedUser(1000, 1000, (1000, 29), "app"), id="by-uid"),
    pytest.param("4242", None, ResolvedUser(4242, 0, (0,), ""), id="uid-not-in-passwd"),
    pytest.param("app:video", None, ResolvedUser(1000, 44, (44,), "app"),
                 id="name-and-group"),
    pytest.param("1000:55", None, ResolvedUser(1000, 55, (55,), "app"), id="uid-and-gid"),
    pytest.param("app", {"runAsUser": 1}, ResolvedUser(1, 1, (1,), "daemon"),
                 id="runAsUser-wins"),
    pytest.param("app", {"runAsUser": 5000, "runAsGroup": 6000},
                 ResolvedUser(5000, 6000, (6000,), ""), id="runAsUser-and-group"),
    pytest.param("app", {"runAsGroup": 44}, ResolvedUser(1000, 44, (44,), "app"),
                 id="runAsGroup-only"),
    pytest.param("app", {"supplementalGroups": [7, 8], "fsGroup": 2000},
                 ResolvedUser(1000, 1000, (1000, 29, 7, 8, 2000), "app"),
                 id="supplemental-and-fsGroup"),
])
def test_resolve_user(rootfs: Path, image_user: str, security: dict[str, Any] | None,
                      expected: ResolvedUser) -> None:
    assert resolve_user(rootfs, image_user, security) == expected


def test_unknown_user_and_group(rootfs: Path) -> None:
    with pytest.raises(ContainerConfigError,
                       match="unable to find user ghost: no matching entries in passwd file"):
        resolve_user(rootfs, "ghost", None)
    with pytest.raises(ContainerConfigError, match="unable to find group ghosts"):
        resolve_user(rootfs, "app:ghosts", None)


def test_rootfs_without_passwd(tmp_path: Path) -> None:
    assert resolve_user(tmp_path, "", None) == ResolvedUser(0, 0, (0,), "")
    assert resolve_user(tmp_path, "1234", None) == ResolvedUser(1234, 0, (0,), "")


def test_symlinks_stay_inside_the_rootfs(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "real").mkdir()
    (root / "real" / "passwd").write_text("app:x:77:88::/:/bin/sh\n")
    (root / "etc" / "passwd").symlink_to("/real/passwd")    # absolute: relative to root
    assert path_in_root(root, "etc/passwd") == root / "real" / "passwd"
    assert resolve_user(root, "app", None).uid == 77
    (root / "etc" / "group").symlink_to("../../../../../../real/group")   # ".." stops at /
    assert path_in_root(root, "etc/group") == root / "real" / "group"


POD = "web_default(uid-1)"


@pytest.mark.parametrize(("security", "image_user", "message"), [
    pytest.param({"runAsNonRoot": True}, "",
                 'container has runAsNonRoot and image will run as root '
                 '(pod: "web_default(uid-1)", container: app)', id="image-root"),
    pytest.param({"runAsNonRoot": True}, "0:0",
                 'container has runAsNonRoot and image will run as root '
                 '(pod: "web_default(uid-1)", container: app)', id="image-uid-0"),
    pytest.param({"runAsNonRoot": True}, "app",
                 'container has runAsNonRoot and image has non-numeric user (app), '
                 'cannot verify user is non-root (pod: "web_default(uid-1)", container: app)',
                 id="image-user-name"),
    pytest.param({"runAsNonRoot": True, "runAsUser": 0}, "1000",
                 'container\'s runAsUser breaks non-root policy '
                 '(pod: "web_default(uid-1)", container: app)', id="runAsUser-0"),
])
def test_run_as_non_root_refused(security: dict[str, Any], image_user: str,
                                 message: str) -> None:
    with pytest.raises(ContainerConfigError) as info:
        verify_run_as_non_root(security, image_user, pod=POD, container_name="app")
    assert info.value.message == message


@pytest.mark.parametrize(("security", "image_user"), [
    pytest.param(None, "", id="not-asked"),
    pytest.param({"runAsNonRoot": False}, "", id="false"),
    pytest.param({"runAsNonRoot": True}, "1000", id="numeric-image-user"),
    pytest.param({"runAsNonRoot": True, "runAsUser": 1000}, "", id="runAsUser"),
    pytest.param({"runAsNonRoot": True, "runAsUser": 1000}, "app", id="runAsUser-over-name"),
])
def test_run_as_non_root_allowed(security: dict[str, Any] | None, image_user: str) -> None:
    verify_run_as_non_root(security, image_user, pod=POD, container_name="app")
