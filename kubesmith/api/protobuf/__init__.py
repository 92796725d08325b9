"""Kubernetes protobuf request bodies (``application/vnd.kubernetes.protobuf``).

kubectl's typed-client commands (``create configmap|secret|deployment|...``, ``create
token``, ``auth can-i``, ``auth whoami``) send their request bodies as Kubernetes protobuf,
not JSON. :func:`decode_request` turns such a body into the same JSON-shaped ``dict`` the
JSON path produces, so everything after decoding is shared; responses stay JSON, which
kubectl accepts.

Layout:

* :mod:`~kubesmith.api.protobuf.gobinary` reads the Go runtime type metadata (struct
  fields and their ``json``/``protobuf`` tags) out of a Go executable;
* :mod:`~kubesmith.api.protobuf.schema` turns kubectl's into the protobuf schema of the
  API types and caches it as JSON (:func:`load_schema`);
* :mod:`~kubesmith.api.protobuf.wire` is the protobuf wire format;
* :mod:`~kubesmith.api.protobuf.decode` maps a message onto the Go struct and renders it
  as ``encoding/json`` would.

Why the schema comes from the kubectl binary, and what this does not cover, is recorded in
``docs/adr/0004-protobuf-request-bodies.md``.

The default decoder loads the schema on first use: hashing kubectl takes ~0.1 s and a
first-ever extraction ~2 s, so a server should call :func:`default_decoder` once at
start-up (off the event loop) rather than on its first protobuf request.
"""

from __future__ import annotations

import threading
from typing import Any

from kubesmith.api import errors
from kubesmith.api.protobuf.decode import (
    CONTENT_TYPE,
    MAGIC,
    MAX_BODY_BYTES,
    DecodeError,
    ProtobufDecoder,
    as_status_error,
    go_package,
)
from kubesmith.api.protobuf.schema import Schema, SchemaUnavailable, load_schema
from kubesmith.api.protobuf.wire import WireError

__all__ = [
    "CONTENT_TYPE",
    "MAGIC",
    "MAX_BODY_BYTES",
    "ProtobufDecoder",
    "Schema",
    "SchemaUnavailable",
    "decode_request",
    "default_decoder",
    "go_package",
    "load_schema",
]

_lock = threading.Lock()
_default: ProtobufDecoder | None = None


def default_decoder() -> ProtobufDecoder:
    """The process-wide decoder over :func:`load_schema`'s schema (loaded once).

    Raises :class:`SchemaUnavailable` when no kubectl is installed to read it from.
    """
    global _default
    with _lock:
        if _default is None:
            _default = ProtobufDecoder(load_schema())
        return _default


def decode_request(body: bytes, *, api_version: str = "", kind: str = "",
                   schema: Schema | ProtobufDecoder | None = None) -> dict[str, Any]:
    """Decode a Kubernetes protobuf request body into a JSON-shaped object.

    ``api_version``/``kind`` are used only when the envelope leaves them empty (upstream
    fills them from the request's expected kind). ``schema`` defaults to
    :func:`default_decoder`'s.

    Raises a :class:`~kubesmith.api.errors.StatusError`: 400 for a malformed body or a kind
    with no built-in type, 413 for a body over :data:`MAX_BODY_BYTES`, 415 when the server
    has no schema (no kubectl binary) and so cannot speak protobuf at all.
    """
    if isinstance(schema, ProtobufDecoder):
        decoder = schema
    elif schema is not None:
        decoder = ProtobufDecoder(schema)
    else:
        try:
            decoder = default_decoder()
        except SchemaUnavailable:
            raise errors.unsupported_media_type(CONTENT_TYPE) from None
    try:
        return decoder.decode(bytes(body), api_version=api_version, kind=kind)
    except (DecodeError, WireError, RecursionError) as exc:
        raise as_status_error(exc) from None
