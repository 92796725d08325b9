"""Decoding hand-built protobuf bodies: every wire feature and Go JSON rule, and every way a
body can be malformed (always a 4xx Status, never a crash).

Field numbers are looked up in the schema extracted from kubectl rather than hard-coded, so
these bodies are encoded exactly as the Go code would encode them.
"""

from __future__ import annotations

import random
import struct
from typing import Any

import orjson
import pytest

import kubesmith.api.protobuf as protobuf_package
from kubesmith.api.errors import StatusError
from kubesmith.api.protobuf import (
    ProtobufDecoder,
    Schema,
    SchemaUnavailable,
    decode_request,
    go_package,
)
from kubesmith.api.protobuf import decode as decode_module

CORE = "k8s.io/api/core/v1"
META = "k8s.io/apimachinery/pkg/apis/meta/v1"

# -- a tiny protobuf encoder -------------------------------------------------------------


def varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        low = n & 0x7F
        n >>= 7
        if not n:
            out.append(low)
            return bytes(out)
        out.append(low | 0x80)


def vi(num: int, value: int) -> bytes:
    """A varint field."""
    return varint(num << 3) + varint(value)


def ld(num: int, payload: bytes | str) -> bytes:
    """A length-delimited field."""
    data = payload.encode() if isinstance(payload, str) else payload
    return varint(num << 3 | 2) + varint(len(data)) + data


def entry(num: int, key: str, value: bytes | None) -> bytes:
    """A map entry; ``value`` is the already-encoded field 2 (or None to leave it out)."""
    return ld(num, ld(1, key) + (value or b""))


def envelope(api_version: str, kind: str, raw: bytes) -> bytes:
    type_meta = (ld(1, api_version) if api_version else b"") + (ld(2, kind) if kind else b"")
    return b"k8s\x00" + ld(1, type_meta) + ld(2, raw)


