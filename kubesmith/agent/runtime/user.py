"""Which uid, gid and supplementary groups a container runs with.

Resolution follows containerd's CRI plugin: ``runAsUser`` wins over the image's ``USER``;
a user given by number takes its primary group from the image's ``/etc/passwd`` when it has
an entry (else gid 0); a user given by name must exist there; ``name:group`` /
``uid:gid`` pick the group; ``runAsGroup`` overrides the group. Without an explicit group,
the user's memberships in ``/etc/group`` become supplementary groups. The pod's
``supplementalGroups`` and ``fsGroup`` are always added.

The files are read from the container's root filesystem with every symlink resolved
*inside* it, so an image cannot make the agent read host files (``/etc/passwd ->
/host/etc/passwd``).

``verify_run_as_non_root`` is the kubelet's check, with its messages: it looks only at the
image's ``USER`` as written (a name cannot be verified), not at the passwd file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubesmith.agent.runtime.errors import ContainerConfigError

MAX_USER_ID = 2**31 - 1
_MAX_SYMLINKS = 40


@dataclass(frozen=True)
class ResolvedUser:
    uid: int
    gid: int
    additional_gids: tuple[int, ...]
    username: str = ""


@dataclass(frozen=True)
class _PasswdEntry:
    name: str
    uid: int
    gid: int


@dataclass(frozen=True)
class _GroupEntry:
    name: str
    gid: int
    members: tuple[str, ...]


def path_in_root(root: Path, relative: str) -> Path:
    """``relative`` inside ``root`` with symlinks resolved as if ``root`` were ``/``."""
    parts = [p for p in relative.split("/") if p not in ("", ".")]
    resolved: list[str] = []
    links = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = root.joinpath(*resolved, part)
        if candidate.is_symlink():
            links += 1
            if links > _MAX_SYMLINKS:
                raise ContainerConfigError(f"too many levels of symbolic links: /{relative}")
            target = os.readlink(candidate)
            if target.startswith("/"):
                resolved = []
            parts = [p for p in target.split("/") if p not in ("", ".")] + parts
            continue
        resolved.append(part)
    return root.joinpath(*resolved)


def _read_lines(rootfs: Path, relative: str) -> list[list[str]]:
    try:
        text = path_in_root(rootfs, relative).read_text(errors="replace")
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return []
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            rows.append(line.split(":"))
    return rows


def _passwd(rootfs: Path) -> list[_PasswdEntry]:
    entries = []
    for fields in _read_lines(rootfs, "etc/passwd"):
        if len(fields) >= 4 and fields[2].isdigit() and fields[3].isdigit():
            entries.append(_PasswdEntry(fields[0], int(fields[2]), int(fields[3])))
    return entries


def _groups(rootfs: Path) -> list[_GroupEntry]:
    entries = []
    for fields in _read_lines(rootfs, "etc/group"):
        if len(fields) >= 3 and fields[2].isdigit():
            members = tuple(m for m in (fields[3].split(",") if len(fields) > 3 else ()) if m)
            entries.append(_GroupEntry(fields[0], int(fields[2]), members))
    return entries


def _int_or_none(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    return int(value)


def resolve_user(rootfs: Path, image_user: str, security: dict[str, Any] | None) -> ResolvedUser:
    """The process user of a container; raises :class:`ContainerConfigError` when the
    image's user or group does not exist in its own passwd/group files."""
    sc = security or {}
    passwd = _passwd(rootfs)
    run_as_user = _int_or_none(sc.get("runAsUser"))
    run_as_group = _int_or_none(sc.get("runAsGroup"))
    explicit_group = run_as_group is not None
    entry: _PasswdEntry | None
    if run_as_user is not None:
        uid = run_as_user
        entry = next((e for e in passwd if e.uid == uid), None)
        gid = entry.gid if entry else 0
    else:
        user_part, _, group_part = image_user.partition(":")
        if not user_part or user_part.isdigit():
            uid = int(user_part or 0)
            entry = next((e for e in passwd if e.uid == uid), None)
        else:
            entry = next((e for e in passwd if e.name == user_part), None)
            if entry is None:
                raise ContainerConfigError(
                    f"unable to find user {user_part}: no matching entries in passwd file")
            uid = entry.uid
        gid = entry.gid if entry else 0
        if group_part:
            explicit_group = True
            if group_part.isdigit():
                gid = int(group_part)
            else:
                group = next((g for g in _groups(rootfs) if g.name == group_part), None)
                if group is None:
                    raise ContainerConfigError(
                        f"unable to find group {group_part}: no matching entries in group file")
                gid = group.gid
    if run_as_group is not None:
        gid = run_as_group
    username = entry.name if entry else ""
    gids = [gid]
    if not explicit_group and username:
        gids += [g.gid for g in _groups(rootfs) if username in g.members]
    gids += [int(g) for g in sc.get("supplementalGroups") or ()]
    fs_group = _int_or_none(sc.get("fsGroup"))
    if fs_group is not None:
        gids.append(fs_group)
    return ResolvedUser(uid=uid, gid=gid, additional_gids=tuple(dict.fromkeys(gids)),
                        username=username)


def image_user_identity(image_user: str) -> tuple[int | None, str]:
    """How the kubelet sees an image's ``USER``: (uid, "") when numeric, (None, name)
    otherwise, and root when empty. The group part is ignored."""
    user = image_user.split(":", 1)[0]
    if not user:
        return 0, ""
    if user.isdigit():
        return int(user), ""
    return None, user


def verify_run_as_non_root(security: dict[str, Any] | None, image_user: str, *,
                           pod: str, container_name: str) -> None:
    """Raise :class:`ContainerConfigError` when ``runAsNonRoot`` cannot be honoured.

    ``pod`` is the kubelet's description of the pod (``name_namespace(uid)``).
    """
    sc = security or {}
    if not sc.get("runAsNonRoot"):
        return
    run_as_user = _int_or_none(sc.get("runAsUser"))
    if run_as_user is not None:
        if run_as_user == 0:
            raise ContainerConfigError(
                f"container's runAsUser breaks non-root policy (pod: \"{pod}\", "
                f"container: {container_name})")
        return
    uid, username = image_user_identity(image_user)
    if uid is None:
        raise ContainerConfigError(
            f"container has runAsNonRoot and image has non-numeric user ({username}), "
            f"cannot verify user is non-root (pod: \"{pod}\", container: {container_name})")
    if uid == 0:
        raise ContainerConfigError(
            f"container has runAsNonRoot and image will run as root (pod: \"{pod}\", "
            f"container: {container_name})")
    if uid > MAX_USER_ID:
        raise ContainerConfigError(
            f"container has runAsNonRoot and image has an invalid user id ({uid}). "
            f"(Must be 1-({MAX_USER_ID})): must be between 0 and {MAX_USER_ID}, inclusive "
            f"(pod: \"{pod}\", container: {container_name})")
