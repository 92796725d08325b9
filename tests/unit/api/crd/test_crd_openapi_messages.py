"""Custom resource value validation against upstream's exact error texts.

Each case is a schema, an object and the set of ``field.Error.Error()`` strings kube-apiserver
produces for it (the expectations of ``pkg/apiserver/validation``'s tests, plus kube-openapi
message shapes): the ``<nil>`` root path of composite errors, ``in body`` wording, the
``Checked value`` range errors and enum/type pairs are all part of what kubectl prints.
"""

from __future__ import annotations

from typing import Any

import pytest

from kubesmith.api.crd import validate


def obj_schema(**fields: Any) -> dict[str, Any]:
    return {"type": "object", "properties": fields}


NULLABLE_INT_OR_STRING_ANY_OF = obj_schema(field={
    "nullable": True, "x-kubernetes-int-or-string": True,
    "anyOf": [{"type": "integer"}, {"type": "string"}]})
NULLABLE_INT_OR_STRING_ALL_OF = obj_schema(field={
    "nullable": True, "x-kubernetes-int-or-string": True,
    "allOf": [{"anyOf": [{"type": "integer"}, {"type": "string"}]}]})
ENUMS = obj_schema(field={
    "type": "object", "required": ["nestedint", "nestedstring"],
    "properties": {"nestedint": {"type": "integer", "enum": [1, 2]},
                   "nestedstring": {"type": "string", "enum": ["a", "b"]}}})
NUMERIC_FORMATS = obj_schema(
    intThirtyTwo={"type": "integer", "format": "int32"},
    intSixtyFour={"type": "integer", "format": "int64"},
    floatThreeTwo={"type": "number", "format": "float"},
    floatSixFour={"type": "number", "format": "double"})
ANY_OF = '<nil>: Invalid value: "": "field" must validate at least one schema (anyOf)'
ALL_OF = '<nil>: Invalid value: "": "field" must validate all the schemas (allOf). None validated'