class Fields:
    """Field numbers by Go struct and field name, from the extracted schema."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema

    def __call__(self, struct_name: str, go_field: str) -> int:
        qualified = struct_name if struct_name.startswith("k8s.io/") else \
            f"k8s.io/api/{struct_name}"
        found = self.schema.struct(qualified)
        assert found is not None, qualified
        for f in found.fields:
            if f.go == go_field and f.proto is not None:
                return f.proto.num
        raise AssertionError(f"{qualified}.{go_field} has no protobuf number")


@pytest.fixture(scope="module")
def n(schema: Schema) -> Fields:
    return Fields(schema)


def decode(decoder: ProtobufDecoder, body: bytes, **kwargs: Any) -> dict[str, Any]:
    return decode_request(body, schema=decoder, **kwargs)


def meta(n: Fields, name: str, **extra: bytes) -> bytes:
    return ld(n(f"{META}.ObjectMeta", "Name"), name) + b"".join(extra.values())


# -- objects -----------------------------------------------------------------------------


def test_config_map(decoder: ProtobufDecoder, n: Fields) -> None:
    raw = (ld(n("core/v1.ConfigMap", "ObjectMeta"), meta(n, "cm"))
           + entry(n("core/v1.ConfigMap", "Data"), "b", ld(2, "2"))
           + entry(n("core/v1.ConfigMap", "Data"), "a", ld(2, "1"))
           + entry(n("core/v1.ConfigMap", "BinaryData"), "bin", ld(2, b"\x00\xff")))
    got = decode(decoder, envelope("v1", "ConfigMap", raw))
    assert got == {"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "cm"},
                   "data": {"a": "1", "b": "2"}, "binaryData": {"bin": "AP8="}}
    assert list(got["data"]) == ["a", "b"]  # encoding/json sorts map keys


def test_unknown_fields_are_skipped(decoder: ProtobufDecoder, n: Fields) -> None:
    raw = (ld(n("core/v1.ConfigMap", "ObjectMeta"), meta(n, "cm") + vi(900, 5))
           + ld(999, b"\x01\x02") + vi(998, 7)
           + varint(997 << 3 | 5) + b"\0" * 4     # fixed32
           + varint(996 << 3 | 1) + b"\0" * 8)    # fixed64
    assert decode(decoder, envelope("v1", "ConfigMap", raw))["metadata"] == {"name": "cm"}


def test_repeated_occurrences_merge_and_scalars_last_wins(decoder: ProtobufDecoder,
                                                          n: Fields) -> None:
    labels = n(f"{META}.ObjectMeta", "Labels")
    raw = (ld(1, meta(n, "first") + entry(labels, "a", ld(2, "1")))
           + ld(1, meta(n, "second") + entry(labels, "b", ld(2, "2"))))
    got = decode(decoder, envelope("v1", "ConfigMap", raw))
    assert got["metadata"] == {"name": "second", "labels": {"a": "1", "b": "2"}}


def test_pointers_set_to_zero_are_kept(decoder: ProtobufDecoder, n: Fields) -> None:
    spec = vi(n("apps/v1.DeploymentSpec", "Replicas"), 0)
    raw = ld(1, meta(n, "d")) + ld(n("apps/v1.Deployment", "Spec"), spec)
    got = decode(decoder, envelope("apps/v1", "Deployment", raw))
    assert got["spec"]["replicas"] == 0
    immutable = vi(n("core/v1.ConfigMap", "Immutable"), 0)
    got = decode(decoder, envelope("v1", "ConfigMap", ld(1, meta(n, "c")) + immutable))
    assert got["immutable"] is False


def test_negative_and_truncated_int32(decoder: ProtobufDecoder, n: Fields) -> None:
    replicas = n("apps/v1.DeploymentSpec", "Replicas")
    for wire_value, expected in ((-1, -1), (2**32 + 7, 7), (2**31, -(2**31))):
        raw = ld(n("apps/v1.Deployment", "Spec"), vi(replicas, wire_value))
        got = decode(decoder, envelope("apps/v1", "Deployment", raw))
        assert got["spec"]["replicas"] == expected


def _pod_with_groups(n: Fields, groups: bytes) -> bytes:
    security = ld(n("core/v1.PodSpec", "SecurityContext"), groups)
    return envelope("v1", "Pod", ld(1, meta(n, "p")) + ld(n("core/v1.Pod", "Spec"), security))


def test_packed_and_unpacked_repeated_scalars_agree(decoder: ProtobufDecoder,
                                                    n: Fields) -> None:
    num = n("core/v1.PodSecurityContext", "SupplementalGroups")
    unpacked = vi(num, 1) + vi(num, 2) + vi(num, 2**63)
    packed = ld(num, varint(1) + varint(2)) + vi(num, 2**63)
    results = [decode(decoder, _pod_with_groups(n, body)) for body in (unpacked, packed)]
    assert results[0] == results[1]
    assert results[0]["spec"]["securityContext"]["supplementalGroups"] == [1, 2, -(2**63)]


def test_secret_value_without_bytes_is_empty(decoder: ProtobufDecoder, n: Fields) -> None:
    data = n("core/v1.Secret", "Data")
    raw = ld(1, meta(n, "s")) + entry(data, "empty", None) + entry(data, "k", ld(2, b"v"))
    assert decode(decoder, envelope("v1", "Secret", raw))["data"] == {"empty": "", "k": "dg=="}


def test_invalid_utf8_becomes_replacement_characters(decoder: ProtobufDecoder,
                                                     n: Fields) -> None:
    raw = ld(1, ld(n(f"{META}.ObjectMeta", "Name"), b"a\xffb"))
    assert decode(decoder, envelope("v1", "ConfigMap", raw))["metadata"]["name"] == "a\ufffdb"


def test_times(decoder: ProtobufDecoder, n: Fields) -> None:
    """metav1.Time keeps seconds only; an empty Timestamp is the zero time (null); a set
    pointer to the zero time is still written (null); creationTimestamp is omitzero."""
    stamp = vi(1, 1767323045) + vi(2, 999_999_999)
    event = (ld(1, meta(n, "e", deletion=ld(n(f"{META}.ObjectMeta", "DeletionTimestamp"),
                                                b"")))
             + ld(n("core/v1.Event", "FirstTimestamp"), stamp)
             + ld(n("core/v1.Event", "LastTimestamp"), b"")
             + ld(n("core/v1.Event", "EventTime"), stamp))
    got = decode(decoder, envelope("v1", "Event", event))
    assert got["metadata"] == {"name": "e", "deletionTimestamp": None}
    assert got["firstTimestamp"] == "2026-01-02T03:04:05Z"
    assert got["lastTimestamp"] is None
    assert got["eventTime"] == "2026-01-02T03:04:05.999999Z"
    epoch = ld(1, meta(n, "e", created=ld(n(f"{META}.ObjectMeta", "CreationTimestamp"),
                                          vi(1, 0))))
    assert decode(decoder, envelope("v1", "Event", epoch))["metadata"]["creationTimestamp"] \
        == "1970-01-01T00:00:00Z"


def test_lease_micro_times(decoder: ProtobufDecoder, n: Fields) -> None:
    spec = (ld(n("coordination/v1.LeaseSpec", "HolderIdentity"), "me")
            + vi(n("coordination/v1.LeaseSpec", "LeaseDurationSeconds"), 15)
            + ld(n("coordination/v1.LeaseSpec", "RenewTime"), vi(1, 0) + vi(2, 1500)))
    raw = ld(1, meta(n, "l")) + ld(n("coordination/v1.Lease", "Spec"), spec)
    got = decode(decoder, envelope("coordination.k8s.io/v1", "Lease", raw))
    assert got["spec"] == {"holderIdentity": "me", "leaseDurationSeconds": 15,
                           "renewTime": "1970-01-01T00:00:00.000001Z"}


def test_raw_extension_holding_json_or_protobuf(decoder: ProtobufDecoder, n: Fields) -> None:
    data = n("apps/v1.ControllerRevision", "Data")
    as_json = ld(1, meta(n, "r")) + ld(data, ld(1, b'{"spec":{"x":[1,2]}}'))
    got = decode(decoder, envelope("apps/v1", "ControllerRevision", as_json))
    assert got["data"] == {"spec": {"x": [1, 2]}}
    assert got["revision"] == 0  # int64, not omitempty
    inner = envelope("v1", "ConfigMap", ld(1, meta(n, "inner")))
    nested = ld(1, meta(n, "r")) + ld(data, ld(1, inner))
    got = decode(decoder, envelope("apps/v1", "ControllerRevision", nested))
    assert got["data"] == {"kind": "ConfigMap", "apiVersion": "v1",
                           "metadata": {"name": "inner"}}
    no_raw = ld(1, meta(n, "r")) + ld(data, b"")
    assert decode(decoder, envelope("apps/v1", "ControllerRevision", no_raw))["data"] is None


def test_managed_fields(decoder: ProtobufDecoder, n: Fields) -> None:
    entry_ = (ld(n(f"{META}.ManagedFieldsEntry", "Manager"), "kubectl")
              + ld(n(f"{META}.ManagedFieldsEntry", "Operation"), "Update")
              + ld(n(f"{META}.ManagedFieldsEntry", "Time"), vi(1, 1767323045))
              + ld(n(f"{META}.ManagedFieldsEntry", "FieldsType"), "FieldsV1")
              + ld(n(f"{META}.ManagedFieldsEntry", "FieldsV1"), ld(1, b'{"f:data":{".":{}}}')))
    raw = ld(1, meta(n, "cm", managed=ld(n(f"{META}.ObjectMeta", "ManagedFields"), entry_)))
    got = decode(decoder, envelope("v1", "ConfigMap", raw))
    assert got["metadata"]["managedFields"] == [{
        "manager": "kubectl", "operation": "Update", "time": "2026-01-02T03:04:05Z",
        "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {".": {}}}}]


def test_named_slice_is_a_wrapper_message(decoder: ProtobufDecoder, n: Fields) -> None:
    """metav1.Verbs is ``message Verbs {repeated string items = 1}``; shortNames, an
    unnamed []string, is a plain repeated field."""
    resource = (ld(n(f"{META}.APIResource", "Name"), "pods")
                + vi(n(f"{META}.APIResource", "Namespaced"), 1)
                + ld(n(f"{META}.APIResource", "Verbs"), ld(1, "get") + ld(1, "list"))
                + ld(n(f"{META}.APIResource", "ShortNames"), "po"))
    raw = (ld(n(f"{META}.APIResourceList", "GroupVersion"), "v1")
           + ld(n(f"{META}.APIResourceList", "APIResources"), resource))
    got = decode(decoder, envelope("v1", "APIResourceList", raw))
    assert got == {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "v1",
                   "resources": [{"name": "pods", "singularName": "", "namespaced": True,
                                  "kind": "", "verbs": ["get", "list"],
                                  "shortNames": ["po"]}]}


def test_map_of_named_slices(decoder: ProtobufDecoder, n: Fields) -> None:
    extra = n("authorization/v1.SubjectAccessReviewSpec", "Extra")
    spec = (ld(n("authorization/v1.SubjectAccessReviewSpec", "User"), "alice")
            + entry(extra, "scopes", ld(2, ld(1, "a") + ld(1, "b")))
            + entry(extra, "none", None))
    raw = ld(n("authorization/v1.SubjectAccessReview", "Spec"), spec)
    got = decode(decoder, envelope("authorization.k8s.io/v1", "SubjectAccessReview", raw))
    assert got["spec"] == {"user": "alice", "extra": {"none": None, "scopes": ["a", "b"]}}


def _service_with_target(n: Fields, target: bytes) -> bytes:
    port = vi(n("core/v1.ServicePort", "Port"), 80) + ld(n("core/v1.ServicePort",
                                                           "TargetPort"), target)
    spec = ld(n("core/v1.ServiceSpec", "Ports"), port)
    return envelope("v1", "Service", ld(1, meta(n, "s")) + ld(n("core/v1.Service", "Spec"), spec))


@pytest.mark.parametrize(("target", "expected"), [
    (vi(1, 0) + vi(2, 8080), 8080),
    (vi(2, 8080), 8080),
    (vi(1, 1) + ld(3, "http"), "http"),
    (b"", 0),
])
def test_int_or_string(decoder: ProtobufDecoder, n: Fields, target: bytes,
                       expected: int | str) -> None:
    got = decode(decoder, _service_with_target(n, target))
    assert got["spec"]["ports"] == [{"port": 80, "targetPort": expected}]


def test_quantities_are_canonicalized(decoder: ProtobufDecoder, n: Fields) -> None:
    hard = n("core/v1.ResourceQuotaSpec", "Hard")
    spec = (entry(hard, "cpu", ld(2, ld(1, "1000m"))) + entry(hard, "memory", ld(2, ld(1, "1Gi")))
            + entry(hard, "pods", None))
    raw = ld(1, meta(n, "q")) + ld(n("core/v1.ResourceQuota", "Spec"), spec)
    got = decode(decoder, envelope("v1", "ResourceQuota", raw))
    assert got["spec"]["hard"] == {"cpu": "1", "memory": "1Gi", "pods": "0"}


def test_embedded_structs_are_flattened(decoder: ProtobufDecoder, n: Fields) -> None:
    """Volume embeds VolumeSource and EphemeralContainer embeds EphemeralContainerCommon,
    each a nested message on the wire but promoted into the parent in JSON."""
    config_map_source = ld(n("core/v1.ConfigMapVolumeSource", "LocalObjectReference"),
                           ld(1, "settings"))
    volume = (ld(n("core/v1.Volume", "Name"), "cfg")
              + ld(n("core/v1.Volume", "VolumeSource"),
                   ld(n("core/v1.VolumeSource", "ConfigMap"), config_map_source)))
    common = (ld(n("core/v1.EphemeralContainerCommon", "Name"), "debug")
              + ld(n("core/v1.EphemeralContainerCommon", "Image"), "busybox"))
    ephemeral = (ld(n("core/v1.EphemeralContainer", "EphemeralContainerCommon"), common)
                 + ld(n("core/v1.EphemeralContainer", "TargetContainerName"), "app"))
    spec = (ld(n("core/v1.PodSpec", "Volumes"), volume)
            + ld(n("core/v1.PodSpec", "EphemeralContainers"), ephemeral))
    got = decode(decoder, envelope("v1", "Pod", ld(1, meta(n, "p"))
                                   + ld(n("core/v1.Pod", "Spec"), spec)))
    assert got["spec"]["volumes"] == [{"name": "cfg", "configMap": {"name": "settings"}}]
    assert got["spec"]["ephemeralContainers"] == [
        {"name": "debug", "image": "busybox", "resources": {}, "targetContainerName": "app"}]
    assert got["spec"]["containers"] is None  # `json:"containers"`: a nil slice is null
    assert got["status"] == {}


def test_nil_slice_without_omitempty_is_null(decoder: ProtobufDecoder, n: Fields) -> None:
    got = decode(decoder, envelope("rbac.authorization.k8s.io/v1", "Role", ld(1, meta(n, "r"))))
    assert got == {"kind": "Role", "apiVersion": "rbac.authorization.k8s.io/v1",
                   "metadata": {"name": "r"}, "rules": None}


@pytest.mark.parametrize("api_version", ["v1", "apps/v1", "meta.k8s.io/v1"])
def test_meta_option_kinds(decoder: ProtobufDecoder, n: Fields, api_version: str) -> None:
    raw = (vi(n(f"{META}.DeleteOptions", "GracePeriodSeconds"), 0)
           + ld(n(f"{META}.DeleteOptions", "PropagationPolicy"), "Foreground")
           + ld(n(f"{META}.DeleteOptions", "DryRun"), "All"))
    assert decode(decoder, envelope(api_version, "DeleteOptions", raw)) == {
        "kind": "DeleteOptions", "apiVersion": api_version, "gracePeriodSeconds": 0,
        "propagationPolicy": "Foreground", "dryRun": ["All"]}


def test_eviction_with_nested_delete_options(decoder: ProtobufDecoder, n: Fields) -> None:
    options = (vi(n(f"{META}.DeleteOptions", "GracePeriodSeconds"), 30)
               + ld(n(f"{META}.DeleteOptions", "Preconditions"),
                    ld(n(f"{META}.Preconditions", "UID"), "u1")))
    raw = ld(1, meta(n, "pod-1")) + ld(n("policy/v1.Eviction", "DeleteOptions"), options)
    assert decode(decoder, envelope("policy/v1", "Eviction", raw)) == {
        "kind": "Eviction", "apiVersion": "policy/v1", "metadata": {"name": "pod-1"},
        "deleteOptions": {"gracePeriodSeconds": 30, "preconditions": {"uid": "u1"}}}


def test_type_meta_defaults_from_the_request(decoder: ProtobufDecoder, n: Fields) -> None:
    body = envelope("", "", ld(1, meta(n, "cm")))
    got = decode(decoder, body, api_version="v1", kind="ConfigMap")
    assert got == {"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "cm"}}


@pytest.mark.parametrize(("api_version", "package"), [
    ("v1", "k8s.io/api/core/v1"),
    ("apps/v1", "k8s.io/api/apps/v1"),
    ("rbac.authorization.k8s.io/v1", "k8s.io/api/rbac/v1"),
    ("authentication.k8s.io/v1", "k8s.io/api/authentication/v1"),
    ("flowcontrol.apiserver.k8s.io/v1", "k8s.io/api/flowcontrol/v1"),
    ("internal.apiserver.k8s.io/v1alpha1", "k8s.io/api/apiserverinternal/v1alpha1"),
    ("meta.k8s.io/v1", "k8s.io/apimachinery/pkg/apis/meta/v1"),
    ("apiextensions.k8s.io/v1", "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"),
    ("stable.example.com/v1", ""),
    ("", ""),
])
def test_go_package(api_version: str, package: str) -> None:
    assert go_package(api_version) == package


# -- malformed bodies --------------------------------------------------------------------

MALFORMED = [
    ("empty", b"", "empty data"),
    ("json", b'{"kind":"ConfigMap"}', "does not appear to be a protobuf message"),
    ("magic-only", b"k8s\x00", "empty body"),
    ("truncated-envelope", b"k8s\x00\x0a", "end of message"),
    ("length-past-end", b"k8s\x00\x0a\x05ab", "runs past the end"),
    ("envelope-wire-type", b"k8s\x00\x08\x01", "wrong wireType"),
    ("group", b"k8s\x00\x0b", "wire type 3"),
    ("field-zero", b"k8s\x00\x00", "field number 0"),
    ("varint-overflow", b"k8s\x00\x08" + b"\xff" * 11, "overflows"),
    ("unknown-kind", envelope("v1", "Nope", b""), 'no kind "Nope" is registered'),
    ("custom-resource", envelope("stable.example.com/v1", "ConfigMap", b""), "no kind"),
    ("not-an-object", envelope("v1", "Container", b""), 'no kind "Container"'),
    ("missing-kind", envelope("v1", "", b""), "'Kind' is missing"),
    ("missing-version", envelope("", "ConfigMap", b""), "'apiVersion' is missing"),
    ("field-wire-type", envelope("v1", "ConfigMap", vi(1, 5)), "wrong wireType"),
    ("string-as-varint", envelope("v1", "ConfigMap", ld(1, vi(1, 5))), "wrong wireType"),
    ("varint-as-bytes", envelope("apps/v1", "Deployment", ld(2, ld(1, b"x"))),
     "wrong wireType"),
    ("map-entry-varint", envelope("v1", "ConfigMap", vi(2, 1)), "wrong wireType"),
    ("nested-truncated", envelope("v1", "ConfigMap", b"\x0a\x03\x0a\x05a"), "past the end"),
]


@pytest.mark.parametrize(("body", "message"),
                         [pytest.param(b, m, id=i) for i, b, m in MALFORMED])
def test_malformed_bodies_are_bad_requests(decoder: ProtobufDecoder, body: bytes,
                                           message: str) -> None:
    with pytest.raises(StatusError) as caught:
        decode(decoder, body)
    assert caught.value.code == 400
    assert caught.value.reason == "BadRequest"
    assert message in caught.value.message


def test_bad_values_are_bad_requests(decoder: ProtobufDecoder, n: Fields) -> None:
    cases = [
        _service_with_target(n, vi(1, 2)),                       # IntOrString type 2
        envelope("v1", "ResourceQuota", ld(n("core/v1.ResourceQuota", "Spec"), entry(
            n("core/v1.ResourceQuotaSpec", "Hard"), "cpu", ld(2, ld(1, "lots"))))),
        envelope("apps/v1", "ControllerRevision", ld(
            n("apps/v1.ControllerRevision", "Data"), ld(1, b"{not json"))),
        envelope("apps/v1", "ControllerRevision", ld(
            n("apps/v1.ControllerRevision", "Data"), ld(1, b""))),
    ]
    for body in cases:
        with pytest.raises(StatusError) as caught:
            decode(decoder, body)
        assert caught.value.code == 400, caught.value.message


def test_body_over_the_limit(decoder: ProtobufDecoder, n: Fields) -> None:
    body = envelope("v1", "ConfigMap", ld(1, meta(n, "x" * (3 * 1024 * 1024))))
    with pytest.raises(StatusError) as caught:
        decode(decoder, body)
    assert caught.value.code == 413


def test_nesting_is_bounded(decoder: ProtobufDecoder, n: Fields) -> None:
    data = n("apps/v1.ControllerRevision", "Data")
    body = envelope("v1", "ConfigMap", ld(1, meta(n, "leaf")))
    for _ in range(decode_module.MAX_DEPTH + 5):
        body = envelope("apps/v1", "ControllerRevision", ld(data, ld(1, body)))
    with pytest.raises(StatusError) as caught:
        decode(decoder, body)
    assert caught.value.code == 400
    assert "nested" in caught.value.message


def test_output_size_is_bounded(decoder: ProtobufDecoder, n: Fields,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Empty sub-messages are two bytes each but expand into all their zero fields."""
    monkeypatch.setattr(decode_module, "MAX_JSON_NODES", 5_000)
    containers = ld(n("core/v1.PodSpec", "Containers"), b"") * 2_000
    body = envelope("v1", "Pod", ld(n("core/v1.Pod", "Spec"), containers))
    with pytest.raises(StatusError) as caught:
        decode(decoder, body)
    assert "more than 5000 values" in caught.value.message


