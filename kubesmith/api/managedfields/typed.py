"""Schema-aware operations on objects: compare, merge, remove fields, validate.

These are structured-merge-diff's ``typed`` package over decoded JSON: every walk resolves
the SMD type of each value (:mod:`.schematype`) and treats it as a leaf (scalars, atomic
lists and maps, free-form values), a granular map (struct fields and map entries are
visited one by one), or an associative list (elements identified by their list-map keys
or, for sets, their value). The semantics follow upstream so that ownership, conflicts
and the merged object agree with kube-apiserver:

* :func:`compare` — which paths were added, modified or removed between two objects. A
  granular container that appears or disappears is itself added/removed (that is where
  FieldsV1's ``"."`` markers come from); two empty containers compare as leaves.
* :func:`merge` — the object server-side apply produces: the live object with the applied
  configuration on top; granular maps merge per key, list-maps per key and sets per
  value, preserving live order and placing new elements the way upstream does; leaves
  and atomic values are replaced.
* :func:`remove_items` — drop a set of paths (a member path removes its whole sub-tree).
* :func:`validate` — the checks upstream's typed conversion applies to an apply
  configuration: scalar types, list-map keys present, no duplicate keys.

Absent and ``null`` are different here, as upstream: an absent field is "not set", a null
field is set to null. All functions are pure: inputs are never modified; results may
share unchanged sub-trees with the inputs (callers copy once if they need to).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from kubesmith.api import gofmt
from kubesmith.api.schema import SchemaNode

from .fields import (
    FIELD,
    KEY,
    FieldSet,
    Path,
    PathElement,
    field_element,
    list_item_element,
    path_string,
)
from .schematype import ListKind, Shape, TypeInfo, type_of

__all__ = [
    "ABSENT",
    "Comparison",
    "compare",
    "ensure_named_fields_are_members",
    "json_equal",
    "merge",
    "remove_items",
    "validate",
]


class _Absent:
    """The "field not set" marker (distinct from JSON null)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Final = _Absent()

_LEAF: Final = 0
_MAP: Final = 1
_LIST: Final = 2


def _typeinfo(node: SchemaNode | TypeInfo | None) -> TypeInfo:
    return node if isinstance(node, TypeInfo) else type_of(node)


def _shape_of(t: TypeInfo, value: Any) -> int | None:
    """How ``value`` is walked under ``t``; ``None`` (absent or null) adopts the other side's."""
    shape = t.shape
    if shape is Shape.SCALAR or shape is Shape.ATOMIC:
        return _LEAF
    if value is None or value is ABSENT:
        return None
    if shape is Shape.DEDUCED:
        return _MAP if isinstance(value, dict) else _LEAF
    if t.atomic:
        return _LEAF
    if shape is Shape.MAP:
        return _MAP if isinstance(value, dict) else _LEAF
    return _LIST if isinstance(value, list) else _LEAF


def _pair_shape(t: TypeInfo, left: Any, right: Any) -> int:
    ls, rs = _shape_of(t, left), _shape_of(t, right)
    if ls is None:
        shape = rs
    elif rs is None or ls == rs:
        shape = ls
    else:
        # Different kinds of value on each side (only free-form data can do that): the
        # value was replaced as a whole.
        return _LEAF
    if shape is not None:
        return shape
    if t.shape is Shape.MAP and not t.atomic:
        return _MAP
    if t.shape is Shape.LIST and not t.atomic:
        return _LIST
    return _LEAF


def json_equal(left: Any, right: Any) -> bool:
    """JSON equality: numbers by value (``1 == 1.0``), booleans never equal to numbers."""
    if left is right:
        return True
    if isinstance(left, dict):
        if not isinstance(right, dict) or len(left) != len(right):
            return False
        for key, item in left.items():
            other = right.get(key, ABSENT)
            if other is ABSENT or not json_equal(item, other):
                return False
        return True
    if isinstance(left, list):
        if not isinstance(right, list) or len(left) != len(right):
            return False
        return all(json_equal(a, b) for a, b in zip(left, right, strict=True))
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    if isinstance(right, (dict, list)):
        return False
    return bool(left == right)


