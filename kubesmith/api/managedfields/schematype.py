"""How server-side apply sees a schema: scalars, granular or atomic maps, and list kinds.

structured-merge-diff does not read OpenAPI directly; kube-openapi's ``schemaconv`` first
turns each definition into an SMD type, and the rules of that conversion decide every
merge, ownership and conflict. :class:`TypeInfo` is that conversion, done lazily over
:class:`kubesmith.api.schema.SchemaNode` (the one schema loader; no second copy here):

* Lists follow ``x-kubernetes-list-type`` (``atomic``, ``set``, ``map`` keyed by
  ``x-kubernetes-list-map-keys``); without it the strategic-merge extensions decide —
  ``patchStrategy: merge`` with a merge key is a map keyed by that key, ``merge`` without
  a key is a set, anything else (including ``retainKeys``) is atomic.
* Objects are granular ("separable") unless ``x-kubernetes-map-type: atomic``.
  ``RawExtension`` is atomic whatever its contents; other free-form values
  (``x-kubernetes-preserve-unknown-fields``, schemaless custom resources, ``JSON``) are
  *deduced*: maps granular, lists atomic, scalars leaves.
* List-map keys missing from an element take the schema's ``default`` (``ports`` without
  ``protocol`` are keyed ``protocol: "TCP"``), which the bundled definitions omit, so the
  two upstream defaults that are also map keys are supplied here.

Zero-value materialization
    Upstream compares Go structs, and Go always serializes value-typed struct fields and
    fields without ``omitempty`` (``spec``, ``template``, ``containers: null``...). An
    empty ``Deployment`` therefore already *has* ``spec.template.spec``, which is why a
    create's managedFields read ``"f:spec":{"f:template":...}`` with no ``"."`` marker
    while ``"f:rollingUpdate":{".":{},...}`` (a pointer) has one. Our objects are plain
    JSON, so :attr:`TypeInfo.materialized` lists, for built-in definitions, the fields Go
    would have written (the definition's ``required`` fields, a kind's
    ``metadata``/``spec``/``status``, ``ObjectMeta`` references and a short table of
    other value-typed structs) together with their zero values. Comparisons substitute
    them for absent fields of a present struct. Custom resources are unstructured
    upstream too, so nothing is materialized for them.

Nodes are converted once and memoised by identity, so the walkers in this package cost a
couple of attribute reads per value after warm-up.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any, Final

from kubesmith.api.schema import SchemaNode

__all__ = ["ATOMIC", "DEDUCED", "ListKind", "Shape", "TypeInfo", "type_of"]

_RAW_EXTENSION: Final = "io.k8s.apimachinery.pkg.runtime.RawExtension"
_OBJECT_META: Final = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"

# ``+default`` values of list-map key fields that the bundled definitions leave out.
_KEY_DEFAULTS: Final[dict[str, dict[str, Any]]] = {
    "io.k8s.api.core.v1.ContainerPort": {"protocol": "TCP"},
    "io.k8s.api.core.v1.ServicePort": {"protocol": "TCP"},
}

# Go value-typed fields tagged ``omitempty`` (so absent from ``required``) that
# encoding/json still always writes: structs, and ``metav1.Time`` (written as null).
# Required fields and a kind's metadata/spec/status are found from the schema; these are
# the rest that matter for ownership markers.
_ALWAYS_WRITTEN: Final[dict[str, dict[str, Any]]] = {
    _OBJECT_META: {"creationTimestamp": None},
}
_VALUE_STRUCTS: Final[dict[str, tuple[str, ...]]] = {
    "io.k8s.api.apps.v1.DeploymentSpec": ("strategy",),
    "io.k8s.api.apps.v1.DaemonSetSpec": ("updateStrategy",),
    "io.k8s.api.apps.v1.StatefulSetSpec": ("updateStrategy",),
    "io.k8s.api.core.v1.PodTemplateSpec": ("spec",),
    "io.k8s.api.core.v1.PodTemplate": ("template",),
    "io.k8s.api.batch.v1.JobTemplateSpec": ("spec",),
    "io.k8s.api.core.v1.Container": ("resources",),
    "io.k8s.api.core.v1.EphemeralContainer": ("resources",),
    "io.k8s.api.core.v1.PersistentVolumeClaimSpec": ("resources",),
    "io.k8s.api.core.v1.PersistentVolumeClaimTemplate": ("spec",),
    "io.k8s.api.core.v1.NodeStatus": ("daemonEndpoints", "nodeInfo"),
    "io.k8s.api.core.v1.NodeDaemonEndpoints": ("kubeletEndpoint",),
    "io.k8s.api.core.v1.ContainerStatus": ("state", "lastState"),
    "io.k8s.api.core.v1.Event": ("source",),
    "io.k8s.api.core.v1.ServiceStatus": ("loadBalancer",),
    "io.k8s.api.networking.v1.IngressStatus": ("loadBalancer",),
    "io.k8s.api.networking.v1.NetworkPolicySpec": ("podSelector",),
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinitionStatus":
        ("acceptedNames",),
}


class Shape(IntEnum):
    """What kind of SMD atom a type is."""

    SCALAR = 0
    LIST = 1
    MAP = 2
    #: Untyped and atomic (``RawExtension``): any value, owned and replaced whole.
    ATOMIC = 3
    #: Untyped and deduced from the value: maps granular, lists atomic, scalars leaves.
    DEDUCED = 4


class ListKind(IntEnum):
    """How a list's elements are identified."""

    ATOMIC = 0
    SET = 1
    MAP = 2


