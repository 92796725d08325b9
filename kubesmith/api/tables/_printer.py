"""Table printers and the ``meta.k8s.io/v1`` Table they fill.

A :class:`TablePrinter` is a fixed list of :class:`Column` plus a function computing one
row of cells from an object. Like kube-apiserver (which always prints with
``Wide: true``), rows carry every column, including the ``priority: 1`` ones that kubectl
shows only with ``-o wide``; kubectl drops those columns itself.

:func:`build_table` wraps rows the way the API server's ``asTable`` does: each row's
``object`` is a ``PartialObjectMetadata`` (``includeObject=Metadata``, the default), the
full object (``Object``) or ``null`` (``None``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kubesmith.api.errors import bad_request
from kubesmith.api.tables._descriptions import description
from kubesmith.api.tables._values import rfc3339
from kubesmith.api.types import Obj

__all__ = [
    "DEFAULT_PRINTER",
    "Column",
    "TablePrinter",
    "build_table",
]

CellsFn = Callable[[Obj, datetime], list[Any]]
ConditionsFn = Callable[[Obj], "list[dict[str, str]] | None"]
OrderFn = Callable[[Sequence[Obj]], list[Obj]]


@dataclass(frozen=True, slots=True)
class Column:
    """A ``TableColumnDefinition``; ``priority`` 1 means "only with ``-o wide``"."""

    name: str
    type: str
    description: str = ""
    format: str = ""
    priority: int = 0

    def definition(self) -> dict[str, Any]:
        """The JSON form; every field is present, as upstream never omits them."""
        return {"name": self.name, "type": self.type, "format": self.format,
                "description": self.description, "priority": self.priority}


NAME_DOC = description("meta/v1.ObjectMeta.name")
AGE_DOC = description("meta/v1.ObjectMeta.creationTimestamp")
NAME_COLUMN = Column("Name", "string", NAME_DOC, "name")
AGE_COLUMN = Column("Age", "string", AGE_DOC)


class TablePrinter:
    """Columns and the function that fills them for one kind."""

    __slots__ = ("_cells", "_conditions", "_definitions", "_order", "columns")

    def __init__(self, columns: Sequence[Column], cells: CellsFn,
                 conditions: ConditionsFn | None = None, order: OrderFn | None = None) -> None:
        self.columns = tuple(columns)
        self._cells = cells
        self._conditions = conditions
        self._order = order
        self._definitions = [c.definition() for c in self.columns]

    def column_definitions(self) -> list[dict[str, Any]]:
        """The ``columnDefinitions`` of the Table (a fresh list each call)."""
        return [dict(d) for d in self._definitions]

    def row(self, obj: Obj, now: datetime) -> list[Any]:
        """The cells of ``obj``'s row, ages measured against ``now``."""
        return self._cells(obj, _aware(now))

    def row_conditions(self, obj: Obj) -> list[dict[str, str]] | None:
        """``TableRow.conditions`` for ``obj`` (pods report ``Completed``), or None."""
        return self._conditions(obj) if self._conditions is not None else None

    def order(self, objects: Sequence[Obj]) -> list[Obj]:
        """The row order: the objects' own, except where upstream sorts (FlowSchemas)."""
        return self._order(objects) if self._order is not None else list(objects)


def _aware(now: datetime) -> datetime:
    return now if now.tzinfo is not None else now.replace(tzinfo=UTC)


def _default_cells(obj: Obj, now: datetime) -> list[Any]:
    meta = obj.get("metadata") or {}
    return [meta.get("name", ""), rfc3339(meta.get("creationTimestamp"))]


# rest.NewDefaultTableConvertor: what kinds without a printer (Roles, LimitRanges, CRDs)
# and unknown kinds show.
DEFAULT_PRINTER = TablePrinter(
    [NAME_COLUMN, Column("Created At", "date", AGE_DOC)], _default_cells)

_INCLUDE_OBJECT = ("Metadata", "Object", "None")


def _partial_metadata(obj: Mapping[str, Any], api_version: str) -> dict[str, Any]:
    metadata = dict(obj.get("metadata") or {})
    # ObjectMeta.creationTimestamp has no omitempty upstream: an unset one is null.
    metadata.setdefault("creationTimestamp", None)
    return {"kind": "PartialObjectMetadata", "apiVersion": api_version, "metadata": metadata}


def build_table(printer: TablePrinter, objects: Iterable[Obj], *,
                include_object: str = "Metadata", list_meta: Mapping[str, Any] | None = None,
                now: datetime | None = None, no_headers: bool = False,
                api_version: str = "meta.k8s.io/v1") -> dict[str, Any]:
    """A complete ``Table`` for ``objects`` (one object for a GET, the items of a LIST).

    ``include_object`` is the ``includeObject`` query parameter (``""`` means Metadata);
    anything else fails with upstream's 400. ``list_meta`` is the ``metadata`` of the list
    (``resourceVersion``, ``continue``, ``remainingItemCount``); for a GET upstream puts
    the object's ``resourceVersion`` there. ``no_headers`` leaves
    ``columnDefinitions`` null, as for the watch events after the first. ``api_version``
    is ``meta.k8s.io/v1`` or ``meta.k8s.io/v1beta1``, whichever the client accepted; the
    rows' ``PartialObjectMetadata`` uses the same.
    """
    include = include_object or "Metadata"
    if include not in _INCLUDE_OBJECT:
        raise bad_request(f'unrecognized includeObject value: "{include_object}"')
    moment = _aware(now) if now is not None else datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    for obj in printer.order(list(objects)):
        row: dict[str, Any] = {"cells": printer.row(obj, moment)}
        conditions = printer.row_conditions(obj)
        if conditions:
            row["conditions"] = conditions
        if include == "Metadata":
            row["object"] = _partial_metadata(obj, api_version)
        elif include == "Object":
            row["object"] = obj
        else:
            # An empty RawExtension marshals as null; upstream does not omit the key.
            row["object"] = None
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": api_version,
        "metadata": dict(list_meta or {}),
        "columnDefinitions": None if no_headers else printer.column_definitions(),
        "rows": rows,
    }
