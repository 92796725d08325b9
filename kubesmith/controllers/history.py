"""ControllerRevisions, the template history the DaemonSet and StatefulSet controllers keep
(upstream ``pkg/controller/history`` plus the pieces both controllers share), and the
adoption rules both apply to the pods and revisions they claim.

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
import math
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import orjson

from kubesmith.api.selectors import LabelSelector, SelectorError
from kubesmith.api.types import Obj
from kubesmith.client import ApiError, Client, Informer
from kubesmith.client.rest import CONTROLLERREVISIONS, Resource
from kubesmith.controllers.util import (
    controller_ref,
    is_pod_ready,
    is_terminating,
    labels_of,
    meta,
    selector_of,
)

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


# ---- adoption (upstream's ControllerRefManager) -------------------------------------------

def index_by_controller_uid(obj: Obj) -> list[str]:
    """Informer index: the uid of the object's controller."""
    ref = controller_ref(obj)
    return [str(ref["uid"])] if ref and ref.get("uid") else []


def index_orphans_by_namespace(obj: Obj) -> list[str]:
    """Informer index: the namespace of objects no controller owns (adoption candidates)."""
    if controller_ref(obj) is not None:
        return []
    return [str(meta(obj).get("namespace") or "")]


CONTROLLER_UID_INDEX = "apps:controller-uid"
ORPHANS_INDEX = "apps:orphans-by-namespace"


def add_ownership_indexes(informer: Informer) -> None:
    """Index ``informer`` by controller uid and orphans by namespace (shared informers:
    adding them twice is harmless)."""
    informer.add_index(CONTROLLER_UID_INDEX, index_by_controller_uid)
    informer.add_index(ORPHANS_INDEX, index_orphans_by_namespace)


def owned_and_orphans(informer: Informer, parent: Obj) -> list[Obj]:
    """Cached objects ``parent`` controls plus the orphans in its namespace."""
    m = meta(parent)
    owned = informer.by_index(CONTROLLER_UID_INDEX, str(m.get("uid") or ""))
    orphans = informer.by_index(ORPHANS_INDEX, str(m.get("namespace") or ""))
    return [*owned, *orphans]


class Claimer:
    """Adopts matching orphans and releases owned objects that stopped matching, for one
    parent and one sync (upstream ``ClaimPods`` / ``ClaimControllerRevisions``).

    ``can_adopt`` is asked once, before the first adoption: upstream re-reads the parent
    from the server so a stale cache never adopts into a parent already being deleted.
    """

    def __init__(self, client: Client, parent: Obj, owner_ref: dict[str, Any],
                 selector: LabelSelector, can_adopt: Callable[[], Awaitable[bool]],
                 accept: Callable[[Obj], bool] | None = None) -> None:
        self.client = client
        self.parent = parent
        self.owner_ref = owner_ref
        self.selector = selector
        self._can_adopt = can_adopt
        self._accept = accept
        self._adoptable: bool | None = None

    def _matches(self, obj: Obj) -> bool:
        return self.selector.matches(labels_of(obj)) and \
            (self._accept is None or self._accept(obj))

    async def claim_cached(self, informer: Informer, resource: Resource) -> list[Obj]:
        """:meth:`claim` over the parent's objects and the orphans in its namespace in
        ``informer`` (indexed with :func:`add_ownership_indexes`)."""
        return await self.claim(resource, owned_and_orphans(informer, self.parent))

    async def claim(self, resource: Resource, candidates: Iterable[Obj]) -> list[Obj]:
        """The candidates that are (now) the parent's, adopted where needed."""
        uid = meta(self.parent).get("uid")
        parent_deleting = is_terminating(self.parent)
        claimed: list[Obj] = []
        for obj in candidates:
            ref = controller_ref(obj)
            if ref is not None:
                if ref.get("uid") != uid:
                    continue
                if self._matches(obj):
                    claimed.append(obj)
                elif not parent_deleting:
                    await self._release(resource, obj)
                continue
            if parent_deleting or is_terminating(obj) or not self._matches(obj):
                continue
            adopted = await self._adopt(resource, obj)
            if adopted is not None:
                claimed.append(adopted)
        return claimed

    async def _adopt(self, resource: Resource, obj: Obj) -> Obj | None:
        if self._adoptable is None:
            self._adoptable = await self._can_adopt()
        if not self._adoptable:
            return None
        m = meta(obj)
        refs = [*(m.get("ownerReferences") or ()), self.owner_ref]
        try:
            adopted: Obj = await self.client.patch(
                resource, m["name"],
                {"metadata": {"ownerReferences": refs,
                              "resourceVersion": m.get("resourceVersion")}},
                m.get("namespace"))
        except ApiError as exc:
            # Gone meanwhile: nothing to adopt. A conflict means the cache was stale:
            # retry the sync with fresh state.
            if exc.code == 404:
                return None
            raise
        return adopted

    async def _release(self, resource: Resource, obj: Obj) -> None:
        m = meta(obj)
        uid = meta(self.parent).get("uid")
        refs = [r for r in m.get("ownerReferences") or () if r.get("uid") != uid]
        try:
            await self.client.patch(
                resource, m["name"],
                {"metadata": {"ownerReferences": refs or None,
                              "resourceVersion": m.get("resourceVersion")}},
                m.get("namespace"))
        except ApiError as exc:
            # Gone, or invalid to change now (being deleted): the GC handles it.
            if exc.code not in (404, 422):
                raise


