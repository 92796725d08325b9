"""How upstream's printers turn values into cell text: ages, quantities and Go formatting.

The server-side printers are Go code, so a cell shows a number the way ``fmt.Sprint``
prints it and a map the way ``encoding/json`` marshals it; ages come from
``k8s.io/apimachinery/pkg/util/duration.HumanDuration``. These helpers reproduce exactly
those spellings for values decoded from JSON.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

from kubesmith.api import gofmt
from kubesmith.api.validation.quantity import QuantityError, parse_quantity

__all__ = [
    "go_json",
    "go_sprint",
    "human_duration",
    "parse_time",
    "quantity_string",
    "rfc3339",
    "since",
]

_US_PER_SECOND = 1_000_000
_US_PER_MINUTE = 60 * _US_PER_SECOND
_US_PER_HOUR = 60 * _US_PER_MINUTE


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 timestamp (``metav1.Time`` or ``MicroTime``) as an aware datetime.

    ``None``, empty and unparseable values give ``None`` — upstream's zero time.
    """
    if not value or not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _micros(delta: timedelta) -> int:
    return (delta.days * 86400 + delta.seconds) * _US_PER_SECOND + delta.microseconds


def human_duration(delta: timedelta) -> str:
    """Upstream ``duration.HumanDuration``: ``45s``, ``5m12s``, ``3h4m``, ``3d5h``, ``2y``.

    Slightly negative durations (clock skew under two seconds) read ``0s``; anything
    earlier reads ``<invalid>``.
    """
    micros = _micros(delta)
    # int(d.Seconds()) truncates toward zero.
    seconds = int(micros / _US_PER_SECOND) if micros < 0 else micros // _US_PER_SECOND
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 60 * 2:
        return f"{seconds}s"
    minutes = micros // _US_PER_MINUTE
    if minutes < 10:
        rest = seconds % 60
        return f"{minutes}m" if rest == 0 else f"{minutes}m{rest}s"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = micros // _US_PER_HOUR
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h" if rest == 0 else f"{hours}h{rest}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d" if rest == 0 else f"{hours // 24}d{rest}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        rest = (hours // 24) % 365
        years = hours // 24 // 365
        return f"{years}y" if rest == 0 else f"{years}y{rest}d"
    return f"{hours // 24 // 365}y"


def since(value: Any, now: datetime) -> str:
    """Upstream ``translateTimestampSince``: the age of a timestamp, ``<unknown>`` if unset."""
    stamp = parse_time(value)
    if stamp is None:
        return "<unknown>"
    return human_duration(now - stamp)


def rfc3339(value: Any) -> str:
    """``Time.UTC().Format(time.RFC3339)`` — the default table's ``Created At`` cell."""
    stamp = parse_time(value)
    if stamp is None:
        return "0001-01-01T00:00:00Z"
    return stamp.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def quantity_string(value: Any) -> str:
    """``resource.Quantity.String()``: the canonical spelling, ``0`` for a missing one."""
    if value is None or value == "":
        return "0"
    try:
        return str(parse_quantity(value))
    except QuantityError:
        # The API server never stores an unparseable quantity; show it as given.
        return str(value)


def _json_float(value: float) -> str:
    # encoding/json: 'f' format unless tiny or huge, then 'e' with a short exponent.
    if value == 0:
        return "0" if math.copysign(1.0, value) > 0 else "-0"
    digits, point = gofmt.shortest_digits(value)
    negative = value < 0
    magnitude = abs(value)
    if magnitude < 1e-6 or magnitude >= 1e21:
        text = gofmt.format_e(negative, digits, point)
        # Go trims "e-07" to "e-7" (but keeps two digits for positive exponents).
        if len(text) >= 4 and text[-4] == "e" and text[-3] == "-" and text[-2] == "0":
            text = text[:-2] + text[-1]
        return text
    return gofmt.format_plain(negative, digits, point)


_HTML_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028",
                 "\u2029": "\\u2029"}


def _json_string(text: str) -> str:
    encoded = json.dumps(text, ensure_ascii=False)
    for raw, escaped in _HTML_ESCAPES.items():
        encoded = encoded.replace(raw, escaped)
    return encoded


def go_json(value: Any) -> str:
    """``json.Marshal`` of a decoded JSON value: sorted keys, no spaces, HTML escaping."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _json_float(value)
    if isinstance(value, str):
        return _json_string(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{_json_string(str(k))}:{go_json(value[k])}"
                              for k in sorted(value, key=str)) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(go_json(v) for v in value) + "]"
    return _json_string(str(value))


def go_sprint(value: Any) -> str:
    """``fmt.Sprint`` of a decoded JSON scalar (what a field selector or jsonpath prints)."""
    if value is None:
        return "<nil>"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, float):
        return gofmt.format_g(value)
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_sprint(value[k])}"
                                 for k in sorted(value, key=str)) + "]"
    if isinstance(value, list | tuple):
        return "[" + " ".join(go_sprint(v) for v in value) + "]"
    return str(value)
