"""Patch engines: JSON patch, JSON merge patch and strategic merge patch.

All three are pure functions over decoded JSON: they take the live object and the decoded
patch body, never modify either, and return a new object that shares no containers with
them. Malformed or inapplicable patches raise :class:`~kubesmith.api.errors.StatusError`
with the code, reason and message kube-apiserver uses (400, 413 or 422 — never 500).

Server-side apply (``application/apply-patch+yaml``) is not here: it needs field ownership
and lives with the field manager. Whether a patch type is allowed for a resource (upstream
refuses strategic merge patch on custom resources with 415) is the API layer's decision;
:func:`apply_patch` only dispatches.
"""

from __future__ import annotations

from typing import Any

from kubesmith.api.errors import unsupported_media_type
from kubesmith.api.schema import SchemaNode
from kubesmith.api.types import Obj

from .json_patch import MAX_OPERATIONS, apply_json_patch, json_patch_unknown_fields
from .merge_patch import apply_merge_patch
from .strategic import apply_strategic_merge_patch

__all__ = [
    "JSON_PATCH",
    "MAX_OPERATIONS",
    "MERGE_PATCH",
    "STRATEGIC_MERGE_PATCH",
    "apply_json_patch",
    "apply_merge_patch",
    "apply_patch",
    "apply_strategic_merge_patch",
    "json_patch_unknown_fields",
]

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"


def apply_patch(content_type: str, original: Obj, patch: Any, node: SchemaNode | None) -> Any:
    """Apply ``patch`` of the given media type (parameters such as ``charset`` ignored).

    The result is usually an object; JSON and merge patches can legally produce other
    JSON (a merge patch that is an array replaces the document), which the caller rejects
    when decoding the result into its kind. ``node`` only matters for strategic merge.
    """
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type == JSON_PATCH:
        return apply_json_patch(original, patch)
    if media_type == MERGE_PATCH:
        return apply_merge_patch(original, patch)
    if media_type == STRATEGIC_MERGE_PATCH:
        return apply_strategic_merge_patch(original, patch, node)
    raise unsupported_media_type(content_type)
