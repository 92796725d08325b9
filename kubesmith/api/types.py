"""Shared type aliases for API objects."""

from __future__ import annotations

from typing import Any, TypeAlias

# API objects are handled as decoded JSON: the wire format is the model.
Obj: TypeAlias = dict[str, Any]
