"""Field sets and their FieldsV1 wire form (``metadata.managedFields[].fieldsV1``).

A :class:`FieldSet` is structured-merge-diff's ``fieldpath.Set``: a trie of
:class:`PathElement` s. Each node holds *members* (paths that end here — a leaf field, or
a container whose existence is owned) and *children* (sub-tries). A path element is one
of four kinds, ordered as upstream orders them (field < key < value < index):

====================  ======================  =========================================
kind                  wire prefix             selects
====================  ======================  =========================================
field                 ``f:spec``              a struct field or map entry
key                   ``k:{"name":"a"}``      the element of a list-map with these keys
value                 ``v:"finalizer"``       the element of a set with this value
index                 ``i:0``                 the element at an index (atomic lists)
====================  ======================  =========================================

The wire form is a JSON object of serialized path elements, each mapping to the object of
its sub-trie; a node that is both a member and has children carries ``".": {}`` first::

    {"f:metadata":{"f:labels":{".":{},"f:app":{}}},
     "f:spec":{"f:containers":{"k:{\\"name\\":\\"a\\"}":{".":{},"f:image":{}}}}}

Keys are emitted in upstream's sort order and ``k:``/``v:`` payloads are written with the
JSON rules of upstream's json-iterator (:func:`kubesmith.api.gofmt.marshal` with
``jsoniter=True``), so :meth:`FieldSet.to_fields_v1` round-trips stored managedFields byte
for byte and :meth:`FieldSet.to_json` produces upstream's exact bytes.

Sets are values: the operations return new sets that may share sub-tries with their
inputs, so nothing may mutate a set after it is built (the private builder methods are
only used on fresh sets inside this package).

:func:`fieldset_of` is upstream's ``TypedValue.ToFieldSet``: the fields an object sets,
walked with the SMD view of its schema (:mod:`.schematype`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from functools import lru_cache
from typing import Any, Final, NamedTuple

import orjson

from kubesmith.api import gofmt
from kubesmith.api.schema import SchemaNode

from .schematype import ListKind, Shape, TypeInfo, type_of

__all__ = [
    "FIELD",
    "INDEX",
    "KEY",
    "VALUE",
    "FieldSet",
    "Path",
    "PathElement",
    "fieldset_of",
    "freeze",
    "list_item_element",
    "path_string",
    "thaw",
]

FIELD: Final = 0
KEY: Final = 1
VALUE: Final = 2
INDEX: Final = 3

# Frozen (hashable) JSON values: scalars stay as they are except booleans, which Python
# would otherwise confuse with 0 and 1; lists and objects become tagged tuples.
_TRUE: Final = ("bool", True)
_FALSE: Final = ("bool", False)


def freeze(value: Any) -> Any:
    """A hashable form of a JSON value; ``1`` and ``1.0`` stay equal, ``true`` and ``1`` don't."""
    if value is True:
        return _TRUE
    if value is False:
        return _FALSE
    if isinstance(value, list):
        return ("list", tuple(freeze(item) for item in value))
    if isinstance(value, dict):
        return ("map", tuple(sorted((key, freeze(item)) for key, item in value.items())))
    return value


def thaw(frozen: Any) -> Any:
    """The JSON value :func:`freeze` was given."""
    if isinstance(frozen, tuple):
        tag, payload = frozen
        if tag == "bool":
            return payload
        if tag == "list":
            return [thaw(item) for item in payload]
        return {key: thaw(item) for key, item in payload}
    return frozen


class PathElement(NamedTuple):
    """One step of a path: ``kind`` is FIELD, KEY, VALUE or INDEX.

    ``value`` is the field name, the sorted ``((name, frozen value), ...)`` key fields, the
    frozen set value, or the index. Build them with the class methods.
    """

    kind: int
    value: Any

    @classmethod
    def of_field(cls, name: str) -> PathElement:
        """``f:name``."""
        return cls(FIELD, name)

    @classmethod
    def of_key(cls, fields: Mapping[str, Any]) -> PathElement:
        """``k:{...}`` for a list-map element with these key fields."""
        return cls(KEY, tuple(sorted((name, freeze(v)) for name, v in fields.items())))

    @classmethod
    def of_value(cls, value: Any) -> PathElement:
        """``v:...`` for a set element."""
        return cls(VALUE, freeze(value))

    @classmethod
    def of_index(cls, index: int) -> PathElement:
        """``i:N`` for an atomic list's element."""
        return cls(INDEX, index)

    def __str__(self) -> str:
        return _pe_string(self)


