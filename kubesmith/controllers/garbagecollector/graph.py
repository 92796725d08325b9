"""The garbage collector's dependency graph: every object it has seen, keyed by uid, with
edges from owners to dependents built from ``metadata.ownerReferences`` (upstream's
GraphBuilder).

Concurrency design: the graph is plain data changed only by synchronous methods, called from
the informers' event handlers (:meth:`DependencyGraph.observe`,
:meth:`DependencyGraph.observe_deletion`) and from the collector's workers after a live GET
proved an object absent (:meth:`DependencyGraph.virtual_delete`). On one asyncio loop each
call runs to completion, so no locks are needed and the graph is always consistent between
awaits; this replaces upstream's single goroutine draining a graph-changes queue.

The graph never talks to the API. What needs doing is handed to a :class:`GraphSink`: items
to check for deletion (``attempt_to_delete``), owners whose dependents must be orphaned
(``attempt_to_orphan``) and dependents whose owner reference names an owner in another
namespace (``invalid_owner_namespace``).

An owner referenced before (or without) being observed gets a *virtual* node with the
coordinates the reference gives; the collector verifies it with a live GET and either waits
for the informer to observe it or calls :meth:`DependencyGraph.virtual_delete`, which removes
it and queues its dependents, whose references are then dangling.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

from kubesmith.api.types import Obj

#: The finalizers the API server adds for Orphan and Foreground deletion.
ORPHAN_FINALIZER = "orphan"
FOREGROUND_FINALIZER = "foregroundDeletion"

OwnerRef = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ObjectRef:
    """An object's coordinates: an owner reference plus the namespace."""

    api_version: str
    kind: str
    name: str
    uid: str
    namespace: str = ""

    def __str__(self) -> str:
        # upstream's objectReference.String(), used in event messages
        return (f"[{self.api_version}/{self.kind}, namespace: {self.namespace}, "
                f"name: {self.name}, uid: {self.uid}]")

    def matches(self, ref: OwnerRef) -> bool:
        """Whether ``ref`` names these coordinates (uid, name, kind and apiVersion)."""
        return (ref.get("uid") == self.uid and ref.get("name") == self.name
                and ref.get("kind") == self.kind and ref.get("apiVersion") == self.api_version)

    def sort_key(self) -> tuple[str, str, str, str, str]:
        """Kind and apiVersion first, then namespace, name and uid (upstream's order)."""
        return (self.kind, self.api_version, self.namespace, self.name, self.uid)


def ref_coordinates(ref: OwnerRef, namespace: str) -> ObjectRef:
    """The coordinates an owner reference gives, in ``namespace``."""
    return ObjectRef(str(ref.get("apiVersion") or ""), str(ref.get("kind") or ""),
                     str(ref.get("name") or ""), str(ref.get("uid") or ""), namespace)


def identity_of(api_version: str, kind: str, obj: Obj) -> ObjectRef:
    """The coordinates of an observed object."""
    meta = obj.get("metadata") or {}
    return ObjectRef(api_version, kind, str(meta.get("name") or ""),
                     str(meta.get("uid") or ""), str(meta.get("namespace") or ""))


def blocks_owner(ref: OwnerRef) -> bool:
    """Whether the reference has ``blockOwnerDeletion: true``."""
    return ref.get("blockOwnerDeletion") is True


def _finalizers(obj: Obj | None) -> list[str]:
    return list(((obj or {}).get("metadata") or {}).get("finalizers") or ())


def _being_deleted(obj: Obj | None) -> bool:
    return bool(((obj or {}).get("metadata") or {}).get("deletionTimestamp"))


def deletion_starts_with(old: Obj | None, new: Obj, finalizer: str) -> bool:
    """Whether ``new`` is being deleted with ``finalizer`` and ``old`` was not (a missing
    ``old`` counts as not)."""
    if not _being_deleted(new) or finalizer not in _finalizers(new):
        return False
    return old is None or not _being_deleted(old) or finalizer not in _finalizers(old)


