"""The garbage collector against a real API server: Background, Foreground and Orphan
cascades driven by the real kubectl, dangling owner references, custom resources as owners
and dependents (CRD created by the test), and owners in another namespace.

Owners and dependents are made by hand (ConfigMaps, Pods, a ReplicaSet no controller
manages) so only the collector acts on them."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from kubesmith.client import Client, Resource
from kubesmith.client.rest import CONFIGMAPS, EVENTS, PODS, REPLICASETS
from tests.conftest import RunningServer
from tests.integration.controllers.conftest import running_registered
from tests.integration.controllers.helpers import (
    absent,
    drop_namespace,
    kubectl,
    make_namespace,
    until,
    wait_gone,
)
from tests.integration.controllers.objects import (
    configmap,
    delete_crd,
    make_crd,
    owner_ref,
    pod,
)

pytestmark = pytest.mark.integration

GC = "garbage-collector-controller"
WIDGETS = Resource("gc.kubesmith.test", "v1", "widgets")
CLUSTERROLES = Resource("rbac.authorization.k8s.io", "v1", "clusterroles", namespaced=False)


@pytest.fixture
async def gc(server: RunningServer, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[None]:
    async with running_registered(server, monkeypatch, GC,
                                  "kubesmith.controllers.garbagecollector:GarbageCollector"):
        yield


# ---- tests ---------------------------------------------------------------------------------

async def test_background_cascade_by_kubectl(server: RunningServer, admin: Client, ns: str,
                                             gc: None) -> None:
    owner = await admin.create(CONFIGMAPS, configmap("owner"), ns)
    await admin.create(CONFIGMAPS, configmap("dep-cm", owner_ref(owner)), ns)
    await admin.create(PODS, pod("dep-pod", owner_ref(owner, block=True)), ns)
    bystander = await admin.create(CONFIGMAPS, configmap("bystander"), ns)

    await kubectl(server, "delete", "configmap", "owner", "-n", ns)

    await wait_gone(admin, CONFIGMAPS, "dep-cm", ns)
    await wait_gone(admin, PODS, "dep-pod", ns)
    still = await admin.get(CONFIGMAPS, "bystander", ns)
    assert still["metadata"]["uid"] == bystander["metadata"]["uid"]


async def test_deleting_a_replicaset_deletes_its_pods(server: RunningServer, admin: Client,
                                                      ns: str, gc: None) -> None:
    labels = {"app": "web"}
    rs = await admin.create(REPLICASETS, {
        "apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web"},
        "spec": {"replicas": 2, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels},
                              "spec": pod("x")["spec"]}}}, ns)
    for i in range(2):
        await admin.create(PODS, pod(f"web-{i}", owner_ref(rs, block=True, controller=True),
                                     labels=labels), ns)

    await kubectl(server, "delete", "rs", "web", "-n", ns)

    for i in range(2):
        await wait_gone(admin, PODS, f"web-{i}", ns)


async def test_foreground_waits_for_blocking_dependents(server: RunningServer, admin: Client,
                                                        ns: str, gc: None) -> None:
    owner = await admin.create(CONFIGMAPS, configmap("owner"), ns)
    # A finalizer the test controls keeps one dependent until the test lets it go.
    await admin.create(CONFIGMAPS, configmap("held", owner_ref(owner, block=True),
                                             finalizers=["test.kubesmith.io/hold"]), ns)
    await admin.create(PODS, pod("dep-pod", owner_ref(owner, block=True)), ns)

    await kubectl(server, "delete", "configmap", "owner", "-n", ns, "--cascade=foreground",
                  "--wait=false")

    async def held_terminating() -> bool:
        held = await admin.get(CONFIGMAPS, "held", ns)
        return bool(held["metadata"].get("deletionTimestamp"))

    await until(held_terminating, "the held dependent to be deleted")
    await wait_gone(admin, PODS, "dep-pod", ns)
    waiting = await admin.get(CONFIGMAPS, "owner", ns)
    assert waiting["metadata"].get("deletionTimestamp")
    assert "foregroundDeletion" in waiting["metadata"]["finalizers"]

    await admin.patch(CONFIGMAPS, "held", {"metadata": {"finalizers": None}}, ns)
    await wait_gone(admin, CONFIGMAPS, "held", ns)
    await wait_gone(admin, CONFIGMAPS, "owner", ns)


async def test_kubectl_foreground_delete_returns_when_dependents_are_gone(
        server: RunningServer, admin: Client, ns: str, gc: None) -> None:
    owner = await admin.create(CONFIGMAPS, configmap("owner"), ns)
    for i in range(3):
        await admin.create(CONFIGMAPS, configmap(f"dep-{i}", owner_ref(owner, block=True)), ns)

    await kubectl(server, "delete", "configmap", "owner", "-n", ns, "--cascade=foreground",
                  "--timeout=30s")

    assert await absent(admin, CONFIGMAPS, "owner", ns)
    for i in range(3):
        assert await absent(admin, CONFIGMAPS, f"dep-{i}", ns)


async def test_orphan_keeps_dependents_without_the_reference(
        server: RunningServer, admin: Client, ns: str, gc: None) -> None:
    owner = await admin.create(CONFIGMAPS, configmap("owner"), ns)
    other = await admin.create(CONFIGMAPS, configmap("other-owner"), ns)
    await admin.create(CONFIGMAPS, configmap("dep-cm", owner_ref(owner)), ns)
    await admin.create(PODS, pod("dep-pod", owner_ref(owner, block=True), owner_ref(other)),
                       ns)

    await kubectl(server, "delete", "configmap", "owner", "-n", ns, "--cascade=orphan",
                  "--timeout=30s")

    assert await absent(admin, CONFIGMAPS, "owner", ns)
    dep_cm = await admin.get(CONFIGMAPS, "dep-cm", ns)
    assert not dep_cm["metadata"].get("ownerReferences")
    dep_pod = await admin.get(PODS, "dep-pod", ns)
    assert [r["uid"] for r in dep_pod["metadata"]["ownerReferences"]] == \
        [other["metadata"]["uid"]]
    # orphaned for good: nothing collects them later
    await asyncio.sleep(1.0)
    assert not await absent(admin, CONFIGMAPS, "dep-cm", ns)


async def test_dangling_references(admin: Client, ns: str, gc: None) -> None:
    ghost = {"apiVersion": "v1", "kind": "ConfigMap", "name": "never-existed",
             "uid": str(uuid.uuid4())}
    live = await admin.create(CONFIGMAPS, configmap("live-owner"), ns)
    await admin.create(CONFIGMAPS, configmap("orphan", ghost), ns)
    await admin.create(CONFIGMAPS, configmap("half", ghost, owner_ref(live)), ns)
    # a reference to an existing name but another uid is dangling too
    await admin.create(CONFIGMAPS, configmap("stale", {**owner_ref(live),
                                                       "uid": str(uuid.uuid4())}), ns)

    await wait_gone(admin, CONFIGMAPS, "orphan", ns)
    await wait_gone(admin, CONFIGMAPS, "stale", ns)

    async def only_live_ref() -> bool:
        half = await admin.get(CONFIGMAPS, "half", ns)
        return [r["uid"] for r in half["metadata"]["ownerReferences"]] == \
            [live["metadata"]["uid"]]

    await until(only_live_ref, "the dangling reference to be removed")
    assert not await absent(admin, CONFIGMAPS, "live-owner", ns)


async def test_custom_resources_as_owners_and_dependents(admin: Client, ns: str,
                                                         gc: None) -> None:
    await make_crd(admin, "gc.kubesmith.test", "widgets", "Widget")
    try:
        widget = await admin.create(WIDGETS, {
            "apiVersion": "gc.kubesmith.test/v1", "kind": "Widget",
            "metadata": {"name": "w1"}, "spec": {"size": 1}}, ns)
        await admin.create(CONFIGMAPS, configmap("of-widget", owner_ref(widget)), ns)
        cm_owner = await admin.create(CONFIGMAPS, configmap("cm-owner"), ns)
        await admin.create(WIDGETS, {
            "apiVersion": "gc.kubesmith.test/v1", "kind": "Widget",
            "metadata": {"name": "w2", "ownerReferences": [owner_ref(cm_owner)]}}, ns)

        await admin.delete(WIDGETS, "w1", ns, propagation_policy="Background")
        await wait_gone(admin, CONFIGMAPS, "of-widget", ns, seconds=30)

        await admin.delete(CONFIGMAPS, "cm-owner", ns, propagation_policy="Background")
        await wait_gone(admin, WIDGETS, "w2", ns, seconds=30)
    finally:
        await delete_crd(admin, "widgets.gc.kubesmith.test")


async def test_owner_in_another_namespace_is_reported_and_dependent_collected(
        admin: Client, ns: str, gc: None) -> None:
    other_ns = f"{ns}-other"
    await make_namespace(admin, other_ns)
    try:
        owner = await admin.create(CONFIGMAPS, configmap("owner"), other_ns)
        dep = await admin.create(CONFIGMAPS, configmap("cross", owner_ref(owner)), ns)

        async def reported() -> bool:
            page = await admin.list(EVENTS, ns)
            return any(e.get("reason") == "OwnerRefInvalidNamespace" and
                       e["involvedObject"].get("uid") == dep["metadata"]["uid"]
                       for e in page.items)

        await until(reported, "an OwnerRefInvalidNamespace event")
        # the owner does not exist in the dependent's namespace: the reference dangles
        await wait_gone(admin, CONFIGMAPS, "cross", ns)
        assert not await absent(admin, CONFIGMAPS, "owner", other_ns)
    finally:
        await drop_namespace(admin, other_ns)


async def test_cluster_scoped_dependent_of_a_namespaced_owner(admin: Client, ns: str,
                                                              gc: None) -> None:
    owner = await admin.create(CONFIGMAPS, configmap("owner"), ns)
    name = f"gc-test-{uuid.uuid4().hex[:8]}"
    role = await admin.create(CLUSTERROLES, {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": name, "ownerReferences": [owner_ref(owner)]}, "rules": []})
    try:
        async def reported() -> bool:
            page = await admin.list(EVENTS, "default")
            return any(e.get("reason") == "OwnerRefInvalidNamespace" and
                       e["involvedObject"].get("uid") == role["metadata"]["uid"]
                       for e in page.items)

        await until(reported, "an OwnerRefInvalidNamespace event")
        # such a reference can never be resolved: the object is not collected for it
        assert not await absent(admin, CLUSTERROLES, name)
    finally:
        await admin.delete(CLUSTERROLES, name)
