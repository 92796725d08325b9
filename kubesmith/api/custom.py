"""Custom resources: resource types and strategies derived from CustomResourceDefinitions.

A CRD with served versions becomes one :class:`ResourceType` per served version, all
sharing one storage prefix (``/registry/<group>/<plural>/``). Objects are stored in the
CRD's storage version; with conversion strategy ``None`` converting between versions only
rewrites ``apiVersion``, which is what :func:`convert_custom` does.

:class:`CustomResourceStrategy` applies the version's structural schema: defaulting,
pruning of unknown fields, and validation, and honours the status and scale subresources.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubesmith.api import errors, schema, tables
from kubesmith.api.crd import custom_resources
from kubesmith.api.errors import FieldError
from kubesmith.api.registry import version_priority
from kubesmith.api.resource_types import ResourceType
from kubesmith.api.strategies.base import Strategy
from kubesmith.api.types import Obj
from kubesmith.api.validation import meta as meta_validation
from kubesmith.api.validation import names


@dataclass(frozen=True, slots=True)
class CustomVersion:
    """What the API server needs of one served version of a CRD."""

    rt: ResourceType
    schema: dict[str, Any]
    printer_columns: tuple[dict[str, Any], ...]
    scale: dict[str, Any] | None
    storage_version: str


def custom_versions(crd: Obj) -> list[CustomVersion]:
    """The served versions of ``crd`` as resource types (preferred version first)."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    group = spec.get("group", "")
    versions = [v for v in spec.get("versions") or [] if v.get("served")]
    if not versions:
        return []
    storage = next((v["name"] for v in spec.get("versions") or [] if v.get("storage")),
                   versions[0]["name"])
    ordered = sorted(versions, key=lambda v: version_priority(v["name"]))
    preferred = ordered[0]["name"]
    out = []
    for v in ordered:
        subs = v.get("subresources") or {}
        sub_names = tuple(n for n in ("status", "scale") if n in subs)
        rt = ResourceType(
            group=group, version=v["name"], kind=names.get("kind", ""),
            plural=names.get("plural", ""),
            namespaced=spec.get("scope", "Namespaced") == "Namespaced",
            short_names=tuple(names.get("shortNames") or ()),
            categories=tuple(names.get("categories") or ()),
            subresources=sub_names, singular=names.get("singular", ""),
            preferred=v["name"] == preferred,
        )
        schema = (v.get("schema") or {}).get("openAPIV3Schema") or {}
        out.append(CustomVersion(rt, schema, tuple(v.get("additionalPrinterColumns") or ()),
                                 subs.get("scale"), storage))
    return out


def convert_custom(obj: Obj, group: str, version: str) -> Obj:
    """Conversion strategy None: the same object under another apiVersion."""
    converted = dict(obj)
    converted["apiVersion"] = f"{group}/{version}"
    return converted


class CustomResourceStrategy(Strategy):
    def __init__(self, version: CustomVersion) -> None:
        super().__init__(version.rt)
        self.version = version
        self._node = schema.SchemaNode.from_openapi(version.schema) if version.schema \
            else schema.SchemaNode.untyped()

    def default(self, obj: Obj) -> None:
        custom_resources.default(obj, self.version.schema)

    def prepare_for_create(self, obj: Obj) -> None:
        if self.has_status:
            obj.pop("status", None)
        obj["metadata"]["generation"] = 1

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        if self.has_status:
            if "status" in old:
                new["status"] = old["status"]
            else:
                new.pop("status", None)
        # Without a status subresource every change but metadata counts (upstream).
        ignored = ("metadata", "status") if self.has_status else ("metadata",)
        changed = {k: v for k, v in new.items() if k not in ignored} != \
            {k: v for k, v in old.items() if k not in ignored}
        gen = int(old.get("metadata", {}).get("generation") or 1)
        new["metadata"]["generation"] = gen + 1 if changed else gen

    def validate(self, obj: Obj) -> list[FieldError]:
        errs = meta_validation.validate_object_meta(
            obj.get("metadata") or {}, namespaced=self.rt.namespaced,
            name_rule=names.name_is_dns_subdomain, kube_finalizers=False)
        errs += custom_resources.validate(obj, self.version.schema)
        return errs

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        errs = meta_validation.validate_object_meta_update(
            new.get("metadata") or {}, old.get("metadata") or {}, kube_finalizers=False)
        return errs + custom_resources.validate(new, self.version.schema)

    def validate_subresource_update(self, subresource: str, new: Obj, old: Obj
                                    ) -> list[FieldError]:
        return self.validate_update(new, old)

    # Upstream refuses strategic merge patch on custom resources (415).
    supports_strategic_merge = False

    def schema_node(self, kind: str | None = None) -> schema.SchemaNode | None:
        return self._node

    def decode_error(self, obj: Obj) -> str | None:
        # Custom resources are decoded as unstructured JSON upstream: wrong types surface
        # as schema validation errors (422), not decoding errors.
        return None

    def table_printer(self) -> tables.TablePrinter:
        return tables.crd_columns(list(self.version.printer_columns))

    def prune(self, obj: Obj) -> list[str]:
        return custom_resources.prune(obj, self.version.schema)


def scale_of_custom(version: CustomVersion, obj: Obj) -> Obj:
    """The autoscaling/v1 Scale view of a custom resource with a scale subresource."""
    scale = version.scale or {}
    meta = obj.get("metadata", {})
    spec_path = scale.get("specReplicasPath", ".spec.replicas")
    status_path = scale.get("statusReplicasPath", ".status.replicas")
    selector_path = scale.get("labelSelectorPath")
    out: Obj = {
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion",
                                          "creationTimestamp") if k in meta},
        "spec": {"replicas": custom_resources.get_path(obj, spec_path)[0] or 0},
        "status": {"replicas": custom_resources.get_path(obj, status_path)[0] or 0},
    }
    if selector_path:
        selector = custom_resources.get_path(obj, selector_path)[0]
        if selector:
            out["status"]["selector"] = selector
    return out


def apply_custom_scale(version: CustomVersion, obj: Obj, replicas: Any) -> Obj:
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        raise errors.invalid_object("Scale", obj.get("metadata", {}).get("name", ""), [
            errors.invalid("spec.replicas", replicas, "must be greater than or equal to 0")],
            "autoscaling")
    path = (version.scale or {}).get("specReplicasPath", ".spec.replicas")
    custom_resources.set_path(obj, path, replicas)
    return obj