Path = tuple[PathElement, ...]


def _value_sort_key(frozen: Any) -> tuple[Any, ...]:
    """Upstream's ``value.Compare`` order: numbers < strings < bools < lists < maps < null."""
    if frozen is None:
        return (5,)
    if isinstance(frozen, str):
        return (1, frozen)
    if isinstance(frozen, tuple):
        tag, payload = frozen
        if tag == "bool":
            return (2, payload)
        if tag == "list":
            return (3, tuple(_value_sort_key(item) for item in payload))
        return (4, tuple((key, _value_sort_key(item)) for key, item in payload))
    return (0, frozen)


def _sort_key(pe: PathElement) -> tuple[Any, ...]:
    kind, value = pe
    if kind in (FIELD, INDEX):
        return (kind, value)
    if kind == KEY:
        return (kind, tuple((name, _value_sort_key(v)) for name, v in value))
    return (kind, _value_sort_key(value))


@lru_cache(maxsize=8192)
def serialize_element(pe: PathElement) -> str:
    """The FieldsV1 key of a path element (``f:spec``, ``k:{"name":"a"}``, ``v:"x"``, ``i:0``)."""
    kind, value = pe
    if kind == FIELD:
        # Upstream writes the name raw; JSON escaping happens when the key is encoded.
        return f"f:{value}"
    if kind == KEY:
        return "k:{" + ",".join(
            gofmt.json_string(name, jsoniter=True) + ":" + gofmt.marshal(thaw(v), jsoniter=True)
            for name, v in value) + "}"
    if kind == VALUE:
        return "v:" + gofmt.marshal(thaw(value), jsoniter=True)
    return f"i:{value}"


def parse_element(text: str) -> PathElement | None:
    """Parse a FieldsV1 key; ``None`` for element kinds this version does not know.

    Raises :class:`ValueError` with upstream's wording for malformed keys.
    """
    if len(text) < 2:
        raise ValueError("key must be 2 characters long:")
    if text[1] != ":":
        raise ValueError(f"missing colon: {text}")
    kind, payload = text[0], text[2:]
    if kind == "f":
        return PathElement(FIELD, payload)
    if kind == "v":
        try:
            return PathElement(VALUE, freeze(orjson.loads(payload)))
        except orjson.JSONDecodeError as err:
            raise ValueError(f"parsing value path element {payload!r}: {err}") from err
    if kind == "k":
        try:
            fields = orjson.loads(payload)
        except orjson.JSONDecodeError as err:
            raise ValueError(f"parsing key path element {payload!r}: {err}") from err
        if not isinstance(fields, dict):
            raise ValueError(f"key path element is not an object: {payload}")
        return PathElement.of_key(fields)
    if kind == "i":
        try:
            return PathElement(INDEX, int(payload))
        except ValueError as err:
            raise ValueError(f'strconv.Atoi: parsing "{payload}": invalid syntax') from err
    # Upstream drops element kinds it does not understand (a future version's).
    return None


def _pe_string(pe: PathElement) -> str:
    kind, value = pe
    if kind == FIELD:
        return f".{value}"
    if kind == KEY:
        return "[" + ",".join(f"{name}={_value_string(thaw(v))}" for name, v in value) + "]"
    if kind == VALUE:
        return f"[={_value_string(thaw(value))}]"
    return f"[{value}]"