class TypeInfo:
    """One SMD type: a scalar, a (struct or string-keyed) map, or a list.

    Attributes are plain values read on hot paths: ``shape``; for maps ``atomic``,
    ``declared`` (struct field names) and ``materialized`` (Go zero values, see the module
    docstring); for lists ``list_kind``, ``keys`` and ``key_defaults``; for scalars
    ``scalar`` (``numeric``, ``string``, ``boolean`` or ``untyped``). Use :meth:`field` and
    :meth:`items` to descend.
    """

    __slots__ = (
        "_fields",
        "_items",
        "_node",
        "_other",
        "atomic",
        "declared",
        "key_defaults",
        "keys",
        "list_kind",
        "materialized",
        "name",
        "preserve_unknown",
        "scalar",
        "shape",
    )

    shape: Shape
    name: str | None
    atomic: bool
    declared: frozenset[str]
    materialized: dict[str, Any]
    list_kind: ListKind
    keys: tuple[str, ...]
    key_defaults: dict[str, Any]
    scalar: str
    preserve_unknown: bool

    def __init__(self, shape: Shape, node: SchemaNode | None = None) -> None:
        self.shape = shape
        self._node = node
        self.name = node.name if node is not None else None
        self.atomic = shape is Shape.ATOMIC
        self.declared = frozenset()
        self.materialized = {}
        self.list_kind = ListKind.ATOMIC
        self.keys = ()
        self.key_defaults = {}
        self.scalar = "untyped"
        self.preserve_unknown = bool(node is not None and node.preserve_unknown)
        self._fields: dict[str, TypeInfo] = {}
        self._items: TypeInfo | None = None
        self._other: TypeInfo | None = None

    def __repr__(self) -> str:
        return f"<TypeInfo {self.shape.name} {self.name or ''}>".replace(" >", ">")

    def field(self, name: str) -> TypeInfo:
        """The type of map entry or struct field ``name``."""
        cached = self._fields.get(name)
        if cached is not None:
            return cached
        shape = self.shape
        if shape is Shape.ATOMIC:
            return ATOMIC
        if shape is not Shape.MAP or self._node is None:
            return DEDUCED
        if name in self.declared:
            result = type_of(self._node.field(name))
            self._fields[name] = result
            return result
        # Undeclared names (map keys, preserved unknown fields) share one element type;
        # a struct that declares nothing for them is treated as free-form.
        other = self._other
        if other is None:
            other = type_of(self._node.field(name))
            self._other = other
        return other

    def accepts(self, name: str) -> bool:
        """Whether the schema admits field ``name`` here (upstream's "declared in schema").

        Structs without properties and string-keyed maps admit anything; a struct with
        properties admits only those, unless it keeps unknown fields. (Upstream also lets
        ``x-kubernetes-preserve-unknown-fields`` reach descendants; callers track that.)
        """
        if self.shape is not Shape.MAP or self._node is None or name in self.declared:
            return True
        if not self.declared:
            return True
        return self._node.field(name) is not None

    def items(self) -> TypeInfo:
        """The element type of a list (free-form lists hold atomic values)."""
        items = self._items
        if items is not None:
            return items
        if self.shape is Shape.LIST and self._node is not None:
            element = self._node.schema.get("items")
            # A list that does not say what it holds holds untyped atomic values.
            items = type_of(self._node.items()) if isinstance(element, dict) else ATOMIC
        else:
            items = ATOMIC
        self._items = items
        return items


ATOMIC: Final = TypeInfo(Shape.ATOMIC)
DEDUCED: Final = TypeInfo(Shape.DEDUCED)

_CACHE: dict[SchemaNode, TypeInfo] = {}
# Custom resource schemas are rebuilt when their CRD changes; cap the memo so a long
# running server that sees many CRD revisions does not keep every old tree alive.
_CACHE_LIMIT: Final = 50_000


def type_of(node: SchemaNode | None) -> TypeInfo:
    """The SMD type of a schema node (``None``, an unknown schema, is deduced)."""
    if node is None:
        return DEDUCED
    cached = _CACHE.get(node)
    if cached is not None:
        return cached
    info = _convert(node)
    if len(_CACHE) >= _CACHE_LIMIT:
        _CACHE.clear()
    _CACHE[node] = info
    return info


