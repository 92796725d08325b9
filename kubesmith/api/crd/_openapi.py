"""kube-openapi's ``validate.SchemaValidator`` over a CRD schema, with upstream's messages.

kube-apiserver validates a custom resource with ``k8s.io/kube-openapi/pkg/validation/validate``
against the CRD's ``openAPIV3Schema`` (after ``ConvertJSONSchemaProps``), then maps each
openapi error to a ``field.Error`` (``kubeOpenAPIResultToFieldErrors``). Reproducing the
observable behaviour means reproducing that library's structure, not just JSON Schema:

* Every node runs up to eight validators in a fixed order: type, ``allOf/anyOf/oneOf/not``,
  string (``maxLength``, ``minLength``, ``pattern``: only the first failure is reported),
  format, number (``minimum`` ...), array, ``enum``, object (``required``, properties,
  ``additionalProperties``, ``min/maxProperties``). Which ones run depends on the *value's*
  JSON kind, so a string under ``type: integer`` still gets its ``pattern`` checked.
* ``anyOf``/``oneOf`` report the failures of the branch with the highest *match count*, a
  tally every validator increments as it passes; :class:`_Result` keeps that tally exactly
  as kube-openapi does so the same branch wins.
* Messages are built from the value's path (``spec.replicas``) and ``in body``:
  ``spec.replicas in body should be greater than or equal to 1``.
* Errors that are not ``*errors.Validation`` (``must validate one and only one schema
  (oneOf)``, range-check failures) are reported upstream on the *validator's* root path,
  which for a custom resource is nil and prints as ``<nil>``; that quirk is kept.

int-or-string nodes have type ``[integer, string]`` (``must be of type integer,string``),
``nullable`` admits ``null``, unsupported ``format`` values are ignored (see
:mod:`kubesmith.api.crd._formats`), and numbers keep Go's ``int64``/``float64`` split
(``1`` vs ``1.0``) because comparisons (``enum``, ``minimum`` on an integer) depend on it.
``x-kubernetes-*`` extensions other than int-or-string play no part here.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from typing import Any, Final

from kubesmith.api import gofmt
from kubesmith.api.crd import _formats, _go
from kubesmith.api.crd._regex import GoRegexError, UnsupportedRegex, compile_go
from kubesmith.api.errors import FieldError, required, too_many

_IN: Final = "body"

# kube-openapi error codes (errors/schema.go); only the ones whose handling differs matter.
_COMPOSITE = 422
_INVALID_TYPE = 600
_REQUIRED = 601
_TOO_LONG = 602
_TOO_SHORT = 603
_PATTERN = 604
_ENUM = 605
_MULTIPLE_OF = 606
_MAX = 607
_MIN = 608
_UNIQUE = 609
_MAX_ITEMS = 610
_MIN_ITEMS = 611
_TOO_FEW_PROPERTIES = 613
_TOO_MANY_PROPERTIES = 614
_UNALLOWED_PROPERTY = 615
_MULTIPLE_OF_MUST_BE_POSITIVE = 617

_INT32_MIN: Final = -(2**31)
_INT32_MAX: Final = 2**31 - 1
_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1


@dataclass(slots=True)
class _Error:
    """One kube-openapi error. ``name is None`` marks a plain (non-``Validation``) error."""

    code: int
    message: str
    name: str | None = None
    value: Any = None
    valid: Any = None
    values: list[Any] | None = None


@dataclass(slots=True)
class _Result:
    """kube-openapi's ``Result``: errors unique by message, plus the match count."""

    errors: list[_Error] = field(default_factory=list)
    match_count: int = 0

    def add(self, *errors: _Error | None) -> None:
        for error in errors:
            if error is not None and all(e.message != error.message for e in self.errors):
                self.errors.append(error)

    def merge(self, *others: _Result | None) -> _Result:
        for other in others:
            if other is not None:
                self.add(*other.errors)
                self.match_count += other.match_count
        return self

    @property
    def valid(self) -> bool:
        return not self.errors


def _only(error: _Error) -> _Result:
    """``errorHelp.sErr``: a result holding one error and no matches."""
    return _Result([error])


# -- error constructors (errors/schema.go wording) ----------------------------------------


def _invalid_type(path: str, type_name: str, value: Any) -> _Error:
    if isinstance(value, str):
        message = f"{path} in {_IN} must be of type {type_name}: {gofmt.quote(value)}"
    else:
        message = f"{path} in {_IN} must be of type {type_name}"
    return _Error(_INVALID_TYPE, message, path, value)