CASES = [
    pytest.param(obj_schema(field={"type": "object"}), {"field": "foo"},
                 {'field: Invalid value: "string": field in body must be of type object: '
                  '"string"'}, id="object-got-string"),
    pytest.param(obj_schema(field={"type": "object"}), {"field": 1.2},
                 {'field: Invalid value: "number": field in body must be of type object: '
                  '"number"'}, id="object-got-number"),
    pytest.param(obj_schema(field={"type": "object"}), {"field": None},
                 {'field: Invalid value: "null": field in body must be of type object: "null"'},
                 id="not-nullable-null"),
    pytest.param(obj_schema(field={"type": "object", "nullable": True}), {"field": None},
                 set(), id="nullable-null"),
    pytest.param(obj_schema(field={"x-kubernetes-int-or-string": True}), {"field": None},
                 {'field: Invalid value: "null": field in body must be of type integer,string: '
                  '"null"'}, id="int-or-string-null"),
    pytest.param(obj_schema(field={"x-kubernetes-int-or-string": True}), {"field": 1.2},
                 {'field: Invalid value: "number": field in body must be of type integer,string: '
                  '"number"'}, id="int-or-string-float"),
    pytest.param(NULLABLE_INT_OR_STRING_ANY_OF, {"field": True},
                 {ANY_OF,
                  'field: Invalid value: "boolean": field in body must be of type integer,string: '
                  '"boolean"',
                  'field: Invalid value: "boolean": field in body must be of type integer: '
                  '"boolean"'}, id="any-of-best-branch-boolean"),
    pytest.param(NULLABLE_INT_OR_STRING_ANY_OF, {"field": 1.2},
                 {ANY_OF,
                  'field: Invalid value: "number": field in body must be of type integer,string: '
                  '"number"',
                  'field: Invalid value: "number": field in body must be of type integer: '
                  '"number"',
                  '<nil>: Invalid value: "": Checked value must be of type integer (default '
                  'format) in field'}, id="any-of-best-branch-number"),
    pytest.param(NULLABLE_INT_OR_STRING_ANY_OF, {"field": []},
                 {ANY_OF,
                  'field: Invalid value: "array": field in body must be of type integer,string: '
                  '"array"',
                  'field: Invalid value: "array": field in body must be of type integer: '
                  '"array"'}, id="any-of-best-branch-array"),
    pytest.param(NULLABLE_INT_OR_STRING_ANY_OF, {"field": 42}, set(), id="any-of-passes"),
    pytest.param(NULLABLE_INT_OR_STRING_ALL_OF, {"field": {}},
                 {ALL_OF, ANY_OF,
                  'field: Invalid value: "object": field in body must be of type integer,string: '
                  '"object"',
                  'field: Invalid value: "object": field in body must be of type integer: '
                  '"object"'}, id="all-of-any-of-object"),
    pytest.param(obj_schema(field={"type": "string", "pattern": "+"}), {"field": "foo"},
                 {"field: Invalid value: \"foo\": field in body should match '+, but pattern is "
                  "invalid: error parsing regexp: missing argument to repetition operator: "
                  "`+`'"}, id="invalid-regex"),
    pytest.param({"type": "object", "required": ["field"],
                  "properties": {"field": {"type": "object", "required": ["nested"],
                                           "properties": {"nested": {}}}}},
                 {"test": "a"}, {"field: Required value"}, id="required-top-level"),
    pytest.param({"type": "object", "required": ["field"],
                  "properties": {"field": {"type": "object", "required": ["nested"],
                                           "properties": {"nested": {}}}}},
                 {"field": {}}, {"field.nested: Required value"}, id="required-nested"),
    pytest.param(ENUMS, {"field": {}},
                 {"field.nestedint: Required value", "field.nestedstring: Required value"},
                 id="enum-required"),
    pytest.param(ENUMS, {"field": {"nestedint": "x", "nestedstring": True}},
                 {'field.nestedint: Invalid value: "string": field.nestedint in body must be of '
                  'type integer: "string"',
                  'field.nestedint: Unsupported value: "x": supported values: "1", "2"',
                  'field.nestedstring: Invalid value: "boolean": field.nestedstring in body must '
                  'be of type string: "boolean"',
                  'field.nestedstring: Unsupported value: true: supported values: "a", "b"'},
                 id="enum-and-type"),
    pytest.param(obj_schema(fieldX={"type": "object", "maxProperties": 2}),
                 {"fieldX": {"a": True, "b": True, "c": True}},
                 {"fieldX: Too many: 3: must have at most 2 items"}, id="max-properties"),
    pytest.param(obj_schema(fieldX={"type": "array", "maxItems": 2}),
                 {"fieldX": ["a", "b", "c"]},
                 {"fieldX: Too many: 3: must have at most 2 items"}, id="max-items"),
    pytest.param(obj_schema(fieldX={"type": "string", "maxLength": 2}), {"fieldX": "abc"},
                 {"fieldX: Too long: may not be more than 2 bytes"}, id="max-length"),
    pytest.param(obj_schema(fieldX={"type": "string", "format": "k8s-long-name"}),
                 {"fieldX": "a.-"},
                 {'fieldX: Invalid value: "a.-": fieldX in body must be of type k8s-long-name: '
                  '"a.-"'}, id="format-k8s-long-name"),
    pytest.param(obj_schema(fieldX={"type": "string", "format": "k8s-short-name"}),
                 {"fieldX": "a-"},
                 {'fieldX: Invalid value: "a-": fieldX in body must be of type k8s-short-name: '
                  '"a-"'}, id="format-k8s-short-name"),
    pytest.param(NUMERIC_FORMATS,
                 {"intThirtyTwo": -(2**31), "intSixtyFour": -(2**63),
                  "floatThreeTwo": -3.4028234663852886e38, "floatSixFour": -1.7976931348623157e308},
                 set(), id="numeric-formats-lowest"),
    pytest.param(NUMERIC_FORMATS,
                 {"intThirtyTwo": 2**31 - 1, "intSixtyFour": 2**63 - 1,
                  "floatThreeTwo": 3.4028234663852886e38, "floatSixFour": 1.7976931348623157e308},
                 set(), id="numeric-formats-highest"),
    pytest.param(NUMERIC_FORMATS, {"intThirtyTwo": 2**31},
                 {'<nil>: Invalid value: "": Checked value must be of type integer with format '
                  'int32 in intThirtyTwo'}, id="int32-overflow"),
    pytest.param(NUMERIC_FORMATS, {"intSixtyFour": float(2**63 - 1) * 1.1},
                 {'intSixtyFour: Invalid value: "float64": intSixtyFour in body must be of type '
                  'int64: "float64"',
                  '<nil>: Invalid value: "": Checked value must be of type integer with format '
                  'int64 in intSixtyFour'}, id="int64-overflow-float"),
    pytest.param(NUMERIC_FORMATS, {"floatThreeTwo": 3.4028234663852886e38 * 1.1},
                 {'<nil>: Invalid value: "": Checked value must be of type number with format '
                  'float in floatThreeTwo'}, id="float32-overflow"),
]


