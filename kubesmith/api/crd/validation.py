"""CustomResourceDefinition (``apiextensions.k8s.io/v1``) defaulting and validation.

The functions mirror the CRD registry strategy of kube-apiserver's apiextensions-apiserver:

* :func:`default_crd` is ``SetDefaults_CustomResourceDefinition`` (decoding time);
* :func:`prepare_crd_for_create` / :func:`prepare_crd_for_update` are the strategy's
  ``PrepareFor*`` (status reset or carried over, ``generation``, ``status.storedVersions``
  gaining the storage version), which validation then relies on;
* :func:`validate_crd`, :func:`validate_crd_update` and :func:`validate_crd_status_update`
  are ``ValidateCustomResourceDefinition*``, returning upstream's field errors in
  upstream's order.

Field paths follow the *internal* version, as upstream reports them: when every version
carries the same schema (the usual single-version CRD) upstream hoists it to
``spec.validation`` during conversion, so errors read
``spec.validation.openAPIV3Schema.properties[spec].type``; distinct per-version schemas
stay at ``spec.versions[0].schema.openAPIV3Schema...``. Subresources, printer columns
(``spec.additionalPrinterColumns[0].JSONPath``) and selectable fields hoist the same way,
webhook settings read ``spec.conversion.webhookClientConfig``. Values of errors on whole
internal structs (``spec.versions: Invalid value: [...]``) are given in the shape Go
marshals them to, with Go field names.

Deliberate differences from upstream:

* ``spec.conversion.strategy: Webhook`` is refused (conversion webhooks are not
  implemented): ``spec.conversion.strategy: Forbidden: ...``.
* ``x-kubernetes-validations`` rules are checked for their static shape (rule present,
  message without line breaks, ``reason``, ``fieldPath``) but not compiled as CEL, so CEL
  syntax, type and cost errors are not reported.
* Schema ``default`` values inside embedded resources' ``metadata`` are validated against
  the schema only, not additionally as ObjectMeta.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field, replace
from typing import Any, Final

from kubesmith.api import gofmt
from kubesmith.api.crd import _go, _structural
from kubesmith.api.crd._openapi import validate_value
from kubesmith.api.crd._structural import (
    as_dict,
    find_field_path,
    flag,
    properties,
    string,
    sub_schemas,
)
from kubesmith.api.crd.custom_resources import _Pruner
from kubesmith.api.errors import (
    FieldError,
    duplicate,
    field_forbidden,
    invalid,
    not_supported,
    required,
    too_many,
)
from kubesmith.api.types import Obj
from kubesmith.api.validation.meta import validate_object_meta, validate_object_meta_update
from kubesmith.api.validation.names import (
    NameRule,
    is_dns1035_label,
    is_dns1123_subdomain,
    name_is_dns_subdomain,
)

__all__ = [
    "default_crd",
    "prepare_crd_for_create",
    "prepare_crd_for_update",
    "validate_crd",
    "validate_crd_status_update",
    "validate_crd_update",
]

_PRINTER_COLUMN_TYPES: Final = ("boolean", "date", "integer", "number", "string")
_PRINTER_COLUMN_FORMATS: Final = ("byte", "date", "date-time", "double", "float", "int32",
                                  "int64", "password")
_OPENAPI_V3_TYPES: Final = ["array", "boolean", "integer", "number", "object", "string"]
_VALIDATION_REASONS: Final = ["FieldValueDuplicate", "FieldValueForbidden", "FieldValueInvalid",
                              "FieldValueRequired"]
_MAX_SELECTABLE_FIELDS: Final = 8
_API_APPROVAL_ANNOTATION: Final = "api-approved.kubernetes.io"
_META_FIELDS: Final = frozenset({"metadata", "kind", "apiVersion"})
_ALLOWED_AT_STATUS_ROOT: Final = (
    "Description", "Type", "Format", "Title", "Maximum", "ExclusiveMaximum", "Minimum",
    "ExclusiveMinimum", "MaxLength", "MinLength", "Pattern", "MaxItems", "MinItems",
    "UniqueItems", "MultipleOf", "Required", "Items", "Properties", "ExternalDocs", "Example",
    "XPreserveUnknownFields", "XValidations",
)
_NEWLINES: Final = re.compile(r"[\n\r]+")
WEBHOOK_CONVERSION_UNSUPPORTED: Final = (
    'conversion webhooks are not supported by this API server; use strategy "None"')


# -- small accessors ----------------------------------------------------------------------


def _map(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(obj: Any, key: str) -> str:
    value = _map(obj).get(key)
    return value if isinstance(value, str) else ""


def _bool(obj: Any, key: str) -> bool:
    return _map(obj).get(key) is True


def _strs(obj: Any, key: str) -> list[str]:
    return [v if isinstance(v, str) else "" for v in _list(_map(obj).get(key))]


# -- the internal view --------------------------------------------------------------------


@dataclass(slots=True)
class _Version:
    """One ``spec.versions`` entry after v1 → internal conversion."""

    name: str
    served: bool
    storage: bool
    deprecated: bool
    deprecation_warning: str | None
    schema: dict[str, Any] | None
    subresources: dict[str, Any] | None
    columns: list[Any]
    selectable_fields: list[Any]


@dataclass(slots=True)
class _Spec:
    """``apiextensions.CustomResourceDefinitionSpec`` (the internal version)."""

    group: str
    version: str
    names: dict[str, Any]
    scope: str
    validation: dict[str, Any] | None
    subresources: dict[str, Any] | None
    columns: list[Any]
    selectable_fields: list[Any]
    versions: list[_Version]
    conversion: dict[str, Any] | None
    preserve_unknown_fields: bool


def _optional_map(value: Any) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None


_JSON_VALUED: Final = frozenset({"default", "example"})
# JSONSchemaProps fields that are Go maps: empty equals absent (pointer fields, such as
# "not" or "items", are not: {} there is a non-nil pointer).
_MAP_VALUED: Final = frozenset({"properties", "patternProperties", "definitions",
                                "dependencies"})


def _canonical_schema(value: Any) -> Any:
    """A schema document as ``apiequality.Semantic.DeepEqual`` compares the decoded struct.

    Decoding into Go structs erases zero-valued fields (``nullable: false``, ``""``), and
    Semantic equality treats nil and empty slices and maps alike; JSON-valued fields
    (``default``, ``example``) keep their content.
    """
    if isinstance(value, list):
        return [_canonical_schema(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for key, item in value.items():
        if key in _JSON_VALUED:
            out[key] = item
            continue
        zero = item is None or item == "" or item == [] or \
            (item is False and key != "x-kubernetes-preserve-unknown-fields") or \
            (item == {} and key in _MAP_VALUED)
        if zero:
            continue
        if key in _MAP_VALUED and isinstance(item, dict):
            out[key] = {k: _canonical_schema(v) for k, v in item.items()}
        else:
            out[key] = _canonical_schema(item)
    return out


def _same_schemas(holders: list[dict[str, Any] | None]) -> bool:
    """Per-version ``schema`` holders are identical (nil never equals a set holder)."""
    first = holders[0]
    if any((h is None) != (first is None) for h in holders):
        return False
    if first is None:
        return True
    canonical = _canonical_schema(first.get("openAPIV3Schema"))
    return all(_canonical_schema(_map(h).get("openAPIV3Schema")) == canonical
               for h in holders[1:])


def _internal_spec(spec_v1: Any) -> _Spec:
    """``Convert_v1_CustomResourceDefinitionSpec_To_apiextensions_...``: hoist shared fields."""
    spec = _map(spec_v1)
    versions = []
    for entry in _list(spec.get("versions")):
        entry = _map(entry)
        warning = entry.get("deprecationWarning")
        versions.append(_Version(
            name=_str(entry, "name"), served=_bool(entry, "served"),
            storage=_bool(entry, "storage"), deprecated=_bool(entry, "deprecated"),
            deprecation_warning=warning if isinstance(warning, str) else None,
            schema=_optional_map(entry.get("schema")),
            subresources=_optional_map(entry.get("subresources")),
            columns=_list(entry.get("additionalPrinterColumns")),
            selectable_fields=_list(entry.get("selectableFields")),
        ))
    conversion = _optional_map(spec.get("conversion"))
    internal_conversion: dict[str, Any] | None = None
    if conversion is not None:
        webhook = _map(conversion.get("webhook"))
        internal_conversion = {
            "strategy": _str(conversion, "strategy"),
            "webhookClientConfig": _optional_map(webhook.get("clientConfig")),
            "conversionReviewVersions": webhook.get("conversionReviewVersions"),
        }
    internal = _Spec(
        group=_str(spec, "group"), version="", names=_map(spec.get("names")),
        scope=_str(spec, "scope"), validation=None, subresources=None, columns=[],
        selectable_fields=[], versions=versions, conversion=internal_conversion,
        preserve_unknown_fields=_bool(spec, "preserveUnknownFields"),
    )
    if not versions:
        return internal
    internal.version = versions[0].name
    first = versions[0]
    # Compared as apiequality.Semantic.DeepEqual does: nil and empty lists are equal, a nil
    # pointer never equals {} (subresources.status: {} is what enables the subresource).
    if all(v.subresources == first.subresources for v in versions):
        internal.subresources = first.subresources
        for v in versions:
            v.subresources = None
    if _same_schemas([v.schema for v in versions]):
        internal.validation = first.schema
        for v in versions:
            v.schema = None
    if all(v.columns == first.columns for v in versions):
        internal.columns = first.columns
        for v in versions:
            v.columns = []
    if all(v.selectable_fields == first.selectable_fields for v in versions):
        internal.selectable_fields = first.selectable_fields
        for v in versions:
            v.selectable_fields = []
    return internal


# Go-shaped renderings of internal structs, for error values.

_SCHEMA_FIELDS: Final = (
    ("ID", "id", ""), ("Schema", "$schema", ""), ("Ref", "$ref", None),
    ("Description", "description", ""), ("Type", "type", ""), ("Nullable", "nullable", False),
    ("Format", "format", ""), ("Title", "title", ""), ("Default", "default", None),
    ("Maximum", "maximum", None), ("ExclusiveMaximum", "exclusiveMaximum", False),
    ("Minimum", "minimum", None), ("ExclusiveMinimum", "exclusiveMinimum", False),
    ("MaxLength", "maxLength", None), ("MinLength", "minLength", None),
    ("Pattern", "pattern", ""), ("MaxItems", "maxItems", None), ("MinItems", "minItems", None),
    ("UniqueItems", "uniqueItems", False), ("MultipleOf", "multipleOf", None),
    ("Enum", "enum", None), ("MaxProperties", "maxProperties", None),
    ("MinProperties", "minProperties", None), ("Required", "required", None),
    ("Items", "items", None), ("AllOf", "allOf", None), ("OneOf", "oneOf", None),
    ("AnyOf", "anyOf", None), ("Not", "not", None), ("Properties", "properties", None),
    ("AdditionalProperties", "additionalProperties", None),
    ("PatternProperties", "patternProperties", None), ("Dependencies", "dependencies", None),
    ("AdditionalItems", "additionalItems", None), ("Definitions", "definitions", None),
    ("ExternalDocs", "externalDocs", None), ("Example", "example", None),
    ("XPreserveUnknownFields", "x-kubernetes-preserve-unknown-fields", None),
    ("XEmbeddedResource", "x-kubernetes-embedded-resource", False),
    ("XIntOrString", "x-kubernetes-int-or-string", False),
    ("XListMapKeys", "x-kubernetes-list-map-keys", None),
    ("XListType", "x-kubernetes-list-type", None), ("XMapType", "x-kubernetes-map-type", None),
    ("XValidations", "x-kubernetes-validations", None),
)
_SCHEMA_LISTS: Final = frozenset({"allOf", "oneOf", "anyOf"})
_SCHEMA_MAPS: Final = frozenset({"properties", "patternProperties", "definitions"})


def _go_schema(schema: Any) -> Any:
    """An internal ``JSONSchemaProps`` as Go's ``json.Marshal`` lays it out (no tags)."""
    if not isinstance(schema, dict):
        return None
    out = gofmt.GoStruct()
    for go_name, key, zero in _SCHEMA_FIELDS:
        value = schema.get(key, zero)
        if value is None or value == zero:
            out[go_name] = zero
        elif key in _SCHEMA_LISTS:
            out[go_name] = [_go_schema(v) for v in _list(value)]
        elif key in _SCHEMA_MAPS:
            out[go_name] = {k: _go_schema(v) for k, v in _map(value).items()}
        elif key == "not":
            out[go_name] = _go_schema(value)
        elif key == "items":
            out[go_name] = gofmt.GoStruct(
                Schema=_go_schema(value) if isinstance(value, dict) else None,
                JSONSchemas=[_go_schema(v) for v in value] if isinstance(value, list) else None)
        elif key in ("additionalProperties", "additionalItems"):
            out[go_name] = gofmt.GoStruct(
                Allows=value is not False,
                Schema=_go_schema(value) if isinstance(value, dict) else None)
        elif key == "dependencies":
            out[go_name] = {k: gofmt.GoStruct(Schema=_go_schema(v) if isinstance(v, dict) else None,
                                            Property=v if isinstance(v, list) else None)
                            for k, v in _map(value).items()}
        elif key == "externalDocs":
            out[go_name] = gofmt.GoStruct(Description=_str(value, "description"),
                                        URL=_str(value, "url"))
        elif key == "x-kubernetes-validations":
            out[go_name] = [gofmt.GoStruct(
                Rule=_str(r, "rule"), Message=_str(r, "message"),
                MessageExpression=_str(r, "messageExpression"), Reason=_map(r).get("reason"),
                FieldPath=_str(r, "fieldPath"), OptionalOldSelf=_map(r).get("optionalOldSelf"))
                for r in _list(value)]
        else:
            out[go_name] = value
    return out


