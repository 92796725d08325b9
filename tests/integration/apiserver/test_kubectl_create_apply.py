"""kubectl create -f, client-side apply and server-side apply, driven by the real kubectl.

Every test creates its own namespace on the module's one server, so tests are independent
of each other and of their order.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RunningServer

pytestmark = pytest.mark.integration

TESTDATA = Path(__file__).parent / "testdata"


@pytest.fixture
def ns(kubectl_namespace: str) -> str:
    """A fresh namespace named after the test (created from a manifest: kubectl's
    ``create namespace`` generator sends protobuf)."""
    return kubectl_namespace


def _manifest(name: str) -> str:
    return (TESTDATA / name).read_text()


def _get_json(server: RunningServer, *args: str) -> Any:
    return json.loads(server.kubectl("get", *args, "-o", "json").stdout)


def _managers(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["manager"]: m for m in obj["metadata"].get("managedFields", [])}


# ---- kubectl create -f ---------------------------------------------------------------------

def test_create_from_files(api_server: RunningServer, ns: str) -> None:
    files = ["configmap.yaml", "secret.yaml", "deployment.yaml", "service.yaml"]
    args = [a for f in files for a in ("-f", str(TESTDATA / f))]
    out = api_server.kubectl("create", "-n", ns, *args).stdout
    assert out.splitlines() == ["configmap/app-config created", "secret/app-secret created",
                                "deployment.apps/web created", "service/web created"]

    cm = _get_json(api_server, "-n", ns, "configmap", "app-config")
    assert cm["data"] == {"color": "blue", "size": "large"}
    assert cm["metadata"]["labels"] == {"app": "web", "tier": "frontend"}
    assert cm["metadata"]["namespace"] == ns
    assert re.fullmatch(r"[0-9a-f-]{36}", cm["metadata"]["uid"])
    assert int(cm["metadata"]["resourceVersion"]) > 0
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", cm["metadata"]["creationTimestamp"])

    secret = _get_json(api_server, "-n", ns, "secret", "app-secret")
    assert secret["type"] == "Opaque"
    assert secret["data"]["username"] == base64.b64encode(b"admin").decode()

    deploy = _get_json(api_server, "-n", ns, "deployment", "web")
    assert deploy["spec"]["replicas"] == 2
    assert deploy["metadata"]["generation"] == 1
    containers = deploy["spec"]["template"]["spec"]["containers"]
    assert [(c["name"], c["image"]) for c in containers] == [
        ("nginx", "nginx:1.27"), ("sidecar", "busybox:1.36")]

    svc = _get_json(api_server, "-n", ns, "service", "web")
    octets = [int(x) for x in svc["spec"]["clusterIP"].split(".")]
    # Allocated from the default service CIDR 10.96.0.0/12.
    assert octets[0] == 10
    assert 96 <= octets[1] <= 111
    assert svc["spec"]["clusterIPs"] == [svc["spec"]["clusterIP"]]
    assert svc["spec"]["ports"][0]["port"] == 80
    assert svc["spec"]["ports"][0]["targetPort"] == "http"


def test_create_secret_folds_string_data_into_data(api_server: RunningServer, ns: str) -> None:
    api_server.kubectl("create", "-n", ns, "-f", str(TESTDATA / "secret.yaml"))
    secret = _get_json(api_server, "-n", ns, "secret", "app-secret")
    assert "stringData" not in secret
    assert secret["data"] == {"username": base64.b64encode(b"admin").decode(),
                              "password": base64.b64encode(b"s3cr3t").decode()}
    table = api_server.kubectl("get", "-n", ns, "secret", "app-secret").stdout
    assert re.search(r"^app-secret\s+Opaque\s+2\s", table, re.M), table


def test_create_applies_defaults(api_server: RunningServer, ns: str) -> None:
    api_server.kubectl("create", "-n", ns, "-f", str(TESTDATA / "deployment.yaml"),
                       "-f", str(TESTDATA / "service.yaml"))
    deploy = _get_json(api_server, "-n", ns, "deployment", "web")
    spec = deploy["spec"]
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {
        "maxUnavailable": "25%", "maxSurge": "25%"}}
    assert spec["revisionHistoryLimit"] == 10
    assert spec["progressDeadlineSeconds"] == 600
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Always"
    assert pod["dnsPolicy"] == "ClusterFirst"
    assert pod["schedulerName"] == "default-scheduler"
    assert pod["terminationGracePeriodSeconds"] == 30
    nginx = pod["containers"][0]
    assert nginx["imagePullPolicy"] == "IfNotPresent"
    assert nginx["terminationMessagePath"] == "/dev/termination-log"
    assert nginx["terminationMessagePolicy"] == "File"
    assert [p["protocol"] for p in nginx["ports"]] == ["TCP", "TCP"]

    svc = _get_json(api_server, "-n", ns, "service", "web")["spec"]
    assert svc["type"] == "ClusterIP"
    assert svc["sessionAffinity"] == "None"
    assert svc["ports"][0]["protocol"] == "TCP"
    assert svc["ipFamilies"] == ["IPv4"]
    assert svc["ipFamilyPolicy"] == "SingleStack"
    assert svc["internalTrafficPolicy"] == "Cluster"


def test_create_namespace_from_file(api_server: RunningServer) -> None:
    out = api_server.kubectl("create", "-f", str(TESTDATA / "namespace.yaml")).stdout
    assert out.strip() == "namespace/created-from-file created"
    ns = _get_json(api_server, "namespace", "created-from-file")
    assert ns["metadata"]["labels"]["purpose"] == "kubectl-create"
    # Upstream labels every namespace with its own name.
    assert ns["metadata"]["labels"]["kubernetes.io/metadata.name"] == "created-from-file"
    assert ns["status"]["phase"] == "Active"
    assert ns["spec"]["finalizers"] == ["kubernetes"]
    table = api_server.kubectl("get", "ns", "created-from-file").stdout
    assert re.search(r"^created-from-file\s+Active\s", table, re.M), table


def test_create_then_namespaced_objects_land_in_manifest_namespace(
        api_server: RunningServer, ns: str) -> None:
    manifest = _manifest("configmap.yaml").replace(
        "  name: app-config\n", f"  name: app-config\n  namespace: {ns}\n")
    api_server.kubectl("create", "-f", "-", input=manifest)
    assert _get_json(api_server, "-n", ns, "cm", "app-config")["metadata"]["namespace"] == ns
    # A manifest namespace that contradicts -n is refused by kubectl itself.
    proc = api_server.kubectl("create", "-n", "default", "-f", "-", input=manifest,
                              check=False)
    assert proc.returncode == 1
    assert "does not match the namespace" in proc.stderr


# ---- client-side apply ---------------------------------------------------------------------

def test_apply_twice_reports_unchanged(api_server: RunningServer, ns: str) -> None:
    first = api_server.kubectl("apply", "-n", ns, "-f", str(TESTDATA / "deployment.yaml"))
    assert first.stdout.strip() == "deployment.apps/web created"
    rv = _get_json(api_server, "-n", ns, "deploy", "web")["metadata"]["resourceVersion"]
    second = api_server.kubectl("apply", "-n", ns, "-f", str(TESTDATA / "deployment.yaml"))
    assert second.stdout.strip() == "deployment.apps/web unchanged"
    deploy = _get_json(api_server, "-n", ns, "deploy", "web")
    assert deploy["metadata"]["resourceVersion"] == rv
    last = json.loads(deploy["metadata"]["annotations"][
        "kubectl.kubernetes.io/last-applied-configuration"])
    assert last["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
    assert last["metadata"]["namespace"] == ns


def test_apply_changed_field_is_configured(api_server: RunningServer, ns: str) -> None:
    api_server.kubectl("apply", "-n", ns, "-f", str(TESTDATA / "deployment.yaml"))
    changed = (_manifest("deployment.yaml").replace("nginx:1.27", "nginx:1.28")
               .replace("replicas: 2", "replicas: 3"))
    out = api_server.kubectl("apply", "-n", ns, "-f", "-", input=changed).stdout
    assert out.strip() == "deployment.apps/web configured"
    deploy = _get_json(api_server, "-n", ns, "deploy", "web")
    assert deploy["spec"]["replicas"] == 3
    containers = deploy["spec"]["template"]["spec"]["containers"]
    assert [c["image"] for c in containers] == ["nginx:1.28", "busybox:1.36"]
    assert deploy["metadata"]["generation"] == 2


def test_apply_removed_fields_are_removed(api_server: RunningServer, ns: str) -> None:
    api_server.kubectl("apply", "-n", ns, "-f", str(TESTDATA / "deployment.yaml"),
                       "-f", str(TESTDATA / "configmap.yaml"))
    deployment = (_manifest("deployment.yaml").replace("    tier: frontend\n", "")
                  .replace("        - containerPort: 9113\n          name: metrics\n", ""))
    configmap = (_manifest("configmap.yaml").replace("    tier: frontend\n", "")
                 .replace("  size: large\n", ""))
    out = api_server.kubectl("apply", "-n", ns, "-f", "-",
                             input=deployment + "---\n" + configmap).stdout
    assert out.splitlines() == ["deployment.apps/web configured",
                                "configmap/app-config configured"]
    deploy = _get_json(api_server, "-n", ns, "deploy", "web")
    assert deploy["metadata"]["labels"] == {"app": "web"}
    nginx = deploy["spec"]["template"]["spec"]["containers"][0]
    assert [(p["containerPort"], p["name"]) for p in nginx["ports"]] == [(80, "http")]
    cm = _get_json(api_server, "-n", ns, "cm", "app-config")
    assert cm["data"] == {"color": "blue"}
    assert cm["metadata"]["labels"] == {"app": "web"}


def test_apply_keeps_fields_set_by_others(api_server: RunningServer, ns: str) -> None:
    """Three-way merge: a label added by ``kubectl label`` survives a re-apply that does
    not mention it, while a field dropped from the manifest goes."""
    api_server.kubectl("apply", "-n", ns, "-f", str(TESTDATA / "configmap.yaml"))
    api_server.kubectl("label", "-n", ns, "cm", "app-config", "owner=ops")
    configmap = _manifest("configmap.yaml").replace("  size: large\n", "")
    api_server.kubectl("apply", "-n", ns, "-f", "-", input=configmap)
    cm = _get_json(api_server, "-n", ns, "cm", "app-config")
    assert cm["metadata"]["labels"] == {"app": "web", "tier": "frontend", "owner": "ops"}
    assert cm["data"] == {"color": "blue"}


# ---- server-side apply ---------------------------------------------------------------------

def test_server_side_apply_twice(api_server: RunningServer, ns: str) -> None:
    args = ("apply", "--server-side", "-n", ns, "-f", str(TESTDATA / "deployment.yaml"))
    assert api_server.kubectl(*args).stdout.strip() == "deployment.apps/web serverside-applied"
    first = _get_json(api_server, "-n", ns, "deploy", "web", "--show-managed-fields")
    assert api_server.kubectl(*args).stdout.strip() == "deployment.apps/web serverside-applied"
    second = _get_json(api_server, "-n", ns, "deploy", "web", "--show-managed-fields")
    # A no-op apply writes nothing.
    assert second["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    managers = _managers(second)
    assert list(managers) == ["kubectl"]
    entry = managers["kubectl"]
    assert entry["operation"] == "Apply"
    assert entry["apiVersion"] == "apps/v1"
    assert entry["fieldsType"] == "FieldsV1"
    containers = entry["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"]
    assert set(containers) == {'k:{"name":"nginx"}', 'k:{"name":"sidecar"}'}
    # SSA does not write the client-side last-applied annotation.
    assert "kubectl.kubernetes.io/last-applied-configuration" not in \
        second["metadata"].get("annotations", {})


def test_server_side_apply_changed_and_removed_fields(api_server: RunningServer,
                                                     ns: str) -> None:
    for name in ("deployment.yaml", "configmap.yaml"):
        api_server.kubectl("apply", "--server-side", "-n", ns, "-f", str(TESTDATA / name))
    deployment = (_manifest("deployment.yaml").replace("nginx:1.27", "nginx:1.28")
                  .replace("    tier: frontend\n", "")
                  .replace("        - containerPort: 9113\n          name: metrics\n", ""))
    configmap = (_manifest("configmap.yaml").replace("color: blue", "color: red")
                 .replace("    tier: frontend\n", "").replace("  size: large\n", ""))
    out = api_server.kubectl("apply", "--server-side", "-n", ns, "-f", "-",
                             input=deployment + "---\n" + configmap).stdout
    assert out.splitlines() == ["deployment.apps/web serverside-applied",
                                "configmap/app-config serverside-applied"]
    deploy = _get_json(api_server, "-n", ns, "deploy", "web")
    assert deploy["metadata"]["labels"] == {"app": "web"}
    nginx = deploy["spec"]["template"]["spec"]["containers"][0]
    assert nginx["image"] == "nginx:1.28"
    assert [p["containerPort"] for p in nginx["ports"]] == [80]
    cm = _get_json(api_server, "-n", ns, "cm", "app-config")
    assert cm["data"] == {"color": "red"}
    assert cm["metadata"]["labels"] == {"app": "web"}


def test_server_side_apply_conflict_then_force(api_server: RunningServer, ns: str) -> None:
    api_server.kubectl("apply", "--server-side", "-n", ns, "-f",
                       str(TESTDATA / "configmap.yaml"))
    green = _manifest("configmap.yaml").replace("color: blue", "color: green")
    proc = api_server.kubectl("apply", "--server-side", "--field-manager=other", "-n", ns,
                              "-f", "-", input=green, check=False)
    assert proc.returncode == 1
    assert 'Apply failed with 1 conflict: conflict with "kubectl": .data.color' in proc.stderr
    assert "--force-conflicts" in proc.stderr
    assert _get_json(api_server, "-n", ns, "cm", "app-config")["data"]["color"] == "blue"

    out = api_server.kubectl("apply", "--server-side", "--field-manager=other",
                             "--force-conflicts", "-n", ns, "-f", "-", input=green).stdout
    assert out.strip() == "configmap/app-config serverside-applied"
    cm = _get_json(api_server, "-n", ns, "cm", "app-config", "--show-managed-fields")
    assert cm["data"] == {"color": "green", "size": "large"}
    managers = _managers(cm)
    assert set(managers) == {"kubectl", "other"}
    # The forced field moved to the new manager; fields applied with equal values are shared.
    assert "f:color" in managers["other"]["fieldsV1"]["f:data"]
    assert "f:color" not in managers["kubectl"]["fieldsV1"]["f:data"]
    assert "f:size" in managers["kubectl"]["fieldsV1"]["f:data"]
    assert "f:size" in managers["other"]["fieldsV1"]["f:data"]

    # Now the original manager is the one that conflicts.
    blue = api_server.kubectl("apply", "--server-side", "-n", ns, "-f",
                              str(TESTDATA / "configmap.yaml"), check=False)
    assert blue.returncode == 1
    assert 'conflict with "other": .data.color' in blue.stderr


def test_server_side_apply_conflict_listing(api_server: RunningServer, ns: str) -> None:
    api_server.kubectl("apply", "--server-side", "-n", ns, "-f",
                       str(TESTDATA / "configmap.yaml"))
    both = (_manifest("configmap.yaml").replace("color: blue", "color: green")
            .replace("size: large", "size: small"))
    proc = api_server.kubectl("apply", "--server-side", "--field-manager=other", "-n", ns,
                              "-f", "-", input=both, check=False)
    assert proc.returncode == 1
    assert proc.stderr.startswith('error: Apply failed with 2 conflicts: conflicts with '
                                  '"kubectl":\n- .data.color\n- .data.size\n')
    # A field last written by an update (kubectl label) conflicts too, naming its version.
    api_server.kubectl("label", "-n", ns, "cm", "app-config", "tier=backend", "--overwrite")
    proc = api_server.kubectl("apply", "--server-side", "-n", ns, "-f",
                              str(TESTDATA / "configmap.yaml"), check=False)
    assert proc.returncode == 1
    assert proc.stderr.startswith('error: Apply failed with 1 conflict: conflict with '
                                  '"kubectl-label" using v1: .metadata.labels.tier\n')


def test_server_side_apply_takes_over_client_side_apply(api_server: RunningServer,
                                                       ns: str) -> None:
    """kubectl migrates client-side-apply ownership to its SSA manager, so switching to
    ``--server-side`` neither conflicts nor leaves removed fields behind."""
    api_server.kubectl("apply", "-n", ns, "-f", str(TESTDATA / "deployment.yaml"))
    deployment = (_manifest("deployment.yaml").replace("nginx:1.27", "nginx:1.28")
                  .replace("    tier: frontend\n", "")
                  .replace("        - containerPort: 9113\n          name: metrics\n", ""))
    out = api_server.kubectl("apply", "--server-side", "-n", ns, "-f", "-",
                             input=deployment).stdout
    assert out.strip() == "deployment.apps/web serverside-applied"
    deploy = _get_json(api_server, "-n", ns, "deploy", "web", "--show-managed-fields")
    assert deploy["metadata"]["labels"] == {"app": "web"}
    nginx = deploy["spec"]["template"]["spec"]["containers"][0]
    assert nginx["image"] == "nginx:1.28"
    assert [p["containerPort"] for p in nginx["ports"]] == [80]
    assert "kubectl-client-side-apply" not in _managers(deploy)
