"""The PersistentVolume controller against a real API server: static binding (smallest fit,
selectors, pre-binding), reclaim policies, WaitForFirstConsumer with the local-path
provisioner, external provisioners and claims nothing can satisfy."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kubesmith.client import ApiError, Client
from kubesmith.client.rest import (
    NAMESPACES,
    PERSISTENTVOLUMECLAIMS,
    PERSISTENTVOLUMES,
    STORAGECLASSES,
)
from tests.conftest import RunningServer
from tests.integration.controllers.conftest import running_controllers
from tests.integration.controllers.helpers import until

pytestmark = pytest.mark.integration

NS = "pv-test"


@pytest.fixture
async def client(server: RunningServer) -> AsyncIterator[Client]:
    async with Client.from_kubeconfig(str(server.kubeconfig)) as c:
        with contextlib.suppress(ApiError):  # created by an earlier test of the module
            await c.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace",
                                        "metadata": {"name": NS}})
        async with running_controllers(server, "persistentvolume-binder"):
            yield c


def volume(name: str, size: str, *, policy: str = "Retain", labels: dict[str, str] |
           None = None, claim: str | None = None, cls: str = "") -> dict[str, Any]:
    spec: dict[str, Any] = {"capacity": {"storage": size}, "accessModes": ["ReadWriteOnce"],
                            "persistentVolumeReclaimPolicy": policy,
                            "storageClassName": cls,
                            "hostPath": {"path": f"/tmp/{name}"}}
    if claim:
        spec["claimRef"] = {"namespace": NS, "name": claim}
    return {"apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": name, "labels": labels or {}}, "spec": spec}


def claim(name: str, size: str, *, cls: str | None = "", selector: dict[str, Any] | None
          = None, volume_name: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": size}}}
    if cls is not None:
        spec["storageClassName"] = cls
    if selector:
        spec["selector"] = selector
    if volume_name:
        spec["volumeName"] = volume_name
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": name, "namespace": NS}, "spec": spec}


async def phase_of(client: Client, resource: Any, name: str, phase: str,
                   ns: str | None = None) -> Any:
    async def check() -> Any:
        obj = await client.get(resource, name, ns)
        return obj if (obj.get("status") or {}).get("phase") == phase else None
    return await until(check, f"{name} {phase}", 10)


def events_for(server: RunningServer, name: str, ns: str = NS) -> list[dict[str, Any]]:
    out = server.kubectl("get", "events", "-n", ns, "-o", "json", "--field-selector",
                         f"involvedObject.name={name}").stdout
    items: list[dict[str, Any]] = json.loads(out)["items"]
    return items


async def wait_event(server: RunningServer, name: str, reason: str,
                     ns: str = NS) -> dict[str, Any]:
    async def check() -> Any:
        return next((e for e in events_for(server, name, ns) if e["reason"] == reason), None)
    found: dict[str, Any] = await until(check, f"a {reason} event for {name}", 10)
    return found


async def test_static_binding_picks_the_smallest_fit(client: Client) -> None:
    await client.create(PERSISTENTVOLUMES, volume("pv-big", "10Gi"))
    await client.create(PERSISTENTVOLUMES, volume("pv-small", "2Gi"))
    await client.create(PERSISTENTVOLUMES, volume("pv-tiny", "500Mi"))
    await client.create(PERSISTENTVOLUMECLAIMS, claim("data", "1Gi"))
    bound = await phase_of(client, PERSISTENTVOLUMECLAIMS, "data", "Bound", NS)
    assert bound["spec"]["volumeName"] == "pv-small"
    assert bound["status"]["capacity"] == {"storage": "2Gi"}
    assert bound["metadata"]["annotations"]["pv.kubernetes.io/bind-completed"] == "yes"
    pv = await phase_of(client, PERSISTENTVOLUMES, "pv-small", "Bound")
    assert pv["spec"]["claimRef"]["uid"] == bound["metadata"]["uid"]
    assert (await client.get(PERSISTENTVOLUMES, "pv-big"))["status"]["phase"] == "Available"

    # Retain: the volume is Released when its claim goes, and never reused.
    await client.delete(PERSISTENTVOLUMECLAIMS, "data", NS)
    await phase_of(client, PERSISTENTVOLUMES, "pv-small", "Released")
    await client.create(PERSISTENTVOLUMECLAIMS, claim("data2", "1Gi"))
    again = await phase_of(client, PERSISTENTVOLUMECLAIMS, "data2", "Bound", NS)
    assert again["spec"]["volumeName"] == "pv-big"


async def test_selector_and_prebinding(server: RunningServer, client: Client) -> None:
    await client.create(PERSISTENTVOLUMES, volume("pv-fast", "5Gi", labels={"tier": "fast"}))
    await client.create(PERSISTENTVOLUMES, volume("pv-plain", "1Gi"))
    await client.create(PERSISTENTVOLUMECLAIMS, claim(
        "fast", "1Gi", selector={"matchLabels": {"tier": "fast"}}))
    bound = await phase_of(client, PERSISTENTVOLUMECLAIMS, "fast", "Bound", NS)
    assert bound["spec"]["volumeName"] == "pv-fast"
    # A claim naming its volume binds to exactly that one.
    await client.create(PERSISTENTVOLUMES, volume("pv-named", "3Gi"))
    await client.create(PERSISTENTVOLUMECLAIMS, claim("named", "1Gi", volume_name="pv-named"))
    named = await phase_of(client, PERSISTENTVOLUMECLAIMS, "named", "Bound", NS)
    assert named["spec"]["volumeName"] == "pv-named"
    # A volume pre-bound to a claim by name is kept for it.
    await client.create(PERSISTENTVOLUMES, volume("pv-reserved", "1Gi", claim="later"))
    await client.create(PERSISTENTVOLUMECLAIMS, claim("later", "1Gi"))
    later = await phase_of(client, PERSISTENTVOLUMECLAIMS, "later", "Bound", NS)
    assert later["spec"]["volumeName"] == "pv-reserved"
    described = server.kubectl("get", "pvc", "-n", NS, "later").stdout
    assert "Bound" in described and "pv-reserved" in described


async def test_unsatisfiable_claim_says_why_and_waits(server: RunningServer,
                                                      client: Client) -> None:
    await client.create(PERSISTENTVOLUMECLAIMS, claim("huge", "100Ti"))
    event = await wait_event(server, "huge", "FailedBinding")
    assert event["message"] == ("no persistent volumes available for this claim and no "
                                "storage class is set")
    assert (await client.get(PERSISTENTVOLUMECLAIMS, "huge", NS))["status"]["phase"] == \
        "Pending"
    # An administrator adds a fitting volume: the periodic re-check binds it.
    await client.create(PERSISTENTVOLUMES, volume("pv-huge", "200Ti"))
    bound = await until(lambda: _bound_volume(client, "huge"), "huge bound", 25)
    assert bound == "pv-huge"
    # A class that does not exist is named.
    await client.create(PERSISTENTVOLUMECLAIMS, claim("noclass", "1Gi", cls="missing"))
    missing = await wait_event(server, "noclass", "ProvisioningFailed")
    assert missing["message"] == 'storageclass.storage.k8s.io "missing" not found'


async def _bound_volume(client: Client, name: str) -> str | None:
    got = await client.get(PERSISTENTVOLUMECLAIMS, name, NS)
    if (got.get("status") or {}).get("phase") == "Bound":
        return str(got["spec"]["volumeName"])
    return None


async def test_delete_policy_without_a_deleter_fails_the_volume(server: RunningServer,
                                                                client: Client) -> None:
    await client.create(PERSISTENTVOLUMES, volume("pv-del", "1Gi", policy="Delete",
                                                  cls="manual"))
    await client.create(PERSISTENTVOLUMECLAIMS, claim("del", "1Gi", cls="manual"))
    await phase_of(client, PERSISTENTVOLUMECLAIMS, "del", "Bound", NS)
    await client.delete(PERSISTENTVOLUMECLAIMS, "del", NS)
    failed = await phase_of(client, PERSISTENTVOLUMES, "pv-del", "Failed")
    assert "no deletable volume plugin matched" in failed["status"]["message"]
    await wait_event(server, "pv-del", "VolumeFailedDelete", "default")


async def test_local_path_waits_for_first_consumer(server: RunningServer,
                                                   client: Client) -> None:
    await client.create(STORAGECLASSES, {
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": "local-path"}, "provisioner": "kubesmith.io/local-path",
        "volumeBindingMode": "WaitForFirstConsumer", "reclaimPolicy": "Delete"})
    created = await client.create(PERSISTENTVOLUMECLAIMS, claim("local", "1Gi",
                                                                cls="local-path"))
    event = await wait_event(server, "local", "WaitForFirstConsumer")
    assert event["message"] == "waiting for first consumer to be created before binding"
    assert not [pv for pv in (await client.list(PERSISTENTVOLUMES)).items
                if pv["metadata"]["name"] == f"pvc-{created['metadata']['uid']}"]
    # The scheduler picked a node for the claim's first pod.
    await client.patch(PERSISTENTVOLUMECLAIMS, "local", {"metadata": {"annotations": {
        "volume.kubernetes.io/selected-node": "node-a"}}}, NS)
    bound = await phase_of(client, PERSISTENTVOLUMECLAIMS, "local", "Bound", NS)
    pv_name = bound["spec"]["volumeName"]
    assert pv_name == f"pvc-{created['metadata']['uid']}"
    pv = await client.get(PERSISTENTVOLUMES, pv_name)
    terms = pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"]
    assert terms[0]["matchExpressions"][0]["values"] == ["node-a"]
    assert pv["spec"]["hostPath"]["path"].startswith("/var/lib/kubesmith/storage/pvc-")
    await wait_event(server, "local", "ProvisioningSucceeded")
    # Reclaim policy Delete: the provisioned volume goes with its claim.
    await client.delete(PERSISTENTVOLUMECLAIMS, "local", NS)

    async def gone() -> bool:
        try:
            await client.get(PERSISTENTVOLUMES, pv_name)
        except ApiError as exc:
            return exc.code == 404
        return False
    assert await until(gone, "the volume deleted", 10)


async def test_external_provisioner_is_announced(server: RunningServer,
                                                 client: Client) -> None:
    await client.create(STORAGECLASSES, {
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": "ebs"}, "provisioner": "ebs.csi.aws.com"})
    await client.create(PERSISTENTVOLUMECLAIMS, claim("cloud", "1Gi", cls="ebs"))
    event = await wait_event(server, "cloud", "ExternalProvisioning")
    assert "external provisioner 'ebs.csi.aws.com'" in event["message"]
    got = await client.get(PERSISTENTVOLUMECLAIMS, "cloud", NS)
    assert got["metadata"]["annotations"]["volume.kubernetes.io/storage-provisioner"] == \
        "ebs.csi.aws.com"
