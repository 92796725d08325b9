"""Go-compatible text for the few places where managedFields bytes must match upstream.

Upstream writes FieldsV1 path elements (``k:{"name":"a"}``, ``v:"x"``) with json-iterator
configured like ``encoding/json`` and prints conflict paths with ``fmt``'s ``%q`` and
``%v``. Those strings are part of the stored object (a ``k:`` key is compared as text by
every client that reads managedFields), so this module reproduces them exactly:

* :func:`go_json` — compact JSON as ``encoding/json``/json-iterator write it: ``<``, ``>``
  and ``&`` escaped as ``\\u003c``..., ``U+2028``/``U+2029`` escaped, map keys sorted,
  floats in Go's shortest form (``80`` not ``80.0``, ``1e-7`` not ``1e-07``).
* :func:`go_quote` — ``strconv.Quote`` (``%q``), used in conflict paths ``[name="a"]``.
* :func:`go_value_string` — ``value.ToString`` of structured-merge-diff, used in paths.

Everything here is pure string formatting over decoded JSON values.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

__all__ = ["go_float_v", "go_json", "go_json_string", "go_quote", "go_value_string"]

_HEX = "0123456789abcdef"

# Characters encoding/json (EscapeHTML on, the json-iterator "standard library" config)
# rewrites inside strings; everything else below 0x20 becomes \u00XX.
_JSON_ESCAPES: dict[str, str] = {
    '"': '\\"',
    "\\": "\\\\",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}
for _code in range(0x20):
    _JSON_ESCAPES.setdefault(chr(_code), "\\u00" + _HEX[_code >> 4] + _HEX[_code & 0xF])
_JSON_TABLE = str.maketrans(_JSON_ESCAPES)


def go_json_string(text: str) -> str:
    """A JSON string literal exactly as Go's ``encoding/json`` writes it."""
    return '"' + text.translate(_JSON_TABLE) + '"'


def _go_json_float(number: float) -> str:
    """json-iterator's ``WriteFloat64``: ``%f``-style unless tiny or huge, shortest digits."""
    if math.isnan(number) or math.isinf(number):
        raise ValueError(f"unsupported value: {number!r}")
    magnitude = abs(number)
    if magnitude != 0 and (magnitude < 1e-6 or magnitude >= 1e21):
        # Python's repr already uses shortest digits with a two-digit exponent, which is
        # strconv's 'e' format; json-iterator then trims "e-07" to "e-7".
        text = repr(number)
        mantissa, _, exponent = text.partition("e")
        sign = exponent[0]
        digits = exponent[1:].lstrip("0") or "0"
        if sign == "+" and len(digits) < 2:
            digits = digits.rjust(2, "0")
        return f"{mantissa}e{sign}{digits}"
    return format(Decimal(repr(number)).normalize(), "f")


def go_json(value: Any) -> str:
    """Compact JSON of a decoded JSON value, byte-for-byte as upstream writes it."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return go_json_string(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_json_float(value)
    if isinstance(value, list):
        return "[" + ",".join(go_json(item) for item in value) + "]"
    if isinstance(value, dict):
        # Go sorts map keys when it encodes a map[string]interface{}.
        return "{" + ",".join(
            go_json_string(key) + ":" + go_json(value[key]) for key in sorted(value)
        ) + "}"
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def go_quote(text: str) -> str:
    """``strconv.Quote``: printable runes kept, the rest escaped the way Go does."""
    out: list[str] = ['"']
    for char in text:
        code = ord(char)
        if char == '"':
            out.append('\\"')
        elif char == "\\":
            out.append("\\\\")
        elif char.isprintable():
            out.append(char)
        elif char in "\a\b\f\n\r\t\v":
            out.append({"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r",
                        "\t": "\\t", "\v": "\\v"}[char])
        elif code < 0x80:
            out.append(f"\\x{code:02x}")
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def go_float_v(number: float) -> str:
    """``fmt``'s ``%v`` for a float64: shortest digits, exponent form from 1e6 and below 1e-4."""
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "+Inf" if number > 0 else "-Inf"
    if number == 0:
        return "-0" if math.copysign(1.0, number) < 0 else "0"
    digits, exponent = _shortest_digits(number)
    # strconv's 'g' with the shortest precision uses %e when exp < -4 || exp >= 6.
    point = exponent + len(digits)
    exp = point - 1
    sign = "-" if number < 0 else ""
    if exp < -4 or exp >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        esign = "-" if exp < 0 else "+"
        return f"{sign}{mantissa}e{esign}{abs(exp):02d}"
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return sign + digits + "0" * (point - len(digits))
    return f"{sign}{digits[:point]}.{digits[point:]}"


def _shortest_digits(number: float) -> tuple[str, int]:
    """Shortest round-tripping decimal digits and the exponent of the last digit."""
    decimal = Decimal(repr(abs(number))).normalize()
    _, digit_tuple, exponent = decimal.as_tuple()
    assert isinstance(exponent, int)
    return "".join(str(d) for d in digit_tuple), exponent


def go_value_string(value: Any) -> str:
    """structured-merge-diff's ``value.ToString``: ``"a"``, ``80``, ``true``, ``[1,2]``."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return go_quote(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_float_v(value)
    if isinstance(value, list):
        return "[" + ",".join(go_value_string(item) for item in value) + "]"
    if isinstance(value, dict):
        # Upstream iterates the map unordered; sorted keys keep our output stable.
        return "".join(f"{key}={go_value_string(value[key])}" for key in sorted(value))
    raise TypeError(f"not a JSON value: {type(value).__name__}")
