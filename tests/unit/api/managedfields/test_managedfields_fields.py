"""FieldsV1: path elements, set algebra, byte-exact encoding, and the fields objects set.

The objects and expected field sets in ``data/`` are our own (see ``data/README.md``);
the managedFields strings below were captured from real clusters (kube-apiserver
1.20-1.30 responses quoted in public write-ups).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from kubesmith.api import schema
from kubesmith.api.managedfields.fields import (
    FieldSet,
    PathElement,
    fieldset_of,
    parse_element,
    path_string,
    serialize_element,
)

DATA = Path(__file__).parent / "data"

F = PathElement.of_field
K = PathElement.of_key
V = PathElement.of_value
I = PathElement.of_index  # noqa: E741 - upstream's own name for the index element


def fs(*paths: tuple[PathElement, ...]) -> FieldSet:
    return FieldSet.from_paths(paths)


# Real managedFields entries (fieldsV1 only), as kube-apiserver returned them.
REAL_FIELDS_V1 = {
    "kubectl-create-deployment": (
        '{"f:metadata":{"f:labels":{".":{},"f:app":{}}},"f:spec":{"f:progressDeadlineSeconds"'
        ':{},"f:replicas":{},"f:revisionHistoryLimit":{},"f:selector":{"f:matchLabels":{".":{}'
        ',"f:app":{}}},"f:strategy":{"f:rollingUpdate":{".":{},"f:maxSurge":{},'
        '"f:maxUnavailable":{}},"f:type":{}},"f:template":{"f:metadata":{"f:labels":{".":{},'
        '"f:app":{}}},"f:spec":{"f:containers":{"k:{\\"name\\":\\"primer\\"}":{".":{},'
        '"f:image":{},"f:imagePullPolicy":{},"f:name":{},"f:resources":{},'
        '"f:terminationMessagePath":{},"f:terminationMessagePolicy":{}}},"f:dnsPolicy":{},'
        '"f:restartPolicy":{},"f:schedulerName":{},"f:securityContext":{},'
        '"f:terminationGracePeriodSeconds":{}}}}}'),
    "controller-status": (
        '{"f:metadata":{"f:annotations":{".":{},"f:deployment.kubernetes.io/revision":{}}},'
        '"f:status":{"f:availableReplicas":{},"f:conditions":{".":{},"k:{\\"type\\":'
        '\\"Available\\"}":{".":{},"f:lastTransitionTime":{},"f:lastUpdateTime":{},'
        '"f:message":{},"f:reason":{},"f:status":{},"f:type":{}},"k:{\\"type\\":'
        '\\"Progressing\\"}":{".":{},"f:lastTransitionTime":{},"f:lastUpdateTime":{},'
        '"f:message":{},"f:reason":{},"f:status":{},"f:type":{}}},"f:observedGeneration":{},'
        '"f:readyReplicas":{},"f:replicas":{},"f:updatedReplicas":{}}}'),
    "apply-with-env-and-ports": (
        '{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:replicas":{},"f:selector":{},'
        '"f:template":{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:containers":{'
        '"k:{\\"name\\":\\"nginx\\"}":{".":{},"f:env":{"k:{\\"name\\":\\"MY_NODE_NAME\\"}":{'
        '".":{},"f:name":{},"f:valueFrom":{"f:fieldRef":{}}}},"f:image":{},"f:name":{},'
        '"f:ports":{"k:{\\"containerPort\\":80,\\"protocol\\":\\"TCP\\"}":{".":{},'
        '"f:containerPort":{}}}}}}}}}'),
}


# -- encoding ------------------------------------------------------------------------------


# Go's bytes for a small document, written by hand: every element kind, "." markers,
# Go's escaping (quotes, backslashes, <>& and U+2028 as \u escapes, control characters,
# raw UTF-8), and upstream's order — fields < keys < values < indexes, numbers < strings <
# booleans, key fields and indexes compared as numbers ("80" before "443", "i:2" before
# "i:10").
TRICKY_FIELDS_V1 = (
    r'{"f:Zone":{},'
    r'"f:metadata":{".":{},"f:annotations":{".":{},"f:example.com/a\u0026b":{},'
    r'"f:grüße":{},"f:line\u2028break":{},"f:say \"hi\"":{},"f:tab\there":{}},'
    r'"f:finalizers":{"v:\"a\\\"b\"":{},"v:\"ü\"":{}}},'
    r'"f:spec":{"f:containers":{"k:{\"name\":\"\\u003cweb\\u003e\"}":{".":{},"f:name":{}},'
    r'"k:{\"name\":\"a\\\"b\"}":{".":{},"f:image":{},"f:name":{}},'
    r'"k:{\"name\":\"é\"}":{}},'
    r'"f:mixed":{".":{},"f:a":{},"k:{\"id\":1}":{},"v:1.5":{},"v:2":{},"v:10":{},'
    r'"v:\"10\"":{},"v:false":{},"v:true":{},"i:0":{},"i:2":{},"i:10":{}},'
    r'"f:ports":{"k:{\"containerPort\":80,\"protocol\":\"TCP\"}":{},'
    r'"k:{\"containerPort\":443,\"protocol\":\"TCP\"}":{},'
    r'"k:{\"containerPort\":443,\"protocol\":\"UDP\"}":{}}}}'
).encode()


def reversed_keys(fields: dict[str, Any]) -> dict[str, Any]:
    """The same FieldsV1 object with every level's keys in reverse order."""
    return {key: reversed_keys(sub) for key, sub in reversed(fields.items())}


