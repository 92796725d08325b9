"""The API server over a real 3-member etcd cluster, driven by kubectl."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kubesmith.storage.etcd_launcher import LocalEtcdCluster

pytestmark = pytest.mark.integration

@pytest.fixture(scope="module")
def etcd_server(tmp_path_factory: pytest.TempPathFactory,
                server_factory: Any) -> Iterator[tuple[Any, Any]]:
    if shutil.which("etcd") is None:
        pytest.fail("etcd is not installed (scripts/install-deps.sh installs etcd-server)")
    cluster = LocalEtcdCluster(tmp_path_factory.mktemp("etcd"), size=3)
    cluster.start()
    try:
        url = "etcd://" + ",".join(e.removeprefix("http://") for e in cluster.endpoints)
        yield server_factory("--datastore", url), cluster
    finally:
        cluster.stop()


def test_kubectl_against_etcd(etcd_server: tuple[Any, Any], tmp_path: Path) -> None:
    server, cluster = etcd_server
    manifest = tmp_path / "cm.json"
    manifest.write_text(json.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                                    "metadata": {"name": "in-etcd"}, "data": {"a": "1"}}))
    assert server.kubectl("apply", "-f", str(manifest)).stdout.strip() == \
        "configmap/in-etcd created"
    got = json.loads(server.kubectl("get", "cm", "in-etcd", "-o", "json").stdout)
    assert got["data"] == {"a": "1"}
    # The object really is in etcd, under the Kubernetes key layout.
    out = subprocess.run(["etcdctl", "--endpoints", cluster.endpoints[0], "get",
                          "/registry/core/configmaps/default/in-etcd", "--print-value-only"],
                         capture_output=True, text=True, timeout=30, check=True).stdout
    assert json.loads(out)["data"] == {"a": "1"}
    server.kubectl("create", "deployment", "web", "--image=nginx:1.25")
    server.kubectl("scale", "deployment", "web", "--replicas=3")
    dep = json.loads(server.kubectl("get", "deploy", "web", "-o", "json").stdout)
    assert dep["spec"]["replicas"] == 3
    server.kubectl("delete", "cm", "in-etcd")
    gone = server.kubectl("get", "cm", "in-etcd", check=False)
    assert gone.returncode == 1 and "NotFound" in gone.stderr


def test_survives_losing_one_member(etcd_server: tuple[Any, Any], tmp_path: Path) -> None:
    server, cluster = etcd_server
    cluster.stop_member(0)
    try:
        manifest = tmp_path / "cm.json"
        manifest.write_text(json.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                                        "metadata": {"name": "quorum"}}))
        server.kubectl("create", "-f", str(manifest))
        assert "quorum" in server.kubectl("get", "cm").stdout
    finally:
        cluster.start_member(0)
