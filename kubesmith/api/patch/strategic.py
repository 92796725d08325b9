"""Strategic merge patch (``application/strategic-merge-patch+json``), applied server-side.

Semantics follow ``k8s.io/apimachinery/pkg/util/strategicpatch`` as kube-apiserver runs it
(``StrategicMergeMapPatch``: parallel lists merged, unmatched ``null`` ignored), driven by
the OpenAPI extensions that mirror upstream's struct tags:

* Maps merge key by key; ``null`` deletes a key; a field whose strategy is ``replace``
  (``PodDisruptionBudgetSpec.selector``) is replaced whole.
* Lists are replaced unless the field's strategy contains ``merge``. Merged lists of
  objects match elements on ``x-kubernetes-patch-merge-key`` (containers by ``name``,
  ports by ``containerPort``) and merge them recursively; merged lists of primitives
  (``finalizers``) become the union.
* Directives: ``$patch: replace`` / ``$patch: delete`` on a map replace it with the rest of
  the patch map / empty it; in a merged list ``{"<key>": v, "$patch": "delete"}`` removes
  the element and a ``{"$patch": "replace"}`` element makes the list exactly the other
  patch elements. ``$deleteFromPrimitiveList/<field>`` removes values from a primitive
  list, ``$retainKeys`` clears every key of the map it does not name (and every non-null
  key of the patch map must be named), ``$setElementOrder/<field>`` fixes the order of the
  patch's elements while server-only elements keep their relative place.
* Ordering of merged lists is upstream's: patch elements follow the patch (or
  ``$setElementOrder``) order, server-only elements keep their live order and are
  interleaved by their live positions; elements new to the list come before a later
  server-only element (``[a, b]`` patched with ``[c]`` gives ``[c, a, b]``).
* Schema-less parts (no node, ``RawExtension``, ``x-kubernetes-preserve-unknown-fields``)
  fall back to JSON merge patch semantics.

Where this departs from upstream, deliberately
    Upstream copies a patch value verbatim when the live object lacks the field, so
    directives inside it (``$patch: delete`` elements, ``$setElementOrder``) leak into the
    object and are only dropped by typed decoding — which can resurrect an element the
    patch meant to delete. Here a value new to the object is the patch applied to nothing:
    directives are interpreted and ``null`` members dropped. ``$deleteFromPrimitiveList``
    on an absent list deletes nothing (upstream would *add* the values), and always removes
    values rather than replacing a non-merging list with the deletion list.

Errors
    Upstream's named format errors are 400 BadRequest with their texts (``invalid patch
    format of retainKeys``...), lists of lists are 422 with the generic sentence. The other
    failures upstream leaves as plain Go errors — and so as 500s — (``map: map[image:x]
    does not contain declared merge key: name``, ``unknown patch type: x in map: ...``) are
    400 BadRequest here with the same text: they are always the patch's fault.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from kubesmith.api.errors import StatusError, bad_request
from kubesmith.api.schema import SchemaNode
from kubesmith.api.types import Obj

from ._common import deep_copy, go_type, go_value, rejected_patch, same, too_deep, value_key
from .merge_patch import apply_merge_patch, prune_nulls

__all__ = ["apply_strategic_merge_patch"]

_DIRECTIVE = "$patch"
_DELETE = "delete"
_REPLACE = "replace"
_MERGE = "merge"
_RETAIN_KEYS = "$retainKeys"
_DELETE_FROM_PRIMITIVE_LIST = "$deleteFromPrimitiveList"
_SET_ELEMENT_ORDER = "$setElementOrder"

_ERR_PRIMITIVE_LIST = "invalid patch format of primitive list"
_ERR_RETAIN_KEYS = "invalid patch format of retainKeys"
_ERR_SET_ELEMENT_ORDER = "invalid patch format of setElementOrder list"


def apply_strategic_merge_patch(original: Obj, patch: Any, node: SchemaNode | None) -> Obj:
    """Apply a decoded strategic merge patch to ``original``; return a new object.

    ``node`` is the schema of the object's kind (:func:`kubesmith.api.schema.root`); with
    ``None`` the whole patch is a JSON merge patch. Neither ``original`` nor ``patch`` is
    modified and the result shares no containers with them. Raises
    :class:`~kubesmith.api.errors.StatusError` (400 or 422) for malformed patches.
    """
    if patch is None:
        # ``null`` decodes into a nil map upstream: nothing to merge.
        try:
            return dict(deep_copy(original))
        except RecursionError:
            raise too_deep() from None
    if not isinstance(patch, dict):
        kind = "array" if isinstance(patch, list) else \
            "string" if isinstance(patch, str) else \
            "bool" if isinstance(patch, bool) else "number"
        raise bad_request(
            f"json: cannot unmarshal {kind} into Go value of type map[string]interface {{}}")
    if node is None or not _is_struct(node):
        merged = apply_merge_patch(original, patch)
        assert isinstance(merged, dict)
        return merged
    try:
        # Work on private copies: the merge below mutates both and moves patch values
        # into the result, and neither may leak back to the caller.
        return _merge_map(deep_copy(original), deep_copy(patch), node)
    except RecursionError:
        raise too_deep() from None


def _is_struct(node: SchemaNode | None) -> bool:
    """Objects and maps are merged key by key; anything else is opaque to SMP."""
    return node is not None and (node.kind == "object" or node.kind == "map")


# -- maps --------------------------------------------------------------------------------


def _merge_map(original: dict[str, Any], patch: dict[str, Any],
               node: SchemaNode) -> dict[str, Any]:
    """Merge ``patch`` into ``original`` (both private, both mutated) under ``node``."""
    if _DIRECTIVE in patch:
        directive = patch.pop(_DIRECTIVE)
        if directive == _REPLACE:
            return _merge_map({}, patch, node)
        if directive == _DELETE:
            return {}
        patch[_DIRECTIVE] = directive
        raise _bad(f"unknown patch type: {go_value(directive)} in map: {go_value(patch)}")

    _apply_retain_keys(original, patch)
    _apply_set_element_order(original, patch, node)

    for raw_key, value in patch.items():
        key = raw_key
        delete_list = raw_key.startswith(_DELETE_FROM_PRIMITIVE_LIST)
        if delete_list:
            key = _extract_key(raw_key, _DELETE_FROM_PRIMITIVE_LIST, _ERR_PRIMITIVE_LIST)
        if value is None:
            original.pop(key, None)
            continue
        child = node.field(key)
        if delete_list:
            if not isinstance(value, list):
                raise _bad(_ERR_PRIMITIVE_LIST)
            current_list = original.get(key)
            if isinstance(current_list, list):
                original[key] = _delete_from_list(current_list, value)
            continue
        if key not in original:
            original[key] = _fresh(value, child)
            continue
        current = original[key]
        if isinstance(current, dict) and isinstance(value, dict):
            if not _is_struct(child):
                original[key] = apply_merge_patch(current, value)
            elif child is not None and _REPLACE in child.strategies:
                original[key] = _fresh(value, child)
            else:
                assert child is not None
                original[key] = _merge_map(current, value, child)
        elif isinstance(current, list) and isinstance(value, list):
            if child is not None and child.is_list and _MERGE in child.strategies:
                original[key] = _merge_list(current, value, child)
            else:
                original[key] = _fresh(value, child)
        else:
            # Scalars, or the value changed JSON type: the patch value wins.
            original[key] = _fresh(value, child)
    return original


def _fresh(value: Any, node: SchemaNode | None) -> Any:
    """``value`` patched onto nothing: directives interpreted, ``null`` members dropped.

    Lenient where a merge would be strict (a merged-list element without its merge key is
    kept for validation to report), because upstream inserts such values verbatim.
    """
    if isinstance(value, dict):
        if _is_struct(node):
            assert node is not None
            return _merge_map({}, value, node)
        return prune_nulls(value)
    if isinstance(value, list):
        if node is None or not node.is_list:
            return prune_nulls(value)
        element = node.items()
        merging = _MERGE in node.strategies
        fresh: list[Any] = []
        for item in value:
            if isinstance(item, dict):
                if merging and _DIRECTIVE in item:
                    # Deleting from, or replacing, a list that does not exist yet.
                    continue
                fresh.append(_fresh(item, element))
            else:
                fresh.append(item)
        return fresh
    return value


def _extract_key(key: str, prefix: str, error: str) -> str:
    head, sep, tail = key.partition("/")
    if not sep or head != prefix:
        raise _bad(error)
    return tail


def _apply_retain_keys(original: dict[str, Any], patch: dict[str, Any]) -> None:
    """``$retainKeys``: drop every key of ``original`` the list does not name."""
    if _RETAIN_KEYS not in patch:
        return
    retain = patch.pop(_RETAIN_KEYS)
    if not isinstance(retain, list):
        raise _bad(_ERR_RETAIN_KEYS)
    allowed = {value_key(item) for item in retain}
    for key, value in patch.items():
        if value is None or key.startswith((_DELETE_FROM_PRIMITIVE_LIST, _SET_ELEMENT_ORDER)):
            continue
        if value_key(key) not in allowed:
            raise _bad(_ERR_RETAIN_KEYS)
    for key in [k for k in original if value_key(k) not in allowed]:
        del original[key]


def _apply_set_element_order(original: dict[str, Any], patch: dict[str, Any],
                             node: SchemaNode) -> None:
    """``$setElementOrder/<field>``: merge that list now and impose the given order."""
    for directive_key in [k for k in patch if k.startswith(_SET_ELEMENT_ORDER)]:
        order = patch.pop(directive_key)
        if not isinstance(order, list):
            raise _bad(f"expected a []interface {{}}, but received a {go_type(order)}")
        key = _extract_key(directive_key, _SET_ELEMENT_ORDER, _ERR_SET_ELEMENT_ORDER)
        found_original = key in original
        found_patch = key in patch
        live = original.get(key)
        patch_list = patch.get(key)
        if found_original and not isinstance(live, list):
            raise _bad(f"expected a []interface {{}}, but received a {go_type(live)}")
        if found_patch and not isinstance(patch_list, list):
            raise _bad(f"expected a []interface {{}}, but received a {go_type(patch_list)}")
        child = node.field(key)
        merge_key = child.patch_merge_key if child is not None else None
        _validate_order(patch_list or [], order, merge_key)

        if found_original and found_patch:
            assert isinstance(live, list)
            assert isinstance(patch_list, list)
            if child is not None and child.is_list and _MERGE in child.strategies:
                merged = _merge_list(list(live), patch_list, child)
            else:
                merged = _fresh(patch_list, child)
        elif found_original:
            assert isinstance(live, list)
            merged = live
        elif found_patch:
            merged = _fresh(patch_list, child)
        else:
            continue
        patch.pop(key, None)
        original[key] = _reorder(merged, order, live if isinstance(live, list) else [],
                                 merge_key)


def _validate_order(patch_list: list[Any], order: list[Any], merge_key: str | None) -> None:
    """The patch's elements (deletions aside) must appear in ``order``, in that order."""
    if not patch_list or not order:
        return
    pending = [item for item in patch_list
               if not (merge_key and isinstance(item, dict) and
                       item.get(_DIRECTIVE) == _DELETE)]
    if merge_key:
        for item in pending:
            if not isinstance(item, dict):
                raise _bad(f"expected a map[string]interface {{}}, but received a "
                           f"{go_type(item)}")
    patch_index = order_index = 0
    while patch_index < len(pending) and order_index < len(order):
        item = pending[patch_index]
        if isinstance(item, dict) and _DIRECTIVE in item:
            patch_index += 1
            continue
        if _merge_key_equal(item, order[order_index], merge_key):
            patch_index += 1
        order_index += 1
    if patch_index < len(pending):
        raise _bad(f"The order in patch list:\n{go_value(patch_list)}\n doesn't match "
                   f"{_SET_ELEMENT_ORDER} list:\n{go_value(order)}\n")