def _value_string(value: Any) -> str:
    """structured-merge-diff's ``value.ToString``: ``"a"``, ``80``, ``true``, ``[1,2]``."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return gofmt.quote(value)
    if isinstance(value, list):
        return "[" + ",".join(_value_string(item) for item in value) + "]"
    if isinstance(value, dict):
        # Upstream iterates the map unordered; sorted keys keep our output stable.
        return "".join(f"{key}={_value_string(value[key])}" for key in sorted(value))
    return gofmt.format_v(value)


def path_string(path: Iterable[PathElement]) -> str:
    """A path as upstream prints it in conflicts: ``.spec.containers[name="a"].image``."""
    return "".join(_pe_string(pe) for pe in path)


class FieldSet:
    """An immutable set of field paths (upstream ``fieldpath.Set``).

    ``members`` are the elements whose path ends at this node, ``children`` the sub-sets
    below an element; neither may be mutated. Children are never empty.
    """

    __slots__ = ("children", "members")

    members: set[PathElement]
    children: dict[PathElement, FieldSet]

    def __init__(self, members: Iterable[PathElement] = (),
                 children: Mapping[PathElement, FieldSet] | None = None) -> None:
        self.members = set(members)
        self.children = {pe: child for pe, child in (children or {}).items() if child}

    # -- construction ------------------------------------------------------------------

    @classmethod
    def from_paths(cls, paths: Iterable[Iterable[PathElement]]) -> FieldSet:
        """The set holding exactly these paths (empty paths are ignored, as upstream)."""
        result = cls()
        for path in paths:
            result._insert(tuple(path))
        return result

    def _insert(self, path: Path) -> None:
        """Builder-only: add a path to a set nobody else holds yet."""
        if not path:
            return
        node = self
        for pe in path[:-1]:
            child = node.children.get(pe)
            if child is None:
                child = FieldSet()
                node.children[pe] = child
            node = child
        node.members.add(path[-1])

    # -- queries -----------------------------------------------------------------------

    def __bool__(self) -> bool:
        return bool(self.members) or bool(self.children)

    def is_empty(self) -> bool:
        """True when the set holds no path."""
        return not self

    def __len__(self) -> int:
        return len(self.members) + sum(len(child) for child in self.children.values())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FieldSet):
            return NotImplemented
        return self.members == other.members and self.children == other.children

    __hash__ = None  # type: ignore[assignment]

    def __contains__(self, path: object) -> bool:
        return isinstance(path, tuple) and self.has(path)

    def has(self, path: Iterable[PathElement]) -> bool:
        """Whether ``path`` is a member (a prefix of a member path is not)."""
        elements = tuple(path)
        if not elements:
            return False
        node: FieldSet | None = self
        for pe in elements[:-1]:
            assert node is not None
            node = node.children.get(pe)
            if node is None:
                return False
        assert node is not None
        return elements[-1] in node.members

    def with_prefix(self, pe: PathElement) -> FieldSet:
        """The sub-set below ``pe`` (empty when there is none)."""
        return self.children.get(pe) or EMPTY

    def __iter__(self) -> Iterator[Path]:
        return self.paths()

    def paths(self, prefix: Path = ()) -> Iterator[Path]:
        """Every path, in upstream's iteration order: members, then children, each sorted."""
        for pe in sorted(self.members, key=_sort_key):
            yield (*prefix, pe)
        for pe in sorted(self.children, key=_sort_key):
            yield from self.children[pe].paths((*prefix, pe))

    def leaves(self) -> FieldSet:
        """Members that have no children of their own (upstream ``Set.Leaves``)."""
        return FieldSet((pe for pe in self.members if pe not in self.children),
                        {pe: child.leaves() for pe, child in self.children.items()})

    def __repr__(self) -> str:
        inner = ", ".join(path_string(path) for path in self.paths())
        return f"FieldSet({inner})"

    # -- set algebra -------------------------------------------------------------------

    def union(self, other: FieldSet) -> FieldSet:
        """Paths in either set."""
        if not other:
            return self
        if not self:
            return other
        children = dict(self.children)
        for pe, child in other.children.items():
            mine = children.get(pe)
            children[pe] = child if mine is None else mine.union(child)
        return _make(self.members | other.members, children)

    def intersection(self, other: FieldSet) -> FieldSet:
        """Paths in both sets."""
        children: dict[PathElement, FieldSet] = {}
        for pe, child in self.children.items():
            theirs = other.children.get(pe)
            if theirs is not None:
                common = child.intersection(theirs)
                if common:
                    children[pe] = common
        return _make(self.members & other.members, children)

    def difference(self, other: FieldSet) -> FieldSet:
        """Paths of ``self`` not in ``other``; removing a member keeps what is below it."""
        if not other:
            return self
        children: dict[PathElement, FieldSet] = {}
        for pe, child in self.children.items():
            theirs = other.children.get(pe)
            if theirs is None:
                children[pe] = child
            else:
                rest = child.difference(theirs)
                if rest:
                    children[pe] = rest
        return _make(self.members - other.members, children)

    def recursive_difference(self, other: FieldSet) -> FieldSet:
        """Like :meth:`difference`, but a member of ``other`` also removes its sub-tree."""
        if not other:
            return self
        children: dict[PathElement, FieldSet] = {}
        for pe, child in self.children.items():
            if pe in other.members:
                continue
            theirs = other.children.get(pe)
            if theirs is None:
                children[pe] = child
            else:
                rest = child.recursive_difference(theirs)
                if rest:
                    children[pe] = rest
        return _make(self.members - other.members, children)

    __or__ = union
    __and__ = intersection
    __sub__ = difference

    # -- FieldsV1 ------------------------------------------------------------------------

    def to_fields_v1(self) -> dict[str, Any]:
        """The FieldsV1 object, keys in upstream's order (stable under orjson/json)."""
        return self._emit(include_self=False)

    def _emit(self, *, include_self: bool) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if include_self:
            out["."] = {}
        members, children = self.members, self.children
        for pe in sorted(members | children.keys(), key=_sort_key):
            child = children.get(pe)
            key = serialize_element(pe)
            out[key] = {} if child is None else child._emit(include_self=pe in members)
        return out

    def to_json(self) -> bytes:
        """Upstream's exact FieldsV1 bytes (Go string escaping included)."""
        parts: list[str] = []
        _write_go(self.to_fields_v1(), parts)
        return "".join(parts).encode()

    @classmethod
    def from_fields_v1(cls, fields: Mapping[str, Any] | None) -> FieldSet:
        """Decode a FieldsV1 object; raises :class:`ValueError` when it is malformed."""
        if fields is None:
            return EMPTY
        if not isinstance(fields, Mapping):
            raise ValueError("FieldsV1 must be a JSON object")
        found, _ = _read(fields)
        return found if found is not None else EMPTY

    @classmethod
    def from_json(cls, data: bytes | str) -> FieldSet:
        """Decode FieldsV1 JSON text."""
        try:
            decoded = orjson.loads(data)
        except orjson.JSONDecodeError as err:
            raise ValueError(f"FieldsV1 is not valid JSON: {err}") from err
        return cls.from_fields_v1(decoded)


