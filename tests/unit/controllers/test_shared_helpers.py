"""Helpers every controller shares: IntOrString scaling, what a namespace-terminating
refusal looks like, the namespace index and finding an object's owner or the owners that
may adopt it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from kubesmith.api.selectors import label_selector_from_set
from kubesmith.client import ApiError
from kubesmith.client.rest import REPLICASETS, REPLICATIONCONTROLLERS
from kubesmith.controllers.ownership import DependentEvents, Owners
from kubesmith.controllers.util import (
    NAMESPACE_INDEX,
    index_by_namespace,
    int_value,
    is_namespace_terminating,
    scaled_value,
)
from tests.unit.controllers.fixed_informers import fixed_informers, synced


@pytest.mark.parametrize(("value", "total", "round_up", "expected"), [
    (2, 10, True, 2),
    ("25%", 10, True, 3),
    ("25%", 10, False, 2),
    ("100%", 3, False, 3),
    ("50%", 3, True, 2),
    ("0%", 7, True, 0),
    (None, 5, True, 1),  # the default
], ids=["int", "percent-up", "percent-down", "all", "half-up", "zero", "default"])
def test_scaled_value(value: int | str | None, total: int, round_up: bool,
                      expected: int) -> None:
    assert scaled_value(value, total, round_up=round_up, default=1) == expected


@pytest.mark.parametrize(("value", "message"), [
    ("abc", "invalid value for IntOrString: invalid type: string is not a percentage"),
    ("x%", 'invalid value for IntOrString: invalid value "x%": strconv.Atoi: parsing "x": '
           "invalid syntax"),
    (True, "invalid value for IntOrString: invalid type: neither int nor percentage"),
], ids=["no-percent", "nan", "bool"])
def test_scaled_value_rejects_bad_values_with_upstream_messages(value: Any,
                                                                 message: str) -> None:
    with pytest.raises(ValueError, match="invalid value for IntOrString") as err:
        scaled_value(value, 10, round_up=True)
    assert str(err.value) == message


def test_missing_value_is_invalid_without_a_default() -> None:
    with pytest.raises(ValueError, match="neither int nor percentage"):
        scaled_value(None, 10, round_up=True, default=None)


def test_int_value() -> None:
    assert int_value(3) == 3
    assert int_value(None) == 0
    assert int_value("3", 1) == 1
    assert int_value(True, 7) == 7


def test_namespace_terminating_refusals() -> None:
    by_message = ApiError(code=403, reason="Forbidden", message=(
        "pods \"x\" is forbidden: unable to create new content in namespace ns because it "
        "is being terminated"))
    by_cause = ApiError(code=403, reason="Forbidden", message="forbidden",
                        details={"causes": [{"type": "NamespaceTerminating"}]})
    other = ApiError(code=403, reason="Forbidden", message="exceeded quota")
    assert is_namespace_terminating(by_message)
    assert is_namespace_terminating(by_cause)
    assert not is_namespace_terminating(other)


def test_namespace_index() -> None:
    assert index_by_namespace({"metadata": {"namespace": "ns", "name": "a"}}) == ["ns"]
    assert index_by_namespace({"metadata": {"name": "node"}}) == [""]


# ---- owners -------------------------------------------------------------------------------

def obj(name: str, uid: str, labels: dict[str, str] | None = None,
        owner: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "ns", "uid": uid,
                            "resourceVersion": "1", "labels": labels or {}}
    if owner is not None:
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                    "name": owner["metadata"]["name"],
                                    "uid": owner["metadata"]["uid"], "controller": True}]
    return {"metadata": meta, "spec": spec}


OWNERS = [obj("web", "u1", selector={"matchLabels": {"app": "web"}}),
          obj("all", "u2", selector={}),
          obj("db", "u3", selector={"matchLabels": {"app": "db"}})]


@pytest.fixture
async def owners() -> AsyncIterator[Owners]:
    informer, = fixed_informers(REPLICASETS, replicasets=OWNERS)
    found = Owners(informer, "ReplicaSet")
    async with synced(informer):
        yield found


def test_owner_needs_kind_name_and_uid(owners: Owners) -> None:
    web = owners.informer.get("ns/web")
    assert web is not None
    assert owners.owner(obj("p", "p1", owner=web)) is web
    successor = obj("web", "other-uid")
    assert owners.owner(obj("p", "p1", owner=successor)) is None
    assert owners.resolve("ns", {"kind": "Deployment", "name": "web", "uid": "u1"}) is None
    assert owners.typed(web)["kind"] == "ReplicaSet"
    assert owners.typed(web)["apiVersion"] == "apps/v1"


def test_selecting_skips_empty_selectors(owners: Owners) -> None:
    names = [o["metadata"]["name"] for o in owners.selecting(obj("p", "p1", {"app": "web"}))]
    assert names == ["web"]


async def test_selecting_with_a_map_selector() -> None:
    informer, = fixed_informers(REPLICATIONCONTROLLERS, replicationcontrollers=[
        obj("rc", "u9", selector={"app": "web"})])
    rcs = Owners(informer, "ReplicationController", "v1",
                 lambda rc: label_selector_from_set(rc["spec"].get("selector")))
    async with synced(informer):
        assert len(rcs.selecting(obj("p", "p1", {"app": "web", "x": "y"}))) == 1
        assert len(rcs.selecting(obj("p", "p1", {"app": "db"}))) == 0
        assert len(informer.by_index(NAMESPACE_INDEX, "ns")) == 1


def test_dependent_events_wake_the_owner_and_report_expectations(owners: Owners) -> None:
    web = owners.informer.get("ns/web")
    assert web is not None
    queued: list[str] = []
    seen: list[tuple[str, str, bool]] = []
    events = DependentEvents(owners, queued.append,
                             observed=lambda key, o, created: seen.append(
                                 (key, o["metadata"]["name"], created)))
    owned = obj("p", "p1", {"app": "web"}, owner=web)
    events.added(owned)
    terminating = obj("p", "p1", {"app": "web"}, owner=web)
    terminating["metadata"].update(resourceVersion="2",
                                   deletionTimestamp="2025-01-01T00:00:00Z")
    events.updated(owned, terminating)
    orphan = obj("o", "o1", {"app": "web"})
    events.added(orphan)
    assert queued == ["ns/web", "ns/web", "ns/web"]
    assert seen == [("ns/web", "p", True), ("ns/web", "p", False)]
