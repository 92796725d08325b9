"""Server-side printing: the ``meta.k8s.io/v1`` Table kubectl asks for.

``kubectl get`` sends ``Accept: application/json;as=Table;v=v1;g=meta.k8s.io`` and prints
whatever columns and cells come back, so the columns, their descriptions and priorities
and every cell's text here are kube-apiserver's (``pkg/printers/internalversion``):

* :func:`table_for` gives the :class:`TablePrinter` of a built-in kind, or the default
  ``Name``/``Created At`` printer for kinds upstream serves without one (Roles,
  ClusterRoles, LimitRanges, CustomResourceDefinitions) and for unknown kinds;
* :func:`crd_columns` builds the printer of a custom resource version from its
  ``additionalPrinterColumns`` (with a JSONPath evaluator for the column paths);
* :func:`build_table` assembles the Table for one object or a list, with each row's
  ``object`` as ``includeObject`` asks.

Rows are computed at request time (ages depend on ``now``); printers are stateless and
shared.
"""

from __future__ import annotations

from kubesmith.api.tables._builtin import table_for
from kubesmith.api.tables._crd import crd_columns
from kubesmith.api.tables._jsonpath import JSONPath, JSONPathError, compile_jsonpath
from kubesmith.api.tables._printer import DEFAULT_PRINTER, Column, TablePrinter, build_table
from kubesmith.api.tables._values import human_duration

__all__ = [
    "DEFAULT_PRINTER",
    "Column",
    "JSONPath",
    "JSONPathError",
    "TablePrinter",
    "build_table",
    "compile_jsonpath",
    "crd_columns",
    "human_duration",
    "table_for",
]