def _merge_key_equal(left: Any, right: Any, merge_key: str | None) -> bool:
    if not merge_key:
        return same(left, right)
    for item in (left, right):
        if not isinstance(item, dict):
            raise _bad(f"expected a map[string]interface {{}}, but received a {go_type(item)}")
        if merge_key not in item:
            raise _no_merge_key(item, merge_key)
    return same(left[merge_key], right[merge_key])


# -- lists -------------------------------------------------------------------------------


def _merge_list(original: list[Any], patch: list[Any], node: SchemaNode) -> list[Any]:
    """Merge a patch list into a live list whose field has the ``merge`` strategy."""
    if not original and not patch:
        return original
    element_kind = _element_kind(original, patch)
    merge_key = node.patch_merge_key
    if element_kind != "map":
        union = _deduplicate(original + patch)
        return _reorder(union, patch, original, None)
    element = node.items()
    if not merge_key:
        raise _bad(f"cannot merge lists without merge key for type {_go_kind(element)}")
    live, patch_items = _apply_list_directives(original, patch, merge_key)
    merged = list(live)
    for item in patch_items:
        if merge_key not in item:
            raise _no_merge_key(item, merge_key)
        index = _find(merged, merge_key, item[merge_key])
        if index is None:
            merged.append(_fresh(item, element))
        elif _is_struct(element):
            assert element is not None
            merged[index] = _merge_map(merged[index], item, element)
        else:
            merged[index] = apply_merge_patch(merged[index], item)
    return _reorder(merged, patch_items, live, merge_key)


