"""Resource quantities (``100m``, ``64Mi``, ``1.5e3``) exactly as upstream parses and prints them.

This mirrors ``k8s.io/apimachinery/pkg/api/resource.Quantity``:

* Parsing accepts ``^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$`` with the decimal SI
  suffixes ``n u m "" k M G T P E``, the binary suffixes ``Ki Mi Gi Ti Pi Ei`` and decimal
  exponents (``e3``, ``E-2``). Any non-zero value is rounded *up* (away from zero) to the
  nearest nano, like upstream, so a quantity is held exactly as an integer number of
  nano-units plus the :class:`Format` its suffix implied.
* Printing produces upstream's canonical form: the mantissa is an integer and the exponent a
  multiple of three (``0.5`` -> ``500m``, ``2000`` -> ``2k``), binary values that are whole
  multiples of 1024 keep a binary suffix (``1024Mi`` -> ``1Gi``, ``1.5Gi`` -> ``1536Mi``).
  Like upstream, a string that was already canonical when parsed is echoed verbatim (so
  ``100Mi`` stays ``100Mi`` and even ``+1`` stays ``+1``), because the API server stores the
  string it decoded whenever that string can be re-used.

The scheduler and quota code use the arithmetic (:meth:`Quantity.add`, :meth:`Quantity.cmp`,
:meth:`Quantity.value`, :meth:`Quantity.milli_value`) as well, so it is exact integer math
throughout; no floats.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = [
    "FORMAT_ERROR",
    "NUMERIC_ERROR",
    "SUFFIX_ERROR",
    "Format",
    "Quantity",
    "QuantityError",
    "canonical",
    "parse_quantity",
]

SPLIT_RE = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
FORMAT_ERROR = f"quantities must match the regular expression '{SPLIT_RE}'"
NUMERIC_ERROR = "unable to parse numeric part of quantity"
SUFFIX_ERROR = "unable to parse quantity's suffix"

_NANO = 10**9
# Upstream caps binary quantities at the largest int64 (in whole units).
_MAX_BINARY_NANOS = (2**63 - 1) * _NANO
# Upstream's int64 fast path gives up beyond 18 digits (maxInt64Factors).
_MAX_INT64_FACTORS = 18
_SUFFIX_CHARS = frozenset("eEinumkKMGTP")
# Guards against pathological input ("1e999999999", 5000-digit numbers) that upstream's
# arbitrary-precision decimals accept but that no real resource amount needs.
_MAX_DIGITS = 1000
_MAX_SHIFT = 400


class Format(StrEnum):
    """How a quantity prints, decided by the suffix it was written with."""

    DECIMAL_EXPONENT = "DecimalExponent"  # 12e6
    BINARY_SI = "BinarySI"  # 12Mi
    DECIMAL_SI = "DecimalSI"  # 12M


class QuantityError(ValueError):
    """A string is not a quantity; ``str(error)`` is upstream's message."""


_DECIMAL_SUFFIXES: dict[str, int] = {
    "n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18,
}
_BINARY_SUFFIXES: dict[str, int] = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL_BY_EXPONENT = {exp: suffix for suffix, exp in _DECIMAL_SUFFIXES.items()}
_BINARY_BY_EXPONENT = {exp: suffix for suffix, exp in _BINARY_SUFFIXES.items()}