def test_handwritten_document_round_trips_byte_for_byte() -> None:
    decoded = FieldSet.from_json(TRICKY_FIELDS_V1)
    assert decoded.to_json() == TRICKY_FIELDS_V1
    # Decoding does not depend on the order it reads keys in.
    shuffled = FieldSet.from_fields_v1(reversed_keys(orjson.loads(TRICKY_FIELDS_V1)))
    assert shuffled == decoded
    assert shuffled.to_json() == TRICKY_FIELDS_V1
    # The escapes decode to the characters they stand for...
    annotations = (F("metadata"), F("annotations"))
    for name in ["example.com/a&b", "grüße", "line\u2028break", 'say "hi"', "tab\there"]:
        assert decoded.has((*annotations, F(name))), name
    containers = (F("spec"), F("containers"))
    assert decoded.has((*containers, K({"name": "<web>"})))
    assert decoded.has((*containers, K({"name": 'a"b'}), F("image")))
    assert decoded.has((*containers, K({"name": "é"})))
    assert decoded.has((F("metadata"), F("finalizers"), V('a"b')))
    mixed = (F("spec"), F("mixed"))
    for element in [F("a"), K({"id": 1}), V(1.5), V(2), V(10), V("10"), V(False), V(True),
                    I(0), I(2), I(10)]:
        assert decoded.has((*mixed, element)), element
    assert decoded.has((F("spec"), F("ports"), K({"containerPort": 443, "protocol": "UDP"})))
    # ...and "." marks exactly the containers that are owned themselves.
    assert decoded.has((F("metadata"),))
    assert decoded.has(annotations)
    assert decoded.has(mixed)
    assert not decoded.has((F("spec"),))
    assert not decoded.has(containers)
    assert not decoded.has((F("metadata"), F("finalizers")))