def _make(members: set[PathElement], children: dict[PathElement, FieldSet]) -> FieldSet:
    """A set from parts already known to be valid (children non-empty), without copying."""
    result = FieldSet.__new__(FieldSet)
    result.members = members
    result.children = children
    return result


EMPTY: Final = FieldSet()


def _read(fields: Mapping[str, Any]) -> tuple[FieldSet | None, bool]:
    """Upstream's ``readIterV1``: (children, whether the node itself is a member)."""
    children: FieldSet | None = None
    is_member = False
    for key, sub in fields.items():
        if key == ".":
            is_member = True
            continue
        pe = parse_element(key)
        if pe is None:
            continue
        if sub is None:
            sub = {}
        elif not isinstance(sub, Mapping):
            raise ValueError(f"FieldsV1 entry {key!r} is not an object")
        grandchildren, child_is_member = _read(sub)
        if children is None:
            children = FieldSet()
        if child_is_member:
            children.members.add(pe)
        if grandchildren is not None:
            children.children[pe] = grandchildren
    if children is None:
        is_member = True
    return children, is_member


def _write_go(fields: Mapping[str, Any], out: list[str]) -> None:
    out.append("{")
    first = True
    for key, sub in fields.items():
        if not first:
            out.append(",")
        first = False
        out.append(gofmt.json_string(key, jsoniter=True))
        out.append(":")
        _write_go(sub, out)
    out.append("}")


# -- the fields an object sets -----------------------------------------------------------


