"""Go's text for decoded JSON values (``fmt``, ``strconv``, ``encoding/json``, json-iterator).

Expected strings are what the Go standard library prints for the same values (Go 1.22+,
where ``encoding/json`` writes ``\\b`` and ``\\f`` as short escapes).
"""

from __future__ import annotations

from typing import Any

import pytest

from kubesmith.api import gofmt
from kubesmith.api.errors import FieldError, invalid, required, too_many

NAN = float("nan")
INF = float("inf")


# -- %v ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(10.0, "10", id="integral-float"),
        pytest.param(0.1, "0.1", id="fraction"),
        pytest.param(1.5, "1.5", id="fraction-1.5"),
        pytest.param(1e6, "1e+06", id="million-uses-exponent"),
        pytest.param(123456.0, "123456", id="below-exponent-threshold"),
        pytest.param(123456789.0, "1.23456789e+08", id="large-integral-float"),
        pytest.param(0.0001, "0.0001", id="smallest-plain"),
        pytest.param(0.00001, "1e-05", id="small"),
        pytest.param(-2.5, "-2.5", id="negative"),
        pytest.param(-0.0, "-0", id="negative-zero"),
        pytest.param(1e21, "1e+21", id="huge"),
        pytest.param(5e-324, "5e-324", id="denormal"),
        pytest.param(NAN, "NaN", id="nan"),
        pytest.param(INF, "+Inf", id="inf"),
        pytest.param(-INF, "-Inf", id="minus-inf"),
        pytest.param(7, "7", id="int"),
        pytest.param(True, "true", id="bool"),
        pytest.param("a b", "a b", id="string-unquoted"),
        pytest.param(None, "<nil>", id="nil"),
        pytest.param([1, "x", 2.0], "[1 x 2]", id="list"),
        pytest.param({"b": 1, "a": [1, "x"]}, "map[a:[1 x] b:1]", id="map"),
        pytest.param({"a": 1e6}, "map[a:1e+06]", id="map-float"),
        pytest.param(gofmt.GoStruct(Z=1, A="x"), "{1 x}", id="struct"),
    ],
)
def test_format_v(value: Any, expected: str) -> None:
    assert gofmt.format_v(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(1e21, "1000000000000000000000", id="huge"),
        pytest.param(1e-7, "0.0000001", id="tiny"),
        pytest.param(2.5, "2.5", id="fraction"),
        pytest.param(3.0, "3", id="integral"),
        pytest.param(-0.0, "-0", id="negative-zero"),
    ],
)
def test_format_f(value: float, expected: str) -> None:
    assert gofmt.format_f(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("a", '"a"', id="string"),
        pytest.param(1.0, "1", id="float"),
        pytest.param(None, "interface {}(nil)", id="nil"),
        pytest.param(
            {"b": "x", "a": [1, None]},
            'map[string]interface {}{"a":[]interface {}{1, interface {}(nil)}, "b":"x"}',
            id="map"),
    ],
)
def test_format_sharp_v(value: Any, expected: str) -> None:
    assert gofmt.format_sharp_v(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(None, "<nil>", id="nil"),
        pytest.param(True, "bool", id="bool"),
        pytest.param(1, "int64", id="int"),
        pytest.param(1.0, "float64", id="float"),
        pytest.param("", "string", id="string"),
        pytest.param([], "[]interface {}", id="list"),
        pytest.param({}, "map[string]interface {}", id="map"),
    ],
)
def test_type_name(value: Any, expected: str) -> None:
    assert gofmt.type_name(value) == expected


# -- %q ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("plain", '"plain"', id="plain"),
        pytest.param('a"b\n\x01é', '"a\\"b\\n\\x01é"', id="crd-case"),
        pytest.param('a"é\t\x00', '"a\\"é\\t\\x00"', id="managedfields-case"),
        pytest.param("\\\a\b\f\v\r", '"\\\\\\a\\b\\f\\v\\r"', id="short-escapes"),
        pytest.param("\x7f", '"\\x7f"', id="delete"),
        pytest.param("\u00a0", '"\\u00a0"', id="no-break-space-not-printable"),
        pytest.param("\u2028", '"\\u2028"', id="line-separator"),
        pytest.param("日本\U0001f600", '"日本\U0001f600"', id="printable-unicode"),
        pytest.param("\U0010ffff", '"\\U0010ffff"', id="noncharacter"),
    ],
)
def test_quote(text: str, expected: str) -> None:
    assert gofmt.quote(text) == expected


