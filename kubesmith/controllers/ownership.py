"""Who controls what: the controller-reference rules every workload controller applies
(upstream ``ControllerRefManager`` and the ``resolveControllerRef`` / ``Get<Kind>sFor<Pod>``
helpers each controller repeats).

* **Indexes.** :func:`add_ownership_indexes` files a shared informer's objects by the uid
  of their controller and, for orphans, by namespace, so a sync reads the objects a parent
  owns plus its adoption candidates without scanning the cluster.
* **Owners.** :class:`Owners` answers, from the informer of one controller kind, which
  cached object controls an object (same kind, name and uid) and which ones select an
  orphan (a non-empty selector matching its labels).
* **Events.** :class:`DependentEvents` are the informer handlers of the objects a controller
  owns (pods, ReplicaSets): they only enqueue the owner, or for an orphan every owner that
  may adopt it, and report creations and deletions for expectations.
* **Claiming.** :class:`Claimer` adopts matching orphans and releases owned objects that
  stopped matching, once per sync; adoption first re-reads the parent from the server
  (:func:`fresh_parent_check`) so a stale cache never adopts into a parent being deleted.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from kubesmith.api.selectors import LabelSelector, SelectorError
from kubesmith.api.types import Obj
from kubesmith.client import ApiError, Client, Informer, object_key
from kubesmith.client.rest import Resource
from kubesmith.controllers.util import (
    NAMESPACE_INDEX,
    controller_ref,
    index_by_namespace,
    is_pod_ready,
    is_terminating,
    labels_of,
    meta,
    selector_of,
)

#: Informer index: objects by the uid of their controller.
CONTROLLER_UID_INDEX = "apps:controller-uid"
#: Informer index: objects no controller owns, by namespace (adoption candidates).
ORPHANS_INDEX = "apps:orphans-by-namespace"


# ---- indexes ------------------------------------------------------------------------------

def index_by_controller_uid(obj: Obj) -> list[str]:
    """Informer index: the uid of the object's controller."""
    ref = controller_ref(obj)
    return [str(ref["uid"])] if ref and ref.get("uid") else []


def index_orphans_by_namespace(obj: Obj) -> list[str]:
    """Informer index: the namespace of objects no controller owns (adoption candidates)."""
    if controller_ref(obj) is not None:
        return []
    return [str(meta(obj).get("namespace") or "")]


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


# ---- finding the owner --------------------------------------------------------------------

class Owners:
    """The controllers of one kind, read from their (shared, namespace-indexed) informer.

    ``selector`` compiles an owner's pod selector (``spec.selector`` as a LabelSelector by
    default; a ReplicationController's is a plain label map).
    """

    def __init__(self, informer: Informer, kind: str, api_version: str = "apps/v1",
                 selector: Callable[[Obj], LabelSelector] = selector_of) -> None:
        self.informer = informer
        self.kind = kind
        self.api_version = api_version
        self.selector = selector
        informer.add_index(NAMESPACE_INDEX, index_by_namespace)

    def typed(self, owner: Obj) -> Obj:
        """``owner`` with apiVersion and kind set (list items arrive without them), as
        owner references and events need; a shallow copy."""
        return {**owner, "apiVersion": self.api_version, "kind": self.kind}

    def resolve(self, namespace: str, ref: dict[str, Any] | None) -> Obj | None:
        """The cached owner a controller reference names, if it has this kind and the
        reference's uid (a same-named successor is not the controller)."""
        if ref is None or ref.get("kind") != self.kind:
            return None
        found = self.informer.get(f"{namespace}/{ref.get('name')}")
        if found is None or meta(found).get("uid") != ref.get("uid"):
            return None
        return found

    def owner(self, obj: Obj) -> Obj | None:
        """The cached owner controlling ``obj``, if any."""
        return self.resolve(str(meta(obj).get("namespace")), controller_ref(obj))

    def selecting(self, obj: Obj) -> list[Obj]:
        """The owners in ``obj``'s namespace whose non-empty selector matches its labels:
        the candidates to adopt an orphan."""
        labels = labels_of(obj)
        found = []
        for owner in self.informer.by_index(NAMESPACE_INDEX, str(meta(obj).get("namespace"))):
            try:
                selector = self.selector(owner)
            except SelectorError:
                continue
            if not selector.empty and selector.matches(labels):
                found.append(owner)
        return found


class DependentEvents:
    """Informer handlers for the objects of :class:`Owners` (pods, ReplicaSets) that wake
    the owning controller, or for an orphan every owner that may adopt it (upstream
    ``addPod``/``updatePod``/``deletePod``).

    ``observed(owner_key, obj, created)`` hears of each creation (``True``) and deletion
    (``False``) of an owned object, for expectations. With ``enqueue_after``, a pod turning
    Ready queues its owner again once ``minReadySeconds`` passed (availability).
    """

    def __init__(self, owners: Owners, enqueue: Callable[[str], None],
                 enqueue_after: Callable[[str, float], None] | None = None,
                 observed: Callable[[str, Obj, bool], None] | None = None) -> None:
        self.owners = owners
        self.enqueue = enqueue
        self.enqueue_after = enqueue_after
        self.observed = observed

    def register(self, informer: Informer) -> None:
        """Attach to the informer of the owned objects."""
        informer.add_handlers(on_add=self.added, on_update=self.updated,
                              on_delete=self.deleted)

    def added(self, obj: Obj) -> None:
        """A new object: its creation was observed; an orphan may be adopted."""
        if is_terminating(obj):
            # Seen first while already going away (a restart): no creation to count.
            self.deleted(obj)
            return
        owner = self.owners.owner(obj)
        if owner is not None:
            if self.observed is not None:
                self.observed(object_key(owner), obj, True)
            self.enqueue(object_key(owner))
        elif controller_ref(obj) is None:
            for match in self.owners.selecting(obj):
                self.enqueue(object_key(match))

    def updated(self, old: Obj, new: Obj) -> None:
        """A changed object: wake its old and new owner, or the owners that may adopt it."""
        if meta(old).get("resourceVersion") == meta(new).get("resourceVersion"):
            return
        if is_terminating(new) and not is_terminating(old):
            # Graceful deletion began: the owner may replace it now, not when the
            # kubelet is done.
            self.deleted(new)
            return
        if controller_ref(old) != controller_ref(new):
            previous = self.owners.owner(old)
            if previous is not None:
                self.enqueue(object_key(previous))
        owner = self.owners.owner(new)
        if owner is not None:
            self.enqueue(object_key(owner))
            min_ready = int((owner.get("spec") or {}).get("minReadySeconds") or 0)
            if self.enqueue_after is not None and min_ready > 0 and \
                    not is_pod_ready(old) and is_pod_ready(new):
                # Availability needs another look once minReadySeconds passed.
                self.enqueue_after(object_key(owner), min_ready + 1)
        elif controller_ref(new) is None and (
                labels_of(old) != labels_of(new) or controller_ref(old) is not None):
            for match in self.owners.selecting(new):
                self.enqueue(object_key(match))

    def deleted(self, obj: Obj) -> None:
        """A deleted (or terminating) object: its deletion was observed."""
        owner = self.owners.owner(obj)
        if owner is not None:
            if self.observed is not None:
                self.observed(object_key(owner), obj, False)
            self.enqueue(object_key(owner))


# ---- adoption and release -----------------------------------------------------------------

class Claimer:
    """Adopts matching orphans and releases owned objects that stopped matching, for one
    parent and one sync (upstream ``ClaimPods`` / ``ClaimReplicaSets`` /
    ``ClaimControllerRevisions``).

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