def _go_subresources(subresources: dict[str, Any] | None) -> Any:
    if subresources is None:
        return None
    scale = _optional_map(subresources.get("scale"))
    selector = None if scale is None else scale.get("labelSelectorPath")
    return gofmt.GoStruct(
        Status=gofmt.GoStruct() if isinstance(subresources.get("status"), dict) else None,
        Scale=None if scale is None else gofmt.GoStruct(
            SpecReplicasPath=_str(scale, "specReplicasPath"),
            StatusReplicasPath=_str(scale, "statusReplicasPath"),
            LabelSelectorPath=selector if isinstance(selector, str) else None,
        ),
    )


def _go_versions(versions: list[_Version]) -> list[gofmt.GoStruct]:
    """``[]apiextensions.CustomResourceDefinitionVersion`` as Go marshals it."""
    rendered = []
    for v in versions:
        schema = None if v.schema is None else gofmt.GoStruct(
            OpenAPIV3Schema=_go_schema(v.schema.get("openAPIV3Schema")))
        rendered.append(gofmt.GoStruct(
            Name=v.name, Served=v.served, Storage=v.storage, Deprecated=v.deprecated,
            DeprecationWarning=v.deprecation_warning, Schema=schema,
            Subresources=_go_subresources(v.subresources),
            AdditionalPrinterColumns=[
                gofmt.GoStruct(Name=_str(c, "name"), Type=_str(c, "type"),
                             Format=_str(c, "format"), Description=_str(c, "description"),
                             Priority=_map(c).get("priority", 0), JSONPath=_str(c, "jsonPath"))
                for c in v.columns] or None,
            SelectableFields=[gofmt.GoStruct(JSONPath=_str(f, "jsonPath"))
                              for f in v.selectable_fields] or None,
        ))
    return rendered


