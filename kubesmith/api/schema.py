"""OpenAPI schema views: what a field is, how it merges, and which fields are unknown.

Kubernetes describes every built-in kind in its OpenAPI definitions, and the patch and apply
machinery is driven by the extensions found there: ``x-kubernetes-patch-strategy`` and
``x-kubernetes-patch-merge-key`` (strategic merge patch), ``x-kubernetes-list-type``,
``x-kubernetes-list-map-keys`` and ``x-kubernetes-map-type`` (server-side apply), and
``x-kubernetes-group-version-kind`` (which definition is the root of which kind).

Where the definitions come from
    The v1.37 definitions ship inside the ``kubernetes-validate`` package as a JSON Schema
    2020-12 document: ``{"$defs": {name: schema}}``, references are ``{"$ref":
    "#/$defs/<name>"}``, nullable types are spelled ``"type": ["object", "null"]``,
    ``IntOrString`` and ``Quantity`` are ``oneOf`` two scalar types, and a ``$ref`` may carry
    sibling extensions (``DeploymentSpec.strategy`` is a ``$ref`` with
    ``x-kubernetes-patch-strategy: retainKeys``) that apply to the referencing field only.
    The file (1.8 MB) is parsed once, lazily, with orjson.

Design
    :class:`SchemaNode` is a small immutable view over one schema dict, classified once into
    one of five shapes: ``object`` (named properties), ``map`` (``additionalProperties``),
    ``list`` (``items``), ``scalar`` and ``untyped`` (free-form: ``RawExtension``, ``JSON``,
    ``FieldsV1``, a schema without a type, or ``x-kubernetes-preserve-unknown-fields``
    without properties). Children are built on first access and memoised on the node, and
    nodes for plain ``$ref``s are shared per definition, so after warm-up a lookup on the
    write path is a couple of dict hits and recursive definitions (``JSONSchemaProps``) cost
    nothing until walked.

    The same class views CRD ``openAPIV3Schema`` documents (:meth:`SchemaNode.from_openapi`):
    single-string ``type``, ``x-kubernetes-int-or-string``,
    ``x-kubernetes-preserve-unknown-fields`` and ``x-kubernetes-embedded-resource`` are
    understood, and at a resource root ``apiVersion``/``kind`` are strings and ``metadata``
    is always ``ObjectMeta`` whatever the CRD says, as upstream's pruning does.

Unknown fields
    :func:`unknown_fields` reports the paths upstream's strict decoding reports (``spec.foo``,
    ``spec.template.spec.containers[0].bogus``; the API layer wraps each as
    ``unknown field "<path>"``) and :func:`prune_unknown` drops them in place, which is what
    ``fieldValidation=Ignore`` (and CRD pruning) does before storing.
"""

from __future__ import annotations

import functools
import importlib.resources
from collections.abc import Iterator
from typing import Any, Final, Literal

import orjson

__all__ = [
    "SchemaNode",
    "ShapeKind",
    "definition",
    "definition_name",
    "definitions",
    "object_meta",
    "prune_unknown",
    "root",
    "unknown_fields",
]

ShapeKind = Literal["object", "map", "list", "scalar", "untyped"]

_SCHEMA_DIR: Final = "kubernetes-json-schema/v1.37.0-local"
_DEFINITIONS_FILE: Final = "_definitions.json"
_REF_PREFIX: Final = "#/$defs/"
_OBJECT_META: Final = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"

# Definitions whose Go type accepts any JSON: upstream treats them as opaque (atomic in
# server-side apply, never strict-decoded). Empty structs such as the scheduling
# ``*DisruptionMode`` markers are *not* listed: they really have no fields.
_FREE_FORM_DEFINITIONS: Final = frozenset({
    "io.k8s.apimachinery.pkg.runtime.RawExtension",
    "io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSON",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrArray",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrBool",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrStringArray",
})

_SCALAR_TYPES: Final = frozenset({"string", "integer", "number", "boolean"})

# Extensions that may sit beside a ``$ref`` and then override the referenced definition's.
_EXTENSIONS: Final = (
    "x-kubernetes-patch-strategy",
    "x-kubernetes-patch-merge-key",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-map-type",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-embedded-resource",
    "x-kubernetes-int-or-string",
)


@functools.cache
def definitions() -> dict[str, dict[str, Any]]:
    """All Kubernetes v1.37 OpenAPI definitions, keyed by name (``io.k8s.api.apps.v1.Deployment``).

    Loaded and parsed once per process; callers must treat the result as read-only.
    """
    package = importlib.resources.files("kubernetes_validate")
    raw = package.joinpath(_SCHEMA_DIR).joinpath(_DEFINITIONS_FILE).read_bytes()
    document = orjson.loads(raw)
    defs: dict[str, dict[str, Any]] = document["$defs"]
    return defs