def test_random_corruption_never_crashes(decoder: ProtobufDecoder, n: Fields) -> None:
    """Byte flips, truncations and splices of valid bodies: a dict or a 4xx, nothing else."""
    seeds = [
        _service_with_target(n, vi(1, 1) + ld(3, "http")),
        _pod_with_groups(n, ld(n("core/v1.PodSecurityContext", "SupplementalGroups"),
                               varint(1) + varint(2))),
        envelope("authorization.k8s.io/v1", "SubjectAccessReview", ld(2, ld(
            n("authorization/v1.SubjectAccessReviewSpec", "Extra"),
            ld(1, "k") + ld(2, ld(1, "v"))))),
        envelope("apps/v1", "ControllerRevision", ld(1, meta(n, "r")) + ld(
            n("apps/v1.ControllerRevision", "Data"), ld(1, b'{"a":1}'))),
    ]
    rng = random.Random(1234)
    outcomes: dict[str, int] = {"ok": 0}
    for _ in range(3000):
        body = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 4)):
            action = rng.random()
            pos = rng.randrange(len(body))
            if action < 0.6:
                body[pos] = rng.randrange(256)
            elif action < 0.8:
                del body[pos + 1:]
            else:
                body[pos:pos] = rng.choice(seeds)[rng.randrange(8):][:rng.randrange(1, 24)]
        try:
            result = decode(decoder, bytes(body))
        except StatusError as exc:
            outcomes[str(exc.code)] = outcomes.get(str(exc.code), 0) + 1
        else:
            orjson.dumps(result)  # always serializable
            outcomes["ok"] += 1
    assert set(outcomes) == {"ok", "400"}, outcomes
    assert outcomes["ok"] > 0 and outcomes["400"] > 0


