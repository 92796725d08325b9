"""The schema extracted from kubectl: its content, and the on-disk cache."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from kubesmith.api.protobuf import schema as schema_module
from kubesmith.api.protobuf.schema import (
    Schema,
    SchemaUnavailable,
    cache_path,
    default_cache_dir,
    find_kubectl,
    iter_type_refs,
    load_schema,
    parse_proto_tag,
    parse_struct_tag,
)

CONFIG_MAP = "k8s.io/api/core/v1.ConfigMap"
META = "k8s.io/apimachinery/pkg/apis/meta/v1"
# Structs with their own JSON (or protobuf) form that the decoder implements by hand.
HANDLED_CUSTOM = {
    f"{META}.Time", f"{META}.MicroTime", f"{META}.Duration", f"{META}.FieldsV1",
    "k8s.io/apimachinery/pkg/api/resource.Quantity",
    "k8s.io/apimachinery/pkg/util/intstr.IntOrString",
    "k8s.io/apimachinery/pkg/runtime.RawExtension",
}


def test_config_map_fields(schema: Schema) -> None:
    config_map = schema.struct(CONFIG_MAP)
    assert config_map is not None
    fields = {f.go: f for f in config_map.fields}
    assert fields["TypeMeta"].embedded and fields["TypeMeta"].proto is None
    assert fields["TypeMeta"].type == ["struct", f"{META}.TypeMeta"]
    meta = fields["ObjectMeta"]
    assert (meta.json, meta.omitempty, meta.proto and meta.proto.num) == ("metadata", True, 1)
    data = fields["Data"]
    assert data.type == ["map", "string", "string"]
    assert data.proto is not None and (data.proto.num, data.proto.wire, data.proto.rep) == \
        (2, "bytes", True)
    assert fields["BinaryData"].type == ["map", "string", ["slice", "uint8"]]
    assert fields["Immutable"].type == ["ptr", "bool"]


def test_named_slices_and_casts_are_recorded(schema: Schema) -> None:
    resource = schema.struct(f"{META}.APIResource")
    assert resource is not None
    verbs = next(f for f in resource.fields if f.go == "Verbs")
    assert verbs.type == ["slice", "string", f"{META}.Verbs"]
    limits = next(f for f in schema.structs["k8s.io/api/core/v1.ResourceRequirements"].fields
                  if f.go == "Limits")
    assert limits.type == ["map", "string", ["struct",
                                              "k8s.io/apimachinery/pkg/api/resource.Quantity"]]
    assert limits.proto is not None and limits.proto.castkey == "ResourceName"


def test_every_group_is_present(schema: Schema) -> None:
    packages = {name.rsplit(".", 1)[0] for name in schema.structs}
    for package in ("core/v1", "apps/v1", "batch/v1", "rbac/v1", "networking/v1",
                    "authentication/v1", "authorization/v1", "policy/v1", "storage/v1",
                    "coordination/v1", "scheduling/v1", "certificates/v1", "events/v1",
                    "autoscaling/v2", "discovery/v1", "admissionregistration/v1",
                    "flowcontrol/v1", "node/v1", "resource/v1"):
        assert f"k8s.io/api/{package}" in packages


def test_wire_fields_are_all_decodable(schema: Schema) -> None:
    """Guards a future kubectl: every protobuf field has a type the decoder knows, field
    numbers are unique per struct, and any struct with its own JSON form that an API field
    uses is one the decoder implements."""
    problems: list[str] = []
    for name, struct_schema in schema.structs.items():
        if not name.startswith("k8s.io/api/") and not name.startswith(META):
            continue
        numbers: set[int] = set()
        for f in struct_schema.fields:
            if f.proto is None:
                continue
            if f.proto.num in numbers:
                problems.append(f"{name}.{f.go}: duplicate field number {f.proto.num}")
            numbers.add(f.proto.num)
            for ref in iter_type_refs(f.type):
                if isinstance(ref, list) and ref[0] == "unsupported":
                    problems.append(f"{name}.{f.go}: {ref}")
                if isinstance(ref, list) and ref[0] == "struct":
                    target = schema.struct(ref[1])
                    if target is None:
                        problems.append(f"{name}.{f.go}: {ref[1]} missing")
                    elif target.custom_json and ref[1] not in HANDLED_CUSTOM:
                        problems.append(f"{name}.{f.go}: custom JSON in {ref[1]}")
    assert problems == []


def test_custom_json_types_are_detected(schema: Schema) -> None:
    custom = {name for name, s in schema.structs.items() if s.custom_json}
    assert custom >= HANDLED_CUSTOM
    assert schema.structs[CONFIG_MAP].custom_json is False


@pytest.mark.parametrize(("tag", "expected"), [
    ('json:"data,omitempty" protobuf:"bytes,2,rep,name=data"',
     {"json": "data,omitempty", "protobuf": "bytes,2,rep,name=data"}),
    ('json:""', {"json": ""}),
    ('protobuf:"-"', {"protobuf": "-"}),
])
def test_parse_struct_tag(tag: str, expected: dict[str, str]) -> None:
    assert parse_struct_tag(tag) == expected


def test_parse_proto_tag() -> None:
    tag = parse_proto_tag("bytes,1,rep,name=limits,casttype=ResourceList,castkey=ResourceName")
    assert tag is not None
    assert (tag.num, tag.wire, tag.rep, tag.casttype, tag.castkey) == \
        (1, "bytes", True, "ResourceList", "ResourceName")
    assert parse_proto_tag("-") is None


# -- the cache -------------------------------------------------------------------------


def test_extraction_is_cached_privately(schema: Schema, schema_cache_dir: Path) -> None:
    sha = schema.kubectl["sha256"]
    cached = cache_path(schema_cache_dir, sha)
    assert cached.name == f"protobuf-schema-{sha[:16]}.json"
    assert stat.S_IMODE(cached.stat().st_mode) == 0o600
    assert 0 < schema.extraction_seconds < 60
    assert schema.kubectl["go_version"].startswith("go1.")
    leftovers = [p for p in schema_cache_dir.iterdir() if p != cached]
    assert leftovers == []


def test_cached_load_does_not_extract(kubectl_binary: Path, schema: Schema,
                                      schema_cache_dir: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*_args: Any) -> dict[str, Any]:
        raise AssertionError("extracted although a cache exists")

    monkeypatch.setattr(schema_module, "extract_schema", fail)
    started = time.perf_counter()
    again = load_schema(kubectl_binary, cache_dir=schema_cache_dir)
    assert time.perf_counter() - started < 5
    assert set(again.structs) == set(schema.structs)


def _fake_extraction(schema: Schema, calls: list[Path],
                     monkeypatch: pytest.MonkeyPatch) -> None:
    def fake(binary: Path, sha256: str | None = None) -> dict[str, Any]:
        calls.append(binary)
        return dict(schema.document)

    monkeypatch.setattr(schema_module, "extract_schema", fake)


def test_corrupt_cache_is_replaced(kubectl_binary: Path, schema: Schema, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Path] = []
    _fake_extraction(schema, calls, monkeypatch)
    target = cache_path(tmp_path, schema.kubectl["sha256"])
    target.write_bytes(b"{not json")
    load_schema(kubectl_binary, cache_dir=tmp_path)
    assert len(calls) == 1
    assert target.read_bytes().startswith(b"{")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    load_schema(kubectl_binary, cache_dir=tmp_path)
    assert len(calls) == 1


def test_cache_for_another_binary_is_ignored(kubectl_binary: Path, schema: Schema,
                                             tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Path] = []
    _fake_extraction(schema, calls, monkeypatch)
    document = {**schema.document, "kubectl": {**schema.kubectl, "sha256": "0" * 64}}
    target = cache_path(tmp_path, schema.kubectl["sha256"])
    target.write_bytes(orjson.dumps(document))
    load_schema(kubectl_binary, cache_dir=tmp_path)
    assert len(calls) == 1


def test_unwritable_cache_still_loads(kubectl_binary: Path, schema: Schema, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Path] = []
    _fake_extraction(schema, calls, monkeypatch)
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    loaded = load_schema(kubectl_binary, cache_dir=blocker / "cache")
    assert CONFIG_MAP in loaded.structs


def test_default_cache_dir_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / "kubesmith"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "kubesmith"


def test_find_kubectl_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KUBESMITH_KUBECTL", str(tmp_path / "my-kubectl"))
    assert find_kubectl() == tmp_path / "my-kubectl"


def test_no_kubectl(tmp_path: Path) -> None:
    with pytest.raises(SchemaUnavailable, match="no kubectl"):
        load_schema(tmp_path / "missing", cache_dir=tmp_path)


def test_not_a_go_binary(tmp_path: Path) -> None:
    fake = tmp_path / "kubectl"
    fake.write_bytes(b"#!/bin/sh\n")
    os.chmod(fake, 0o755)
    with pytest.raises(SchemaUnavailable, match="cannot read the API schema"):
        load_schema(fake, cache_dir=tmp_path / "cache")