def crd_like_object() -> dict[str, Any]:
    """A large schemaless object: a CustomResourceDefinition in the old v1beta1 shape."""
    properties: dict[str, Any] = {}
    for i in range(96):
        name = f"option{i}"
        if i % 4 == 0:
            properties[name] = {
                "type": "object", "description": f"Settings group {i}.",
                "required": ["name"],
                "properties": {
                    "name": {"type": "string", "description": "Name of the group."},
                    "weight": {"type": "integer", "format": "int32", "minimum": 0},
                    "selector": {"type": "object", "additionalProperties": {"type": "string"}},
                    "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                },
            }
        elif i % 4 == 1:
            properties[name] = {"type": "array", "items": {"type": "string"},
                                "description": f"Hosts for option {i}."}
        elif i % 4 == 2:
            properties[name] = {"type": "string", "enum": ["Always", "Never", "IfNeeded"]}
        else:
            properties[name] = {"x-kubernetes-int-or-string": True, "anyOf": [
                {"type": "integer"}, {"type": "string"}]}
    properties["größe"] = {"type": "string", "description": "Größe der Warteschlange."}
    properties["empty"] = {}
    return {
        "apiVersion": "apiextensions.k8s.io/v1beta1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "queues.broker.example.com", "creationTimestamp": None,
                     "annotations": {"broker.example.com/owner": "platform-team"}},
        "spec": {
            "group": "broker.example.com",
            "names": {"kind": "Queue", "listKind": "QueueList", "plural": "queues",
                      "singular": "queue", "shortNames": ["q"]},
            "scope": "Namespaced",
            "version": "v1alpha1",
            "additionalPrinterColumns": [{"name": "Size", "type": "integer",
                                          "JSONPath": ".spec.option3"}],
            "validation": {"openAPIV3Schema": {
                "type": "object",
                "properties": {
                    "apiVersion": {"type": "string"},
                    "kind": {"type": "string"},
                    "metadata": {"type": "object"},
                    "spec": {"type": "object", "properties": properties},
                    "status": {"type": "object", "properties": {
                        "depth": {"type": "integer"},
                        "conditions": {"type": "array", "items": {"type": "object"}},
                    }},
                },
            }},
        },
    }


def fleet_deployment(count: int = 24) -> dict[str, Any]:
    """A large Deployment: many containers, each with env, ports, mounts and resources."""
    containers = [{
        "name": f"shard-{i}",
        "image": f"registry.example.com/shard:{i}.0",
        "args": ["--shard", str(i)],
        "env": [{"name": "SHARD", "value": str(i)}, {"name": "LOG_LEVEL", "value": "info"},
                {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "shard-tokens",
                                                                 "key": f"shard-{i}"}}}],
        "ports": [{"name": f"http-{i}", "containerPort": 8000 + i},
                  {"name": f"gossip-{i}", "containerPort": 7000 + i, "protocol": "UDP"}],
        "resources": {"requests": {"cpu": "100m", "memory": "64Mi"},
                      "limits": {"memory": "128Mi"}},
        "volumeMounts": [{"name": "scratch", "mountPath": f"/scratch/{i}"}],
    } for i in range(count)]
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "shards", "labels": {"app": "shards"}},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "shards"}},
                 "template": {"metadata": {"labels": {"app": "shards"}},
                              "spec": {"containers": containers,
                                       "volumes": [{"name": "scratch", "emptyDir": {}}]}}},
    }


def granular_maps(value: Any) -> int:
    """Non-empty maps below the root of a schemaless value that are not inside a list."""
    if not isinstance(value, dict):
        return 0
    return sum((1 if isinstance(v, dict) and v else 0) + granular_maps(v)
               for v in value.values())


@pytest.mark.parametrize("name", ["crd-like", "fleet-deployment"])
def test_generated_large_documents_round_trip_byte_for_byte(name: str) -> None:
    if name == "crd-like":
        obj, node = crd_like_object(), None
    else:
        obj, node = fleet_deployment(), deployment_node()
    fields = fieldset_of(obj, node)
    raw = fields.to_json()
    assert len(raw) > 10_000
    decoded = FieldSet.from_json(raw)
    assert decoded == fields
    assert decoded.to_json() == raw
    # The dict form keeps the canonical key order, so orjson reproduces the bytes too.
    assert orjson.dumps(decoded.to_fields_v1()) == raw
    assert FieldSet.from_fields_v1(reversed_keys(orjson.loads(raw))).to_json() == raw
    if name == "crd-like":
        # Schemaless maps are owned themselves: one "." per non-empty nested map.
        assert raw.count(b'".":{}') == granular_maps(obj)
        assert '"f:größe":{".":{},"f:description":{},"f:type":{}}'.encode() in raw
    else:
        assert raw.count(b'"k:{\\"name\\":\\"shard-') == 24


@pytest.mark.parametrize("name", sorted(REAL_FIELDS_V1))
def test_real_managed_fields_round_trip_byte_for_byte(name: str) -> None:
    raw = REAL_FIELDS_V1[name].encode()
    decoded = FieldSet.from_json(raw)
    assert decoded.to_json() == raw
    assert FieldSet.from_fields_v1(orjson.loads(raw)) == decoded


