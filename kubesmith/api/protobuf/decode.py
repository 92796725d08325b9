"""Decoding a Kubernetes protobuf request body into the JSON-shaped object it stands for.

The body (``Content-Type: application/vnd.kubernetes.protobuf``) is the four bytes
``k8s\\x00`` followed by a ``runtime.Unknown`` message::

    1: typeMeta {1: apiVersion, 2: kind}   2: raw (the object's own message)
    3: contentEncoding                     4: contentType

``(apiVersion, kind)`` names a Go struct (:func:`go_package`), and ``raw`` is that struct as
``go-to-protobuf`` encodes it: one protobuf field per struct field with a ``protobuf`` tag.
The result is what kube-apiserver would get by unmarshalling into the Go struct and then
``json.Marshal``-ing it, which is also exactly what kubectl sends when told to use JSON:

* Fields start at their Go zero value and the wire overwrites them (scalars), appends to
  them (repeated fields, map entries) or merges into them (nested messages).
* JSON keys and their order follow ``encoding/json``: ``json`` tag names, fields of embedded
  structs without a name promoted into their parent (``TypeMeta``'s ``kind``/``apiVersion``,
  ``VolumeSource`` in ``Volume``), ``omitempty`` dropping ``""``/``0``/``false``/nil and
  empty slices and maps (never structs), ``omitzero`` dropping zero values, a nil slice or
  map without ``omitempty`` written as ``null``, ``[]byte`` as base64.
* Types with their own JSON or protobuf form: ``metav1.Time``/``MicroTime`` (a
  ``{seconds, nanos}`` Timestamp on the wire, RFC 3339 or ``null`` in JSON),
  ``metav1.Duration`` (nanoseconds, Go's ``1h2m3s``), ``resource.Quantity`` (a string,
  re-printed in canonical form as Go does), ``intstr.IntOrString`` (``{type, intVal,
  strVal}``, a JSON number or string), ``runtime.RawExtension`` and ``metav1.FieldsV1``
  (raw JSON embedded as is). A named slice type (``metav1.Verbs``, ``ExtraValue``) is a
  message of its own wrapping ``repeated items = 1``.
* The object's ``kind``/``apiVersion`` come from ``typeMeta``, as the Go decoder sets them.

Malformed input never crashes the caller: wire errors, wrong wire types, unknown kinds,
nesting deeper than :data:`MAX_DEPTH`, bodies over :data:`MAX_BODY_BYTES` and results over
:data:`MAX_JSON_NODES` values all become a 4xx :class:`~kubesmith.api.errors.StatusError`.
Unknown field numbers are skipped, as the generated Go code does.
"""

from __future__ import annotations

import base64
import math
import struct
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Final

import orjson

from kubesmith.api import errors
from kubesmith.api.protobuf import gotime
from kubesmith.api.protobuf.schema import FieldSchema, ProtoTag, Schema, TypeRef
from kubesmith.api.protobuf.wire import (
    FIXED32,
    FIXED64,
    LENGTH_DELIMITED,
    VARINT,
    WireError,
    iter_fields,
    to_int32,
    to_int64,
    unpack_packed,
)
from kubesmith.api.validation.quantity import QuantityError, parse_quantity

__all__ = [
    "CONTENT_TYPE",
    "MAGIC",
    "MAX_BODY_BYTES",
    "MAX_DEPTH",
    "MAX_JSON_NODES",
    "DecodeError",
    "ProtobufDecoder",
    "as_status_error",
    "go_package",
]

MAGIC: Final = b"k8s\x00"
CONTENT_TYPE: Final = "application/vnd.kubernetes.protobuf"
#: The same limit the JSON and YAML paths apply.
MAX_BODY_BYTES: Final = 3 * 1024 * 1024
#: Nested messages; real objects stay under 20 (a CRD's JSONSchemaProps can go deeper).
MAX_DEPTH: Final = 100
#: Values in the decoded object: empty sub-messages cost two bytes on the wire but expand
#: into every zero-valued field of their struct, so the output is bounded separately.
MAX_JSON_NODES: Final = 2_000_000