def _go_kind(node: SchemaNode | None) -> str:
    """The ``reflect.Kind`` upstream names for a list's declared element type."""
    if node is None or node.is_untyped:
        return "interface"
    if node.is_object:
        return "struct"
    if node.is_map:
        return "map"
    if node.is_list:
        return "slice"
    declared = node.schema.get("type")
    types = [declared] if isinstance(declared, str) else list(declared or [])
    for name in types:
        if name in ("string", "boolean", "number", "integer"):
            fmt = node.schema.get("format")
            return {"boolean": "bool", "number": "float64",
                    "integer": "int32" if fmt == "int32" else "int64"}.get(name, "string")
    return "string"  # int-or-string and quantities are strings on the wire


def _element_kind(*lists: list[Any]) -> str:
    """The one Go kind of every element (``map``, ``string``...); mixed kinds are errors."""
    seen: str | None = None
    for items in lists:
        for item in items:
            kind = "map" if isinstance(item, dict) else \
                "slice" if isinstance(item, list) else go_type(item)
            if seen is None:
                if kind == "slice":
                    raise rejected_patch()  # upstream: ErrNoListOfLists, reported as 422
                seen = kind
            elif kind != seen:
                raise _bad("list element types are not identical: " +
                           go_value(list(lists)))
    return seen or "nil"


