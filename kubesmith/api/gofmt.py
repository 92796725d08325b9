"""Go's text for decoded JSON values, wherever upstream's exact wording or bytes leak out.

kube-apiserver prints values with ``fmt`` and writes JSON with ``encoding/json`` (and, for
FieldsV1 path elements, json-iterator); error messages, sort keys and stored bytes built
that way are compared as text by clients and tests, so this module reproduces them:

* :func:`format_v` is ``fmt.Sprintf("%v", x)`` (floats in the shortest form, with an
  exponent from ``1e+06`` up and below ``1e-04``; maps as ``map[k:v]`` with sorted keys);
* :func:`format_sharp_v` is ``%#v`` of a value held in an ``interface{}``;
* :func:`format_g` is ``strconv.FormatFloat(f, 'g', -1, 64)`` (a float's ``%v``), built
  like the others from :func:`shortest_digits`, :func:`format_e` and :func:`format_plain`;
* :func:`format_f` is ``strconv.FormatFloat(f, 'f', -1, 64)`` (never an exponent);
* :func:`type_name` is ``%T`` and :func:`kind_of` the kind a type switch sees;
* :func:`quote` is ``strconv.Quote`` (what ``%q`` prints);
* :func:`marshal` is ``json.Marshal`` (compact, sorted map keys, HTML escaping, Go's float
  spelling), :func:`json_string` the string literal alone; ``jsoniter=True`` selects
  json-iterator's ``ConfigCompatibleWithStandardLibrary``, which still writes ``\\b`` and
  ``\\f`` as ``\\u0008``/``\\u000c`` as ``encoding/json`` did before Go 1.22;
* :class:`GoStruct` marks a dict that upstream holds as a struct (fields keep their
  declaration order in JSON; ``%v`` prints ``{v1 v2}``).

Values are decoded JSON as Go's apimachinery decodes it: integral literals are ``int``
(``int64``), the others ``float`` (``float64``), which is what :mod:`json` and orjson
produce. This module is pure string formatting and imports nothing from kubesmith.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any, Final

__all__ = [
    "GoStruct",
    "format_f",
    "format_sharp_v",
    "format_v",
    "json_string",
    "marshal",
    "quote",
    "type_name",
]


class GoStruct(dict[str, Any]):
    """A Go struct value: JSON keeps the field order, ``%v`` prints ``{v1 v2 ...}``.

    Plain dicts are Go maps (``map[string]interface{}``), whose keys ``json.Marshal`` and
    ``fmt`` sort; values upstream holds as structs (shown in some errors) use this type.
    """


# -- numbers ---------------------------------------------------------------------------


def shortest_digits(value: float) -> tuple[str, int]:
    """Shortest round-trip decimal digits of ``abs(value)`` and the decimal point position.

    Python's ``repr`` and Go's ``strconv`` both produce the shortest digit string that
    round-trips, so the digits agree; the position counts digits before the point.
    """
    _, digit_tuple, exponent = Decimal(repr(abs(value))).normalize().as_tuple()
    assert isinstance(exponent, int)
    digits = "".join(map(str, digit_tuple))
    return digits, len(digits) + exponent


def format_e(negative: bool, digits: str, point: int) -> str:
    """``d.ddde±XX`` from :func:`shortest_digits` (strconv's ``'e'`` with shortest digits)."""
    exp = point - 1
    mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    return ("-" if negative else "") + f"{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"


def format_plain(negative: bool, digits: str, point: int) -> str:
    """``ddd.ddd`` from :func:`shortest_digits` (strconv's ``'f'`` with shortest digits)."""
    if point <= 0:
        text = "0." + "0" * -point + digits
    elif point >= len(digits):
        text = digits + "0" * (point - len(digits))
    else:
        text = digits[:point] + "." + digits[point:]
    return ("-" if negative else "") + text


def _zero(value: float) -> str:
    return "-0" if math.copysign(1.0, value) < 0 else "0"


def format_g(value: float) -> str:
    """``strconv.FormatFloat(value, 'g', -1, 64)``: Go's ``%v`` of a ``float64``."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return _zero(value)
    digits, point = shortest_digits(value)
    # With the shortest precision Go switches to %e below 1e-4 and from 1e+06 on.
    if point - 1 < -4 or point - 1 >= 6:
        return format_e(value < 0, digits, point)
    return format_plain(value < 0, digits, point)


def format_f(value: float) -> str:
    """``strconv.FormatFloat(value, 'f', -1, 64)``: shortest digits, never an exponent."""
    if math.isnan(value) or math.isinf(value):
        return format_g(value)
    if value == 0:
        return _zero(value)
    digits, point = shortest_digits(value)
    return format_plain(value < 0, digits, point)


def _json_float(value: float) -> str:
    """``encoding/json``'s float64 encoder (json-iterator's is the same)."""
    if math.isnan(value) or math.isinf(value):
        raise ValueError(f"json: unsupported value: {format_g(value)}")
    if value == 0:
        return _zero(value)
    digits, point = shortest_digits(value)
    magnitude = abs(value)
    if magnitude < 1e-6 or magnitude >= 1e21:
        text = format_e(value < 0, digits, point)
        # encoding/json writes 1e-7, not strconv's 1e-07.
        if text[-4] == "e" and text[-3] == "-" and text[-2] == "0":
            text = text[:-2] + text[-1]
        return text
    return format_plain(value < 0, digits, point)


# -- strings ---------------------------------------------------------------------------

_HEX: Final = "0123456789abcdef"


def _json_table(short_b_f: bool) -> dict[int, str]:
    escapes = {code: "\\u00" + _HEX[code >> 4] + _HEX[code & 0xF] for code in range(0x20)}
    escapes.update({
        ord('"'): '\\"', ord("\\"): "\\\\", ord("\n"): "\\n", ord("\r"): "\\r",
        ord("\t"): "\\t", ord("<"): "\\u003c", ord(">"): "\\u003e", ord("&"): "\\u0026",
        0x2028: "\\u2028", 0x2029: "\\u2029",
    })
    if short_b_f:
        escapes[ord("\b")] = "\\b"
        escapes[ord("\f")] = "\\f"
    return escapes


# encoding/json since Go 1.22 (HTML escaping on, as json.Marshal has it).
_JSON_TABLE: Final = _json_table(short_b_f=True)
# json-iterator's ConfigCompatibleWithStandardLibrary (and encoding/json before Go 1.22).
_JSONITER_TABLE: Final = _json_table(short_b_f=False)


def json_string(text: str, *, jsoniter: bool = False) -> str:
    """A JSON string literal as ``encoding/json`` (or with ``jsoniter``, json-iterator) writes."""
    return '"' + text.translate(_JSONITER_TABLE if jsoniter else _JSON_TABLE) + '"'


_QUOTE_ESCAPES: Final = {
    "\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
    "\v": "\\v", "\\": "\\\\", '"': '\\"',
}


def quote(text: str) -> str:
    """``strconv.Quote``: printable runes kept, the rest escaped the way Go does (``%q``)."""
    if text.isprintable() and '"' not in text and "\\" not in text:
        return '"' + text + '"'
    out = ['"']
    for char in text:
        escaped = _QUOTE_ESCAPES.get(char)
        if escaped is not None:
            out.append(escaped)
        elif char.isprintable():
            out.append(char)
        elif (code := ord(char)) < 0x80:
            out.append(f"\\x{code:02x}")
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


# -- JSON ------------------------------------------------------------------------------


def _map_key(key: Any) -> str:
    """A map key as ``encoding/json`` writes it: strings as they are, integers in decimal."""
    if isinstance(key, str):
        return key
    if isinstance(key, int) and not isinstance(key, bool):
        return str(key)
    raise TypeError(f"json: unsupported map key type: {type(key).__name__}")


def _marshal(value: Any, table: dict[int, str]) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.translate(table) + '"'
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _json_float(value)
    if isinstance(value, GoStruct):
        return "{" + ",".join(
            '"' + key.translate(table) + '":' + _marshal(item, table)
            for key, item in value.items()) + "}"
    if isinstance(value, dict):
        items = sorted(((_map_key(key), item) for key, item in value.items()),
                       key=lambda kv: kv[0])
        return "{" + ",".join(
            '"' + key.translate(table) + '":' + _marshal(item, table)
            for key, item in items) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_marshal(item, table) for item in value) + "]"
    raise TypeError(f"json: unsupported type: {type(value).__name__}")


def marshal(value: Any, *, jsoniter: bool = False) -> str:
    """``json.Marshal`` of decoded JSON: compact, sorted map keys, Go's float spelling.

    ``jsoniter`` selects json-iterator's escaping (what structured-merge-diff writes FieldsV1
    path elements with). Raises :class:`ValueError` for NaN and infinities and
    :class:`TypeError` for values JSON has no form for, where Go returns an error.
    """
    return _marshal(value, _JSONITER_TABLE if jsoniter else _JSON_TABLE)


# -- fmt -------------------------------------------------------------------------------


def format_v(value: Any) -> str:
    """``fmt.Sprintf("%v", value)``: ``<nil>``, ``1e+06``, ``map[a:1 b:[x y]]``, ``{1 x}``."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_g(value)
    if isinstance(value, str):
        return value
    if isinstance(value, GoStruct):
        return "{" + " ".join(format_v(item) for item in value.values()) + "}"
    if isinstance(value, dict):
        items = sorted(value.items(), key=lambda kv: str(kv[0]))
        return "map[" + " ".join(f"{key}:{format_v(item)}" for key, item in items) + "]"
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(format_v(item) for item in value) + "]"
    return str(value)


def format_sharp_v(value: Any) -> str:
    """``%#v`` of decoded JSON held in an ``interface{}`` (a struct field or map value)."""
    if value is None:
        return "interface {}(nil)"
    if isinstance(value, str):
        return quote(value)
    if isinstance(value, dict):
        items = sorted(value.items(), key=lambda kv: str(kv[0]))
        inner = ", ".join(f"{quote(str(key))}:{format_sharp_v(item)}" for key, item in items)
        return "map[string]interface {}{" + inner + "}"
    if isinstance(value, (list, tuple)):
        return "[]interface {}{" + ", ".join(format_sharp_v(item) for item in value) + "}"
    return format_v(value)


def kind_of(value: Any) -> str:
    """The kind of a decoded JSON value as Go code switches on it: ``bool``, ``int``,
    ``float``, ``string``, ``slice``, ``map``, or ``other``."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "slice"
    if isinstance(value, dict):
        return "map"
    return "other"


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
    if isinstance(value, (list, tuple)):
        return "[]interface {}"
    return "map[string]interface {}"