# -- JSON ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param({"b": 1.0, "a": "<x>"}, '{"a":"\\u003cx\\u003e","b":1}', id="map-sorted"),
        pytest.param(gofmt.GoStruct(Z=1, A=None), '{"Z":1,"A":null}', id="struct-ordered"),
        pytest.param(1e21, "1e+21", id="huge-float"),
        pytest.param(1e20, "100000000000000000000", id="below-exponent-threshold"),
        pytest.param(1e-7, "1e-7", id="tiny-float"),
        pytest.param(1.5e-10, "1.5e-10", id="two-digit-negative-exponent"),
        pytest.param(1e-6, "0.000001", id="smallest-plain"),
        pytest.param(0.5, "0.5", id="fraction"),
        pytest.param(123456789.0, "123456789", id="large-integral-float"),
        pytest.param(-0.0, "-0", id="negative-zero"),
        pytest.param([True, None], "[true,null]", id="list"),
        pytest.param((1, "a"), '[1,"a"]', id="tuple-as-array"),
        pytest.param({2: "b", 10: "a"}, '{"10":"a","2":"b"}', id="int-keys-sorted-as-strings"),
        pytest.param(None, "null", id="null"),
        pytest.param("a\"b\\c\n\u2028<", '"a\\"b\\\\c\\n\\u2028\\u003c"', id="string"),
        pytest.param("&>\u2029\r\t", '"\\u0026\\u003e\\u2029\\r\\t"', id="html-and-separators"),
        pytest.param("\x01\x1f\x7f", '"\\u0001\\u001f\x7f"', id="control"),
        pytest.param("\b\f", '"\\b\\f"', id="go-1.22-short-escapes"),
    ],
)
def test_marshal(value: Any, expected: str) -> None:
    assert gofmt.marshal(value) == expected


def test_jsoniter_keeps_long_escapes_for_backspace_and_form_feed() -> None:
    # json-iterator (structured-merge-diff's FieldsV1 writer) predates Go 1.22's change.
    assert gofmt.marshal({"k": "\b\f<"}, jsoniter=True) == '{"k":"\\u0008\\u000c\\u003c"}'
    assert gofmt.json_string("\b", jsoniter=True) == '"\\u0008"'
    assert gofmt.json_string("\b") == '"\\b"'


@pytest.mark.parametrize("value", [NAN, INF, -INF, [1.0, NAN]])
def test_marshal_rejects_non_finite_floats(value: Any) -> None:
    # json.Marshal: "json: unsupported value: NaN" (an error, not text).
    with pytest.raises(ValueError, match="json: unsupported value"):
        gofmt.marshal(value)


@pytest.mark.parametrize("value", [object(), {1.5: "a"}, {"a": {1, 2}}])
def test_marshal_rejects_values_json_has_no_form_for(value: Any) -> None:
    with pytest.raises(TypeError, match="json: unsupported"):
        gofmt.marshal(value)


# -- field.Error.Error() -------------------------------------------------------------------


class _Stringer:
    def __str__(self) -> str:
        return "stringer"


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        pytest.param(invalid("a", "x\ty", "bad"), 'a: Invalid value: "x\\ty": bad',
                     id="string-quoted"),
        pytest.param(invalid("a", 1.0, "bad"), "a: Invalid value: 1: bad", id="float-v"),
        pytest.param(invalid("a", 1e6, ""), "a: Invalid value: 1e+06", id="float-exponent"),
        pytest.param(invalid("a", True, "bad"), "a: Invalid value: true: bad", id="bool"),
        pytest.param(invalid("a", None, "bad"), "a: Invalid value: null: bad", id="nil-json"),
        pytest.param(invalid("a", [1.0, "<"], "bad"), 'a: Invalid value: [1,"\\u003c"]: bad',
                     id="list-json"),
        pytest.param(invalid("a", {"z": 1, "b": None}, ""),
                     'a: Invalid value: {"b":null,"z":1}', id="map-json-sorted"),
        pytest.param(invalid("a", gofmt.GoStruct(Name="x", Served=True), "bad"),
                     'a: Invalid value: {"Name":"x","Served":true}: bad', id="struct-json"),
        pytest.param(invalid("a", _Stringer(), "bad"), "a: Invalid value: stringer: bad",
                     id="stringer-fallback"),
        pytest.param(required("a", "must be set"), "a: Required value: must be set",
                     id="required"),
        pytest.param(FieldError("FieldValueRequired", "a", "", "x", True), "a: Required value",
                     id="required-never-shows-value"),
        pytest.param(FieldError("FieldValueTooShort", "a", "too short", "x", True),
                     "a: Too short: too short", id="too-short-never-shows-value"),
        pytest.param(too_many("a", 5, 3), "a: Too many: 5: must have at most 3 items",
                     id="too-many"),
        pytest.param(too_many("a", -1, 1), "a: Too many: must have at most 1 item",
                     id="too-many-omitted"),
        pytest.param(FieldError("FieldValueTooFew", "a", "must have at least 2 items", 1, True),
                     "a: Too few: 1: must have at least 2 items", id="too-few"),
        pytest.param(FieldError("Bogus", "a", "detail", 1, True),
                     "a: Internal error: unhandled error code: Bogus: please report this: detail",
                     id="unknown-type"),
    ],
)
def test_field_error_message(error: FieldError, expected: str) -> None:
    assert error.message() == expected
