"""ControllerRevisions, the template history the DaemonSet and StatefulSet controllers keep
(upstream ``pkg/controller/history`` plus the pieces both controllers share). Which revisions
a workload owns is decided by :mod:`kubesmith.controllers.ownership`.

A revision's ``data`` is the strategic merge patch that puts a template back:
``{"spec": {"template": {..., "$patch": "replace"}}}`` — the very shape kubectl builds to
compare a workload with a revision and sends to roll one back (``kubectl rollout undo``).
``revision`` numbers grow by one per template change; going back to an older template bumps
that revision's number instead of creating a duplicate, so ``kubectl rollout history`` lists
each template once with its latest use.

Everything here reads the controllers' informer caches; the only API calls are the writes
(create, bump, delete, adopt, release) made through the controller's own client.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import orjson

from kubesmith.api.types import Obj
from kubesmith.client import ApiError, Client
from kubesmith.client.rest import CONTROLLERREVISIONS
from kubesmith.controllers.util import meta

#: Label a DaemonSet's revisions and pods carry (the template hash) and a StatefulSet's pods
#: carry (the revision name).
REVISION_HASH_LABEL = "controller-revision-hash"
#: Label upstream's generic history puts on StatefulSet revisions (the data hash).
CONTROLLER_HASH_LABEL = "controller.kubernetes.io/hash"

# rand.SafeEncodeString's alphabet: no vowels (no words) and no look-alike characters.
_SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_FNV_OFFSET = 2166136261
_FNV_PRIME = 16777619
# A revision name is <parent>-<hash>; the parent part is cut so the name stays a valid
# DNS subdomain (upstream's ControllerRevisionName).
_MAX_PREFIX = 223


# ---- hashing ------------------------------------------------------------------------------

def fnv32(data: bytes) -> int:
    """FNV-1 32-bit (Go's ``hash/fnv.New32``)."""
    h = _FNV_OFFSET
    for byte in data:
        h = (h * _FNV_PRIME) & 0xFFFFFFFF
        h ^= byte
    return h


def fnv32a(data: bytes) -> int:
    """FNV-1a 32-bit (Go's ``hash/fnv.New32a``)."""
    h = _FNV_OFFSET
    for byte in data:
        h ^= byte
        h = (h * _FNV_PRIME) & 0xFFFFFFFF
    return h


def safe_encode(text: str) -> str:
    """Upstream ``rand.SafeEncodeString``: each character mapped into a vowel-free
    alphabet, so hashes never spell words."""
    return "".join(_SAFE_ALPHABET[ord(ch) % len(_SAFE_ALPHABET)] for ch in text)


def canonical_json(value: Any) -> bytes:
    """Compact JSON with sorted keys: what Go's ``json.Marshal`` of a map produces, so
    equal content always gives equal bytes (and equal hashes)."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def template_hash(template: Obj, collision_count: int | None) -> str:
    """A DaemonSet template's hash (upstream ``controller.ComputeHash``): the
    ``controller-revision-hash`` of its revision and pods. ``collision_count`` changes the
    hash when two templates collide on a revision name."""
    data = canonical_json(template)
    if collision_count is not None:
        data += int(collision_count).to_bytes(4, "little", signed=False)
    return safe_encode(str(fnv32a(data)))


def data_hash(data: Obj, collision_count: int | None) -> str:
    """A revision's hash from its data (upstream ``HashControllerRevision``)."""
    raw = canonical_json(data)
    if collision_count is not None:
        raw += str(collision_count).encode()
    return safe_encode(str(fnv32(raw)))


def revision_name(prefix: str, hash_: str) -> str:
    """``<prefix>-<hash>`` with the prefix shortened to keep the name valid."""
    return f"{prefix[:_MAX_PREFIX]}-{hash_}"


# ---- revision objects ---------------------------------------------------------------------

def template_patch(workload: Obj) -> Obj:
    """The revision data for ``workload``: a patch replacing ``spec.template``."""
    template = copy.deepcopy((workload.get("spec") or {}).get("template") or {})
    template["$patch"] = "replace"
    return {"spec": {"template": template}}


def applied_template(revision: Obj) -> Obj:
    """The pod template a revision restores."""
    template = copy.deepcopy(((revision.get("data") or {}).get("spec") or {})
                             .get("template") or {})
    template.pop("$patch", None)
    return template


def apply_revision(workload: Obj, revision: Obj) -> Obj:
    """A copy of ``workload`` with the revision's template (upstream ``ApplyRevision``;
    the data only ever replaces ``spec.template``)."""
    out = copy.deepcopy(workload)
    out.setdefault("spec", {})["template"] = applied_template(revision)
    return out


def matches_template(workload: Obj, revision: Obj) -> bool:
    """Whether ``revision`` records the workload's current template."""
    return bool(revision.get("data") == template_patch(workload))


def revision_number(revision: Obj) -> int:
    """``revision`` (0 when missing)."""
    value = revision.get("revision")
    return int(value) if isinstance(value, int) else 0


def sorted_revisions(revisions: Iterable[Obj]) -> list[Obj]:
    """Oldest first: by revision number, then creation time, then name (upstream
    ``SortControllerRevisions``)."""
    return sorted(revisions, key=lambda r: (revision_number(r),
                                            str(meta(r).get("creationTimestamp") or ""),
                                            str(meta(r).get("name") or "")))


def next_revision_number(revisions: Sequence[Obj]) -> int:
    """One more than the highest revision number (1 for no history)."""
    return max((revision_number(r) for r in revisions), default=0) + 1


def new_revision(parent: Obj, owner_ref: dict[str, Any], data: Obj, number: int, *,
                 labels: dict[str, str], name: str) -> Obj:
    """A ControllerRevision owned by ``parent`` carrying ``data``. Annotations are the
    parent's, so ``kubernetes.io/change-cause`` shows in ``kubectl rollout history``."""
    m = meta(parent)
    return {
        "apiVersion": "apps/v1", "kind": "ControllerRevision",
        "metadata": {"name": name, "namespace": m.get("namespace"), "labels": dict(labels),
                     "annotations": dict(m.get("annotations") or {}),
                     "ownerReferences": [owner_ref]},
        "data": data, "revision": number,
    }


def excess_revisions(old: Iterable[Obj], limit: int, is_live: Callable[[Obj], bool], *,
                     live_counts: bool) -> list[Obj]:
    """The old revisions to delete to respect ``revisionHistoryLimit``, oldest first; live
    ones (still used by pods or the status) are never deleted.

    ``live_counts`` chooses what the limit counts: the DaemonSet controller counts every old
    revision (live ones included) while the StatefulSet controller counts only the
    non-live ones — both as upstream does.
    """
    ordered = sorted_revisions(old)
    candidates = [r for r in ordered if not is_live(r)]
    counted = len(ordered) if live_counts else len(candidates)
    if limit < 0 or counted <= limit:
        return []
    return candidates[:counted - limit]


async def bump_revision(client: Client, revision: Obj, number: int) -> Obj:
    """Give an existing revision a new number (a rollback to an older template)."""
    body = copy.deepcopy(revision)
    body["revision"] = number
    updated: Obj = await client.replace(CONTROLLERREVISIONS, body)
    return updated


async def delete_revision(client: Client, revision: Obj) -> None:
    """Delete ``revision`` (already gone is fine)."""
    m = meta(revision)
    try:
        await client.delete(CONTROLLERREVISIONS, m["name"], m.get("namespace"),
                            preconditions={"uid": m["uid"]} if m.get("uid") else None)
    except ApiError as exc:
        if exc.code not in (404, 409):
            raise