@dataclass(frozen=True, slots=True)
class Quantity:
    """An exact quantity: ``nanos`` units of 10^-9, printed according to ``format``.

    ``text`` holds the original string when upstream would echo it back unchanged; it does
    not take part in comparisons (two quantities are equal when their values are).
    """

    nanos: int
    format: Format = Format.DECIMAL_SI
    text: str = ""

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Quantity):
            return NotImplemented
        return self.nanos == other.nanos

    def __hash__(self) -> int:
        return hash(self.nanos)

    def __str__(self) -> str:
        return self.text or canonical(self)

    def cmp(self, other: Quantity) -> int:
        """-1, 0 or 1 as ``self`` is less than, equal to or greater than ``other``."""
        return (self.nanos > other.nanos) - (self.nanos < other.nanos)

    def __lt__(self, other: Quantity) -> bool:
        return self.nanos < other.nanos

    def __le__(self, other: Quantity) -> bool:
        return self.nanos <= other.nanos

    def __gt__(self, other: Quantity) -> bool:
        return self.nanos > other.nanos

    def __ge__(self, other: Quantity) -> bool:
        return self.nanos >= other.nanos

    def sign(self) -> int:
        """-1, 0 or 1."""
        return (self.nanos > 0) - (self.nanos < 0)

    def is_zero(self) -> bool:
        """True for any spelling of zero."""
        return self.nanos == 0

    def add(self, other: Quantity) -> Quantity:
        """The sum, keeping this quantity's format (as upstream's ``Add`` does)."""
        return Quantity(self.nanos + other.nanos, self.format)

    def sub(self, other: Quantity) -> Quantity:
        """The difference, keeping this quantity's format."""
        return Quantity(self.nanos - other.nanos, self.format)

    def neg(self) -> Quantity:
        """The negated quantity."""
        return Quantity(-self.nanos, self.format)

    def value(self) -> int:
        """Whole units, rounded up (away from zero) like upstream's ``Value()``."""
        return _div_round_away(self.nanos, _NANO)

    def milli_value(self) -> int:
        """Milli-units, rounded up (away from zero) like upstream's ``MilliValue()``."""
        return _div_round_away(self.nanos, 10**6)

    def scaled_value(self, exponent: int) -> int:
        """The value in units of 10^exponent, rounded away from zero (``ScaledValue``)."""
        shift = exponent + 9
        if shift <= 0:
            factor: int = 10 ** (-shift)
            return self.nanos * factor
        return _div_round_away(self.nanos, 10**shift)

    def round_up(self, exponent: int) -> Quantity:
        """Round away from zero to a multiple of 10^exponent (upstream ``RoundUp(scale)``).

        The echoed text survives only when no rounding was needed, mirroring upstream
        keeping its cached string when the scale already fits.
        """
        shift = exponent + 9
        if shift <= 0:
            return self
        unit = 10**shift
        rounded = _div_round_away(self.nanos, unit) * unit
        if rounded == self.nanos:
            return self
        return Quantity(rounded, self.format)

    def is_integer(self) -> bool:
        """True when the value is a whole number of units."""
        return self.nanos % _NANO == 0

    def to_json(self) -> str:
        """The string stored on the wire."""
        return str(self)


def _div_round_away(numerator: int, denominator: int) -> int:
    quotient, remainder = divmod(abs(numerator), denominator)
    if remainder:
        quotient += 1
    return -quotient if numerator < 0 else quotient


@dataclass(frozen=True, slots=True)
class _Parts:
    positive: bool
    value: str  # the numeric part including sign, as written
    num: str  # integer digits without leading zeros ("0" when none)
    denom: str  # fraction digits
    suffix: str


def _split(text: str) -> _Parts:
    """Upstream's hand-written scanner (``parseQuantityString``), quirks included."""
    positive = True
    pos = 0
    end = len(text)
    if end and text[0] in "+-":
        positive = text[0] == "+"
        pos = 1
    while pos < end and text[pos] == "0":
        pos += 1
    if pos >= end:
        return _Parts(positive, "0", "0", "", "")
    start = pos
    while pos < end and text[pos].isdigit() and text[pos].isascii():
        pos += 1
    if pos >= end:
        return _Parts(positive, text, text[start:], "", "")
    num = text[start:pos] or "0"
    denom = ""
    if text[pos] == ".":
        pos += 1
        start = pos
        while pos < end and text[pos].isdigit() and text[pos].isascii():
            pos += 1
        denom = text[start:pos]
        if pos >= end:
            return _Parts(positive, text, num, denom, "")
    value = text[:pos]
    suffix_start = pos
    while pos < end and text[pos] in _SUFFIX_CHARS:
        pos += 1
    if pos >= end:
        return _Parts(positive, value, num, denom, text[suffix_start:])
    if text[pos] in "+-":
        pos += 1
    while pos < end and text[pos].isdigit() and text[pos].isascii():
        pos += 1
    if pos >= end:
        return _Parts(positive, value, num, denom, text[suffix_start:])
    raise QuantityError(FORMAT_ERROR)


def _interpret(suffix: str) -> tuple[int, int, Format]:
    """(base, exponent, format) for a suffix, or :class:`QuantityError`."""
    if suffix in _DECIMAL_SUFFIXES:
        return 10, _DECIMAL_SUFFIXES[suffix], Format.DECIMAL_SI
    if suffix in _BINARY_SUFFIXES:
        return 2, _BINARY_SUFFIXES[suffix], Format.BINARY_SI
    if len(suffix) > 1 and suffix[0] in "eE" and re.fullmatch(r"[+-]?[0-9]+", suffix[1:]):
        exponent = int(suffix[1:])
        if -(2**63) <= exponent < 2**63:
            return 10, exponent, Format.DECIMAL_EXPONENT
    raise QuantityError(SUFFIX_ERROR)


