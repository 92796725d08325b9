"""Data-driven validation tests: ``cases/*.yaml``.

Each file names a kind, a valid ``base`` object and cases that modify it with ``set``
(``{path: value}``) and ``delete`` (``[path]``); update cases derive ``old`` from the base with
``old_set``/``old_delete``. Paths read like upstream's field paths:
``spec.containers[0].image``, ``metadata.labels[app.kubernetes.io/name]``. Objects are
defaulted first (as the API server does) unless a case says ``defaults: false``. Expected
errors are compared in order by type and field, and by detail where the case gives one.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubesmith.api.defaults import apply_defaults
from kubesmith.api.defaults.workloads import generate_job_selector
from kubesmith.api.errors import FieldError, invalid_object
from kubesmith.api.validation import generic_validator, validated_kinds, validator_for

CASES_DIR = Path(__file__).parent / "cases"
_TOKEN = re.compile(r"([^.\[\]]+)|\[([^\]]*)\]")


def _tokens(path: str) -> list[str | int]:
    tokens: list[str | int] = []
    for name, bracket in _TOKEN.findall(path):
        if name:
            tokens.append(name)
        else:
            tokens.append(int(bracket) if bracket.isdigit() else bracket)
    return tokens


def _walk(obj: Any, tokens: list[str | int]) -> Any:
    for i, token in enumerate(tokens):
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        if isinstance(token, int):
            obj = obj[token]
            continue
        if token not in obj or obj[token] is None:
            obj[token] = [] if isinstance(nxt, int) else {}
        obj = obj[token]
    return obj


def _set(obj: dict[str, Any], path: str, value: Any) -> None:
    tokens = _tokens(path)
    parent = _walk(obj, tokens[:-1])
    last = tokens[-1]
    if isinstance(last, int) and isinstance(parent, list) and last == len(parent):
        parent.append(copy.deepcopy(value))
    else:
        parent[last] = copy.deepcopy(value)


def _delete(obj: dict[str, Any], path: str) -> None:
    tokens = _tokens(path)
    parent = _walk(obj, tokens[:-1])
    del parent[tokens[-1]]


def _build(base: dict[str, Any], sets: dict[str, Any] | None,
           deletes: list[str] | None) -> dict[str, Any]:
    obj = copy.deepcopy(base)
    for path in deletes or []:
        _delete(obj, path)
    for path, value in (sets or {}).items():
        _set(obj, path, value)
    return obj


def _load() -> list[Any]:
    params = []
    for path in sorted(CASES_DIR.glob("*.yaml")):
        spec = yaml.safe_load(path.read_text())
        for case in spec["cases"]:
            params.append(pytest.param(spec, case, id=f"{path.stem}: {case['name']}"))
    return params


CASES = _load()


def _prepare(spec: dict[str, Any], case: dict[str, Any], obj: dict[str, Any]) -> None:
    if case.get("defaults", True):
        apply_defaults(spec.get("group", ""), spec.get("version", "v1"), spec["kind"], obj)
    if spec.get("prepare") == "job_selector" and case.get("prepare", True):
        generate_job_selector(obj)


def _errors(spec: dict[str, Any], case: dict[str, Any]) -> list[FieldError]:
    validator = validator_for(spec.get("group", ""), spec["kind"], **spec.get("options", {}))
    assert validator is not None
    new = _build(spec["base"], case.get("set"), case.get("delete"))
    op = case.get("op", "create")
    if op == "create":
        _prepare(spec, case, new)
        return validator.validate(new)
    old = _build(spec["base"], case.get("old_set"), case.get("old_delete"))
    for obj in (new, old):
        obj.setdefault("metadata", {}).setdefault("resourceVersion", "1")
        _prepare(spec, case, obj)
    if op == "update":
        return validator.validate_update(new, old)
    return validator.validate_status_update(new, old)


@pytest.mark.parametrize(("spec", "case"), CASES)
def test_validation_case(spec: dict[str, Any], case: dict[str, Any]) -> None:
    errors = _errors(spec, case)
    got = [(e.type, e.field) for e in errors]
    want = [(e["type"], e["field"]) for e in case.get("errors", [])]
    assert got == want, "\n".join(e.message() for e in errors)
    for error, expected in zip(errors, case.get("errors", []), strict=True):
        if "detail" in expected:
            assert error.detail == expected["detail"]
        if "message" in expected:
            assert error.message() == expected["message"]


def test_every_validated_kind_has_cases() -> None:
    covered = {(spec.get("group", ""), spec["kind"]) for spec, _ in (c.values for c in CASES)}
    assert [kind for kind in validated_kinds() if kind not in covered] == []


def test_status_message_reads_like_kubectl() -> None:
    """The 422 message the API layer builds from our errors, end to end."""
    validator = validator_for("", "Pod")
    assert validator is not None
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "Web", "namespace": "default"},
           "spec": {"containers": [{"name": "web", "image": "nginx"}]}}
    apply_defaults("", "v1", "Pod", pod)
    status = invalid_object("Pod", "Web", validator.validate(pod)).to_status()
    assert status["code"] == 422
    assert status["message"] == (
        'Pod "Web" is invalid: metadata.name: Invalid value: "Web": a lowercase RFC 1123 '
        "subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
        "start and end with an alphanumeric character (e.g. 'example.com', regex used for "
        "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")


def test_generic_validator_checks_metadata_with_path_segment_names() -> None:
    validator = generic_validator("example.com", "Widget", namespaced=False)
    errors = validator.validate({"metadata": {"name": "a/b", "namespace": "x"}})
    assert [(e.type, e.field, e.detail) for e in errors] == [
        ("FieldValueInvalid", "metadata.name", "may not contain '/'"),
        ("FieldValueForbidden", "metadata.namespace", "not allowed on this type"),
    ]


def test_validators_never_raise_on_garbage() -> None:
    garbage: list[Any] = [None, 1, "x", [], {"spec": "x"}, {"metadata": [], "spec": {"a": 1}},
                          {"spec": {"containers": [1, None, "x"], "volumes": {"a": 1}}}]
    for group, kind in validated_kinds():
        validator = validator_for(group, kind)
        assert validator is not None
        for value in garbage:
            validator.validate(value if isinstance(value, dict) else {"value": value})
            validator.validate_update({"spec": value}, {"spec": 1})
            validator.validate_status_update({"status": value}, {})