_META: Final = "k8s.io/apimachinery/pkg/apis/meta/v1"
_TYPE_META: Final = f"{_META}.TypeMeta"
_TIME: Final = f"{_META}.Time"
_MICRO_TIME: Final = f"{_META}.MicroTime"
_DURATION: Final = f"{_META}.Duration"
_FIELDS_V1: Final = f"{_META}.FieldsV1"
_QUANTITY: Final = "k8s.io/apimachinery/pkg/api/resource.Quantity"
_INT_OR_STRING: Final = "k8s.io/apimachinery/pkg/util/intstr.IntOrString"
_RAW_EXTENSION: Final = "k8s.io/apimachinery/pkg/runtime.RawExtension"

# Groups whose Go package is not k8s.io/api/<first DNS label of the group>.
_GROUP_PACKAGES: Final = {
    "": "k8s.io/api/core",
    "internal.apiserver.k8s.io": "k8s.io/api/apiserverinternal",
    "meta.k8s.io": "k8s.io/apimachinery/pkg/apis/meta",
    "apiextensions.k8s.io": "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions",
    "apiregistration.k8s.io": "k8s.io/kube-aggregator/pkg/apis/apiregistration",
}
# Registered by metav1.AddToGroupVersion into every group version (and the unversioned
# kinds), so "apps/v1 DeleteOptions" is metav1.DeleteOptions.
_META_KINDS: Final = frozenset({
    "ListOptions", "GetOptions", "DeleteOptions", "CreateOptions", "UpdateOptions",
    "PatchOptions", "WatchEvent", "Status", "APIVersions", "APIGroupList", "APIGroup",
    "APIResourceList",
})


class DecodeError(ValueError):
    """The body cannot be decoded; the message is for the client (a 400)."""


class _Absent:
    """The Go zero value of a field that did not appear on the wire."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Final = _Absent()
_ZERO_TIME: Final = (gotime.ZERO_TIME_UNIX, 0)


def go_package(api_version: str) -> str:
    """The Go package of a built-in ``apiVersion``: ``apps/v1`` -> ``k8s.io/api/apps/v1``;
    ``""`` for groups that are not Kubernetes' own (custom resources have no protobuf)."""
    group, _, version = api_version.rpartition("/")
    if not version:
        return ""
    base = _GROUP_PACKAGES.get(group)
    if base is None:
        if "." in group and not group.endswith(".k8s.io"):
            return ""
        base = "k8s.io/api/" + group.split(".", 1)[0]
    return f"{base}/{version}"


def _wrong_wire(wire_type: int, what: str) -> DecodeError:
    return DecodeError(f"proto: wrong wireType = {wire_type} for field {what}")


class _Emit:
    """State of one JSON rendering: the node budget and the nesting depth."""

    __slots__ = ("budget", "decoder", "depth")

    def __init__(self, decoder: ProtobufDecoder, depth: int) -> None:
        self.decoder = decoder
        self.budget = MAX_JSON_NODES
        self.depth = depth

    def spend(self, count: int) -> None:
        self.budget -= count
        if self.budget < 0:
            raise DecodeError(f"decoded object has more than {MAX_JSON_NODES} values")


# -- type nodes --------------------------------------------------------------------------
#
# A node knows how to turn one wire occurrence into a Go value (``one``), how that value
# (or ABSENT, the zero value) looks in JSON, and the omitempty / omitzero tests. Go values
# are Python scalars, ``bytes``, lists (slices and struct fields) and dicts (maps).


class _Node:
    wire = LENGTH_DELIMITED
    packable = False
    label = "field"

    def one(self, d: ProtobufDecoder, buf: bytes, wt: int, a: int, b: int, depth: int,
            old: Any) -> Any:
        raise NotImplementedError

    def from_raw(self, raw: int) -> Any:
        raise NotImplementedError

    def to_json(self, value: Any, ctx: _Emit) -> Any:
        raise NotImplementedError

    def is_empty(self, value: Any) -> bool:
        return value is ABSENT

    def is_zero(self, value: Any) -> bool:
        return value is ABSENT


class _Bool(_Node):
    wire = VARINT
    packable = True

    def one(self, d: ProtobufDecoder, buf: bytes, wt: int, a: int, b: int, depth: int,
            old: Any) -> Any:
        if wt != VARINT:
            raise _wrong_wire(wt, "bool")
        return a != 0

    def from_raw(self, raw: int) -> Any:
        return raw != 0

    def to_json(self, value: Any, ctx: _Emit) -> Any:
        return False if value is ABSENT else value

    def is_empty(self, value: Any) -> bool:
        return value is ABSENT or not value

    is_zero = is_empty


