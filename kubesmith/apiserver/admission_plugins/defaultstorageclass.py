"""DefaultStorageClass admission, as upstream's
``plugin/pkg/admission/storage/storageclass/setdefault``.

A PersistentVolumeClaim created without ``spec.storageClassName`` (and without the beta
``volume.beta.kubernetes.io/storage-class`` annotation) gets the default StorageClass:
the one annotated ``storageclass.kubernetes.io/is-default-class: "true"`` (or the beta
annotation). With several defaults the newest wins, ties going to the first name (as
upstream since 1.26). An explicit ``""`` is kept: it asks for no class.
"""

from __future__ import annotations

from typing import Any

from kubesmith.api.resources import Resources
from kubesmith.api.types import Obj
from kubesmith.apiserver.admission import AdmissionRequest

IS_DEFAULT_ANNOTATION = "storageclass.kubernetes.io/is-default-class"
BETA_IS_DEFAULT_ANNOTATION = "storageclass.beta.kubernetes.io/is-default-class"
BETA_CLASS_ANNOTATION = "volume.beta.kubernetes.io/storage-class"


def _d(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def is_default(sc: Obj) -> bool:
    annotations = _d(_d(sc.get("metadata")).get("annotations"))
    return "true" in (annotations.get(IS_DEFAULT_ANNOTATION),
                      annotations.get(BETA_IS_DEFAULT_ANNOTATION))


def default_class(classes: list[Obj]) -> str | None:
    """The default class's name: newest first, then by name."""
    defaults = []
    for sc in classes:
        if is_default(sc):
            meta = _d(sc.get("metadata"))
            defaults.append((str(meta.get("creationTimestamp") or ""), str(meta.get("name"))))
    if not defaults:
        return None
    # RFC 3339 timestamps in UTC ("...Z") sort as strings.
    defaults.sort(key=lambda d: d[1])
    defaults.sort(key=lambda d: d[0], reverse=True)
    return defaults[0][1]


class DefaultStorageClass:
    name = "DefaultStorageClass"

    def __init__(self, resources: Resources) -> None:
        self.resources = resources

    async def admit(self, req: AdmissionRequest, obj: Obj | None, old: Obj | None) -> None:
        if obj is None or req.operation != "CREATE" or req.subresource or \
                req.rt.group != "" or req.rt.plural != "persistentvolumeclaims":
            return
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            spec = obj["spec"] = {}
        if spec.get("storageClassName") is not None:
            return
        if BETA_CLASS_ANNOTATION in _d(_d(obj.get("metadata")).get("annotations")):
            return
        store = self.resources.for_kind("storage.k8s.io", "StorageClass")
        if store is None:
            return
        name = default_class([c.obj for c in store.cache.iter_from(None)])
        if name is not None:
            spec["storageClassName"] = name

    async def validate(self, req: AdmissionRequest, obj: Obj | None, old: Obj | None) -> None:
        return None
