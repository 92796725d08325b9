"""Go equality, number and regexp rules the CRD validation depends on.

Go's text formatting is tested in ``tests/unit/api/test_gofmt.py``.
"""

from __future__ import annotations

import pytest

from kubesmith.api.crd import _go
from kubesmith.api.crd._regex import GoRegexError, UnsupportedRegex, compile_go


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