def _required(path: str) -> _Error:
    return _Error(_REQUIRED, f"{path} in {_IN} is required", path)


def _exceeds(path: str, bound: Any, exclusive: bool, value: Any, *, maximum: bool) -> _Error:
    if maximum:
        relation = "less than" if exclusive else "less than or equal to"
    else:
        relation = "greater than" if exclusive else "greater than or equal to"
    return _Error(_MAX if maximum else _MIN,
                  f"{path} in {_IN} should be {relation} {gofmt.format_v(bound)}", path, value)


def _plain(message: str) -> _Error:
    return _Error(_COMPOSITE, message)


# -- schema access ------------------------------------------------------------------------


def _types(schema: dict[str, Any]) -> list[str]:
    """``spec.Schema.Type`` after ``ConvertJSONSchemaProps``."""
    if schema.get("x-kubernetes-int-or-string") is True:
        return ["integer", "string"]
    declared = schema.get("type")
    return [declared] if isinstance(declared, str) and declared else []


def _format(schema: dict[str, Any], types: list[str]) -> str:
    declared = schema.get("format")
    if not isinstance(declared, str):
        return ""
    return _formats.effective_format(types[0] if len(types) == 1 else "", declared)


def _number(schema: dict[str, Any], key: str) -> float | None:
    value = schema.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _integer(schema: dict[str, Any], key: str) -> int | None:
    value = schema.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(value)


def _sub_schemas(schema: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = schema.get(key)
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, dict)]


# -- the validators -----------------------------------------------------------------------


def _validate_type(schema: dict[str, Any], types: list[str], fmt: str, path: str,
                   data: Any) -> _Result:
    result = _Result(match_count=1)
    if data is None:
        if types and "null" not in types and schema.get("nullable") is not True:
            return _only(_invalid_type(path, ",".join(types), "null"))
        return result
    kind = gofmt.kind_of(data)
    sch_type, data_format = {
        "bool": ("boolean", ""), "string": ("string", ""), "int": ("integer", "int64"),
        "float": ("number", "float64"), "slice": ("array", ""), "map": ("object", ""),
    }.get(kind, ("", ""))
    is_float_int = sch_type == "number" and _go.is_json_integer(data) and "integer" in types
    is_int_float = sch_type == "integer" and "number" in types
    if kind not in ("string", "slice") and fmt and not (
            sch_type in types or data_format == fmt or is_float_int or is_int_float):
        return _only(_invalid_type(path, fmt, data_format))
    if "number" not in types and "integer" not in types and fmt and kind in ("string", "slice"):
        return result
    if not (sch_type in types or is_float_int or is_int_float):
        return _only(_invalid_type(path, ",".join(types), sch_type))
    return result


def _validate_string(schema: dict[str, Any], path: str, data: str) -> _Result | None:
    length = len(data)  # code points, as utf8.RuneCount
    max_length = _integer(schema, "maxLength")
    if max_length is not None and length > max_length:
        return _only(_Error(_TOO_LONG, f"{path} in {_IN} should be at most {max_length} chars "
                            "long", path, data, max_length))
    min_length = _integer(schema, "minLength")
    if min_length is not None and length < min_length:
        return _only(_Error(_TOO_SHORT, f"{path} in {_IN} should be at least {min_length} "
                            "chars long", path, data, min_length))
    pattern = schema.get("pattern")
    if isinstance(pattern, str) and pattern:
        try:
            matched = compile_go(pattern).search(data) is not None
        except GoRegexError as exc:
            return _only(_Error(_PATTERN, f"{path} in {_IN} should match '{pattern}, but "
                                f"pattern is invalid: {exc}'", path, data))
        except UnsupportedRegex:
            # Valid for Go but not expressible here: not enforced (see _regex).
            matched = True
        if not matched:
            return _only(_Error(_PATTERN, f"{path} in {_IN} should match '{pattern}'",
                                path, data))
    return None


def _validate_format(fmt: str, path: str, data: str) -> _Result | None:
    if not _formats.validates(fmt, data):
        return _only(_invalid_type(path, fmt, data))
    return None


def _range_error(value: float, type_name: str, fmt: str, prefix: str, path: str) -> _Error | None:
    """``IsValueValidAgainstRange``: can the value be held by the node's numeric type?"""
    text = str(value) if isinstance(value, int) else gofmt.format_f(value)
    ok = True
    if type_name == "integer":
        low, high = (_INT32_MIN, _INT32_MAX) if fmt == "int32" else (_INT64_MIN, _INT64_MAX)
        digits = text.lstrip("+-")
        ok = digits.isdigit() and low <= int(text) <= high
    elif fmt == "float":
        try:
            struct.pack("<f", float(text))
        except OverflowError:
            ok = False
    if ok:
        return None
    if fmt:
        return _plain(f"{prefix} value must be of type {type_name} with format {fmt} in {path}")
    return _plain(f"{prefix} value must be of type {type_name} (default format) in {path}")


