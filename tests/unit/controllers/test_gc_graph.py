"""The garbage collector's dependency graph: which work each informer event produces."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from kubesmith.controllers.garbagecollector.graph import (
    DependencyGraph,
    Node,
    ObjectRef,
    alternate_identity,
    deletion_starts_with,
    references_diff,
)


@dataclass
class Sink:
    deletes: list[str] = field(default_factory=list)
    rate_limited: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    invalid: list[tuple[str, str]] = field(default_factory=list)

    def attempt_to_delete(self, uid: str, *, rate_limited: bool = False) -> None:
        (self.rate_limited if rate_limited else self.deletes).append(uid)

    def attempt_to_orphan(self, uid: str) -> None:
        self.orphans.append(uid)

    def invalid_owner_namespace(self, dependent: Node, owner_uid: str) -> None:
        self.invalid.append((dependent.uid, owner_uid))


def obj(name: str, uid: str, namespace: str = "ns", *owners: dict[str, Any],
        deleting: bool = False, finalizers: tuple[str, ...] = ()) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "uid": uid, "namespace": namespace}
    if owners:
        meta["ownerReferences"] = list(owners)
    if deleting:
        meta["deletionTimestamp"] = "2025-01-01T00:00:00Z"
    if finalizers:
        meta["finalizers"] = list(finalizers)
    return {"metadata": meta}


def ref(name: str, uid: str, kind: str = "ConfigMap", block: bool | None = None
        ) -> dict[str, Any]:
    found: dict[str, Any] = {"apiVersion": "v1", "kind": kind, "name": name, "uid": uid}
    if block is not None:
        found["blockOwnerDeletion"] = block
    return found


@pytest.fixture
def sink() -> Sink:
    return Sink()


@pytest.fixture
def graph(sink: Sink) -> DependencyGraph:
    return DependencyGraph(sink)


def test_dependent_first_creates_a_virtual_owner_to_verify(graph: DependencyGraph,
                                                           sink: Sink) -> None:
    graph.observe("v1", "ConfigMap", obj("dep", "d1", "ns", ref("owner", "o1")))
    owner = graph.get("o1")
    assert owner is not None and not owner.observed
    assert owner.identity == ObjectRef("v1", "ConfigMap", "owner", "o1", "ns")
    assert owner.dependents == {"d1"}
    assert sink.deletes == ["o1"]

    graph.observe("v1", "ConfigMap", obj("owner", "o1"))
    assert graph.get("o1") is owner and owner.observed


def test_owner_deletion_queues_dependents_and_remembers_it_absent(
        graph: DependencyGraph, sink: Sink) -> None:
    owner = obj("owner", "o1")
    graph.observe("v1", "ConfigMap", owner)
    graph.observe("v1", "Pod", obj("p", "d1", "ns", ref("owner", "o1")))
    graph.observe("v1", "Pod", obj("q", "d2", "ns", ref("owner", "o1")))
    sink.deletes.clear()

    graph.observe_deletion("v1", "ConfigMap", owner)

    assert graph.get("o1") is None
    assert sorted(sink.deletes) == ["d1", "d2"]
    assert ObjectRef("v1", "ConfigMap", "owner", "o1", "ns") in graph.absent


def test_foreground_deletion_starts(graph: DependencyGraph, sink: Sink) -> None:
    owner = obj("owner", "o1")
    graph.observe("v1", "ConfigMap", owner)
    graph.observe("v1", "Pod", obj("p", "d1", "ns", ref("owner", "o1", block=True)))
    graph.observe("v1", "Pod", obj("q", "d2", "ns", ref("owner", "o1", block=False)))
    sink.deletes.clear()

    deleting = obj("owner", "o1", deleting=True, finalizers=("foregroundDeletion",))
    graph.observe("v1", "ConfigMap", deleting, owner)

    node = graph.get("o1")
    assert node is not None and node.deleting_dependents and node.being_deleted
    assert sorted(sink.deletes) == ["d1", "d2", "o1"]
    assert [d.uid for d in graph.blocking_dependents(node)] == ["d1"]
    # the same state seen again is no new transition
    sink.deletes.clear()
    graph.observe("v1", "ConfigMap", deleting, deleting)
    assert sink.deletes == []


def test_orphan_deletion_starts(graph: DependencyGraph, sink: Sink) -> None:
    owner = obj("owner", "o1")
    graph.observe("v1", "ConfigMap", owner)
    graph.observe("v1", "ConfigMap", obj("owner", "o1", deleting=True,
                                         finalizers=("orphan", "foregroundDeletion")), owner)
    assert sink.orphans == ["o1"]
    node = graph.get("o1")
    assert node is not None and not node.deleting_dependents  # orphan wins


def test_unblocking_a_reference_requeues_the_waiting_owner(graph: DependencyGraph,
                                                           sink: Sink) -> None:
    graph.observe("v1", "ConfigMap", obj("owner", "o1"))
    before = obj("p", "d1", "ns", ref("owner", "o1", block=True))
    graph.observe("v1", "Pod", before)
    sink.deletes.clear()

    graph.observe("v1", "Pod", obj("p", "d1", "ns", ref("owner", "o1", block=False)), before)
    assert sink.deletes == ["o1"]

    sink.deletes.clear()
    graph.observe("v1", "Pod", obj("p", "d1", "ns"))
    owner = graph.get("o1")
    assert owner is not None and owner.dependents == set()
    assert sink.deletes == []  # the reference removed was not blocking


def test_owner_in_another_namespace_is_reported(graph: DependencyGraph, sink: Sink) -> None:
    graph.observe("v1", "ConfigMap", obj("owner", "o1", "a"))
    graph.observe("v1", "ConfigMap", obj("dep", "d1", "b", ref("owner", "o1")))
    assert sink.invalid == [("d1", "o1")]
    assert sink.deletes == ["d1"]


def test_owner_observed_after_a_dependent_in_another_namespace(graph: DependencyGraph,
                                                               sink: Sink) -> None:
    graph.observe("v1", "ConfigMap", obj("dep", "d1", "b", ref("owner", "o1")))
    sink.deletes.clear()
    graph.observe("v1", "ConfigMap", obj("owner", "o1", "a"))
    assert sink.invalid == [("d1", "o1")]
    assert sink.deletes == ["d1"]


def test_virtual_delete_removes_a_verified_absent_owner(graph: DependencyGraph,
                                                        sink: Sink) -> None:
    graph.observe("v1", "Pod", obj("p", "d1", "ns", ref("ghost", "g1")))
    sink.deletes.clear()
    graph.virtual_delete(ObjectRef("v1", "ConfigMap", "ghost", "g1", "ns"))
    assert graph.get("g1") is None
    assert sink.deletes == ["d1"]


def test_virtual_delete_tries_the_other_coordinates(graph: DependencyGraph,
                                                    sink: Sink) -> None:
    graph.observe("v1", "Pod", obj("p", "d1", "ns", ref("x", "g1", kind="ConfigMap")))
    graph.observe("v1", "Pod", obj("q", "d2", "ns", ref("x", "g1", kind="Secret")))
    sink.deletes.clear()

    graph.virtual_delete(ObjectRef("v1", "ConfigMap", "x", "g1", "ns"))

    node = graph.get("g1")
    assert node is not None
    assert node.identity == ObjectRef("v1", "Secret", "x", "g1", "ns")
    assert sink.deletes == ["d1"]  # its reference is verified dangling
    assert sink.rate_limited == ["g1"]


def test_virtual_delete_leaves_an_observed_node_with_other_coordinates(
        graph: DependencyGraph, sink: Sink) -> None:
    graph.observe("v1", "ConfigMap", obj("x", "o1"))
    graph.observe("v1", "Pod", obj("p", "d1", "ns", ref("x", "o1", kind="Secret")))
    sink.deletes.clear()
    graph.virtual_delete(ObjectRef("v1", "Secret", "x", "o1", "ns"))
    assert graph.get("o1") is not None
    assert sink.deletes == ["d1"]


def test_references_diff() -> None:
    a, b, c = ref("a", "1"), ref("b", "2"), ref("c", "3")
    b2 = {**b, "blockOwnerDeletion": True}
    added, removed, changed = references_diff([a, b], [b2, c])
    assert added == [c] and removed == [a] and changed == [(b, b2)]


def test_deletion_starts_with() -> None:
    live = obj("o", "1")
    gone = obj("o", "1", deleting=True, finalizers=("orphan",))
    assert deletion_starts_with(None, gone, "orphan")
    assert deletion_starts_with(live, gone, "orphan")
    assert not deletion_starts_with(gone, gone, "orphan")
    assert not deletion_starts_with(live, gone, "foregroundDeletion")


def test_alternate_identity_cycles_through_candidates() -> None:
    dep = Node(ObjectRef("v1", "Pod", "p", "d", "ns"),
               [ref("x", "u", kind="B"), ref("x", "u", kind="C"), ref("x", "u", kind="A")])
    absent_b = ObjectRef("v1", "B", "x", "u", "ns")
    assert alternate_identity([dep], absent_b) == ObjectRef("v1", "C", "x", "u", "ns")
    absent_c = ObjectRef("v1", "C", "x", "u", "ns")
    assert alternate_identity([dep], absent_c) == ObjectRef("v1", "A", "x", "u", "ns")
    only = Node(ObjectRef("v1", "Pod", "p", "d", "ns"), [ref("x", "u", kind="B")])
    assert alternate_identity([only], absent_b) is None