def test_without_a_schema_protobuf_is_unsupported(monkeypatch: pytest.MonkeyPatch) -> None:
    def unavailable() -> ProtobufDecoder:
        raise SchemaUnavailable("no kubectl")

    monkeypatch.setattr(protobuf_package, "default_decoder", unavailable)
    with pytest.raises(StatusError) as caught:
        decode_request(envelope("v1", "ConfigMap", b""))
    assert caught.value.code == 415


# -- Go JSON rules on a synthetic schema ---------------------------------------------------
#
# Features the built-in types do not exercise (or not all of them): floats, zigzag and
# fixed-width integers, metav1.Duration, ",string", json:"-", untagged fields, name
# conflicts between a struct and its embedded structs, nil embedded pointers.

WIDGETS = "k8s.io/api/widgets/v1"


def _field(go: str, json: str, type_: Any, num: int | None = None, wire: str = "bytes",
           rep: bool = False, omitempty: bool = True, embedded: bool = False,
           **options: Any) -> dict[str, Any]:
    return {"go": go, "json": json, "omitempty": omitempty,
            "omitzero": options.get("omitzero", False), "string": options.get("string", False),
            "embedded": embedded, "skip_json": options.get("skip_json", False),
            "proto": None if num is None else {"num": num, "wire": wire, "rep": rep,
                                               "castkey": "", "casttype": "", "castvalue": ""},
            "type": type_}


