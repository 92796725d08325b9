"""The garbage collector against a real API server: Background, Foreground and Orphan
cascades driven by the real kubectl, dangling owner references, custom resources as owners
and dependents (CRD created by the test), and owners in another namespace.

Owners and dependents are made by hand (ConfigMaps, Pods, a ReplicaSet no controller
manages) so only the collector acts on them. The helpers at the top are shared with the
other test modules of these controllers (namespace deletion, root CA, disruption)."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import pytest

from kubesmith.client import ApiError, Client, Resource
from kubesmith.client.rest import (
    CONFIGMAPS,
    EVENTS,
    NAMESPACES,
    PODS,
    REPLICASETS,
    SERVICEACCOUNTS,
)
from kubesmith.controllers import manager
from tests.conftest import RunningServer

pytestmark = pytest.mark.integration

T = TypeVar("T")

GC = "garbage-collector-controller"
CRDS = Resource("apiextensions.k8s.io", "v1", "customresourcedefinitions", namespaced=False)
WIDGETS = Resource("gc.kubesmith.test", "v1", "widgets")
CLUSTERROLES = Resource("rbac.authorization.k8s.io", "v1", "clusterroles", namespaced=False)


# ---- helpers shared by the modules of these controllers -----------------------------------

async def eventually(check: Callable[[], Awaitable[T | None]], what: str,
                     seconds: float = 20.0) -> T:
    """Poll ``check`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + seconds
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = await check()
        except ApiError as exc:
            last = exc
        else:
            if last:
                found: T = last
                return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


async def absent(client: Client, resource: Resource, name: str,
                 namespace: str | None = None) -> bool:
    """Whether the object is gone (404)."""
    try:
        await client.get(resource, name, namespace)
    except ApiError as exc:
        if exc.code == 404:
            return True
        raise
    return False


async def wait_gone(client: Client, resource: Resource, name: str,
                    namespace: str | None = None, seconds: float = 20.0) -> None:
    await eventually(lambda: absent(client, resource, name, namespace),
                     f"{resource.plural} {namespace}/{name} to be deleted", seconds)


async def make_namespace(client: Client, name: str) -> None:
    """A namespace with its default ServiceAccount (pods need it)."""
    await client.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace",
                                     "metadata": {"name": name}})

    async def has_sa() -> bool:
        await client.get(SERVICEACCOUNTS, "default", name)
        return True

    await eventually(has_sa, f"default ServiceAccount in {name}")


async def drop_namespace(client: Client, name: str) -> None:
    """Delete a namespace without a namespace controller: release it by hand."""
    with contextlib.suppress(ApiError):
        await client.delete(NAMESPACES, name)
        await client.replace(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace",
                                          "metadata": {"name": name},
                                          "spec": {"finalizers": []}},
                             subresource="finalize")


def owner_ref(owner: dict[str, Any], *, block: bool | None = None,
              controller: bool | None = None) -> dict[str, Any]:
    ref = {"apiVersion": owner["apiVersion"], "kind": owner["kind"],
           "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"]}
    if block is not None:
        ref["blockOwnerDeletion"] = block
    if controller is not None:
        ref["controller"] = controller
    return ref


def configmap(name: str, *owners: dict[str, Any], finalizers: list[str] | None = None
              ) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if owners:
        meta["ownerReferences"] = list(owners)
    if finalizers:
        meta["finalizers"] = finalizers
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"k": name}}


def pod(name: str, *owners: dict[str, Any], labels: dict[str, str] | None = None
        ) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": labels or {}}
    if owners:
        meta["ownerReferences"] = list(owners)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": {"containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10"}]}}


async def make_crd(client: Client, group: str, plural: str, kind: str,
                   scope: str = "Namespaced", subresources: dict[str, Any] | None = None
                   ) -> None:
    """A CRD with one served version v1 (any fields), waited for until it is served."""
    version: dict[str, Any] = {
        "name": "v1", "served": True, "storage": True,
        "schema": {"openAPIV3Schema": {"type": "object",
                                       "x-kubernetes-preserve-unknown-fields": True}}}
    if subresources:
        version["subresources"] = subresources
    await client.create(CRDS, {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {"group": group, "scope": scope,
                 "names": {"plural": plural, "singular": kind.lower(), "kind": kind},
                 "versions": [version]}})
    resource = Resource(group, "v1", plural, scope == "Namespaced")

    async def served() -> bool:
        await client.request("GET", resource.path())
        return True

    await eventually(served, f"{plural}.{group} to be served")


async def delete_crd(client: Client, name: str) -> None:
    with contextlib.suppress(ApiError):
        await client.delete(CRDS, name)


async def kubectl(server: RunningServer, *args: str) -> subprocess.CompletedProcess[str]:
    """Run kubectl without blocking the loop the controllers run on."""
    return await asyncio.to_thread(server.kubectl, *args)


# ---- fixtures ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def server(server_factory: Callable[..., RunningServer]) -> RunningServer:
    """An API server running only the ServiceAccounts controller (ours run in the test)."""
    return server_factory("--controllers", "serviceaccount-controller")


@pytest.fixture
async def admin(server: RunningServer) -> AsyncIterator[Client]:
    async with Client.from_kubeconfig(str(server.kubeconfig)) as client:
        yield client


@contextlib.asynccontextmanager
async def registered(server: RunningServer, controllers: Any, monkeypatch: pytest.MonkeyPatch,
                     name: str, target: str) -> AsyncIterator[None]:
    """Run the controller ``target`` ("module:Class") registered as ``name``."""
    monkeypatch.setitem(manager.CONTROLLERS, name, target)
    async with controllers(server, name):
        yield


@pytest.fixture
async def gc(server: RunningServer, controllers: Any, monkeypatch: pytest.MonkeyPatch
             ) -> AsyncIterator[None]:
    async with registered(server, controllers, monkeypatch, GC,
                          "kubesmith.controllers.garbagecollector:GarbageCollector"):
        yield


@pytest.fixture
async def ns(admin: Client) -> AsyncIterator[str]:
    name = f"gc-{uuid.uuid4().hex[:8]}"
    await make_namespace(admin, name)
    try:
        yield name
    finally:
        await drop_namespace(admin, name)


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

    await eventually(held_terminating, "the held dependent to be deleted")
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

    await eventually(only_live_ref, "the dangling reference to be removed")
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

        await eventually(reported, "an OwnerRefInvalidNamespace event")
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

        await eventually(reported, "an OwnerRefInvalidNamespace event")
        # such a reference can never be resolved: the object is not collected for it
        assert not await absent(admin, CLUSTERROLES, name)
    finally:
        await admin.delete(CLUSTERROLES, name)
