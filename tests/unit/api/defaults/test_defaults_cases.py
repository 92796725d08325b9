"""Data-driven tests for kubesmith.api.defaults.

Every case in ``cases/*.yaml`` is an input object and the object upstream would store after
defaulting. Defaulting must also be idempotent (the API server applies it on every write,
and upstream re-applies it on every decode).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubesmith.api.defaults import apply_defaults, defaulted_kinds, defaulter_for
from kubesmith.api.defaults._util import image_tag, pull_policy_for
from kubesmith.api.defaults.workloads import default_job, generate_job_selector

CASES_DIR = Path(__file__).parent / "cases"


def _load_cases() -> list[Any]:
    params = []
    for path in sorted(CASES_DIR.glob("*.yaml")):
        for case in yaml.safe_load(path.read_text()):
            params.append(pytest.param(case, id=f"{path.stem}: {case['name']}"))
    return params


CASES = _load_cases()


@pytest.mark.parametrize("case", CASES)
def test_defaulting_produces_upstream_object(case: dict[str, Any]) -> None:
    obj = copy.deepcopy(case["input"])
    apply_defaults(case.get("group", ""), case.get("version", "v1"), case["kind"], obj)
    assert obj == case["expected"]


@pytest.mark.parametrize("case", CASES)
def test_defaulting_is_idempotent(case: dict[str, Any]) -> None:
    obj = copy.deepcopy(case["expected"])
    apply_defaults(case.get("group", ""), case.get("version", "v1"), case["kind"], obj)
    assert obj == case["expected"]


def test_every_defaulted_kind_has_a_case() -> None:
    covered = {(c.values[0].get("group", ""), c.values[0].get("version", "v1"),
                c.values[0]["kind"]) for c in CASES}
    missing = [kind for kind in defaulted_kinds() if kind not in covered]
    assert missing == []


@pytest.mark.parametrize(
    ("group", "version", "kind"),
    [
        ("", "v1", "ConfigMap"),
        ("", "v1", "ServiceAccount"),
        ("policy", "v1", "PodDisruptionBudget"),
        ("coordination.k8s.io", "v1", "Lease"),
        ("events.k8s.io", "v1", "Event"),
        ("networking.k8s.io", "v1", "Ingress"),
        ("rbac.authorization.k8s.io", "v1", "ClusterRole"),
    ],
    ids=lambda value: value or "core",
)
def test_kinds_without_upstream_defaults_have_no_defaulter(group: str, version: str,
                                                          kind: str) -> None:
    assert defaulter_for(group, version, kind) is None


@pytest.mark.parametrize(
    ("image", "tag", "policy"),
    [
        ("nginx", "latest", "Always"),
        ("nginx:latest", "latest", "Always"),
        ("nginx:1.25", "1.25", "IfNotPresent"),
        ("docker.io/library/nginx:1.25-alpine", "1.25-alpine", "IfNotPresent"),
        ("localhost:5000/app", "latest", "Always"),
        ("localhost:5000/app:v2", "v2", "IfNotPresent"),
        ("[::1]:5000/app:v2", "v2", "IfNotPresent"),
        ("nginx@sha256:" + "a" * 64, "", "IfNotPresent"),
        ("nginx:latest@sha256:" + "a" * 64, "latest", "Always"),
        ("UPPER/case", "latest", "Always"),  # UPPER is read as a registry host
        ("Nginx", "", "IfNotPresent"),
        ("", "", "IfNotPresent"),
        ("a" * 64, "", "IfNotPresent"),
    ],
    ids=lambda value: value if isinstance(value, str) and value else "empty",
)
def test_image_pull_policy_follows_the_tag(image: str, tag: str, policy: str) -> None:
    assert image_tag(image) == tag
    assert pull_policy_for(image) == policy


def test_job_selector_generation_then_redefaulting_matches_upstream() -> None:
    job: dict[str, Any] = {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "pi", "namespace": "default", "uid": "u-1"},
        "spec": {"template": {"spec": {"restartPolicy": "Never",
                                       "containers": [{"name": "pi", "image": "perl"}]}}},
    }
    default_job(job)
    generate_job_selector(job)
    # Upstream defaults again when decoding the stored Job, which copies the now-present
    # template labels onto the Job itself.
    default_job(job)
    labels = {"batch.kubernetes.io/controller-uid": "u-1", "batch.kubernetes.io/job-name": "pi",
              "controller-uid": "u-1", "job-name": "pi"}
    assert job["metadata"]["labels"] == labels
    assert job["spec"]["template"]["metadata"]["labels"] == labels
    assert job["spec"]["selector"] == {
        "matchLabels": {"batch.kubernetes.io/controller-uid": "u-1"}}


def test_manual_selector_is_left_alone() -> None:
    job: dict[str, Any] = {"metadata": {"name": "x", "uid": "u"},
                           "spec": {"manualSelector": True, "selector": {"matchLabels": {"a": "b"}},
                                    "template": {"metadata": {"labels": {"a": "b"}}}}}
    generate_job_selector(job)
    assert job["spec"]["selector"] == {"matchLabels": {"a": "b"}}
    assert job["spec"]["template"]["metadata"]["labels"] == {"a": "b"}


def test_pod_level_resources_default_requests_from_containers() -> None:
    pod: dict[str, Any] = {"metadata": {"name": "p", "namespace": "d"}, "spec": {
        "resources": {"limits": {"cpu": "2", "memory": "2Gi"}},
        "containers": [
            {"name": "a", "image": "a", "resources": {"requests": {"cpu": "500m"}}},
            {"name": "b", "image": "b", "resources": {"requests": {"cpu": "250m"}}},
        ]}}
    apply_defaults("", "v1", "Pod", pod)
    # cpu: the containers' total; memory: no container asks, so the pod limit.
    assert pod["spec"]["resources"]["requests"] == {"cpu": "750m", "memory": "2Gi"}


def test_pod_level_limits_default_when_every_container_has_one() -> None:
    pod: dict[str, Any] = {"metadata": {"name": "p", "namespace": "d"}, "spec": {
        "resources": {"requests": {"cpu": "1"}},
        "initContainers": [{"name": "i", "image": "i", "resources": {"limits": {"cpu": "3"}}}],
        "containers": [
            {"name": "a", "image": "a", "resources": {"limits": {"cpu": "1"}}},
            {"name": "b", "image": "b", "resources": {"limits": {"cpu": "1"}}},
        ]}}
    apply_defaults("", "v1", "Pod", pod)
    # The init container runs alone and needs more than the two app containers together.
    assert pod["spec"]["resources"]["limits"] == {"cpu": "3"}


def test_values_of_the_wrong_type_are_left_for_validation() -> None:
    pod: dict[str, Any] = {"metadata": {"name": "p"},
                           "spec": {"containers": "not-a-list", "securityContext": "bogus"}}
    apply_defaults("", "v1", "Pod", pod)
    assert pod["spec"]["containers"] == "not-a-list"
    assert pod["spec"]["securityContext"] == "bogus"
