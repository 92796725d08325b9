"""Errors as the real kubectl prints them: NotFound, AlreadyExists, strict field
validation, invalid names and values, and kinds the server does not serve.

Every test creates its own namespace on the module's one server.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import RunningServer, namespace_manifest

pytestmark = pytest.mark.integration

TESTDATA = Path(__file__).parent / "testdata"

DNS1123_SUBDOMAIN = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
    "'-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "
    r"regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*"
    r"[a-z0-9])?)*')")
DNS1123_LABEL = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', "
    "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
DNS1035_LABEL = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with "
    "an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
    "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')")


@pytest.fixture
def ns(kubectl_namespace: str) -> str:
    """A fresh namespace named after the test."""
    return kubectl_namespace


def _manifest(name: str) -> str:
    return (TESTDATA / name).read_text()


def _fails(server: RunningServer, *args: str, input: str | None = None) -> str:
    """Run kubectl expecting exit code 1; return its stderr, stripped."""
    proc = server.kubectl(*args, input=input, check=False)
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    return proc.stderr.strip()


def _absent(server: RunningServer, ns: str, resource: str, name: str) -> None:
    proc = server.kubectl("get", "-n", ns, resource, name, "--ignore-not-found", "-o", "name")
    assert proc.stdout == "", f"{resource}/{name} exists"


WITH_BOGUS = _manifest("deployment.yaml").replace("spec:\n  replicas", "spec:\n  bogus: 1\n"
                                                  "  replicas", 1)


def test_not_found(api_server: RunningServer, ns: str) -> None:
    assert _fails(api_server, "get", "-n", ns, "pods", "nosuch") == \
        'Error from server (NotFound): pods "nosuch" not found'
    assert _fails(api_server, "get", "-n", ns, "deploy", "nosuch") == \
        'Error from server (NotFound): deployments.apps "nosuch" not found'
    assert _fails(api_server, "get", "ns", "nosuch") == \
        'Error from server (NotFound): namespaces "nosuch" not found'
    # Listing an empty (even a missing) namespace is not an error.
    proc = api_server.kubectl("get", "-n", "missing-namespace", "cm")
    assert proc.stderr.strip() == "No resources found in missing-namespace namespace."


def test_already_exists(api_server: RunningServer, ns: str) -> None:
    path = str(TESTDATA / "configmap.yaml")
    api_server.kubectl("create", "-n", ns, "-f", path)
    assert _fails(api_server, "create", "-n", ns, "-f", path) == (
        f'Error from server (AlreadyExists): error when creating "{path}": configmaps '
        '"app-config" already exists')


def test_unknown_field_rejected(api_server: RunningServer, ns: str) -> None:
    err = _fails(api_server, "apply", "-n", ns, "-f", "-", input=WITH_BOGUS)
    assert err.startswith('Error from server (BadRequest): error when creating "STDIN": ')
    assert err.endswith('strict decoding error: unknown field "spec.bogus"')
    _absent(api_server, ns, "deploy", "web")
    err = _fails(api_server, "create", "-n", ns, "-f", "-", input=WITH_BOGUS)
    assert err.endswith('strict decoding error: unknown field "spec.bogus"')
    _absent(api_server, ns, "deploy", "web")


def test_unknown_field_error_names_the_kind(api_server: RunningServer, ns: str) -> None:
    assert _fails(api_server, "create", "-n", ns, "-f", "-", input=WITH_BOGUS) == (
        'Error from server (BadRequest): error when creating "STDIN": Deployment in version '
        '"v1" cannot be handled as a Deployment: strict decoding error: unknown field '
        '"spec.bogus"')


def test_unknown_field_ignored_or_warned(api_server: RunningServer, ns: str) -> None:
    proc = api_server.kubectl("create", "-n", ns, "--validate=warn", "-f", "-",
                              input=WITH_BOGUS)
    assert 'Warning: unknown field "spec.bogus"' in proc.stderr
    api_server.kubectl("delete", "-n", ns, "deploy", "web")
    api_server.kubectl("create", "-n", ns, "--validate=false", "-f", "-", input=WITH_BOGUS)
    deploy = json.loads(api_server.kubectl("get", "-n", ns, "deploy", "web", "-o",
                                           "json").stdout)
    assert "bogus" not in deploy["spec"]


def test_wrong_type_rejected(api_server: RunningServer, ns: str) -> None:
    manifest = _manifest("deployment.yaml").replace("replicas: 2", 'replicas: "two"')
    err = _fails(api_server, "create", "-n", ns, "-f", "-", input=manifest)
    assert err.startswith('Error from server (BadRequest): error when creating "STDIN": '
                          'Deployment in version "v1" cannot be handled as a Deployment:')
    assert "spec.replicas" in err
    _absent(api_server, ns, "deploy", "web")
    configmap = _manifest("configmap.yaml").replace("color: blue", "color: 1")
    err = _fails(api_server, "create", "-n", ns, "-f", "-", input=configmap)
    assert err.startswith('Error from server (BadRequest): error when creating "STDIN": '
                          'ConfigMap in version "v1" cannot be handled as a ConfigMap:')
    assert "ConfigMap.data" in err
    _absent(api_server, ns, "cm", "app-config")


def test_invalid_names(api_server: RunningServer, ns: str) -> None:
    configmap = _manifest("configmap.yaml").replace("name: app-config", "name: Foo_Bar")
    assert _fails(api_server, "create", "-n", ns, "-f", "-", input=configmap) == (
        'The ConfigMap "Foo_Bar" is invalid: metadata.name: Invalid value: "Foo_Bar": '
        + DNS1123_SUBDOMAIN)
    service = _manifest("service.yaml").replace("name: web\n", "name: 1web\n", 1)
    assert _fails(api_server, "create", "-n", ns, "-f", "-", input=service) == (
        'The Service "1web" is invalid: metadata.name: Invalid value: "1web": '
        + DNS1035_LABEL)
    namespace = namespace_manifest("Foo_Bar")
    assert _fails(api_server, "create", "-f", "-", input=namespace) == (
        'The Namespace "Foo_Bar" is invalid: metadata.name: Invalid value: "Foo_Bar": '
        + DNS1123_LABEL)
    # A valid subdomain that is not a valid label gets the short message.
    assert _fails(api_server, "create", "-f", "-", input=namespace_manifest("a.b")) == (
        'The Namespace "a.b" is invalid: metadata.name: Invalid value: "a.b": must not '
        "contain dots")


def test_invalid_values(api_server: RunningServer, ns: str) -> None:
    manifest = _manifest("deployment.yaml").replace("replicas: 2", "replicas: -1")
    assert _fails(api_server, "apply", "-n", ns, "-f", "-", input=manifest) == (
        'The Deployment "web" is invalid: spec.replicas: Invalid value: -1: must be greater '
        "than or equal to 0")
    manifest = _manifest("deployment.yaml").replace(
        "  template:\n    metadata:\n      labels:\n        app: web",
        "  template:\n    metadata:\n      labels:\n        app: other")
    err = _fails(api_server, "apply", "-n", ns, "-f", "-", input=manifest)
    # Upstream prints the map with Go's %#v (map[string]string{"app":"other"}).
    assert err.startswith('The Deployment "web" is invalid: spec.template.metadata.labels: '
                          "Invalid value: ")
    assert '"app":"other"' in err
    assert err.endswith(": `selector` does not match template `labels`")
    _absent(api_server, ns, "deploy", "web")


def test_wrong_api_version_for_kind(api_server: RunningServer, ns: str) -> None:
    manifest = _manifest("deployment.yaml").replace("apiVersion: apps/v1", "apiVersion: v1")
    assert _fails(api_server, "apply", "-n", ns, "-f", "-", input=manifest) == (
        'error: resource mapping not found for name: "web" namespace: "" from "STDIN": '
        'no matches for kind "Deployment" in version "v1"\n'
        "ensure CRDs are installed first")
    manifest = _manifest("configmap.yaml").replace("apiVersion: v1", "apiVersion: apps/v1")
    err = _fails(api_server, "create", "-n", ns, "-f", "-", input=manifest)
    assert 'no matches for kind "ConfigMap" in version "apps/v1"' in err
    assert _fails(api_server, "get", "foos") == \
        'error: the server doesn\'t have a resource type "foos"'


def test_dry_run_server_persists_nothing(api_server: RunningServer, ns: str) -> None:
    out = api_server.kubectl("create", "-n", ns, "--dry-run=server", "-f",
                             str(TESTDATA / "configmap.yaml")).stdout
    assert out.strip() == "configmap/app-config created (server dry run)"
    _absent(api_server, ns, "cm", "app-config")
    # Validation still runs on a dry run.
    configmap = _manifest("configmap.yaml").replace("name: app-config", "name: Foo_Bar")
    err = _fails(api_server, "create", "-n", ns, "--dry-run=server", "-f", "-",
                 input=configmap)
    assert err.startswith('The ConfigMap "Foo_Bar" is invalid: metadata.name')
