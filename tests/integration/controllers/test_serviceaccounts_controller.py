"""Every namespace gets its `default` ServiceAccount, also back after a deletion."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.integration.controllers.helpers import wait_for

pytestmark = pytest.mark.integration


def _wait_for_default(server: Any, namespace: str) -> dict[str, Any]:
    def found() -> dict[str, Any] | None:
        proc = server.kubectl("get", "sa", "default", "-n", namespace, "-o", "json",
                              check=False)
        if proc.returncode != 0:
            return None
        account: dict[str, Any] = json.loads(proc.stdout)
        return account

    return wait_for(found, f"the default ServiceAccount in {namespace}", 10)


def test_default_service_accounts(api_server: Any) -> None:
    for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
        _wait_for_default(api_server, ns)
    api_server.kubectl("create", "namespace", "team")
    first = _wait_for_default(api_server, "team")
    api_server.kubectl("delete", "sa", "default", "-n", "team")
    again = _wait_for_default(api_server, "team")
    assert again["metadata"]["uid"] != first["metadata"]["uid"]
