"""A DaemonSet's ControllerRevisions: finding the one for the current template (creating
it, or renumbering it after a rollback), removing duplicates and trimming old ones (upstream
``constructHistory``, ``snapshot``, ``dedupCurHistories`` and ``cleanupHistory``).

A DaemonSet revision is named ``<ds>-<template hash>`` and labelled with that hash; its pods
carry the same ``controller-revision-hash``. A hash collision with a different template bumps
``status.collisionCount`` and the next sync retries with a new hash.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from typing import Any

from kubesmith.api.types import Obj
from kubesmith.client import ApiError, Client
from kubesmith.client.rest import CONTROLLERREVISIONS, DAEMONSETS, PODS
from kubesmith.controllers.history import (
    REVISION_HASH_LABEL,
    bump_revision,
    delete_revision,
    excess_revisions,
    matches_template,
    new_revision,
    revision_name,
    revision_number,
    template_hash,
    template_patch,
)
from kubesmith.controllers.util import labels_of, meta


class HashCollisionError(Exception):
    """Another template owns the revision name; ``status.collisionCount`` was bumped."""


def collision_count(ds: Obj) -> int | None:
    """``status.collisionCount`` (None when never set)."""
    value = (ds.get("status") or {}).get("collisionCount")
    return int(value) if isinstance(value, int) else None


async def current_and_old(client: Client, ds: Obj, owner_ref: dict[str, Any],
                          revisions: Iterable[Obj], pods: Sequence[Obj]
                          ) -> tuple[Obj, list[Obj]]:
    """The revision of ``ds``'s current template (created or renumbered as needed) and
    the older ones, from its claimed ``revisions``. ``pods`` are the DaemonSet's pods
    (relabelled when duplicate revisions go)."""
    current: list[Obj] = []
    old: list[Obj] = []
    for revision in revisions:
        if REVISION_HASH_LABEL not in labels_of(revision):
            # Revisions made before the label existed: the name is unique, use it.
            body = copy.deepcopy(revision)
            body["metadata"].setdefault("labels", {})[REVISION_HASH_LABEL] = \
                body["metadata"]["name"]
            revision = await client.replace(CONTROLLERREVISIONS, body)
        (current if matches_template(ds, revision) else old).append(revision)
    number = max((revision_number(r) for r in old), default=0) + 1
    if not current:
        return await _snapshot(client, ds, owner_ref, number), old
    keep = await _dedup(client, current, pods)
    if revision_number(keep) < number:
        keep = await bump_revision(client, keep, number)
    return keep, old


async def _snapshot(client: Client, ds: Obj, owner_ref: dict[str, Any], number: int) -> Obj:
    template = (ds.get("spec") or {}).get("template") or {}
    hash_ = template_hash(template, collision_count(ds))
    name = revision_name(meta(ds)["name"], hash_)
    labels = {**labels_of(template), REVISION_HASH_LABEL: hash_}
    body = new_revision(ds, owner_ref, template_patch(ds), number, labels=labels, name=name)
    try:
        created: Obj = await client.create(CONTROLLERREVISIONS, body)
        return created
    except ApiError as exc:
        if exc.code != 409:
            raise
    existing = await client.get(CONTROLLERREVISIONS, name, meta(ds)["namespace"])
    if matches_template(ds, existing):
        return existing
    # A different template hashed to the same name. Bump the collision count only if the
    # one we hashed with is current, so concurrent syncs do not bump it twice.
    fresh = await client.get(DAEMONSETS, meta(ds)["name"], meta(ds)["namespace"])
    if collision_count(fresh) != collision_count(ds):
        raise HashCollisionError(f"found a stale collision count ({collision_count(ds)}, "
                                 f"expected {collision_count(fresh)}) of DaemonSet "
                                 f"{meta(ds)['name']!r} while processing; will retry until "
                                 "it is updated")
    fresh.setdefault("status", {})["collisionCount"] = (collision_count(fresh) or 0) + 1
    await client.replace(DAEMONSETS, fresh, subresource="status")
    raise HashCollisionError(f"controllerrevision {name!r} already exists with another "
                             "template; bumped collisionCount")


async def _dedup(client: Client, current: list[Obj], pods: Sequence[Obj]) -> Obj:
    if len(current) == 1:
        return current[0]
    keep = current[0]
    for revision in current:
        if revision_number(revision) >= revision_number(keep):
            keep = revision
    keep_hash = labels_of(keep).get(REVISION_HASH_LABEL)
    for pod in pods:
        if labels_of(pod).get(REVISION_HASH_LABEL) != keep_hash:
            await client.patch(PODS, meta(pod)["name"],
                               {"metadata": {"labels": {REVISION_HASH_LABEL: keep_hash}}},
                               meta(pod)["namespace"])
    for revision in current:
        if revision is not keep:
            await delete_revision(client, revision)
    return keep


async def trim_history(client: Client, ds: Obj, old: Sequence[Obj],
                       pods: Sequence[Obj]) -> None:
    """Delete the oldest unused revisions beyond ``revisionHistoryLimit``; revisions whose
    hash a pod still carries stay."""
    limit = (ds.get("spec") or {}).get("revisionHistoryLimit")
    live = {labels_of(p).get(REVISION_HASH_LABEL) for p in pods} - {None, ""}
    for revision in excess_revisions(
            old, int(limit) if isinstance(limit, int) else 10,
            lambda r: labels_of(r).get(REVISION_HASH_LABEL) in live, live_counts=True):
        await delete_revision(client, revision)
