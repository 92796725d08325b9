"""Custom resources against their CRD version's ``openAPIV3Schema``: default, prune, validate.

These are the pure steps kube-apiserver's apiextensions handler runs on every custom
resource, in this order on a write:

1. :func:`prune` (the decoder's ``unstructuredSchemaCoercer``): ObjectMeta is reduced to
   its known fields, unknown fields are dropped following the structural schema (kept under
   ``x-kubernetes-preserve-unknown-fields``), ``null`` is removed where the schema neither
   allows it nor has a default, and embedded resources get their metadata pruned. The
   returned paths are what ``fieldValidation=Strict`` rejects and ``Warn`` reports, each as
   ``unknown field "<path>"``.
2. :func:`default` (``structuraldefaulting.Default``): schema ``default`` values fill absent
   fields (and non-nullable ``null`` ones) of every object present, recursively, so a
   defaulted object gets its own nested defaults too.
3. :func:`validate`: OpenAPI v3 value validation with kube-openapi's messages and paths
   (see :mod:`kubesmith.api.crd._openapi`), then the ``x-kubernetes-list-type`` ``set`` and
   ``map`` uniqueness rules (``Duplicate value``).

Not enforced here, by design:

* ``x-kubernetes-validations`` (CEL rules) are **not evaluated**: :func:`validate` ignores
  them and reports nothing for them. Whether and how to run CEL is left to an ADR.
* Validation ratcheting (``CRDValidationRatcheting``, on by default upstream: on update,
  errors in fields left unchanged are dropped) is not implemented; an update is validated
  like a create. The list-type check does ratchet, as upstream does, when the old object is
  passed to :func:`validate_list_sets_and_maps`.
* ObjectMeta validation, TypeMeta (``kind``/``apiVersion``) checks and embedded-resource
  metadata validation belong to the resource's metadata layer.

Why not :func:`kubesmith.api.schema.prune_unknown` for the body: the built-in types' walker
answers "which fields does this kind not know", while CRD pruning has its own rules that
show in results: paths are reported sorted; ``additionalProperties: true`` (no schema) and
any typed node whose value is an object prune that object's content; a list under
``x-kubernetes-preserve-unknown-fields`` keeps its items' unknown fields; embedded
resources report their metadata after everything else. ObjectMeta itself is pruned with
:func:`~kubesmith.api.schema.prune_unknown` against the bundled ``ObjectMeta`` definition.

Scale subresource helpers (:func:`scale_paths`, :func:`get_path`, :func:`set_path`,
:func:`validate_scale`) read and write the ``.spec.replicas``-style paths a CRD declares.
"""

from __future__ import annotations

import copy
from typing import Any, Final

from kubesmith.api import gofmt
from kubesmith.api import schema as k8s_schema
from kubesmith.api.crd._openapi import validate_value
from kubesmith.api.errors import FieldError, duplicate, invalid
from kubesmith.api.types import Obj

__all__ = [
    "default",
    "get_path",
    "prune",
    "scale_paths",
    "set_path",
    "validate",
    "validate_list_sets_and_maps",
    "validate_scale",
    "validate_scale_status",
]

_META_FIELDS: Final = frozenset({"apiVersion", "kind", "metadata"})
_MAX_INT32: Final = 2**31 - 1


def _dict(value: Any) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None


def _properties(schema: dict[str, Any] | None) -> dict[str, Any]:
    if schema is None:
        return {}
    properties = schema.get("properties")
    return properties if isinstance(properties, dict) else {}


def _has_additional(schema: dict[str, Any] | None) -> bool:
    """``Structural.AdditionalProperties != nil``: the key is present (bool or schema)."""
    return schema is not None and schema.get("additionalProperties") is not None


def _additional_schema(schema: dict[str, Any] | None) -> dict[str, Any] | None:
    """The ``additionalProperties`` schema, ``None`` for ``true``/``false``/absent."""
    return None if schema is None else _dict(schema.get("additionalProperties"))


