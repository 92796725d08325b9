"""The protobuf wire format, read-only: varints, tags and length-delimited fields.

A message is a sequence of ``(tag, value)`` pairs, ``tag = field_number << 3 | wire_type``:
wire type 0 is a varint, 1 eight little-endian bytes, 2 a varint length then that many
bytes (strings, bytes, nested messages, packed repeated scalars), 5 four bytes. Groups
(3 and 4) are obsolete and Kubernetes never emits them; they are rejected.

Everything works on ``bytes`` plus ``[start, end)`` offsets so nested messages are never
copied, and every read is bounds-checked: a malformed message raises :class:`WireError`.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Final

__all__ = [
    "FIXED32",
    "FIXED64",
    "LENGTH_DELIMITED",
    "VARINT",
    "WireError",
    "iter_fields",
    "read_varint",
    "to_int32",
    "to_int64",
    "unpack_packed",
]

VARINT: Final = 0
FIXED64: Final = 1
LENGTH_DELIMITED: Final = 2
FIXED32: Final = 5

_MAX_FIELD_NUMBER: Final = (1 << 29) - 1
_U64: Final = (1 << 64) - 1


class WireError(ValueError):
    """The bytes are not a well-formed protobuf message."""


def read_varint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    """``(value, next position)`` of the unsigned varint at ``buf[pos]`` (at most 10
    bytes, as Go's decoder allows; bits past 64 are dropped like Go does)."""
    byte = buf[pos] if pos < end else -1
    if 0 <= byte < 0x80:  # the common one-byte case
        return byte, pos + 1
    value = shift = 0
    limit = min(end, pos + 10)
    while pos < limit:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value & _U64, pos
        shift += 7
    if pos >= end:
        raise WireError("unexpected end of message inside a varint")
    raise WireError("varint overflows 64 bits")


def to_int64(value: int) -> int:
    """Two's complement reading of a 64-bit varint (Go ``int64(v)``)."""
    value &= _U64
    return value - (1 << 64) if value >= 1 << 63 else value


def to_int32(value: int) -> int:
    """Go's ``int32(v)``: the low 32 bits, signed."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def iter_fields(buf: bytes, start: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """Yield ``(field_number, wire_type, a, b)`` for each field in ``buf[start:end]``.

    For varints ``a`` is the value (``b`` unused); for fixed32/fixed64 ``a`` is the raw
    unsigned value; for length-delimited fields ``[a, b)`` is the payload.
    """
    pos = start
    while pos < end:
        key, pos = read_varint(buf, pos, end)
        number, wire_type = key >> 3, key & 7
        if number == 0 or number > _MAX_FIELD_NUMBER:
            raise WireError(f"illegal field number {number}")
        if wire_type == VARINT:
            value, pos = read_varint(buf, pos, end)
            yield number, wire_type, value, 0
        elif wire_type == LENGTH_DELIMITED:
            length, pos = read_varint(buf, pos, end)
            if length > end - pos:
                raise WireError("length-delimited field runs past the end of its message")
            yield number, wire_type, pos, pos + length
            pos += length
        elif wire_type == FIXED64:
            if pos + 8 > end:
                raise WireError("unexpected end of message inside a fixed64")
            yield number, wire_type, struct.unpack_from("<Q", buf, pos)[0], 0
            pos += 8
        elif wire_type == FIXED32:
            if pos + 4 > end:
                raise WireError("unexpected end of message inside a fixed32")
            yield number, wire_type, struct.unpack_from("<I", buf, pos)[0], 0
            pos += 4
        else:
            raise WireError(f"unsupported wire type {wire_type} for field {number}")


def unpack_packed(buf: bytes, start: int, end: int, wire_type: int) -> Iterator[int]:
    """The raw values of a packed repeated scalar field of element wire type
    ``wire_type`` (varint, fixed32 or fixed64)."""
    pos = start
    if wire_type == VARINT:
        while pos < end:
            value, pos = read_varint(buf, pos, end)
            yield value
        return
    size, fmt = (8, "<Q") if wire_type == FIXED64 else (4, "<I")
    if (end - start) % size:
        raise WireError("packed fixed-width field has a partial element")
    for off in range(start, end, size):
        yield struct.unpack_from(fmt, buf, off)[0]
