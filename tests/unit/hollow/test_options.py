"""Command-line label and taint syntax for hollow nodes."""

from __future__ import annotations

from typing import Any

import pytest

from kubesmith.hollow.options import parse_label, parse_taint


@pytest.mark.parametrize(("text", "expected"), [
    ("zone=a", ("zone", "a")),
    ("topology.kubernetes.io/zone=eu-1", ("topology.kubernetes.io/zone", "eu-1")),
    ("empty=", ("empty", "")),
])
def test_labels(text: str, expected: tuple[str, str]) -> None:
    assert parse_label(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("dedicated=gpu:NoSchedule", {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}),
    ("node.kubernetes.io/slow:PreferNoSchedule",
     {"key": "node.kubernetes.io/slow", "effect": "PreferNoSchedule"}),
    ("k=:NoExecute", {"key": "k", "value": "", "effect": "NoExecute"}),
])
def test_taints(text: str, expected: dict[str, Any]) -> None:
    assert parse_taint(text) == expected


@pytest.mark.parametrize("text", ["novalue", "=x"])
def test_bad_labels(text: str) -> None:
    with pytest.raises(ValueError, match="label"):
        parse_label(text)


@pytest.mark.parametrize("text", ["key=value", "key:Sometimes", ":NoSchedule", "=v:NoSchedule"])
def test_bad_taints(text: str) -> None:
    with pytest.raises(ValueError, match="taint"):
        parse_taint(text)