def _apply_list_directives(original: list[Any], patch: list[Any],
                           merge_key: str) -> tuple[list[Any], list[Any]]:
    """Handle ``$patch`` elements; return the live list and the remaining patch elements."""
    remaining: list[Any] = []
    replace = False
    for item in patch:
        if _DIRECTIVE not in item:
            remaining.append(item)
            continue
        directive = item[_DIRECTIVE]
        if directive == _DELETE:
            if merge_key not in item:
                raise _no_merge_key(item, merge_key)
            doomed = item[merge_key]
            original = [o for o in original
                        if not (isinstance(o, dict) and merge_key in o and
                                same(o[merge_key], doomed))]
        elif directive == _REPLACE:
            replace = True
        elif directive == _MERGE:
            raise _bad("merging lists cannot yet be specified in the patch")
        else:
            raise _bad(f"unknown patch type: {go_value(directive)} in map: {go_value(item)}")
    if replace:
        # The list becomes exactly the other patch elements (each applied to nothing).
        return remaining, []
    return original, remaining


def _find(items: list[Any], merge_key: str, value: Any) -> int | None:
    for index, item in enumerate(items):
        if isinstance(item, dict) and merge_key in item and same(item[merge_key], value):
            return index
    return None


def _delete_from_list(current: list[Any], doomed: list[Any]) -> list[Any]:
    gone = {value_key(item) for item in doomed}
    return [item for item in current if value_key(item) not in gone]


def _deduplicate(items: list[Any]) -> list[Any]:
    seen: set[Hashable] = set()
    unique: list[Any] = []
    for item in items:
        key = value_key(item)
        if key not in seen:
            seen.add(key)
            unique.append(item)
    return unique


def _identity(item: Any, merge_key: str | None) -> Hashable:
    """What identifies a list element: its merge key's value, or itself for primitives."""
    if merge_key:
        if not isinstance(item, dict):
            raise _bad(f"expected a map[string]interface {{}}, but received a {go_type(item)}")
        if merge_key not in item:
            raise _no_merge_key(item, merge_key)
        return value_key(item[merge_key])
    return value_key(item)


def _positions(items: list[Any], merge_key: str | None) -> dict[Hashable, int]:
    positions: dict[Hashable, int] = {}
    for index, item in enumerate(items):
        positions.setdefault(_identity(item, merge_key), index)
    return positions


def _reorder(merged: list[Any], order: list[Any], server_order: list[Any],
             merge_key: str | None) -> list[Any]:
    """Upstream's ``normalizeElementOrder`` over a merged list.

    Elements named in ``order`` (the patch list or ``$setElementOrder``) are sorted by it;
    the others ("server-only") by their live position; then the server-only elements are
    slotted in front of the first patch element that sits later in the live list. A patch
    element absent from the live list never lets a server-only element pass it.
    """
    wanted = _positions(order, merge_key)
    live = _positions(server_order, merge_key)
    from_patch: list[tuple[int, Any]] = []
    server_only: list[tuple[int, Any]] = []
    for item in merged:
        identity = _identity(item, merge_key)
        if identity in wanted:
            from_patch.append((wanted[identity], item))
        else:
            server_only.append((live.get(identity, len(server_order)), item))
    from_patch.sort(key=lambda pair: pair[0])
    server_only.sort(key=lambda pair: pair[0])

    result: list[Any] = []
    left = right = 0
    while left < len(server_only) and right < len(from_patch):
        server_item = server_only[left][1]
        patch_item = from_patch[right][1]
        server_at = live.get(_identity(server_item, merge_key))
        patch_at = live.get(_identity(patch_item, merge_key))
        if server_at is not None and patch_at is not None and server_at < patch_at:
            result.append(server_item)
            left += 1
        else:
            result.append(patch_item)
            right += 1
    result.extend(item for _, item in server_only[left:])
    result.extend(item for _, item in from_patch[right:])
    return result


# -- errors ------------------------------------------------------------------------------


def _bad(message: str) -> StatusError:
    return bad_request(message)


def _no_merge_key(item: dict[str, Any], merge_key: str) -> StatusError:
    return _bad(f"map: {go_value(item)} does not contain declared merge key: {merge_key}")