@functools.cache
def _gvk_index() -> dict[tuple[str, str, str], str]:
    index: dict[tuple[str, str, str], str] = {}
    for name, schema in definitions().items():
        for gvk in schema.get("x-kubernetes-group-version-kind", ()):
            key = (gvk.get("group", ""), gvk.get("version", ""), gvk.get("kind", ""))
            # Shared meta kinds (DeleteOptions, WatchEvent) list every group; the first
            # definition claiming a GVK wins, which is the only one for real resources.
            index.setdefault(key, name)
    return index


def definition_name(group: str, version: str, kind: str) -> str | None:
    """The definition name whose ``x-kubernetes-group-version-kind`` names this kind."""
    return _gvk_index().get((group, version, kind))


@functools.cache
def definition(name: str) -> SchemaNode | None:
    """The node for a definition by name, or ``None`` when there is no such definition."""
    schema = definitions().get(name)
    if schema is None:
        return None
    return SchemaNode(schema, name=name)


@functools.lru_cache(maxsize=4096)
def root(group: str, version: str, kind: str) -> SchemaNode | None:
    """The schema of a built-in kind, or ``None`` when the kind has no definition."""
    name = definition_name(group, version, kind)
    return None if name is None else definition(name)


def object_meta() -> SchemaNode:
    """The ``ObjectMeta`` node (every resource's ``metadata``)."""
    node = definition(_OBJECT_META)
    assert node is not None, "ObjectMeta missing from the bundled definitions"
    return node


