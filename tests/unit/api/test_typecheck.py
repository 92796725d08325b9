"""Values of the wrong JSON type are refused with Go's decoding message."""

from __future__ import annotations

from typing import Any

import pytest

from kubesmith.api import schema, typecheck


@pytest.mark.parametrize(("group", "kind", "obj", "expected"), [
    ("apps", "Deployment", {"spec": {"replicas": "two"}},
     "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of "
     "type int32"),
    ("apps", "Deployment", {"spec": {"template": {"spec": {"containers": {}}}}},
     "json: cannot unmarshal object into Go struct field PodSpec.spec.template.spec."
     "containers of type []v1.Container"),
    ("", "ConfigMap", {"data": {"a": 1}},
     "json: cannot unmarshal number 1 into Go struct field ConfigMap.data.a of type string"),
    ("", "ConfigMap", {"metadata": {"labels": {"app": True}}},
     "json: cannot unmarshal bool into Go struct field ObjectMeta.metadata.labels.app of "
     "type string"),
    ("", "Pod", {"spec": {"containers": [{"name": "a", "ports": [{"containerPort": 1.5}]}]}},
     "json: cannot unmarshal number 1.5 into Go struct field ContainerPort.spec.containers."
     "ports.containerPort of type int32"),
], ids=["string-for-int", "object-for-list", "number-in-string-map", "bool-label",
        "fraction-for-int"])
def test_wrong_types(group: str, kind: str, obj: dict[str, Any], expected: str) -> None:
    node = schema.root(group, "v1", kind)
    assert node is not None
    assert typecheck.first_type_error(obj, node) == expected


@pytest.mark.parametrize(("group", "kind", "obj"), [
    ("apps", "Deployment", {"spec": {"replicas": 3, "strategy": {"rollingUpdate": {
        "maxSurge": "25%", "maxUnavailable": 1}}}}),
    ("", "Pod", {"spec": {"containers": [{"name": "a", "resources": {
        "limits": {"cpu": 1, "memory": "64Mi"}}}]}}),
    ("", "ConfigMap", {"data": None, "metadata": {"labels": None}}),
    ("", "Pod", {"spec": {"containers": [{"name": "a", "ports": [{"containerPort": 80.0}]}]}}),
], ids=["int-or-string", "quantity-number", "nulls", "integral-float"])
def test_valid_values_pass(group: str, kind: str, obj: dict[str, Any]) -> None:
    node = schema.root(group, "v1", kind)
    assert node is not None
    assert typecheck.first_type_error(obj, node) is None
