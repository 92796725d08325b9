"""RFC 7386 JSON merge patch (``application/merge-patch+json``), as kube-apiserver applies it.

kube-apiserver uses evanphx/json-patch's ``MergePatch``, whose corners differ slightly from
the RFC's pseudo-code and are kept here:

* a ``null`` patch, or a scalar patch, is rejected with 400 ``Invalid JSON Patch``;
* an array patch replaces the whole document (the API layer then fails to decode it);
* values copied in from the patch (where the document had nothing, ``null`` or a
  non-object) lose their ``null`` members recursively, including ``null`` array elements;
* an object patch over an object merges key by key and ``null`` deletes the key;
  a non-object patch value (array, scalar) replaces what was there, as is.
"""

from __future__ import annotations

from typing import Any

from kubesmith.api.errors import bad_request

from ._common import deep_copy, too_deep

__all__ = ["apply_merge_patch", "prune_nulls"]

_BAD_PATCH = "Invalid JSON Patch"
_BAD_DOCUMENT = "Invalid JSON Document"


def apply_merge_patch(original: Any, patch: Any) -> Any:
    """Apply a JSON merge patch to ``original`` and return a new document.

    Neither argument is modified and the result shares no containers with them.
    Raises :class:`~kubesmith.api.errors.StatusError` 400 for a ``null`` or scalar patch.
    """
    if patch is None or not isinstance(patch, (dict, list)):
        raise bad_request(_BAD_PATCH)
    if original is None:
        raise bad_request(_BAD_DOCUMENT)
    try:
        if isinstance(patch, list) or not isinstance(original, dict):
            return prune_nulls(patch)
        document: dict[str, Any] = deep_copy(original)
        _merge_into(document, patch)
    except RecursionError:
        raise too_deep() from None
    return document


def prune_nulls(value: Any) -> Any:
    """A copy of ``value`` without ``null`` object members or ``null`` array elements."""
    if isinstance(value, dict):
        return {key: prune_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [prune_nulls(item) for item in value if item is not None]
    return value


def _merge_into(document: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        if value is None:
            document.pop(key, None)
            continue
        current = document.get(key)
        if not isinstance(current, dict):
            # Nothing (or a non-object) to merge into: the pruned patch value replaces it.
            document[key] = prune_nulls(value)
        elif isinstance(value, dict):
            _merge_into(current, value)
        else:
            # An object replaced by a non-object: upstream copies it without pruning.
            document[key] = deep_copy(value)