def _multiple_of(path: str, data: float | int, factor: float) -> _Error | None:
    """``MultipleOfNativeType``: integers use integer arithmetic (factor truncated)."""
    if isinstance(data, int):
        int_factor = int(factor)
        if int_factor <= 0:
            return _Error(_MULTIPLE_OF_MUST_BE_POSITIVE, "factor MultipleOf declared for "
                          f"{path} must be positive: {int_factor}", path, int_factor)
        if data % int_factor != 0:
            return _Error(_MULTIPLE_OF, f"{path} in {_IN} should be a multiple of "
                          f"{int_factor}", path, data)
        return None
    return _float_multiple_of(path, data, factor)


def _float_multiple_of(path: str, data: float, factor: float) -> _Error | None:
    if factor <= 0:
        return _Error(_MULTIPLE_OF_MUST_BE_POSITIVE, "factor MultipleOf declared for "
                      f"{path} must be positive: {gofmt.format_v(factor)}", path, factor)
    quotient = (1 / factor * data) if factor < 1 else data / factor
    if not _go.is_json_integer(quotient):
        return _Error(_MULTIPLE_OF, f"{path} in {_IN} should be a multiple of "
                      f"{gofmt.format_v(factor)}", path, data)
    return None


def _bound(path: str, data: float | int, bound: float, exclusive: bool, *,
           maximum: bool) -> _Error | None:
    """``Maximum/MinimumNativeType``: integer data compares with the truncated bound."""
    if isinstance(data, int):
        limit: float | int = int(bound)
    else:
        limit = bound
    if maximum:
        failed = data >= limit if exclusive else data > limit
    else:
        failed = data <= limit if exclusive else data < limit
    return _exceeds(path, limit, exclusive, data, maximum=maximum) if failed else None


def _validate_number(schema: dict[str, Any], types: list[str], path: str,
                     data: float | int) -> _Result:
    type_name = ""
    fmt = ""
    if len(types) == 1 and types[0] in ("integer", "number"):
        type_name = types[0]
        declared = schema.get("format")
        allowed = _formats.INTEGER_FORMATS if type_name == "integer" else _formats.NUMBER_FORMATS
        if isinstance(declared, str) and declared in allowed:
            fmt = declared
    result = _Result()
    result.add(_range_error(data, type_name, fmt, "Checked", path))
    as_float = float(data)
    checks: list[_Result] = []
    factor = _number(schema, "multipleOf")
    if factor is not None:
        sub = _Result()
        sub.add(_range_error(factor, type_name, fmt, "MultipleOf", path))
        sub.add(_multiple_of(path, data, factor) if sub.valid
                else _float_multiple_of(path, as_float, factor))
        checks.append(sub)
    for key, maximum in (("minimum", False), ("maximum", True)):
        bound = _number(schema, key)
        if bound is None:
            continue
        exclusive = schema.get("exclusiveMaximum" if maximum else "exclusiveMinimum") is True
        sub = _Result()
        label = "Maximum boundary" if maximum else "Minimum boundary"
        sub.add(_range_error(bound, type_name, fmt, label, path))
        sub.add(_bound(path, data, bound, exclusive, maximum=maximum) if sub.valid
                else _bound(path, as_float, bound, exclusive, maximum=maximum))
        checks.append(sub)
    # Merged in kube-openapi's order: multipleOf, minimum, maximum.
    result.merge(*checks)
    result.match_count += 1
    return result


def _validate_slice(schema: dict[str, Any], path: str, data: list[Any]) -> _Result:
    result = _Result()
    items = schema.get("items")
    if isinstance(items, dict):
        for index, item in enumerate(data):
            result.merge(_SchemaValidator(items, f"{path}[{index}]").validate(item))
    size = len(data)
    min_items = _integer(schema, "minItems")
    if min_items is not None and size < min_items:
        result.add(_Error(_MIN_ITEMS, f"{path} in {_IN} should have at least {min_items} items",
                          path, size, min_items))
    max_items = _integer(schema, "maxItems")
    if max_items is not None and size > max_items:
        result.add(_Error(_MAX_ITEMS, f"{path} in {_IN} should have at most {max_items} items",
                          path, size, max_items))
    if schema.get("uniqueItems") is True:
        seen: list[Any] = []
        for item in data:
            if any(_go.deep_equal(item, other) for other in seen):
                result.add(_Error(_UNIQUE, f"{path} in {_IN} shouldn't contain duplicates", path))
                break
            seen.append(item)
    result.match_count += 1
    return result


