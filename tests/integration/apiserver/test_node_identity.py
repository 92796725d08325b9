"""A node identity (system:node:<name>) reaches its own objects and what its pods use,
nothing else (Node authorizer + NodeRestriction)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kubesmith.apiserver import pki

pytestmark = pytest.mark.integration


def _node_kubectl(server: Any, cert: pki.KeyPair, *args: str, input: str | None = None
                  ) -> Any:
    return server.kubectl_as(*args, cert=cert, input=input)


def _can(server: Any, cert: pki.KeyPair, *args: str) -> str:
    return str(_node_kubectl(server, cert, "auth", "can-i", *args).stdout.strip())


def _create(server: Any, obj: dict[str, Any]) -> None:
    server.kubectl("create", "-f", "-", input=json.dumps(obj))


def test_node_reaches_only_its_own(api_server: Any, tmp_path: Path) -> None:
    ca = pki.KeyPair(api_server.data_dir / "pki" / "ca.crt",
                     api_server.data_dir / "pki" / "ca.key")
    node = pki.ensure_client_cert(ca, tmp_path, "n1", "system:node:n1", ["system:nodes"])
    for name in ("used", "unused"):
        _create(api_server, {"apiVersion": "v1", "kind": "Secret",
                             "metadata": {"name": name}, "stringData": {"k": "v"}})
    for pod, node_name in (("on-n1", "n1"), ("on-n2", "n2")):
        _create(api_server, {
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": pod},
            "spec": {"nodeName": node_name, "containers": [{
                "name": "c", "image": "busybox",
                "env": [{"name": "K", "valueFrom": {"secretKeyRef": {
                    "name": "used" if node_name == "n1" else "unused", "key": "k"}}}]}]}})

    assert _can(api_server, node, "get", "secrets/used") == "yes"
    assert _can(api_server, node, "get", "secrets/unused") == \
        'no - no relationship found between node "n1" and this object'
    assert _can(api_server, node, "list", "secrets") == "no"
    assert _can(api_server, node, "get", "pods") == "yes"
    assert _can(api_server, node, "create", "deployments.apps") == "no"
    got = _node_kubectl(api_server, node, "get", "secret", "used", "-o", "json")
    assert got.returncode == 0, got.stderr
    denied = _node_kubectl(api_server, node, "get", "secret", "unused")
    assert denied.returncode == 1
    assert 'no relationship found between node "n1" and this object' in denied.stderr

    # NodeRestriction: its own Node only; pods bound to itself only.
    own = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}}
    assert _node_kubectl(api_server, node, "create", "-f", "-",
                         input=json.dumps(own)).returncode == 0
    other = _node_kubectl(api_server, node, "create", "-f", "-", input=json.dumps(
        {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n2"}}))
    assert other.returncode == 1
    assert 'node "n1" is not allowed to modify node "n2"' in other.stderr
    delete_other = _node_kubectl(api_server, node, "delete", "pod", "on-n2", "--wait=false")
    assert delete_other.returncode == 1
    assert "can only modify pods bound to itself" in delete_other.stderr
    plain_pod = _node_kubectl(api_server, node, "create", "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "sneaky"},
        "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "busybox"}]}}))
    assert plain_pod.returncode == 1 and "can only create mirror pods" in plain_pod.stderr