@pytest.mark.parametrize(("schema", "obj", "expected"), CASES)
def test_validation_messages_match_upstream(schema: dict[str, Any], obj: Any,
                                            expected: set[str]) -> None:
    assert {e.message() for e in validate(obj, schema)} == expected


BOUNDS = obj_schema(
    replicas={"type": "integer", "minimum": 1, "maximum": 10},
    ratio={"type": "number", "exclusiveMinimum": True, "minimum": 0, "exclusiveMaximum": True,
           "maximum": 1},
    step={"type": "number", "multipleOf": 0.1},
    count={"type": "integer", "multipleOf": 5},
    name={"type": "string", "minLength": 3, "pattern": "^[a-z]+$"},
    tags={"type": "array", "minItems": 1, "items": {"type": "string"}},
    labels={"type": "object", "minProperties": 1, "additionalProperties": {"type": "string"}},
    closed={"type": "object", "additionalProperties": False},
)


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        pytest.param({"replicas": 0},
                     {"replicas: Invalid value: 0: replicas in body should be greater than or "
                      "equal to 1"}, id="minimum"),
        pytest.param({"replicas": 11},
                     {"replicas: Invalid value: 11: replicas in body should be less than or "
                      "equal to 10"}, id="maximum"),
        pytest.param({"ratio": 1.0},
                     {"ratio: Invalid value: 1: ratio in body should be less than 1"},
                     id="exclusive-maximum"),
        pytest.param({"ratio": 0},
                     {"ratio: Invalid value: 0: ratio in body should be greater than 0"},
                     id="exclusive-minimum-integer-data"),
        pytest.param({"step": 0.3}, set(), id="multiple-of-float-tolerance"),
        pytest.param({"step": 0.25},
                     {"step: Invalid value: 0.25: step in body should be a multiple of 0.1"},
                     id="multiple-of-float"),
        pytest.param({"count": 7},
                     {"count: Invalid value: 7: count in body should be a multiple of 5"},
                     id="multiple-of-integer"),
        pytest.param({"name": "ab"},
                     {'name: Invalid value: "ab": name in body should be at least 3 chars long'},
                     id="min-length-first-failure-only"),
        pytest.param({"name": "abc1"},
                     {"name: Invalid value: \"abc1\": name in body should match '^[a-z]+$'"},
                     id="pattern"),
        pytest.param({"name": "abc\n"},
                     {"name: Invalid value: \"abc\\n\": name in body should match '^[a-z]+$'"},
                     id="pattern-dollar-is-end-of-text"),
        pytest.param({"tags": []},
                     {"tags: Invalid value: 0: tags in body should have at least 1 items"},
                     id="min-items"),
        pytest.param({"labels": {}},
                     {"labels: Invalid value: 0: labels in body should have at least 1 "
                      "properties"}, id="min-properties"),
        pytest.param({"labels": {"a": 1}},
                     {'labels.a: Invalid value: "integer": labels.a in body must be of type '
                      'string: "integer"'}, id="additional-properties-schema"),
        pytest.param({"closed": {"x": 1}},
                     {'closed: Invalid value: "x": closed.x in body is a forbidden property'},
                     id="additional-properties-false"),
    ],
)
def test_value_validations(obj: dict[str, Any], expected: set[str]) -> None:
    assert {e.message() for e in validate(obj, BOUNDS)} == expected