def _go_convert(data: Any, target: Any) -> tuple[bool, Any]:
    """``reflect.Value.Convert`` from the data's Go type to the enum value's Go type."""
    kind, target_kind = gofmt.kind_of(data), gofmt.kind_of(target)
    if kind == target_kind:
        return True, data
    if kind in ("int", "float") and target_kind in ("int", "float"):
        return True, (math.trunc(data) if target_kind == "int" else float(data))
    if kind == "int" and target_kind == "string":
        # Go converts an integer to the string of that rune.
        valid = 0 <= data <= 0x10FFFF and not 0xD800 <= data <= 0xDFFF
        return True, chr(data) if valid else "\ufffd"
    return False, None


def _validate_enum(schema: dict[str, Any], path: str, data: Any) -> _Result | None:
    enum = schema.get("enum")
    if not isinstance(enum, list) or not enum:
        return None
    for allowed in enum:
        if allowed is None or data is None:
            continue
        convertible, converted = _go_convert(data, allowed)
        if convertible and _go.deep_equal(converted, allowed):
            return None
    return _only(_Error(_ENUM, f"{path} in {_IN} should be one of {gofmt.format_v(enum)}", path,
                        data, values=list(enum)))


def _validate_object(schema: dict[str, Any], path: str, data: dict[str, Any]) -> _Result:
    result = _Result()
    size = len(data)
    min_properties = _integer(schema, "minProperties")
    if min_properties is not None and size < min_properties:
        result.add(_Error(_TOO_FEW_PROPERTIES, f"{path} in {_IN} should have at least "
                          f"{min_properties} properties", path, size, min_properties))
    max_properties = _integer(schema, "maxProperties")
    if max_properties is not None and size > max_properties:
        result.add(_Error(_TOO_MANY_PROPERTIES, f"{path} in {_IN} should have at most "
                          f"{max_properties} properties", path, size, max_properties))
    properties = schema.get("properties")
    properties = properties if isinstance(properties, dict) else {}
    additional = schema.get("additionalProperties")
    if additional is False:
        for key in data:
            if key not in properties:
                result.add(_Error(_UNALLOWED_PROPERTY,
                                  f"{path}.{key} in {_IN} is a forbidden property", path, key))
    elif isinstance(additional, dict):
        for key, value in data.items():
            if key not in properties:
                result.merge(_SchemaValidator(additional, f"{path}.{key}").validate(value))
    for name, sub in properties.items():
        if name in data and isinstance(sub, dict):
            child_path = f"{path}.{name}" if path else name
            result.merge(_SchemaValidator(sub, child_path).validate(data[name]))
    required_names = schema.get("required")
    if isinstance(required_names, list):
        for name in required_names:
            if isinstance(name, str) and name not in data:
                result.add(_required(f"{path}.{name}"))
    return result


