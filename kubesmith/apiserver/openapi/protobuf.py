"""The protobuf encoding of ``/openapi/v2``: gnostic's ``openapi.v2.Document``.

client-go only ever asks for ``/openapi/v2`` as
``application/com.github.proto-openapi.spec.v2@v1.0+protobuf`` and decodes the body with
``proto.Unmarshal`` into gnostic-models' ``openapi_v2.Document`` (``OpenAPIv2.proto``), so
this is the form kubectl needs for ``explain --output=plaintext-openapiv2`` and whenever
``/openapi/v3`` is unavailable.

The encoder is written by hand over the protobuf wire format rather than generated: it
needs only the messages a Kubernetes document uses, has no generated code or protobuf
runtime to keep in step, and writes the JSON document straight to bytes. It follows
gnostic's own JSON-to-proto compiler: keys starting ``x-`` become ``vendor_extension``
entries whose ``Any.yaml`` holds the value as JSON (JSON is YAML, and kubectl reads the
field with a YAML decoder), ``default``/``example``/``enum`` values likewise, and maps
(``properties``, ``definitions``, ``paths``, response codes) become repeated
``Named*`` pairs in document order. Field numbers below are ``OpenAPIv2.proto``'s.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

__all__ = ["encode_document"]

_VARINT = 0
_FIXED64 = 1
_BYTES = 2


def _varint(value: int) -> bytes:
    if value < 0:
        value += 1 << 64  # proto int64: two's complement, ten bytes
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(field: int, wire: int) -> bytes:
    return _varint(field << 3 | wire)


class _Message:
    """An append-only protobuf message; proto3 defaults (empty, zero, false) are omitted."""

    __slots__ = ("parts",)

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def string(self, field: int, value: Any) -> None:
        if isinstance(value, str) and value:
            data = value.encode()
            self.parts += (_key(field, _BYTES), _varint(len(data)), data)

    def strings(self, field: int, values: Any) -> None:
        if isinstance(values, list):
            for value in values:
                if isinstance(value, str):
                    data = value.encode()
                    self.parts += (_key(field, _BYTES), _varint(len(data)), data)

    def boolean(self, field: int, value: Any) -> None:
        if value is True:
            self.parts += (_key(field, _VARINT), b"\x01")

    def int64(self, field: int, value: Any) -> None:
        if isinstance(value, int) and not isinstance(value, bool) and value:
            self.parts += (_key(field, _VARINT), _varint(value))

    def double(self, field: int, value: Any) -> None:
        if isinstance(value, int | float) and not isinstance(value, bool) and value:
            self.parts += (_key(field, _FIXED64), struct.pack("<d", float(value)))

    def message(self, field: int, value: _Message | bytes) -> None:
        data = value if isinstance(value, bytes) else value.encode()
        self.parts += (_key(field, _BYTES), _varint(len(data)), data)

    def encode(self) -> bytes:
        return b"".join(self.parts)


def _any(value: Any) -> _Message:
    """gnostic ``Any``: field 2 ``yaml`` carries the value's text."""
    msg = _Message()
    msg.string(2, orjson.dumps(value).decode())
    return msg


def _named(name: str, value: _Message | bytes) -> _Message:
    """Any of gnostic's ``Named*`` pairs: 1 ``name``, 2 ``value``."""
    msg = _Message()
    msg.string(1, name)
    msg.message(2, value)
    return msg


def _extensions(msg: _Message, field: int, node: Mapping[str, Any]) -> None:
    for key, value in node.items():
        if key.startswith("x-"):
            msg.message(field, _named(key, _any(value)))


def _schema(node: Mapping[str, Any]) -> _Message:
    """``Schema``."""
    msg = _Message()
    msg.string(1, node.get("$ref"))
    msg.string(2, node.get("format"))
    msg.string(3, node.get("title"))
    msg.string(4, node.get("description"))
    if "default" in node:
        msg.message(5, _any(node["default"]))
    msg.double(6, node.get("multipleOf"))
    msg.double(7, node.get("maximum"))
    msg.boolean(8, node.get("exclusiveMaximum"))
    msg.double(9, node.get("minimum"))
    msg.boolean(10, node.get("exclusiveMinimum"))
    msg.int64(11, node.get("maxLength"))
    msg.int64(12, node.get("minLength"))
    msg.string(13, node.get("pattern"))
    msg.int64(14, node.get("maxItems"))
    msg.int64(15, node.get("minItems"))
    msg.boolean(16, node.get("uniqueItems"))
    msg.int64(17, node.get("maxProperties"))
    msg.int64(18, node.get("minProperties"))
    msg.strings(19, node.get("required"))
    for value in node.get("enum") or ():
        msg.message(20, _any(value))
    additional = node.get("additionalProperties")
    if isinstance(additional, dict):
        item = _Message()
        item.message(1, _schema(additional))
        msg.message(21, item)
    elif isinstance(additional, bool):
        item = _Message()
        # proto3 oneof: an explicit false must still be written to select the arm.
        item.parts += (_key(2, _VARINT), b"\x01" if additional else b"\x00")
        msg.message(21, item)
    kind = node.get("type")
    if kind:
        type_item = _Message()
        type_item.strings(1, kind if isinstance(kind, list) else [kind])
        msg.message(22, type_item)
    items = node.get("items")
    if isinstance(items, dict | list):
        items_item = _Message()
        for sub in items if isinstance(items, list) else [items]:
            items_item.message(1, _schema(sub))
        msg.message(23, items_item)
    for sub in node.get("allOf") or ():
        msg.message(24, _schema(sub))
    properties = node.get("properties")
    if isinstance(properties, dict):
        props = _Message()
        for name, sub in properties.items():
            props.message(1, _named(name, _schema(sub)))
        msg.message(25, props)
    msg.string(26, node.get("discriminator"))
    msg.boolean(27, node.get("readOnly"))
    docs = node.get("externalDocs")
    if isinstance(docs, dict):
        external = _Message()
        external.string(1, docs.get("description"))
        external.string(2, docs.get("url"))
        msg.message(29, external)
    if "example" in node:
        msg.message(30, _any(node["example"]))
    _extensions(msg, 31, node)
    return msg