class _Int(_Node):
    packable = True

    def __init__(self, bits: int, signed: bool, encoding: str) -> None:
        self.bits = bits
        self.signed = signed
        self.zigzag = encoding.startswith("zigzag")
        self.wire = {"fixed64": FIXED64, "fixed32": FIXED32}.get(encoding, VARINT)

    def one(self, d: ProtobufDecoder, buf: bytes, wt: int, a: int, b: int, depth: int,
            old: Any) -> Any:
        if wt != self.wire:
            raise _wrong_wire(wt, f"int{self.bits}")
        return self.from_raw(a)

    def from_raw(self, raw: int) -> Any:
        if self.zigzag:
            raw = (raw >> 1) ^ -(raw & 1)
        if self.bits == 64:
            return to_int64(raw) if self.signed else raw & 0xFFFFFFFFFFFFFFFF
        if self.bits == 32:
            return to_int32(raw) if self.signed else raw & 0xFFFFFFFF
        value = raw & ((1 << self.bits) - 1)
        if self.signed and value >= 1 << (self.bits - 1):
            value -= 1 << self.bits
        return value

    def to_json(self, value: Any, ctx: _Emit) -> Any:
        return 0 if value is ABSENT else value

    def is_empty(self, value: Any) -> bool:
        return value is ABSENT or value == 0

    is_zero = is_empty


class _Float(_Node):
    packable = True

    def __init__(self, bits: int) -> None:
        self.bits = bits
        self.wire = FIXED64 if bits == 64 else FIXED32

    def one(self, d: ProtobufDecoder, buf: bytes, wt: int, a: int, b: int, depth: int,
            old: Any) -> Any:
        if wt != self.wire:
            raise _wrong_wire(wt, f"float{self.bits}")
        return self.from_raw(a)

    def from_raw(self, raw: int) -> Any:
        if self.bits == 64:
            return struct.unpack("<d", struct.pack("<Q", raw))[0]
        value: float = struct.unpack("<f", struct.pack("<I", raw))[0]
        # Go prints a float32 with the fewest digits that round-trip at 32 bits.
        for digits in range(1, 10):
            short = float(f"{value:.{digits}g}")
            if struct.unpack("<f", struct.pack("<f", short))[0] == value:
                return short
        return value

    def to_json(self, value: Any, ctx: _Emit) -> Any:
        if value is ABSENT:
            return 0
        if not math.isfinite(value):
            raise DecodeError(f"json: unsupported value: {value}")
        return value

    def is_empty(self, value: Any) -> bool:
        return value is ABSENT or value == 0

    is_zero = is_empty


class _String(_Node):
    def one(self, d: ProtobufDecoder, buf: bytes, wt: int, a: int, b: int, depth: int,
            old: Any) -> Any:
        if wt != LENGTH_DELIMITED:
            raise _wrong_wire(wt, "string")
        # encoding/json writes invalid UTF-8 as U+FFFD.
        return buf[a:b].decode("utf-8", "replace")

    def to_json(self, value: Any, ctx: _Emit) -> Any:
        return "" if value is ABSENT else value

    def is_empty(self, value: Any) -> bool:
        return value is ABSENT or not value

    is_zero = is_empty


class _Bytes(_Node):
    def one(self, d: ProtobufDecoder, buf: bytes, wt: int, a: int, b: int, depth: int,
            old: Any) -> Any:
        if wt != LENGTH_DELIMITED:
            raise _wrong_wire(wt, "bytes")
        return bytes(buf[a:b])

    def to_json(self, value: Any, ctx: _Emit) -> Any:
        return None if value is ABSENT else base64.b64encode(value).decode("ascii")

    def is_empty(self, value: Any) -> bool:
        return value is ABSENT or not value


class _Ptr(_Node):
    def __init__(self, elem: _Node) -> None:
        self.elem = elem
        self.wire = elem.wire

    def one(self, d: ProtobufDecoder, buf: bytes, wt: int, a: int, b: int, depth: int,
            old: Any) -> Any:
        return self.elem.one(d, buf, wt, a, b, depth, old)

    def to_json(self, value: Any, ctx: _Emit) -> Any:
        return None if value is ABSENT else self.elem.to_json(value, ctx)


