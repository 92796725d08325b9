"""Server-side apply and ``metadata.managedFields``, as kube-apiserver's field manager.

Modules, bottom up (Go's exact text for JSON values and quoted strings, which FieldsV1
keys and conflict messages need, comes from :mod:`kubesmith.api.gofmt`):

* :mod:`.schematype` — structured-merge-diff's view of an OpenAPI schema: which lists are
  atomic, sets or keyed maps, which maps are atomic, what is free-form.
* :mod:`.fields` — :class:`FieldSet` (paths of field/key/value/index elements), the
  FieldsV1 wire encoding, and :func:`fieldset_of` (the fields an object sets).
* :mod:`.typed` — compare, merge, remove and validate objects under a schema.
* :mod:`.managed` — :func:`track_update` for create/update/patch and :func:`apply` for
  server-side apply, including conflicts and the client-side apply upgrade path.

Everything is pure and synchronous; the API layer calls it inside its update loop.
"""

from __future__ import annotations

from .fields import FieldSet, PathElement, fieldset_of, path_string
from .managed import (
    APPLY,
    LAST_APPLIED_ANNOTATION,
    UPDATE,
    ManagedEntry,
    apply,
    decode_managed_fields,
    encode_managed_fields,
    manager_from_user_agent,
    manager_or_user_agent,
    track_update,
)
from .typed import Comparison, compare, merge, remove_items, validate

__all__ = [
    "APPLY",
    "LAST_APPLIED_ANNOTATION",
    "UPDATE",
    "Comparison",
    "FieldSet",
    "ManagedEntry",
    "PathElement",
    "apply",
    "compare",
    "decode_managed_fields",
    "encode_managed_fields",
    "fieldset_of",
    "manager_from_user_agent",
    "manager_or_user_agent",
    "merge",
    "path_string",
    "remove_items",
    "track_update",
    "validate",
]
