"""Hostile nesting ends as a 4xx from every engine, never as an unhandled RecursionError."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from kubesmith.api import schema
from kubesmith.api.errors import StatusError
from kubesmith.api.patch import apply_json_patch, apply_merge_patch, apply_strategic_merge_patch

# Far past any recursion limit a test runner would configure.
DEPTH = 50_000


def nested(depth: int) -> dict[str, Any]:
    top: dict[str, Any] = {}
    current = top
    for _ in range(depth):
        current["a"] = {}
        current = current["a"]
    return top


def configmap_node() -> schema.SchemaNode:
    node = schema.root("", "v1", "ConfigMap")
    assert node is not None
    return node


ENGINES: list[Any] = [
    pytest.param(lambda deep: apply_merge_patch({"a": {}}, deep), id="merge-patch"),
    pytest.param(lambda deep: apply_strategic_merge_patch(
        {"metadata": {}}, {"metadata": {"annotations": deep}}, configmap_node()),
        id="strategic-new-subtree"),
    pytest.param(lambda deep: apply_strategic_merge_patch(
        {"metadata": {"annotations": {}}}, {"metadata": {"annotations": deep}},
        configmap_node()), id="strategic-merged-map"),
    pytest.param(lambda deep: apply_strategic_merge_patch(deep, {}, configmap_node()),
                 id="strategic-deep-original"),
    pytest.param(lambda deep: apply_json_patch({}, [{"op": "add", "path": "/x", "value": deep}]),
                 id="json-patch"),
]


@pytest.mark.parametrize("engine", ENGINES)
def test_too_deep_is_a_bad_request(engine: Callable[[dict[str, Any]], Any]) -> None:
    with pytest.raises(StatusError) as caught:
        engine(nested(DEPTH))
    assert (caught.value.code, caught.value.message) == (400, "json: exceeded max depth")
