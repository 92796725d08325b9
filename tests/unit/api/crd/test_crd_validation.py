"""CustomResourceDefinition defaulting and validation (create, update, status).

Every invalid case states the exact ``(type, field, detail)`` upstream reports. Paths of a
CRD whose versions share one schema read ``spec.validation.openAPIV3Schema...`` because
upstream validates the internal version, where such a schema is hoisted to the top level.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from kubesmith.api.crd import (
    default_crd,
    prepare_crd_for_create,
    prepare_crd_for_update,
    validate_crd,
    validate_crd_status_update,
    validate_crd_update,
)
from kubesmith.api.crd.validation import WEBHOOK_CONVERSION_UNSUPPORTED
from kubesmith.api.errors import FieldError

Factory = Callable[[], dict[str, Any]]
Mutator = Callable[[dict[str, Any]], None]
Expected = list[tuple[str, str, str]]

ROOT = "spec.validation.openAPIV3Schema"
SPEC = f"{ROOT}.properties[spec]"


def created(crd: dict[str, Any]) -> list[FieldError]:
    """What the create path does: decode defaults, PrepareForCreate, Validate."""
    default_crd(crd)
    prepare_crd_for_create(crd)
    return validate_crd(crd)


def triples(errors: list[FieldError]) -> Expected:
    return [(e.type, e.field, e.detail) for e in errors]


def schema_of(crd: dict[str, Any], index: int = 0) -> dict[str, Any]:
    schema: dict[str, Any] = crd["spec"]["versions"][index]["schema"]["openAPIV3Schema"]
    return schema


def spec_props(crd: dict[str, Any]) -> dict[str, Any]:
    props: dict[str, Any] = schema_of(crd)["properties"]["spec"]["properties"]
    return props


def test_real_world_crds_are_valid(crontab_crd: Factory, certificate_crd: Factory) -> None:
    assert created(crontab_crd()) == []
    assert created(certificate_crd()) == []


def test_defaults(crontab_crd: Factory) -> None:
    crd = crontab_crd()
    del crd["spec"]["names"]["singular"]
    default_crd(crd)
    assert crd["spec"]["names"]["singular"] == "crontab"
    assert crd["spec"]["names"]["listKind"] == "CronTabList"
    assert crd["spec"]["conversion"] == {"strategy": "None"}
    assert crd["status"] == {"storedVersions": ["v1"]}


def test_defaults_keep_what_is_set(crontab_crd: Factory) -> None:
    crd = crontab_crd()
    crd["spec"]["names"].update(singular="tab", listKind="Tabs")
    crd["spec"]["conversion"] = {"strategy": "Webhook", "webhook": {
        "clientConfig": {"service": {"name": "conv", "namespace": "default"}},
        "conversionReviewVersions": ["v1"]}}
    default_crd(crd)
    assert crd["spec"]["names"]["singular"] == "tab"
    assert crd["spec"]["names"]["listKind"] == "Tabs"
    assert crd["spec"]["conversion"]["webhook"]["clientConfig"]["service"]["port"] == 443


def test_prepare_for_create_resets_status(crontab_crd: Factory) -> None:
    crd = crontab_crd()
    crd["status"] = {"acceptedNames": {"plural": "x"}, "storedVersions": ["v0"]}
    prepare_crd_for_create(crd)
    assert crd["status"] == {"storedVersions": ["v1"]}
    assert crd["metadata"]["generation"] == 1


def _set(path: list[Any], value: Any) -> Mutator:
    def mutate(crd: dict[str, Any]) -> None:
        target = crd
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return mutate


def _drop(path: list[Any]) -> Mutator:
    def mutate(crd: dict[str, Any]) -> None:
        target = crd
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]
    return mutate


def _spec_prop(name: str, value: dict[str, Any]) -> Mutator:
    return lambda crd: spec_props(crd).__setitem__(name, value)


def _second_version(storage: bool, name: str = "v2") -> Mutator:
    def mutate(crd: dict[str, Any]) -> None:
        second = copy.deepcopy(crd["spec"]["versions"][0])
        second.update(name=name, storage=storage)
        crd["spec"]["versions"].append(second)
    return mutate


DNS1035 = ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start "
           "with an alphabetic character, and end with an alphanumeric character (e.g. "
           "'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')")
TYPES = "must be one of boolean,date,integer,number,string"

INVALID_CRONTAB = [
    pytest.param(_set(["metadata", "name"], "crontab.stable.example.com"),
                 [("FieldValueInvalid", "metadata.name",
                   'must be spec.names.plural+"."+spec.group')], id="name-not-plural-dot-group"),
    pytest.param(lambda crd: (crd["spec"].update(group="example"),
                              crd["metadata"].update(name="crontabs.example")),
                 [("FieldValueInvalid", "spec.group", "should be a domain with at least one dot")],
                 id="group-without-dot"),
    pytest.param(_set(["spec", "scope"], "Global"),
                 [("FieldValueNotSupported", "spec.scope",
                   'supported values: "Cluster", "Namespaced"')], id="scope"),
    pytest.param(_set(["spec", "names", "plural"], "CronTabs"),
                 [("FieldValueInvalid", "metadata.name",
                   'must be spec.names.plural+"."+spec.group'),
                  ("FieldValueInvalid", "spec.names.plural", DNS1035)], id="plural-uppercase"),
    pytest.param(_set(["spec", "names", "kind"], "Cron_Tab"),
                 [("FieldValueInvalid", "spec.names.kind",
                   "may have mixed case, but should otherwise match: " + DNS1035),
                  ("FieldValueInvalid", "spec.names.listKind",
                   "may have mixed case, but should otherwise match: " + DNS1035)],
                 id="kind-underscore-and-defaulted-list-kind"),
    pytest.param(_set(["spec", "names", "listKind"], "CronTab"),
                 [("FieldValueInvalid", "spec.names.listKind",
                   "kind and listKind may not be the same")], id="list-kind-equals-kind"),
    pytest.param(_second_version(storage=True),
                 [("FieldValueInvalid", "spec.versions",
                   "must have exactly one version marked as storage version"),
                  ("FieldValueInvalid", "status.storedVersions",
                   "must have the storage version v2")], id="two-storage-versions"),
    pytest.param(_set(["spec", "versions", 0, "storage"], False),
                 [("FieldValueInvalid", "spec.versions",
                   "must have exactly one version marked as storage version"),
                  ("FieldValueInvalid", "status.storedVersions",
                   "must have at least one stored version")], id="no-storage-version"),
    pytest.param(_second_version(storage=False, name="v1"),
                 [("FieldValueInvalid", "spec.versions", "must contain unique version names")],
                 id="duplicate-version-names"),
    pytest.param(_set(["spec", "versions", 0, "name"], "V1"),
                 [("FieldValueInvalid", "spec.versions[0].name", DNS1035),
                  ("FieldValueInvalid", "spec.version", DNS1035)], id="version-name"),
    pytest.param(_drop(["spec", "versions", 0, "schema"]),
                 [("FieldValueRequired", "spec.versions[0].schema.openAPIV3Schema", "")],
                 id="schema-required"),
    pytest.param(_drop(["spec", "versions", 0, "schema", "openAPIV3Schema", "properties", "spec",
                        "type"]),
                 [("FieldValueRequired", f"{SPEC}.type",
                   "must not be empty for specified object fields")], id="missing-type"),
    pytest.param(_spec_prop("ports", {"type": "array"}),
                 [("FieldValueRequired", f"{SPEC}.properties[ports].items", "must be specified")],
                 id="array-without-items"),
    # Upstream skips the [integer, string] anyOf pattern whether or not the node is
    # int-or-string; only the missing type is reported.
    pytest.param(_spec_prop("port", {"anyOf": [{"type": "integer"}, {"type": "string"}]}),
                 [("FieldValueRequired", f"{SPEC}.properties[port].type",
                   "must not be empty for specified object fields")],
                 id="int-string-any-of-without-int-or-string"),
    pytest.param(_spec_prop("port", {"type": "string", "anyOf": [{"type": "string"}]}),
                 [("FieldValueForbidden", f"{SPEC}.properties[port].anyOf[0].type",
                   "must be empty to be structural")],
                 id="type-in-any-of"),
    # Upstream checks that junctors only name structural properties at the schema root.
    pytest.param(_spec_prop("port", {"type": "object", "allOf": [
                     {"properties": {"other": {"maximum": 3}}}]}),
                 [], id="nested-completeness-is-only-checked-at-the-root"),
    pytest.param(_spec_prop("port", {"x-kubernetes-int-or-string": True,
                                     "anyOf": [{"type": "integer"}, {"type": "string"}]}),
                 [], id="int-or-string-any-of-exception"),
    # A $ref stops the structural checks (NewStructural fails); its own error remains.
    pytest.param(_spec_prop("ref", {"$ref": "#/definitions/Ref"}),
                 [("FieldValueForbidden", f"{SPEC}.properties[ref].$ref", "$ref is not supported")],
                 id="ref"),
    pytest.param(_set(["spec", "versions", 0, "schema", "openAPIV3Schema", "allOf"],
                      [{"properties": {"extra": {"maximum": 3}}}]),
                 [("FieldValueInvalid", "spec.validation.openAPIV3Schema",
                   "only [Description Type Format Title Maximum ExclusiveMaximum Minimum "
                   "ExclusiveMinimum MaxLength MinLength Pattern MaxItems MinItems UniqueItems "
                   "MultipleOf Required Items Properties ExternalDocs Example "
                   "XPreserveUnknownFields XValidations] fields are allowed at the root of the "
                   "schema if the status subresource is enabled"),
                  ("FieldValueRequired", f"{ROOT}.properties[extra]",
                   f"because it is defined in {ROOT}.allOf[0].properties[extra]")],
                 id="root-junctor-needs-structural-property"),
    pytest.param(_set(["spec", "versions", 0, "schema", "openAPIV3Schema", "properties",
                       "metadata"],
                      {"type": "object", "properties": {"labels": {"type": "object"}}}),
                 [("FieldValueForbidden", f"{ROOT}.properties[metadata]",
                   "must not specify anything other than name and generateName, but metadata is "
                   "implicitly specified")], id="metadata-beyond-name"),
    pytest.param(_set(["spec", "versions", 0, "schema", "openAPIV3Schema", "properties",
                       "metadata"],
                      {"type": "object", "properties": {"name": {"type": "string",
                                                                 "maxLength": 20}}}),
                 [], id="metadata-name-restriction"),
    pytest.param(_set(["spec", "versions", 0, "schema", "openAPIV3Schema", "properties",
                       "metadata"], {"type": "object", "default": {"name": "x"}}),
                 [("FieldValueForbidden", f"{ROOT}.properties[metadata].default",
                   "must not be set in top-level metadata")], id="metadata-default"),
    pytest.param(_spec_prop("labels", {"type": "object", "properties": {"a": {"type": "string"}},
                                       "additionalProperties": {"type": "string"}}),
                 [("FieldValueForbidden", f"{SPEC}.properties[labels].additionalProperties",
                   "additionalProperties and properties are mutual exclusive")],
                 id="properties-and-additional-properties"),
    pytest.param(_spec_prop("tags", {"type": "array", "uniqueItems": True,
                                     "items": {"type": "string"}}),
                 [("FieldValueForbidden", f"{SPEC}.properties[tags].uniqueItems",
                   "uniqueItems cannot be set to true since the runtime complexity becomes "
                   "quadratic")], id="unique-items"),
    pytest.param(_spec_prop("replicas", {"type": "integer", "minimum": 1, "default": 0}),
                 [("FieldValueInvalid", f"{SPEC}.properties[replicas].default",
                   " in body should be greater than or equal to 1")], id="default-fails-schema"),
    pytest.param(_spec_prop("template", {"type": "object", "default": {"a": 1},
                                         "properties": {"b": {"type": "integer"}}}),
                 [("FieldValueInvalid", f"{SPEC}.properties[template].default",
                   "must not have unknown fields")], id="default-not-pruned"),
    pytest.param(_spec_prop("nick", {"type": "string", "pattern": "(abc"}),
                 [("FieldValueInvalid", f"{SPEC}.properties[nick].pattern",
                   "must be a valid regular expression, but isn't: error parsing regexp: "
                   "missing closing ): `(abc`")], id="bad-pattern"),
    pytest.param(_spec_prop("kind", {"type": "null"}),
                 [("FieldValueNotSupported", f"{SPEC}.properties[kind].type",
                   'supported values: "array", "boolean", "integer", "number", "object", '
                   '"string"'),
                  ("FieldValueForbidden", f"{SPEC}.properties[kind].type",
                   "type cannot be set to null, use nullable as an alternative")], id="type-null"),
    pytest.param(_spec_prop("ports", {"type": "array", "x-kubernetes-list-type": "map",
                                      "items": {"type": "object",
                                                "properties": {"port": {"type": "integer"}}}}),
                 [("FieldValueRequired", f"{SPEC}.properties[ports].x-kubernetes-list-map-keys",
                   "must not be empty if x-kubernetes-list-type is map")],
                 id="list-map-without-keys"),
    pytest.param(_spec_prop("ports", {"type": "array", "x-kubernetes-list-type": "map",
                                      "x-kubernetes-list-map-keys": ["port"],
                                      "items": {"type": "object",
                                                "properties": {"port": {"type": "integer"}}}}),
                 [("FieldValueRequired",
                   f"{SPEC}.properties[ports].items.properties[port].default",
                   "this property is in x-kubernetes-list-map-keys, so it must have a default or "
                   "be a required property")], id="list-map-key-optional"),
    pytest.param(_spec_prop("ports", {"type": "array", "x-kubernetes-list-type": "map",
                                      "x-kubernetes-list-map-keys": ["name"],
                                      "items": {"type": "object", "required": ["port"],
                                                "properties": {"port": {"type": "integer"}}}}),
                 [("FieldValueInvalid", f"{SPEC}.properties[ports].x-kubernetes-list-map-keys",
                   "entries must all be names of item properties")], id="list-map-unknown-key"),
    pytest.param(_spec_prop("rules", {"type": "string", "x-kubernetes-validations": [
                     {"rule": "self.size() > 1\n&& true"}]}),
                 [("FieldValueRequired",
                   f"{SPEC}.properties[rules].x-kubernetes-validations[0].message",
                   "message must be specified if rule contains line breaks")],
                 id="cel-rule-static-check"),
    pytest.param(_set(["spec", "versions", 0, "subresources", "scale", "specReplicasPath"],
                      "spec.replicas"),
                 [("FieldValueInvalid", "spec.subresources.scale.specReplicasPath",
                   "must be a simple json path starting with .")], id="scale-path-no-dot"),
    pytest.param(_set(["spec", "versions", 0, "subresources", "scale", "statusReplicasPath"],
                      ".spec.replicas"),
                 [("FieldValueInvalid", "spec.subresources.scale.statusReplicasPath",
                   "should be a json path under .status")], id="scale-status-path-under-spec"),
    pytest.param(_set(["spec", "versions", 0, "subresources", "scale", "labelSelectorPath"],
                      ".metadata.labels"),
                 [("FieldValueInvalid", "spec.subresources.scale.labelSelectorPath",
                   "should be a json path under either .spec or .status")],
                 id="scale-selector-path"),
    pytest.param(_set(["spec", "versions", 0, "additionalPrinterColumns", 0],
                      {"name": "Spec", "type": "text"}),
                 [("FieldValueInvalid", "spec.additionalPrinterColumns[0].type", TYPES),
                  ("FieldValueRequired", "spec.additionalPrinterColumns[0].JSONPath", "")],
                 id="printer-column"),
    pytest.param(_set(["spec", "versions", 0, "additionalPrinterColumns", 1, "format"], "int8"),
                 [("FieldValueInvalid", "spec.additionalPrinterColumns[1].format",
                   "must be one of byte,date,date-time,double,float,int32,int64,password")],
                 id="printer-column-format"),
    pytest.param(_set(["spec", "conversion"], {"strategy": "Webhook", "webhook": {
                     "clientConfig": {"url": "https://conv.example.com"},
                     "conversionReviewVersions": ["v1"]}}),
                 [("FieldValueForbidden", "spec.conversion.strategy",
                   WEBHOOK_CONVERSION_UNSUPPORTED)], id="webhook-conversion-rejected"),
    pytest.param(_set(["spec", "conversion"], {"strategy": "None", "webhook": {
                     "conversionReviewVersions": ["v1"]}}),
                 [("FieldValueForbidden", "spec.conversion.conversionReviewVersions",
                   "should not be set when strategy is not set to Webhook")],
                 id="webhook-settings-without-webhook"),
    pytest.param(_set(["spec", "preserveUnknownFields"], True),
                 [("FieldValueInvalid", "spec.preserveUnknownFields",
                   "must be false in order to use defaults in the schema"),
                  ("FieldValueInvalid", "spec.preserveUnknownFields",
                   "cannot set to true, set x-kubernetes-preserve-unknown-fields to true in "
                   "spec.versions[*].schema instead")], id="preserve-unknown-fields"),
    pytest.param(_set(["spec", "versions", 0, "schema", "openAPIV3Schema", "enum"], [{}]),
                 [("FieldValueInvalid", "spec.validation.openAPIV3Schema",
                   "only [Description Type Format Title Maximum ExclusiveMaximum Minimum "
                   "ExclusiveMinimum MaxLength MinLength Pattern MaxItems MinItems UniqueItems "
                   "MultipleOf Required Items Properties ExternalDocs Example "
                   "XPreserveUnknownFields XValidations] fields are allowed at the root of the "
                   "schema if the status subresource is enabled")], id="status-root-keywords"),
    pytest.param(_set(["spec", "versions", 0, "deprecationWarning"], "going away"),
                 [("FieldValueInvalid", "spec.versions[0].deprecationWarning",
                   "can only be set for deprecated versions")], id="deprecation-warning"),
]


@pytest.mark.parametrize(("mutate", "expected"), INVALID_CRONTAB)
def test_invalid_crontab(crontab_crd: Factory, mutate: Mutator, expected: Expected) -> None:
    crd = crontab_crd()
    mutate(crd)
    assert triples(created(crd)) == expected


def test_multi_version_schemas_keep_version_paths(crontab_crd: Factory) -> None:
    crd = crontab_crd()
    _second_version(storage=False)(crd)
    v2_spec = schema_of(crd, 1)["properties"]["spec"]
    del v2_spec["properties"]["image"]["type"]
    assert triples(created(crd)) == [
        ("FieldValueRequired",
         "spec.versions[1].schema.openAPIV3Schema.properties[spec].properties[image].type",
         "must not be empty for specified object fields")]


def test_structural_errors_are_sorted_by_text(crontab_crd: Factory) -> None:
    crd = crontab_crd()
    props = spec_props(crd)
    props["zeta"] = {}
    props["alpha"] = {}
    assert [e.field for e in created(crd)] == [f"{SPEC}.properties[alpha].type",
                                               f"{SPEC}.properties[zeta].type"]


def test_storage_error_value_renders_like_go(crontab_crd: Factory) -> None:
    crd = crontab_crd()
    _second_version(storage=True)(crd)
    versions_error = next(e for e in created(crd) if e.field == "spec.versions")
    rendered = versions_error.message()
    assert rendered.startswith(
        'spec.versions: Invalid value: [{"Name":"v1","Served":true,"Storage":true,'
        '"Deprecated":false,"DeprecationWarning":null,"Schema":null,"Subresources":null,'
        '"AdditionalPrinterColumns":null,"SelectableFields":null},{"Name":"v2",')
    assert rendered.endswith("]: must have exactly one version marked as storage version")


def test_protected_group_needs_api_approval(crontab_crd: Factory) -> None:
    crd = crontab_crd()
    crd["spec"]["group"] = "stable.k8s.io"
    crd["metadata"]["name"] = "crontabs.stable.k8s.io"
    assert triples(created(crd)) == [
        ("FieldValueRequired", "metadata.annotations[api-approved.kubernetes.io]",
         'protected groups must have approval annotation "api-approved.kubernetes.io", see '
         "https://github.com/kubernetes/enhancements/pull/1111")]
    crd["metadata"]["annotations"] = {
        "api-approved.kubernetes.io": "https://github.com/kubernetes/kubernetes/pull/1"}
    assert created(crd) == []


def test_certificate_invalid_enum_default(certificate_crd: Factory) -> None:
    crd = certificate_crd()
    key = spec_props(crd)["privateKey"]["properties"]["rotationPolicy"]
    key["default"] = "Sometimes"
    assert triples(created(crd)) == [
        ("FieldValueNotSupported",
         f"{SPEC}.properties[privateKey].properties[rotationPolicy].default",
         'supported values: "Never", "Always"')]


# -- updates ------------------------------------------------------------------------------


def stored(crd: dict[str, Any], *, established: bool = True) -> dict[str, Any]:
    """``crd`` as read back from storage after creation."""
    assert created(crd) == []
    crd["metadata"].update(resourceVersion="7", uid="u-1",
                           creationTimestamp="2026-01-01T00:00:00Z")
    if established:
        crd["status"]["conditions"] = [{"type": "Established", "status": "True"}]
    return crd


def updated(new: dict[str, Any], old: dict[str, Any]) -> list[FieldError]:
    default_crd(new)
    prepare_crd_for_update(new, old)
    return validate_crd_update(new, old)


def test_update_can_move_the_storage_version(crontab_crd: Factory) -> None:
    old = stored(crontab_crd())
    new = copy.deepcopy(old)
    _second_version(storage=True)(new)
    new["spec"]["versions"][0]["storage"] = False
    assert updated(new, old) == []
    assert new["status"]["storedVersions"] == ["v1", "v2"]
    assert new["metadata"]["generation"] == 2


def test_update_cannot_drop_a_stored_version(crontab_crd: Factory) -> None:
    old = stored(crontab_crd())
    new = copy.deepcopy(old)
    new["spec"]["versions"][0]["name"] = "v2"
    assert triples(updated(new, old)) == [
        ("FieldValueInvalid", "status.storedVersions[0]",
         "missing from spec.versions; v1 was previously a storage version, and must remain in "
         "spec.versions until a storage migration ensures no data remains persisted in v1 and "
         "removes v1 from status.storedVersions")]


@pytest.mark.parametrize(
    ("established", "mutate", "expected"),
    [
        pytest.param(True, _set(["spec", "scope"], "Cluster"),
                     [("FieldValueInvalid", "spec.scope", "field is immutable")],
                     id="scope-immutable-once-established"),
        pytest.param(False, _set(["spec", "scope"], "Cluster"), [],
                     id="scope-mutable-before-established"),
        pytest.param(True, _set(["spec", "names", "kind"], "Timer"),
                     [("FieldValueInvalid", "spec.names.kind", "field is immutable")],
                     id="kind-immutable-once-established"),
        pytest.param(False, lambda crd: (crd["spec"].update(group="other.example.com"),
                                         crd["metadata"].update(
                                             name="crontabs.other.example.com")),
                     [("FieldValueInvalid", "metadata.name", "field is immutable"),
                      ("FieldValueInvalid", "spec.group", "field is immutable")],
                     id="group-immutable"),
        pytest.param(False, _set(["spec", "names", "plural"], "crontabz"),
                     [("FieldValueInvalid", "spec.names.plural", "field is immutable")],
                     id="plural-immutable"),
        pytest.param(True, _set(["spec", "names", "shortNames"], ["ct", "cts"]), [],
                     id="short-names-mutable"),
    ],
)
def test_update_immutability(crontab_crd: Factory, established: bool, mutate: Mutator,
                             expected: Expected) -> None:
    old = stored(crontab_crd(), established=established)
    new = copy.deepcopy(old)
    if "names" in new["spec"] and "listKind" in new["spec"]["names"]:
        # Let defaulting recompute listKind when the kind changes.
        del new["spec"]["names"]["listKind"]
    mutate(new)
    assert triples(updated(new, old)) == expected


def test_update_generation_only_moves_with_spec(crontab_crd: Factory) -> None:
    old = stored(crontab_crd())
    old["metadata"]["generation"] = 3
    new = copy.deepcopy(old)
    new["metadata"]["labels"] = {"team": "a"}
    assert updated(new, old) == []
    assert new["metadata"]["generation"] == 3


def test_status_update_checks_accepted_names(crontab_crd: Factory) -> None:
    old = stored(crontab_crd())
    new = copy.deepcopy(old)
    new["status"]["acceptedNames"] = {"plural": "Cron Tabs", "kind": "CronTab"}
    assert [(e.type, e.field) for e in validate_crd_status_update(new, old)] == [
        ("FieldValueInvalid", "status.acceptedNames.plural")]


def test_semantically_equal_schemas_are_hoisted(crontab_crd: Factory) -> None:
    crd = crontab_crd()
    _second_version(storage=False)(crd)
    # Zero values vanish when upstream decodes into Go structs: still "identical".
    schema_of(crd, 1)["properties"]["spec"]["nullable"] = False
    del schema_of(crd, 0)["properties"]["spec"]["properties"]["image"]["type"]
    del schema_of(crd, 1)["properties"]["spec"]["properties"]["image"]["type"]
    assert [e.field for e in created(crd)] == [f"{SPEC}.properties[image].type"]


def test_per_version_subresources_decide_the_status_root_rule(crontab_crd: Factory) -> None:
    crd = crontab_crd()
    _second_version(storage=False)(crd)
    del crd["spec"]["versions"][1]["subresources"]
    for index in (0, 1):
        schema_of(crd, index)["minProperties"] = 1
    # Only v1 enables the status subresource, so only v1's root is restricted; the shared
    # schema is checked once at spec.validation with "any version has status".
    errors = created(crd)
    assert [(e.field, e.detail.split(" fields")[0]) for e in errors] == [
        ("spec.validation.openAPIV3Schema", "only [Description Type Format Title Maximum "
         "ExclusiveMaximum Minimum ExclusiveMinimum MaxLength MinLength Pattern MaxItems "
         "MinItems UniqueItems MultipleOf Required Items Properties ExternalDocs Example "
         "XPreserveUnknownFields XValidations]")]
