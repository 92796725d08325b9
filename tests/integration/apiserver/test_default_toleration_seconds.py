"""DefaultTolerationSeconds: new pods tolerate not-ready/unreachable for 300 s unless they
say otherwise."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import RunningServer

pytestmark = pytest.mark.integration


def _pod(name: str, tolerations: list[dict[str, Any]] | None = None) -> str:
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "busybox"}]}
    if tolerations is not None:
        spec["tolerations"] = tolerations
    return json.dumps({"apiVersion": "v1", "kind": "Pod",
                       "metadata": {"name": name, "namespace": "default"}, "spec": spec})


def _tolerations(server: RunningServer, name: str) -> list[dict[str, Any]]:
    pod = json.loads(server.kubectl("get", "pod", name, "-o", "json").stdout)
    found: list[dict[str, Any]] = pod["spec"].get("tolerations") or []
    return found


def test_defaults_added_unless_stated(api_server: RunningServer) -> None:
    api_server.kubectl("create", "-f", "-", input=_pod("tol-plain"))
    assert _tolerations(api_server, "tol-plain") == [
        {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
         "tolerationSeconds": 300},
        {"key": "node.kubernetes.io/unreachable", "operator": "Exists",
         "effect": "NoExecute", "tolerationSeconds": 300}]
    own = {"key": "node.kubernetes.io/unreachable", "operator": "Exists",
           "effect": "NoExecute", "tolerationSeconds": 5}
    api_server.kubectl("create", "-f", "-", input=_pod("tol-own", [own]))
    got = _tolerations(api_server, "tol-own")
    assert own in got
    assert [t["key"] for t in got].count("node.kubernetes.io/unreachable") == 1
    assert any(t["key"] == "node.kubernetes.io/not-ready" for t in got)
    everything = {"operator": "Exists"}
    api_server.kubectl("create", "-f", "-", input=_pod("tol-all", [everything]))
    assert _tolerations(api_server, "tol-all") == [everything]
    # Dry-run shows the same defaults without creating anything.
    dry = json.loads(api_server.kubectl("create", "-f", "-", "--dry-run=server", "-o", "json",
                                        input=_pod("tol-dry")).stdout)
    assert len(dry["spec"]["tolerations"]) == 2