def parse_quantity(value: Any) -> Quantity:
    """Parse a quantity from its JSON form (a string, or a bare JSON number).

    Raises :class:`QuantityError` carrying upstream's message for anything else.
    """
    if isinstance(value, bool) or value is None:
        raise QuantityError(FORMAT_ERROR)
    if isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        # JSON numbers decode to float; repr gives the shortest round-tripping spelling,
        # which is what the client wrote for any sane value.
        text = repr(value)
        if text in ("inf", "-inf", "nan"):
            raise QuantityError(FORMAT_ERROR)
    elif isinstance(value, str):
        text = value.strip()
    else:
        raise QuantityError(FORMAT_ERROR)
    if not text:
        raise QuantityError(FORMAT_ERROR)
    if text == "0":
        return Quantity(0, Format.DECIMAL_SI, "0")

    parts = _split(text)
    base, exponent, fmt = _interpret(parts.suffix)
    digits = parts.num + parts.denom

    if len(digits) > _MAX_DIGITS:
        # Upstream's arbitrary-precision decimals would take this; we refuse absurd input
        # rather than let one request build thousand-digit integers.
        raise QuantityError(NUMERIC_ERROR)

    # The value exactly, as an integer scaled by 10^-scale (decimal) and 2^exponent (binary).
    unscaled = int(digits) if digits else 0
    scale = len(parts.denom)
    if base == 10:
        scale -= exponent
    else:
        unscaled <<= exponent
    if not parts.positive:
        unscaled = -unscaled

    # Nanos, rounded up (away from zero) like upstream's Round(Nano, RoundUp).
    shift = 9 - scale
    if unscaled == 0:
        nanos = 0
    elif shift > _MAX_SHIFT:
        raise QuantityError(NUMERIC_ERROR)
    elif shift >= 0:
        nanos = unscaled * 10**shift
    elif -shift > len(digits) + 20:
        # Far below a nano: upstream rounds any non-zero value up to one nano.
        nanos = 1 if unscaled > 0 else -1
    else:
        nanos = _div_round_away(unscaled, 10 ** (-shift))

    text_kept = _echo_text(text, parts, base, exponent, fmt)

    if text_kept:
        return Quantity(nanos, fmt, text_kept)
    if fmt is Format.BINARY_SI:
        if abs(nanos) > _MAX_BINARY_NANOS:
            nanos = _MAX_BINARY_NANOS if nanos > 0 else -_MAX_BINARY_NANOS
        if 0 < abs(nanos) < _NANO:
            fmt = Format.DECIMAL_SI
    return Quantity(nanos, fmt)


def _echo_text(text: str, parts: _Parts, base: int, exponent: int, fmt: Format) -> str:
    """The original string when upstream's int64 fast path would cache it, else ``""``."""
    if fmt is Format.BINARY_SI:
        if parts.denom or exponent < 0:
            return ""
        precision = 15 - len(parts.num) - int(exponent * 3 / 10) - 1
        scale = 0
    else:
        precision = _MAX_INT64_FACTORS - (len(parts.num) + len(parts.denom))
        scale = exponent
    if precision < 0:
        return ""
    scale -= len(parts.denom)
    if scale < -9:
        return ""
    shifted = parts.num + parts.denom
    number = int(shifted)
    if number >= 2**63:
        return ""
    multiplier = (1 << exponent) if base == 2 else 1
    if number * multiplier >= 2**63:
        return ""
    if fmt is Format.BINARY_SI:
        return text if exponent % 10 == 0 and number & 0x07 != 0 else ""
    if scale % 3 == 0 and not shifted.endswith("000") and shifted[0] != "0":
        return text
    return ""


def canonical(quantity: Quantity) -> str:
    """Upstream's canonical string for a quantity (``CanonicalizeBytes``)."""
    nanos = quantity.nanos
    if nanos == 0:
        return "0"
    fmt = quantity.format
    if fmt is Format.BINARY_SI:
        if -1024 * _NANO < nanos < 1024 * _NANO or nanos % _NANO:
            # Small or fractional binary values print in decimal rather than lose precision.
            fmt = Format.DECIMAL_SI
        else:
            whole = nanos // _NANO
            exponent = 0
            while whole % 1024 == 0 and exponent < 60:
                whole //= 1024
                exponent += 10
            return f"{whole}{_BINARY_BY_EXPONENT.get(exponent, '')}"
    mantissa = nanos
    exponent = -9
    while mantissa % 10 == 0:
        mantissa //= 10
        exponent += 1
    while exponent % 3 != 0:
        mantissa *= 10
        exponent -= 1
    if fmt is Format.DECIMAL_EXPONENT:
        return f"{mantissa}" if exponent == 0 else f"{mantissa}e{exponent}"
    # Upstream prints no suffix at all when the exponent is past "E"; kept for fidelity.
    return f"{mantissa}{_DECIMAL_BY_EXPONENT.get(exponent, '')}"
