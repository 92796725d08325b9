"""The smallest JSON merge patch between two documents: how status writers skip no-op writes
and send only the fields that changed."""

from __future__ import annotations

from typing import Any


def merge_patch(current: Any, desired: Any) -> Any:
    """The JSON merge patch (RFC 7386) turning ``current`` into ``desired``: changed keys,
    ``None`` for removed ones, lists replaced whole. Empty when they are equal."""
    if not isinstance(current, dict) or not isinstance(desired, dict):
        return desired
    patch: dict[str, Any] = {}
    for key, value in desired.items():
        if key not in current:
            patch[key] = value
        elif current[key] != value:
            if isinstance(value, dict) and isinstance(current[key], dict):
                patch[key] = merge_patch(current[key], value)
            else:
                patch[key] = value
    for key in current:
        if key not in desired:
            patch[key] = None
    return patch
