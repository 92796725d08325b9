"""The OpenAPI schema view: definitions, navigation, merge metadata and unknown fields."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kubesmith.api import schema
from kubesmith.api.schema import SchemaNode


def walk(node: SchemaNode | None, path: str) -> SchemaNode | None:
    """Follow ``a.b[].c`` (``[]`` = list element) from ``node``."""
    for part in path.split("."):
        if node is None:
            return None
        name, _, rest = part.partition("[]")
        node = node.field(name)
        if part.endswith("[]"):
            assert rest == ""
            node = node.items() if node is not None else None
    return node


def test_definitions_are_the_bundled_v1_37_document() -> None:
    defs = schema.definitions()
    assert "io.k8s.api.apps.v1.Deployment" in defs
    assert "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta" in defs
    assert schema.definitions() is defs  # parsed once


@pytest.mark.parametrize(
    ("gvk", "expected"),
    [
        pytest.param(("apps", "v1", "Deployment"), "io.k8s.api.apps.v1.Deployment",
                     id="deployment"),
        pytest.param(("", "v1", "Pod"), "io.k8s.api.core.v1.Pod", id="core-pod"),
        pytest.param(("batch", "v1", "CronJob"), "io.k8s.api.batch.v1.CronJob", id="cronjob"),
        pytest.param(("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
                     "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1."
                     "CustomResourceDefinition", id="crd"),
        pytest.param(("", "v1", "Status"), "io.k8s.apimachinery.pkg.apis.meta.v1.Status",
                     id="status"),
        pytest.param(("apps", "v1", "Nope"), None, id="unknown-kind"),
        pytest.param(("example.com", "v1", "Widget"), None, id="custom-resource"),
    ],
)
def test_definition_name(gvk: tuple[str, str, str], expected: str | None) -> None:
    assert schema.definition_name(*gvk) == expected


def test_root_is_cached_and_none_for_unknown_kinds() -> None:
    deployment = schema.root("apps", "v1", "Deployment")
    assert deployment is not None
    assert deployment is schema.root("apps", "v1", "Deployment")
    assert deployment.field("spec") is deployment.field("spec")
    assert schema.root("example.com", "v1", "Widget") is None


DEPLOYMENT = ("apps", "v1", "Deployment")
POD = ("", "v1", "Pod")


@pytest.mark.parametrize(
    ("gvk", "path", "expected"),
    [
        pytest.param(DEPLOYMENT, "spec.template.spec.containers",
                     {"kind": "list", "patch_strategy": "merge", "patch_merge_key": "name",
                      "list_type": "map", "list_map_keys": ("name",)}, id="containers"),
        pytest.param(POD, "spec.volumes",
                     {"kind": "list", "patch_strategy": "merge,retainKeys",
                      "patch_merge_key": "name"}, id="volumes-merge-retainkeys"),
        pytest.param(DEPLOYMENT, "spec.strategy",
                     {"kind": "object", "patch_strategy": "retainKeys",
                      "name": "io.k8s.api.apps.v1.DeploymentStrategy"},
                     id="ref-sibling-extension"),
        pytest.param(("policy", "v1", "PodDisruptionBudget"), "spec.selector",
                     {"kind": "object", "patch_strategy": "replace"}, id="replace-strategy"),
        pytest.param(POD, "metadata.finalizers",
                     {"kind": "list", "patch_strategy": "merge", "patch_merge_key": None,
                      "list_type": "set"}, id="finalizers"),
        pytest.param(POD, "metadata.labels", {"kind": "map", "map_type": None}, id="labels"),
        pytest.param(POD, "metadata.labels.app", {"kind": "scalar"}, id="label-value"),
        pytest.param(POD, "spec.nodeSelector", {"kind": "map", "map_type": "atomic"},
                     id="atomic-map"),
        pytest.param(POD, "spec.tolerations", {"kind": "list", "list_type": "atomic",
                                               "patch_strategy": None}, id="atomic-list"),
        pytest.param(POD, "spec.containers[].ports",
                     {"list_map_keys": ("containerPort", "protocol"),
                      "patch_merge_key": "containerPort"}, id="ports-map-keys"),
        pytest.param(POD, "spec.containers[].resources.limits.cpu", {"kind": "scalar"},
                     id="quantity"),
        pytest.param(DEPLOYMENT, "spec.strategy.rollingUpdate.maxSurge", {"kind": "scalar"},
                     id="int-or-string"),
        pytest.param(POD, "metadata.creationTimestamp", {"kind": "scalar"}, id="time"),
        pytest.param(POD, "metadata.managedFields[].fieldsV1", {"kind": "untyped"},
                     id="fieldsv1-untyped"),
        pytest.param(("apps", "v1", "ControllerRevision"), "data", {"kind": "untyped"},
                     id="rawextension-untyped"),
        pytest.param(("apps", "v1", "ControllerRevision"), "data.anything.below",
                     {"kind": "untyped"}, id="inside-untyped"),
        pytest.param(("scheduling.k8s.io", "v1", "PriorityClass"), "value",
                     {"kind": "scalar"}, id="int32"),
    ],
)
def test_navigation(gvk: tuple[str, str, str], path: str, expected: dict[str, Any]) -> None:
    node = walk(schema.root(*gvk), path)
    assert node is not None
    for attribute, value in expected.items():
        assert getattr(node, attribute) == value, attribute


@pytest.mark.parametrize(
    ("gvk", "path"),
    [
        pytest.param(DEPLOYMENT, "spec.bogus", id="unknown-spec-field"),
        pytest.param(POD, "spec.containers[].bogus", id="unknown-container-field"),
        pytest.param(POD, "metadata.labels.app.deeper", id="below-a-scalar"),
    ],
)
def test_unknown_paths_are_none(gvk: tuple[str, str, str], path: str) -> None:
    assert walk(schema.root(*gvk), path) is None


def test_shape_predicates() -> None:
    pod = schema.root(*POD)
    assert pod is not None
    assert pod.is_object
    assert not pod.is_map
    labels = walk(pod, "metadata.labels")
    assert labels is not None
    assert labels.is_map
    containers = walk(pod, "spec.containers")
    assert containers is not None
    assert containers.is_list
    assert containers.strategies == frozenset({"merge"})
    name = walk(pod, "metadata.name")
    assert name is not None
    assert name.is_scalar
    assert SchemaNode.untyped().is_untyped
    assert SchemaNode.untyped().field("x") is SchemaNode.untyped()
    assert SchemaNode.untyped().items() is SchemaNode.untyped()


def test_field_names_follow_the_definition() -> None:
    strategy = walk(schema.root(*DEPLOYMENT), "spec.strategy")
    assert strategy is not None
    assert set(strategy.field_names()) == {"type", "rollingUpdate"}
    assert dict(strategy.iter_fields())["type"].is_scalar


WIDGET_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "metadata": {"type": "object", "properties": {"name": {"type": "string"}}},
        "spec": {
            "type": "object",
            "properties": {
                "size": {"x-kubernetes-int-or-string": True},
                "tags": {"type": "array", "items": {"type": "string"},
                         "x-kubernetes-list-type": "set"},
                "ports": {"type": "array", "x-kubernetes-list-type": "map",
                          "x-kubernetes-list-map-keys": ["port"],
                          "items": {"type": "object",
                                    "properties": {"port": {"type": "integer"}}}},
                "settings": {"type": "object",
                             "additionalProperties": {"type": "object", "properties": {
                                 "value": {"type": "string"}}}},
                "anything": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "partly": {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
                           "properties": {"known": {"type": "string"}}},
                "template": {"type": "object", "x-kubernetes-embedded-resource": True,
                             "properties": {"spec": {"type": "object"}}},
                "atomic": {"type": "object", "x-kubernetes-map-type": "atomic",
                           "properties": {"a": {"type": "string"}}},
            },
        },
    },
}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        pytest.param("apiVersion", {"kind": "scalar"}, id="implicit-apiversion"),
        pytest.param("metadata", {"name": "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"},
                     id="metadata-is-objectmeta"),
        pytest.param("metadata.labels", {"kind": "map"}, id="objectmeta-fields"),
        pytest.param("spec.size", {"kind": "scalar"}, id="int-or-string"),
        pytest.param("spec.tags", {"kind": "list", "list_type": "set"}, id="set"),
        pytest.param("spec.ports", {"list_type": "map", "list_map_keys": ("port",)},
                     id="map-list"),
        pytest.param("spec.settings.any-key.value", {"kind": "scalar"}, id="map-of-objects"),
        pytest.param("spec.anything", {"kind": "untyped"}, id="preserve-unknown"),
        pytest.param("spec.partly", {"kind": "object", "preserve_unknown": True},
                     id="preserve-with-properties"),
        pytest.param("spec.partly.unlisted", {"kind": "untyped"}, id="preserved-field"),
        pytest.param("spec.template.metadata.name", {"kind": "scalar"},
                     id="embedded-resource-metadata"),
        pytest.param("spec.template.kind", {"kind": "scalar"}, id="embedded-resource-kind"),
        pytest.param("spec.atomic", {"kind": "object", "map_type": "atomic"},
                     id="atomic-struct"),
    ],
)
def test_from_openapi(path: str, expected: dict[str, Any]) -> None:
    node = walk(SchemaNode.from_openapi(WIDGET_SCHEMA), path)
    assert node is not None
    for attribute, value in expected.items():
        assert getattr(node, attribute) == value, attribute


def test_from_openapi_without_resource_root_has_no_implicit_fields() -> None:
    node = SchemaNode.from_openapi({"type": "object", "properties": {"a": {"type": "string"}}},
                                   resource_root=False)
    assert node.field("apiVersion") is None
    assert node.field("metadata") is None


@pytest.mark.parametrize(
    ("gvk", "obj", "expected"),
    [
        pytest.param(DEPLOYMENT, {"apiVersion": "apps/v1", "kind": "Deployment",
                                  "metadata": {"name": "x", "labels": {"any": "key"}},
                                  "spec": {"replicas": 1}}, [], id="clean"),
        pytest.param(DEPLOYMENT, {"spec": {"foo": 1, "replicas": 2}}, ["spec.foo"],
                     id="spec-field"),
        pytest.param(DEPLOYMENT, {"spec": {"template": {"spec": {"containers": [
            {"name": "a"}, {"name": "b", "bogus": True, "env": [{"name": "X", "x": 1}]}]}}}},
            ["spec.template.spec.containers[1].bogus",
             "spec.template.spec.containers[1].env[0].x"], id="list-elements"),
        pytest.param(POD, {"metadata": {"name": "p", "nmae": "typo"}, "status": {"bad": 1}},
                     ["metadata.nmae", "status.bad"], id="metadata-and-status"),
        pytest.param(POD, {"spec": {"containers": None, "nodeSelector": {"k": "v"}}}, [],
                     id="nulls-and-map-keys"),
        pytest.param(POD, {"spec": {"containers": "not-a-list"}}, [],
                     id="wrong-type-is-validations-job"),
        pytest.param(("apps", "v1", "ControllerRevision"),
                     {"data": {"whatever": {"deep": [1, {"x": 2}]}}, "revision": 1}, [],
                     id="rawextension"),
        pytest.param(POD, {"metadata": {"managedFields": [
            {"manager": "m", "fieldsV1": {"f:spec": {}}, "extra": 1}]}},
            ["metadata.managedFields[0].extra"], id="fieldsv1"),
    ],
)
def test_unknown_fields(gvk: tuple[str, str, str], obj: dict[str, Any],
                        expected: list[str]) -> None:
    node = schema.root(*gvk)
    assert node is not None
    before = copy.deepcopy(obj)
    assert schema.unknown_fields(obj, node) == expected
    assert obj == before  # reporting never changes the object


def test_prune_unknown_removes_in_place() -> None:
    node = schema.root(*DEPLOYMENT)
    assert node is not None
    obj: dict[str, Any] = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x", "bad": 1},
        "spec": {"foo": 1, "replicas": 2, "template": {"spec": {"containers": [
            {"name": "a", "bogus": True, "image": "nginx"}]}}},
    }
    pruned = schema.prune_unknown(obj, node)
    assert pruned == ["metadata.bad", "spec.foo", "spec.template.spec.containers[0].bogus"]
    assert obj == {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
        "spec": {"replicas": 2, "template": {"spec": {"containers": [
            {"name": "a", "image": "nginx"}]}}},
    }
    assert schema.prune_unknown(obj, node) == []


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        pytest.param({"spec": {"size": 3, "tags": ["a"], "ports": [{"port": 1}]}}, [],
                     id="clean"),
        pytest.param({"spec": {"ports": [{"port": 1, "name": "x"}]}}, ["spec.ports[0].name"],
                     id="list-of-objects"),
        pytest.param({"spec": {"settings": {"k": {"value": "v", "other": 1}}}},
                     ["spec.settings.k.other"], id="map-value"),
        pytest.param({"spec": {"anything": {"a": {"b": 1}}, "partly": {"known": "x", "y": 2}}},
                     [], id="preserve-unknown"),
        pytest.param({"metadata": {"name": "w", "labels": {"a": "b"}, "oops": 1}},
                     ["metadata.oops"], id="metadata-is-objectmeta"),
        pytest.param({"spec": {"template": {"apiVersion": "v1", "kind": "Pod",
                                            "metadata": {"name": "p"}, "spec": {"x": 1},
                                            "status": {}}}},
                     ["spec.template.spec.x", "spec.template.status"], id="embedded-resource"),
        pytest.param({"status": {"phase": "x"}}, ["status"], id="undeclared-status"),
    ],
)
def test_unknown_fields_custom_resource(obj: dict[str, Any], expected: list[str]) -> None:
    node = SchemaNode.from_openapi(WIDGET_SCHEMA)
    assert schema.unknown_fields(obj, node) == expected
    schema.prune_unknown(obj, node)
    assert schema.unknown_fields(obj, node) == []


def test_schema_walk_is_not_limited_by_recursion() -> None:
    node = schema.root("apiextensions.k8s.io", "v1", "CustomResourceDefinition")
    assert node is not None
    props: dict[str, Any] = {"type": "object", "bogus": 1}
    for _ in range(5000):
        props = {"type": "object", "properties": {"x": props}}
    crd = {"spec": {"versions": [{"name": "v1", "schema": {"openAPIV3Schema": props}}]}}
    found = schema.unknown_fields(crd, node)
    assert len(found) == 1
    assert found[0].endswith(".bogus")
