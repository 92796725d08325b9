"""Structural-schema rules for a CRD's ``openAPIV3Schema``, with upstream's messages.

A schema is *structural* (``pkg/apiserver/schema``) when every node that describes data
says what type it is, and everything under ``allOf``/``anyOf``/``oneOf``/``not`` only
*validates* (never introduces types, defaults or extensions). Three upstream steps are
reproduced, over the v1 JSON form of the schema:

* :func:`unsupported_field` is ``NewStructural``'s refusal of ``id``, ``$schema``,
  ``$ref``, ``patternProperties``, ``dependencies``, ``additionalItems``, ``definitions``,
  array-form ``items`` and ``x-kubernetes-preserve-unknown-fields: false``;
* :func:`validate_structural` is ``ValidateStructural``: the invariants (types present,
  ``additionalProperties`` not at the root, ``metadata`` only restricting ``name`` and
  ``generateName``, embedded resources being objects, the int-or-string ``anyOf``
  exceptions) and the completeness of the root's value validations. Like upstream it
  returns its errors sorted by their text;
* :func:`find_field_path` is ``cel.ValidFieldPath``, shared by selectable fields and
  ``x-kubernetes-validations[].fieldPath``.
"""

from __future__ import annotations

from typing import Any, Final

from kubesmith.api.crd._regex import GoRegexError, UnsupportedRegex, compile_go
from kubesmith.api.errors import FieldError, field_forbidden, invalid, required

ROOT: Final = 0
ITEM: Final = 1
FIELD: Final = 2

# Every JSONSchemaProps key; anything else is dropped when the CRD is decoded.
SCHEMA_KEYS: Final = frozenset({
    "id", "$schema", "$ref", "description", "type", "format", "title", "default", "maximum",
    "exclusiveMaximum", "minimum", "exclusiveMinimum", "maxLength", "minLength", "pattern",
    "maxItems", "minItems", "uniqueItems", "multipleOf", "enum", "maxProperties",
    "minProperties", "required", "items", "allOf", "oneOf", "anyOf", "not", "properties",
    "additionalProperties", "patternProperties", "dependencies", "additionalItems",
    "definitions", "externalDocs", "example", "nullable", "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-embedded-resource", "x-kubernetes-int-or-string", "x-kubernetes-list-map-keys",
    "x-kubernetes-list-type", "x-kubernetes-map-type", "x-kubernetes-validations",
})

# Keys whose empty value NewStructural turns back into "unset" (it appends item by item).
_EMPTY_IS_UNSET: Final = frozenset({"enum", "allOf", "oneOf", "anyOf", "properties"})
_META_FIELDS: Final = ("metadata", "kind", "apiVersion")


def as_dict(value: Any) -> dict[str, Any] | None:
    """``value`` when it is a JSON object (a schema), else ``None``."""
    return value if isinstance(value, dict) else None


def string(schema: dict[str, Any] | None, key: str) -> str:
    """A string field of a schema, ``""`` when unset or not a string."""
    value = None if schema is None else schema.get(key)
    return value if isinstance(value, str) else ""


def flag(schema: dict[str, Any] | None, key: str) -> bool:
    """A boolean field of a schema that is ``true``."""
    return schema is not None and schema.get(key) is True


