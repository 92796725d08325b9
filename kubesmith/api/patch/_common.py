"""Helpers shared by the patch engines: copying, typed equality, Go-style messages, errors.

Upstream's patch code runs on Go's ``map[string]interface{}`` values, so its equality is
typed (``int64(1) != float64(1)``, ``true != 1``) and its error messages print values with
``%v`` (``map[image:x name:a]``). The helpers here reproduce both so our messages read the
same and merge keys match exactly when upstream's do.
"""

from __future__ import annotations

import json
import math
from collections.abc import Hashable
from typing import Any

import orjson

from kubesmith.api import gofmt
from kubesmith.api.errors import StatusError, bad_request

__all__ = [
    "deep_copy",
    "go_type",
    "go_value",
    "rejected_patch",
    "same",
    "too_deep",
    "value_key",
]


def deep_copy(value: Any) -> Any:
    """Copy decoded JSON (dicts, lists, scalars) so the result shares nothing with the input."""
    if isinstance(value, dict):
        return {key: deep_copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [deep_copy(item) for item in value]
    return value


def value_key(value: Any) -> Hashable:
    """A hashable key for a JSON value, equal exactly when Go's interface ``==`` would be.

    The type is part of the key so ``1``, ``1.0`` and ``true`` stay distinct, as they do
    for Go values decoded with ints preserved. Maps and lists (which Go cannot compare)
    get their canonical JSON text so malformed patches cannot crash a lookup.
    """
    if isinstance(value, (dict, list)):
        try:
            return ("json", orjson.dumps(value, option=orjson.OPT_SORT_KEYS))
        except orjson.JSONEncodeError:
            # Beyond orjson's 255 levels or 64-bit integers: the stdlib encoder copes
            # (and a truly runaway depth surfaces as RecursionError, handled by callers).
            return ("json", json.dumps(value, sort_keys=True).encode())
    return (type(value), value)


def same(left: Any, right: Any) -> bool:
    """Typed equality of two JSON values (see :func:`value_key`)."""
    return type(left) is type(right) and left == right


def go_type(value: Any) -> str:
    """The Go type name ``reflect.TypeOf`` prints for a decoded JSON value."""
    if value is None:
        return "%!s(<nil>)"
    if isinstance(value, (bool, int, float, str, dict, list)):
        return gofmt.type_name(value)
    return type(value).__name__


def go_value(value: Any) -> str:
    """Format a JSON value the way Go's ``%v`` prints ``interface{}`` values."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer() and abs(value) < 1e21:
            return str(int(value))
        return repr(value)
    if isinstance(value, dict):
        inner = " ".join(f"{key}:{go_value(value[key])}" for key in sorted(value))
        return f"map[{inner}]"
    if isinstance(value, list):
        return "[" + " ".join(go_value(item) for item in value) + "]"
    return str(value)


def rejected_patch() -> StatusError:
    """422 Invalid, as upstream reports a patch that cannot be applied.

    kube-apiserver wraps these failures (a failing JSON-patch ``test``, a missing path,
    lists of lists) in ``NewGenericServerResponse(422, ...)``, which discards the detail and
    says only this sentence; kubectl prints it as ``The request is invalid: ...``.
    """
    return StatusError(422, "Invalid",
                       "the server rejected our request due to an error in our request", {})


def too_deep() -> StatusError:
    """400 for documents nested beyond Python's recursion limit.

    The engines recurse once per nesting level; a hostile body nested ~1000 deep (orjson
    accepts 1024) must end as a client error, not as an unhandled ``RecursionError``.
    Upstream's decoder draws the same line at 10000 levels with this wording.
    """
    return bad_request("json: exceeded max depth")