def _convert(node: SchemaNode) -> TypeInfo:
    kind = node.kind
    if kind == "scalar":
        info = TypeInfo(Shape.SCALAR, node)
        info.scalar = _scalar_kind(node.schema)
        return info
    if kind == "list":
        info = TypeInfo(Shape.LIST, node)
        info.list_kind, info.keys = _list_semantics(node)
        info.atomic = info.list_kind is ListKind.ATOMIC
        if info.keys:
            info.key_defaults = _key_defaults(node, info.keys)
        return info
    if kind in ("object", "map"):
        info = TypeInfo(Shape.MAP, node)
        info.atomic = node.map_type == "atomic"
        info.declared = frozenset(node.field_names()) if kind == "object" else frozenset()
        info.materialized = _materialized(node, info.declared)
        return info
    # Free-form: RawExtension (and anything marked atomic) is one opaque value; the rest
    # is deduced from the data, as upstream does for schemaless custom resources.
    if node.name == _RAW_EXTENSION or node.map_type == "atomic":
        return ATOMIC
    return DEDUCED


def _scalar_kind(schema: dict[str, Any]) -> str:
    """SMD's scalar kinds: ``numeric``, ``string``, ``boolean`` or ``untyped``."""
    if schema.get("x-kubernetes-int-or-string") or "oneOf" in schema or "anyOf" in schema:
        return "untyped"
    declared = schema.get("type")
    types = {declared} if isinstance(declared, str) else set(declared or ())
    types.discard("null")
    if len(types) != 1:
        return "untyped"
    (only,) = types
    if only in ("integer", "number"):
        return "numeric"
    if only == "boolean":
        return "boolean"
    if only == "string":
        # kube-openapi keeps plain and byte strings typed; any other format is untyped.
        return "string" if schema.get("format") in (None, "", "byte") else "untyped"
    return "untyped"


def _list_semantics(node: SchemaNode) -> tuple[ListKind, tuple[str, ...]]:
    """``x-kubernetes-list-type`` first, then the strategic-merge extensions."""
    list_type = node.list_type
    if list_type == "atomic":
        return ListKind.ATOMIC, ()
    if list_type == "set":
        return ListKind.SET, ()
    if list_type == "map":
        keys = node.list_map_keys
        return (ListKind.MAP, keys) if keys else (ListKind.SET, ())
    if list_type is not None:
        return ListKind.ATOMIC, ()
    if node.patch_strategy in ("merge", "merge,retainKeys"):
        key = node.patch_merge_key
        return (ListKind.MAP, (key,)) if key else (ListKind.SET, ())
    return ListKind.ATOMIC, ()


def _key_defaults(node: SchemaNode, keys: tuple[str, ...]) -> dict[str, Any]:
    element = node.items()
    if element is None:
        return {}
    defaults = dict(_KEY_DEFAULTS.get(element.name or "", {}))
    for key in keys:
        child = element.field(key)
        if child is not None and "default" in child.schema:
            defaults[key] = child.schema["default"]
    return {key: defaults[key] for key in keys if key in defaults}


def _materialized(node: SchemaNode, declared: frozenset[str]) -> dict[str, Any]:
    """Fields Go always writes for this built-in struct, with their zero values."""
    name = node.name
    # Only definition-backed nodes carry a name; custom resource schemas are inline.
    if name is None or not name.startswith("io.k8s."):
        return {}
    schema = node.schema
    result: dict[str, Any] = {}
    required = schema.get("required")
    if isinstance(required, list):
        for field in required:
            if isinstance(field, str) and field in declared:
                zero = _zero(node.field(field))
                if zero is not _NO_ZERO:
                    result[field] = zero
    if schema.get("x-kubernetes-group-version-kind"):
        for field in ("metadata", "spec", "status"):
            if field in declared:
                result[field] = {}
    for field in declared:
        child = node.field(field)
        if child is not None and child.name == _OBJECT_META:
            result[field] = {}
    for field in _VALUE_STRUCTS.get(name, ()):
        if field in declared:
            result[field] = {}
    for field, zero in _ALWAYS_WRITTEN.get(name, {}).items():
        if field in declared:
            result[field] = zero
    return result


_NO_ZERO: Final = object()


def _zero(node: SchemaNode | None) -> Any:
    """Go's serialized zero value for a required field of this schema."""
    if node is None:
        return _NO_ZERO
    if node.kind == "object":
        return {}
    if node.kind == "scalar":
        kind = _scalar_kind(node.schema)
        return {"numeric": 0, "string": "", "boolean": False}.get(kind, _NO_ZERO)
    # nil slices, maps and pointers serialize as null.
    return None