SYNTHETIC: dict[str, Any] = {
    "format": 2, "kubectl": {}, "structs": {
        f"{META}.TypeMeta": {"custom_json": False, "fields": [
            _field("Kind", "kind", "string", 1), _field("APIVersion", "apiVersion", "string", 2)]},
        f"{META}.Duration": {"custom_json": True, "fields": [
            _field("Duration", "", "int64", 1, "varint", embedded=True)]},
        f"{WIDGETS}.Inner": {"custom_json": False, "fields": [
            _field("Name", "name", "string", 1),
            _field("Depth", "depth", "int32", 2, "varint")]},
        f"{WIDGETS}.Widget": {"custom_json": False, "fields": [
            _field("TypeMeta", "", ["struct", f"{META}.TypeMeta"], embedded=True),
            _field("Name", "name", "string", 1),
            _field("Inner", "", ["ptr", ["struct", f"{WIDGETS}.Inner"]], 2, embedded=True),
            _field("Timeout", "timeout", ["struct", f"{META}.Duration"], 3),
            _field("Ratio", "ratio", "float64", 4, "fixed64"),
            _field("Small", "small", "float32", 5, "fixed32"),
            _field("Delta", "delta", "int64", 6, "zigzag64"),
            _field("Big", "big", "uint64", 7, "varint"),
            _field("Fixed", "fixed", "int64", 8, "fixed64"),
            _field("Counter", "counter", "int64", 9, "varint", string=True),
            _field("Secret", "-", "string", 10, skip_json=True),
            _field("Plain", "", "string", 11),
            _field("Ratios", "ratios", ["slice", "float64"], 12, "fixed64", rep=True),
            _field("Zero", "zero", ["struct", f"{WIDGETS}.Inner"], 13, omitzero=True),
            _field("Flags", "flags", ["slice", "bool"], 14, "varint", rep=True,
                   omitempty=False),
        ]},
    }}


