"""The protobuf wire reader: varints, fields, packed runs and every way to be malformed."""

from __future__ import annotations

import pytest

from kubesmith.api.protobuf.wire import (
    FIXED32,
    FIXED64,
    LENGTH_DELIMITED,
    VARINT,
    WireError,
    iter_fields,
    read_varint,
    to_int32,
    to_int64,
    unpack_packed,
)


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


@pytest.mark.parametrize("value", [0, 1, 127, 128, 300, 2**32, 2**63, 2**64 - 1])
def test_varint_round_trip(value: int) -> None:
    data = _varint(value)
    assert read_varint(data, 0, len(data)) == (value, len(data))


def test_signed_readings() -> None:
    assert to_int64(2**64 - 1) == -1
    assert to_int64(2**63 - 1) == 2**63 - 1
    assert to_int32(2**64 - 1) == -1       # a negative int32 is sent as ten bytes
    assert to_int32(2**32 + 5) == 5        # Go's int32() keeps the low bits
    assert to_int32(2**31) == -(2**31)


def test_iter_fields_every_wire_type() -> None:
    data = (b"\x08\x96\x01"                      # 1: varint 150
            + b"\x12\x03abc"                     # 2: "abc"
            + b"\x19" + (7).to_bytes(8, "little")   # 3: fixed64
            + b"\x25" + (9).to_bytes(4, "little"))  # 4: fixed32
    fields = list(iter_fields(data, 0, len(data)))
    assert fields == [(1, VARINT, 150, 0), (2, LENGTH_DELIMITED, 5, 8),
                      (3, FIXED64, 7, 0), (4, FIXED32, 9, 0)]


def test_unpack_packed() -> None:
    data = _varint(1) + _varint(300) + _varint(2**64 - 1)
    assert list(unpack_packed(data, 0, len(data), VARINT)) == [1, 300, 2**64 - 1]
    fixed = (1).to_bytes(4, "little") + (2).to_bytes(4, "little")
    assert list(unpack_packed(fixed, 0, 8, FIXED32)) == [1, 2]
    with pytest.raises(WireError, match="partial"):
        list(unpack_packed(fixed, 0, 7, FIXED32))


@pytest.mark.parametrize(("data", "message"), [
    pytest.param(b"\x08", "end of message inside a varint", id="truncated-varint"),
    pytest.param(b"\x08" + b"\xff" * 10 + b"\x01", "overflows", id="varint-too-long"),
    pytest.param(b"\x12\x05ab", "runs past the end", id="length-past-end"),
    pytest.param(b"\x12", "end of message", id="missing-length"),
    pytest.param(b"\x19\x00\x00", "fixed64", id="short-fixed64"),
    pytest.param(b"\x25\x00", "fixed32", id="short-fixed32"),
    pytest.param(b"\x0b", "wire type 3", id="group-start"),
    pytest.param(b"\x0e", "wire type 6", id="bad-wire-type"),
    pytest.param(b"\x00\x00", "field number 0", id="field-zero"),
])
def test_malformed(data: bytes, message: str) -> None:
    with pytest.raises(WireError, match=message):
        list(iter_fields(data, 0, len(data)))


def test_nested_bounds_are_respected() -> None:
    """A nested message is parsed within its own bounds, not to the end of the buffer."""
    data = b"\x0a\x02\x08\x01" + b"\x10\x02"
    (_num, _wt, start, end), _second = list(iter_fields(data, 0, len(data)))
    assert list(iter_fields(data, start, end)) == [(1, VARINT, 1, 0)]
