"""DefaultStorageClass admission over a real SQLite datastore."""

from __future__ import annotations

from typing import Any

from kubesmith.api.resources import Resources
from kubesmith.apiserver.admission import AdmissionRequest
from kubesmith.apiserver.admission_plugins.defaultstorageclass import (
    DefaultStorageClass,
    default_class,
)
from kubesmith.apiserver.authn import UserInfo

Obj = dict[str, Any]
DEFAULT = {"storageclass.kubernetes.io/is-default-class": "true"}




def _req(res: Resources, op: str = "CREATE") -> AdmissionRequest:
    store = res.for_kind("", "PersistentVolumeClaim")
    assert store is not None
    return AdmissionRequest(op, store.rt, "ns", "p", "", UserInfo("u"), False)


async def _class(res: Resources, name: str, annotations: dict[str, str] | None = None) -> None:
    store = res.for_kind("storage.k8s.io", "StorageClass")
    assert store is not None
    meta: Obj = {"name": name}
    if annotations:
        meta["annotations"] = annotations
    await store.create(None, {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                              "metadata": meta, "provisioner": "example.com/p"})


def _pvc(**spec: Any) -> Obj:
    return {"metadata": {"name": "p"}, "spec": dict(spec)}


async def test_sets_default(resources: Resources) -> None:
    await _class(resources, "plain")
    plugin = DefaultStorageClass(resources)
    pvc = _pvc()
    await plugin.admit(_req(resources), pvc, None)
    assert "storageClassName" not in pvc["spec"]
    await _class(resources, "fast", DEFAULT)
    await plugin.admit(_req(resources), pvc, None)
    assert pvc["spec"]["storageClassName"] == "fast"


async def test_explicit_class_kept(resources: Resources) -> None:
    await _class(resources, "fast", DEFAULT)
    plugin = DefaultStorageClass(resources)
    for spec in ({"storageClassName": ""}, {"storageClassName": "slow"}):
        pvc = _pvc(**spec)
        await plugin.admit(_req(resources), pvc, None)
        assert pvc["spec"] == spec
    pvc = _pvc()
    pvc["metadata"]["annotations"] = {"volume.beta.kubernetes.io/storage-class": "x"}
    await plugin.admit(_req(resources), pvc, None)
    assert "storageClassName" not in pvc["spec"]
    pvc = _pvc()
    await plugin.admit(_req(resources, "UPDATE"), pvc, pvc)
    assert "storageClassName" not in pvc["spec"]


def test_newest_default_wins() -> None:
    def sc(name: str, ts: str, default: bool = True) -> Obj:
        ann = DEFAULT if default else {}
        return {"metadata": {"name": name, "creationTimestamp": ts, "annotations": ann}}
    assert default_class([sc("a", "2024-01-01T00:00:00Z"), sc("b", "2024-02-01T00:00:00Z"),
                          sc("c", "2025-01-01T00:00:00Z", False)]) == "b"
    assert default_class([sc("z", "2024-01-01T00:00:00Z"),
                          sc("m", "2024-01-01T00:00:00Z")]) == "m"
    assert default_class([sc("c", "2025-01-01T00:00:00Z", False)]) is None
