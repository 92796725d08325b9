"""Reading Go's runtime type metadata out of a statically linked Go ELF executable.

Every Go program carries a description of its types for ``reflect``, the garbage collector
and interface conversions, and the linker keeps it even in stripped binaries. This module
reads that description back, the way ``reflect`` would at run time, without running the
program. :mod:`kubesmith.api.protobuf.schema` uses it to learn the Kubernetes API structs
(field names, ``json`` and ``protobuf`` struct tags) compiled into kubectl.

How the pieces are found (Go 1.20 and later, 64-bit little-endian: amd64 and arm64)
-------------------------------------------------------------------------------------

* **ELF sections.** Only the section headers are read: ``.rodata`` holds the type
  descriptors and the name strings, ``.typelink`` an ``int32`` array, ``.gopclntab`` the
  function table whose header (``pcHeader``, magic ``0xfffffff1`` since Go 1.20) is what
  the module data points at first, and ``.go.buildinfo`` the toolchain version.
* **Module data.** ``runtime.firstmoduledata`` (in a ``.go.module`` section with recent
  toolchains such as the Go 1.26 kubectl 1.37 is built with, in ``.noptrdata`` with older
  ones) starts with a pointer to ``pcHeader``. Further on it holds the
  ``typelinks`` slice (pointer to ``.typelink``, length, capacity) and ``types``, the base
  address every type offset is relative to. Rather than hard-coding the struct layout,
  which changes between Go releases, the reader finds the slice by value and picks the
  ``types`` base among the module data words that point into ``.rodata``: the right one is
  the only base under which the typelinks decode as sane type descriptors.
* **Type descriptors** (``internal/abi.Type``, 48 bytes)::

      0  Size_ uintptr      8 PtrBytes uintptr   16 Hash uint32
      20 TFlag uint8        21 Align_ uint8      22 FieldAlign_ uint8   23 Kind_ uint8
      24 Equal func        32 GCData *byte      40 Str NameOff         44 PtrToThis TypeOff

  followed by the kind's own part: ``Elem *Type`` for pointers and slices (at 48);
  ``Elem, Slice *Type, Len uintptr`` for arrays; ``Key, Elem *Type, ...`` for maps;
  ``PkgPath Name, Fields []StructField`` for structs, each ``StructField`` being
  ``{Name Name, Typ *Type, Offset uintptr}``. ``NameOff``/``TypeOff`` are ``int32``
  offsets from ``types``; ``Name`` and ``*Type`` are absolute addresses. When
  ``TFlag & 1`` an ``UncommonType`` (``PkgPath NameOff, Mcount, Xcount uint16,
  Moff uint32``) follows the kind's part and gives the defining package and the method
  names; ``TFlag & 2`` means the stored name carries a spurious leading ``*``.
* **Names** (``internal/abi.Name``): a flags byte (1 exported, 2 has tag, 4 has package
  path, 8 embedded), a varint length and the bytes, then, when flagged, a varint length and
  the struct tag.
* **Which types.** ``.typelink`` lists the unnamed composite types (``*v1.ConfigMap``,
  ``[]v1.Container`` ...); every named type a program uses is reachable from them through
  element, key and field types.

Everything is validated as it is read, and a binary that does not fit raises
:class:`GoBinaryError`, never a bare ``IndexError`` or ``struct.error``.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

__all__ = [
    "ElfImage",
    "GoBinaryError",
    "GoField",
    "GoKind",
    "GoType",
    "GoTypeReader",
]

_ELF_MAGIC: Final = b"\x7fELF"
_MACHINES: Final = {62: "amd64", 183: "arm64"}
_PCLNTAB_MAGICS: Final = (0xFFFFFFF1, 0xFFFFFFF0)  # Go 1.20+, Go 1.18-1.19
_BUILDINFO_MAGIC: Final = b"\xff Go buildinf:"

_TYPE_HEADER: Final = struct.Struct("<QQIBBBBQQii")  # abi.Type, 48 bytes
_UNCOMMON: Final = struct.Struct("<iHHI")
_TFLAG_UNCOMMON: Final = 1
_TFLAG_EXTRA_STAR: Final = 2
_TFLAG_NAMED: Final = 4
_KIND_MASK: Final = 0x1F

_NAME_EXPORTED: Final = 1
_NAME_HAS_TAG: Final = 2
_NAME_EMBEDDED: Final = 8

# Bounds that no real type comes near; they stop a corrupt binary from making us loop.
_MAX_FIELDS: Final = 4096
_MAX_METHODS: Final = 4096
_MAX_NAME: Final = 1 << 16


class GoBinaryError(Exception):
    """The file is not a Go executable this reader understands."""


class GoKind(enum.IntEnum):
    """``internal/abi.Kind``."""

    INVALID = 0
    BOOL = 1
    INT = 2
    INT8 = 3
    INT16 = 4
    INT32 = 5
    INT64 = 6
    UINT = 7
    UINT8 = 8
    UINT16 = 9
    UINT32 = 10
    UINT64 = 11
    UINTPTR = 12
    FLOAT32 = 13
    FLOAT64 = 14
    COMPLEX64 = 15
    COMPLEX128 = 16
    ARRAY = 17
    CHAN = 18
    FUNC = 19
    INTERFACE = 20
    MAP = 21
    POINTER = 22
    SLICE = 23
    STRING = 24
    STRUCT = 25
    UNSAFE_POINTER = 26


# Size of the kind-specific part that follows abi.Type, i.e. where UncommonType starts.
# Maps are left out: their descriptor changed with the Swiss-table maps of Go 1.24.
_UNCOMMON_AT: Final = {
    GoKind.ARRAY: 72, GoKind.CHAN: 64, GoKind.FUNC: 56, GoKind.INTERFACE: 80,
    GoKind.POINTER: 56, GoKind.SLICE: 56, GoKind.STRUCT: 80,
}


@dataclass(frozen=True, slots=True)
class _Section:
    name: str
    addr: int
    offset: int
    size: int
    nobits: bool


class ElfImage:
    """A 64-bit little-endian ELF file held in memory, addressed by virtual address."""

    def __init__(self, data: bytes) -> None:
        if len(data) < 64 or data[:4] != _ELF_MAGIC:
            raise GoBinaryError("not an ELF file")
        if data[4] != 2 or data[5] != 1:
            raise GoBinaryError("only 64-bit little-endian ELF files are supported")
        machine = struct.unpack_from("<H", data, 18)[0]
        if machine not in _MACHINES:
            raise GoBinaryError(f"unsupported ELF machine {machine}")
        self.data = data
        self.arch = _MACHINES[machine]
        self.sections = self._read_sections()

    def _read_sections(self) -> dict[str, _Section]:
        data = self.data
        try:
            shoff = struct.unpack_from("<Q", data, 40)[0]
            shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 58)
            if shentsize != 64 or shnum == 0 or shstrndx >= shnum:
                raise GoBinaryError("ELF file has no usable section headers")
            raw = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * 64)
                   for i in range(shnum)]
            strtab_off, strtab_size = raw[shstrndx][4], raw[shstrndx][5]
            strtab = data[strtab_off:strtab_off + strtab_size]
        except struct.error as exc:
            raise GoBinaryError("truncated ELF section headers") from exc
        sections: dict[str, _Section] = {}
        for name_off, sh_type, _flags, addr, offset, size, *_rest in raw:
            end = strtab.find(b"\0", name_off)
            name = strtab[name_off:end if end >= 0 else None].decode("ascii", "replace")
            nobits = sh_type == 8  # SHT_NOBITS: .bss, nothing in the file
            if not nobits and offset + size > len(data):
                raise GoBinaryError(f"section {name} runs past the end of the file")
            sections[name] = _Section(name, addr, offset, size, nobits)
        return sections

    def section(self, name: str) -> _Section:
        found = self.sections.get(name)
        if found is None:
            raise GoBinaryError(f"no {name} section (not a Go binary, or not a static one)")
        return found

    def section_bytes(self, name: str) -> bytes:
        sec = self.section(name)
        return self.data[sec.offset:sec.offset + sec.size]

    def offset_of(self, addr: int, size: int = 1) -> int:
        """The file offset of virtual address ``addr`` (``size`` bytes must be in the file)."""
        for sec in self.sections.values():
            if sec.addr and not sec.nobits and sec.addr <= addr \
                    and addr + size <= sec.addr + sec.size:
                return sec.offset + addr - sec.addr
        raise GoBinaryError(f"address {addr:#x} is not in any loaded section")

    def read(self, addr: int, size: int) -> bytes:
        off = self.offset_of(addr, size)
        return self.data[off:off + size]


@dataclass(frozen=True, slots=True)
class GoField:
    """One struct field: its Go name, type address, raw struct tag and whether embedded."""

    name: str
    type_addr: int
    tag: str
    embedded: bool
    exported: bool


@dataclass(slots=True)
class GoType:
    """One decoded type descriptor. Element, key and field types are addresses to be
    resolved with :meth:`GoTypeReader.type_at` (types are recursive)."""

    addr: int
    kind: GoKind
    size: int
    name: str                      # as %v prints it: "v1.ConfigMap", "[]string", "*v1.Pod"
    named: bool
    pkg_path: str = ""             # defining package of a named type, "" when unknown
    elem_addr: int = 0
    key_addr: int = 0
    length: int = 0                # arrays
    ptr_to_this: int = 0           # address of *T when the binary has it, else 0
    fields: list[GoField] = field(default_factory=list)
    methods: tuple[str, ...] = ()

    @property
    def qualified_name(self) -> str:
        """``k8s.io/api/core/v1.ConfigMap`` for a named type, else the plain name."""
        if self.named and self.pkg_path:
            return f"{self.pkg_path}.{self.name.split('.', 1)[-1]}"
        return self.name


class GoTypeReader:
    """Decodes the runtime type descriptors of one Go executable."""

    def __init__(self, image: ElfImage) -> None:
        self.image = image
        self.go_version = self._read_go_version()
        rodata = image.section(".rodata")
        self._rodata = (rodata.addr, rodata.addr + rodata.size)
        self._typelinks, self.types_base = self._locate_types()
        self._cache: dict[int, GoType] = {}

    @classmethod
    def open(cls, path: str | Path) -> GoTypeReader:
        """Read the whole executable and parse its headers."""
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise GoBinaryError(f"cannot read {path}: {exc.strerror}") from exc
        return cls(ElfImage(data))

    # -- locating the tables -------------------------------------------------------------

    def _read_go_version(self) -> str:
        """The toolchain version from ``.go.buildinfo`` (``go1.26.8``), ``""`` if absent."""
        sec = self.image.sections.get(".go.buildinfo")
        if sec is None:
            return ""
        blob = self.image.data[sec.offset:sec.offset + min(sec.size, 4096)]
        if not blob.startswith(_BUILDINFO_MAGIC) or len(blob) < 33 or not blob[15] & 2:
            return ""  # pre-1.18 pointer form: not worth supporting
        length, pos = _uvarint(blob, 32)
        return blob[pos:pos + length].decode("utf-8", "replace")

    def _locate_types(self) -> tuple[tuple[int, ...], int]:
        image = self.image
        pcln = image.section(".gopclntab")
        magic = struct.unpack_from("<I", image.data, pcln.offset)[0] if pcln.size >= 4 else 0
        if magic not in _PCLNTAB_MAGICS:
            raise GoBinaryError(f"unsupported Go pclntab magic {magic:#x} (Go < 1.18?)")
        links = image.section(".typelink")
        count = links.size // 4
        typelinks = struct.unpack_from(f"<{count}i", image.data, links.offset)
        words = self._module_data_words(pcln.addr)
        # The typelinks slice header tells us how many entries are real (the section may
        # be padded), and its position bounds where the types base can be.
        slice_at = next((i for i in range(len(words) - 2)
                         if words[i] == links.addr and 0 < words[i + 1] <= count
                         and words[i + 1] == words[i + 2]), None)
        if slice_at is None:
            raise GoBinaryError("cannot find the typelinks slice in the module data")
        typelinks = typelinks[:words[slice_at + 1]]
        lo, hi = self._rodata
        candidates = [w for w in words[:slice_at] if lo <= w < hi]
        for base in dict.fromkeys([lo, *candidates]):
            if self._plausible_base(base, typelinks):
                return tuple(base + off for off in typelinks), base
        raise GoBinaryError("cannot determine the base address of the type descriptors")

    def _module_data_words(self, pcheader: int) -> tuple[int, ...]:
        """Up to 128 words of ``runtime.firstmoduledata``, from its start."""
        needle = struct.pack("<Q", pcheader)
        for name in (".go.module", ".noptrdata", ".data"):
            sec = self.image.sections.get(name)
            if sec is None or sec.nobits:
                continue
            blob = self.image.data[sec.offset:sec.offset + sec.size]
            pos = blob.find(needle)
            while pos >= 0:
                count = min(128, (len(blob) - pos) // 8)
                if pos % 8 == 0 and count >= 48:
                    return struct.unpack_from(f"<{count}Q", blob, pos)
                pos = blob.find(needle, pos + 1)
        raise GoBinaryError("cannot find runtime.firstmoduledata")

    def _plausible_base(self, base: int, typelinks: tuple[int, ...]) -> bool:
        sample = typelinks[:: max(1, len(typelinks) // 64)]
        try:
            for off in sample:
                header = _TYPE_HEADER.unpack(self.image.read(base + off, 48))
                kind = header[6] & _KIND_MASK
                if not GoKind.ARRAY <= kind <= GoKind.STRUCT:
                    return False
                name = self._name_at(base + header[9])[0]
                if not name or not name.isprintable():
                    return False
        except (GoBinaryError, struct.error, UnicodeDecodeError):
            return False
        return True

    # -- names and types -----------------------------------------------------------------

    def _name_at(self, addr: int) -> tuple[str, str, int]:
        """``(name, tag, flags)`` of the ``abi.Name`` at ``addr``."""
        head = self.image.read(addr, 1)[0]
        raw = self.image.read(addr + 1, 10)
        length, used = _uvarint(raw, 0)
        if length > _MAX_NAME:
            raise GoBinaryError(f"implausible name length at {addr:#x}")
        pos = addr + 1 + used
        text = self.image.read(pos, length).decode("utf-8")
        tag = ""
        if head & _NAME_HAS_TAG:
            pos += length
            raw = self.image.read(pos, 10)
            tag_len, used = _uvarint(raw, 0)
            if tag_len > _MAX_NAME:
                raise GoBinaryError(f"implausible tag length at {addr:#x}")
            tag = self.image.read(pos + used, tag_len).decode("utf-8")
        return text, tag, head

    def _name_off(self, off: int) -> str:
        return self._name_at(self.types_base + off)[0]

    def typelinks(self) -> tuple[int, ...]:
        """Addresses of the types listed in ``.typelink``."""
        return self._typelinks

    def type_at(self, addr: int) -> GoType:
        """The type descriptor at ``addr`` (memoized)."""
        cached = self._cache.get(addr)
        if cached is not None:
            return cached
        try:
            decoded = self._decode_type(addr)
        except (struct.error, UnicodeDecodeError, ValueError) as exc:
            raise GoBinaryError(f"bad type descriptor at {addr:#x}: {exc}") from exc
        self._cache[addr] = decoded
        return decoded

    def _decode_type(self, addr: int) -> GoType:
        (size, _ptrbytes, _hash, tflag, _align, _falign, kind_byte, _eq, _gc,
         str_off, ptr_to_this) = _TYPE_HEADER.unpack(self.image.read(addr, 48))
        kind = GoKind(kind_byte & _KIND_MASK)
        name = self._name_off(str_off)
        if tflag & _TFLAG_EXTRA_STAR:
            name = name[1:]
        t = GoType(addr=addr, kind=kind, size=size, name=name,
                   named=bool(tflag & _TFLAG_NAMED),
                   ptr_to_this=self.types_base + ptr_to_this if ptr_to_this else 0)
        if kind in (GoKind.POINTER, GoKind.SLICE):
            t.elem_addr = self._word(addr + 48)
        elif kind == GoKind.ARRAY:
            t.elem_addr = self._word(addr + 48)
            t.length = self._word(addr + 64)
        elif kind == GoKind.MAP:
            t.key_addr = self._word(addr + 48)
            t.elem_addr = self._word(addr + 56)
        elif kind == GoKind.STRUCT:
            t.fields = self._struct_fields(addr)
        uncommon_at = _UNCOMMON_AT.get(kind, 48 if kind <= GoKind.COMPLEX128
                                       or kind in (GoKind.STRING, GoKind.UNSAFE_POINTER)
                                       else -1)
        if tflag & _TFLAG_UNCOMMON and uncommon_at >= 0:
            t.pkg_path, t.methods = self._uncommon(addr + uncommon_at)
        return t

    def _word(self, addr: int) -> int:
        value: int = struct.unpack("<Q", self.image.read(addr, 8))[0]
        return value

    def _struct_fields(self, addr: int) -> list[GoField]:
        fields_ptr, count = struct.unpack("<QQ", self.image.read(addr + 56, 16))
        if count > _MAX_FIELDS:
            raise GoBinaryError(f"implausible field count {count} at {addr:#x}")
        out: list[GoField] = []
        if count == 0:
            return out
        raw = self.image.read(fields_ptr, 24 * count)
        for i in range(count):
            name_addr, type_addr, _offset = struct.unpack_from("<QQQ", raw, 24 * i)
            name, tag, flags = self._name_at(name_addr)
            out.append(GoField(name=name, type_addr=type_addr, tag=tag,
                               embedded=bool(flags & _NAME_EMBEDDED),
                               exported=bool(flags & _NAME_EXPORTED)))
        return out

    def _uncommon(self, addr: int) -> tuple[str, tuple[str, ...]]:
        pkg_off, mcount, _xcount, moff = _UNCOMMON.unpack(self.image.read(addr, 12))
        pkg = self._name_off(pkg_off) if pkg_off else ""
        if mcount > _MAX_METHODS:
            raise GoBinaryError(f"implausible method count at {addr:#x}")
        methods: list[str] = []
        if mcount:
            raw = self.image.read(addr + moff, 16 * mcount)
            for i in range(mcount):
                name_off = struct.unpack_from("<i", raw, 16 * i)[0]
                methods.append(self._name_off(name_off))
        return pkg, tuple(methods)

    def children(self, t: GoType) -> Iterator[int]:
        """Addresses of the types ``t`` refers to directly (element, key, fields)."""
        if t.elem_addr:
            yield t.elem_addr
        if t.key_addr:
            yield t.key_addr
        for f in t.fields:
            yield f.type_addr

    def reachable(self, roots: Iterator[int] | tuple[int, ...]) -> Iterator[GoType]:
        """Every type reachable from ``roots`` through elements, keys and fields.

        Unreadable descriptors (a corrupt entry, a kind this reader does not model) are
        skipped rather than aborting the walk.
        """
        seen: set[int] = set()
        stack = list(roots)
        while stack:
            addr = stack.pop()
            if addr in seen or not addr:
                continue
            seen.add(addr)
            try:
                t = self.type_at(addr)
            except GoBinaryError:
                continue
            yield t
            stack.extend(self.children(t))


def _uvarint(data: bytes, pos: int) -> tuple[int, int]:
    """``(value, position after it)`` for the unsigned varint at ``data[pos]``."""
    value = shift = 0
    for i in range(pos, min(len(data), pos + 10)):
        byte = data[i]
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, i + 1
        shift += 7
    raise GoBinaryError("truncated varint")