def test_self_marker_and_member_only_nodes() -> None:
    decoded = FieldSet.from_json(REAL_FIELDS_V1["kubectl-create-deployment"])
    labels = (F("metadata"), F("labels"))
    assert decoded.has(labels)  # ".": {} makes the container itself owned
    assert decoded.has((*labels, F("app")))
    assert not decoded.has((F("metadata"),))  # a struct with children only
    assert decoded.has((F("spec"), F("replicas")))


def test_encoding_orders_keys_like_upstream() -> None:
    # fields < keys < values < indexes; numbers < strings < booleans within values.
    shuffled = fs((I(0),), (V("b"),), (V(True),), (V(2),), (K({"name": "z"}),),
                  (K({"name": "a"}),), (F("z"),), (F("a"),), (V("a"),))
    assert shuffled.to_json() == (
        b'{"f:a":{},"f:z":{},"k:{\\"name\\":\\"a\\"}":{},"k:{\\"name\\":\\"z\\"}":{},'
        b'"v:2":{},"v:\\"a\\"":{},"v:\\"b\\"":{},"v:true":{},"i:0":{}}')


def test_member_with_children_gets_the_dot_first() -> None:
    s = fs((F("spec"),), (F("spec"), F("b")), (F("spec"), F("a")))
    assert s.to_fields_v1() == {"f:spec": {".": {}, "f:a": {}, "f:b": {}}}
    assert list(s.to_fields_v1()["f:spec"]) == [".", "f:a", "f:b"]


@pytest.mark.parametrize(
    ("element", "wire"),
    [
        pytest.param(F("spec"), "f:spec", id="field"),
        pytest.param(F("app.kubernetes.io/name"), "f:app.kubernetes.io/name", id="field-dotted"),
        pytest.param(K({"name": "a"}), 'k:{"name":"a"}', id="key"),
        pytest.param(K({"protocol": "TCP", "containerPort": 80}),
                     'k:{"containerPort":80,"protocol":"TCP"}', id="key-sorted-fields"),
        pytest.param(K({"name": "a<b&c>"}), 'k:{"name":"a\\u003cb\\u0026c\\u003e"}',
                     id="key-html-escaped"),
        # json-iterator, unlike encoding/json since Go 1.22, spells \b and \f out.
        pytest.param(K({"name": "a\bb\fc"}), 'k:{"name":"a\\u0008b\\u000cc"}',
                     id="key-jsoniter-control-escapes"),
        pytest.param(V("kubernetes.io/pvc-protection"), 'v:"kubernetes.io/pvc-protection"',
                     id="value-string"),
        pytest.param(V(8080), "v:8080", id="value-int"),
        pytest.param(V(80.0), "v:80", id="value-integral-float"),
        pytest.param(V(1e-7), "v:1e-7", id="value-tiny-float"),
        pytest.param(V(True), "v:true", id="value-bool"),
        pytest.param(V({"b": 1, "a": [1, "x"]}), 'v:{"a":[1,"x"],"b":1}', id="value-object"),
        pytest.param(I(3), "i:3", id="index"),
    ],
)
def test_path_element_wire_form(element: PathElement, wire: str) -> None:
    assert serialize_element(element) == wire
    assert parse_element(wire) == element


@pytest.mark.parametrize(
    ("key", "error"),
    [
        pytest.param("f", "key must be 2 characters long:", id="too-short"),
        pytest.param("fx", "missing colon: fx", id="no-colon"),
        pytest.param("k:[1]", "key path element is not an object", id="key-not-object"),
        pytest.param("i:x", 'strconv.Atoi: parsing "x": invalid syntax', id="bad-index"),
        pytest.param("v:{", "parsing value path element", id="bad-value"),
    ],
)
def test_malformed_keys_are_rejected(key: str, error: str) -> None:
    with pytest.raises(ValueError, match=error.replace("[", r"\[")):
        FieldSet.from_fields_v1({key: {}})


def test_unknown_element_kinds_are_dropped_like_upstream() -> None:
    assert FieldSet.from_fields_v1({"x:future": {}, "f:a": {}}) == fs((F("a"),))


