"""Pod binding (once only) and eviction, through kubectl and the official client."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException

pytestmark = pytest.mark.integration

POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
       "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


def test_binding_assigns_a_node_exactly_once(api_server: Any) -> None:
    api_server.kubectl("create", "-f", "-", input=json.dumps(POD))
    binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p"},
               "target": {"apiVersion": "v1", "kind": "Node", "name": "node-a"}}
    api_server.kubectl("create", "-f", "-", input=json.dumps(binding))
    pod = json.loads(api_server.kubectl("get", "pod", "p", "-o", "json").stdout)
    assert pod["spec"]["nodeName"] == "node-a"
    scheduled = [c for c in pod["status"]["conditions"] if c["type"] == "PodScheduled"]
    assert scheduled and scheduled[0]["status"] == "True"
    again = api_server.kubectl("create", "-f", "-", check=False,
                               input=json.dumps({**binding, "target": {"name": "node-b"}}))
    assert again.returncode == 1
    assert 'pod p is already assigned to node "node-a"' in again.stderr


def test_eviction_deletes_the_pod(api_server: Any) -> None:
    api = config.new_client_from_config(config_file=str(api_server.kubeconfig))
    try:
        core = client.CoreV1Api(api)
        core.create_namespaced_pod("default", {**POD, "metadata": {"name": "ev"}})
        core.create_namespaced_pod_eviction("ev", "default", client.V1Eviction(
            metadata=client.V1ObjectMeta(name="ev", namespace="default")))
        with pytest.raises(ApiException) as exc:
            core.read_namespaced_pod("ev", "default")
        assert exc.value.status == 404
    finally:
        api.close()
