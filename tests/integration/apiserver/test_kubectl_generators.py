"""kubectl's typed commands send Kubernetes protobuf bodies; the server decodes them."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

pytestmark = pytest.mark.integration


@pytest.fixture
def ns(api_server: Any) -> str:
    name = f"gen-{uuid.uuid4().hex[:6]}"
    assert api_server.kubectl("create", "namespace", name).stdout.strip() == \
        f"namespace/{name} created"
    return name


def _json(api_server: Any, *args: str) -> Any:
    return json.loads(api_server.kubectl(*args, "-o", "json").stdout)


def test_create_configmap_and_secret(api_server: Any, ns: str) -> None:
    api_server.kubectl("create", "configmap", "cfg", "-n", ns, "--from-literal=a=b",
                       "--from-literal=c=d")
    assert _json(api_server, "get", "cm", "cfg", "-n", ns)["data"] == {"a": "b", "c": "d"}
    api_server.kubectl("create", "secret", "generic", "s", "-n", ns, "--from-literal=k=v")
    assert _json(api_server, "get", "secret", "s", "-n", ns)["data"] == {"k": "dg=="}


def test_create_deployment_service_job(api_server: Any, ns: str) -> None:
    api_server.kubectl("create", "deployment", "web", "-n", ns, "--image=nginx:1.25",
                       "--replicas=3", "--port=80")
    dep = _json(api_server, "get", "deploy", "web", "-n", ns)
    assert dep["spec"]["replicas"] == 3
    container = dep["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "nginx:1.25"
    assert container["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    api_server.kubectl("create", "service", "nodeport", "web", "-n", ns, "--tcp=80:8080")
    svc = _json(api_server, "get", "svc", "web", "-n", ns)
    assert svc["spec"]["ports"][0]["targetPort"] == 8080
    assert 30000 <= svc["spec"]["ports"][0]["nodePort"] <= 32767
    api_server.kubectl("create", "job", "j", "-n", ns, "--image=busybox", "--", "echo", "hi")
    job = _json(api_server, "get", "job", "j", "-n", ns)
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == ["echo", "hi"]
    # The server generated the Job's selector from its uid.
    assert job["spec"]["selector"]["matchLabels"]["batch.kubernetes.io/controller-uid"] == \
        job["metadata"]["uid"]


def test_scale_and_auth(api_server: Any, ns: str) -> None:
    api_server.kubectl("create", "deployment", "web", "-n", ns, "--image=nginx")
    api_server.kubectl("scale", "deploy", "web", "-n", ns, "--replicas=4")
    assert _json(api_server, "get", "deploy", "web", "-n", ns)["spec"]["replicas"] == 4
    assert api_server.kubectl("auth", "can-i", "delete", "pods", "-n", ns).stdout.strip() == \
        "yes"
    whoami = api_server.kubectl("auth", "whoami").stdout
    assert "kubernetes-admin" in whoami and "system:masters" in whoami


def test_create_role_and_binding(api_server: Any, ns: str) -> None:
    api_server.kubectl("create", "role", "reader", "-n", ns, "--verb=get,list",
                       "--resource=pods")
    role = _json(api_server, "get", "role", "reader", "-n", ns)
    assert role["rules"] == [{"apiGroups": [""], "resources": ["pods"],
                              "verbs": ["get", "list"]}]
    api_server.kubectl("create", "rolebinding", "rb", "-n", ns, "--role=reader",
                       "--user=alice")
    rb = _json(api_server, "get", "rolebinding", "rb", "-n", ns)
    assert rb["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                               "name": "alice"}]
