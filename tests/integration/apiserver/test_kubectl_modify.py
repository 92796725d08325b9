"""kubectl describe, label, annotate, patch (json, merge, strategic), edit, replace and
delete, driven by the real kubectl.

Every test creates its own namespace on the module's one server.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import RunningServer

pytestmark = pytest.mark.integration

TESTDATA = Path(__file__).parent / "testdata"


@pytest.fixture
def ns(api_server: RunningServer, kubectl_namespace: str) -> str:
    """A fresh namespace named after the test holding the sample Deployment, Service and
    ConfigMap."""
    name = kubectl_namespace
    api_server.kubectl("create", "-n", name, "-f", str(TESTDATA / "deployment.yaml"),
                       "-f", str(TESTDATA / "service.yaml"),
                       "-f", str(TESTDATA / "configmap.yaml"))
    return name


def _get_json(server: RunningServer, *args: str) -> Any:
    return json.loads(server.kubectl("get", *args, "-o", "json").stdout)


def _containers(server: RunningServer, ns: str) -> list[dict[str, Any]]:
    deploy = _get_json(server, "-n", ns, "deploy", "web")
    return list(deploy["spec"]["template"]["spec"]["containers"])


def _field(text: str, name: str) -> str:
    """The value of a top-level ``Name:  value`` line of describe output."""
    match = re.search(rf"^{re.escape(name)}:[ \t]*(.*)$", text, re.M)
    assert match, f"no {name!r} in:\n{text}"
    return match.group(1).strip()


# ---- describe ------------------------------------------------------------------------------

def test_describe_deployment(api_server: RunningServer, ns: str) -> None:
    out = api_server.kubectl("describe", "-n", ns, "deployment", "web").stdout
    assert _field(out, "Name") == "web"
    assert _field(out, "Namespace") == ns
    assert _field(out, "Selector") == "app=web"
    assert _field(out, "Replicas") == \
        "2 desired | 0 updated | 0 total | 0 available | 0 unavailable"
    assert re.search(r"^Labels:\s+app=web\n\s+tier=frontend$", out, re.M), out
    assert "Pod Template:" in out
    assert re.search(r"^   nginx:\n    Image:\s+nginx:1\.27$", out, re.M), out
    assert re.search(r"^   sidecar:\n    Image:\s+busybox:1\.36$", out, re.M), out
    assert re.search(r"^Events:\s+<none>$", out, re.M), out


def test_describe_deployment_shows_defaults(api_server: RunningServer, ns: str) -> None:
    out = api_server.kubectl("describe", "-n", ns, "deployment", "web").stdout
    assert _field(out, "StrategyType") == "RollingUpdate"
    assert _field(out, "RollingUpdateStrategy") == "25% max unavailable, 25% max surge"
    assert re.search(r"^    Ports:\s+80/TCP \(http\), 9113/TCP \(metrics\)$", out, re.M), out
    svc = api_server.kubectl("describe", "-n", ns, "service", "web").stdout
    assert _field(svc, "Type") == "ClusterIP"
    assert _field(svc, "Port") == "http  80/TCP"
    assert _field(svc, "Session Affinity") == "None"


def test_describe_configmap(api_server: RunningServer, ns: str) -> None:
    out = api_server.kubectl("describe", "-n", ns, "configmap", "app-config").stdout
    assert _field(out, "Name") == "app-config"
    assert _field(out, "Namespace") == ns
    assert _field(out, "Annotations") == "<none>"
    assert "Data\n====\ncolor:\n----\nblue\n" in out
    assert "size:\n----\nlarge\n" in out


# ---- label and annotate --------------------------------------------------------------------

def test_label(api_server: RunningServer, ns: str) -> None:
    def labels() -> dict[str, str]:
        return dict(_get_json(api_server, "-n", ns, "cm", "app-config")["metadata"]["labels"])

    out = api_server.kubectl("label", "-n", ns, "cm", "app-config", "env=dev").stdout
    assert out.strip() == "configmap/app-config labeled"
    assert labels()["env"] == "dev"

    proc = api_server.kubectl("label", "-n", ns, "cm", "app-config", "env=prod", check=False)
    assert proc.returncode == 1
    assert "'env' already has a value (dev), and --overwrite is false" in proc.stderr
    assert labels()["env"] == "dev"

    api_server.kubectl("label", "-n", ns, "cm", "app-config", "env=prod", "--overwrite")
    assert labels()["env"] == "prod"

    out = api_server.kubectl("label", "-n", ns, "cm", "app-config", "tier-").stdout
    assert out.strip() == "configmap/app-config unlabeled"
    assert labels() == {"app": "web", "env": "prod"}


def test_label_by_selector_and_stale_resource_version(api_server: RunningServer,
                                                      ns: str) -> None:
    out = api_server.kubectl("label", "-n", ns, "deploy,svc,cm", "-l", "app=web",
                             "team=blue").stdout
    assert sorted(out.splitlines()) == ["configmap/app-config labeled",
                                        "deployment.apps/web labeled", "service/web labeled"]
    rv = _get_json(api_server, "-n", ns, "cm", "app-config")["metadata"]["resourceVersion"]
    api_server.kubectl("label", "-n", ns, "cm", "app-config", "a=1", f"--resource-version={rv}")
    proc = api_server.kubectl("label", "-n", ns, "cm", "app-config", "b=2",
                              f"--resource-version={rv}", check=False)
    assert proc.returncode == 1
    assert ('Operation cannot be fulfilled on configmaps "app-config": the object has been '
            "modified; please apply your changes to the latest version and try again"
            ) in proc.stderr
    assert "b" not in _get_json(api_server, "-n", ns, "cm", "app-config")["metadata"]["labels"]


def test_annotate(api_server: RunningServer, ns: str) -> None:
    out = api_server.kubectl("annotate", "-n", ns, "cm", "app-config",
                             "note=hello world", "owner=team-a").stdout
    assert out.strip() == "configmap/app-config annotated"
    meta = _get_json(api_server, "-n", ns, "cm", "app-config")["metadata"]
    assert meta["annotations"] == {"note": "hello world", "owner": "team-a"}
    api_server.kubectl("annotate", "-n", ns, "cm", "app-config", "note-")
    meta = _get_json(api_server, "-n", ns, "cm", "app-config")["metadata"]
    assert meta["annotations"] == {"owner": "team-a"}
    described = api_server.kubectl("describe", "-n", ns, "cm", "app-config").stdout
    assert _field(described, "Annotations") == "owner: team-a"


# ---- patch ---------------------------------------------------------------------------------

def test_patch_json(api_server: RunningServer, ns: str) -> None:
    ops = [{"op": "replace", "path": "/data/color", "value": "red"},
           {"op": "add", "path": "/data/new", "value": "x"},
           {"op": "remove", "path": "/data/size"},
           {"op": "add", "path": "/metadata/labels/patched", "value": "json"}]
    out = api_server.kubectl("patch", "-n", ns, "cm", "app-config", "--type", "json",
                             "-p", json.dumps(ops)).stdout
    assert out.strip() == "configmap/app-config patched"
    cm = _get_json(api_server, "-n", ns, "cm", "app-config")
    assert cm["data"] == {"color": "red", "new": "x"}
    assert cm["metadata"]["labels"]["patched"] == "json"
    # A failing "test" op rejects the whole patch.
    failing = [{"op": "replace", "path": "/data/color", "value": "green"},
               {"op": "test", "path": "/data/color", "value": "blue"}]
    proc = api_server.kubectl("patch", "-n", ns, "cm", "app-config", "--type", "json",
                              "-p", json.dumps(failing), check=False)
    assert proc.returncode == 1
    # Upstream answers a failed JSON patch with a bare 422 (NewGenericServerResponse).
    assert proc.stderr.strip() == ("The request is invalid: the server rejected our request "
                                   "due to an error in our request")
    assert _get_json(api_server, "-n", ns, "cm", "app-config")["data"]["color"] == "red"


def test_patch_merge(api_server: RunningServer, ns: str) -> None:
    api_server.kubectl("patch", "-n", ns, "cm", "app-config", "--type", "merge",
                       "-p", '{"data":{"size":null,"shape":"round"}}')
    cm = _get_json(api_server, "-n", ns, "cm", "app-config")
    assert cm["data"] == {"color": "blue", "shape": "round"}
    # A merge patch replaces lists whole.
    api_server.kubectl("patch", "-n", ns, "deploy", "web", "--type", "merge", "-p", json.dumps(
        {"spec": {"template": {"spec": {"containers": [{"name": "only", "image": "x:1"}]}}}}))
    assert [(c["name"], c["image"]) for c in _containers(api_server, ns)] == [("only", "x:1")]
    out = api_server.kubectl("patch", "-n", ns, "cm", "app-config", "--type", "merge",
                             "-p", '{"data":{"shape":"round"}}').stdout
    assert out.strip() == "configmap/app-config patched (no change)"


def test_patch_strategic_merges_containers_by_name(api_server: RunningServer, ns: str) -> None:
    patch = {"spec": {"template": {"spec": {"containers": [
        {"name": "sidecar", "image": "busybox:1.37"},
        {"name": "extra", "image": "redis:7"}]}}}}
    out = api_server.kubectl("patch", "-n", ns, "deploy", "web", "--type", "strategic",
                             "-p", json.dumps(patch)).stdout
    assert out.strip() == "deployment.apps/web patched"
    containers = _containers(api_server, ns)
    assert [(c["name"], c["image"]) for c in containers] == [
        ("nginx", "nginx:1.27"), ("sidecar", "busybox:1.37"), ("extra", "redis:7")]
    assert containers[1]["command"] == ["sleep", "infinity"]
    assert _get_json(api_server, "-n", ns, "deploy", "web")["metadata"]["generation"] == 2

    # Ports merge by containerPort; the $patch directive deletes a list element.
    patch = {"spec": {"template": {"spec": {"containers": [
        {"name": "nginx", "ports": [{"containerPort": 443, "name": "https"}]},
        {"name": "extra", "$patch": "delete"}]}}}}
    api_server.kubectl("patch", "-n", ns, "deploy", "web", "-p", json.dumps(patch))
    containers = _containers(api_server, ns)
    assert [c["name"] for c in containers] == ["nginx", "sidecar"]
    assert sorted(p["containerPort"] for p in containers[0]["ports"]) == [80, 443, 9113]


def test_scale_and_set(api_server: RunningServer, ns: str) -> None:
    """``scale`` goes through the scale subresource; ``set`` sends strategic merge patches."""
    out = api_server.kubectl("scale", "-n", ns, "deploy", "web", "--replicas=4").stdout
    assert out.strip() == "deployment.apps/web scaled"
    scale = _get_json(api_server, "-n", ns, "deploy", "web", "--subresource=scale")
    assert scale["kind"] == "Scale"
    assert scale["apiVersion"] == "autoscaling/v1"
    assert scale["spec"] == {"replicas": 4}
    assert scale["status"]["selector"] == "app=web"
    # A precondition on the current size.
    proc = api_server.kubectl("scale", "-n", ns, "deploy", "web", "--current-replicas=2",
                              "--replicas=1", check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip() == "error: Expected replicas to be 2, was 4"

    out = api_server.kubectl("set", "image", "-n", ns, "deploy/web", "nginx=nginx:1.29").stdout
    assert out.strip() == "deployment.apps/web image updated"
    api_server.kubectl("set", "env", "-n", ns, "deploy/web", "-c", "sidecar", "MODE=debug")
    containers = _containers(api_server, ns)
    assert [c["image"] for c in containers] == ["nginx:1.29", "busybox:1.36"]
    assert containers[1]["env"] == [{"name": "MODE", "value": "debug"}]
    assert "env" not in containers[0]
    assert _get_json(api_server, "-n", ns, "deploy", "web")["spec"]["replicas"] == 4


def test_server_dry_run_changes_nothing(api_server: RunningServer, ns: str) -> None:
    changed = (TESTDATA / "configmap.yaml").read_text().replace("color: blue", "color: red")
    out = api_server.kubectl("apply", "-n", ns, "--dry-run=server", "-f", "-",
                             input=changed).stdout
    assert out.strip() == "configmap/app-config configured (server dry run)"
    out = api_server.kubectl("patch", "-n", ns, "cm", "app-config", "--dry-run=server",
                             "--type", "merge", "-p", '{"data":{"color":"green"}}',
                             "-o", "jsonpath={.data.color}").stdout
    assert out == "green"
    assert _get_json(api_server, "-n", ns, "cm", "app-config")["data"]["color"] == "blue"
    out = api_server.kubectl("delete", "-n", ns, "cm", "app-config", "--dry-run=server").stdout
    assert out.strip() == f'configmap "app-config" deleted from {ns} namespace (server dry run)'
    # kubectl sends dryRun in the DeleteOptions body, not in the query.
    assert api_server.kubectl("get", "-n", ns, "cm", "app-config", "-o", "name").stdout \
        .strip() == "configmap/app-config"


def test_diff(api_server: RunningServer, ns: str) -> None:
    api_server.kubectl("apply", "-n", ns, "-f", str(TESTDATA / "configmap.yaml"))
    same = api_server.kubectl("diff", "-n", ns, "-f", str(TESTDATA / "configmap.yaml"))
    assert same.stdout == ""
    changed = (TESTDATA / "configmap.yaml").read_text().replace("color: blue", "color: red")
    for extra in ([], ["--server-side"]):
        proc = api_server.kubectl("diff", "-n", ns, *extra, "-f", "-", input=changed,
                                  check=False)
        assert proc.returncode == 1, proc.stderr
        assert "\n-  color: blue\n+  color: red\n" in proc.stdout
    assert _get_json(api_server, "-n", ns, "cm", "app-config")["data"]["color"] == "blue"


# ---- edit ----------------------------------------------------------------------------------

def _editor(tmp_path: Path, script: str) -> dict[str, str]:
    path = tmp_path / "editor.sh"
    path.write_text(f'#!/bin/sh\nset -e\n{script}\n')
    path.chmod(0o755)
    return {"KUBE_EDITOR": str(path), "EDITOR": str(path)}


def test_edit(api_server: RunningServer, ns: str, tmp_path: Path) -> None:
    env = _editor(tmp_path, """sed -i -e 's/color: blue/color: purple/' "$1" """)
    out = api_server.kubectl("edit", "-n", ns, "cm", "app-config", env=env).stdout
    assert out.strip() == "configmap/app-config edited"
    assert _get_json(api_server, "-n", ns, "cm", "app-config")["data"]["color"] == "purple"

    env = _editor(tmp_path, """sed -i -e 's/replicas: 2/replicas: 5/' "$1" """)
    api_server.kubectl("edit", "-n", ns, "deploy", "web", env=env)
    assert _get_json(api_server, "-n", ns, "deploy", "web")["spec"]["replicas"] == 5

    env = _editor(tmp_path, "true")
    proc = api_server.kubectl("edit", "-n", ns, "cm", "app-config", env=env)
    assert "Edit cancelled, no changes made." in proc.stdout + proc.stderr


# ---- replace -------------------------------------------------------------------------------

def test_replace(api_server: RunningServer, ns: str, tmp_path: Path) -> None:
    current = yaml.safe_load(api_server.kubectl("get", "-n", ns, "cm", "app-config",
                                                "-o", "yaml").stdout)
    current["data"]["color"] = "orange"
    edited = tmp_path / "cm.yaml"
    edited.write_text(yaml.safe_dump(current))
    out = api_server.kubectl("replace", "-f", str(edited)).stdout
    assert out.strip() == "configmap/app-config replaced"
    cm = _get_json(api_server, "-n", ns, "cm", "app-config")
    assert cm["data"]["color"] == "orange"
    assert cm["metadata"]["uid"] == current["metadata"]["uid"]

    # The file still carries the old resourceVersion.
    proc = api_server.kubectl("replace", "-f", str(edited), check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        f'Error from server (Conflict): error when replacing "{edited}": Operation cannot be '
        'fulfilled on configmaps "app-config": the object has been modified; please apply '
        "your changes to the latest version and try again")

    # Without a resourceVersion the replace is unconditional and drops unlisted fields.
    plain = (TESTDATA / "configmap.yaml").read_text().replace("  size: large\n", "")
    api_server.kubectl("replace", "-n", ns, "-f", "-", input=plain)
    assert _get_json(api_server, "-n", ns, "cm", "app-config")["data"] == {"color": "blue"}


def test_replace_service_keeps_allocated_cluster_ip(api_server: RunningServer,
                                                    ns: str) -> None:
    """Upstream patches allocated values (clusterIP(s), ipFamilies) the client left out
    back in, so replacing a Service from its manifest works."""
    ip = _get_json(api_server, "-n", ns, "svc", "web")["spec"]["clusterIP"]
    manifest = (TESTDATA / "service.yaml").read_text().replace("port: 80", "port: 8080")
    out = api_server.kubectl("replace", "-n", ns, "-f", "-", input=manifest).stdout
    assert out.strip() == "service/web replaced"
    spec = _get_json(api_server, "-n", ns, "svc", "web")["spec"]
    assert spec["clusterIP"] == ip
    assert spec["clusterIPs"] == [ip]
    assert spec["ports"][0]["port"] == 8080


def test_replace_force_recreates(api_server: RunningServer, ns: str) -> None:
    uid = _get_json(api_server, "-n", ns, "cm", "app-config")["metadata"]["uid"]
    out = api_server.kubectl("replace", "--force", "-n", ns, "-f",
                             str(TESTDATA / "configmap.yaml")).stdout
    assert out.splitlines() == [f'configmap "app-config" deleted from {ns} namespace',
                                "configmap/app-config replaced"]
    assert _get_json(api_server, "-n", ns, "cm", "app-config")["metadata"]["uid"] != uid


def test_replace_missing_object_is_not_found(api_server: RunningServer, ns: str) -> None:
    manifest = (TESTDATA / "configmap.yaml").read_text().replace("app-config", "missing")
    proc = api_server.kubectl("replace", "-n", ns, "-f", "-", input=manifest, check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip() == ('Error from server (NotFound): error when replacing '
                                   '"STDIN": configmaps "missing" not found')


# ---- delete --------------------------------------------------------------------------------

def _create_configmaps(server: RunningServer, ns: str, labels: dict[str, str]) -> None:
    docs = [{"apiVersion": "v1", "kind": "ConfigMap",
             "metadata": {"name": name, "labels": {"grp": grp}}}
            for name, grp in labels.items()]
    server.kubectl("create", "-n", ns, "-f", "-",
                   input="\n---\n".join(json.dumps(d) for d in docs))


def _cm_names(server: RunningServer, ns: str) -> list[str]:
    return server.kubectl("get", "-n", ns, "cm", "-o",
                          "jsonpath={.items[*].metadata.name}").stdout.split()


def test_delete_by_name_label_and_all(api_server: RunningServer, ns: str) -> None:
    _create_configmaps(api_server, ns, {"a1": "a", "a2": "a", "b1": "b", "c1": "c"})
    out = api_server.kubectl("delete", "-n", ns, "cm", "c1").stdout
    assert out.strip() == f'configmap "c1" deleted from {ns} namespace'
    assert _cm_names(api_server, ns) == ["a1", "a2", "app-config", "b1"]

    out = api_server.kubectl("delete", "-n", ns, "cm", "-l", "grp=a").stdout
    assert out.splitlines() == [f'configmap "a1" deleted from {ns} namespace',
                                f'configmap "a2" deleted from {ns} namespace']
    assert _cm_names(api_server, ns) == ["app-config", "b1"]

    api_server.kubectl("delete", "-n", ns, "cm", "--all")
    proc = api_server.kubectl("get", "-n", ns, "cm")
    assert proc.stdout == ""
    assert proc.stderr.strip() == f"No resources found in {ns} namespace."
    # The other kinds are untouched.
    assert api_server.kubectl("get", "-n", ns, "deploy,svc", "-o", "name").stdout.split() == [
        "deployment.apps/web", "service/web"]


def test_delete_from_file_and_not_found(api_server: RunningServer, ns: str) -> None:
    out = api_server.kubectl("delete", "-n", ns, "-f", str(TESTDATA / "deployment.yaml")).stdout
    assert out.strip() == f'deployment.apps "web" deleted from {ns} namespace'
    proc = api_server.kubectl("get", "-n", ns, "deploy", "web", check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip() == \
        'Error from server (NotFound): deployments.apps "web" not found'
    proc = api_server.kubectl("delete", "-n", ns, "deploy", "web", check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip() == \
        'Error from server (NotFound): deployments.apps "web" not found'
    proc = api_server.kubectl("delete", "-n", ns, "deploy", "web", "--ignore-not-found")
    assert proc.stdout == ""
    assert proc.stderr == ""


def test_delete_namespace_goes_terminating(api_server: RunningServer, ns: str) -> None:
    out = api_server.kubectl("delete", "ns", ns, "--wait=false").stdout
    assert out.strip() == f'namespace "{ns}" deleted'
    obj = _get_json(api_server, "ns", ns)
    assert obj["status"]["phase"] == "Terminating"
    assert obj["metadata"]["deletionTimestamp"]
    assert obj["spec"]["finalizers"] == ["kubernetes"]
    rows = api_server.kubectl("get", "ns", ns, "--no-headers").stdout.split()
    assert rows[:2] == [ns, "Terminating"]
    manifest = (TESTDATA / "configmap.yaml").read_text().replace("app-config", "late")
    proc = api_server.kubectl("create", "-n", ns, "-f", "-", input=manifest, check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        'Error from server (Forbidden): error when creating "STDIN": configmaps "late" is '
        f"forbidden: unable to create new content in namespace {ns} because it is being "
        "terminated")
