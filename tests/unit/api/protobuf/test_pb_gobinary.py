"""The Go binary reader, checked against the real kubectl executable's type metadata."""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import pytest

from kubesmith.api.protobuf.gobinary import ElfImage, GoBinaryError, GoKind, GoTypeReader


@pytest.fixture(scope="module")
def reader(kubectl_binary: Path) -> GoTypeReader:
    return GoTypeReader.open(kubectl_binary)


@pytest.fixture(scope="module")
def config_map_pointer(reader: GoTypeReader) -> int:
    for addr in reader.typelinks():
        t = reader.type_at(addr)
        if t.kind == GoKind.POINTER and t.name == "*v1.ConfigMap":
            elem = reader.type_at(t.elem_addr)
            if elem.pkg_path == "k8s.io/api/core/v1":
                return addr
    raise AssertionError("*v1.ConfigMap not among the typelinks")


def test_headers(reader: GoTypeReader) -> None:
    assert reader.go_version.startswith("go1.")
    assert reader.image.arch in ("amd64", "arm64")
    # The type descriptors start at .rodata in every Go 1.2x linker layout.
    assert reader.types_base == reader.image.section(".rodata").addr
    assert len(reader.typelinks()) > 1000


def test_config_map_struct_layout(reader: GoTypeReader, config_map_pointer: int) -> None:
    pointer = reader.type_at(config_map_pointer)
    config_map = reader.type_at(pointer.elem_addr)
    assert config_map.kind == GoKind.STRUCT
    assert config_map.named
    assert config_map.qualified_name == "k8s.io/api/core/v1.ConfigMap"
    assert config_map.ptr_to_this == config_map_pointer
    fields = {f.name: f for f in config_map.fields}
    assert list(fields) == ["TypeMeta", "ObjectMeta", "Immutable", "Data", "BinaryData"]
    assert fields["TypeMeta"].embedded and fields["ObjectMeta"].embedded
    assert not fields["Data"].embedded and fields["Data"].exported
    assert fields["ObjectMeta"].tag == \
        'json:"metadata,omitempty" protobuf:"bytes,1,opt,name=metadata"'
    assert fields["Data"].tag == 'json:"data,omitempty" protobuf:"bytes,2,rep,name=data"'
    assert fields["BinaryData"].tag == \
        'json:"binaryData,omitempty" protobuf:"bytes,3,rep,name=binaryData"'
    assert fields["Immutable"].tag == \
        'json:"immutable,omitempty" protobuf:"varint,4,opt,name=immutable"'

    data = reader.type_at(fields["Data"].type_addr)
    assert data.kind == GoKind.MAP and data.name == "map[string]string"
    assert reader.type_at(data.key_addr).kind == GoKind.STRING
    binary = reader.type_at(fields["BinaryData"].type_addr)
    value = reader.type_at(binary.elem_addr)
    assert value.kind == GoKind.SLICE and reader.type_at(value.elem_addr).kind == GoKind.UINT8
    immutable = reader.type_at(fields["Immutable"].type_addr)
    assert immutable.kind == GoKind.POINTER
    assert reader.type_at(immutable.elem_addr).kind == GoKind.BOOL

    object_meta = reader.type_at(fields["ObjectMeta"].type_addr)
    assert object_meta.qualified_name == "k8s.io/apimachinery/pkg/apis/meta/v1.ObjectMeta"
    # Methods are listed (the generated protobuf code is linked in).
    assert {"Marshal", "Unmarshal", "DeepCopyObject"} <= set(pointer.methods)


def test_reachable_walk_finds_api_types(reader: GoTypeReader, config_map_pointer: int) -> None:
    names = {t.qualified_name for t in reader.reachable((config_map_pointer,))}
    assert "k8s.io/apimachinery/pkg/apis/meta/v1.OwnerReference" in names
    assert "k8s.io/apimachinery/pkg/apis/meta/v1.Time" in names


@pytest.mark.parametrize("data", [
    pytest.param(b"", id="empty"),
    pytest.param(b"#!/bin/sh\necho hi\n" * 8, id="script"),
    pytest.param(b"\x7fELF\x01\x01" + b"\0" * 60, id="elf32"),
    pytest.param(b"\x7fELF\x02\x01" + b"\0" * 58, id="truncated-header"),
])
def test_not_a_go_binary(data: bytes) -> None:
    with pytest.raises(GoBinaryError):
        GoTypeReader(ElfImage(data))


def test_truncated_section_table(kubectl_binary: Path) -> None:
    head = kubectl_binary.open("rb").read(4096)
    with pytest.raises(GoBinaryError):
        GoTypeReader(ElfImage(head))


def test_elf_that_is_not_go() -> None:
    python = Path(sys.executable).resolve()
    if python.read_bytes()[:4] != b"\x7fELF":
        pytest.fail("the interpreter is not an ELF file: this test needs a Linux build")
    with pytest.raises(GoBinaryError):
        GoTypeReader.open(python)


def test_corrupt_pclntab_magic(kubectl_binary: Path) -> None:
    data = bytearray(kubectl_binary.read_bytes())
    pcln = ElfImage(bytes(data)).section(".gopclntab")
    struct.pack_into("<I", data, pcln.offset, 0x12345678)
    with pytest.raises(GoBinaryError, match="pclntab magic"):
        GoTypeReader(ElfImage(bytes(data)))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(GoBinaryError, match="cannot read"):
        GoTypeReader.open(tmp_path / "nope")