# -- options ------------------------------------------------------------------------------


@dataclass(slots=True)
class _Options:
    """``validationOptions``: strictness that updates relax for already-stored CRDs."""

    allow_defaults: bool = True
    require_immutable_names: bool = False
    require_open_api_schema: bool = True
    require_valid_property_type: bool = True
    require_structural_schema: bool = True
    require_pruned_defaults: bool = True
    require_atomic_set_type: bool = True
    require_map_list_keys_map_set_validation: bool = True
    allow_too_many_selectable_fields: dict[str, bool] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _SchemaContext:
    """``specStandardValidatorV3``: where in the schema we are, for per-node rules."""

    allow_defaults: bool = True
    disallow_defaults_reason: str = ""
    inside_resource_meta: bool = False
    require_valid_property_type: bool = True

    def forbid_defaults(self, reason: str) -> _SchemaContext:
        return replace(self, allow_defaults=False, disallow_defaults_reason=reason)


# -- schema walking helpers ---------------------------------------------------------------


def _all_schemas(schema: Any) -> list[dict[str, Any]]:
    """Every node of a schema, like upstream's ``SchemaHas`` traversal."""
    if not isinstance(schema, dict):
        return []
    nodes = [schema]
    items = schema.get("items")
    if isinstance(items, dict):
        nodes += _all_schemas(items)
    elif isinstance(items, list):
        for item in items:
            nodes += _all_schemas(item)
    for key in ("allOf", "anyOf", "oneOf"):
        for sub in _list(schema.get(key)):
            nodes += _all_schemas(sub)
    nodes += _all_schemas(schema.get("not"))
    for key in ("properties", "patternProperties", "definitions"):
        for sub in _map(schema.get(key)).values():
            nodes += _all_schemas(sub)
    for key in ("additionalProperties", "additionalItems"):
        nodes += _all_schemas(schema.get(key))
    for dependency in _map(schema.get("dependencies")).values():
        nodes += _all_schemas(dependency)
    return nodes


def _spec_schemas(spec: _Spec) -> list[dict[str, Any]]:
    """The top-level and per-version ``openAPIV3Schema`` documents."""
    found = []
    for holder in [spec.validation] + [v.schema for v in spec.versions]:
        schema = as_dict(_map(holder).get("openAPIV3Schema"))
        if schema is not None:
            found.append(schema)
    return found


def _spec_has(spec: _Spec, predicate: Any) -> bool:
    return any(predicate(node) for schema in _spec_schemas(spec) for node in _all_schemas(schema))


def _has_kubernetes_extensions(node: dict[str, Any]) -> bool:
    return (flag(node, "x-kubernetes-embedded-resource")
            or node.get("x-kubernetes-preserve-unknown-fields") is not None
            or flag(node, "x-kubernetes-int-or-string")
            or bool(node.get("x-kubernetes-list-map-keys"))
            or node.get("x-kubernetes-list-type") is not None
            or bool(node.get("x-kubernetes-validations")))


def _has_non_atomic_set(node: dict[str, Any]) -> bool:
    items = as_dict(node.get("items"))
    if node.get("x-kubernetes-list-type") != "set" or items is None:
        return False
    if string(items, "type") == "array":
        list_type = items.get("x-kubernetes-list-type")
        return list_type is not None and list_type != "atomic"
    if string(items, "type") == "object":
        return items.get("x-kubernetes-map-type") != "atomic"
    return False


def _has_default(node: dict[str, Any]) -> bool:
    return "default" in node


# -- printable / names helpers ------------------------------------------------------------


def _names_errors(names: dict[str, Any], path: str) -> list[FieldError]:
    """``ValidateCustomResourceDefinitionNames``."""
    errs: list[FieldError] = []
    plural, singular = _str(names, "plural"), _str(names, "singular")
    kind, list_kind = _str(names, "kind"), _str(names, "listKind")
    if plural and (msgs := is_dns1035_label(plural)):
        errs.append(invalid(f"{path}.plural", plural, ",".join(msgs)))
    if singular and (msgs := is_dns1035_label(singular)):
        errs.append(invalid(f"{path}.singular", singular, ",".join(msgs)))
    if kind and (msgs := is_dns1035_label(kind.lower())):
        errs.append(invalid(f"{path}.kind", kind,
                            "may have mixed case, but should otherwise match: " + ",".join(msgs)))
    if list_kind and (msgs := is_dns1035_label(list_kind.lower())):
        errs.append(invalid(f"{path}.listKind", list_kind,
                            "may have mixed case, but should otherwise match: " + ",".join(msgs)))
    for i, short in enumerate(_strs(names, "shortNames")):
        if msgs := is_dns1035_label(short):
            errs.append(invalid(f"{path}.shortNames[{i}]", short, ",".join(msgs)))
    if kind and kind == list_kind:
        errs.append(invalid(f"{path}.listKind", list_kind, "kind and listKind may not be the same"))
    for i, category in enumerate(_strs(names, "categories")):
        if msgs := is_dns1035_label(category):
            errs.append(invalid(f"{path}.categories[{i}]", category, ",".join(msgs)))
    return errs


def _deprecation_warning_errors(deprecated: bool, warning: str | None) -> list[str]:
    if not deprecated and warning is not None:
        return ["can only be set for deprecated versions"]
    if warning is None:
        return []
    errs = []
    if len(warning.encode()) > 256:
        errs.append("must be <= 256 characters long")
    if not warning:
        errs.append("must not be an empty string")
    offset = 0
    for char in warning:
        # unicode.IsPrint rejects control characters first, so upstream's separate
        # "control character" message can never be produced.
        if not (char.isprintable() or char == " "):
            errs.append("must only contain printable UTF-8 characters; non-printable character "
                        f"found at index {offset}")
            break
        offset += len(char.encode())
    return errs


def _enum_string(path: str, value: str, accepted: list[str]) -> list[FieldError]:
    """``validateEnumStrings`` with ``required``."""
    if not value:
        return [required(path, "")]
    if value in accepted:
        return []
    return [not_supported(path, value, accepted)]


def _simple_json_path(value: str, path: str) -> list[FieldError]:
    """``validateSimpleJSONPath``: only the leading dot is actually checked upstream."""
    if not value:
        return [invalid(path, value, "must not be empty")]
    if value[0] != ".":
        return [invalid(path, value, "must be a simple json path starting with .")]
    return []


# -- subresources, columns, selectable fields ---------------------------------------------


