"""Go formatting, equality and regexp rules the CRD messages depend on."""

from __future__ import annotations

from typing import Any

import pytest

from kubesmith.api.crd import _go
from kubesmith.api.crd._regex import GoRegexError, UnsupportedRegex, compile_go


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(10.0, "10", id="integral-float"),
        pytest.param(0.1, "0.1", id="fraction"),
        pytest.param(1e6, "1e+06", id="million-uses-exponent"),
        pytest.param(123456.0, "123456", id="below-exponent-threshold"),
        pytest.param(0.00001, "1e-05", id="small"),
        pytest.param(-2.5, "-2.5", id="negative"),
        pytest.param(7, "7", id="int"),
        pytest.param(True, "true", id="bool"),
        pytest.param({"b": 1, "a": [1, "x"]}, "map[a:[1 x] b:1]", id="map"),
    ],
)
def test_format_v(value: Any, expected: str) -> None:
    assert _go.format_v(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param({"b": 1.0, "a": "<x>"}, '{"a":"\\u003cx\\u003e","b":1}', id="map-sorted"),
        pytest.param(_go.GoStruct(Z=1, A=None), '{"Z":1,"A":null}', id="struct-ordered"),
        pytest.param(1e21, "1e+21", id="large-float"),
        pytest.param(1e-7, "1e-7", id="tiny-float"),
        pytest.param([True, None], "[true,null]", id="list"),
    ],
)
def test_marshal(value: Any, expected: str) -> None:
    assert _go.marshal(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(3.0, True, id="integral"),
        pytest.param(3.0000000000000004, True, id="relative-tolerance"),
        pytest.param(0.3 / 0.1, False, id="just-below-an-integer"),
        pytest.param(2.5, False, id="fraction"),
        pytest.param(-2.5, False, id="negative-fraction"),
        pytest.param(2.0**60, False, id="beyond-2-pow-53"),
    ],
)
def test_is_json_integer(value: float, expected: bool) -> None:
    assert _go.is_json_integer(value) is expected


def test_deep_equal_keeps_go_number_types() -> None:
    assert _go.deep_equal({"a": [1]}, {"a": [1]})
    assert not _go.deep_equal(1, 1.0)
    assert not _go.deep_equal(True, 1)


def test_quote() -> None:
    assert _go.quote('a"b\n\x01é') == '"a\\"b\\n\\x01é"'


@pytest.mark.parametrize(
    ("pattern", "text", "matches"),
    [
        pytest.param("^abc$", "abc\n", False, id="dollar-is-end-of-text"),
        pytest.param("abc", "xxabcxx", True, id="search-not-fullmatch"),
        pytest.param(r"^\d+$", "١٢", False, id="digits-are-ascii"),
        pytest.param(r"^\pL+$", "héllo", True, id="unicode-letters"),
        pytest.param("^[[:alpha:]]+$", "abc", True, id="posix-class"),
        pytest.param(r"^\Qa.b\E$", "a.b", True, id="quoted-literal"),
        pytest.param("^(?<word>a+)$", "aa", True, id="named-group"),
        pytest.param(r"^a\z", "a", True, id="end-of-text-escape"),
    ],
)
def test_go_regexp_semantics(pattern: str, text: str, matches: bool) -> None:
    assert (compile_go(pattern).search(text) is not None) is matches


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        pytest.param("(abc", "error parsing regexp: missing closing ): `(abc`", id="paren"),
        pytest.param("+", "error parsing regexp: missing argument to repetition operator: `+`",
                     id="repetition"),
        pytest.param("a(?=b)", "error parsing regexp: invalid or unsupported Perl syntax: `(?=`",
                     id="lookahead"),
        pytest.param(r"(a)\1", "error parsing regexp: invalid escape sequence: `\\1`",
                     id="backreference"),
        pytest.param("[a-", "error parsing regexp: missing closing ]: `[a-`", id="bracket"),
    ],
)
def test_go_regexp_errors(pattern: str, message: str) -> None:
    with pytest.raises(GoRegexError) as error:
        compile_go(pattern)
    assert str(error.value) == message


def test_unexpressible_patterns_are_flagged() -> None:
    with pytest.raises(UnsupportedRegex):
        compile_go(r"\p{Greek}")