def properties(schema: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """The ``properties`` of a schema that are themselves schemas."""
    value = None if schema is None else schema.get("properties")
    if not isinstance(value, dict):
        return {}
    return {k: v for k, v in value.items() if isinstance(v, dict)}


def sub_schemas(schema: dict[str, Any] | None, key: str) -> list[dict[str, Any]]:
    """``allOf``/``anyOf``/``oneOf`` entries (non-objects read as empty schemas)."""
    value = None if schema is None else schema.get(key)
    if not isinstance(value, list):
        return []
    return [item if isinstance(item, dict) else {} for item in value]


def is_set(key: str, value: Any) -> bool:
    """Whether a decoded JSONSchemaProps field differs from Go's zero value."""
    if value is None or value is False or value == "":
        return False
    return not (key in _EMPTY_IS_UNSET and isinstance(value, (list, dict)) and not value)


# -- NewStructural ------------------------------------------------------------------------


def _unsupported_here(schema: dict[str, Any]) -> str | None:
    if string(schema, "id"):
        return "OpenAPIV3Schema 'id' is not supported"
    if string(schema, "$schema"):
        return "OpenAPIV3Schema 'schema' is not supported"
    if string(schema, "$ref"):
        return "OpenAPIV3Schema '$ref' is not supported"
    for key, name in (("patternProperties", "patternProperties"),
                      ("dependencies", "dependencies")):
        if schema.get(key):
            return f"OpenAPIV3Schema '{name}' is not supported"
    if schema.get("additionalItems") is not None:
        return "OpenAPIV3Schema 'additionalItems' is not supported"
    if schema.get("definitions"):
        return "OpenAPIV3Schema 'definitions' is not supported"
    return None


def unsupported_field(schema: dict[str, Any]) -> str | None:
    """``NewStructural``'s error for the first construct a structural schema cannot hold."""
    error = _unsupported_here(schema)
    if error:
        return error
    nested: list[dict[str, Any]] = []
    not_schema = as_dict(schema.get("not"))
    if not_schema is not None:
        nested.append(not_schema)
    for key in ("allOf", "anyOf", "oneOf"):
        nested.extend(sub_schemas(schema, key))
    for sub in nested:
        error = unsupported_field(sub)
        if error:
            return error
    if schema.get("x-kubernetes-preserve-unknown-fields") is False:
        return "internal error: 'x-kubernetes-preserve-unknown-fields' must be true or undefined"
    items = schema.get("items")
    if isinstance(items, list) and items:
        return "OpenAPIV3Schema 'items' must be a schema, but is an array"
    children = [items] if isinstance(items, dict) else []
    children += list(properties(schema).values())
    additional = as_dict(schema.get("additionalProperties"))
    if additional is not None:
        children.append(additional)
    for child in children:
        error = unsupported_field(child)
        if error:
            return error
    return None


# -- ValidateStructural -------------------------------------------------------------------


def _is_type_only(schema: dict[str, Any], expected: str) -> bool:
    set_keys = {k for k, v in schema.items() if k in SCHEMA_KEYS and is_set(k, v)}
    return set_keys == {"type"} and schema.get("type") == expected


def _is_int_or_string_any_of(any_of: list[dict[str, Any]]) -> bool:
    return len(any_of) == 2 and _is_type_only(any_of[0], "integer") and \
        _is_type_only(any_of[1], "string")


def pattern_error(pattern: str) -> str | None:
    """Go's regexp compile error for ``pattern``, ``None`` when it compiles (or may)."""
    try:
        compile_go(pattern)
    except GoRegexError as exc:
        return str(exc)
    except UnsupportedRegex:
        return None
    return None


def _value_validation(schema: dict[str, Any], skip_any_of: bool, skip_first_all_of_any_of: bool,
                      path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    if not skip_any_of:
        for i, sub in enumerate(sub_schemas(schema, "anyOf")):
            errs += _nested(sub, False, f"{path}.anyOf[{i}]")
    for i, sub in enumerate(sub_schemas(schema, "allOf")):
        errs += _nested(sub, skip_first_all_of_any_of and i == 0, f"{path}.allOf[{i}]")
    for i, sub in enumerate(sub_schemas(schema, "oneOf")):
        errs += _nested(sub, False, f"{path}.oneOf[{i}]")
    not_schema = as_dict(schema.get("not"))
    if not_schema is not None:
        errs += _nested(not_schema, False, f"{path}.not")
    pattern = string(schema, "pattern")
    if pattern:
        error = pattern_error(pattern)
        if error:
            errs.append(invalid(f"{path}.pattern", pattern,
                                f"must be a valid regular expression, but isn't: {error}"))
    return errs


def _nested(schema: dict[str, Any], skip_any_of: bool, path: str) -> list[FieldError]:
    """``validateNestedValueValidation``: only value validations below a junctor."""
    errs = _value_validation(schema, skip_any_of, False, path)
    items = as_dict(schema.get("items"))
    if items is not None:
        errs += _nested(items, False, f"{path}.items")
    for name, prop in properties(schema).items():
        errs += _nested(prop, False, f"{path}.properties[{name}]")
    if string(schema, "type"):
        errs.append(field_forbidden(f"{path}.type", "must be empty to be structural"))
    additional = schema.get("additionalProperties")
    if isinstance(additional, dict) or additional is True:
        errs.append(field_forbidden(f"{path}.additionalProperties",
                                    "must be undefined to be structural"))
    if schema.get("default") is not None:
        errs.append(field_forbidden(f"{path}.default", "must be undefined to be structural"))
    for key in ("title", "description"):
        if string(schema, key):
            errs.append(field_forbidden(f"{path}.{key}", "must be empty to be structural"))
    for key in ("nullable", "x-kubernetes-preserve-unknown-fields",
                "x-kubernetes-embedded-resource", "x-kubernetes-int-or-string"):
        if flag(schema, key):
            errs.append(field_forbidden(f"{path}.{key}", "must be false to be structural"))
    if schema.get("x-kubernetes-list-map-keys"):
        errs.append(field_forbidden(f"{path}.x-kubernetes-list-map-keys",
                                    "must be empty to be structural"))
    for key in ("x-kubernetes-list-type", "x-kubernetes-map-type"):
        if schema.get(key) is not None:
            errs.append(field_forbidden(f"{path}.{key}", "must be undefined to be structural"))
    if schema.get("x-kubernetes-validations"):
        errs.append(field_forbidden(f"{path}.x-kubernetes-validations",
                                    "must be empty to be structural"))
    if "metadata" in properties(schema):
        errs.append(field_forbidden(f"{path}.properties[metadata]",
                                    "must not be specified in a nested context"))
    return errs


def _metadata_invariants(metadata: dict[str, Any], check_metadata: bool, level: int,
                         path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    meta_type = string(metadata, "type")
    if check_metadata and meta_type != "object":
        errs.append(invalid(f"{path}.type", meta_type, "must be object"))
    if level == ROOT:
        props = properties(metadata)
        restricted = set(props) <= {"name", "generateName"} and bool(props)
        for key, value in metadata.items():
            if key not in SCHEMA_KEYS or key in ("type", "default") or not is_set(key, value):
                continue
            if key == "properties" and restricted:
                continue
            errs.append(field_forbidden(path, "must not specify anything other than name and "
                                        "generateName, but metadata is implicitly specified"))
            break
    return errs


def _invariants(schema: dict[str, Any], level: int, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    schema_type = string(schema, "type")
    items = as_dict(schema.get("items"))
    if schema_type == "array" and items is None:
        errs.append(required(f"{path}.items", "must be specified"))
    if items is not None:
        errs += _invariants(items, ITEM, f"{path}.items")
    props = properties(schema)
    for name, prop in props.items():
        errs += _invariants(prop, FIELD, f"{path}.properties[{name}]")
    additional = schema.get("additionalProperties")
    if additional is not None:
        if level == ROOT:
            errs.append(field_forbidden(f"{path}.additionalProperties",
                                        "must not be used at the root"))
        if isinstance(additional, dict):
            errs += _invariants(additional, FIELD, f"{path}.additionalProperties")
    int_or_string = flag(schema, "x-kubernetes-int-or-string")
    preserve = flag(schema, "x-kubernetes-preserve-unknown-fields")
    embedded = flag(schema, "x-kubernetes-embedded-resource")
    if int_or_string and preserve:
        errs.append(invalid(f"{path}.x-kubernetes-preserve-unknown-fields", True,
                            "must be false if x-kubernetes-int-or-string is true"))
    if int_or_string and embedded:
        errs.append(invalid(f"{path}.x-kubernetes-embedded-resource", True,
                            "must be false if x-kubernetes-int-or-string is true"))
    all_of = sub_schemas(schema, "allOf")
    skip_any_of = _is_int_or_string_any_of(sub_schemas(schema, "anyOf"))
    skip_first = bool(all_of) and _is_int_or_string_any_of(sub_schemas(all_of[0], "anyOf"))
    errs += _value_validation(schema, skip_any_of, skip_first, path)
    check_metadata = level == ROOT or embedded
    if embedded and schema_type != "object":
        detail = "must be object if x-kubernetes-embedded-resource is true"
        errs.append(required(f"{path}.type", detail) if not schema_type
                    else invalid(f"{path}.type", schema_type, detail))
    elif not schema_type and not int_or_string and not preserve:
        detail = {ROOT: "must not be empty at the root",
                  ITEM: "must not be empty for specified array items",
                  FIELD: "must not be empty for specified object fields"}[level]
        errs.append(required(f"{path}.type", detail))
    if embedded and additional is not None:
        errs.append(field_forbidden(f"{path}.additionalProperties",
                                    "must not be used if x-kubernetes-embedded-resource is set"))
    if level == ROOT and schema_type and schema_type != "object":
        errs.append(invalid(f"{path}.type", schema_type, "must be object at the root"))
    for name in ("kind", "apiVersion"):
        if name in props and check_metadata and string(props[name], "type") != "string":
            errs.append(invalid(f"{path}.properties[{name}].type", string(props[name], "type"),
                                "must be string"))
    if "metadata" in props:
        errs += _metadata_invariants(props["metadata"], check_metadata, level,
                                     f"{path}.properties[metadata]")
    if embedded and not preserve and not props:
        errs.append(required(f"{path}.properties", "must not be empty if "
                             "x-kubernetes-embedded-resource is true without "
                             "x-kubernetes-preserve-unknown-fields"))
    return errs


def _completeness(junctors: dict[str, Any], structure: dict[str, Any] | None, s_path: str,
                  v_path: str) -> list[FieldError]:
    """``validateValueValidationCompleteness``: junctor properties must exist structurally."""
    if structure is None:
        return [required(s_path, f"because it is defined in {v_path}")]
    errs: list[FieldError] = []
    not_schema = as_dict(junctors.get("not"))
    if not_schema is not None:
        errs += _nested_completeness(not_schema, structure, s_path, f"{v_path}.not")
    for key in ("allOf", "anyOf", "oneOf"):
        for i, sub in enumerate(sub_schemas(junctors, key)):
            errs += _nested_completeness(sub, structure, s_path, f"{v_path}.{key}[{i}]")
    return errs


def _nested_completeness(nested: dict[str, Any], structure: dict[str, Any] | None, s_path: str,
                         v_path: str) -> list[FieldError]:
    if structure is None:
        return [required(s_path, f"because it is defined in {v_path}")]
    errs = _completeness(nested, structure, s_path, v_path)
    items = as_dict(nested.get("items"))
    if items is not None:
        errs += _nested_completeness(items, as_dict(structure.get("items")), f"{s_path}.items",
                                     f"{v_path}.items")
    structural_props = properties(structure)
    for name, prop in properties(nested).items():
        s_prop = f"{s_path}.properties[{name}]"
        v_prop = f"{v_path}.properties[{name}]"
        if name not in structural_props:
            errs.append(required(s_prop, f"because it is defined in {v_prop}"))
        else:
            errs += _nested_completeness(prop, structural_props[name], s_prop, v_prop)
    return errs


def validate_structural(schema: dict[str, Any], path: str) -> list[FieldError]:
    """``ValidateStructural``: invariants plus completeness, sorted by error text."""
    errs = _invariants(schema, ROOT, path)
    errs += _completeness(schema, schema, path, path)
    return sorted(errs, key=FieldError.message)


def is_structural(schema: dict[str, Any]) -> bool:
    """Whether ``schema`` converts to, and validates as, a structural schema."""
    return unsupported_field(schema) is None and not validate_structural(schema, "")


# -- field paths --------------------------------------------------------------------------


def _tokens(path: str) -> list[str]:
    """Split like upstream's scanner: ``.``, ``[``, ``]`` and single-quoted strings."""
    tokens: list[str] = []
    i = 0
    while i < len(path):
        char = path[i]
        if char in ".[]":
            tokens.append(char)
            i += 1
            continue
        if char == "'":
            j = i + 1
            while j < len(path) and not (path[j] == "'" and path[j - 1] != "\\"):
                j += 1
            tokens.append(path[i:j + 1])
            i = j + 1
            continue
        j = i
        while j < len(path) and path[j] not in ".[]":
            j += 1
        tokens.append(path[i:j])
        i = j
    return tokens


def find_field_path(json_path: str, schema: dict[str, Any] | None, *,
                    allow_array_notation: bool = True
                    ) -> tuple[list[tuple[str, bool]], dict[str, Any] | None]:
    """``cel.ValidFieldPath``: the path's segments and the schema it reaches.

    Each segment is ``(name, named)``: ``named`` for a declared property, false for a key
    of an ``additionalProperties`` map. Raises :class:`ValueError` with upstream's text
    (``does not refer to a valid field``, ``array notation is not allowed`` ...) when the
    path is malformed or unknown.
    """
    segments: list[tuple[str, bool]] = []
    current = schema
    tokens = _tokens(json_path)
    index = 0

    def step(name: str) -> None:
        nonlocal current
        props = properties(current)
        if props:
            if name not in props:
                raise ValueError("does not refer to a valid field")
            current = props[name]
            segments.append((name, True))
        elif current is not None and current.get("additionalProperties") is not None:
            current = as_dict(current.get("additionalProperties"))
            segments.append((name, False))
        else:
            raise ValueError("does not refer to a valid field")

    while index < len(tokens):
        token = tokens[index]
        index += 1
        if token == "[":
            if not allow_array_notation:
                raise ValueError("array notation is not allowed")
            if index >= len(tokens):
                raise ValueError("unexpected end of JSON path")
            literal = tokens[index]
            index += 1
            if len(literal) < 2 or literal[0] != "'" or literal[-1] != "'":
                raise ValueError(f"expected single quoted string but got {literal}")
            step(literal[1:-1].replace("\\'", "'").replace("\\\\", "\\"))
            if index >= len(tokens):
                raise ValueError("unexpected end of JSON path")
            if tokens[index] != "]":
                raise ValueError(f"expected ] but got {tokens[index]}")
            index += 1
        elif token == ".":
            if index >= len(tokens):
                raise ValueError("unexpected end of JSON path")
            step(tokens[index])
            index += 1
        else:
            raise ValueError(f"expected [ or . but got: {token}")
    return segments, current