def _resolve(schema: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """Follow ``$ref`` chains; sibling extensions of a ``$ref`` override the target's."""
    name: str | None = None
    overrides: dict[str, Any] = {}
    seen = 0
    while "$ref" in schema:
        ref = schema["$ref"]
        for key in _EXTENSIONS:
            if key in schema and key not in overrides:
                overrides[key] = schema[key]
        if not isinstance(ref, str) or not ref.startswith(_REF_PREFIX):
            # Foreign references (a CRD cannot have them; a bad one must not crash a write).
            return {}, None
        name = ref[len(_REF_PREFIX):]
        target = definitions().get(name)
        seen += 1
        if target is None or seen > 64:
            return {}, None
        schema = target
    if overrides:
        schema = {**schema, **overrides}
    return schema, name


def _types(schema: dict[str, Any]) -> set[str]:
    declared = schema.get("type")
    if declared is None:
        return set()
    if isinstance(declared, str):
        return {declared} - {"null"}
    return {t for t in declared if isinstance(t, str) and t != "null"}


def _classify(schema: dict[str, Any], name: str | None) -> ShapeKind:
    if name in _FREE_FORM_DEFINITIONS:
        return "untyped"
    if schema.get("x-kubernetes-int-or-string"):
        return "scalar"
    types = _types(schema)
    if not types:
        variants = schema.get("oneOf") or schema.get("anyOf")
        if isinstance(variants, list) and variants:
            variant_types: set[str] = set()
            for variant in variants:
                if isinstance(variant, dict):
                    variant_types |= _types(variant)
            if variant_types and variant_types <= _SCALAR_TYPES:
                return "scalar"
        # CRD structural schemas may leave ``type`` implicit below the root.
        if isinstance(schema.get("properties"), dict) or "additionalProperties" in schema:
            types = {"object"}
        elif "items" in schema:
            types = {"array"}
        else:
            return "untyped"
    if len(types) > 1:
        return "scalar" if types <= _SCALAR_TYPES else "untyped"
    (only,) = types
    if only == "array":
        return "list"
    if only != "object":
        return "scalar" if only in _SCALAR_TYPES else "untyped"
    properties = schema.get("properties")
    additional = schema.get("additionalProperties")
    if isinstance(properties, dict) and properties:
        return "object"
    if isinstance(additional, dict) or additional is True:
        return "map"
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return "untyped"
    # ``type: object`` with nothing else: an empty struct (or a CRD object whose every
    # field is pruned). ``x-kubernetes-embedded-resource`` still admits apiVersion/kind/
    # metadata, which :meth:`SchemaNode.field` supplies.
    return "object"


class SchemaNode:
    """A read-only view of one (resolved) schema, with memoised children.

    Build one with :func:`root`, :func:`definition` or :meth:`from_openapi`; navigate with
    :meth:`field` and :meth:`items`. The merge-related attributes are plain values:
    ``patch_strategy`` (``"merge"``, ``"retainKeys"``, ``"merge,retainKeys"``, ``"replace"``
    or ``None``), ``patch_merge_key``, ``list_type`` (``"atomic"``, ``"set"``, ``"map"`` or
    ``None``), ``list_map_keys`` and ``map_type`` (``"atomic"``, ``"granular"`` or ``None``).
    ``None`` means the schema does not say; server-side apply then treats lists as atomic
    and maps and structs as granular, as structured-merge-diff does.
    """

    __slots__ = (
        "_children",
        "_items",
        "_items_built",
        "_others",
        "_others_built",
        "_resource_root",
        "embedded_resource",
        "kind",
        "list_map_keys",
        "list_type",
        "map_type",
        "name",
        "patch_merge_key",
        "patch_strategy",
        "preserve_unknown",
        "schema",
    )

    kind: ShapeKind
    schema: dict[str, Any]
    name: str | None
    patch_strategy: str | None
    patch_merge_key: str | None
    list_type: str | None
    list_map_keys: tuple[str, ...]
    map_type: str | None
    preserve_unknown: bool
    embedded_resource: bool

    def __init__(self, schema: dict[str, Any], *, name: str | None = None,
                 resource_root: bool = False) -> None:
        """Wrap ``schema``; ``$ref``s are followed, ``name`` labels a definition's node."""
        resolved, ref_name = _resolve(schema)
        self.schema = resolved
        self.name = ref_name or name
        self.kind = _classify(resolved, self.name)
        strategy = resolved.get("x-kubernetes-patch-strategy")
        self.patch_strategy = strategy if isinstance(strategy, str) and strategy else None
        merge_key = resolved.get("x-kubernetes-patch-merge-key")
        self.patch_merge_key = merge_key if isinstance(merge_key, str) and merge_key else None
        list_type = resolved.get("x-kubernetes-list-type")
        self.list_type = list_type if isinstance(list_type, str) else None
        keys = resolved.get("x-kubernetes-list-map-keys")
        self.list_map_keys = tuple(k for k in keys if isinstance(k, str)) \
            if isinstance(keys, list) else ()
        map_type = resolved.get("x-kubernetes-map-type")
        self.map_type = map_type if isinstance(map_type, str) else None
        self.preserve_unknown = bool(resolved.get("x-kubernetes-preserve-unknown-fields"))
        self.embedded_resource = bool(resolved.get("x-kubernetes-embedded-resource"))
        self._resource_root = resource_root
        self._children: dict[str, SchemaNode | None] = {}
        self._items: SchemaNode | None = None
        self._items_built = False
        self._others: SchemaNode | None = None
        self._others_built = False

    @classmethod
    def from_openapi(cls, schema: dict[str, Any], *, resource_root: bool = True) -> SchemaNode:
        """View an arbitrary OpenAPI v3 structural schema (a CRD's ``openAPIV3Schema``).

        With ``resource_root`` (the default) the node is a resource's top level:
        ``apiVersion`` and ``kind`` are strings and ``metadata`` is ``ObjectMeta``.
        """
        return cls(schema, resource_root=resource_root)

    @classmethod
    def untyped(cls) -> SchemaNode:
        """A free-form node: any value, merged atomically, never pruned."""
        return _UNTYPED

    def __repr__(self) -> str:
        label = self.name or self.kind
        return f"<SchemaNode {label} ({self.kind})>"

    # -- shape -------------------------------------------------------------------------

    @property
    def is_object(self) -> bool:
        """A struct with named properties (possibly none)."""
        return self.kind == "object"

    @property
    def is_map(self) -> bool:
        """A string-keyed map whose values all share one schema (``additionalProperties``)."""
        return self.kind == "map"

    @property
    def is_list(self) -> bool:
        """An array."""
        return self.kind == "list"

    @property
    def is_scalar(self) -> bool:
        """A string, number, integer, boolean, int-or-string or quantity."""
        return self.kind == "scalar"

    @property
    def is_untyped(self) -> bool:
        """Free-form JSON: callers treat it as atomic and never look inside."""
        return self.kind == "untyped"

    @property
    def strategies(self) -> frozenset[str]:
        """``patch_strategy`` split on commas (``{"merge", "retainKeys"}``)."""
        if not self.patch_strategy:
            return frozenset()
        return frozenset(s.strip() for s in self.patch_strategy.split(",") if s.strip())

    # -- navigation --------------------------------------------------------------------

    def field(self, name: str) -> SchemaNode | None:
        """The schema of property ``name``; for maps the value schema whatever ``name`` is.

        Returns ``None`` when the object does not know the field (an unknown field), and a
        free-form node for fields of ``x-kubernetes-preserve-unknown-fields`` objects and
        for anything inside an untyped node.
        """
        children = self._children
        if name in children:
            return children[name]
        declared = self._declared_field(name)
        if declared is not None:
            # Only declared names are memoised: map keys and unknown fields come from
            # request bodies, and caching them would grow without bound.
            children[name] = declared
            return declared
        return self._other_fields()

    def _declared_field(self, name: str) -> SchemaNode | None:
        if self.kind != "object" and self.kind != "map":
            return None
        special = self._resource_root or self.embedded_resource
        if special and name == "metadata":
            return object_meta()
        properties = self.schema.get("properties")
        if isinstance(properties, dict):
            prop = properties.get(name)
            if isinstance(prop, dict):
                return _child(prop)
        if special and name in ("apiVersion", "kind"):
            return _STRING
        return None

    def _other_fields(self) -> SchemaNode | None:
        """The node for names the schema does not declare (map values, free-form fields)."""
        if self._others_built:
            return self._others
        result: SchemaNode | None = None
        if self.kind == "untyped":
            result = _UNTYPED
        elif self.kind in ("object", "map"):
            additional = self.schema.get("additionalProperties")
            if isinstance(additional, dict):
                result = _child(additional)
            elif additional is True or self.preserve_unknown:
                result = _UNTYPED
        self._others = result
        self._others_built = True
        return result

    def items(self) -> SchemaNode | None:
        """The element schema of a list (free-form when the list does not say)."""
        if self._items_built:
            return self._items
        result: SchemaNode | None = None
        if self.kind == "list":
            element = self.schema.get("items")
            result = _child(element) if isinstance(element, dict) else _UNTYPED
        elif self.kind == "untyped":
            result = _UNTYPED
        self._items = result
        self._items_built = True
        return result

    def field_names(self) -> tuple[str, ...]:
        """The declared property names of an object (empty for other shapes)."""
        properties = self.schema.get("properties")
        names = tuple(properties) if isinstance(properties, dict) else ()
        if self._resource_root or self.embedded_resource:
            extra = tuple(n for n in ("apiVersion", "kind", "metadata") if n not in names)
            names = extra + names
        return names

    def iter_fields(self) -> Iterator[tuple[str, SchemaNode]]:
        """Declared ``(name, node)`` pairs of an object, in schema order."""
        for name in self.field_names():
            node = self.field(name)
            if node is not None:
                yield name, node


def _child(schema: dict[str, Any]) -> SchemaNode:
    """Node for a property/items/additionalProperties schema, sharing plain ``$ref``s."""
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith(_REF_PREFIX) and \
            not any(key in schema for key in _EXTENSIONS):
        shared = definition(ref[len(_REF_PREFIX):])
        if shared is not None:
            return shared
    return SchemaNode(schema)


_UNTYPED: Final = SchemaNode({})
_STRING: Final = SchemaNode({"type": "string"})


# -- unknown fields ----------------------------------------------------------------------


def unknown_fields(obj: Any, node: SchemaNode) -> list[str]:
    """Paths of the fields in ``obj`` that ``node`` does not declare, in document order.

    Paths read like upstream's strict-decoding errors: ``spec.foo``,
    ``spec.template.spec.containers[0].bogus``; map keys are never unknown and map values
    continue the dotted path (``spec.settings.key.bogus``). Values whose JSON type
    disagrees with the schema are left for validation to report.
    """
    return _walk(obj, node, prune=False)


def prune_unknown(obj: Any, node: SchemaNode) -> list[str]:
    """Remove, in place, every field :func:`unknown_fields` would report; return their paths."""
    return _walk(obj, node, prune=True)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


_CONTAINERS: Final = frozenset({"object", "map", "list"})


def _walk(obj: Any, node: SchemaNode, *, prune: bool) -> list[str]:
    """Depth-first walk with an explicit stack.

    Iterative because CRD schemas nest (``JSONSchemaProps`` inside itself) as deep as a
    request body does, and Python's recursion limit must not turn a deep body into a 500.
    A stack entry is either a value to visit or an unknown path to report; an object
    pushes its entries in reverse, so reports come out in document order.
    """
    found: list[str] = []
    doomed: list[tuple[dict[str, Any], str]] = []
    stack: list[tuple[Any, SchemaNode | None, str]] = [(obj, node, "")]
    while stack:
        value, current, path = stack.pop()
        if current is None:
            found.append(path)  # an unknown-field marker pushed by its parent object
            continue
        kind = current.kind
        if kind == "object" or kind == "map":
            if not isinstance(value, dict):
                continue
            entries: list[tuple[Any, SchemaNode | None, str]] = []
            for key, child_value in value.items():
                child = current.field(key)
                child_path = _join(path, key)
                if child is None:
                    entries.append((None, None, child_path))
                    if prune:
                        doomed.append((value, key))
                elif child_value is not None and child.kind in _CONTAINERS:
                    entries.append((child_value, child, child_path))
            stack.extend(reversed(entries))
        elif kind == "list":
            element = current.items()
            if not isinstance(value, list) or element is None or \
                    element.kind not in _CONTAINERS:
                continue
            stack.extend((item, element, f"{path}[{index}]")
                         for index, item in reversed(list(enumerate(value)))
                         if item is not None)
    for parent, key in doomed:
        parent.pop(key, None)
    return found