def test_null_child_decodes_as_member() -> None:
    assert FieldSet.from_fields_v1({"f:a": None}) == fs((F("a"),))


@pytest.mark.parametrize(
    ("path", "text"),
    [
        pytest.param((F("spec"), F("replicas")), ".spec.replicas", id="fields"),
        pytest.param((F("spec"), F("containers"), K({"name": "nginx"}), F("image")),
                     '.spec.containers[name="nginx"].image', id="key"),
        pytest.param((F("ports"), K({"containerPort": 80, "protocol": "TCP"})),
                     '.ports[containerPort=80,protocol="TCP"]', id="multi-key"),
        pytest.param((F("metadata"), F("finalizers"), V("a/b")), '.metadata.finalizers[="a/b"]',
                     id="set-value"),
        pytest.param((F("args"), I(2)), ".args[2]", id="index"),
    ],
)
def test_path_strings_match_upstream(path: tuple[PathElement, ...], text: str) -> None:
    assert path_string(path) == text


# -- set algebra ---------------------------------------------------------------------------


A = (F("a"),)
AB = (F("a"), F("b"))
AC = (F("a"), F("c"))
D = (F("d"),)


@pytest.mark.parametrize(
    ("left", "right", "op", "expected"),
    [
        pytest.param(fs(AB), fs(AC, D), "union", fs(AB, AC, D), id="union"),
        pytest.param(fs(AB, AC), fs(AC, D), "intersection", fs(AC), id="intersection"),
        pytest.param(fs(AB, AC, D), fs(AC), "difference", fs(AB, D), id="difference"),
        pytest.param(fs(A, AB), fs(A), "difference", fs(AB), id="difference-keeps-children"),
        pytest.param(fs(A, AB, D), fs(A), "recursive_difference", fs(D),
                     id="recursive-difference-drops-subtree"),
        pytest.param(fs(AB), fs(AB), "difference", fs(), id="difference-to-empty"),
    ],
)
def test_set_operations(left: FieldSet, right: FieldSet, op: str, expected: FieldSet) -> None:
    result = getattr(left, op)(right)
    assert result == expected
    assert not result.children or all(result.children.values())  # no empty sub-sets


def test_iteration_order_is_members_then_children() -> None:
    s = fs(AC, AB, D, A)
    assert [path_string(p) for p in s] == [".a", ".d", ".a.b", ".a.c"]
    assert len(s) == 4
    assert s.leaves() == fs(D, AB, AC)


def test_sets_are_values() -> None:
    left = fs(AB)
    left.union(fs(AC))
    assert left == fs(AB)
    assert bool(fs()) is False
    assert fs(AB).with_prefix(F("a")) == fs((F("b"),))


# -- the fields an object sets ---------------------------------------------------------------


def deployment_node() -> schema.SchemaNode:
    node = schema.root("apps", "v1", "Deployment")
    assert node is not None
    return node


def test_fieldset_of_apply_configuration() -> None:
    config: dict[str, Any] = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "nginx", "labels": {"app": "nginx"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "nginx"}},
            "template": {
                "metadata": {"labels": {"app": "nginx"}},
                "spec": {"containers": [{
                    "name": "nginx", "image": "nginx",
                    "ports": [{"containerPort": 80}],
                    "env": [{"name": "MY_NODE_NAME",
                             "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
                }]},
            },
        },
    }
    fields = fieldset_of(config, deployment_node())
    # Exactly what kube-apiserver recorded for this configuration (metadata stripped).
    expected = FieldSet.from_json(REAL_FIELDS_V1["apply-with-env-and-ports"])
    meta = (F("apiVersion"),), (F("kind"),), (F("metadata"), F("name"))
    assert fields.difference(fs(*meta)) == expected


@pytest.mark.parametrize(("name", "kind"), [("pod", "Pod"), ("node", "Node"),
                                            ("endpoints", "Endpoints")])
