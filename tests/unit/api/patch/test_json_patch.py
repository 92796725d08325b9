"""RFC 6902 JSON patch with kube-apiserver's status codes."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kubesmith.api.errors import StatusError
from kubesmith.api.patch import MAX_OPERATIONS, apply_json_patch, json_patch_unknown_fields

CONFIGMAP: dict[str, Any] = {
    "apiVersion": "v1", "kind": "ConfigMap",
    "metadata": {"name": "cm", "labels": {"app": "web"}, "finalizers": ["a"]},
    "data": {"k": "v"},
}


@pytest.mark.parametrize(
    ("patch", "check"),
    [
        pytest.param([{"op": "add", "path": "/data/new", "value": "x"}],
                     {"data": {"k": "v", "new": "x"}}, id="add-member"),
        pytest.param([{"op": "add", "path": "/metadata/finalizers/-", "value": "b"}],
                     {"metadata.finalizers": ["a", "b"]}, id="append-to-list"),
        pytest.param([{"op": "add", "path": "/metadata/finalizers/0", "value": "z"}],
                     {"metadata.finalizers": ["z", "a"]}, id="insert-into-list"),
        pytest.param([{"op": "remove", "path": "/metadata/labels/app"}],
                     {"metadata.labels": {}}, id="remove"),
        pytest.param([{"op": "replace", "path": "/data/k", "value": "w"}],
                     {"data": {"k": "w"}}, id="replace"),
        pytest.param([{"op": "move", "from": "/data/k", "path": "/data/m"}],
                     {"data": {"m": "v"}}, id="move"),
        pytest.param([{"op": "copy", "from": "/data", "path": "/binaryData"}],
                     {"binaryData": {"k": "v"}, "data": {"k": "v"}}, id="copy"),
        pytest.param([{"op": "test", "path": "/data/k", "value": "v"},
                      {"op": "replace", "path": "/data/k", "value": "tested"}],
                     {"data": {"k": "tested"}}, id="test-then-replace"),
        pytest.param([{"op": "add", "path": "/metadata/labels/a~1b", "value": "escaped"}],
                     {"metadata.labels": {"app": "web", "a/b": "escaped"}},
                     id="escaped-pointer"),
        pytest.param([], {"data": {"k": "v"}}, id="empty-patch"),
        pytest.param(None, {"data": {"k": "v"}}, id="null-patch"),
    ],
)
def test_operations(patch: Any, check: dict[str, Any]) -> None:
    original = copy.deepcopy(CONFIGMAP)
    patch_copy = copy.deepcopy(patch)
    result = apply_json_patch(original, patch)
    for dotted, expected in check.items():
        value: Any = result
        for part in dotted.split("."):
            value = value[part]
        assert value == expected
    assert original == CONFIGMAP
    assert patch == patch_copy


def test_result_shares_nothing_with_inputs() -> None:
    original = copy.deepcopy(CONFIGMAP)
    patch = [{"op": "add", "path": "/spec", "value": {"nested": {"a": 1}}}]
    result = apply_json_patch(original, patch)
    result["spec"]["nested"]["a"] = 2
    result["metadata"]["labels"]["app"] = "changed"
    assert patch[0]["value"] == {"nested": {"a": 1}}
    assert original == CONFIGMAP


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        pytest.param({"op": "add"},
                     "json: cannot unmarshal object into Go value of type jsonpatch.Patch",
                     id="object-not-list"),
        pytest.param("x", "json: cannot unmarshal string into Go value of type jsonpatch.Patch",
                     id="string"),
        pytest.param([["op"]],
                     "json: cannot unmarshal array into Go value of type jsonpatch.Operation",
                     id="list-element"),
        pytest.param([1],
                     "json: cannot unmarshal number into Go value of type jsonpatch.Operation",
                     id="number-element"),
    ],
)
def test_undecodable_patch_is_bad_request(patch: Any, message: str) -> None:
    with pytest.raises(StatusError) as caught:
        apply_json_patch(CONFIGMAP, patch)
    assert (caught.value.code, caught.value.reason, caught.value.message) == \
        (400, "BadRequest", message)


@pytest.mark.parametrize(
    "patch",
    [
        pytest.param([{"op": "test", "path": "/data/k", "value": "other"}], id="test-fails"),
        pytest.param([{"op": "test", "path": "/data/k", "value": True}], id="test-typed"),
        pytest.param([{"op": "remove", "path": "/data/missing"}], id="remove-missing"),
        pytest.param([{"op": "replace", "path": "/spec/replicas", "value": 1}],
                     id="replace-missing"),
        pytest.param([{"op": "add", "path": "/spec/deep/x", "value": 1}], id="missing-parent"),
        pytest.param([{"op": "add", "path": "/metadata/finalizers/5", "value": "x"}],
                     id="index-out-of-range"),
        pytest.param([{"op": "frobnicate", "path": "/data"}], id="unknown-op"),
        pytest.param([{"path": "/data"}], id="no-op-member"),
        pytest.param([{"op": "add", "path": "/data/x"}], id="no-value"),
        pytest.param([{"op": "add", "path": 5, "value": 1}], id="non-string-path"),
        pytest.param([{"op": "move", "path": "/data/x"}], id="move-without-from"),
        pytest.param([{"op": "add", "path": "/data/k/deeper", "value": 1}],
                     id="through-a-scalar"),
        pytest.param([None], id="null-operation"),
    ],
)
def test_inapplicable_patch_is_invalid(patch: Any) -> None:
    with pytest.raises(StatusError) as caught:
        apply_json_patch(CONFIGMAP, patch)
    error = caught.value
    assert (error.code, error.reason) == (422, "Invalid")
    assert error.message == "the server rejected our request due to an error in our request"


def test_a_failed_patch_leaves_the_original_alone() -> None:
    original = copy.deepcopy(CONFIGMAP)
    with pytest.raises(StatusError):
        apply_json_patch(original, [{"op": "replace", "path": "/data/k", "value": "x"},
                                    {"op": "test", "path": "/data/k", "value": "v"}])
    assert original == CONFIGMAP


def test_too_many_operations() -> None:
    patch = [{"op": "test", "path": "/kind", "value": "ConfigMap"}] * (MAX_OPERATIONS + 1)
    with pytest.raises(StatusError) as caught:
        apply_json_patch(CONFIGMAP, patch)
    assert caught.value.code == 413
    assert caught.value.message == (
        "Request entity too large: The allowed maximum operations in a JSON patch is 10000, "
        "got 10001")


def test_unknown_operation_members_for_strict_validation() -> None:
    patch = [{"op": "add", "path": "/a", "value": 1},
             {"op": "remove", "path": "/b", "Value": 2, "extra": True}]
    assert json_patch_unknown_fields(patch) == [
        'json patch unknown field "[1].Value"', 'json patch unknown field "[1].extra"']
    assert json_patch_unknown_fields({"not": "a list"}) == []