class Node:
    """One object (or a virtual owner not yet observed)."""

    __slots__ = ("being_deleted", "deleting_dependents", "dependents", "identity", "observed",
                 "owners")

    def __init__(self, identity: ObjectRef, owners: list[dict[str, Any]] | None = None, *,
                 observed: bool = True, being_deleted: bool = False,
                 deleting_dependents: bool = False) -> None:
        self.identity = identity
        self.owners: list[dict[str, Any]] = owners or []
        #: uids of the objects naming this one as an owner
        self.dependents: set[str] = set()
        #: False for a virtual node: known only from someone's owner reference
        self.observed = observed
        self.being_deleted = being_deleted
        #: being deleted with the foregroundDeletion finalizer
        self.deleting_dependents = deleting_dependents

    @property
    def uid(self) -> str:
        return self.identity.uid

    def __repr__(self) -> str:
        return f"Node({self.identity}, observed={self.observed})"


class GraphSink(Protocol):
    """Where the graph sends the work it finds."""

    def attempt_to_delete(self, uid: str, *, rate_limited: bool = False) -> None:
        """Check whether the object with ``uid`` must be deleted (or its owner verified)."""

    def attempt_to_orphan(self, uid: str) -> None:
        """Remove the owner ``uid`` from its dependents, then its orphan finalizer."""

    def invalid_owner_namespace(self, dependent: Node, owner_uid: str) -> None:
        """``dependent`` names an owner that lives in another namespace."""


class AbsentOwnerCache:
    """The last ``size`` owner coordinates verified absent (an LRU, as upstream's)."""

    def __init__(self, size: int = 500) -> None:
        self.size = size
        self._items: collections.OrderedDict[ObjectRef, None] = collections.OrderedDict()

    def add(self, ref: ObjectRef) -> None:
        self._items[ref] = None
        self._items.move_to_end(ref)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def __contains__(self, ref: object) -> bool:
        if ref in self._items:
            assert isinstance(ref, ObjectRef)
            self._items.move_to_end(ref)
            return True
        return False