@pytest.fixture(scope="module")
def synthetic() -> ProtobufDecoder:
    return ProtobufDecoder(Schema(SYNTHETIC))


def _f64(num: int, value: float) -> bytes:
    return varint(num << 3 | 1) + struct.pack("<d", value)


def test_synthetic_scalars_and_options(synthetic: ProtobufDecoder) -> None:
    raw = (ld(1, "outer")
           + ld(2, ld(1, "shadowed") + vi(2, 3))
           + ld(3, vi(1, 5_400_000_000_000))
           + _f64(4, 0.5)
           + varint(5 << 3 | 5) + struct.pack("<f", 0.1)
           + vi(6, 3)                                 # zigzag: -2
           + vi(7, 2**64 - 1)
           + varint(8 << 3 | 1) + struct.pack("<q", -9)
           + vi(9, 42)
           + ld(10, "hidden")
           + ld(11, "plain")
           + ld(12, struct.pack("<dd", 1.5, 2.5)) + _f64(12, 3.5))
    got = decode(synthetic, envelope("widgets.k8s.io/v1", "Widget", raw))
    assert got == {
        "kind": "Widget", "apiVersion": "widgets.k8s.io/v1",
        "name": "outer",        # the shallower field wins over Inner.Name
        "depth": 3,             # promoted from the embedded pointer
        "timeout": "1h30m0s",
        "ratio": 0.5, "small": 0.1, "delta": -2, "big": 2**64 - 1, "fixed": -9,
        "counter": "42",        # ",string"
        "Plain": "plain",       # no JSON name: the Go name
        "ratios": [1.5, 2.5, 3.5],
        "flags": None,
    }


def test_synthetic_nil_embedded_pointer_and_zero_values(synthetic: ProtobufDecoder) -> None:
    got = decode(synthetic, envelope("widgets.k8s.io/v1", "Widget", ld(13, vi(2, 0))))
    # Inner is nil: its promoted "depth" is left out; Zero is all zero: omitzero drops it.
    assert got == {"kind": "Widget", "apiVersion": "widgets.k8s.io/v1", "timeout": "0s",
                   "flags": None}
    got = decode(synthetic, envelope("widgets.k8s.io/v1", "Widget", ld(13, vi(2, 1))))
    assert got["zero"] == {"depth": 1}


def test_synthetic_non_finite_float_is_rejected(synthetic: ProtobufDecoder) -> None:
    with pytest.raises(StatusError) as caught:
        decode(synthetic, envelope("widgets.k8s.io/v1", "Widget", _f64(4, float("nan"))))
    assert caught.value.code == 400