def list_item_element(item: Any, t: TypeInfo) -> PathElement:
    """The path element of a (map or set) list's element; raises ``ValueError`` if invalid.

    Messages are upstream's: a key-less element, a null or non-object element of a
    list-map, an object or list in a set.
    """
    if t.list_kind is ListKind.MAP:
        if item is None:
            raise ValueError("associative list with keys may not have a null element")
        if not isinstance(item, dict):
            raise ValueError("associative list with keys may not have non-map elements")
        fields: list[tuple[str, Any]] = []
        for name in t.keys:
            if name in item:
                fields.append((name, freeze(item[name])))
            elif name in t.key_defaults:
                fields.append((name, freeze(t.key_defaults[name])))
        if not fields:
            quoted = "[" + " ".join(gofmt.quote(k) for k in t.keys) + "]"
            raise ValueError(
                "associative list with keys has an element that omits all key fields "
                f"{quoted} (and doesn't have default values for any key fields)")
        fields.sort()
        return PathElement(KEY, tuple(fields))
    if isinstance(item, dict):
        raise ValueError("associative list without keys has an element that's a map type")
    if isinstance(item, list):
        raise ValueError("not supported: associative list with lists as elements")
    if item is None:
        raise ValueError("associative list without keys has an element that's an explicit null")
    return PathElement(VALUE, freeze(item))


def fieldset_of(obj: Any, node: SchemaNode | TypeInfo | None) -> FieldSet:
    """The fields ``obj`` sets, as upstream's ``ToFieldSet`` computes them.

    Leaves (scalars, atomic lists and maps, empty or null values, map entries) are
    members; struct fields with content are only parents; every list-map/set element is a
    member (its existence is owned) and a parent of its fields. Duplicate list elements are
    recorded as members without descending, as upstream does for live objects. ``node`` is
    the schema (``None`` for schemaless objects, whose maps are granular and lists atomic).
    """
    t = node if isinstance(node, TypeInfo) else type_of(node)
    return _children_of(obj, t) or _make(set(), {})


def _children_of(value: Any, t: TypeInfo) -> FieldSet | None:
    """The set of paths below ``value``, or ``None`` when it has none (a leaf).

    Sets are only allocated for containers that turn out to hold something: most values
    of an object are leaves, and this walk runs several times per apply.
    """
    shape = t.shape
    if shape is Shape.SCALAR or shape is Shape.ATOMIC or t.atomic:
        return None
    if isinstance(value, dict):
        if shape is not Shape.MAP and shape is not Shape.DEDUCED:
            return None
        members: set[PathElement] = set()
        children: dict[PathElement, FieldSet] = {}
        declared = t.declared
        for key, item in value.items():
            pe = field_element(key)
            child_t = t.field(key)
            child = _children_of(item, child_t)
            if child is not None:
                children[pe] = child
            # Struct fields are parents only; a leaf, a null or empty object, or a map
            # entry is owned itself.
            if key not in declared or item is None or _is_leaf(child_t, item) or (
                    isinstance(item, dict) and not item):
                members.add(pe)
        return _make(members, children) if members or children else None
    if isinstance(value, list):
        if shape is not Shape.LIST:
            return None
        element_t = t.items()
        seen: set[PathElement] = set()
        duplicates: set[PathElement] = set()
        elements: list[tuple[PathElement, Any]] = []
        for item in value:
            try:
                pe = list_item_element(item, t)
            except ValueError:
                # Unidentifiable elements cannot be owned; validation reports them.
                continue
            if pe in seen:
                duplicates.add(pe)
            seen.add(pe)
            elements.append((pe, item))
        list_children: dict[PathElement, FieldSet] = {}
        for pe, item in elements:
            if pe not in duplicates:
                child = _children_of(item, element_t)
                if child is not None:
                    list_children[pe] = child
        return _make(seen, list_children) if seen else None
    return None


def _is_leaf(t: TypeInfo, value: Any) -> bool:
    """Whether ``value`` is owned as a whole: scalars, atomic and free-form values.

    A value whose JSON type disagrees with its schema is owned whole too.
    """
    shape = t.shape
    if shape is Shape.SCALAR or shape is Shape.ATOMIC or t.atomic:
        return True
    if shape is Shape.DEDUCED:
        return not isinstance(value, dict)
    if shape is Shape.MAP:
        return value is not None and not isinstance(value, dict)
    return value is not None and not isinstance(value, list)


_FIELD_ELEMENTS: dict[str, PathElement] = {}


def field_element(name: str) -> PathElement:
    """The (interned) ``f:name`` element; walks create the same few names over and over."""
    pe = _FIELD_ELEMENTS.get(name)
    if pe is None:
        if len(_FIELD_ELEMENTS) >= 100_000:
            # Map keys come from request bodies; never let the intern table grow unbounded.
            _FIELD_ELEMENTS.clear()
        pe = PathElement(FIELD, name)
        _FIELD_ELEMENTS[name] = pe
    return pe
