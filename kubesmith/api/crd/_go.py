"""Go formatting and comparison rules that leak into upstream's CRD error messages.

The apiextensions-apiserver builds its messages with Go's ``fmt`` and ``encoding/json`` and
compares values with ``reflect``; to word errors (and order them) exactly as kube-apiserver
does, a few of those rules are reproduced here:

* :func:`format_v` is ``fmt.Sprintf("%v", x)`` for the JSON scalars (floats print in the
  shortest form, with an exponent from ``1e+06`` up and below ``1e-04``);
* :func:`format_f` is ``strconv.FormatFloat(f, 'f', -1, 64)`` (used by kube-openapi's range
  checks);
* :func:`marshal` is ``json.Marshal`` of decoded JSON (sorted map keys, compact, Go's float
  spelling and HTML escaping), with :class:`GoStruct` for struct values kept in field order;
* :func:`quote` is ``strconv.Quote`` (what ``%q`` prints);
* :func:`error_string` is ``field.Error.Error()``, the key upstream sorts some lists by;
* :func:`deep_equal` is ``reflect.DeepEqual`` over decoded JSON, where ``1`` (``int64``) and
  ``1.0`` (``float64``) differ, unlike in Python;
* :func:`is_json_integer` is go-openapi's ``swag.IsFloat64AJSONInteger``.

JSON numbers decode as in Go's apimachinery: integral literals are ``int`` (``int64``), the
others ``float`` (``float64``), which is also what :mod:`json` and orjson produce.
"""

from __future__ import annotations

import math
import sys
from decimal import Decimal
from typing import Any, Final

from kubesmith.api.errors import FieldError

_MAX_JSON_FLOAT: Final = float(2**53 - 1)
_SMALLEST_NONZERO: Final = 5e-324
_EPSILON: Final = 1e-9


def _digits(value: float) -> tuple[str, int]:
    """Shortest round-trip decimal digits of ``abs(value)`` and the decimal point position.

    Python's ``repr`` and Go's ``strconv`` both produce the shortest digit string that
    round-trips, so the digits agree; ``dp`` counts digits before the decimal point.
    """
    sign_digits_exp = Decimal(repr(abs(value))).normalize().as_tuple()
    digits = "".join(str(d) for d in sign_digits_exp.digits)
    exponent = sign_digits_exp.exponent
    assert isinstance(exponent, int)
    if digits == "0":
        return "0", 1
    return digits, len(digits) + exponent


def _format_e(negative: bool, digits: str, dp: int) -> str:
    exp = dp - 1
    mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    sign = "-" if exp < 0 else "+"
    return ("-" if negative else "") + f"{mantissa}e{sign}{abs(exp):02d}"


def _format_plain(negative: bool, digits: str, dp: int) -> str:
    if dp <= 0:
        text = "0." + "0" * (-dp) + digits
    elif dp >= len(digits):
        text = digits + "0" * (dp - len(digits))
    else:
        text = digits[:dp] + "." + digits[dp:]
    return ("-" if negative else "") + text


def format_f(value: float) -> str:
    """``strconv.FormatFloat(value, 'f', -1, 64)``: never an exponent."""
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    digits, dp = _digits(value)
    return _format_plain(value < 0, digits, dp)


def _format_g(value: float) -> str:
    """``strconv.FormatFloat(value, 'g', -1, 64)``: Go's ``%v`` for a ``float64``."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    digits, dp = _digits(value)
    exp = dp - 1
    # With the shortest precision Go switches to %e below 1e-4 and from 1e+06 on.
    if exp < -4 or exp >= 6:
        return _format_e(value < 0, digits, dp)
    return _format_plain(value < 0, digits, dp)


def format_v(value: Any) -> str:
    """``fmt.Sprintf("%v", value)`` for JSON scalars (and JSON for the rest)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _format_g(value)
    if isinstance(value, str):
        return value
    if value is None:
        return "<nil>"
    if isinstance(value, dict):
        items = sorted(value.items(), key=lambda kv: str(kv[0]))
        return "map[" + " ".join(f"{k}:{format_v(v)}" for k, v in items) + "]"
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(format_v(v) for v in value) + "]"
    return str(value)


