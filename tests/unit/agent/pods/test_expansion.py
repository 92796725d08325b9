"""``$(VAR)`` expansion: the cases upstream's expansion package is tested with."""

from __future__ import annotations

import pytest

from kubesmith.agent.pods.expansion import expand, mapping_for

CONTEXT = {"VAR_A": "A", "VAR_B": "B", "VAR_C": "C", "VAR_REF": "$(VAR_A)", "VAR_EMPTY": ""}

CASES = [
    ("whole string", "$(VAR_A)", "A"),
    ("repeat", "$(VAR_A)-$(VAR_A)", "A-A"),
    ("beginning", "$(VAR_A)-1", "A-1"),
    ("middle", "___$(VAR_B)___", "___B___"),
    ("end", "___$(VAR_C)", "___C"),
    ("compound", "$(VAR_A)_$(VAR_B)_$(VAR_C)", "A_B_C"),
    ("escape and expand", "$$(VAR_B)_$(VAR_A)", "$(VAR_B)_A"),
    ("compound escape", "$$(VAR_A)_$$(VAR_B)", "$(VAR_A)_$(VAR_B)"),
    ("mixed in escapes", "f000-$$VAR_A", "f000-$VAR_A"),
    ("backslash is not an escape", "foo\\$(VAR_C)bar", "foo\\Cbar"),
    ("two backslashes", "foo\\\\$(VAR_C)bar", "foo\\\\Cbar"),
    ("many backslashes", "foo\\\\\\\\$(VAR_A)bar", "foo\\\\\\\\Abar"),
    ("nested references", "$(VAR_A$(VAR_B))", "$(VAR_A$(VAR_B))"),
    ("nested, unbalanced", "$(VAR_A$(VAR_B)", "$(VAR_A$(VAR_B)"),
    ("value is a reference, not expanded again", "$(VAR_REF)", "$(VAR_A)"),
    ("reference twice", "%%$(VAR_REF)--$(VAR_REF)%%", "%%$(VAR_A)--$(VAR_A)%%"),
    ("empty value", "foo$(VAR_EMPTY)bar", "foobar"),
    ("unterminated", "foo$(VAR_Awhoops!", "foo$(VAR_Awhoops!"),
    ("no operator", "f00__(VAR_A)__", "f00__(VAR_A)__"),
    ("shell specials pass", "$?_boo_$!", "$?_boo_$!"),
    ("bare operator", "$VAR_A", "$VAR_A"),
    ("undefined passes", "$(VAR_DNE)", "$(VAR_DNE)"),
    ("even operators, undefined", "$$$$$$(BIG_MONEY)", "$$$(BIG_MONEY)"),
    ("even operators, defined", "$$$$$$(VAR_A)", "$$$(VAR_A)"),
    ("odd operators, undefined", "$$$$$$$(GOOD_ODDS)", "$$$$(GOOD_ODDS)"),
    ("odd operators, defined", "$$$$$$$(VAR_A)", "$$$A"),
    ("no opening", "$VAR_A)", "$VAR_A)"),
    ("shell braces ignored", "${VAR_A}", "${VAR_A}"),
    ("trailing incomplete kept", "$(VAR_B)_______$(A", "B_______$(A"),
    ("trailing empty incomplete kept", "$(VAR_C)_______$(", "C_______$("),
    ("operator at the end kept", "$(VAR_A)foobarzab$", "Afoobarzab$"),
    ("shell-escaped incomplete", "foo-\\$(VAR_A", "foo-\\$(VAR_A"),
    ("many $( in the middle", "--$($($($($--", "--$($($($($--"),
    ("many $( at the start", "$($($($($--foo$(", "$($($($($--foo$("),
    ("many $( at the end", "foo0--$($($($(", "foo0--$($($($("),
    ("escapes inside names kept", "$(foo$$var)", "$(foo$$var)"),
    ("newline", "\n", "\n"),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_expand_with_one_context(text: str, expected: str) -> None:
    assert expand(text, mapping_for(CONTEXT)) == expected


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_expand_with_two_contexts(text: str, expected: str) -> None:
    first = {"VAR_A": "A", "VAR_EMPTY": ""}
    second = {"VAR_B": "B", "VAR_C": "C", "VAR_REF": "$(VAR_A)"}
    assert expand(text, mapping_for(first, second)) == expected


def test_earlier_context_wins_and_later_values_are_seen() -> None:
    declared = {"FOO": "bar"}
    mapping = mapping_for(declared, {"FOO": "service"})
    declared["ZOO"] = expand("$(FOO)-1", mapping)
    declared["BLU"] = expand("$(ZOO)-2", mapping)
    assert declared == {"FOO": "bar", "ZOO": "bar-1", "BLU": "bar-1-2"}