# -- compare -----------------------------------------------------------------------------


@dataclass(slots=True)
class Comparison:
    """Paths that differ between two objects (upstream ``typed.Comparison``)."""

    added: FieldSet
    modified: FieldSet
    removed: FieldSet

    def is_same(self) -> bool:
        """True when nothing was added, modified or removed."""
        return not (self.added or self.modified or self.removed)

    def exclude(self, fields: FieldSet | None) -> Comparison:
        """Drop ``fields`` and everything below their members (reset/ignored fields)."""
        if not fields:
            return self
        return Comparison(self.added.recursive_difference(fields),
                          self.modified.recursive_difference(fields),
                          self.removed.recursive_difference(fields))


def compare(left: Any, right: Any, node: SchemaNode | TypeInfo | None, *,
            materialize: bool = False) -> Comparison:
    """What changed from ``left`` to ``right`` (both root values of one type).

    With ``materialize``, absent fields of present built-in structs read as the zero value
    Go would have serialized (see :mod:`.schematype`), so a create compares against an
    empty object exactly as upstream's does.
    """
    result = Comparison(FieldSet(), FieldSet(), FieldSet())
    _compare(left, right, _typeinfo(node), (), result, materialize)
    return result


def _compare(left: Any, right: Any, t: TypeInfo, path: Path, out: Comparison,
             materialize: bool) -> None:
    if left is ABSENT:
        _added(right, t, path, out, materialize)
        return
    shape = _pair_shape(t, left, right)
    if shape == _MAP:
        lmap = left if isinstance(left, dict) else None
        rmap = right if isinstance(right, dict) else None
        if not lmap and not rmap:
            _compare_leaf(left, right, path, out)
            return
        zeros = t.materialized if materialize else None
        keys = list(lmap) if lmap else []
        if rmap:
            keys.extend(key for key in rmap if lmap is None or key not in lmap)
        for key in keys:
            lvalue = lmap.get(key, ABSENT) if lmap is not None else ABSENT
            rvalue = rmap.get(key, ABSENT) if rmap is not None else ABSENT
            if zeros and key in zeros:
                # Go would have written this field on any present struct.
                if lvalue is ABSENT and lmap is not None:
                    lvalue = zeros[key]
                if rvalue is ABSENT and rmap is not None:
                    rvalue = zeros[key]
            _compare(lvalue, rvalue, t.field(key), (*path, field_element(key)), out,
                     materialize)
    elif shape == _LIST:
        llist = left if isinstance(left, list) else None
        rlist = right if isinstance(right, list) else None
        if not llist and not rlist:
            _compare_leaf(left, right, path, out)
            return
        _compare_lists(llist or [], rlist or [], t, path, out, materialize)
    else:
        _compare_leaf(left, right, path, out)
        return
    # A granular container that exists on one side only is itself added or removed.
    if left is ABSENT:
        out.added._insert(path)
    elif right is ABSENT:
        out.removed._insert(path)


def _added(right: Any, t: TypeInfo, path: Path, out: Comparison, materialize: bool) -> None:
    """``_compare(ABSENT, right, ...)`` without pairing: everything under ``right`` is new.

    This is every field of a create and of anything a write adds, so it is the hot path;
    it walks one side only and skips the key merging and zero-value checks that cannot
    apply when the left side is absent.
    """
    shape = _pair_shape(t, ABSENT, right)
    if shape == _MAP:
        if isinstance(right, dict) and right:
            field = t.field
            for key, value in right.items():
                _added(value, field(key), (*path, field_element(key)), out, materialize)
    elif shape == _LIST and isinstance(right, list) and right:
        _compare_lists([], right, t, path, out, materialize)
    out.added._insert(path)


