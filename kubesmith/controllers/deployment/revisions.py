"""The annotations a Deployment and its ReplicaSets carry, exactly as upstream maintains
them: ``kubectl rollout history`` reads ``deployment.kubernetes.io/revision`` and
``kubernetes.io/change-cause`` from the ReplicaSets, ``kubectl rollout undo`` picks the
ReplicaSet of a revision, and the desired/max replicas annotations tell a scaling event
apart from a rollout and size proportional scaling.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

from kubesmith.api.types import Obj
from kubesmith.controllers.util import meta, parse_rfc3339

REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
CHANGE_CAUSE = "kubernetes.io/change-cause"
#: The extensions/v1beta1 rollback request; never copied to ReplicaSets.
ROLLBACK_TO = "deprecated.deployment.rollback.to"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
#: The revision history annotation is kept to about this many characters.
MAX_HISTORY_CHARS = 2000

#: Deployment annotations that stay off its ReplicaSets (they are per-object bookkeeping).
NOT_COPIED = frozenset({LAST_APPLIED, REVISION, REVISION_HISTORY, DESIRED_REPLICAS,
                        MAX_REPLICAS, ROLLBACK_TO})


def annotations_of(obj: Obj) -> dict[str, str]:
    """``metadata.annotations``, created when missing (``obj`` is a private copy)."""
    m = obj.setdefault("metadata", {})
    found: dict[str, str] | None = m.get("annotations")
    if found is None:
        found = m["annotations"] = {}
    return found


def _parse_int(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text, 10)
    except ValueError:
        return None


def revision_of(obj: Obj) -> int | None:
    """The revision number (0 when absent, None when unparsable)."""
    raw = (meta(obj).get("annotations") or {}).get(REVISION)
    if raw is None:
        return 0
    return _parse_int(raw)


def max_revision(rss: Iterable[Obj]) -> int:
    """The highest revision among ``rss`` (unparsable ones are skipped)."""
    return max((r for r in (revision_of(rs) for rs in rss) if r is not None), default=0)


def desired_replicas(rs: Obj) -> int | None:
    """``desired-replicas`` as a number, None when absent or invalid."""
    return _parse_int((meta(rs).get("annotations") or {}).get(DESIRED_REPLICAS))


def max_replicas(rs: Obj) -> int | None:
    """``max-replicas`` as a number, None when absent or invalid."""
    return _parse_int((meta(rs).get("annotations") or {}).get(MAX_REPLICAS))


def replicas_annotations_need_update(rs: Obj, desired: int, maximum: int) -> bool:
    """Whether the desired/max replicas annotations differ from these values."""
    found = meta(rs).get("annotations") or {}
    return found.get(DESIRED_REPLICAS) != str(desired) or \
        found.get(MAX_REPLICAS) != str(maximum)


def set_replicas_annotations(rs: Obj, desired: int, maximum: int) -> bool:
    """Record the deployment's size (and size plus surge) on ``rs``; returns whether that
    changed anything."""
    found = annotations_of(rs)
    changed = False
    for key, value in ((DESIRED_REPLICAS, str(desired)), (MAX_REPLICAS, str(maximum))):
        if found.get(key) != value:
            found[key] = value
            changed = True
    return changed


def set_deployment_revision(d: Obj, revision: str) -> bool:
    """Set the deployment's revision annotation; returns whether it changed."""
    found = annotations_of(d)
    if found.get(REVISION) == revision:
        return False
    found[REVISION] = revision
    return True


def copy_deployment_annotations(d: Obj, rs: Obj) -> bool:
    """Copy the deployment's annotations (all but :data:`NOT_COPIED`) onto ``rs``, so the
    ReplicaSet remembers e.g. its change-cause; returns whether ``rs`` changed."""
    target = annotations_of(rs)
    changed = False
    for key, value in (meta(d).get("annotations") or {}).items():
        if key in NOT_COPIED or target.get(key) == value:
            continue
        target[key] = value
        changed = True
    return changed


def _append_history(history: str, old_revision: str, limit: int) -> str | None:
    """``history`` with ``old_revision`` appended, oldest entries dropped to stay within
    ``limit`` characters (None when even that does not fit)."""
    if not history:
        return old_revision
    entries = history.split(",")
    total = len(history) + len(old_revision) + 1
    start = 0
    while total > limit and start < len(entries):
        total -= len(entries[start]) + 1
        start += 1
    if total > limit:
        return None
    return ",".join([*entries[start:], old_revision])


def set_new_rs_annotations(d: Obj, rs: Obj, new_revision: str, *, exists: bool,
                           max_surge: int, history_limit: int = MAX_HISTORY_CHARS) -> bool:
    """Bring the new ReplicaSet's annotations up to date (upstream
    ``SetNewReplicaSetAnnotations``): the deployment's annotations, the revision (only ever
    raised; a raised one that existed before — a rollback — goes to the revision history)
    and, for a ReplicaSet about to be created, the replicas annotations. Returns whether
    anything changed."""
    changed = copy_deployment_annotations(d, rs)
    found = annotations_of(rs)
    old_text = found.get(REVISION)
    old = _parse_int(old_text) if old_text is not None else 0
    new = _parse_int(new_revision)
    if old is None or new is None:
        return False
    if old < new:
        found[REVISION] = new_revision
        changed = True
        if old_text is not None:
            history = _append_history(found.get(REVISION_HISTORY, ""), old_text,
                                      history_limit)
            if history is not None:
                found[REVISION_HISTORY] = history
    desired = (d.get("spec") or {}).get("replicas", 1)
    if not exists and set_replicas_annotations(rs, desired, desired + max_surge):
        changed = True
    return changed


def creation_key(rs: Obj) -> tuple[float, str]:
    """Oldest first, then by name (``ReplicaSetsByCreationTimestamp``)."""
    moment = parse_rfc3339(meta(rs).get("creationTimestamp"))
    return (moment.timestamp() if moment is not None else 0.0, str(meta(rs).get("name") or ""))


def _compare_revisions(a: Obj, b: Obj) -> int:
    ra, rb = revision_of(a), revision_of(b)
    if ra is None or rb is None or ra == rb:
        ka, kb = creation_key(a), creation_key(b)
        return -1 if ka < kb else (1 if ka > kb else 0)
    return -1 if ra < rb else 1


def oldest_revision_first(rss: Iterable[Obj]) -> list[Obj]:
    """By revision, then creation time (``ReplicaSetsByRevision``)."""
    return sorted(rss, key=functools.cmp_to_key(_compare_revisions))
