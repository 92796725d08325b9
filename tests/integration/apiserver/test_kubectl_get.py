"""kubectl get: output formats, selectors, chunked lists, all namespaces, categories and
watch, driven by the real kubectl.

Every test creates its own namespace on the module's one server.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import RunningServer, namespace_manifest

pytestmark = pytest.mark.integration

TESTDATA = Path(__file__).parent / "testdata"


@pytest.fixture
def ns(kubectl_namespace: str) -> str:
    """A fresh namespace named after the test."""
    return kubectl_namespace


@pytest.fixture
def web(api_server: RunningServer, ns: str) -> str:
    """``ns`` holding the sample Deployment, Service and ConfigMap."""
    api_server.kubectl("create", "-n", ns, "-f", str(TESTDATA / "deployment.yaml"),
                       "-f", str(TESTDATA / "service.yaml"),
                       "-f", str(TESTDATA / "configmap.yaml"))
    return ns


def _configmaps(server: RunningServer, ns: str, names: list[str],
                labels: dict[str, dict[str, str]] | None = None) -> None:
    docs = []
    for name in names:
        meta: dict[str, Any] = {"name": name}
        if labels and name in labels:
            meta["labels"] = labels[name]
        docs.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta,
                     "data": {"key": name}})
    # JSON documents: YAML 1.1 would read names such as "y" as booleans.
    server.kubectl("create", "-n", ns, "-f", "-",
                   input="\n---\n".join(json.dumps(d) for d in docs))


def _rows(text: str) -> list[list[str]]:
    return [line.split() for line in text.strip().splitlines()]


# ---- output formats ------------------------------------------------------------------------

def test_get_table(api_server: RunningServer, web: str) -> None:
    out = api_server.kubectl("get", "-n", web, "deployments").stdout
    rows = _rows(out)
    assert rows[0] == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert rows[1][:4] == ["web", "0/2", "0", "0"]
    assert re.fullmatch(r"\d+s", rows[1][4])
    svc = _rows(api_server.kubectl("get", "-n", web, "svc", "web").stdout)
    assert svc[0] == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    assert svc[1][0] == "web"
    assert svc[1][3:5] == ["<none>", "80/TCP"]


def test_get_yaml(api_server: RunningServer, web: str) -> None:
    out = api_server.kubectl("get", "-n", web, "deploy", "web", "-o", "yaml").stdout
    obj = yaml.safe_load(out)
    assert obj["apiVersion"] == "apps/v1"
    assert obj["kind"] == "Deployment"
    assert obj["metadata"]["name"] == "web"
    assert obj["metadata"]["namespace"] == web
    # kubectl hides managedFields unless asked for them.
    assert "managedFields" not in obj["metadata"]
    assert obj["spec"]["selector"] == {"matchLabels": {"app": "web"}}
    listed = yaml.safe_load(api_server.kubectl("get", "-n", web, "cm", "-o", "yaml").stdout)
    assert listed["kind"] == "List"
    # Every namespace also gets the cluster's kube-root-ca.crt, as upstream.
    assert [i["metadata"]["name"] for i in listed["items"]
            if i["metadata"]["name"] != "kube-root-ca.crt"] == ["app-config"]
    assert listed["items"][0]["kind"] == "ConfigMap"


def test_get_json(api_server: RunningServer, web: str) -> None:
    obj = json.loads(api_server.kubectl("get", "-n", web, "cm", "app-config", "-o",
                                        "json").stdout)
    assert obj["kind"] == "ConfigMap"
    assert obj["apiVersion"] == "v1"
    assert obj["data"] == {"color": "blue", "size": "large"}
    shown = json.loads(api_server.kubectl("get", "-n", web, "cm", "app-config", "-o", "json",
                                          "--show-managed-fields").stdout)
    assert [m["manager"] for m in shown["metadata"]["managedFields"]] == ["kubectl-create"]
    assert shown["metadata"]["managedFields"][0]["operation"] == "Update"


def test_get_wide(api_server: RunningServer, web: str) -> None:
    rows = _rows(api_server.kubectl("get", "-n", web, "deploy", "-o", "wide").stdout)
    assert rows[0] == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS",
                       "IMAGES", "SELECTOR"]
    assert rows[1][0] == "web"
    assert rows[1][5:] == ["nginx,sidecar", "nginx:1.27,busybox:1.36", "app=web"]
    svc = _rows(api_server.kubectl("get", "-n", web, "svc", "-o", "wide").stdout)
    assert svc[0][-1] == "SELECTOR"
    assert svc[1][-1] == "app=web"


def test_get_name(api_server: RunningServer, web: str) -> None:
    out = api_server.kubectl("get", "-n", web, "deploy,svc,cm", "-o", "name").stdout
    assert out.splitlines() == ["deployment.apps/web", "service/web", "configmap/app-config"]


def test_get_jsonpath(api_server: RunningServer, ns: str) -> None:
    _configmaps(api_server, ns, ["gamma", "alpha", "beta"])
    out = api_server.kubectl("get", "-n", ns, "cm", "-o",
                             "jsonpath={.items[*].metadata.name}").stdout
    # Lists are ordered by name, as etcd's key order gives upstream.
    assert out == "alpha beta gamma"
    one = api_server.kubectl("get", "-n", ns, "cm", "beta", "-o",
                             "jsonpath={.data.key}").stdout
    assert one == "beta"


def test_get_custom_columns(api_server: RunningServer, web: str) -> None:
    out = api_server.kubectl(
        "get", "-n", web, "deploy", "-o",
        "custom-columns=NAME:.metadata.name,IMG:.spec.template.spec.containers[0].image").stdout
    assert _rows(out) == [["NAME", "IMG"], ["web", "nginx:1.27"]]


def test_get_show_labels_and_label_columns(api_server: RunningServer, web: str) -> None:
    rows = _rows(api_server.kubectl("get", "-n", web, "cm", "--show-labels").stdout)
    assert rows[0][-1] == "LABELS"
    assert rows[1][0] == "app-config"
    assert rows[1][-1] == "app=web,tier=frontend"
    rows = _rows(api_server.kubectl("get", "-n", web, "cm", "-L", "tier").stdout)
    assert rows[0][-1] == "TIER"
    assert rows[1][-1] == "frontend"


# ---- selectors, paging, scope --------------------------------------------------------------

def test_get_label_selector(api_server: RunningServer, ns: str) -> None:
    _configmaps(api_server, ns, ["a1", "a2", "b1", "c1"], labels={
        "a1": {"app": "x", "tier": "db"}, "a2": {"app": "x"}, "b1": {"app": "y"}})

    def names(selector: str) -> list[str]:
        return api_server.kubectl("get", "-n", ns, "cm", "-l", selector, "-o",
                                  "jsonpath={.items[*].metadata.name}").stdout.split()

    assert names("app=x") == ["a1", "a2"]
    assert names("app!=x") == ["b1", "c1"]
    assert names("app in (x,y),!tier") == ["a2", "b1"]
    assert names("app") == ["a1", "a2", "b1"]
    proc = api_server.kubectl("get", "-n", ns, "cm", "-l", "app=nope", check=False)
    assert proc.returncode == 0
    assert proc.stderr.strip() == f"No resources found in {ns} namespace."


def test_get_field_selector(api_server: RunningServer, ns: str) -> None:
    _configmaps(api_server, ns, ["x", "y", "z"])
    out = api_server.kubectl("get", "-n", ns, "cm", "--field-selector", "metadata.name=x",
                             "-o", "name").stdout
    assert out.splitlines() == ["configmap/x"]
    out = api_server.kubectl("get", "-n", ns, "cm", "--field-selector", "metadata.name!=x",
                             "-o", "name").stdout
    assert out.splitlines() == ["configmap/y", "configmap/z"]
    proc = api_server.kubectl("get", "-n", ns, "cm", "--field-selector", "data.key=x",
                              check=False)
    assert proc.returncode == 1
    assert ('"data.key" is not a known field selector: only "metadata.name", '
            '"metadata.namespace"') in proc.stderr


def test_get_chunked(api_server: RunningServer, ns: str) -> None:
    names = [f"cm-{i}" for i in range(1, 8)]
    _configmaps(api_server, ns, names)
    proc = api_server.kubectl("get", "-n", ns, "cm", "--chunk-size=2", "-o", "name", "-v=6")
    assert proc.stdout.splitlines() == [f"configmap/{n}" for n in names]
    requests = re.findall(r'url="([^"]*/configmaps\?[^"]*)"', proc.stderr)
    assert len(requests) == 4, proc.stderr
    assert all("limit=2" in url for url in requests)
    assert all("continue=" in url for url in requests[1:])
    # The table printer pages too, with one header.
    table = api_server.kubectl("get", "-n", ns, "cm", "--chunk-size=2").stdout
    rows = _rows(table)
    assert rows[0] == ["NAME", "DATA", "AGE"]
    assert [r[0] for r in rows[1:]] == names


def test_get_all_namespaces(api_server: RunningServer, ns: str) -> None:
    other = ns[:55] + "-other"
    api_server.kubectl("create", "-f", "-", input=namespace_manifest(other))
    _configmaps(api_server, ns, ["first"])
    _configmaps(api_server, other, ["second"])
    out = api_server.kubectl("get", "cm", "-A", "--no-headers", "-o",
                             "custom-columns=NS:.metadata.namespace,NAME:.metadata.name").stdout
    rows = _rows(out)
    assert [ns, "first"] in rows
    assert [other, "second"] in rows
    table = _rows(api_server.kubectl("get", "-A", "svc").stdout)
    assert table[0][:2] == ["NAMESPACE", "NAME"]
    assert ["default", "kubernetes"] in [r[:2] for r in table[1:]]


def test_get_cluster_scoped(api_server: RunningServer, ns: str) -> None:
    rows = _rows(api_server.kubectl("get", "namespaces").stdout)
    assert rows[0] == ["NAME", "STATUS", "AGE"]
    by_name = {r[0]: r for r in rows[1:]}
    for name in ("default", "kube-system", "kube-public", "kube-node-lease", ns):
        assert by_name[name][1] == "Active"


def test_get_all_category(api_server: RunningServer, web: str) -> None:
    out = api_server.kubectl("get", "all", "-n", web, "-o", "name").stdout
    lines = out.splitlines()
    assert "service/web" in lines
    assert "deployment.apps/web" in lines
    # ConfigMaps are not in the "all" category.
    assert not any(line.startswith("configmap/") for line in lines)
