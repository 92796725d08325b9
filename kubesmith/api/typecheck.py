"""JSON type checks against a kind's schema, as Go's decoder reports them.

kube-apiserver decodes request bodies into Go structs, so a value of the wrong JSON type
(``replicas: "two"``, a number in ConfigMap ``data``) fails decoding with 400 and
``json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type
int32``. Objects are handled here as plain JSON, so this walk gives the same refusal — and
keeps values of the wrong type out of storage, where every later reader would trip on them.
"""

from __future__ import annotations

import functools
from typing import Any

from kubesmith.api.schema import SchemaNode

_MAX_DEPTH = 100


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return f"number {value}"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


@functools.lru_cache(maxsize=8192)
def _node_types(node: SchemaNode) -> frozenset[str]:
    """The JSON types a scalar node accepts (memoised: nodes are long-lived and shared)."""
    return frozenset(_types(node.schema))


def _types(schema: dict[str, Any]) -> set[str]:
    kinds: set[str] = set()
    declared = schema.get("type")
    if isinstance(declared, str):
        kinds.add(declared)
    elif isinstance(declared, list):
        kinds.update(t for t in declared if isinstance(t, str))
    for option in schema.get("oneOf") or schema.get("anyOf") or ():
        if isinstance(option, dict):
            kinds |= _types(option)
    if schema.get("x-kubernetes-int-or-string"):
        kinds |= {"integer", "string"}
    kinds.discard("null")
    return kinds


def _go_scalar(schema: dict[str, Any], kinds: set[str]) -> str:
    if kinds == {"integer"}:
        return str(schema.get("format") or "int64")
    if kinds == {"number"}:
        return "float64"
    if kinds == {"boolean"}:
        return "bool"
    if kinds == {"string"}:
        return "string"
    return "intstr.IntOrString" if kinds == {"integer", "string"} else "resource.Quantity"


def _go_type(node: SchemaNode) -> str:
    if node.name:
        parts = node.name.split(".")
        return f"{parts[-2]}.{parts[-1]}" if len(parts) >= 2 else node.name
    if node.is_list:
        items = node.items()
        return "[]" + (_go_type(items) if items is not None else "interface {}")
    if node.is_map:
        value = node.field("")
        return "map[string]" + (_go_type(value) if value is not None else "interface {}")
    return _go_scalar(node.schema, _types(node.schema))


def _scalar_ok(value: Any, kinds: frozenset[str]) -> bool:
    if not kinds:
        return True
    if isinstance(value, bool):
        return "boolean" in kinds
    if isinstance(value, int):
        return bool(kinds & {"integer", "number"})
    if isinstance(value, float):
        if "number" in kinds:
            return True
        return "integer" in kinds and value.is_integer()
    if isinstance(value, str):
        return "string" in kinds
    return False


def first_type_error(obj: Any, node: SchemaNode) -> str | None:
    """Go's decoding error for the first value of the wrong JSON type, or None."""
    found = _walk(obj, node, None, 0)
    if found is None:
        return None
    value, bad, struct, keys = found
    return _error(value, bad, ".".join(reversed(keys)), struct)


# A failure: the value, its schema node, the innermost struct holding it and the JSON keys
# leading to it, innermost first (the path is only built when there is an error).
_Failure = tuple[Any, SchemaNode, str | None, list[str]]


def _walk(value: Any, node: SchemaNode, struct: str | None, depth: int) -> _Failure | None:
    if value is None or node.is_untyped or depth > _MAX_DEPTH:
        return None
    if node.is_object or node.is_map:
        if not isinstance(value, dict):
            return value, node, struct, []
        own = ((node.name or "").split(".")[-1] or struct) if node.is_object else struct
        for key, child_value in value.items():
            child = node.field(key)
            if child is None:
                continue  # unknown fields are pruned or refused elsewhere
            found = _walk(child_value, child, own, depth + 1)
            if found is not None:
                found[3].append(key)
                return found
        return None
    if node.is_list:
        if not isinstance(value, list):
            return value, node, struct, []
        items = node.items()
        if items is not None:
            for item in value:
                found = _walk(item, items, struct, depth + 1)
                if found is not None:
                    return found
        return None
    kinds = _node_types(node)
    if isinstance(value, str):
        if not kinds or "string" in kinds:
            return None
        return value, node, struct, []
    if isinstance(value, (dict, list)) or not _scalar_ok(value, kinds):
        return value, node, struct, []
    return None


def _error(value: Any, node: SchemaNode, path: str, struct: str | None) -> str:
    where = f"Go struct field {struct}.{path}" if struct and path else "Go value"
    return f"json: cannot unmarshal {_json_kind(value)} into {where} of type {_go_type(node)}"
