"""JSON encoding of API objects: orjson, once per object revision.

Objects are stored without ``metadata.resourceVersion`` (the storage revision is the
resource version, as in kube-apiserver); :func:`with_resource_version` stamps it on read.
"""

from __future__ import annotations

from typing import Any

import orjson

from kubesmith.api.types import Obj


def dumps(obj: Any) -> bytes:
    """Compact JSON bytes."""
    return orjson.dumps(obj)


def loads(data: bytes | str) -> Any:
    return orjson.loads(data)


def copy(obj: Obj) -> Obj:
    """A deep copy of a JSON-shaped object (orjson round trip beats copy.deepcopy)."""
    result: Obj = orjson.loads(orjson.dumps(obj))
    return result


def encode_for_storage(obj: Obj) -> bytes:
    """The stored form: no resourceVersion (the store's revision is authoritative)."""
    meta = obj.get("metadata")
    if isinstance(meta, dict) and "resourceVersion" in meta:
        rv = meta.pop("resourceVersion")
        try:
            return orjson.dumps(obj)
        finally:
            meta["resourceVersion"] = rv
    return orjson.dumps(obj)


def decode_from_storage(value: bytes, revision: int) -> Obj:
    """The object as served: decoded, with its resourceVersion set to ``revision``."""
    obj: Obj = orjson.loads(value)
    obj.setdefault("metadata", {})["resourceVersion"] = str(revision)
    return obj
