"""RFC 7386 JSON merge patch, including evanphx/json-patch's corners that kube uses."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kubesmith.api.errors import StatusError
from kubesmith.api.patch import apply_merge_patch

# RFC 7386 appendix A, except the rows whose patch is a scalar or null (see below).
RFC_7386_EXAMPLES = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("original", "patch", "expected"), RFC_7386_EXAMPLES,
                         ids=[f"rfc7386-{i}" for i in range(len(RFC_7386_EXAMPLES))])
def test_rfc_7386_examples(original: Any, patch: Any, expected: Any) -> None:
    before = copy.deepcopy(original)
    patch_before = copy.deepcopy(patch)
    assert apply_merge_patch(original, patch) == expected
    assert original == before
    assert patch == patch_before


@pytest.mark.parametrize(
    ("original", "patch", "expected"),
    [
        pytest.param({"metadata": {"labels": {"a": "1", "b": "2"}}},
                     {"metadata": {"labels": {"a": None, "c": "3"}}},
                     {"metadata": {"labels": {"b": "2", "c": "3"}}}, id="labels"),
        pytest.param({"spec": {"containers": [{"name": "a", "image": "x"}]}},
                     {"spec": {"containers": [{"name": "b"}]}},
                     {"spec": {"containers": [{"name": "b"}]}}, id="lists-replace"),
        pytest.param({}, {"spec": {"list": [1, None, {"a": None, "b": 1}]}},
                     {"spec": {"list": [1, {"b": 1}]}}, id="new-values-lose-nulls"),
        pytest.param({"spec": {"x": {"old": 1}}}, {"spec": {"x": [1, None]}},
                     {"spec": {"x": [1, None]}}, id="object-replaced-by-array-kept-verbatim"),
        pytest.param({"spec": {"x": None}}, {"spec": {"x": {"a": None, "b": 2}}},
                     {"spec": {"x": {"b": 2}}}, id="merge-into-null"),
        pytest.param({"a": 1}, {"$patch": "delete"}, {"a": 1, "$patch": "delete"},
                     id="no-directives"),
        pytest.param({"a": 1}, {}, {"a": 1}, id="empty-patch"),
    ],
)
def test_kubernetes_shapes(original: Any, patch: Any, expected: Any) -> None:
    assert apply_merge_patch(original, patch) == expected


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        pytest.param(None, "Invalid JSON Patch", id="null"),
        pytest.param("bar", "Invalid JSON Patch", id="string"),
        pytest.param(5, "Invalid JSON Patch", id="number"),
        pytest.param(True, "Invalid JSON Patch", id="bool"),
    ],
)
def test_bad_patches(patch: Any, message: str) -> None:
    with pytest.raises(StatusError) as caught:
        apply_merge_patch({"a": 1}, patch)
    assert (caught.value.code, caught.value.reason, caught.value.message) == \
        (400, "BadRequest", message)


def test_result_shares_nothing_with_inputs() -> None:
    original = {"spec": {"keep": {"deep": [1]}, "change": {"a": 1}}}
    patch = {"spec": {"change": {"b": {"c": 1}}}}
    result = apply_merge_patch(original, patch)
    result["spec"]["keep"]["deep"].append(2)
    result["spec"]["change"]["b"]["c"] = 2
    assert original == {"spec": {"keep": {"deep": [1]}, "change": {"a": 1}}}
    assert patch == {"spec": {"change": {"b": {"c": 1}}}}