def _compare_leaf(left: Any, right: Any, path: Path, out: Comparison) -> None:
    if left is ABSENT:
        out.added._insert(path)
    elif right is ABSENT:
        out.removed._insert(path)
    elif not json_equal(left, right):
        out.modified._insert(path)


def _index(items: list[Any], t: TypeInfo,
           into: dict[PathElement, list[Any]], order: list[PathElement]) -> None:
    for item in items:
        try:
            pe = list_item_element(item, t)
        except ValueError:
            continue
        existing = into.get(pe)
        if existing is None:
            into[pe] = [item]
            order.append(pe)
        else:
            existing.append(item)


def _compare_lists(left: list[Any], right: list[Any], t: TypeInfo, path: Path,
                   out: Comparison, materialize: bool) -> None:
    element_t = t.items()
    lvalues: dict[PathElement, list[Any]] = {}
    rvalues: dict[PathElement, list[Any]] = {}
    order: list[PathElement] = []
    _index(left, t, lvalues, order)
    rorder: list[PathElement] = []
    _index(right, t, rvalues, rorder)
    order.extend(pe for pe in rorder if pe not in lvalues)
    for pe in order:
        lvals = lvalues.get(pe, [])
        rvals = rvalues.get(pe, [])
        item_path = (*path, pe)
        if len(lvals) <= 1 and len(rvals) <= 1:
            _compare(lvals[0] if lvals else ABSENT, rvals[0] if rvals else ABSENT, element_t,
                     item_path, out, materialize)
        elif len(lvals) >= 2 and len(rvals) >= 2:
            # Duplicated elements cannot be told apart: any difference modifies them all.
            if not json_equal(lvals, rvals):
                out.modified._insert(item_path)
        elif len(lvals) >= 2:
            if rvals:
                _compare(ABSENT, rvals[0], element_t, item_path, out, materialize)
            out.removed._insert(item_path)
        else:
            if lvals:
                _compare(lvals[0], ABSENT, element_t, item_path, out, materialize)
            out.added._insert(item_path)


# -- merge -------------------------------------------------------------------------------


def merge(live: Any, config: Any, node: SchemaNode | TypeInfo | None) -> Any:
    """``config`` applied on top of ``live`` (upstream ``TypedValue.Merge``).

    Raises :class:`ValueError` when a list element of either side cannot be identified
    or the configuration repeats a key; :func:`validate` reports those first.
    """
    return _merge(live, config, _typeinfo(node))


def _merge(left: Any, right: Any, t: TypeInfo) -> Any:
    if right is ABSENT:
        return left
    if left is ABSENT:
        return right
    shape = _pair_shape(t, left, right)
    if shape == _MAP:
        lmap = left if isinstance(left, dict) else None
        rmap = right if isinstance(right, dict) else None
        if not lmap and not rmap:
            return right
        if rmap is None:
            # A null granular map in the configuration merges nothing in.
            return left
        if lmap is None:
            return right
        out: dict[str, Any] = {}
        for key, item in lmap.items():
            other = rmap.get(key, ABSENT)
            out[key] = item if other is ABSENT else _merge(item, other, t.field(key))
        for key, item in rmap.items():
            if key not in lmap:
                out[key] = item
        return out
    if shape == _LIST:
        llist = left if isinstance(left, list) else None
        rlist = right if isinstance(right, list) else None
        if not llist and not rlist:
            return right
        return _merge_lists(llist or [], rlist or [], t)
    return right


_DUPLICATE: Final = object()