def fresh_parent_check(client: Client, resource: Resource, parent: Obj
                       ) -> Callable[[], Awaitable[bool]]:
    """A ``can_adopt`` reading the parent from the server: same uid and not being
    deleted (upstream ``RecheckDeletionTimestamp``)."""
    m = meta(parent)

    async def check() -> bool:
        try:
            fresh = await client.get(resource, m["name"], m.get("namespace"))
        except ApiError as exc:
            if exc.code == 404:
                return False
            raise
        return meta(fresh).get("uid") == m.get("uid") and not is_terminating(fresh)

    return check


# ---- routing events to the owning workload ------------------------------------------------

NAMESPACE_INDEX = "apps:namespace"


def _namespace(obj: Obj) -> list[str]:
    return [str(meta(obj).get("namespace") or "")]


class Owners:
    """Finds, in the workload informer of one ``apps/v1`` kind, the workload controlling an
    object or the workloads whose selector matches an orphan."""

    def __init__(self, workloads: Informer, kind: str) -> None:
        self.workloads = workloads
        self.kind = kind
        workloads.add_index(NAMESPACE_INDEX, _namespace)

    def typed(self, workload: Obj) -> Obj:
        """``workload`` with apiVersion and kind set (list items arrive without them), as
        owner references and events need."""
        return {**workload, "apiVersion": "apps/v1", "kind": self.kind}

    def owner(self, obj: Obj) -> Obj | None:
        """The cached workload controlling ``obj`` (same uid), if any."""
        ref = controller_ref(obj)
        if ref is None or ref.get("kind") != self.kind:
            return None
        found = self.workloads.get(f"{meta(obj).get('namespace')}/{ref.get('name')}")
        if found is None or meta(found).get("uid") != ref.get("uid"):
            return None
        return found

    def selecting(self, obj: Obj) -> list[Obj]:
        """Workloads in ``obj``'s namespace whose selector matches it."""
        labels = labels_of(obj)
        found = []
        for workload in self.workloads.by_index(NAMESPACE_INDEX,
                                                str(meta(obj).get("namespace"))):
            try:
                if selector_of(workload).matches(labels):
                    found.append(workload)
            except SelectorError:
                continue
        return found


def workload_key(workload: Obj) -> str:
    """``namespace/name``."""
    return f"{meta(workload).get('namespace')}/{meta(workload).get('name')}"


class PodEvents:
    """Pod informer handlers that wake the owning workload, or for an orphan every workload
    that may adopt it (upstream ``addPod``/``updatePod``/``deletePod``). ``observed`` hears
    of each creation (``True``) and deletion (``False``) of an owned pod, for
    expectations."""

    def __init__(self, owners: Owners, enqueue: Callable[[str], None],
                 enqueue_after: Callable[[str, float], None],
                 observed: Callable[[str, bool], None] | None = None) -> None:
        self.owners = owners
        self.enqueue = enqueue
        self.enqueue_after = enqueue_after
        self.observed = observed

    def register(self, pods: Informer) -> None:
        """Attach to the pod informer."""
        pods.add_handlers(on_add=self.added, on_update=self.updated, on_delete=self.deleted)

    def added(self, pod: Obj) -> None:
        if is_terminating(pod):
            # Seen first while already going away (a restart): no creation to count.
            self.deleted(pod)
            return
        owner = self.owners.owner(pod)
        if owner is not None:
            if self.observed is not None:
                self.observed(workload_key(owner), True)
            self.enqueue(workload_key(owner))
        elif controller_ref(pod) is None:
            for match in self.owners.selecting(pod):
                self.enqueue(workload_key(match))

    def updated(self, old: Obj, new: Obj) -> None:
        if meta(old).get("resourceVersion") == meta(new).get("resourceVersion"):
            return
        if is_terminating(new) and not is_terminating(old):
            # Graceful deletion began: the workload may replace it now, not when the
            # kubelet is done.
            self.deleted(new)
            return
        if controller_ref(old) != controller_ref(new):
            previous = self.owners.owner(old)
            if previous is not None:
                self.enqueue(workload_key(previous))
        owner = self.owners.owner(new)
        if owner is not None:
            self.enqueue(workload_key(owner))
            min_ready = int((owner.get("spec") or {}).get("minReadySeconds") or 0)
            if min_ready > 0 and not is_pod_ready(old) and is_pod_ready(new):
                # Availability needs another look once minReadySeconds passed.
                self.enqueue_after(workload_key(owner), min_ready + 1)
        elif controller_ref(new) is None and (
                labels_of(old) != labels_of(new) or controller_ref(old) is not None):
            for match in self.owners.selecting(new):
                self.enqueue(workload_key(match))

    def deleted(self, pod: Obj) -> None:
        owner = self.owners.owner(pod)
        if owner is not None:
            if self.observed is not None:
                self.observed(workload_key(owner), False)
            self.enqueue(workload_key(owner))


# ---- int-or-percent -----------------------------------------------------------------------

def scaled_value(value: int | str | None, total: int, *, round_up: bool,
                 default: int | str = 0) -> int:
    """An IntOrString as a count of ``total`` (upstream
    ``intstr.GetScaledValueFromIntOrPercent``). Raises ValueError for a bad string."""
    if value is None:
        value = default
    if isinstance(value, bool):
        raise ValueError(f"invalid value for IntOrString: {value!r}")
    if isinstance(value, int):
        return value
    text = str(value)
    if not text.endswith("%"):
        raise ValueError("invalid value for IntOrString: invalid type: string is not a "
                         "percentage")
    try:
        percent = int(text[:-1])
    except ValueError as exc:
        raise ValueError(f"invalid value for IntOrString: invalid value {text!r}") from exc
    exact = percent * total / 100
    return math.ceil(exact) if round_up else math.floor(exact)