def type_name(value: Any) -> str:
    """``fmt.Sprintf("%T", value)`` for decoded JSON."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int64"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "[]interface {}"
    return "map[string]interface {}"


def _json_float(value: float) -> str:
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    digits, dp = _digits(value)
    magnitude = abs(value)
    if magnitude < 1e-6 or magnitude >= 1e21:
        text = _format_e(value < 0, digits, dp)
        # encoding/json writes 1e-7, not strconv's 1e-07.
        if len(text) >= 4 and text[-4] == "e" and text[-3] == "-" and text[-2] == "0":
            text = text[:-2] + text[-1]
        return text
    return _format_plain(value < 0, digits, dp)


_JSON_ESCAPES: Final = {
    '"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t",
    "<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029",
}


def _json_string(value: str) -> str:
    out = ['"']
    for char in value:
        escaped = _JSON_ESCAPES.get(char)
        if escaped is not None:
            out.append(escaped)
        elif ord(char) < 0x20:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


class GoStruct(dict[str, Any]):
    """A Go struct rendered as JSON: fields keep their declaration order when marshalled.

    Plain dicts are Go maps (``map[string]interface{}``), whose keys ``json.Marshal``
    sorts; error values that upstream holds as structs use this type instead.
    """


def marshal(value: Any) -> str:
    """``json.Marshal`` of decoded JSON: sorted map keys, no spaces, Go float spelling."""
    if isinstance(value, GoStruct):
        return "{" + ",".join(_json_string(k) + ":" + marshal(v) for k, v in value.items()) + "}"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _json_float(value)
    if isinstance(value, str):
        return _json_string(value)
    if isinstance(value, dict):
        items = sorted(value.items(), key=lambda kv: str(kv[0]))
        return "{" + ",".join(_json_string(str(k)) + ":" + marshal(v) for k, v in items) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(marshal(v) for v in value) + "]"
    return _json_string(str(value))


_QUOTE_ESCAPES: Final = {
    "\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
    "\v": "\\v", "\\": "\\\\", '"': '\\"',
}


def quote(value: str) -> str:
    """``strconv.Quote``: Go's double-quoted literal (``%q``)."""
    out = ['"']
    for char in value:
        escaped = _QUOTE_ESCAPES.get(char)
        if escaped is not None:
            out.append(escaped)
        elif char.isprintable() or char == " ":
            out.append(char)
        elif ord(char) < 0x80:
            out.append(f"\\x{ord(char):02x}")
        elif ord(char) <= 0xFFFF:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(f"\\U{ord(char):08x}")
    out.append('"')
    return "".join(out)


_NO_VALUE_TYPES: Final = frozenset({
    "FieldValueRequired", "FieldValueForbidden", "FieldValueTooLong", "FieldValueTooShort",
    "InternalError",
})

_TYPE_HEADS: Final = {
    "FieldValueNotFound": "Not found",
    "FieldValueRequired": "Required value",
    "FieldValueDuplicate": "Duplicate value",
    "FieldValueInvalid": "Invalid value",
    "FieldValueNotSupported": "Unsupported value",
    "FieldValueForbidden": "Forbidden",
    "FieldValueTooLong": "Too long",
    "FieldValueTooMany": "Too many",
    "FieldValueTooFew": "Too few",
    "InternalError": "Internal error",
    "FieldValueTypeInvalid": "Invalid value",
    "FieldValueTooShort": "Too short",
}


def error_string(error: FieldError) -> str:
    """``field.Error.Error()``: ``path: Head[: value][: detail]`` with Go's value rendering."""
    head = _TYPE_HEADS.get(error.type, error.type)
    if error.type in _NO_VALUE_TYPES or not error.has_value:
        body = head
    else:
        value = error.value
        if isinstance(value, str):
            body = f"{head}: {quote(value)}"
        elif isinstance(value, (bool, int, float)):
            body = f"{head}: {format_v(value)}"
        else:
            body = f"{head}: {marshal(value)}"
    if error.detail:
        body += ": " + error.detail
    return f"{error.field}: {body}"


def deep_equal(left: Any, right: Any) -> bool:
    """``reflect.DeepEqual`` over decoded JSON: numbers of different Go types never match."""
    if type(left) is not type(right):
        return False
    if isinstance(left, dict):
        return left.keys() == right.keys() and all(deep_equal(v, right[k])
                                                   for k, v in left.items())
    if isinstance(left, list):
        return len(left) == len(right) and all(deep_equal(a, b)
                                               for a, b in zip(left, right, strict=True))
    return bool(left == right)


def is_json_integer(value: float) -> bool:
    """go-openapi's ``IsFloat64AJSONInteger``: integral within 2^53, up to a 1e-9 relative error.

    The relative tolerance makes ``0.3 / 0.1`` an integer; the ``uint64`` conversion it leans
    on makes negative non-integers fail it, which is reproduced (amd64 semantics).
    """
    if math.isnan(value) or math.isinf(value) or abs(value) > _MAX_JSON_FLOAT:
        return False
    if value == math.trunc(value):
        return True
    truncated = math.trunc(value)
    if value < 0:
        # uint64(negative float) wraps the truncated int64 around 2^64 on amd64.
        converted = 0.0 if truncated == 0 else float(truncated + 2**64)
    else:
        converted = float(truncated)
    diff = abs(value - converted)
    if converted == 0 or diff < _SMALLEST_NONZERO:
        return diff < _EPSILON * _SMALLEST_NONZERO
    return diff / min(abs(value) + abs(converted), sys.float_info.max) < _EPSILON
