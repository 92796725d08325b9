"""Tables for custom resources, from a CRD version's ``additionalPrinterColumns``.

Mirrors ``apiextensions-apiserver``'s ``tableconvertor``: the first column is always the
name; a version without printer columns gets a single ``Age`` column (the API server's
``serveDefaultColumnsIfEmpty``); each other column evaluates its JSONPath against the
object and converts the first value found according to the column's ``type``. A path
that finds nothing, or fails, yields a ``null`` cell.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from kubesmith.api.tables._jsonpath import JSONPath, JSONPathError, compile_jsonpath
from kubesmith.api.tables._printer import AGE_DOC, NAME_COLUMN, Column, TablePrinter
from kubesmith.api.tables._values import go_json, go_sprint, human_duration, parse_time
from kubesmith.api.types import Obj

__all__ = ["crd_columns"]

# time.Parse(time.RFC3339, ...) accepts exactly this shape (fractional seconds optional).
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")

_DEFAULT_COLUMNS: tuple[Mapping[str, Any], ...] = (
    {"name": "Age", "type": "date", "description": AGE_DOC,
     "jsonPath": ".metadata.creationTimestamp"},
)


def _string_cell(value: Any) -> str:
    # jsonpath PrintResults: objects and lists as JSON, scalars as fmt.Sprint would.
    if value is None:
        return "<no value>"
    if isinstance(value, dict | list):
        return go_json(value)
    return go_sprint(value)


def _typed_cell(column_type: str, value: Any, now: datetime) -> Any:
    """Upstream ``cellForJSONValue``: a value of the wrong JSON type gives ``None``."""
    if value is None:
        return None
    if column_type == "integer":
        if isinstance(value, bool):
            return None
        if isinstance(value, int):
            return value
        if isinstance(value, float):
            return int(value)  # Go's int64(float64) truncates toward zero
        return None
    if column_type == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return float(value)
    if column_type == "boolean":
        return value if isinstance(value, bool) else None
    if column_type == "string":
        return value if isinstance(value, str) else None
    if column_type == "date":
        if not isinstance(value, str):
            return None
        if value in ("", "null"):
            return "<unknown>"
        stamp = parse_time(value) if _RFC3339.fullmatch(value) else None
        if stamp is None:
            return "<invalid>"
        return human_duration(now - stamp)
    return None


def crd_columns(columns: Sequence[Mapping[str, Any]] | None) -> TablePrinter:
    """A printer for a custom resource version with these ``additionalPrinterColumns``.

    Each column is ``{"name", "type", "jsonPath", "format"?, "description"?,
    "priority"?}``. Raises :class:`ValueError` (upstream: "the server could not properly
    serve the CR columns") when a ``jsonPath`` does not parse.
    """
    specs = list(columns or []) or list(_DEFAULT_COLUMNS)
    definitions: list[Column] = [NAME_COLUMN]
    paths: list[tuple[JSONPath, str]] = []
    for spec in specs:
        json_path = str(spec.get("jsonPath", ""))
        try:
            path = compile_jsonpath(json_path)
        except JSONPathError as exc:
            raise ValueError(f"unrecognized column definition {json_path!r}") from exc
        description = spec.get("description") or \
            f"Custom resource definition column (in JSONPath format): {json_path}"
        column_type = str(spec.get("type", ""))
        definitions.append(Column(str(spec.get("name", "")), column_type, str(description),
                                  str(spec.get("format") or ""), int(spec.get("priority") or 0)))
        paths.append((path, column_type))

    def cells(obj: Obj, now: datetime) -> list[Any]:
        row: list[Any] = [(obj.get("metadata") or {}).get("name", "")]
        for path, column_type in paths:
            try:
                found = path.find(obj)
            except JSONPathError:
                row.append(None)
                continue
            if not found:
                row.append(None)
                continue
            # Printer columns are simple paths: upstream shows the first value only.
            value = found[0]
            if column_type == "string":
                row.append(_string_cell(value))
            else:
                row.append(_typed_cell(column_type, value, now))
        return row

    return TablePrinter(definitions, cells)
