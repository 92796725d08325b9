"""PodSecurity admission through kubectl: restricted enforce refuses, warn warns."""

from __future__ import annotations

import json
from typing import Any

import pytest

pytestmark = pytest.mark.integration

PRIVILEGED = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "root"},
              "spec": {"containers": [{"name": "c", "image": "busybox",
                                       "securityContext": {"privileged": True}}]}}


def _namespace(server: Any, name: str, labels: dict[str, str]) -> None:
    server.kubectl("create", "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": name, "labels": labels}}))


def test_restricted_enforce_refuses_a_privileged_pod(api_server: Any) -> None:
    _namespace(api_server, "locked", {"pod-security.kubernetes.io/enforce": "restricted"})
    proc = api_server.kubectl("create", "-n", "locked", "-f", "-", check=False,
                              input=json.dumps(PRIVILEGED))
    assert proc.returncode == 1
    assert 'pods "root" is forbidden: violates PodSecurity "restricted:latest": ' \
        'privileged (container "c" must not set securityContext.privileged=true)' \
        in proc.stderr
    assert "allowPrivilegeEscalation != false" in proc.stderr


def test_warn_label_lets_the_pod_in_with_a_warning(api_server: Any) -> None:
    _namespace(api_server, "soft", {"pod-security.kubernetes.io/warn": "baseline"})
    proc = api_server.kubectl("create", "-n", "soft", "-f", "-", input=json.dumps(PRIVILEGED))
    assert proc.stdout.strip() == "pod/root created"
    assert 'Warning: would violate PodSecurity "baseline:latest": privileged' in proc.stderr


def test_bad_level_label_is_invalid(api_server: Any) -> None:
    proc = api_server.kubectl("create", "-f", "-", check=False, input=json.dumps({
        "apiVersion": "v1", "kind": "Namespace", "metadata": {
            "name": "typo", "labels": {"pod-security.kubernetes.io/enforce": "strict"}}}))
    assert proc.returncode == 1
    assert "must be one of privileged, baseline, restricted" in proc.stderr