class DependencyGraph:
    """Objects by uid and their owner/dependent edges (see the module docstring)."""

    def __init__(self, sink: GraphSink, absent_cache_size: int = 500) -> None:
        self.sink = sink
        self.nodes: dict[str, Node] = {}
        self.absent = AbsentOwnerCache(absent_cache_size)

    def get(self, uid: str) -> Node | None:
        return self.nodes.get(uid)

    def __len__(self) -> int:
        return len(self.nodes)

    def dependents_of(self, node: Node) -> list[Node]:
        """The dependents of ``node`` still in the graph."""
        return [d for uid in node.dependents if (d := self.nodes.get(uid)) is not None]

    def blocking_dependents(self, node: Node) -> list[Node]:
        """Dependents whose reference to ``node`` has ``blockOwnerDeletion: true``."""
        return [d for d in self.dependents_of(node)
                if any(r.get("uid") == node.uid and blocks_owner(r) for r in d.owners)]

    # -- informer events -----------------------------------------------------------------

    def observe(self, api_version: str, kind: str, obj: Obj, old: Obj | None = None) -> None:
        """An object was added or updated (``old`` is its previous state, if known)."""
        identity = identity_of(api_version, kind, obj)
        if not identity.uid:
            return
        meta = obj.get("metadata") or {}
        owners = [dict(r) for r in meta.get("ownerReferences") or () if r.get("uid")]
        node = self.nodes.get(identity.uid)
        if node is not None and not node.observed:
            self._first_observation(node, identity)
        if node is None:
            being_deleted = _being_deleted(obj)
            node = Node(identity, owners, being_deleted=being_deleted,
                        deleting_dependents=being_deleted
                        and FOREGROUND_FINALIZER in _finalizers(obj))
            self.nodes[identity.uid] = node
            self._add_dependent_to_owners(node, owners)
        else:
            if (node.identity.api_version, node.identity.kind) != (api_version, kind):
                node.identity = replace(node.identity, api_version=api_version, kind=kind)
            added, removed, changed = references_diff(node.owners, owners)
            if added or removed or changed:
                self._queue_unblocked_owners(removed, changed)
                node.owners = owners
                self._add_dependent_to_owners(node, added)
                self._remove_dependent_from_owners(node, removed)
            if _being_deleted(obj):
                node.being_deleted = True
        self._process_transitions(old, obj, node)

    def observe_deletion(self, api_version: str, kind: str, obj: Obj) -> None:
        """The informer saw the object deleted."""
        identity = identity_of(api_version, kind, obj)
        node = self.nodes.get(identity.uid)
        if node is not None:
            self._remove_and_notify(node, identity)

    def virtual_delete(self, identity: ObjectRef) -> None:
        """A live GET proved ``identity`` absent (not found, or another uid)."""
        node = self.nodes.get(identity.uid)
        if node is None:
            return
        if not node.observed:
            matching, mismatching = self._partition(self.dependents_of(node), identity)
            if mismatching:
                # Some dependents name this uid with other coordinates: those may still
                # exist, so the node stays, under the next coordinates to verify.
                self._mark_absent(identity, matching)
                if node.identity == identity:
                    alternate = alternate_identity(mismatching, identity)
                    if alternate is not None:
                        node.identity = alternate
                        self.sink.attempt_to_delete(node.uid, rate_limited=True)
                return
        elif node.identity != identity:
            # The informer saw this uid with other coordinates: only the dependents using
            # the absent coordinates are affected.
            matching, _ = self._partition(self.dependents_of(node), identity)
            self._mark_absent(identity, matching)
            return
        self._remove_and_notify(node, identity)

    # -- internals -----------------------------------------------------------------------

    def _mark_absent(self, identity: ObjectRef, dependents: list[Node]) -> None:
        if dependents:
            self.absent.add(identity)
            for dep in dependents:
                self.sink.attempt_to_delete(dep.uid)

    def _first_observation(self, node: Node, identity: ObjectRef) -> None:
        """A virtual node is observed: dependents that named it with other coordinates are
        checked again (and told off when the namespace cannot match)."""
        if identity != node.identity:
            _, mismatching = self._partition(self.dependents_of(node), identity)
            for dep in mismatching:
                if identity.namespace and dep.identity.namespace != identity.namespace:
                    self.sink.invalid_owner_namespace(dep, identity.uid)
                self.sink.attempt_to_delete(dep.uid)
            node.identity = identity
        node.observed = True

    def _add_dependent_to_owners(self, node: Node, owners: Iterable[OwnerRef]) -> None:
        suspicious = False
        for ref in owners:
            uid = str(ref.get("uid") or "")
            owner = self.nodes.get(uid)
            if owner is None:
                owner = Node(ref_coordinates(ref, node.identity.namespace), observed=False)
                self.nodes[uid] = owner
                owner.dependents.add(node.uid)
                # The collector verifies a virtual owner with a live GET.
                self.sink.attempt_to_delete(uid)
                continue
            owner.dependents.add(node.uid)
            if suspicious:
                continue
            owner_ns = owner.identity.namespace
            if owner_ns and owner_ns != node.identity.namespace:
                # A namespaced owner can only own objects of its own namespace.
                if owner.observed:
                    self.sink.invalid_owner_namespace(node, uid)
                suspicious = True
            elif not owner.identity.matches(ref):
                suspicious = True
            elif not owner_ns and node.identity.namespace and not owner.observed:
                # Known only from a cluster-scoped dependent: it may really be a missing
                # namespaced owner.
                suspicious = True
        if suspicious:
            self.sink.attempt_to_delete(node.uid)

    def _remove_dependent_from_owners(self, node: Node, owners: Iterable[OwnerRef]) -> None:
        for ref in owners:
            owner = self.nodes.get(str(ref.get("uid") or ""))
            if owner is not None:
                owner.dependents.discard(node.uid)

    def _remove_and_notify(self, node: Node, identity: ObjectRef) -> None:
        del self.nodes[node.uid]
        self._remove_dependent_from_owners(node, node.owners)
        if node.dependents:
            self.absent.add(identity)
        for uid in node.dependents:
            self.sink.attempt_to_delete(uid)
        for ref in node.owners:
            owner = self.nodes.get(str(ref.get("uid") or ""))
            if owner is not None and owner.deleting_dependents:
                # The owner may have been waiting for this dependent only.
                self.sink.attempt_to_delete(owner.uid)

    def _queue_unblocked_owners(self, removed: list[dict[str, Any]],
                                changed: list[tuple[dict[str, Any], dict[str, Any]]]) -> None:
        unblocked = [r for r in removed if blocks_owner(r)]
        unblocked += [new for old, new in changed if blocks_owner(old) and not blocks_owner(new)]
        for ref in unblocked:
            uid = str(ref.get("uid") or "")
            if uid in self.nodes:
                self.sink.attempt_to_delete(uid)

    def _process_transitions(self, old: Obj | None, new: Obj, node: Node) -> None:
        if deletion_starts_with(old, new, ORPHAN_FINALIZER):
            self.sink.attempt_to_orphan(node.uid)
            return
        if deletion_starts_with(old, new, FOREGROUND_FINALIZER):
            node.deleting_dependents = True
            for uid in node.dependents:
                self.sink.attempt_to_delete(uid)
            self.sink.attempt_to_delete(node.uid)

    @staticmethod
    def _partition(dependents: list[Node], owner: ObjectRef) -> tuple[list[Node], list[Node]]:
        """Dependents whose reference to ``owner.uid`` matches ``owner``'s coordinates, and
        those with a reference that does not (a dependent can be in both)."""
        matching: list[Node] = []
        mismatching: list[Node] = []
        for dep in dependents:
            found_match = found_mismatch = False
            if owner.namespace and owner.namespace != dep.identity.namespace:
                found_mismatch = True
            else:
                for ref in dep.owners:
                    if ref.get("uid") == owner.uid:
                        if owner.matches(ref):
                            found_match = True
                        else:
                            found_mismatch = True
            if found_match:
                matching.append(dep)
            if found_mismatch:
                mismatching.append(dep)
        return matching, mismatching