def _parameter(node: Mapping[str, Any]) -> _Message:
    """``ParametersItem`` holding a body, query or path ``Parameter``."""
    parameter = _Message()
    where = node.get("in")
    if where == "body":
        body = _Message()
        body.string(1, node.get("description"))
        body.string(2, node.get("name"))
        body.string(3, where)
        body.boolean(4, node.get("required"))
        if isinstance(node.get("schema"), dict):
            body.message(5, _schema(node["schema"]))
        _extensions(body, 6, node)
        parameter.message(1, body)
    else:
        sub = _Message()
        sub.boolean(1, node.get("required"))
        sub.string(2, where)
        sub.string(3, node.get("description"))
        sub.string(4, node.get("name"))
        non_body = _Message()
        if where == "path":
            # PathParameterSubSchema: type 5, format 6, unique_items 19, extensions 22.
            sub.string(5, node.get("type"))
            sub.string(6, node.get("format"))
            sub.boolean(19, node.get("uniqueItems"))
            _extensions(sub, 22, node)
            non_body.message(4, sub)
        else:
            # QueryParameterSubSchema: type 6, format 7, unique_items 20, extensions 23.
            sub.string(6, node.get("type"))
            sub.string(7, node.get("format"))
            sub.boolean(20, node.get("uniqueItems"))
            _extensions(sub, 23, node)
            non_body.message(3, sub)
        parameter.message(2, non_body)
    item = _Message()
    item.message(1, parameter)
    return item


def _operation(node: Mapping[str, Any]) -> _Message:
    """``Operation``."""
    msg = _Message()
    msg.strings(1, node.get("tags"))
    msg.string(2, node.get("summary"))
    msg.string(3, node.get("description"))
    msg.string(5, node.get("operationId"))
    msg.strings(6, node.get("produces"))
    msg.strings(7, node.get("consumes"))
    for parameter in node.get("parameters") or ():
        msg.message(8, _parameter(parameter))
    responses = _Message()
    for code, response in (node.get("responses") or {}).items():
        body = _Message()
        body.string(1, response.get("description"))
        if isinstance(response.get("schema"), dict):
            schema_item = _Message()
            schema_item.message(1, _schema(response["schema"]))
            body.message(2, schema_item)
        value = _Message()
        value.message(1, body)
        responses.message(1, _named(code, value))
    msg.message(9, responses)
    msg.strings(10, node.get("schemes"))
    msg.boolean(11, node.get("deprecated"))
    _extensions(msg, 13, node)
    return msg


_METHOD_FIELDS = {"get": 2, "put": 3, "post": 4, "delete": 5, "options": 6, "head": 7,
                  "patch": 8}


def _path_item(node: Mapping[str, Any]) -> _Message:
    """``PathItem``."""
    msg = _Message()
    for method, field in _METHOD_FIELDS.items():
        if isinstance(node.get(method), dict):
            msg.message(field, _operation(node[method]))
    for parameter in node.get("parameters") or ():
        msg.message(9, _parameter(parameter))
    _extensions(msg, 10, node)
    return msg


def _security(requirements: Iterable[Mapping[str, Any]]) -> Iterable[_Message]:
    for requirement in requirements:
        msg = _Message()
        for name, scopes in requirement.items():
            array = _Message()
            array.strings(1, scopes)
            msg.message(1, _named(name, array))
        yield msg


def encode_document(document: Mapping[str, Any]) -> bytes:
    """A Swagger 2.0 document (as built for ``/openapi/v2``) in gnostic's protobuf form."""
    msg = _Message()
    msg.string(1, document.get("swagger"))
    info = document.get("info") or {}
    info_msg = _Message()
    info_msg.string(1, info.get("title"))
    info_msg.string(2, info.get("version"))
    info_msg.string(3, info.get("description"))
    msg.message(2, info_msg)
    msg.string(3, document.get("host"))
    msg.string(4, document.get("basePath"))
    msg.strings(5, document.get("schemes"))
    msg.strings(6, document.get("consumes"))
    msg.strings(7, document.get("produces"))
    paths = _Message()
    for path, item in (document.get("paths") or {}).items():
        paths.message(2, _named(path, _path_item(item)))
    msg.message(8, paths)
    definitions = _Message()
    for name, schema in (document.get("definitions") or {}).items():
        definitions.message(1, _named(name, _schema(schema)))
    msg.message(9, definitions)
    for requirement in _security(document.get("security") or ()):
        msg.message(12, requirement)
    schemes = document.get("securityDefinitions") or {}
    if schemes:
        security_definitions = _Message()
        for name, scheme in schemes.items():
            item = _Message()
            if scheme.get("type") == "apiKey":
                api_key = _Message()
                api_key.string(1, scheme.get("type"))
                api_key.string(2, scheme.get("name"))
                api_key.string(3, scheme.get("in"))
                api_key.string(4, scheme.get("description"))
                item.message(2, api_key)
            elif scheme.get("type") == "basic":
                basic = _Message()
                basic.string(1, scheme.get("type"))
                basic.string(2, scheme.get("description"))
                item.message(1, basic)
            security_definitions.message(1, _named(name, item))
        msg.message(13, security_definitions)
    _extensions(msg, 16, document)
    return msg.encode()