def test_fieldset_of_builtin_objects(name: str, kind: str) -> None:
    # data/<name>.fields.json is derived by hand from the v1.37 schema: struct fields and
    # maps with content are parents only (no "."), map entries, list-map elements
    # (k:{...}, defaulted keys included) and set values (v:...) are owned, atomic lists
    # and maps (args, tolerations, nodeSelector, secretKeyRef, ownerReferences entries,
    # subsets) and null or empty values are leaves, an empty granular list sets nothing,
    # and duplicated keys (a dual-stack Node's InternalIP addresses) are owned whole.
    obj = yaml.safe_load((DATA / f"{name}.yaml").read_text())
    expected = orjson.dumps(orjson.loads((DATA / f"{name}.fields.json").read_bytes()))
    root = schema.root("", "v1", kind)
    assert root is not None
    fields = fieldset_of(obj, root)
    assert fields.to_json() == expected
    assert fields == FieldSet.from_json(expected)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param({"metadata": {"finalizers": ["a", "b"]}},
                     fs((F("metadata"), F("finalizers"), V("a")),
                        (F("metadata"), F("finalizers"), V("b"))), id="finalizers-set"),
        pytest.param({"metadata": {"labels": {}}}, fs((F("metadata"), F("labels"))),
                     id="empty-map-is-a-leaf"),
        pytest.param({"spec": {"paused": None}}, fs((F("spec"), F("paused"))), id="null-leaf"),
        pytest.param({"spec": {"selector": {"matchLabels": {"a": "b"}}}},
                     fs((F("spec"), F("selector"))), id="atomic-selector"),
        pytest.param({"spec": {"template": {"spec": {"containers": []}}}}, fs(),
                     id="empty-granular-list-sets-nothing"),
        pytest.param({"spec": {"template": {"spec": {"containers": [
            {"name": "a", "args": ["x", "y"]}]}}}},
            fs((F("spec"), F("template"), F("spec"), F("containers"), K({"name": "a"})),
               (F("spec"), F("template"), F("spec"), F("containers"), K({"name": "a"}),
                F("name")),
               (F("spec"), F("template"), F("spec"), F("containers"), K({"name": "a"}),
                F("args"))), id="atomic-args"),
    ],
)
def test_fieldset_of_cases(value: dict[str, Any], expected: FieldSet) -> None:
    assert fieldset_of(value, deployment_node()) == expected


def test_fieldset_of_duplicate_elements_owns_them_without_children() -> None:
    value = {"metadata": {"finalizers": ["a", "a"]},
             "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "1"},
                                                           {"name": "c", "image": "2"}]}}}}
    containers = (F("spec"), F("template"), F("spec"), F("containers"))
    assert fieldset_of(value, deployment_node()) == fs(
        (F("metadata"), F("finalizers"), V("a")), (*containers, K({"name": "c"})))


def test_fieldset_of_schemaless_object_is_deduced() -> None:
    value = {"apiVersion": "x/v1", "kind": "Thing", "spec": {"size": 1, "items": [1, 2],
                                                             "nested": {"a": True}}}
    assert fieldset_of(value, None).to_fields_v1() == {
        "f:apiVersion": {}, "f:kind": {},
        "f:spec": {".": {}, "f:items": {}, "f:nested": {".": {}, "f:a": {}}, "f:size": {}},
    }


def test_fieldset_of_custom_resource_schema() -> None:
    node = schema.SchemaNode.from_openapi({
        "type": "object",
        "properties": {"spec": {"type": "object", "properties": {
            "hosts": {"type": "array", "items": {"type": "string"},
                      "x-kubernetes-list-type": "set"},
            "routes": {"type": "array", "x-kubernetes-list-type": "map",
                       "x-kubernetes-list-map-keys": ["path"],
                       "items": {"type": "object", "properties": {
                           "path": {"type": "string"},
                           "port": {"type": "integer", "default": 80}}}},
            "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        }}},
    })
    value = {"spec": {"hosts": ["a"], "routes": [{"path": "/"}], "extra": {"k": {"v": 1}}}}
    assert fieldset_of(value, node).to_fields_v1() == {"f:spec": {
        "f:extra": {"f:k": {".": {}, "f:v": {}}},
        "f:hosts": {'v:"a"': {}},
        "f:routes": {'k:{"path":"/"}': {".": {}, "f:path": {}}},
    }}
