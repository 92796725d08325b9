"""Parsing the command-line forms of hollow-node labels and taints (kubectl's syntax)."""

from __future__ import annotations

from typing import Any

TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


def parse_label(text: str) -> tuple[str, str]:
    """``key=value`` (as ``kubectl label``)."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ValueError(f"label {text!r}: expected key=value")
    return key, value


def parse_taint(text: str) -> dict[str, Any]:
    """``key[=value]:Effect`` (as ``kubectl taint``) as a Node taint."""
    spec, sep, effect = text.rpartition(":")
    if not sep or not spec:
        raise ValueError(f"taint {text!r}: expected key[=value]:Effect")
    if effect not in TAINT_EFFECTS:
        raise ValueError(f"taint {text!r}: effect must be one of {', '.join(TAINT_EFFECTS)}")
    key, has_value, value = spec.partition("=")
    if not key:
        raise ValueError(f"taint {text!r}: empty key")
    taint: dict[str, Any] = {"key": key, "effect": effect}
    if has_value:
        taint["value"] = value
    return taint