def _merge_lists(left: list[Any], right: list[Any], t: TypeInfo) -> list[Any]:
    """Upstream's associative-list merge, including where new elements land.

    Elements only in the live list keep their place; elements of the configuration follow
    the configuration's order, with shared elements pulled to the position the
    configuration gives them relative to each other.
    """
    element_t = t.items()
    rhs = [list_item_element(item, t) for item in right]
    observed_rhs: dict[PathElement, Any] = {}
    for pe, item in zip(rhs, right, strict=True):
        if pe in observed_rhs:
            raise ValueError(f"duplicate entries for key {path_string((pe,))}")
        observed_rhs[pe] = item
    lhs = [list_item_element(item, t) for item in left]
    observed_lhs: dict[PathElement, Any] = {}
    for pe, item in zip(lhs, left, strict=True):
        # Live objects may hold duplicates; they are never merged with the configuration.
        observed_lhs[pe] = _DUPLICATE if pe in observed_lhs else item

    shared = [pe for pe in rhs if pe in observed_lhs]
    shared_at = 0
    next_shared = shared[0] if shared else None
    merged_rhs: set[PathElement] = set()
    out: list[Any] = []

    def take(pe: PathElement) -> None:
        lchild = observed_lhs.get(pe, ABSENT)
        if lchild is _DUPLICATE:
            lchild = ABSENT
        out.append(_merge(lchild, observed_rhs[pe], element_t))

    li = ri = 0
    llen, rlen = len(lhs), len(rhs)
    while li < llen or ri < rlen:
        if li < llen and ri < rlen:
            pe = lhs[li]
            if pe == rhs[ri]:
                merged_rhs.add(pe)
                take(pe)
                li += 1
                ri += 1
                shared_at += 1
                next_shared = shared[shared_at] if shared_at < len(shared) else None
                continue
            if pe in observed_rhs and next_shared is not None and next_shared != pe:
                # A shared element, but the configuration wants another one first.
                li += 1
                continue
        if li < llen:
            pe = lhs[li]
            if pe not in observed_rhs:
                out.append(left[li])
                li += 1
                continue
            if pe in merged_rhs:
                li += 1
        if ri < rlen:
            pe = rhs[ri]
            merged_rhs.add(pe)
            take(pe)
            ri += 1
            if next_shared is not None and next_shared == pe:
                shared_at += 1
                next_shared = shared[shared_at] if shared_at < len(shared) else None
    return out


# -- remove ------------------------------------------------------------------------------


def remove_items(value: Any, fields: FieldSet, node: SchemaNode | TypeInfo | None) -> Any:
    """``value`` without ``fields``: a member drops its entry (and everything below it).

    Containers emptied by the removal are dropped from their parent (upstream leaves a
    null that Go's decoding then omits). Paths under leaves are ignored.
    """
    if not fields:
        return value
    result = _remove(value, fields, _typeinfo(node))
    return {} if result is ABSENT else result


def _remove(value: Any, fields: FieldSet, t: TypeInfo) -> Any:
    shape = _shape_of(t, value)
    if shape == _MAP:
        out: dict[str, Any] = {}
        members, children = fields.members, fields.children
        for key, item in value.items():
            pe = field_element(key)
            if pe in members:
                continue
            sub = children.get(pe)
            if sub is not None:
                item = _remove(item, sub, t.field(key))
                if item is ABSENT:
                    continue
            out[key] = item
        return out if out or not value else ABSENT
    if shape == _LIST:
        kept: list[Any] = []
        element_t = t.items()
        members, children = fields.members, fields.children
        for item in value:
            try:
                pe = list_item_element(item, t)
            except ValueError:
                kept.append(item)
                continue
            if pe in members:
                continue
            sub = children.get(pe)
            if sub is not None:
                item = _remove(item, sub, element_t)
                if item is ABSENT:
                    continue
            kept.append(item)
        return kept if kept or not value else ABSENT
    return value


def ensure_named_fields_are_members(fields: FieldSet,
                                    node: SchemaNode | TypeInfo | None) -> FieldSet:
    """Make every struct field that has children a member too (upstream, for pruning).

    Removing such a set removes the struct fields themselves, not only their contents.
    """
    return _ensure_named(fields, _typeinfo(node))


