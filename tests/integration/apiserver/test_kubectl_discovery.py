"""kubectl explain, api-resources, api-versions, version and cluster-info: what kubectl
learns from discovery and OpenAPI, driven by the real kubectl."""

from __future__ import annotations

import re

import pytest

from tests.conftest import RunningServer

pytestmark = pytest.mark.integration


def _rows(text: str) -> list[list[str]]:
    return [line.split() for line in text.strip().splitlines()]


def test_explain_field(api_server: RunningServer) -> None:
    out = api_server.kubectl("explain", "deployment.spec.replicas").stdout
    lines = [line.rstrip() for line in out.splitlines()]
    assert lines[:3] == ["GROUP:      apps", "KIND:       Deployment", "VERSION:    v1"]
    assert "FIELD: replicas <integer>" in lines
    assert "DESCRIPTION:" in lines
    text = " ".join(out.split())
    assert "Number of desired pods." in text
    assert "Defaults to 1." in text


def test_explain_resource_recursive(api_server: RunningServer) -> None:
    out = api_server.kubectl("explain", "pods", "--recursive").stdout
    lines = out.splitlines()
    assert lines[:2] == ["KIND:       Pod", "VERSION:    v1"]
    assert "FIELDS:" in lines
    head = lines[:lines.index("FIELDS:") + 4]
    assert head[-3:] == ["  apiVersion\t<string>", "  kind\t<string>",
                         "  metadata\t<ObjectMeta>"]
    assert "  spec\t<PodSpec>" in lines
    assert "    containers\t<[]Container> -required-" in lines
    assert "  status\t<PodStatus>" in lines


def test_explain_with_api_version_and_unknown_field(api_server: RunningServer) -> None:
    out = api_server.kubectl("explain", "deploy.spec.strategy",
                             "--api-version=apps/v1").stdout
    assert "FIELD: strategy <DeploymentStrategy>" in out
    assert re.search(r"^  rollingUpdate\t<RollingUpdateDeployment>$", out, re.M), out
    proc = api_server.kubectl("explain", "deployment.spec.bogus", check=False)
    assert proc.returncode == 1
    assert 'field "bogus" does not exist' in proc.stderr


def test_api_resources(api_server: RunningServer) -> None:
    rows = _rows(api_server.kubectl("api-resources").stdout)
    assert rows[0] == ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]
    assert ["deployments", "deploy", "apps/v1", "true", "Deployment"] in rows
    assert ["configmaps", "cm", "v1", "true", "ConfigMap"] in rows
    assert ["namespaces", "ns", "v1", "false", "Namespace"] in rows
    assert ["customresourcedefinitions", "crd,crds", "apiextensions.k8s.io/v1", "false",
            "CustomResourceDefinition"] in rows
    # Subresources are not resources.
    assert not any("/" in row[0] for row in rows[1:])


def test_api_resources_cluster_scoped(api_server: RunningServer) -> None:
    rows = _rows(api_server.kubectl("api-resources", "--namespaced=false").stdout)
    names = {row[0] for row in rows[1:]}
    assert {"namespaces", "nodes", "persistentvolumes", "customresourcedefinitions",
            "clusterroles", "storageclasses"} <= names
    assert "configmaps" not in names
    assert "deployments" not in names
    # Every row's NAMESPACED column says false.
    assert all("false" in row for row in rows[1:])


def test_api_resources_wide_and_by_group(api_server: RunningServer) -> None:
    rows = _rows(api_server.kubectl("api-resources", "-o", "wide").stdout)
    assert rows[0][-2:] == ["VERBS", "CATEGORIES"]
    deployments = next(row for row in rows if row[0] == "deployments")
    assert deployments[-2:] == [
        "create,delete,deletecollection,get,list,patch,update,watch", "all"]
    out = api_server.kubectl("api-resources", "--api-group=apps", "-o", "name").stdout
    assert out.splitlines() == ["controllerrevisions.apps", "daemonsets.apps",
                                "deployments.apps", "replicasets.apps", "statefulsets.apps"]


def test_api_versions(api_server: RunningServer) -> None:
    versions = api_server.kubectl("api-versions").stdout.splitlines()
    assert versions == sorted(versions)
    for gv in ("v1", "apps/v1", "batch/v1", "apiextensions.k8s.io/v1", "autoscaling/v2",
               "rbac.authorization.k8s.io/v1", "networking.k8s.io/v1", "storage.k8s.io/v1"):
        assert gv in versions


def test_version_and_cluster_info(api_server: RunningServer) -> None:
    out = api_server.kubectl("version").stdout
    assert re.search(r"^Server Version: v1\.37\.\d", out, re.M), out
    info = api_server.kubectl("cluster-info").stdout
    assert f"Kubernetes control plane is running at {api_server.url}" in info
