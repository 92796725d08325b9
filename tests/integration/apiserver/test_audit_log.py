"""The audit log: one line per stage as the policy asks, a create with its request body,
a denied request with the forbid decision, Secrets never written out, file mode 0600."""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

POLICY = """
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: None
  nonResourceURLs: ["/healthz*", "/readyz*", "/livez*", "/version"]
- level: RequestResponse
  resources: [{group: "", resources: ["configmaps"]}]
- level: Request
  resources: [{group: ""}]
- level: Metadata
"""


def _events(log: Path, want: int, match: Any) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 10
    while True:
        found = [e for e in map(json.loads, log.read_text().splitlines()) if match(e)] \
            if log.exists() else []
        if len(found) >= want or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_audit_log(server_factory: Any, tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    log = tmp_path / "audit" / "audit.log"
    server = server_factory("--audit-policy-file", str(policy), "--audit-log-path", str(log))
    server.kubectl("create", "configmap", "audited", "--from-literal=k=v")
    server.kubectl("create", "secret", "generic", "hush", "--from-literal=pw=topsecret")
    # A request the admin may not make: an unknown user through a token that is refused
    # is a 401; use a ServiceAccount with no permissions for a 403 instead.
    server.kubectl("create", "serviceaccount", "nobody")
    token = server.kubectl("create", "token", "nobody").stdout.strip()
    server.kubectl_as("get", "pods", token=token)

    created = _events(log, 1, lambda e: e["verb"] == "create"
                      and e.get("objectRef", {}).get("resource") == "configmaps")
    assert created, log.read_text()[-2000:]
    event = created[0]
    assert event["kind"] == "Event" and event["apiVersion"] == "audit.k8s.io/v1"
    assert event["level"] == "RequestResponse" and event["stage"] == "ResponseComplete"
    assert event["user"]["username"] == "kubernetes-admin"
    assert event["objectRef"]["name"] == "audited"
    assert event["requestObject"]["data"] == {"k": "v"}
    assert event["responseStatus"]["code"] == 201
    assert event["annotations"]["authorization.k8s.io/decision"] == "allow"

    denied = _events(log, 1, lambda e: e["user"].get("username") ==
                     "system:serviceaccount:default:nobody" and e["verb"] == "list")
    assert denied
    assert denied[0]["responseStatus"]["code"] == 403
    assert denied[0]["annotations"]["authorization.k8s.io/decision"] == "forbid"

    text = log.read_text()
    assert "topsecret" not in text and "dG9wc2VjcmV0" not in text  # nor its base64
    assert not [e for e in map(json.loads, text.splitlines()) if e["stage"] ==
                "RequestReceived"]
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
