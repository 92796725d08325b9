"""A node reads the Secrets and ConfigMaps its pods use the way kubelets do — LIST and WATCH
narrowed to one object by ``fieldSelector=metadata.name=<name>`` — and nothing else."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kubesmith.apiserver import pki
from kubesmith.client import ApiError, Client
from kubesmith.client.rest import CONFIGMAPS, SECRETS

pytestmark = pytest.mark.integration

NS = "node-reads"


def _create(server: Any, obj: dict[str, Any]) -> None:
    server.kubectl("create", "-n", NS, "-f", "-", input=json.dumps(obj))


@pytest.fixture(scope="module")
def node(api_server: Any, tmp_path_factory: pytest.TempPathFactory) -> pki.KeyPair:
    """Node n1's identity, with one pod on n1 using s1 and c1 (s2 and c2 exist, unused)."""
    ca = pki.KeyPair(api_server.data_dir / "pki" / "ca.crt",
                     api_server.data_dir / "pki" / "ca.key")
    cert = pki.ensure_client_cert(ca, tmp_path_factory.mktemp("node"), "n1",
                                  "system:node:n1", ["system:nodes"])
    api_server.kubectl("create", "namespace", NS)
    for name in ("s1", "s2"):
        _create(api_server, {"apiVersion": "v1", "kind": "Secret",
                             "metadata": {"name": name}, "stringData": {"k": name}})
    for name in ("c1", "c2"):
        _create(api_server, {"apiVersion": "v1", "kind": "ConfigMap",
                             "metadata": {"name": name}, "data": {"k": name}})
    _create(api_server, {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
        "spec": {"nodeName": "n1", "containers": [{
            "name": "c", "image": "busybox",
            "envFrom": [{"secretRef": {"name": "s1"}}]}],
            "volumes": [{"name": "v", "configMap": {"name": "c1"}}]}})
    return cert


def _kubectl(server: Any, cert: pki.KeyPair, *args: str) -> Any:
    return server.kubectl_as("-n", NS, *args, cert=cert)


def _names(listing: str) -> list[str]:
    return [item["metadata"]["name"] for item in json.loads(listing)["items"]]


@pytest.mark.parametrize(("kind", "used", "unused"), [("secrets", "s1", "s2"),
                                                      ("configmaps", "c1", "c2")])
def test_list_one_by_field_selector(api_server: Any, node: pki.KeyPair, kind: str,
                                    used: str, unused: str) -> None:
    got = _kubectl(api_server, node, "get", kind, f"--field-selector=metadata.name={used}",
                   "-o", "json")
    assert got.returncode == 0, got.stderr
    assert _names(got.stdout) == [used]  # only that object, though others exist
    denied = _kubectl(api_server, node, "get", kind, f"--field-selector=metadata.name={unused}")
    assert denied.returncode == 1
    assert 'no relationship found between node "n1" and this object' in denied.stderr
    # Anything but one exact name is still a plain LIST, which a node may not do.
    for selector in (f"metadata.name!={unused}", "", f"type={unused}"):
        args = [f"--field-selector={selector}"] if selector else []
        refused = _kubectl(api_server, node, "get", kind, *args)
        assert refused.returncode == 1 and "Forbidden" in refused.stderr, selector


def test_kubectl_watch_of_a_used_secret(api_server: Any, node: pki.KeyPair) -> None:
    # kubectl get --watch: a GET, then a WATCH with fieldSelector=metadata.name=s1 (here
    # cut short by the request timeout, after which kubectl exits).
    watched = _kubectl(api_server, node, "get", "secret", "s1", "--watch",
                       "--request-timeout=2s", "-o", "name")
    assert "secret/s1" in watched.stdout, watched.stderr
    assert "Forbidden" not in watched.stderr
    denied = _kubectl(api_server, node, "get", "secret", "s2", "--watch",
                      "--request-timeout=2s")
    assert denied.returncode == 1 and "Forbidden" in denied.stderr


async def test_watch_streams_only_that_object(api_server: Any, node: pki.KeyPair,
                                              tmp_path: Path) -> None:
    ca = pki.KeyPair(api_server.data_dir / "pki" / "ca.crt",
                     api_server.data_dir / "pki" / "ca.key")
    kubeconfig = tmp_path / "node.kubeconfig"
    pki.write_kubeconfig(kubeconfig, server=api_server.url, ca=ca, client=node, user="n1")
    async with Client.from_kubeconfig(str(kubeconfig)) as client:
        for resource, used, unused in ((SECRETS, "s1", "s2"), (CONFIGMAPS, "c1", "c2")):
            events = [(kind, obj["metadata"]["name"]) async for kind, obj in client.watch(
                resource, NS, name=used, allow_bookmarks=False, timeout_seconds=1)]
            assert events == [("ADDED", used)]
            with pytest.raises(ApiError) as refused:
                async for _event in client.watch(resource, NS, name=unused,
                                                 timeout_seconds=1):
                    pass
            assert refused.value.code == 403
            assert "no relationship found" in refused.value.message