def references_diff(old: list[dict[str, Any]], new: list[dict[str, Any]]
                    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]],
                               list[tuple[dict[str, Any], dict[str, Any]]]]:
    """Owner references added, removed and changed (same uid, other fields), by uid."""
    old_by_uid = {str(r.get("uid")): r for r in old}
    added: list[dict[str, Any]] = []
    changed: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for ref in new:
        uid = str(ref.get("uid"))
        before = old_by_uid.pop(uid, None)
        if before is None:
            added.append(ref)
        elif before != ref:
            changed.append((before, ref))
    return added, [*old_by_uid.values()], changed


def alternate_identity(dependents: list[Node], absent: ObjectRef) -> ObjectRef | None:
    """Other coordinates ``dependents`` give for ``absent.uid``: the first that sorts after
    ``absent``, else the first overall (so every candidate is tried in turn)."""
    cluster_scoped = not absent.namespace
    seen = {absent}
    candidates: list[ObjectRef] = []
    for dep in dependents:
        for ref in dep.owners:
            if ref.get("uid") != absent.uid:
                continue
            if absent.matches(ref) and (cluster_scoped or
                                        absent.namespace == dep.identity.namespace):
                continue
            alt = ref_coordinates(ref, dep.identity.namespace)
            if cluster_scoped and (alt.api_version, alt.kind) == (absent.api_version,
                                                                  absent.kind):
                # this apiVersion/kind is known to be cluster-scoped
                alt = replace(alt, namespace="")
            if alt not in seen:
                seen.add(alt)
                candidates.append(alt)
    if not candidates:
        return None
    following = [c for c in candidates if absent.sort_key() < c.sort_key()]
    return min(following or candidates, key=ObjectRef.sort_key)
