"""The namespace controller against a real API server: ``kubectl delete ns`` empties the
namespace of every type (pods, ConfigMaps, Secrets, a custom resource) and returns within
seconds; content held by a finalizer or by a pod's grace period keeps the namespace
Terminating with upstream's status conditions until it goes away."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kubesmith.client import Client, Resource
from kubesmith.client.rest import CONFIGMAPS, NAMESPACES, PODS, SECRETS
from kubesmith.controllers.namespace import NamespaceController
from tests.conftest import RunningServer
from tests.integration.controllers.conftest import running_registered
from tests.integration.controllers.helpers import (
    absent,
    kubectl,
    make_namespace,
    until,
    wait_gone,
)
from tests.integration.controllers.objects import configmap, delete_crd, make_crd, pod

pytestmark = pytest.mark.integration

NAMESPACE_CONTROLLER = "namespace-controller"
GADGETS = Resource("ns.kubesmith.test", "v1", "gadgets")
HOLD = "test.kubesmith.io/hold"


@pytest.fixture
async def namespace_controller(server: RunningServer,
                               monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[None]:
    # One API server: nothing else must first see the deletion (upstream waits 5 s).
    monkeypatch.setattr(NamespaceController, "deletion_grace_period", 0.2)
    async with running_registered(server, monkeypatch, NAMESPACE_CONTROLLER,
                                  "kubesmith.controllers.namespace:NamespaceController"):
        yield


def conditions(ns: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in (ns.get("status") or {}).get("conditions") or ()}


async def test_kubectl_delete_namespace_removes_all_content(
        server: RunningServer, admin: Client, namespace_controller: None) -> None:
    name = f"nsdel-{uuid.uuid4().hex[:8]}"
    await make_namespace(admin, name)
    await make_crd(admin, "ns.kubesmith.test", "gadgets", "Gadget")
    try:
        for i in range(3):
            await admin.create(PODS, pod(f"p{i}"), name)
            await admin.create(CONFIGMAPS, configmap(f"c{i}"), name)
        await admin.create(SECRETS, {"apiVersion": "v1", "kind": "Secret",
                                     "metadata": {"name": "s"}, "stringData": {"k": "v"}},
                           name)
        await admin.create(GADGETS, {"apiVersion": "ns.kubesmith.test/v1", "kind": "Gadget",
                                     "metadata": {"name": "g"}}, name)

        started = time.monotonic()
        await kubectl(server, "delete", "namespace", name, "--timeout=30s")
        took = time.monotonic() - started

        assert await absent(admin, NAMESPACES, name)
        assert took < 15, f"kubectl delete ns took {took:.1f}s"
        # the content went with it (a namespace of the same name starts empty)
        await make_namespace(admin, name)
        for resource in (PODS, CONFIGMAPS, SECRETS, GADGETS):
            page = await admin.list(resource, name)
            assert [i["metadata"]["name"] for i in page.items
                    if i["metadata"]["name"] != "kube-root-ca.crt"] == [], resource.plural
        await kubectl(server, "delete", "namespace", name, "--timeout=30s")
    finally:
        await delete_crd(admin, "gadgets.ns.kubesmith.test")


async def test_finalizer_blocks_deletion_with_conditions(
        server: RunningServer, admin: Client, namespace_controller: None) -> None:
    name = f"nsheld-{uuid.uuid4().hex[:8]}"
    await make_namespace(admin, name)
    await admin.create(CONFIGMAPS, configmap("held", finalizers=[HOLD]), name)
    await admin.create(CONFIGMAPS, configmap("free"), name)

    await kubectl(server, "delete", "namespace", name, "--wait=false")

    async def blocked() -> dict[str, dict[str, Any]] | None:
        found = conditions(await admin.get(NAMESPACES, name))
        remaining = found.get("NamespaceContentRemaining")
        return found if remaining and remaining["status"] == "True" else None

    found = await until(blocked, "the NamespaceContentRemaining condition")
    assert found["NamespaceContentRemaining"]["reason"] == "SomeResourcesRemain"
    assert found["NamespaceContentRemaining"]["message"] == \
        "Some resources are remaining: configmaps. has 1 resource instances"
    assert found["NamespaceFinalizersRemaining"]["status"] == "True"
    assert found["NamespaceFinalizersRemaining"]["reason"] == "SomeFinalizersRemain"
    assert found["NamespaceFinalizersRemaining"]["message"] == \
        f"Some content in the namespace has finalizers remaining: {HOLD} in 1 resource instances"
    for ok_type, reason in (("NamespaceDeletionDiscoveryFailure", "ResourcesDiscovered"),
                            ("NamespaceDeletionGroupVersionParsingFailure",
                             "ParsedGroupVersions"),
                            ("NamespaceDeletionContentFailure", "ContentDeleted")):
        assert (found[ok_type]["status"], found[ok_type]["reason"]) == ("False", reason)
    ns = await admin.get(NAMESPACES, name)
    assert ns["status"]["phase"] == "Terminating"
    assert ns["spec"]["finalizers"] == ["kubernetes"]
    assert await absent(admin, CONFIGMAPS, "free", name)
    described = await kubectl(server, "describe", "namespace", name)
    assert "SomeFinalizersRemain" in described.stdout

    await admin.patch(CONFIGMAPS, "held", {"metadata": {"finalizers": None}}, name)
    await wait_gone(admin, NAMESPACES, name, seconds=30)


async def test_pods_in_their_grace_period_are_waited_for(
        server: RunningServer, admin: Client, namespace_controller: None) -> None:
    name = f"nsgrace-{uuid.uuid4().hex[:8]}"
    await make_namespace(admin, name)
    running = pod("running")
    running["spec"].update(nodeName="no-such-node", terminationGracePeriodSeconds=30)
    await admin.create(PODS, running, name)

    await kubectl(server, "delete", "namespace", name, "--wait=false")

    async def terminating_pod() -> bool:
        found = await admin.get(PODS, "running", name)
        return bool(found["metadata"].get("deletionTimestamp"))

    await until(terminating_pod, "the pod to be deleted gracefully")

    async def remaining() -> bool:
        found = conditions(await admin.get(NAMESPACES, name))
        cond = found.get("NamespaceContentRemaining") or {}
        return cond.get("message") == "Some resources are remaining: pods. has 1 resource " \
                                      "instances"

    await until(remaining, "pods reported as remaining")
    # what the node agent does once the containers stopped
    await admin.delete(PODS, "running", name, grace_period_seconds=0)
    await wait_gone(admin, NAMESPACES, name, seconds=30)