def _ensure_named(fields: FieldSet, t: TypeInfo | None) -> FieldSet:
    if not fields.children:
        return fields
    is_map = t is not None and t.shape in (Shape.MAP, Shape.DEDUCED, Shape.ATOMIC)
    is_list = t is not None and t.shape is Shape.LIST
    members = set(fields.members)
    children: dict[PathElement, FieldSet] = {}
    for pe, child in fields.children.items():
        child_t: TypeInfo | None = None
        if pe.kind == FIELD and is_map:
            assert t is not None
            if pe.value in t.declared:
                members.add(pe)
            child_t = t.field(pe.value)
        elif pe.kind == KEY and is_list:
            assert t is not None
            child_t = t.items()
        children[pe] = _ensure_named(child, child_t)
    return FieldSet(members, children)


# -- validate ----------------------------------------------------------------------------


def validate(value: Any, node: SchemaNode | TypeInfo | None) -> list[str]:
    """Upstream's typed-conversion errors for an apply configuration, as messages.

    ``[]`` when the value converts. Messages read like upstream's
    (``.spec.template.spec.containers[name="a"].ports: duplicate entries for key
    [containerPort=80,protocol="TCP"]``, ``.spec.foo: field not declared in schema``).
    Like upstream, only the first undeclared field of each object is reported.
    """
    errors: list[tuple[str, str]] = []
    _validate(value, _typeinfo(node), "", errors, False)
    return [f"{path}: {message}" if path else message for path, message in errors]


def _validate(value: Any, t: TypeInfo, path: str, errors: list[tuple[str, str]],
              preserve: bool) -> None:
    shape = t.shape
    if value is None:
        return
    # kube-openapi lets x-kubernetes-preserve-unknown-fields reach every descendant.
    preserve = preserve or t.preserve_unknown
    if shape is Shape.SCALAR:
        message = _scalar_error(value, t.scalar)
        if message:
            errors.append((path, message))
        return
    if shape is Shape.ATOMIC:
        return
    if shape is Shape.DEDUCED:
        if isinstance(value, dict):
            for key, item in value.items():
                _validate(item, t.field(key), f"{path}.{key}", errors, preserve)
        return
    if shape is Shape.MAP:
        if not isinstance(value, dict):
            errors.append((path, f"expected map, got &{{{gofmt.format_v(value)}}}"))
            return
        for key, item in value.items():
            if not preserve and not t.accepts(key):
                errors.append((f"{path}.{key}", "field not declared in schema"))
                # Upstream stops walking this object at its first undeclared field.
                return
            _validate(item, t.field(key), f"{path}.{key}", errors, preserve)
        return
    if not isinstance(value, list):
        errors.append((path, f"expected list, got &{{{gofmt.format_v(value)}}}"))
        return
    element_t = t.items()
    if t.list_kind is ListKind.ATOMIC:
        for index, item in enumerate(value):
            _validate(item, element_t, f"{path}[{index}]", errors, preserve)
        return
    observed: set[PathElement] = set()
    for index, item in enumerate(value):
        try:
            pe = list_item_element(item, t)
        except ValueError as err:
            # Without an identity nothing below can be reported; upstream stops here.
            errors.append((path, f"element {index}: {err}"))
            return
        element = path_string((pe,))
        if pe in observed:
            errors.append((path, f"duplicate entries for key {element}"))
        observed.add(pe)
        _validate(item, element_t, path + element, errors, preserve)


def _scalar_error(value: Any, kind: str) -> str | None:
    if kind == "numeric":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"expected numeric (int or float), got {gofmt.type_name(value)}"
        return None
    if kind == "string":
        if not isinstance(value, str):
            shown = gofmt.format_sharp_v(value)
            return f"expected string, got &value.valueUnstructured{{Value:{shown}}}"
        return None
    if kind == "boolean":
        if not isinstance(value, bool):
            return f"expected boolean, got &{{{gofmt.format_v(value)}}}"
        return None
    if isinstance(value, (dict, list)):
        return f"expected any scalar, got &{{{gofmt.format_v(value)}}}"
    return None