def _items(schema: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if schema is None else _dict(schema.get("items"))


def _flag(schema: dict[str, Any] | None, key: str) -> bool:
    return schema is not None and schema.get(key) is True


# -- defaulting ---------------------------------------------------------------------------


def _non_nullable_null(value: Any, schema: dict[str, Any] | None) -> bool:
    return value is None and schema is not None and not _flag(schema, "nullable")


def default(obj: Any, schema: dict[str, Any]) -> None:
    """Apply the schema's ``default`` values to ``obj`` in place (``structuraldefaulting``).

    A property with a default is set when it is absent from an object that exists, or when
    it is ``null`` and not ``nullable``. Defaults are deep-copied. Only declared structure
    is followed (``properties``, ``additionalProperties`` schemas, ``items``), so nothing
    happens inside free-form ``x-kubernetes-preserve-unknown-fields`` content.
    """
    _default(obj, schema)


def _default(value: Any, schema: dict[str, Any] | None) -> None:
    if schema is None:
        return
    if isinstance(value, dict):
        properties = _properties(schema)
        for name, prop in properties.items():
            if not isinstance(prop, dict) or "default" not in prop or prop["default"] is None:
                continue
            if name not in value or _non_nullable_null(value[name], prop):
                value[name] = copy.deepcopy(prop["default"])
        additional = _additional_schema(schema)
        for name in list(value):
            prop = properties.get(name)
            if isinstance(prop, dict):
                _default(value[name], prop)
            elif _has_additional(schema):
                if additional is not None and _non_nullable_null(value[name], additional):
                    value[name] = copy.deepcopy(additional.get("default"))
                _default(value[name], additional)
    elif isinstance(value, list):
        items = _items(schema)
        for index, item in enumerate(value):
            if items is not None and _non_nullable_null(item, items):
                value[index] = copy.deepcopy(items.get("default"))
            _default(value[index], items)


# -- pruning ------------------------------------------------------------------------------


class _Pruner:
    """``pruning.PruneWithOptions`` with unknown-field tracking."""

    def __init__(self) -> None:
        self.unknown: list[str] = []

    @staticmethod
    def _key(path: str, key: str) -> str:
        return f"{path}.{key}" if path else key

    def prune(self, value: Any, schema: dict[str, Any] | None, path: str, *,
              embedded: bool = False) -> None:
        if _flag(schema, "x-kubernetes-preserve-unknown-fields"):
            self._skip(value, schema, path, embedded=embedded)
            return
        embedded = embedded or _flag(schema, "x-kubernetes-embedded-resource")
        if isinstance(value, dict):
            if schema is None:
                for key in list(value):
                    self.unknown.append(self._key(path, key))
                    del value[key]
                return
            properties = _properties(schema)
            for key in list(value):
                if embedded and key in _META_FIELDS:
                    continue
                prop = properties.get(key)
                if isinstance(prop, dict):
                    self.prune(value[key], prop, self._key(path, key))
                elif _has_additional(schema):
                    self.prune(value[key], _additional_schema(schema), self._key(path, key))
                else:
                    if key not in _META_FIELDS or path:
                        self.unknown.append(self._key(path, key))
                    del value[key]
        elif isinstance(value, list):
            items = _items(schema)
            for index, item in enumerate(value):
                self.prune(item, items, f"{path}[{index}]")

    def _skip(self, value: Any, schema: dict[str, Any] | None, path: str, *,
              embedded: bool) -> None:
        """``skipPrune``: keep unknown fields, but prune inside declared ones."""
        if schema is None:
            return
        embedded = embedded or _flag(schema, "x-kubernetes-embedded-resource")
        if isinstance(value, dict):
            properties = _properties(schema)
            for key in list(value):
                if embedded and key in _META_FIELDS:
                    continue
                prop = properties.get(key)
                if isinstance(prop, dict):
                    self.prune(value[key], prop, self._key(path, key))
                elif _has_additional(schema):
                    self.prune(value[key], _additional_schema(schema), self._key(path, key))
        elif isinstance(value, list):
            items = _items(schema)
            for index, item in enumerate(value):
                self._skip(item, items, f"{path}[{index}]", embedded=False)


def _field_schema(name: str, schema: dict[str, Any] | None) -> dict[str, Any] | None:
    prop = _properties(schema).get(name)
    if isinstance(prop, dict):
        return prop
    return _additional_schema(schema) if _has_additional(schema) else None


def _prune_nulls(value: Any, schema: dict[str, Any] | None) -> None:
    """``PruneNonNullableNullsWithoutDefaults``: drop nulls nothing will accept or default."""
    if isinstance(value, dict):
        for key in list(value):
            sub = _field_schema(key, schema)
            if value[key] is None and sub is not None and not _flag(sub, "nullable") \
                    and sub.get("default") is None:
                del value[key]
            else:
                _prune_nulls(value[key], sub)
    elif isinstance(value, list):
        items = _items(schema)
        for item in value:
            _prune_nulls(item, items)


def _prune_metadata(holder: dict[str, Any], prefix: str) -> list[str]:
    """Reduce ``holder["metadata"]`` to ObjectMeta fields; paths as ``<prefix>metadata.x``."""
    metadata = holder.get("metadata")
    if not isinstance(metadata, dict):
        return []
    found = k8s_schema.prune_unknown(metadata, k8s_schema.object_meta())
    return [f"{prefix}metadata.{path}" for path in found]


def _coerce_embedded(value: Any, schema: dict[str, Any] | None, path: str,
                     found: list[str]) -> None:
    """``objectmeta.Coerce`` (pruning part): embedded resources' metadata."""
    if schema is None:
        return
    if isinstance(value, dict):
        if _flag(schema, "x-kubernetes-embedded-resource"):
            found.extend(_prune_metadata(value, f"{path}." if path else ""))
        properties = _properties(schema)
        for key in list(value):
            prop = properties.get(key)
            if isinstance(prop, dict):
                _coerce_embedded(value[key], prop, f"{path}.{key}" if path else key, found)
            elif _has_additional(schema):
                _coerce_embedded(value[key], _additional_schema(schema), f"{path}[{key}]",
                                 found)
    elif isinstance(value, list):
        items = _items(schema)
        for index, item in enumerate(value):
            _coerce_embedded(item, items, f"{path}[{index}]", found)


def prune(obj: Obj, schema: dict[str, Any]) -> list[str]:
    """Drop, in place, what the schema does not admit; return the unknown field paths.

    ``obj`` is a whole custom resource: ``apiVersion``, ``kind`` and ``metadata`` are kept
    whatever the schema says, ``metadata`` reduced to ObjectMeta's fields. Paths come in
    upstream's order: unknown ``metadata.*`` fields first, then the body's (sorted), then
    those inside embedded resources' metadata (sorted).
    """
    unknown = _prune_metadata(obj, "")
    pruner = _Pruner()
    pruner.prune(obj, schema, "", embedded=True)
    unknown.extend(sorted(pruner.unknown))
    _prune_nulls(obj, schema)
    embedded: list[str] = []
    _coerce_embedded(obj, {**schema, "x-kubernetes-embedded-resource": False}, "", embedded)
    unknown.extend(sorted(embedded))
    return unknown


# -- validation ---------------------------------------------------------------------------


def validate(obj: Any, schema: dict[str, Any], *, path: str | None = None) -> list[FieldError]:
    """OpenAPI value validation of ``obj`` plus ``x-kubernetes-list-type`` uniqueness.

    ``obj`` is the whole custom resource and ``path`` ``None`` for the main resource (field
    paths are then ``spec.replicas``); for the status subresource pass the ``status`` value,
    the ``status`` property's schema and ``path="status"``. ``x-kubernetes-validations``
    (CEL) are not evaluated.
    """
    errors = validate_value(obj, schema, path)
    if isinstance(obj, dict):
        if path is None:
            errors.extend(validate_list_sets_and_maps(obj, schema))
        else:
            errors.extend(_list_sets_and_maps_value(path, schema, obj))
    return errors


def validate_list_sets_and_maps(obj: Obj, schema: dict[str, Any],
                                old: Obj | None = None) -> list[FieldError]:
    """``structurallisttype.ValidateListSetsAndMaps`` over a whole object.

    With ``old`` (an update), nothing is reported when the old object already broke the
    rules, as upstream ratchets this check.
    """
    if old is not None and _list_sets_and_maps_object(None, schema, old):
        return []
    return _list_sets_and_maps_object(None, schema, obj)


def _join(base: str | None, name: str) -> str:
    return name if base is None else f"{base}.{name}"


def _list_sets_and_maps_object(path: str | None, schema: dict[str, Any] | None,
                               obj: dict[str, Any]) -> list[FieldError]:
    if schema is None:
        return []
    errors: list[FieldError] = []
    additional = _additional_schema(schema)
    if additional is not None:
        for key, value in obj.items():
            errors += _list_sets_and_maps_value(f"{path or ''}[{key}]", additional, value)
    properties = _properties(schema)
    if properties:
        for key, value in obj.items():
            sub = properties.get(key)
            if isinstance(sub, dict):
                errors += _list_sets_and_maps_value(_join(path, key), sub, value)
    return errors


def _list_sets_and_maps_value(path: str, schema: dict[str, Any], value: Any) -> list[FieldError]:
    if isinstance(value, list):
        return _list_sets_and_maps_array(path, schema, value)
    if isinstance(value, dict):
        return _list_sets_and_maps_object(path, schema, value)
    return []


def _list_sets_and_maps_array(path: str, schema: dict[str, Any],
                              value: list[Any]) -> list[FieldError]:
    errors: list[FieldError] = []
    list_type = schema.get("x-kubernetes-list-type")
    if list_type == "set":
        errors += [duplicate(f"{path}[{i}]", value[i]) for i in _non_unique(value)]
    elif list_type == "map":
        keys = schema.get("x-kubernetes-list-map-keys")
        errors += _list_map(path, [k for k in keys if isinstance(k, str)]
                            if isinstance(keys, list) else [], value)
    items = _items(schema)
    if items is not None:
        for index, item in enumerate(value):
            errors += _list_sets_and_maps_value(f"{path}[{index}]", items, item)
    return errors


class _Unspecified:
    """A list-map item without its key (upstream's ``unspecifiedKeyValue``)."""


_UNSPECIFIED: Final = _Unspecified()


def _scalar_key(value: Any) -> tuple[str, Any]:
    # Go keys a map[interface{}] by dynamic type too: 1 (int64) and 1.0 (float64) differ.
    return type(value).__name__, value


def _non_unique(values: list[Any]) -> list[int]:
    """Indices of each value's second occurrence (``validateListSet``)."""
    if len(values) <= 1:
        return []
    seen: dict[Any, int] = {}
    result: list[int] = []
    for index, value in enumerate(values):
        key: Any
        if isinstance(value, (dict, list)):
            key = ("compound", gofmt.marshal(value))
        elif isinstance(value, _Unspecified):
            key = ("unspecified", None)
        else:
            key = _scalar_key(value)
        times = seen.get(key, 0)
        seen[key] = times + 1
        if times == 1:
            result.append(index)
    return result


def _list_map(path: str, keys: list[str], value: list[Any]) -> list[FieldError]:
    for index, item in enumerate(value):
        if item is not None and not isinstance(item, dict):
            return [invalid(f"{path}[{index}]", item,
                            "must be an object for an array of list-type map")]
    if len(value) <= 1:
        return []
    if len(keys) == 1:
        (key_field,) = keys
        single: list[Any] = []
        for item in value:
            if item is None or key_field not in item:
                single.append(_UNSPECIFIED)
            else:
                single.append(item[key_field])
        return [duplicate(f"{path}[{i}]",
                          {} if single[i] is _UNSPECIFIED else {key_field: single[i]})
                for i in _non_unique(single)]
    composite: list[Any] = []
    for item in value:
        composite.append({} if item is None else
                         {k: item[k] for k in keys if k in item})
    return [duplicate(f"{path}[{i}]", composite[i]) for i in _non_unique(composite)]


# -- scale subresource --------------------------------------------------------------------


def scale_paths(crd_version: Obj) -> tuple[str, str, str | None] | None:
    """``(specReplicasPath, statusReplicasPath, labelSelectorPath)`` of a CRD version.

    ``crd_version`` is one entry of ``spec.versions``; ``None`` when it has no scale
    subresource. The label selector path is ``None`` when unset.
    """
    subresources = _dict(crd_version.get("subresources"))
    scale = _dict(subresources.get("scale")) if subresources else None
    if scale is None:
        return None
    spec_path = scale.get("specReplicasPath")
    status_path = scale.get("statusReplicasPath")
    selector = scale.get("labelSelectorPath")
    return (spec_path if isinstance(spec_path, str) else "",
            status_path if isinstance(status_path, str) else "",
            selector if isinstance(selector, str) and selector else None)


def _segments(path: str) -> list[str]:
    # Upstream trims one leading "." and splits on "." (unstructured.Nested*).
    return path.removeprefix(".").split(".")


def _json_path(segments: list[str]) -> str:
    return "." + ".".join(segments)


def _nested(obj: Any, path: str) -> tuple[Any, bool, str | None]:
    """``unstructured.NestedFieldNoCopy``: value, found, and Go's accessor error."""
    segments = _segments(path)
    current = obj
    for index, segment in enumerate(segments):
        if current is None:
            return None, False, None
        if not isinstance(current, dict):
            return None, False, (
                f"{_json_path(segments[:index + 1])} accessor error: {gofmt.format_v(current)} "
                f"is of the type {gofmt.type_name(current)}, expected map[string]interface{{}}")
        if segment not in current:
            return None, False, None
        current = current[segment]
    return current, True, None


def get_path(obj: Any, path: str) -> tuple[Any, bool]:
    """``(value, found)`` at a ``.spec.replicas``-style path (``unstructured.NestedFieldNoCopy``).

    ``found`` is false when a segment is missing, or an intermediate value is ``null`` or
    not an object.
    """
    value, found, _error = _nested(obj, path)
    return value, found


def set_path(obj: Obj, path: str, value: Any) -> None:
    """Set a deep copy of ``value`` at ``path``, creating missing objects (``SetNestedField``).

    Raises :class:`TypeError` with upstream's wording when an intermediate value exists and
    is not an object.
    """
    segments = _segments(path)
    current = obj
    for index, segment in enumerate(segments[:-1]):
        if segment not in current:
            current[segment] = {}
        child = current[segment]
        if not isinstance(child, dict):
            raise TypeError(f"value cannot be set because {_json_path(segments[:index + 1])} "
                            "is not a map[string]interface{}")
        current = child
    current[segments[-1]] = copy.deepcopy(value)


def _nested_typed(obj: Any, path: str, expected: str) -> tuple[Any, str | None]:
    """``NestedInt64``/``NestedString``: the value (``None`` when absent) or Go's error."""
    value, found, error = _nested(obj, path)
    if error is not None or not found:
        return None, error
    matches = (isinstance(value, int) and not isinstance(value, bool)) if expected == "int64" \
        else isinstance(value, str)
    if matches:
        return value, None
    return None, (f"{_json_path(_segments(path))} accessor error: {gofmt.format_v(value)} is of "
                  f"the type {gofmt.type_name(value)}, expected {expected}")


def _replicas_errors(obj: Any, path: str) -> list[FieldError]:
    replicas, error = _nested_typed(obj, path, "int64")
    if error is not None:
        return [invalid(path, 0, error)]
    if replicas is None:
        return []
    if replicas < 0:
        return [invalid(path, replicas, "should be a non-negative integer")]
    if replicas > _MAX_INT32:
        return [invalid(path, replicas, f"should be less than or equal to {_MAX_INT32}")]
    return []


def validate_scale(obj: Any, crd_version: Obj) -> list[FieldError]:
    """``ValidateScaleSpec`` + ``ValidateScaleStatus`` for a custom resource write."""
    paths = scale_paths(crd_version)
    if paths is None:
        return []
    return _replicas_errors(obj, paths[0]) + validate_scale_status(obj, crd_version)


def validate_scale_status(obj: Any, crd_version: Obj) -> list[FieldError]:
    """``ValidateScaleStatus``: status replicas and the label selector's type."""
    paths = scale_paths(crd_version)
    if paths is None:
        return []
    _spec, status_path, selector_path = paths
    errors = _replicas_errors(obj, status_path)
    if selector_path is not None:
        _selector, error = _nested_typed(obj, selector_path, "string")
        if error is not None:
            errors.append(invalid(selector_path, "", error))
    return errors
