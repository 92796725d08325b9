"""Go comparison and number rules that upstream's CRD validation depends on.

Formatting (``%v``, ``%q``, ``json.Marshal``...) lives in :mod:`kubesmith.api.gofmt` and
``field.Error.Error()`` is :meth:`kubesmith.api.errors.FieldError.message`; what stays here
is how the apiextensions-apiserver and go-openapi compare and classify decoded JSON:

* :func:`deep_equal` is ``reflect.DeepEqual`` over decoded JSON, where ``1`` (``int64``) and
  ``1.0`` (``float64``) differ, unlike in Python;
* :func:`is_json_integer` is go-openapi's ``swag.IsFloat64AJSONInteger``.
"""

from __future__ import annotations

import math
import sys
from typing import Any, Final

_MAX_JSON_FLOAT: Final = float(2**53 - 1)
_SMALLEST_NONZERO: Final = 5e-324
_EPSILON: Final = 1e-9


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
