"""Compare, merge, remove and validate under the v1.37 schemas."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from kubesmith.api import schema
from kubesmith.api.managedfields.fields import FieldSet, PathElement
from kubesmith.api.managedfields.typed import (
    compare,
    ensure_named_fields_are_members,
    json_equal,
    merge,
    remove_items,
    validate,
)

DATA = Path(__file__).parent / "data"

F = PathElement.of_field
K = PathElement.of_key
V = PathElement.of_value


def node(group: str, version: str, kind: str) -> schema.SchemaNode:
    found = schema.root(group, version, kind)
    assert found is not None
    return found


def deployment() -> schema.SchemaNode:
    return node("apps", "v1", "Deployment")


def containers(*items: dict[str, Any]) -> dict[str, Any]:
    return {"spec": {"template": {"spec": {"containers": list(items)}}}}


def containers_of(obj: dict[str, Any]) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = obj["spec"]["template"]["spec"]["containers"]
    return result


# -- compare -----------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "kind"), [("pod", "Pod"), ("node", "Node"),
                                            ("endpoints", "Endpoints")])
def test_compare_from_empty_adds_every_field_and_container(name: str, kind: str) -> None:
    # data/<name>.added.json is derived by hand from the v1.37 schema: every granular
    # container that appears carries ".", atomic values (ownerReferences entries,
    # secretKeyRef, tolerations, nodeSelector, subsets) and empty values are leaves, and
    # duplicated list-map keys (a dual-stack Node's InternalIP addresses) are owned whole.
    obj = yaml.safe_load((DATA / f"{name}.yaml").read_text())
    expected = orjson.dumps(orjson.loads((DATA / f"{name}.added.json").read_bytes()))
    result = compare({}, obj, node("", "v1", kind))
    assert result.added.to_json() == expected
    assert not result.modified
    assert not result.removed


def test_compare_reports_modified_and_removed() -> None:
    old = {"spec": {"replicas": 1, "paused": True,
                    "template": {"metadata": {"labels": {"a": "1"}}}}}
    new = {"spec": {"replicas": 2, "template": {"metadata": {"labels": {"a": "1", "b": "2"}}}}}
    result = compare(old, new, deployment())
    assert result.modified == FieldSet.from_paths([(F("spec"), F("replicas"))])
    assert result.removed == FieldSet.from_paths([(F("spec"), F("paused"))])
    assert result.added == FieldSet.from_paths(
        [(F("spec"), F("template"), F("metadata"), F("labels"), F("b"))])


def test_compare_materializes_go_zero_values_for_builtins() -> None:
    new = {"spec": {"template": {"spec": {"containers": [{"name": "a"}]}},
                    "strategy": {"rollingUpdate": {"maxSurge": 1}}}, "status": {}}
    plain = compare({}, new, deployment())
    materialized = compare({}, new, deployment(), materialize=True)
    spec = (F("spec"),)
    assert plain.added.has(spec)
    # Go always writes spec, template, template.spec, containers and strategy...
    for path in [spec, (*spec, F("template")), (*spec, F("template"), F("spec")),
                 (*spec, F("template"), F("spec"), F("containers")), (*spec, F("strategy")),
                 (F("status"),)]:
        assert not materialized.added.has(path), path
    # ...but not the rollingUpdate pointer, which is added as a container.
    assert materialized.added.has((*spec, F("strategy"), F("rollingUpdate")))


def test_compare_of_duplicates() -> None:
    old = {"metadata": {"finalizers": ["a", "a"]}}
    new = {"metadata": {"finalizers": ["a"]}}
    result = compare(old, new, deployment())
    assert result.removed == FieldSet.from_paths([(F("metadata"), F("finalizers"), V("a"))])


# -- merge -----------------------------------------------------------------------------------


def test_merge_labels_granularly() -> None:
    live = {"metadata": {"labels": {"a": "1", "b": "2"}}}
    config = {"metadata": {"labels": {"b": "3", "c": "4"}}}
    assert merge(live, config, deployment()) == {
        "metadata": {"labels": {"a": "1", "b": "3", "c": "4"}}}


def test_merge_containers_by_name_keeping_live_fields() -> None:
    live = containers({"name": "a", "image": "a:1", "imagePullPolicy": "Always"},
                      {"name": "b", "image": "b:1"})
    config = containers({"name": "b", "image": "b:2"})
    merged = containers_of(merge(live, config, deployment()))
    assert merged == [{"name": "a", "image": "a:1", "imagePullPolicy": "Always"},
                      {"name": "b", "image": "b:2"}]


@pytest.mark.parametrize(
    ("live", "config", "expected"),
    [
        pytest.param(["a", "b", "c"], ["d"], ["a", "b", "c", "d"], id="new-appended"),
        pytest.param(["a", "b", "c"], ["c", "a"], ["b", "c", "a"], id="config-reorders-shared"),
        pytest.param(["a", "b"], ["x", "b", "y"], ["a", "x", "b", "y"], id="inserted-around"),
        pytest.param([], ["a"], ["a"], id="from-empty"),
    ],
)
def test_merge_list_order_like_upstream(live: list[str], config: list[str],
                                        expected: list[str]) -> None:
    merged = merge({"metadata": {"finalizers": live}}, {"metadata": {"finalizers": config}},
                   deployment())
    assert merged["metadata"]["finalizers"] == expected


def test_merge_ports_by_container_port_and_protocol() -> None:
    live = containers({"name": "a", "ports": [
        {"containerPort": 80, "protocol": "TCP", "name": "http"},
        {"containerPort": 53, "protocol": "UDP"}]})
    # No protocol in the configuration: the key defaults to TCP and matches port 80/TCP.
    config = containers({"name": "a", "ports": [{"containerPort": 80, "hostPort": 8080},
                                                {"containerPort": 53, "protocol": "TCP"}]})
    ports = containers_of(merge(live, config, deployment()))[0]["ports"]
    assert ports == [
        {"containerPort": 80, "protocol": "TCP", "name": "http", "hostPort": 8080},
        {"containerPort": 53, "protocol": "UDP"},
        {"containerPort": 53, "protocol": "TCP"},
    ]


def test_merge_env_by_name() -> None:
    live = containers({"name": "a", "env": [{"name": "X", "value": "1"},
                                            {"name": "Y", "value": "2"}]})
    config = containers({"name": "a", "env": [{"name": "Y", "value": "3"}]})
    env = containers_of(merge(live, config, deployment()))[0]["env"]
    assert env == [{"name": "X", "value": "1"}, {"name": "Y", "value": "3"}]


def test_merge_replaces_atomic_values() -> None:
    live = containers({"name": "a", "args": ["1", "2"]})
    live["spec"]["selector"] = {"matchLabels": {"a": "1", "b": "2"}}
    config = containers({"name": "a", "args": ["3"]})
    config["spec"]["selector"] = {"matchLabels": {"c": "3"}}
    merged = merge(live, config, deployment())
    assert merged["spec"]["selector"] == {"matchLabels": {"c": "3"}}
    assert containers_of(merged) == [{"name": "a", "args": ["3"]}]


def test_merge_schemaless_deduces_maps_and_replaces_lists() -> None:
    live = {"spec": {"a": {"x": 1}, "list": [1, 2]}}
    config = {"spec": {"a": {"y": 2}, "list": [3]}}
    assert merge(live, config, None) == {"spec": {"a": {"x": 1, "y": 2}, "list": [3]}}


def test_merge_does_not_modify_inputs() -> None:
    live = {"metadata": {"labels": {"a": "1"}}}
    config = {"metadata": {"labels": {"b": "2"}}}
    merge(live, config, deployment())
    assert live == {"metadata": {"labels": {"a": "1"}}}
    assert config == {"metadata": {"labels": {"b": "2"}}}


# -- remove ----------------------------------------------------------------------------------


def test_remove_items_drops_members_and_emptied_containers() -> None:
    value = containers({"name": "a", "image": "i"}, {"name": "b", "image": "j"})
    value["metadata"] = {"labels": {"a": "1"}, "finalizers": ["x", "y"]}
    ctr = (F("spec"), F("template"), F("spec"), F("containers"))
    fields = FieldSet.from_paths([
        (F("metadata"), F("labels"), F("a")),
        (F("metadata"), F("finalizers"), V("x")),
        (*ctr, K({"name": "a"})),
        (*ctr, K({"name": "b"}), F("image")),
    ])
    assert remove_items(value, fields, deployment()) == {
        "metadata": {"finalizers": ["y"]},
        "spec": {"template": {"spec": {"containers": [{"name": "b"}]}}},
    }
    # Removing the last thing in a container removes the container (Go omits it too).
    assert remove_items({"metadata": {"labels": {"a": "1"}}},
                        FieldSet.from_paths([(F("metadata"), F("labels"), F("a"))]),
                        deployment()) == {}


def test_ensure_named_fields_are_members() -> None:
    fields = FieldSet.from_paths([(F("metadata"), F("labels"), F("a")),
                                  (F("spec"), F("replicas"))])
    named = ensure_named_fields_are_members(fields, deployment())
    assert named.has((F("metadata"),))
    assert named.has((F("metadata"), F("labels")))
    assert named.has((F("spec"),))
    # Map keys are not struct fields: the label itself was already a member.
    assert named.has((F("metadata"), F("labels"), F("a")))


# -- validate --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "errors"),
    [
        pytest.param({"spec": {"replicas": 3}}, [], id="valid"),
        pytest.param({"spec": {"replicas": "3"}},
                     [".spec.replicas: expected numeric (int or float), got string"],
                     id="string-for-int"),
        pytest.param({"spec": {"paused": "yes"}}, [".spec.paused: expected boolean, got &{yes}"],
                     id="string-for-bool"),
        pytest.param({"metadata": {"name": 1}},
                     [".metadata.name: expected string, got "
                      "&value.valueUnstructured{Value:1}"], id="int-for-string"),
        pytest.param({"spec": {"template": "x"}}, [".spec.template: expected map, got &{x}"],
                     id="scalar-for-map"),
        pytest.param(containers({"image": "x"}),
                     ['.spec.template.spec.containers: element 0: associative list with keys '
                      'has an element that omits all key fields ["name"] (and doesn\'t have '
                      'default values for any key fields)'], id="missing-key"),
        pytest.param(containers({"name": "c", "env": [{"name": "A"}, {"name": "A"}],
                                 "ports": [{"containerPort": 80},
                                           {"containerPort": 80, "protocol": "TCP"}]}),
                     ['.spec.template.spec.containers[name="c"].env: duplicate entries for key '
                      '[name="A"]',
                      '.spec.template.spec.containers[name="c"].ports: duplicate entries for '
                      'key [containerPort=80,protocol="TCP"]'], id="duplicates"),
        pytest.param({"spec": {"replica": 3, "replicas": "x"}},
                     [".spec.replica: field not declared in schema"], id="undeclared-field"),
        pytest.param({"spec": {"template": {"spec": {"containers": [
            {"name": "a", "imagePullSecret": "x"}]}}}},
            ['.spec.template.spec.containers[name="a"].imagePullSecret: field not declared in '
             'schema'], id="undeclared-in-list-element"),
        pytest.param({"metadata": {"labels": {"any": "key"}, "annotations": {"x/y": "z"}}}, [],
                     id="map-keys-are-not-fields"),
        pytest.param({"metadata": {"finalizers": [{"a": 1}]}},
                     [".metadata.finalizers: element 0: associative list without keys has an "
                      "element that's a map type"], id="object-in-set"),
    ],
)
def test_validate_messages(config: dict[str, Any], errors: list[str]) -> None:
    assert validate(config, deployment()) == errors


def test_validate_custom_resource_unknown_fields() -> None:
    crd = schema.SchemaNode.from_openapi({"type": "object", "properties": {
        "spec": {"type": "object", "properties": {"size": {"type": "integer"}}},
        "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
                  "properties": {"nested": {"type": "object",
                                            "properties": {"a": {"type": "string"}}}}},
    }})
    assert validate({"spec": {"size": 1, "colour": "red"}}, crd) == \
        [".spec.colour: field not declared in schema"]
    # Preserved unknown fields reach nested objects too, as kube-openapi converts them.
    assert validate({"extra": {"free": 1, "nested": {"a": "x", "b": 2}}}, crd) == []
    assert validate({"apiVersion": "x/v1", "kind": "X", "metadata": {"name": "n"}}, crd) == []


@pytest.mark.parametrize(
    ("left", "right", "equal"),
    [
        pytest.param(1, 1.0, True, id="int-float"),
        pytest.param(1, True, False, id="int-bool"),
        pytest.param({"a": [1, {"b": None}]}, {"a": [1, {"b": None}]}, True, id="nested"),
        pytest.param({"a": 1}, {"a": 1, "b": 2}, False, id="extra-key"),
        pytest.param([1], {"0": 1}, False, id="list-map"),
    ],
)
def test_json_equal(left: Any, right: Any, equal: bool) -> None:
    assert json_equal(left, right) is equal
