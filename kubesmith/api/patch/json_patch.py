"""RFC 6902 JSON patch (``application/json-patch+json``) over the ``jsonpatch`` library.

The operations themselves are the library's; this module adds kube-apiserver's framing:

* a body that does not decode as a list of objects is 400 BadRequest with Go's decoder
  message (``json: cannot unmarshal object into Go value of type jsonpatch.Patch``);
  a ``null`` body is an empty patch;
* more than 10000 operations is 413 RequestEntityTooLarge;
* any failure while applying (unknown ``op``, missing ``path`` or ``value``, a path that
  does not exist, a failed ``test``) is 422 Invalid with upstream's fixed sentence,
  because the apiserver reports these through ``NewGenericServerResponse(422, ...)``.
"""

from __future__ import annotations

from typing import Any

import jsonpatch

from kubesmith.api.errors import bad_request, request_entity_too_large

from ._common import deep_copy, rejected_patch, too_deep

__all__ = ["MAX_OPERATIONS", "apply_json_patch", "json_patch_unknown_fields"]

MAX_OPERATIONS = 10000
"""Upstream's ``maxJSONPatchOperations``."""

_OPERATION_FIELDS = frozenset({"op", "path", "from", "value"})


def _json_kind(value: Any) -> str:
    """The JSON kind Go's ``UnmarshalTypeError`` names."""
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "bool"
    return "number"


def apply_json_patch(original: Any, patch: Any) -> Any:
    """Apply the decoded JSON patch ``patch`` to ``original``; return a new document.

    Neither argument is modified and the result shares no containers with them.
    """
    if patch is None:
        try:
            return deep_copy(original)
        except RecursionError:
            raise too_deep() from None
    if not isinstance(patch, list):
        raise bad_request(
            f"json: cannot unmarshal {_json_kind(patch)} into Go value of type jsonpatch.Patch")
    for operation in patch:
        # ``null`` decodes into a nil Operation in Go and only fails when applied (422).
        if operation is not None and not isinstance(operation, dict):
            raise bad_request(f"json: cannot unmarshal {_json_kind(operation)} into Go value "
                              f"of type jsonpatch.Operation")
    if len(patch) > MAX_OPERATIONS:
        raise request_entity_too_large(
            f"The allowed maximum operations in a JSON patch is {MAX_OPERATIONS}, "
            f"got {len(patch)}")
    try:
        # Copy the patch too: ``add``/``replace`` insert their ``value`` by reference.
        compiled = jsonpatch.JsonPatch(deep_copy(patch))
        return compiled.apply(deep_copy(original), in_place=True)
    except RecursionError:
        raise too_deep() from None
    except Exception as exc:
        # The library is not hardened against arbitrary operation members (a non-string
        # path, a pointer through a scalar raise TypeError and friends); every failure here
        # is the patch's fault, and upstream reports all of them the same way.
        raise rejected_patch() from exc


def json_patch_unknown_fields(patch: Any) -> list[str]:
    """Strict-decoding complaints about a JSON patch body, as upstream words them.

    ``fieldValidation=Strict`` rejects (and ``Warn`` warns about) operation members other
    than ``op``, ``path``, ``from`` and ``value``:
    ``json patch unknown field "[0].foo"``.
    """
    if not isinstance(patch, list):
        return []
    found: list[str] = []
    for index, operation in enumerate(patch):
        if isinstance(operation, dict):
            found.extend(f'json patch unknown field "[{index}].{name}"'
                         for name in operation if name not in _OPERATION_FIELDS)
    return found
