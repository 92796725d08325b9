"""resource.Quantity parsing, canonical formatting and arithmetic (upstream behaviour)."""

from __future__ import annotations

import pytest

from kubesmith.api.validation.quantity import QuantityError, canonical, parse_quantity

# (input, canonical form): upstream's String() after a round trip through the API server.
CANONICAL = [
    ("100m", "100m"),
    ("0.5", "500m"),
    (".5", "500m"),
    ("0.1", "100m"),
    ("1.0", "1"),
    ("2000m", "2"),
    ("1.5Gi", "1536Mi"),
    ("1024Mi", "1Gi"),
    ("1000Ki", "1000Ki"),
    ("1Ki", "1Ki"),
    ("500k", "500k"),
    ("1e3", "1e3"),
    ("1.5e3", "1500"),
    ("12e-3", "12e-3"),
    ("+1", "1"),
    ("01", "1"),
    ("-1", "-1"),
    ("0", "0"),
    ("e3", "0"),  # an empty numerator counts as zero upstream
    ("Gi", "0"),
    ("1000E", "1"),  # 10^21 has no SI suffix and upstream prints none at all
]


@pytest.mark.parametrize(("text", "expected"), CANONICAL, ids=[c[0] for c in CANONICAL])
def test_canonical_form(text: str, expected: str) -> None:
    assert canonical(parse_quantity(text)) == expected


@pytest.mark.parametrize("text", ["", "abc", "1.5.5", "1 Gi", "1x", "--1", "1Gb"])
def test_malformed_quantities_are_rejected(text: str) -> None:
    with pytest.raises(QuantityError):
        parse_quantity(text)


def test_integers_and_floats_from_json_parse_like_their_text() -> None:
    assert canonical(parse_quantity(2)) == "2"
    assert canonical(parse_quantity(0.25)) == "250m"


@pytest.mark.parametrize(("small", "large"), [("100m", "0.2"), ("64Mi", "1Gi"), ("999", "1k"),
                                              ("1Gi", "1.1G"), ("-1", "0")])
def test_ordering_compares_values_not_text(small: str, large: str) -> None:
    a, b = parse_quantity(small), parse_quantity(large)
    assert a < b
    assert b > a
    assert (a.cmp(b), b.cmp(a)) == (-1, 1)


def test_equal_values_in_different_units_compare_equal() -> None:
    assert parse_quantity("1Gi") == parse_quantity("1024Mi")
    assert parse_quantity("1").cmp(parse_quantity("1000m")) == 0


def test_arithmetic_and_scaled_values() -> None:
    total = parse_quantity("250m").add(parse_quantity("1.5"))
    assert total.milli_value() == 1750
    assert total.value() == 2  # Value() rounds up
    assert parse_quantity("1Gi").sub(parse_quantity("512Mi")) == parse_quantity("512Mi")
    assert parse_quantity("1.5Gi").scaled_value(6) == 1611  # ceil(1610612736 / 10^6)
    assert parse_quantity("0").is_zero()
    assert parse_quantity("-5m").sign() == -1


def test_round_up_to_a_scale() -> None:
    assert canonical(parse_quantity("1.0001").round_up(-3)) == "1001m"