class _WrappedSlice(_Node):
    """A named slice type: its own message, ``repeated <elem> items = 1``."""

    def __init__(self, elem: _Node) -> None:
        self.elem = elem

    def one(self, d: ProtobufDecoder, buf: bytes, wt: int, a: int, b: int, depth: int,
            old: Any) -> Any:
        if wt != LENGTH_DELIMITED:
            raise _wrong_wire(wt, "items")
        items: list[Any] = old if isinstance(old, list) else []
        for num, wt2, a2, b2 in iter_fields(buf, a, b):
            if num == 1:
                _append(d, self.elem, items, buf, wt2, a2, b2, depth + 1)
        return items

    def to_json(self, value: Any, ctx: _Emit) -> Any:
        if value is ABSENT:
            return None
        ctx.spend(len(value))
        return [self.elem.to_json(v, ctx) for v in value]

    def is_empty(self, value: Any) -> bool:
        return value is ABSENT or not value


class _Unsupported(_Node):
    """A Go type with no protobuf form we know (interfaces, custom encodings)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def one(self, d: ProtobufDecoder, buf: bytes, wt: int, a: int, b: int, depth: int,
            old: Any) -> Any:
        raise DecodeError(f"cannot decode a {self.name} from protobuf")

    def to_json(self, value: Any, ctx: _Emit) -> Any:
        return None


class _Message(_Node):
    """A struct: a nested message, merged into on every occurrence."""

    def __init__(self, decoder: ProtobufDecoder, name: str) -> None:
        self.decoder = decoder
        self.name = name
        self._plan: _StructPlan | None = None

    @property
    def plan(self) -> _StructPlan:
        if self._plan is None:
            self._plan = self.decoder.plan(self.name)
        return self._plan

    def one(self, d: ProtobufDecoder, buf: bytes, wt: int, a: int, b: int, depth: int,
            old: Any) -> Any:
        if wt != LENGTH_DELIMITED:
            raise _wrong_wire(wt, self.name)
        values = old if isinstance(old, list) else self.plan.new()
        d.fill(self.plan, values, buf, a, b, depth + 1)
        return values

    def to_json(self, value: Any, ctx: _Emit) -> Any:
        return self.plan.emit(value, ctx)

    def is_empty(self, value: Any) -> bool:
        return False  # encoding/json never treats a struct as empty

    def is_zero(self, value: Any) -> bool:
        if value is ABSENT:
            return True
        return all(node.is_zero(v) for node, v in zip(self.plan.nodes, value, strict=True))

    def field(self, value: Any, go_name: str) -> Any:
        if value is ABSENT:
            return ABSENT
        return value[self.plan.index_of[go_name]]


class _IntOrString(_Message):
    def to_json(self, value: Any, ctx: _Emit) -> Any:
        kind = self.field(value, "Type")
        if kind is ABSENT or kind == 0:
            int_val = self.field(value, "IntVal")
            return 0 if int_val is ABSENT else int_val
        if kind == 1:
            str_val = self.field(value, "StrVal")
            return "" if str_val is ABSENT else str_val
        raise DecodeError("impossible IntOrString.Type")


class _Duration(_Message):
    def to_json(self, value: Any, ctx: _Emit) -> Any:
        nanos = self.field(value, "Duration")
        return gotime.format_duration(0 if nanos is ABSENT else nanos)


class _RawJSON(_Message):
    """RawExtension and FieldsV1: ``{1: raw}`` holding JSON that is written out verbatim."""

    def to_json(self, value: Any, ctx: _Emit) -> Any:
        raw = self.field(value, "Raw")
        if raw is ABSENT:
            return None
        if raw.startswith(MAGIC) and self.name == _RAW_EXTENSION:
            # An embedded object encoded with the protobuf serializer.
            return ctx.decoder.decode(raw, depth=ctx.depth + 1)
        try:
            decoded = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise DecodeError(f"{self.name.rsplit('.', 1)[-1]} does not hold valid JSON") \
                from None
        ctx.spend(len(raw) // 8 + 1)
        return decoded


class _Time(_Node):
    """metav1.Time / MicroTime: a ``{1: seconds, 2: nanos}`` Timestamp; JSON RFC 3339.

    The value is ``(unix seconds, nanos)``; an empty message is Go's zero time.
    """

    def __init__(self, micro: bool) -> None:
        self.micro = micro

    def one(self, d: ProtobufDecoder, buf: bytes, wt: int, a: int, b: int, depth: int,
            old: Any) -> Any:
        if wt != LENGTH_DELIMITED:
            raise _wrong_wire(wt, "Time")
        if a == b:  # Time.Unmarshal: no data is the zero time
            return _ZERO_TIME
        seconds = nanos = 0
        for num, wt2, value, _ in iter_fields(buf, a, b):
            if num in (1, 2) and wt2 != VARINT:
                raise _wrong_wire(wt2, "Timestamp")
            if num == 1:
                seconds = to_int64(value)
            elif num == 2:
                nanos = to_int32(value)
        # metav1.Time keeps whole seconds only (its JSON never had more); MicroTime keeps
        # the nanoseconds and prints microseconds.
        return gotime.normalize_unix(seconds, nanos if self.micro else 0)

    def to_json(self, value: Any, ctx: _Emit) -> Any:
        if value is ABSENT or value == _ZERO_TIME:
            return None
        return gotime.format_rfc3339(value[0], value[1], micro=self.micro)

    def is_empty(self, value: Any) -> bool:
        return False

    def is_zero(self, value: Any) -> bool:
        return value is ABSENT or value == _ZERO_TIME


class _Quantity(_Node):
    """resource.Quantity: ``{1: string}``, parsed and re-printed canonically as Go does."""

    def one(self, d: ProtobufDecoder, buf: bytes, wt: int, a: int, b: int, depth: int,
            old: Any) -> Any:
        if wt != LENGTH_DELIMITED:
            raise _wrong_wire(wt, "Quantity")
        result = "0" if old is ABSENT else old
        for num, wt2, a2, b2 in iter_fields(buf, a, b):
            if num != 1:
                continue
            if wt2 != LENGTH_DELIMITED:
                raise _wrong_wire(wt2, "Quantity.string")
            try:
                result = str(parse_quantity(buf[a2:b2].decode("utf-8", "replace")))
            except QuantityError as exc:
                raise DecodeError(str(exc)) from None
        return result

    def to_json(self, value: Any, ctx: _Emit) -> Any:
        return "0" if value is ABSENT else value

    def is_empty(self, value: Any) -> bool:
        return False

    def is_zero(self, value: Any) -> bool:
        return value is ABSENT or value == "0"


def _append(d: ProtobufDecoder, node: _Node, items: list[Any], buf: bytes, wt: int,
            a: int, b: int, depth: int) -> None:
    """Add one occurrence of a repeated field: an element, or a packed run of scalars."""
    if wt == LENGTH_DELIMITED and node.packable:
        items.extend(node.from_raw(raw) for raw in unpack_packed(buf, a, b, node.wire))
    else:
        items.append(node.one(d, buf, wt, a, b, depth, ABSENT))


# -- struct plans ------------------------------------------------------------------------

_SINGLE: Final = 0
_REPEATED: Final = 1
_MAP: Final = 2


@dataclass(slots=True)
class _FieldPlan:
    index: int
    name: str
    mode: int
    node: _Node             # the field (SINGLE), its element (REPEATED) or map value (MAP)
    key: _Node | None = None


@dataclass(slots=True)
class _JsonField:
    name: str
    hops: tuple[tuple[int, bool], ...]   # embedded structs on the way: (index, is pointer)
    index: int
    node: _Node
    omitempty: bool
    omitzero: bool
    quoted: bool


class _Collection(_Node):
    """A repeated field or a map as a whole, for the JSON side."""

    def __init__(self, elem: _Node, is_map: bool) -> None:
        self.elem = elem
        self.is_map = is_map

    def to_json(self, value: Any, ctx: _Emit) -> Any:
        if value is ABSENT:
            return None
        ctx.spend(len(value))
        if self.is_map:
            return {k: self.elem.to_json(value[k], ctx) for k in sorted(value)}
        return [self.elem.to_json(v, ctx) for v in value]

    def is_empty(self, value: Any) -> bool:
        return value is ABSENT or not value


class _StructPlan:
    """A struct compiled for decoding (by field number) and for JSON (Go's field order)."""

    def __init__(self, decoder: ProtobufDecoder, name: str) -> None:
        schema = decoder.schema.struct(name)
        if schema is None:
            raise DecodeError(f"no protobuf schema for {name}")
        self.name = name
        self.decoder = decoder
        self.fields = schema.fields
        self.nodes: list[_Node] = []
        self.by_number: dict[int, _FieldPlan] = {}
        self.index_of: dict[str, int] = {}
        for i, f in enumerate(schema.fields):
            self.index_of[f.go] = i
            mode, node, key = decoder.field_nodes(f)
            self.nodes.append(node if mode == _SINGLE else _Collection(node, mode == _MAP))
            if f.proto is not None:
                self.by_number[f.proto.num] = _FieldPlan(i, f.go, mode, node, key)
        self._json: list[_JsonField] | None = None

    def new(self) -> list[Any]:
        return [ABSENT] * len(self.fields)

    @property
    def json_fields(self) -> list[_JsonField]:
        if self._json is None:
            self._json = self.decoder.json_fields(self.name)
        return self._json

    def emit(self, values: Any, ctx: _Emit) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for jf in self.json_fields:
            holder = values
            skip = False
            for index, is_pointer in jf.hops:
                holder = ABSENT if holder is ABSENT else holder[index]
                if holder is ABSENT and is_pointer:
                    skip = True  # fields of a nil embedded pointer are left out
                    break
            if skip:
                continue
            value = ABSENT if holder is ABSENT else holder[jf.index]
            node = jf.node
            if jf.omitempty and node.is_empty(value):
                continue
            if jf.omitzero and node.is_zero(value):
                continue
            rendered = node.to_json(value, ctx)
            if jf.quoted and isinstance(rendered, (str, int, float, bool)):
                rendered = orjson.dumps(rendered).decode()
            out[jf.name] = rendered
        ctx.spend(len(out) + 1)
        return out


# -- the decoder -------------------------------------------------------------------------


_SCALAR_BITS: Final = {"int": 64, "int8": 8, "int16": 16, "int32": 32, "int64": 64,
                       "uint": 64, "uint8": 8, "uint16": 16, "uint32": 32, "uint64": 64,
                       "uintptr": 64}


class ProtobufDecoder:
    """Decodes protobuf bodies against one :class:`~kubesmith.api.protobuf.schema.Schema`.

    Struct plans are compiled on first use and kept; the decoder is safe to share between
    requests (compiling is idempotent, so a race only does the work twice).
    """

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self._plans: dict[str, _StructPlan] = {}
        self._messages: dict[str, _Node] = {}
        self._key_ctx = _Emit(self, 0)  # map keys are scalars: they spend no budget

    # -- compiling -----------------------------------------------------------------------

    def plan(self, name: str) -> _StructPlan:
        plan = self._plans.get(name)
        if plan is None:
            plan = _StructPlan(self, name)
            self._plans[name] = plan
        return plan

    def _struct_node(self, name: str) -> _Node:
        node = self._messages.get(name)
        if node is not None:
            return node
        schema = self.schema.struct(name)
        if name in (_TIME, _MICRO_TIME):
            node = _Time(micro=name == _MICRO_TIME)
        elif name == _QUANTITY:
            node = _Quantity()
        elif name == _INT_OR_STRING:
            node = _IntOrString(self, name)
        elif name == _DURATION:
            node = _Duration(self, name)
        elif name in (_RAW_EXTENSION, _FIELDS_V1):
            node = _RawJSON(self, name)
        elif schema is None or schema.custom_json:
            # Its own MarshalJSON that we do not mirror: refuse rather than guess.
            node = _Unsupported(name)
        else:
            node = _Message(self, name)
        self._messages[name] = node
        return node

    def node(self, ref: TypeRef, proto: ProtoTag | None = None, nested: bool = False) -> _Node:
        """The node for a type reference; ``nested`` for slice/map elements."""
        encoding = proto.wire if proto is not None else "varint"
        if isinstance(ref, str):
            if ref == "string":
                return _String()
            if ref == "bool":
                return _Bool()
            if ref in ("float32", "float64"):
                return _Float(32 if ref == "float32" else 64)
            if ref in _SCALAR_BITS:
                return _Int(_SCALAR_BITS[ref], not ref.startswith("u"), encoding)
            return _Unsupported(ref)
        head = ref[0]
        if head == "ptr":
            return _Ptr(self.node(ref[1], proto, nested))
        if head == "slice":
            if ref[1] == "uint8":
                return _Bytes()
            if len(ref) > 2 or nested:
                return _WrappedSlice(self.node(ref[1], proto, nested=True))
            return _Unsupported("unnamed slice outside a field")
        if head == "struct":
            return self._struct_node(ref[1])
        return _Unsupported(str(ref[1]) if len(ref) > 1 else head)

    def field_nodes(self, f: FieldSchema) -> tuple[int, _Node, _Node | None]:
        """``(mode, node, key node)`` for one struct field."""
        ref = f.type
        if isinstance(ref, list) and ref[0] == "map":
            key = self.node(ref[1], None, nested=True)
            value = self.node(ref[2], None, nested=True)
            return _MAP, value, key
        if isinstance(ref, list) and ref[0] == "slice" and len(ref) == 2 and ref[1] != "uint8":
            return _REPEATED, self.node(ref[1], f.proto, nested=True), None
        return _SINGLE, self.node(ref, f.proto), None

    def json_fields(self, name: str) -> list[_JsonField]:
        """``encoding/json``'s field list for a struct: embedded structs without a JSON
        name are flattened breadth-first, and per key the shallowest field wins (a tagged
        one over an untagged one at the same depth; an unresolved tie drops the key)."""
        found: list[tuple[str, int, bool, tuple[int, ...], _JsonField]] = []
        level: list[tuple[str, tuple[int, ...], tuple[tuple[int, bool], ...]]] = [
            (name, (), ())]
        visited: set[str] = set()
        depth = 0
        while level:
            following: list[tuple[str, tuple[int, ...], tuple[tuple[int, bool], ...]]] = []
            for struct_name, index, hops in level:
                if struct_name in visited:
                    continue
                visited.add(struct_name)
                plan = self.plan(struct_name)
                for i, f in enumerate(plan.fields):
                    if f.skip_json or (f.embedded and f.go[:1].islower()
                                       and not _is_struct(f.type)):
                        continue
                    target = f.type[1] if isinstance(f.type, list) and f.type[0] == "ptr" \
                        else f.type
                    is_pointer = target is not f.type
                    if f.embedded and not f.json and _is_struct(target) \
                            and not self._opaque(target):
                        following.append((target[1], (*index, i), (*hops, (i, is_pointer))))
                        continue
                    found.append((f.json or f.go, depth, bool(f.json), (*index, i), _JsonField(
                        name=f.json or f.go, hops=hops, index=i, node=plan.nodes[i],
                        omitempty=f.omitempty, omitzero=f.omitzero,
                        quoted=f.string and isinstance(f.type, str))))
            level = following
            depth += 1
        by_name: dict[str, list[tuple[str, int, bool, tuple[int, ...], _JsonField]]] = \
            defaultdict(list)
        for entry in found:
            by_name[entry[0]].append(entry)
        chosen = []
        for entries in by_name.values():
            shallowest = min(e[1] for e in entries)
            top = [e for e in entries if e[1] == shallowest]
            if len(top) > 1:
                tagged = [e for e in top if e[2]]
                if len(tagged) != 1:
                    continue
                top = tagged
            chosen.append(top[0])
        chosen.sort(key=lambda e: e[3])
        return [e[4] for e in chosen]

    def _opaque(self, ref: TypeRef) -> bool:
        """Structs with their own JSON form are values, never flattened."""
        if not isinstance(ref, list) or ref[0] != "struct":
            return False
        schema = self.schema.struct(ref[1])
        return schema is None or schema.custom_json

    # -- decoding ------------------------------------------------------------------------

    def fill(self, plan: _StructPlan, values: list[Any], buf: bytes, start: int, end: int,
             depth: int) -> None:
        """Decode the message ``buf[start:end]`` into the struct ``values``."""
        if depth > MAX_DEPTH:
            raise DecodeError(f"protobuf message nested deeper than {MAX_DEPTH} levels")
        by_number = plan.by_number
        for num, wt, a, b in iter_fields(buf, start, end):
            fp = by_number.get(num)
            if fp is None:
                continue  # unknown fields are skipped, as the generated Go code does
            if fp.mode == _SINGLE:
                values[fp.index] = fp.node.one(self, buf, wt, a, b, depth, values[fp.index])
            elif fp.mode == _REPEATED:
                items = values[fp.index]
                if items is ABSENT:
                    items = values[fp.index] = []
                _append(self, fp.node, items, buf, wt, a, b, depth)
            else:
                if wt != LENGTH_DELIMITED:
                    raise _wrong_wire(wt, fp.name)
                entries = values[fp.index]
                if entries is ABSENT:
                    entries = values[fp.index] = {}
                key: Any = ABSENT
                value: Any = ABSENT
                assert fp.key is not None
                for num2, wt2, a2, b2 in iter_fields(buf, a, b):
                    if num2 == 1:
                        key = fp.key.one(self, buf, wt2, a2, b2, depth + 1, key)
                    elif num2 == 2:
                        value = fp.node.one(self, buf, wt2, a2, b2, depth + 1, value)
                if value is ABSENT and isinstance(fp.node, _Bytes):
                    value = b""  # the generated code starts a bytes map value at []byte{}
                rendered_key = fp.key.to_json(key, self._key_ctx)
                entries[rendered_key if isinstance(rendered_key, str)
                        else orjson.dumps(rendered_key).decode()] = value

    def resolve(self, api_version: str, kind: str) -> str:
        """The qualified Go struct for ``(apiVersion, kind)``, or a 400-worthy error."""
        package = go_package(api_version)
        candidates = [f"{package}.{kind}"] if package else []
        if kind in _META_KINDS:
            candidates.append(f"{_META}.{kind}")
        for name in candidates:
            schema = self.schema.struct(name)
            if schema is not None and _type_meta_index(schema.fields) is not None:
                return name
        raise DecodeError(f'no kind "{kind}" is registered for version "{api_version}"')

    def decode(self, body: bytes, *, api_version: str = "", kind: str = "",
               depth: int = 0) -> dict[str, Any]:
        """Decode a whole body (magic, ``runtime.Unknown``, object); raises
        :class:`DecodeError` or :class:`~kubesmith.api.protobuf.wire.WireError`."""
        if len(body) > MAX_BODY_BYTES:
            raise errors.request_entity_too_large(f"limit is {MAX_BODY_BYTES}")
        if not body:
            raise DecodeError("empty data")
        if not body.startswith(MAGIC):
            raise DecodeError("provided data does not appear to be a protobuf message, "
                              "expected prefix [107 56 115 0]")
        if len(body) == len(MAGIC):
            raise DecodeError("empty body")
        body_api_version, body_kind, raw_start, raw_end = _read_unknown(body)
        api_version = body_api_version or api_version
        kind = body_kind or kind
        if not kind:
            raise DecodeError("Object 'Kind' is missing in the protobuf envelope")
        if not api_version.rpartition("/")[2]:
            raise DecodeError("Object 'apiVersion' is missing in the protobuf envelope")
        name = self.resolve(api_version, kind)
        plan = self.plan(name)
        values = plan.new()
        self.fill(plan, values, body, raw_start, raw_end, depth + 1)
        type_meta_at = _type_meta_index(plan.fields)
        assert type_meta_at is not None  # resolve() only returns objects
        meta_plan = self.plan(_TYPE_META)
        type_meta = meta_plan.new()
        type_meta[meta_plan.index_of["Kind"]] = kind
        type_meta[meta_plan.index_of["APIVersion"]] = api_version
        values[type_meta_at] = type_meta
        return plan.emit(values, _Emit(self, depth))


def _is_struct(ref: TypeRef) -> bool:
    return isinstance(ref, list) and ref[0] == "struct"


def _type_meta_index(fields: tuple[FieldSchema, ...]) -> int | None:
    for i, f in enumerate(fields):
        if f.embedded and f.type == ["struct", _TYPE_META]:
            return i
    return None


def _read_unknown(body: bytes) -> tuple[str, str, int, int]:
    """``(apiVersion, kind, raw start, raw end)`` of the ``runtime.Unknown`` envelope."""
    api_version = kind = ""
    raw_start = raw_end = len(body)
    for num, wt, a, b in iter_fields(body, len(MAGIC), len(body)):
        if num in (1, 2, 3, 4) and wt != LENGTH_DELIMITED:
            raise _wrong_wire(wt, "Unknown")
        if num == 1:
            for num2, wt2, a2, b2 in iter_fields(body, a, b):
                if num2 in (1, 2) and wt2 != LENGTH_DELIMITED:
                    raise _wrong_wire(wt2, "TypeMeta")
                if num2 == 1:
                    api_version = body[a2:b2].decode("utf-8", "replace")
                elif num2 == 2:
                    kind = body[a2:b2].decode("utf-8", "replace")
        elif num == 2:
            raw_start, raw_end = a, b
        # 3 (contentEncoding) and 4 (contentType) are ignored, as upstream ignores them.
    return api_version, kind, raw_start, raw_end


def as_status_error(exc: DecodeError | WireError | RecursionError) -> errors.StatusError:
    """The 400 a decoding failure becomes."""
    if isinstance(exc, RecursionError):
        return errors.bad_request("protobuf message nested too deeply")
    return errors.bad_request(str(exc))
