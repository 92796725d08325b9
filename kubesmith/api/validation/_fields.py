"""Small helpers shared by the validators: tolerant accessors over decoded JSON.

Validators run over whatever a client sent, so every accessor treats a missing key and a
value of the wrong JSON type alike (as the type's zero value) instead of raising; the
schema layer reports type mismatches, we report semantic ones.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kubesmith.api.errors import FieldError, invalid
from kubesmith.api.validation.quantity import Quantity, QuantityError, parse_quantity

Obj = dict[str, Any]

FIELD_IMMUTABLE = "field is immutable"
IS_NEGATIVE = "must be greater than or equal to 0"
IS_NOT_POSITIVE = "must be greater than zero"
IS_NOT_INTEGER = "must be an integer"


def as_map(value: Any) -> Obj:
    """``value`` when it is a JSON object, else ``{}``."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    """``value`` when it is a JSON array, else ``[]``."""
    return value if isinstance(value, list) else []


def as_maps(value: Any) -> list[Obj]:
    """``value`` as a list of objects (non-objects read as ``{}``), ``[]`` if not a list."""
    return [as_map(item) for item in as_list(value)]


def get_map(obj: Any, key: str) -> Obj:
    """The object at ``obj[key]`` or ``{}``."""
    return as_map(as_map(obj).get(key))


def get_list(obj: Any, key: str) -> list[Any]:
    """The array at ``obj[key]`` or ``[]``."""
    return as_list(as_map(obj).get(key))


def get_maps(obj: Any, key: str) -> list[Obj]:
    """The array at ``obj[key]`` with every non-object item read as ``{}``."""
    return [as_map(item) for item in get_list(obj, key)]


def get_str(obj: Any, key: str) -> str:
    """The string at ``obj[key]`` or ``""``."""
    value = as_map(obj).get(key)
    return value if isinstance(value, str) else ""


def get_strs(obj: Any, key: str) -> list[str]:
    """The string array at ``obj[key]`` (non-strings skipped)."""
    return [item for item in get_list(obj, key) if isinstance(item, str)]


def get_int(obj: Any, key: str) -> int | None:
    """The integer at ``obj[key]``, or ``None`` when unset (floats with no fraction count)."""
    value = as_map(obj).get(key)
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def get_int0(obj: Any, key: str) -> int:
    """The integer at ``obj[key]`` or 0 (Go's zero value for a non-pointer field)."""
    value = get_int(obj, key)
    return 0 if value is None else value


def get_bool(obj: Any, key: str) -> bool | None:
    """The boolean at ``obj[key]`` or ``None``."""
    value = as_map(obj).get(key)
    return value if isinstance(value, bool) else None


def has(obj: Any, key: str) -> bool:
    """Whether ``obj[key]`` is set to something other than null (a Go non-nil pointer)."""
    return as_map(obj).get(key) is not None


def str_map(value: Any) -> dict[str, str]:
    """A ``map[string]string``: the JSON object with non-string values read as ``""``."""
    return {str(k): (v if isinstance(v, str) else "") for k, v in as_map(value).items()}


def int_or_string(value: Any) -> int | str | None:
    """An ``IntOrString``: the int or the string, ``None`` when unset or neither."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        return value
    return None


def quantity(value: Any, path: str, errs: list[FieldError]) -> Quantity | None:
    """Parse a quantity; on failure append an Invalid error with upstream's message."""
    try:
        return parse_quantity(value)
    except QuantityError as exc:
        errs.append(invalid(path, value if isinstance(value, str) else str(value), str(exc)))
        return None


def invalid_each(path: str, value: Any, messages: Iterable[str]) -> list[FieldError]:
    """One Invalid error per message, all on ``path`` for ``value``."""
    return [invalid(path, value, msg) for msg in messages]


def immutable(new: Any, old: Any, path: str) -> list[FieldError]:
    """Upstream's ``ValidateImmutableField``."""
    if new != old:
        return [invalid(path, new, FIELD_IMMUTABLE)]
    return []


def nonnegative(value: int | None, path: str) -> list[FieldError]:
    """``value >= 0`` (unset passes)."""
    if value is not None and value < 0:
        return [invalid(path, value, IS_NEGATIVE)]
    return []


def positive(value: int | None, path: str) -> list[FieldError]:
    """``value > 0`` (unset passes)."""
    if value is not None and value <= 0:
        return [invalid(path, value, IS_NOT_POSITIVE)]
    return []


def key_path(path: str, key: str) -> str:
    """Upstream ``Path.Key``: ``path[key]``."""
    return f"{path}[{key}]"


def sorted_items(mapping: Obj) -> list[tuple[str, Any]]:
    """Map entries in key order, so error lists are deterministic (Go's are random)."""
    return sorted(mapping.items())
