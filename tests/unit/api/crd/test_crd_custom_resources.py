"""Custom resources against their schema: pruning, defaulting, validation and scale paths."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from kubesmith.api.crd import (
    default,
    get_path,
    prune,
    scale_paths,
    set_path,
    validate,
    validate_list_sets_and_maps,
    validate_scale,
    validate_scale_status,
)

Factory = Callable[[], dict[str, Any]]
Mutator = Callable[[dict[str, Any]], None]


def certificate(**spec: Any) -> dict[str, Any]:
    body = {"secretName": "example-tls", "issuerRef": {"name": "letsencrypt", "kind": "Issuer"},
            "dnsNames": ["example.com", "www.example.com"], "duration": "2160h"}
    body.update(spec)
    return {"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
            "metadata": {"name": "example", "namespace": "default"}, "spec": body}


def crontab(**spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"cronSpec": "* * * * */5", "image": "my-awesome-cron-image"}
    body.update(spec)
    return {"apiVersion": "stable.example.com/v1", "kind": "CronTab",
            "metadata": {"name": "my-new-cron-object"}, "spec": body}


# -- pruning ------------------------------------------------------------------------------


PRESERVING: dict[str, Any] = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "properties": {
                "config": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "settings": {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
                             "properties": {"nested": {"type": "object",
                                                       "properties": {"a": {"type": "string"}}}}},
                "extra": {"type": "object", "additionalProperties": True},
                "replicas": {"type": "integer"},
                "template": {"type": "object", "x-kubernetes-embedded-resource": True,
                             "x-kubernetes-preserve-unknown-fields": True},
                "items": {"type": "array", "x-kubernetes-preserve-unknown-fields": True,
                          "items": {"type": "object",
                                    "properties": {"name": {"type": "string"}}}},
                "optional": {"type": "string"},
                "nullableName": {"type": "string", "nullable": True},
            },
        },
    },
}


@pytest.mark.parametrize(
    ("spec", "expected_spec", "expected_paths"),
    [
        pytest.param({"replicas": 1, "zeta": 1, "alpha": 2}, {"replicas": 1},
                     ["spec.alpha", "spec.zeta"], id="unknown-fields-sorted"),
        pytest.param({"config": {"any": {"thing": [1, 2]}}},
                     {"config": {"any": {"thing": [1, 2]}}}, [], id="preserve-unknown-fields"),
        pytest.param({"settings": {"free": 1, "nested": {"a": "x", "b": "y"}}},
                     {"settings": {"free": 1, "nested": {"a": "x"}}},
                     ["spec.settings.nested.b"], id="preserve-with-declared-properties"),
        pytest.param({"extra": {"k": {"inner": 1}, "s": "v"}}, {"extra": {"k": {}, "s": "v"}},
                     ["spec.extra.k.inner"], id="additional-properties-true-prunes-objects"),
        pytest.param({"replicas": {"oops": 1}}, {"replicas": {}}, ["spec.replicas.oops"],
                     id="object-under-scalar-schema"),
        pytest.param({"items": [{"name": "a", "free": 1}]}, {"items": [{"name": "a", "free": 1}]},
                     [], id="preserving-list-keeps-item-fields"),
        pytest.param({"template": {"apiVersion": "v1", "kind": "Pod", "spec": {"x": 1},
                                   "metadata": {"name": "p", "bogus": True}}},
                     {"template": {"apiVersion": "v1", "kind": "Pod", "spec": {"x": 1},
                                   "metadata": {"name": "p"}}},
                     ["spec.template.metadata.bogus"], id="embedded-resource-metadata"),
        pytest.param({"optional": None, "nullableName": None}, {"nullableName": None}, [],
                     id="non-nullable-null-dropped"),
    ],
)
def test_prune(spec: dict[str, Any], expected_spec: dict[str, Any],
               expected_paths: list[str]) -> None:
    obj = {"apiVersion": "example.com/v1", "kind": "Thing", "metadata": {"name": "t"},
           "spec": spec}
    assert prune(obj, copy.deepcopy(PRESERVING)) == expected_paths
    assert obj == {"apiVersion": "example.com/v1", "kind": "Thing", "metadata": {"name": "t"},
                   "spec": expected_spec}


def test_prune_reports_metadata_first_and_keeps_type_meta(certificate_schema: Factory) -> None:
    obj = certificate(unknownSpecField=1)
    obj["metadata"]["surprise"] = "x"
    obj["metadata"]["ownerReferences"] = [{"apiVersion": "v1", "kind": "Secret", "name": "s",
                                           "uid": "1", "nope": 1}]
    obj["topLevel"] = True
    assert prune(obj, certificate_schema()) == [
        "metadata.surprise", "metadata.ownerReferences[0].nope", "spec.unknownSpecField",
        "topLevel"]
    assert obj["apiVersion"] == "cert-manager.io/v1"
    assert obj["kind"] == "Certificate"
    assert "surprise" not in obj["metadata"]
    assert "nope" not in obj["metadata"]["ownerReferences"][0]


def test_prune_without_schema_for_type_meta(crontab_schema: Factory) -> None:
    # The CronTab schema declares neither apiVersion, kind nor metadata: all are kept.
    obj = crontab()
    assert prune(obj, crontab_schema()) == []
    assert obj == crontab()


# -- defaulting ---------------------------------------------------------------------------


DEFAULTING: dict[str, Any] = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "properties": {
                "replicas": {"type": "integer", "default": 1},
                "strategy": {"type": "object", "default": {"type": "Rolling"},
                             "properties": {"type": {"type": "string"},
                                            "maxSurge": {"type": "integer", "default": 25}}},
                "ports": {"type": "array", "items": {
                    "type": "object",
                    "properties": {"protocol": {"type": "string", "default": "TCP"},
                                   "port": {"type": "integer"}}}},
                "limits": {"type": "object", "additionalProperties": {
                    "type": "object", "properties": {"unit": {"type": "string",
                                                              "default": "Mi"}}}},
                "optional": {"type": "object",
                             "properties": {"mode": {"type": "string", "default": "auto"}}},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "nullableWithDefault": {"type": "string", "nullable": True, "default": "d"},
                "withDefault": {"type": "string", "default": "d"},
            },
        },
    },
}


TOP_DEFAULTS: dict[str, Any] = {"replicas": 1, "strategy": {"type": "Rolling", "maxSurge": 25},
                                "withDefault": "d", "nullableWithDefault": "d"}


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param({}, TOP_DEFAULTS, id="absent-fields-get-defaults-recursively"),
        pytest.param({"replicas": 3, "strategy": {"type": "Recreate"}, "withDefault": "x",
                      "nullableWithDefault": "x"},
                     {"replicas": 3, "strategy": {"type": "Recreate", "maxSurge": 25},
                      "withDefault": "x", "nullableWithDefault": "x"},
                     id="existing-object-gets-nested-defaults"),
        pytest.param({"ports": [{"port": 80}, {"port": 53, "protocol": "UDP"}]},
                     {**TOP_DEFAULTS, "ports": [{"port": 80, "protocol": "TCP"},
                                                {"port": 53, "protocol": "UDP"}]},
                     id="list-items"),
        pytest.param({"limits": {"memory": {}}},
                     {**TOP_DEFAULTS, "limits": {"memory": {"unit": "Mi"}}},
                     id="additional-properties-values"),
        pytest.param({"optional": {}}, {**TOP_DEFAULTS, "optional": {"mode": "auto"}},
                     id="parent-exists-so-child-defaulted"),
        pytest.param({"free": {"mode": None}}, {**TOP_DEFAULTS, "free": {"mode": None}},
                     id="nothing-inside-preserve-unknown-fields"),
        pytest.param({"withDefault": None, "nullableWithDefault": None},
                     {**TOP_DEFAULTS, "nullableWithDefault": None},
                     id="non-nullable-null-defaulted-nullable-kept"),
    ],
)
def test_default(spec: dict[str, Any], expected: dict[str, Any]) -> None:
    obj: dict[str, Any] = {"spec": copy.deepcopy(spec)}
    default(obj, DEFAULTING)
    assert obj["spec"] == expected


def test_default_does_not_create_missing_parents() -> None:
    obj: dict[str, Any] = {"metadata": {"name": "x"}}
    default(obj, DEFAULTING)
    assert obj == {"metadata": {"name": "x"}}


def test_defaults_are_copies() -> None:
    first: dict[str, Any] = {"spec": {}}
    second: dict[str, Any] = {"spec": {}}
    default(first, DEFAULTING)
    default(second, DEFAULTING)
    first["spec"]["strategy"]["type"] = "changed"
    assert second["spec"]["strategy"]["type"] == "Rolling"
    assert DEFAULTING["properties"]["spec"]["properties"]["strategy"]["default"] == {
        "type": "Rolling"}


def test_crontab_create_pipeline(crontab_schema: Factory) -> None:
    schema = crontab_schema()
    obj = crontab(extra="dropped")
    assert prune(obj, schema) == ["spec.extra"]
    default(obj, schema)
    assert obj["spec"]["replicas"] == 1
    assert validate(obj, schema) == []


# -- validation ---------------------------------------------------------------------------


def _spec(**changes: Any) -> Mutator:
    return lambda obj: obj["spec"].update(changes)


def _drop_issuer_name(obj: dict[str, Any]) -> None:
    del obj["spec"]["issuerRef"]["name"]


CERTIFICATE_CASES = [
    pytest.param(_spec(privateKey={"algorithm": "DSA"}),
                 [("FieldValueNotSupported", "spec.privateKey.algorithm",
                   'supported values: "RSA", "ECDSA", "Ed25519"', "DSA")], id="enum"),
    pytest.param(_drop_issuer_name,
                 [("FieldValueRequired", "spec.issuerRef.name", "", None)], id="required-nested"),
    pytest.param(lambda obj: obj.pop("spec"),
                 [("FieldValueRequired", "spec", "", None)], id="required-spec"),
    pytest.param(_spec(secretName="Example_TLS"),
                 [("FieldValueInvalid", "spec.secretName",
                   "spec.secretName in body should match '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'",
                   "Example_TLS")], id="pattern"),
    pytest.param(_spec(commonName="x" * 65),
                 [("FieldValueTooLong", "spec.commonName", "may not be more than 64 bytes",
                   None)], id="max-length"),
    pytest.param(_spec(isCA="yes"),
                 [("FieldValueTypeInvalid", "spec.isCA",
                   'spec.isCA in body must be of type boolean: "string"', "string")],
                 id="type-boolean"),
    pytest.param(_spec(revisionHistoryLimit=0),
                 [("FieldValueInvalid", "spec.revisionHistoryLimit",
                   "spec.revisionHistoryLimit in body should be greater than or equal to 1", 0)],
                 id="minimum"),
    pytest.param(_spec(revisionHistoryLimit=2.0), [], id="integral-float-is-an-integer"),
    pytest.param(_spec(usages=["server auth", "email protection"]),
                 [("FieldValueNotSupported", "spec.usages[1]",
                   'supported values: "signing", "digital signature", "key encipherment", '
                   '"server auth", "client auth"', "email protection")], id="enum-in-list"),
    pytest.param(_spec(secretTemplate={"labels": {"team": 7}}),
                 [("FieldValueTypeInvalid", "spec.secretTemplate.labels.team",
                   'spec.secretTemplate.labels.team in body must be of type string: "integer"',
                   "integer")], id="map-values"),
    pytest.param(_spec(dnsNames=["a.example.com", "b.example.com", "a.example.com"]),
                 [("FieldValueDuplicate", "spec.dnsNames[2]", "", "a.example.com")],
                 id="list-type-set"),
    pytest.param(lambda obj: obj.update(status={"conditions": [
                     {"type": "Ready", "status": "True"}, {"type": "Issuing", "status": "False"},
                     {"type": "Ready", "status": "False"}]}),
                 [("FieldValueDuplicate", "status.conditions[2]", "", {"type": "Ready"})],
                 id="list-type-map"),
    pytest.param(lambda obj: obj.update(status={"notAfter": "next tuesday"}),
                 [("FieldValueTypeInvalid", "status.notAfter",
                   'status.notAfter in body must be of type date-time: "next tuesday"',
                   "next tuesday")], id="format-date-time"),
]


@pytest.mark.parametrize(("mutate", "expected"), CERTIFICATE_CASES)
def test_validate_certificate(certificate_schema: Factory, mutate: Mutator,
                              expected: list[tuple[str, str, str, Any]]) -> None:
    obj = certificate()
    mutate(obj)
    errors = validate(obj, certificate_schema())
    assert [(e.type, e.field, e.detail, e.value if e.has_value else None)
            for e in errors] == expected


def test_valid_certificate(certificate_schema: Factory) -> None:
    obj = certificate(privateKey={"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
                      usages=["server auth", "client auth"], isCA=False,
                      secretTemplate={"labels": {"team": "a"}},
                      subject={"organizations": ["Example Inc."]})
    obj["status"] = {"conditions": [{"type": "Ready", "status": "True",
                                     "lastTransitionTime": "2026-01-02T03:04:05Z"}],
                     "notAfter": "2026-04-02T03:04:05Z", "revision": 1}
    assert validate(obj, certificate_schema()) == []


def test_crontab_messages_as_kubectl_prints_them(crontab_schema: Factory) -> None:
    obj = crontab(replicas=11, cronSpec="every minute")
    assert [e.message() for e in validate(obj, crontab_schema())] == [
        "spec.cronSpec: Invalid value: \"every minute\": spec.cronSpec in body should match "
        "'^(\\d+|\\*)(/\\d+)?(\\s+(\\d+|\\*)(/\\d+)?){4}$'",
        "spec.replicas: Invalid value: 11: spec.replicas in body should be less than or equal "
        "to 10",
    ]


def test_x_kubernetes_validations_are_not_enforced() -> None:
    schema = {"type": "object", "properties": {"spec": {
        "type": "object", "x-kubernetes-validations": [{"rule": "self.a < self.b"}],
        "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}}}}
    assert validate({"spec": {"a": 2, "b": 1}}, schema) == []


def test_list_type_checks_ratchet_on_update(certificate_schema: Factory) -> None:
    schema = certificate_schema()
    old = certificate(dnsNames=["a.example.com", "a.example.com"])
    new = certificate(dnsNames=["a.example.com", "a.example.com", "b.example.com"])
    assert validate_list_sets_and_maps(new, schema, old) == []
    assert [e.field for e in validate_list_sets_and_maps(new, schema)] == ["spec.dnsNames[1]"]


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        pytest.param([1, 1.0], [], id="int-and-float-differ"),
        pytest.param([True, 1], [], id="bool-and-int-differ"),
        pytest.param([{"a": 1}, {"a": 1}], [("spec.values[1]", {"a": 1})], id="compound"),
        pytest.param([1, 1, 1, 2, 2], [("spec.values[1]", 1), ("spec.values[4]", 2)],
                     id="second-occurrence-only"),
    ],
)
def test_list_set_uniqueness(items: list[Any], expected: list[tuple[str, Any]]) -> None:
    schema = {"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "values": {"type": "array", "x-kubernetes-list-type": "set",
                   "items": {"x-kubernetes-preserve-unknown-fields": True}}}}}}
    errors = validate_list_sets_and_maps({"spec": {"values": items}}, schema)
    assert [(e.field, e.value) for e in errors] == expected


def test_list_map_with_two_keys_and_missing_key() -> None:
    schema = {"type": "object", "properties": {"ports": {
        "type": "array", "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["port", "protocol"],
        "items": {"type": "object", "properties": {"port": {"type": "integer"},
                                                   "protocol": {"type": "string"}}}}}}
    obj = {"ports": [{"port": 80, "protocol": "TCP"}, {"port": 80, "protocol": "UDP"},
                     {"port": 80, "protocol": "TCP"}, {}, {}]}
    assert [(e.field, e.value) for e in validate_list_sets_and_maps(obj, schema)] == [
        ("ports[2]", {"port": 80, "protocol": "TCP"}), ("ports[4]", {})]
    bad = {"ports": [{"port": 1}, "x"]}
    assert [(e.type, e.field, e.detail) for e in validate_list_sets_and_maps(bad, schema)] == [
        ("FieldValueInvalid", "ports[1]", "must be an object for an array of list-type map")]


# -- scale subresource --------------------------------------------------------------------


def test_scale_paths(crontab_crd: Factory, certificate_crd: Factory) -> None:
    assert scale_paths(crontab_crd()["spec"]["versions"][0]) == (
        ".spec.replicas", ".status.replicas", ".status.labelSelector")
    assert scale_paths(certificate_crd()["spec"]["versions"][0]) is None


def test_get_and_set_path() -> None:
    obj: dict[str, Any] = {"spec": {"replicas": 3}, "status": None}
    assert get_path(obj, ".spec.replicas") == (3, True)
    assert get_path(obj, ".status.replicas") == (None, False)
    assert get_path(obj, ".spec.replicas.deeper") == (None, False)
    set_path(obj, ".spec.replicas", 5)
    set_path(obj, ".metadata.labels.app", "cron")
    assert obj["spec"]["replicas"] == 5
    assert obj["metadata"] == {"labels": {"app": "cron"}}
    with pytest.raises(TypeError, match=r"value cannot be set because \.status is not a "
                                        r"map\[string\]interface\{\}"):
        set_path(obj, ".status.replicas", 1)


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        pytest.param({"spec": {"replicas": 2}, "status": {"replicas": 2, "labelSelector": "a=b"}},
                     [], id="valid"),
        pytest.param({"spec": {}}, [], id="absent-counts-as-zero"),
        pytest.param({"spec": {"replicas": -1}},
                     [("FieldValueInvalid", ".spec.replicas", "should be a non-negative integer")],
                     id="negative"),
        pytest.param({"spec": {"replicas": 2**31}},
                     [("FieldValueInvalid", ".spec.replicas",
                       "should be less than or equal to 2147483647")], id="over-int32"),
        pytest.param({"spec": {"replicas": "3"}},
                     [("FieldValueInvalid", ".spec.replicas",
                       ".spec.replicas accessor error: 3 is of the type string, expected int64")],
                     id="string-replicas"),
        pytest.param({"status": {"labelSelector": {"app": "x"}}},
                     [("FieldValueInvalid", ".status.labelSelector",
                       ".status.labelSelector accessor error: map[app:x] is of the type "
                       "map[string]interface {}, expected string")], id="selector-not-string"),
    ],
)
def test_validate_scale(crontab_crd: Factory, obj: dict[str, Any],
                        expected: list[tuple[str, str, str]]) -> None:
    version = crontab_crd()["spec"]["versions"][0]
    assert [(e.type, e.field, e.detail) for e in validate_scale(obj, version)] == expected


def test_validate_scale_status_ignores_spec(crontab_crd: Factory) -> None:
    version = crontab_crd()["spec"]["versions"][0]
    assert validate_scale_status({"spec": {"replicas": -1}}, version) == []