class _SchemaValidator:
    """One ``validate.SchemaValidator``: a schema node bound to the path of the value."""

    __slots__ = ("path", "schema")

    def __init__(self, schema: dict[str, Any], path: str) -> None:
        self.schema = schema
        self.path = path

    def validate(self, data: Any) -> _Result:
        schema, path = self.schema, self.path
        types = _types(schema)
        fmt = _format(schema, types)
        result = _Result()
        if data is None:
            # Only the type and enum validators look at null (the type one unconditionally).
            result.merge(_validate_type(schema, types, fmt, path, None))
            result.merge(_validate_enum(schema, path, None))
            return result
        kind = gofmt.kind_of(data)
        if types or fmt:
            result.merge(_validate_type(schema, types, fmt, path, data))
            result.match_count += 1
        result.merge(self._schema_props(data))
        result.match_count += 1
        if kind == "string":
            result.merge(_validate_string(schema, path, data))
            result.match_count += 1
            if fmt and _formats.is_known(fmt):
                result.merge(_validate_format(fmt, path, data))
                result.match_count += 1
        if kind in ("int", "float"):
            result.merge(_validate_number(schema, types, path, data))
            result.match_count += 1
        if kind == "slice":
            result.merge(_validate_slice(schema, path, data))
            result.match_count += 1
        result.merge(_validate_enum(schema, path, data))
        result.match_count += 1
        if kind == "map":
            result.merge(_validate_object(schema, path, data))
            result.match_count += 1
        result.match_count += 1
        return result

    def _schema_props(self, data: Any) -> _Result:
        """``allOf``/``anyOf``/``oneOf``/``not`` (``schemaPropsValidator``)."""
        schema, path = self.schema, self.path
        main = _Result()
        any_of = _sub_schemas(schema, "anyOf")
        if any_of:
            best: _Result | None = None
            first_success: _Result | None = None
            succeeded = False
            for sub in any_of:
                result = _SchemaValidator(sub, path).validate(data)
                if result.valid:
                    best, succeeded, first_success = None, True, result
                    break
                if best is None or result.match_count > best.match_count:
                    best = result
            if not succeeded:
                main.add(_plain(f"{gofmt.quote(path)} must validate at least one schema (anyOf)"))
            main.merge(best if best is not None else first_success)
        one_of = _sub_schemas(schema, "oneOf")
        if one_of:
            best = None
            first_success = None
            valid_count = 0
            for sub in one_of:
                result = _SchemaValidator(sub, path).validate(data)
                if result.valid:
                    valid_count += 1
                    best = None
                    if first_success is None:
                        first_success = result
                    continue
                if valid_count == 0 and (best is None or result.match_count > best.match_count):
                    best = result
            if valid_count != 1:
                found = "Found none valid" if valid_count == 0 else \
                    f"Found {valid_count} valid alternatives"
                main.add(_plain(f"{gofmt.quote(path)} must validate one and only one schema "
                                f"(oneOf). {found}"))
                main.merge(best)
            else:
                main.merge(first_success)
        all_of = _sub_schemas(schema, "allOf")
        if all_of:
            passed = 0
            for sub in all_of:
                result = _SchemaValidator(sub, path).validate(data)
                passed += result.valid
                main.merge(result)
            if passed != len(all_of):
                suffix = ". None validated" if passed == 0 else ""
                main.add(_plain(f"{gofmt.quote(path)} must validate all the schemas "
                                f"(allOf){suffix}"))
        not_schema = schema.get("not")
        if isinstance(not_schema, dict) and _SchemaValidator(not_schema, path).validate(data).valid:
            main.add(_plain(f"{gofmt.quote(path)} must not validate the schema (not)"))
        main.match_count += 1
        return main


# -- mapping to field errors (kubeOpenAPIResultToFieldErrors) -----------------------------


def _child(base: str | None, name: str) -> str:
    return name if base is None else f"{base}.{name}"


def _not_supported(path: str, value: Any, allowed: list[Any]) -> FieldError:
    shown = [v if isinstance(v, str) else gofmt.marshal(v) for v in allowed]
    detail = "supported values: " + ", ".join(gofmt.quote(v) for v in shown) if shown else ""
    return FieldError("FieldValueNotSupported", path, detail, value, True)


def _to_field_error(error: _Error, base: str | None) -> FieldError:
    if error.name is None:
        return FieldError("FieldValueInvalid", base if base is not None else "<nil>",
                          error.message, "", True)
    path = base
    if error.name and error.name != ".":
        path = _child(base, error.name.removeprefix("."))
    where = path if path is not None else "<nil>"
    value = error.value if error.value is not None else ""
    if error.code == _REQUIRED:
        return required(where, "")
    if error.code == _ENUM:
        return _not_supported(where, error.value, error.values or [])
    if error.code == _TOO_LONG:
        limit = error.valid if isinstance(error.valid, int) else -1
        if limit >= 0:
            detail = f"may not be more than {limit} byte" + ("" if limit == 1 else "s")
        else:
            detail = "value is too long"
        return FieldError("FieldValueTooLong", where, detail, "<value omitted>", False)
    if error.code in (_MAX_ITEMS, _TOO_MANY_PROPERTIES):
        actual = error.value if isinstance(error.value, int) else -1
        limit = error.valid if isinstance(error.valid, int) else -1
        return too_many(where, actual, limit)
    if error.code == _INVALID_TYPE:
        return FieldError("FieldValueTypeInvalid", where, error.message, value, True)
    return FieldError("FieldValueInvalid", where, error.message, value, True)


def validate_value(value: Any, schema: dict[str, Any], base: str | None = None) -> list[FieldError]:
    """Validate ``value`` against ``schema`` as ``ValidateCustomResource(base, ...)`` does.

    ``base`` is the field path the validator was built with: ``None`` for a whole custom
    resource (root errors then read ``<nil>``), ``"status"`` for the status subresource,
    ``...default`` when checking a schema default.
    """
    result = _SchemaValidator(schema, "").validate(value)
    return [_to_field_error(error, base) for error in result.errors]