def _subresources_errors(subresources: dict[str, Any] | None, path: str) -> list[FieldError]:
    if subresources is None:
        return []
    scale = _optional_map(subresources.get("scale"))
    if scale is None:
        return []
    errs: list[FieldError] = []
    for key, prefix, where in (("specReplicasPath", ".spec.", ".spec"),
                               ("statusReplicasPath", ".status.", ".status")):
        value = _str(scale, key)
        child = f"{path}.scale.{key}"
        if not value:
            errs.append(required(child, ""))
        elif simple := _simple_json_path(value, child):
            errs += simple
        elif not value.startswith(prefix):
            errs.append(invalid(child, value, f"should be a json path under {where}"))
    selector = _str(scale, "labelSelectorPath")
    if selector:
        child = f"{path}.scale.labelSelectorPath"
        if simple := _simple_json_path(selector, child):
            errs += simple
        elif not selector.startswith((".spec.", ".status.")):
            errs.append(invalid(child, selector, "should be a json path under either .spec or "
                                ".status"))
    return errs


def _column_errors(column: Any, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    if not _str(column, "name"):
        errs.append(required(f"{path}.name", ""))
    column_type = _str(column, "type")
    types_detail = "must be one of " + ",".join(_PRINTER_COLUMN_TYPES)
    if not column_type:
        errs.append(required(f"{path}.type", types_detail))
    elif column_type not in _PRINTER_COLUMN_TYPES:
        errs.append(invalid(f"{path}.type", column_type, types_detail))
    column_format = _str(column, "format")
    if column_format and column_format not in _PRINTER_COLUMN_FORMATS:
        errs.append(invalid(f"{path}.format", column_format,
                            "must be one of " + ",".join(_PRINTER_COLUMN_FORMATS)))
    json_path = _str(column, "jsonPath")
    if not json_path:
        errs.append(required(f"{path}.JSONPath", ""))
    else:
        errs += _simple_json_path(json_path, f"{path}.JSONPath")
    return errs


def _render_path(segments: list[tuple[str, bool]]) -> str:
    """A ``field.Path`` of named children (``.x``) and map keys (``[x]``)."""
    text = ""
    for name, named in segments:
        if not named:
            text += f"[{name}]"
        else:
            text += f".{name}" if text else name
    return text


def _selectable_fields_errors(fields: list[Any], schema: dict[str, Any], path: str,
                              opts: _Options, version: str) -> list[FieldError]:
    errs: list[FieldError] = []
    unique: set[str] = set()
    for i, entry in enumerate(fields):
        json_path = _str(entry, "jsonPath")
        child = f"{path}[{i}].jsonPath"
        if not json_path:
            errs.append(required(child, ""))
            continue
        try:
            segments, found = find_field_path(json_path, schema, allow_array_notation=False)
        except ValueError as exc:
            errs.append(invalid(child, json_path, f"is an invalid path: {exc}"))
            continue
        if segments and segments[0][0] == "metadata":
            errs.append(invalid(child, json_path, "must not point to fields in metadata"))
        if string(found, "type") not in ("string", "boolean", "integer"):
            errs.append(invalid(child, json_path, "must point to a field of type string, "
                                "boolean or integer. Enum string fields and strings with "
                                "formats are allowed."))
        rendered = _render_path(segments)
        if rendered in unique:
            errs.append(duplicate(child, json_path))
        else:
            unique.add(rendered)
    if len(unique) > _MAX_SELECTABLE_FIELDS and \
            not opts.allow_too_many_selectable_fields.get(version, False):
        errs.append(too_many(path, len(unique), _MAX_SELECTABLE_FIELDS))
    return errs


# -- per-node OpenAPI checks --------------------------------------------------------------


def _node_rules(schema: dict[str, Any], path: str, ctx: _SchemaContext) -> list[FieldError]:
    """``specStandardValidatorV3.validate``: what a v3 CRD schema node may not contain."""
    errs: list[FieldError] = []
    schema_type = string(schema, "type")
    if ctx.require_valid_property_type and schema_type and schema_type not in _OPENAPI_V3_TYPES:
        errs.append(not_supported(f"{path}.type", schema_type, _OPENAPI_V3_TYPES))
    if "default" in schema and not ctx.allow_defaults:
        detail = "must not be set"
        if ctx.disallow_defaults_reason:
            detail += " " + ctx.disallow_defaults_reason
        errs.append(field_forbidden(f"{path}.default", detail))
    if string(schema, "id"):
        errs.append(field_forbidden(f"{path}.id", "id is not supported"))
    if schema.get("additionalItems") is not None:
        errs.append(field_forbidden(f"{path}.additionalItems", "additionalItems is not supported"))
    if schema.get("patternProperties"):
        errs.append(field_forbidden(f"{path}.patternProperties",
                                    "patternProperties is not supported"))
    if schema.get("definitions"):
        errs.append(field_forbidden(f"{path}.definitions", "definitions is not supported"))
    if schema.get("dependencies") is not None:
        errs.append(field_forbidden(f"{path}.dependencies", "dependencies is not supported"))
    if schema.get("$ref") is not None:
        errs.append(field_forbidden(f"{path}.$ref", "$ref is not supported"))
    if schema_type == "null":
        errs.append(field_forbidden(f"{path}.type",
                                    "type cannot be set to null, use nullable as an alternative"))
    items = schema.get("items")
    if isinstance(items, list) and items:
        errs.append(field_forbidden(f"{path}.items",
                                    "items must be a schema object and not an array"))
    if ctx.inside_resource_meta and flag(schema, "x-kubernetes-embedded-resource"):
        errs.append(field_forbidden(f"{path}.x-kubernetes-embedded-resource",
                                    "must not be used inside of resource meta"))
    return errs


def _map_list_keys_map_set(schema: dict[str, Any], path: str) -> list[FieldError]:
    """``validateMapListKeysMapSet``: list-map keys must be required or defaulted."""
    items = as_dict(schema.get("items"))
    list_type = schema.get("x-kubernetes-list-type")
    if items is None or list_type not in ("set", "map"):
        return []
    errs: list[FieldError] = []
    if flag(items, "nullable"):
        detail = f"cannot be nullable when x-kubernetes-list-type is {list_type}"
        errs.append(field_forbidden(f"{path}.items.nullable", detail))
    if list_type == "map":
        required_names = set(_strs(items, "required"))
        props = properties(items)
        for key in _strs(schema, "x-kubernetes-list-map-keys"):
            prop = props.get(key)
            if prop is None:
                continue
            if key not in required_names and "default" not in prop:
                errs.append(required(f"{path}.items.properties[{key}].default",
                                     "this property is in x-kubernetes-list-map-keys, so it "
                                     "must have a default or be a required property"))
            if flag(prop, "nullable"):
                errs.append(field_forbidden(f"{path}.items.properties[{key}].nullable",
                                            "this property is in x-kubernetes-list-map-keys, so "
                                            "it cannot be nullable"))
    return errs


def _list_and_map_type_errors(schema: dict[str, Any], path: str,
                              opts: _Options) -> list[FieldError]:
    errs: list[FieldError] = []
    schema_type = string(schema, "type")
    map_type = schema.get("x-kubernetes-map-type")
    if map_type is not None and schema_type != "object":
        detail = "must be object if x-kubernetes-map-type is specified"
        errs.append(required(f"{path}.type", detail) if not schema_type
                    else invalid(f"{path}.type", schema_type, detail))
    if map_type is not None and map_type not in ("atomic", "granular"):
        errs.append(not_supported(f"{path}.x-kubernetes-map-type", map_type,
                                  ["atomic", "granular"]))
    list_type = schema.get("x-kubernetes-list-type")
    items = as_dict(schema.get("items"))
    if list_type is not None and schema_type != "array":
        detail = "must be array if x-kubernetes-list-type is specified"
        errs.append(required(f"{path}.type", detail) if not schema_type
                    else invalid(f"{path}.type", schema_type, detail))
    elif opts.require_atomic_set_type and list_type == "set" and items is not None:
        atomic = "must be atomic as item of a list with x-kubernetes-list-type=set"
        item_list_type = items.get("x-kubernetes-list-type")
        if string(items, "type") == "array" and item_list_type is not None and \
                item_list_type != "atomic":
            errs.append(invalid(f"{path}.items.x-kubernetes-list-type", item_list_type, atomic))
        elif string(items, "type") == "object" and items.get("x-kubernetes-map-type") != "atomic":
            # Upstream reports the items' list type here (usually unset, so null).
            errs.append(invalid(f"{path}.items.x-kubernetes-map-type", item_list_type, atomic))
    if list_type is not None and list_type not in ("atomic", "set", "map"):
        errs.append(not_supported(f"{path}.x-kubernetes-list-type", list_type,
                                  ["atomic", "set", "map"]))
    keys = _strs(schema, "x-kubernetes-list-map-keys")
    if keys:
        detail = "must be map if x-kubernetes-list-map-keys is non-empty"
        if list_type is None:
            errs.append(required(f"{path}.x-kubernetes-list-type", detail))
        elif list_type != "map":
            errs.append(invalid(f"{path}.x-kubernetes-list-type", list_type, detail))
    if list_type == "map":
        raw_items = schema.get("items")
        if not keys:
            errs.append(required(f"{path}.x-kubernetes-list-map-keys",
                                 "must not be empty if x-kubernetes-list-type is map"))
        if raw_items is None:
            errs.append(required(f"{path}.items",
                                 "must have a schema if x-kubernetes-list-type is map"))
        elif items is None:
            errs.append(invalid(f"{path}.items", raw_items,
                                "must only have a single schema if x-kubernetes-list-type is map"))
        if items is not None and string(items, "type") != "object":
            errs.append(invalid(f"{path}.items.type", string(items, "type"),
                                "must be object if parent array's x-kubernetes-list-type is map"))
        if items is not None and string(items, "type") == "object":
            seen: set[str] = set()
            item_props = properties(items)
            for key in keys:
                if key in item_props:
                    if string(item_props[key], "type") in ("array", "object"):
                        errs.append(invalid(f"{path}.items.properties[{key}].type", "object",
                                            "must be a scalar type if parent array's "
                                            "x-kubernetes-list-type is map"))
                else:
                    errs.append(invalid(f"{path}.x-kubernetes-list-map-keys", keys,
                                        "entries must all be names of item properties"))
                if key in seen:
                    errs.append(invalid(f"{path}.x-kubernetes-list-map-keys", keys,
                                        "must not contain duplicate entries"))
                seen.add(key)
    if opts.require_map_list_keys_map_set_validation:
        errs += _map_list_keys_map_set(schema, path)
    return errs


def _x_validations_errors(schema: dict[str, Any], path: str) -> list[FieldError]:
    """Static checks of ``x-kubernetes-validations`` entries (CEL itself is not compiled)."""
    errs: list[FieldError] = []
    for i, rule in enumerate(_list(schema.get("x-kubernetes-validations"))):
        base = f"{path}.x-kubernetes-validations[{i}]"
        text, message = _str(rule, "rule"), _str(rule, "message")
        message_expression = _str(rule, "messageExpression")
        trimmed_rule, trimmed_message = text.strip(), message.strip()
        if not trimmed_rule:
            errs.append(required(f"{base}.rule", "rule is not specified"))
        elif message and not trimmed_message:
            errs.append(invalid(f"{base}.message", message, "must be non-empty if specified"))
        elif _NEWLINES.search(trimmed_message):
            errs.append(invalid(f"{base}.message", message, "must not contain line breaks"))
        elif _NEWLINES.search(trimmed_rule) and not trimmed_message:
            errs.append(required(f"{base}.message",
                                 "message must be specified if rule contains line breaks"))
        if message_expression and not message_expression.strip():
            errs.append(required(f"{base}.messageExpression",
                                 "messageExpression must be non-empty if specified"))
        reason = _map(rule).get("reason")
        if reason is not None and reason not in _VALIDATION_REASONS:
            errs.append(not_supported(f"{base}.reason", reason, _VALIDATION_REASONS))
        field_path = _str(rule, "fieldPath")
        if field_path and not field_path.strip():
            errs.append(invalid(f"{base}.fieldPath", field_path, "must be non-empty if specified"))
        if _NEWLINES.search(field_path):
            errs.append(invalid(f"{base}.fieldPath", field_path, "must not contain line breaks"))
        if field_path and _structural.unsupported_field(schema) is None:
            try:
                find_field_path(field_path, schema)
            except ValueError:
                errs.append(invalid(f"{base}.fieldPath", field_path, "must be a valid path"))
    return errs


def _openapi_schema_errors(schema: dict[str, Any] | None, path: str, ctx: _SchemaContext,
                           is_root: bool, opts: _Options) -> list[FieldError]:
    """``ValidateCustomResourceDefinitionOpenAPISchema`` (its schema errors)."""
    if schema is None:
        return []
    errs = _node_rules(schema, path, ctx)
    if flag(schema, "uniqueItems"):
        errs.append(field_forbidden(f"{path}.uniqueItems", "uniqueItems cannot be set to true "
                                    "since the runtime complexity becomes quadratic"))
    props = properties(schema)
    additional = schema.get("additionalProperties")
    if additional is not None:
        if props and (additional is False or isinstance(additional, dict)):
            errs.append(field_forbidden(f"{path}.additionalProperties",
                                        "additionalProperties and properties are mutual "
                                        "exclusive"))
        sub_ctx = ctx.forbid_defaults("inside additionalProperties applying to object metadata") \
            if ctx.inside_resource_meta else ctx
        errs += _openapi_schema_errors(as_dict(additional), f"{path}.additionalProperties",
                                       sub_ctx, False, opts)
    embedded = flag(schema, "x-kubernetes-embedded-resource")
    for name, prop in props.items():
        sub_ctx = ctx
        if (is_root or embedded) and name in _META_FIELDS:
            sub_ctx = replace(sub_ctx, inside_resource_meta=True)
            if is_root:
                sub_ctx = sub_ctx.forbid_defaults(f"in top-level {name}")
        errs += _openapi_schema_errors(prop, f"{path}.properties[{name}]", sub_ctx, False, opts)
    errs += _openapi_schema_errors(as_dict(schema.get("not")), f"{path}.not", ctx, False, opts)
    for key in ("allOf", "oneOf", "anyOf"):
        for i, sub in enumerate(sub_schemas(schema, key)):
            errs += _openapi_schema_errors(sub, f"{path}.{key}[{i}]", ctx, False, opts)
    for name, sub in _map(schema.get("definitions")).items():
        errs += _openapi_schema_errors(as_dict(sub), f"{path}.definitions[{name}]", ctx, False,
                                       opts)
    items = schema.get("items")
    if isinstance(items, dict):
        errs += _openapi_schema_errors(items, f"{path}.items", ctx, False, opts)
    elif isinstance(items, list):
        for i, sub in enumerate(items):
            errs += _openapi_schema_errors(as_dict(sub), f"{path}.items[{i}]", ctx, False, opts)
    for name, dependency in _map(schema.get("dependencies")).items():
        errs += _openapi_schema_errors(as_dict(dependency), f"{path}.dependencies[{name}]", ctx,
                                       False, opts)
    if schema.get("x-kubernetes-preserve-unknown-fields") is False:
        errs.append(invalid(f"{path}.x-kubernetes-preserve-unknown-fields", False,
                            "must be true or undefined"))
    errs += _list_and_map_type_errors(schema, path, opts)
    errs += _x_validations_errors(schema, path)
    return errs


# -- defaults -----------------------------------------------------------------------------


def _default_errors(schema: dict[str, Any], path: str, opts: _Options) -> list[FieldError]:
    """``structuraldefaulting.ValidateDefaults``: defaults validate and are pruned."""
    root = {**schema, "x-kubernetes-embedded-resource": True}
    return _walk_defaults(root, path, inside_meta=False,
                          require_pruned=opts.require_pruned_defaults)


def _walk_defaults(schema: dict[str, Any], path: str, *, inside_meta: bool,
                   require_pruned: bool) -> list[FieldError]:
    errs: list[FieldError] = []
    embedded = flag(schema, "x-kubernetes-embedded-resource")
    if embedded:
        inside_meta = False
    value = schema.get("default")
    if value is not None:
        default_path = f"{path}.default"
        if not inside_meta and require_pruned:
            pruned = copy.deepcopy(value)
            _Pruner().prune(pruned, schema, "", embedded=embedded)
            if not _go.deep_equal(pruned, value):
                errs.append(invalid(default_path, value, "must not have unknown fields"))
        errs += validate_value(value, schema, default_path)
    items = as_dict(schema.get("items"))
    if items is not None:
        errs += _walk_defaults(items, f"{path}.items", inside_meta=inside_meta,
                               require_pruned=require_pruned)
    for name, prop in properties(schema).items():
        errs += _walk_defaults(prop, f"{path}.properties[{name}]",
                               inside_meta=inside_meta or (embedded and name in _META_FIELDS),
                               require_pruned=require_pruned)
    return errs


# -- one schema ---------------------------------------------------------------------------


def _status_root_errors(schema: dict[str, Any], path: str) -> list[FieldError]:
    """With the status subresource, only some keywords may sit at the schema root."""
    for go_name, key, _zero in _SCHEMA_FIELDS:
        value = schema.get(key)
        if value is None or value is False or value == "":
            continue
        if go_name == "Type":
            if value != "object":
                return [invalid(f"{path}.openAPIV3Schema.type", value, 'only "object" is allowed '
                                "as the type at the root of the schema if the status subresource "
                                "is enabled")]
            continue
        if go_name not in _ALLOWED_AT_STATUS_ROOT:
            allowed = "[" + " ".join(_ALLOWED_AT_STATUS_ROOT) + "]"
            return [invalid(f"{path}.openAPIV3Schema", _go_schema(schema),
                            f"only {allowed} fields are allowed at the root of the schema if "
                            "the status subresource is enabled")]
    return []


def _validation_errors(holder: dict[str, Any] | None, status_enabled: bool, opts: _Options,
                       path: str) -> list[FieldError]:
    """``validateCustomResourceDefinitionValidation`` for one ``schema`` holder."""
    if holder is None:
        return []
    schema = as_dict(holder.get("openAPIV3Schema"))
    if schema is None:
        return []
    errs: list[FieldError] = []
    if status_enabled:
        errs += _status_root_errors(schema, path)
    if flag(schema, "nullable"):
        errs.append(field_forbidden(f"{path}.openAPIV3Schema.nullable",
                                    "nullable cannot be true at the root"))
    ctx = _SchemaContext(allow_defaults=opts.allow_defaults,
                         require_valid_property_type=opts.require_valid_property_type)
    init_errors: list[FieldError] = []
    if opts.require_structural_schema:
        unsupported = _structural.unsupported_field(schema)
        if unsupported is not None:
            init_errors.append(invalid(f"{path}.openAPIV3Schema", "", unsupported))
        elif structural := _structural.validate_structural(schema, f"{path}.openAPIV3Schema"):
            errs += structural
        else:
            errs += _default_errors(schema, f"{path}.openAPIV3Schema", opts)
    errs += _openapi_schema_errors(schema, f"{path}.openAPIV3Schema", ctx, True, opts)
    if not errs:
        errs += init_errors
    return errs


# -- the spec -----------------------------------------------------------------------------


def _status_enabled(subresources: dict[str, Any] | None) -> bool:
    return subresources is not None and isinstance(subresources.get("status"), dict)


def _conversion_errors(conversion: dict[str, Any] | None, path: str) -> list[FieldError]:
    if conversion is None:
        return []
    strategy = conversion["strategy"]
    if strategy == "Webhook":
        return [field_forbidden(f"{path}.strategy", WEBHOOK_CONVERSION_UNSUPPORTED)]
    errs = _enum_string(f"{path}.strategy", strategy, ["None", "Webhook"])
    if conversion["webhookClientConfig"] is not None:
        errs.append(field_forbidden(f"{path}.webhookClientConfig",
                                    "should not be set when strategy is not set to Webhook"))
    if _list(conversion["conversionReviewVersions"]):
        errs.append(field_forbidden(f"{path}.conversionReviewVersions",
                                    "should not be set when strategy is not set to Webhook"))
    return errs


def _spec_errors(spec: _Spec, opts: _Options, path: str = "spec") -> list[FieldError]:
    """``validateCustomResourceDefinitionSpec``."""
    errs: list[FieldError] = []
    if not spec.group:
        errs.append(required(f"{path}.group", ""))
    elif msgs := is_dns1123_subdomain(spec.group):
        errs.append(invalid(f"{path}.group", spec.group, ",".join(msgs)))
    elif len(spec.group.split(".")) < 2:
        errs.append(invalid(f"{path}.group", spec.group,
                            "should be a domain with at least one dot"))
    errs += _enum_string(f"{path}.scope", spec.scope, ["Cluster", "Namespaced"])
    opts = replace(opts)
    if not spec.preserve_unknown_fields:
        opts.require_structural_schema = True
    top_schema = _map(spec.validation).get("openAPIV3Schema")
    if opts.require_open_api_schema:
        if spec.validation is None or top_schema is None:
            for i, version in enumerate(spec.versions):
                if version.schema is None or version.schema.get("openAPIV3Schema") is None:
                    errs.append(required(f"{path}.versions[{i}].schema.openAPIV3Schema", ""))
    elif not spec.preserve_unknown_fields and (spec.validation is None or top_schema is None):
        for i, version in enumerate(spec.versions):
            if version.served and (version.schema is None or
                                   version.schema.get("openAPIV3Schema") is None):
                errs.append(required(f"{path}.versions[{i}].schema.openAPIV3Schema",
                                     "because otherwise all fields are pruned"))
    if opts.allow_defaults and _spec_has(spec, _has_default):
        opts.require_structural_schema = True
        if spec.preserve_unknown_fields:
            errs.append(invalid(f"{path}.preserveUnknownFields", True,
                                "must be false in order to use defaults in the schema"))
    if _spec_has(spec, _has_kubernetes_extensions):
        opts.require_structural_schema = True

    storage_count = 0
    names_seen: set[str] = set()
    unique = True
    for i, version in enumerate(spec.versions):
        storage_count += version.storage
        if version.name in names_seen:
            unique = False
        names_seen.add(version.name)
        version_path = f"{path}.versions[{i}]"
        if msgs := is_dns1035_label(version.name):
            errs.append(invalid(f"{version_path}.name", version.name, ",".join(msgs)))
        errs += _version_errors(spec, version, version_path, opts)

    if not unique:
        errs.append(invalid(f"{path}.versions", _go_versions(spec.versions),
                            "must contain unique version names"))
    if storage_count != 1:
        errs.append(invalid(f"{path}.versions", _go_versions(spec.versions),
                            "must have exactly one version marked as storage version"))
    if spec.version and (msgs := is_dns1035_label(spec.version)):
        errs.append(invalid(f"{path}.version", spec.version, ",".join(msgs)))

    for key in ("plural", "singular", "kind", "listKind"):
        if not _str(spec.names, key):
            errs.append(required(f"{path}.names.{key}", ""))
    errs += _names_errors(spec.names, f"{path}.names")
    any_status = _status_enabled(spec.subresources) or any(
        _status_enabled(v.subresources) for v in spec.versions)
    errs += _validation_errors(spec.validation, any_status, opts, f"{path}.validation")
    errs += _subresources_errors(spec.subresources, f"{path}.subresources")
    for i, column in enumerate(spec.columns):
        errs += _column_errors(column, f"{path}.additionalPrinterColumns[{i}]")
    if spec.selectable_fields:
        if spec.validation is None:
            errs.append(invalid(f"{path}.selectableFields", "",
                                "may only be set when validations.schema is included"))
        else:
            errs += _selectable_errors_for(spec.selectable_fields, top_schema, path, opts, "")
    if spec.conversion is not None and spec.conversion["strategy"] != "None" and \
            spec.preserve_unknown_fields:
        errs.append(invalid(f"{path}.conversion.strategy", spec.conversion["strategy"],
                            "must be None if spec.preserveUnknownFields is true"))
    errs += _conversion_errors(spec.conversion, f"{path}.conversion")
    return errs


def _selectable_errors_for(fields: list[Any], schema: Any, path: str, opts: _Options,
                           version: str) -> list[FieldError]:
    schema_dict = as_dict(schema)
    if schema_dict is None:
        # The missing schema is reported on its own (openAPIV3Schema: Required value).
        return []
    unsupported = _structural.unsupported_field(schema_dict)
    if unsupported is not None:
        return [invalid(f"{path}.schema.openAPIV3Schema", "", unsupported)]
    return _selectable_fields_errors(fields, schema_dict, f"{path}.selectableFields", opts,
                                     version)


def _version_errors(spec: _Spec, version: _Version, path: str, opts: _Options) -> list[FieldError]:
    """``validateCustomResourceDefinitionVersion``."""
    errs = [invalid(f"{path}.deprecationWarning", version.deprecation_warning, message)
            for message in _deprecation_warning_errors(version.deprecated,
                                                       version.deprecation_warning)]
    subresources = spec.subresources if all(v.subresources is None for v in spec.versions) \
        else version.subresources
    errs += _validation_errors(version.schema, _status_enabled(subresources), opts,
                               f"{path}.schema")
    errs += _subresources_errors(version.subresources, f"{path}.subresources")
    for i, column in enumerate(version.columns):
        errs += _column_errors(column, f"{path}.additionalPrinterColumns[{i}]")
    if version.selectable_fields:
        schema = _map(version.schema).get("openAPIV3Schema")
        if schema is None:
            errs.append(invalid(f"{path}.selectableFields", "",
                                "may only be set when `version.schema.openAPIV3Schema` is not "
                                "included"))
        else:
            errs += _selectable_errors_for(version.selectable_fields, schema, path, opts,
                                           version.name)
    return errs


# -- status, stored versions, approval ----------------------------------------------------


def _stored_versions_errors(stored: list[str], versions: list[_Version],
                            path: str = "status.storedVersions") -> list[FieldError]:
    if not stored:
        return [invalid(path, None, "must have at least one stored version")]
    errs: list[FieldError] = []
    remaining = {name: index for index, name in enumerate(stored)}
    for version in versions:
        if version.storage and version.name not in remaining:
            errs.append(invalid(path, stored, "must have the storage version " + version.name))
        remaining.pop(version.name, None)
    for name, index in sorted(remaining.items(), key=lambda kv: kv[1]):
        errs.append(invalid(f"{path}[{index}]", name,
                            f"missing from spec.versions; {name} was previously a storage "
                            f"version, and must remain in spec.versions until a storage "
                            f"migration ensures no data remains persisted in {name} and "
                            f"removes {name} from status.storedVersions"))
    return errs


def _is_protected_group(group: str) -> bool:
    return group in ("k8s.io", "kubernetes.io") or group.endswith((".k8s.io", ".kubernetes.io"))


def _approval_state(annotations: dict[str, Any]) -> tuple[str, str]:
    """``GetAPIApprovalState``: (state, reason)."""
    value = annotations.get(_API_APPROVAL_ANNOTATION)
    value = value if isinstance(value, str) else ""
    if not value:
        return "missing", (f'protected groups must have approval annotation '
                           f'"{_API_APPROVAL_ANNOTATION}", see '
                           "https://github.com/kubernetes/enhancements/pull/1111")
    if value.startswith("unapproved"):
        return "bypassed", f"not approved: {gofmt.quote(value)}"
    scheme, sep, rest = value.partition("://")
    if sep and scheme and rest.split("/")[0] and not any(c.isspace() for c in value):
        return "approved", f"approved in {value}"
    return "invalid", (f'protected groups must have approval annotation '
                       f'"{_API_APPROVAL_ANNOTATION}" with either a URL or a reason starting '
                       'with "unapproved", see https://github.com/kubernetes/enhancements/pull/1111')


def _api_approval_errors(new: Obj, old: Obj | None) -> list[FieldError]:
    if not _is_protected_group(_str(new.get("spec"), "group")):
        return []
    annotations = _map(_map(new.get("metadata")).get("annotations"))
    state, reason = _approval_state(annotations)
    if old is not None:
        old_state, _ = _approval_state(_map(_map(old.get("metadata")).get("annotations")))
        if old_state == state:
            return []
    path = f"metadata.annotations[{_API_APPROVAL_ANNOTATION}]"
    if state == "missing":
        return [required(path, reason)]
    if state == "invalid":
        return [invalid(path, annotations.get(_API_APPROVAL_ANNOTATION), reason)]
    return []


def _preserve_unknown_fields_errors(new: Obj, old: Obj | None) -> list[FieldError]:
    if old is not None and _bool(old.get("spec"), "preserveUnknownFields"):
        return []
    if _bool(new.get("spec"), "preserveUnknownFields"):
        return [invalid("spec.preserveUnknownFields", True,
                        "cannot set to true, set x-kubernetes-preserve-unknown-fields to true in "
                        "spec.versions[*].schema instead")]
    return []


def _status_errors(crd: Obj) -> list[FieldError]:
    status = _map(crd.get("status"))
    return _names_errors(_map(status.get("acceptedNames")), "status.acceptedNames")


def _crd_name_rule(spec: _Spec) -> NameRule:
    expected = f"{_str(spec.names, 'plural')}.{spec.group}"

    def rule(name: str, prefix: bool) -> list[str]:
        messages = name_is_dns_subdomain(name, prefix)
        if name != expected:
            messages = [*messages, 'must be spec.names.plural+"."+spec.group']
        return messages

    return rule


# -- public API ---------------------------------------------------------------------------


def default_crd(obj: Obj) -> None:
    """``SetDefaults_CustomResourceDefinition`` in place.

    ``names.singular`` defaults to the lower-cased kind, ``names.listKind`` to
    ``<kind>List``, ``conversion`` to ``{strategy: None}``, a webhook service port to 443,
    and an empty ``status.storedVersions`` to the storage version.
    """
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    names = spec.get("names")
    if isinstance(names, dict):
        kind = _str(names, "kind")
        if not _str(names, "singular"):
            names["singular"] = kind.lower()
        if not _str(names, "listKind") and kind:
            names["listKind"] = kind + "List"
    if not isinstance(spec.get("conversion"), dict):
        spec["conversion"] = {"strategy": "None"}
    service = _map(_map(_map(spec["conversion"].get("webhook")).get("clientConfig"))
                   .get("service"))
    if service and service.get("port") is None:
        service["port"] = 443
    status = obj.get("status")
    if not _list(_map(status).get("storedVersions")):
        for version in _list(spec.get("versions")):
            if _bool(version, "storage"):
                if not isinstance(status, dict):
                    status = {}
                    obj["status"] = status
                status["storedVersions"] = [_str(version, "name")]
                break


def _storage_version(crd: Obj) -> str | None:
    for version in _list(_map(crd.get("spec")).get("versions")):
        if _bool(version, "storage"):
            return _str(version, "name")
    return None


def prepare_crd_for_create(crd: Obj) -> None:
    """The strategy's ``PrepareForCreate``: fresh status, generation 1, stored version."""
    status: dict[str, Any] = {}
    storage = _storage_version(crd)
    if storage is not None:
        status["storedVersions"] = [storage]
    crd["status"] = status
    metadata = crd.setdefault("metadata", {})
    if isinstance(metadata, dict):
        metadata["generation"] = 1


def prepare_crd_for_update(new: Obj, old: Obj) -> None:
    """``PrepareForUpdate``: keep the old status, bump generation on spec changes, and
    record the (possibly new) storage version in ``status.storedVersions``."""
    status = copy.deepcopy(_map(old.get("status")))
    new["status"] = status
    metadata = new.setdefault("metadata", {})
    old_generation = _map(old.get("metadata")).get("generation")
    generation = old_generation if isinstance(old_generation, int) else 0
    if isinstance(metadata, dict):
        changed = new.get("spec") != old.get("spec")
        metadata["generation"] = generation + 1 if changed else generation
    storage = _storage_version(new)
    stored = _strs(status, "storedVersions")
    if storage is not None and storage not in stored:
        status["storedVersions"] = [*stored, storage]


def validate_crd(crd: Obj) -> list[FieldError]:
    """``ValidateCustomResourceDefinition``: a CRD being created (after preparation)."""
    spec = _internal_spec(crd.get("spec"))
    errs = validate_object_meta(crd.get("metadata"), namespaced=False,
                                name_rule=_crd_name_rule(spec), kube_finalizers=False)
    errs += _spec_errors(spec, _Options())
    errs += _status_errors(crd)
    errs += _stored_versions_errors(_strs(crd.get("status"), "storedVersions"), spec.versions)
    errs += _api_approval_errors(crd, None)
    errs += _preserve_unknown_fields_errors(crd, None)
    return errs


def _established(crd: Obj) -> bool:
    for condition in _list(_map(crd.get("status")).get("conditions")):
        if _str(condition, "type") == "Established" and _str(condition, "status") == "True":
            return True
    return False


def _update_options(new_spec: _Spec, old_spec: _Spec, old: Obj) -> _Options:
    """Relax rules the old object already broke, as upstream does for stored data."""
    old_schemas = _spec_schemas(old_spec)
    all_have_schema = (old_spec.validation is not None and
                       _map(old_spec.validation).get("openAPIV3Schema") is not None) or all(
        v.schema is not None and v.schema.get("openAPIV3Schema") is not None
        for v in old_spec.versions)
    non_structural = any(not _structural.is_structural(s) for s in old_schemas)
    invalid_types = _spec_has(old_spec, lambda n: bool(string(n, "type")) and
                              string(n, "type") not in _OPENAPI_V3_TYPES)
    unpruned = any(_has_unpruned_defaults(s) for s in old_schemas)
    bad_map_lists = _spec_has(old_spec, lambda n: bool(_map_list_keys_map_set(n, "")))
    allow_many: dict[str, bool] = {}
    if len(old_spec.selectable_fields) > _MAX_SELECTABLE_FIELDS and \
            new_spec.selectable_fields == old_spec.selectable_fields:
        allow_many[""] = True
    old_versions = {v.name: v for v in old_spec.versions}
    for version in new_spec.versions:
        previous = old_versions.get(version.name)
        if previous is not None and len(previous.selectable_fields) > _MAX_SELECTABLE_FIELDS \
                and version.selectable_fields == previous.selectable_fields:
            allow_many[version.name] = True
    return _Options(
        require_immutable_names=_established(old),
        require_open_api_schema=all_have_schema,
        require_valid_property_type=not invalid_types,
        require_structural_schema=not non_structural,
        require_pruned_defaults=not unpruned,
        require_atomic_set_type=not _spec_has(old_spec, _has_non_atomic_set),
        require_map_list_keys_map_set_validation=not bad_map_lists,
        allow_too_many_selectable_fields=allow_many,
    )


def _has_unpruned_defaults(schema: dict[str, Any]) -> bool:
    """``schemaHasUnprunedDefaults``: some default carries fields its schema prunes."""
    if not any("default" in node for node in _all_schemas(schema)):
        return False
    if not _structural.is_structural(schema):
        return False
    errors = _walk_defaults({**schema, "x-kubernetes-embedded-resource": True}, "",
                            inside_meta=False, require_pruned=True)
    return any(e.detail == "must not have unknown fields" for e in errors)


def validate_crd_update(new: Obj, old: Obj) -> list[FieldError]:
    """``ValidateCustomResourceDefinitionUpdate`` (after :func:`prepare_crd_for_update`).

    On top of the create rules: ``spec.group`` and ``spec.names.plural`` never change;
    ``spec.scope`` and ``spec.names.kind`` are frozen once the CRD is ``Established``. The
    storage version may move to another version; versions still listed in
    ``status.storedVersions`` may not be removed.
    """
    new_spec = _internal_spec(new.get("spec"))
    old_spec = _internal_spec(old.get("spec"))
    opts = _update_options(new_spec, old_spec, old)
    errs = validate_object_meta_update(new.get("metadata"), old.get("metadata"),
                                       kube_finalizers=False)
    errs += _spec_errors(new_spec, opts)
    if opts.require_immutable_names:
        if new_spec.scope != old_spec.scope:
            errs.append(invalid("spec.scope", new_spec.scope, "field is immutable"))
        if _str(new_spec.names, "kind") != _str(old_spec.names, "kind"):
            errs.append(invalid("spec.names.kind", _str(new_spec.names, "kind"),
                                "field is immutable"))
    if new_spec.group != old_spec.group:
        errs.append(invalid("spec.group", new_spec.group, "field is immutable"))
    if _str(new_spec.names, "plural") != _str(old_spec.names, "plural"):
        errs.append(invalid("spec.names.plural", _str(new_spec.names, "plural"),
                            "field is immutable"))
    errs += _status_errors(new)
    errs += _stored_versions_errors(_strs(new.get("status"), "storedVersions"),
                                    new_spec.versions)
    errs += _api_approval_errors(new, old)
    errs += _preserve_unknown_fields_errors(new, old)
    return errs


def validate_crd_status_update(new: Obj, old: Obj) -> list[FieldError]:
    """``ValidateUpdateCustomResourceDefinitionStatus``: metadata and accepted names."""
    errs = validate_object_meta_update(new.get("metadata"), old.get("metadata"),
                                       kube_finalizers=False)
    errs += _status_errors(new)
    return errs
