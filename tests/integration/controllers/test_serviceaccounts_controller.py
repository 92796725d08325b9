"""Every namespace gets its `default` ServiceAccount, also back after a deletion."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

pytestmark = pytest.mark.integration


def _wait_for_default(server: Any, namespace: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        proc = server.kubectl("get", "sa", "default", "-n", namespace, "-o", "json",
                              check=False)
        if proc.returncode == 0:
            found: dict[str, Any] = json.loads(proc.stdout)
            return found
        time.sleep(0.1)
    raise AssertionError(f"no default ServiceAccount in {namespace}")


def test_default_service_accounts(api_server: Any) -> None:
    for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
        _wait_for_default(api_server, ns)
    api_server.kubectl("create", "namespace", "team")
    first = _wait_for_default(api_server, "team")
    api_server.kubectl("delete", "sa", "default", "-n", "team")
    again = _wait_for_default(api_server, "team")
    assert again["metadata"]["uid"] != first["metadata"]["uid"]
