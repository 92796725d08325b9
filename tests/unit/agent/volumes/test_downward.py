"""Downward API rendering: the kubelet's exact text for fields and resources."""

from __future__ import annotations

import re
from typing import Any

import pytest

from kubesmith.agent.volumes.downward import (
    aggregate,
    container_resource_value,
    downward_payload,
    field_path_value,
    format_map,
)
from kubesmith.agent.volumes.errors import SourceError


def exactly(text: str) -> str:
    """A ``match=`` pattern for exactly ``text``."""
    return f"^{re.escape(text)}$"

POD: dict[str, Any] = {
    "metadata": {"name": "web", "namespace": "shop", "uid": "u-1",
                 "labels": {"tier": "front", "app": "web"},
                 "annotations": {"note": 'say "hi"\nbye', "z": "ü"}},
    "spec": {"nodeName": "n1", "serviceAccountName": "sa",
             "containers": [{"name": "c", "resources": {
                 "requests": {"cpu": "250m", "memory": "64Mi"},
                 "limits": {"memory": "128Mi"}}}],
             "initContainers": [{"name": "init"}]},
    "status": {"podIP": "10.0.0.5", "podIPs": [{"ip": "10.0.0.5"}, {"ip": "fd00::5"}]},
}
ALLOCATABLE = {"cpu": "2", "memory": "8Gi", "ephemeral-storage": "100Gi"}


def test_format_map_sorted_quoted_without_trailing_newline() -> None:
    assert format_map({"b": "2", "a": 'x"y'}) == 'a="x\\"y"\nb="2"'


@pytest.mark.parametrize(("path", "value"), [
    ("metadata.name", "web"),
    ("metadata.namespace", "shop"),
    ("metadata.uid", "u-1"),
    ("metadata.labels", 'app="web"\ntier="front"'),
    ("metadata.annotations", 'note="say \\"hi\\"\\nbye"\nz="ü"'),
    ("metadata.labels['tier']", "front"),
    ("metadata.labels['missing']", ""),
    ("metadata.annotations['note']", 'say "hi"\nbye'),
    ("spec.nodeName", "n1"),
    ("status.podIPs", "10.0.0.5,fd00::5"),
])
def test_field_paths(path: str, value: str) -> None:
    assert field_path_value(POD, path) == value


def test_unsupported_field_path() -> None:
    with pytest.raises(SourceError, match=r"^unsupported fieldPath: metadata\.generation$"):
        field_path_value(POD, "metadata.generation")


@pytest.mark.parametrize(("resource", "divisor", "value"), [
    ("requests.cpu", None, "1"),          # 250m rounds up to 1 core
    ("requests.cpu", "1m", "250"),
    ("requests.memory", "1Mi", "64"),
    ("limits.memory", None, str(128 * 2**20)),
    ("limits.memory", "1Gi", "1"),        # rounded up
    ("limits.cpu", "1m", "2000"),         # no limit: node allocatable
    ("limits.ephemeral-storage", "1Gi", "100"),
    ("requests.ephemeral-storage", None, "0"),
])
def test_resource_values(resource: str, divisor: str | None, value: str) -> None:
    selector = {"containerName": "c", "resource": resource}
    if divisor:
        selector["divisor"] = divisor
    assert container_resource_value(selector, POD, ALLOCATABLE) == value


def test_resource_errors() -> None:
    with pytest.raises(SourceError, match=exactly("container nope not found")):
        container_resource_value({"containerName": "nope", "resource": "limits.cpu"}, POD,
                                 ALLOCATABLE)
    with pytest.raises(SourceError, match=r"^unsupported container resource : limits\.gpu$"):
        container_resource_value({"containerName": "c", "resource": "limits.gpu"}, POD,
                                 ALLOCATABLE)


def test_payload_modes_and_errors_aggregated() -> None:
    items = [{"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
             {"path": "cpu", "mode": 0o400,
              "resourceFieldRef": {"containerName": "c", "resource": "limits.cpu"}}]
    files = downward_payload(items, POD, 0o644, ALLOCATABLE)
    assert files["name"].data == b"web" and files["name"].mode == 0o644
    assert files["cpu"].data == b"2" and files["cpu"].mode == 0o400
    bad = [{"path": "a", "fieldRef": {"fieldPath": "x"}},
           {"path": "b", "fieldRef": {"fieldPath": "y"}}]
    with pytest.raises(SourceError) as err:
        downward_payload(bad, POD, 0o644, ALLOCATABLE)
    assert str(err.value) == "[unsupported fieldPath: x, unsupported fieldPath: y]"


def test_aggregate_single_and_duplicates() -> None:
    assert aggregate(["one"]) == "one"
    assert aggregate(["one", "one"]) == "one"