ONE_OF = obj_schema(value={"type": "object", "oneOf": [{"required": ["a"]}, {"required": ["b"]}],
                           "properties": {"a": {"type": "string"}, "b": {"type": "string"}}})


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        pytest.param({"value": {"a": "x"}}, set(), id="exactly-one"),
        pytest.param({"value": {"a": "x", "b": "y"}},
                     {'<nil>: Invalid value: "": "value" must validate one and only one schema '
                      '(oneOf). Found 2 valid alternatives'}, id="two-valid"),
        pytest.param({"value": {}},
                     {'<nil>: Invalid value: "": "value" must validate one and only one schema '
                      '(oneOf). Found none valid', "value.a: Required value"}, id="none-valid"),
    ],
)
def test_one_of(obj: dict[str, Any], expected: set[str]) -> None:
    assert {e.message() for e in validate(obj, ONE_OF)} == expected


def test_not() -> None:
    schema = obj_schema(value={"type": "string", "not": {"enum": ["forbidden"]}})
    assert [e.message() for e in validate({"value": "forbidden"}, schema)] == [
        '<nil>: Invalid value: "": "value" must not validate the schema (not)']
    assert validate({"value": "fine"}, schema) == []


@pytest.mark.parametrize(
    ("fmt", "good", "bad"),
    [
        pytest.param("date-time", "2024-02-29T10:20:30Z", "2023-02-29T10:20:30Z", id="date-time"),
        pytest.param("date", "2024-01-31", "2024-01-32", id="date"),
        pytest.param("byte", "aGVsbG8=", "hello!", id="byte"),
        pytest.param("uuid", "123e4567-e89b-12d3-a456-426614174000", "123e4567", id="uuid"),
        pytest.param("ipv4", "10.0.0.1", "10.0.0.256", id="ipv4"),
        pytest.param("cidr", "10.0.0.0/8", "10.0.0.0/33", id="cidr"),
        pytest.param("duration", "1h30m", "soon", id="duration"),
        pytest.param("hostname", "example.com", "-bad-", id="hostname"),
    ],
)
def test_string_formats(fmt: str, good: str, bad: str) -> None:
    schema = obj_schema(value={"type": "string", "format": fmt})
    assert validate({"value": good}, schema) == []
    assert [e.message() for e in validate({"value": bad}, schema)] == [
        f'value: Invalid value: "{bad}": value in body must be of type {fmt}: "{bad}"']


def test_unknown_formats_are_ignored() -> None:
    schema = obj_schema(a={"type": "string", "format": "made-up"},
                        b={"type": "boolean", "format": "date"},
                        c={"type": "integer", "format": "uint8"})
    assert validate({"a": "x", "b": True, "c": 1000}, schema) == []


def test_status_subresource_paths_are_rooted_at_status() -> None:
    status_schema = {"type": "object", "properties": {"replicas": {"type": "integer"}},
                     "required": ["replicas"]}
    errors = validate({"replicas": "two"}, status_schema, path="status")
    assert [e.message() for e in errors] == [
        'status.replicas: Invalid value: "string": replicas in body must be of type integer: '
        '"string"']
    assert [e.message() for e in validate({}, status_schema, path="status")] == [
        "status.replicas: Required value"]
