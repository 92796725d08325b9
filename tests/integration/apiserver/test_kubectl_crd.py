"""CustomResourceDefinitions and custom resources, driven by the real kubectl: establish a
CRD, serve its resources with printer columns, the status subresource and schema
validation, then delete them.

The crontabs CRD is shared by the module (created once); each test works in its own
namespace. The lifecycle test creates and deletes a CRD of its own.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import RunningServer

pytestmark = pytest.mark.integration

TESTDATA = Path(__file__).parent / "testdata"
CRD = "customresourcedefinition.apiextensions.k8s.io/crontabs.stable.example.com"



@pytest.fixture(scope="module")
def crontabs(api_server: RunningServer) -> str:
    """The crontabs CRD, established."""
    out = api_server.kubectl("create", "-f", str(TESTDATA / "crd-crontab.yaml")).stdout
    assert out.strip() == f"{CRD} created"
    out = api_server.kubectl("wait", "--for", "condition=established", "--timeout=10s",
                             "crd/crontabs.stable.example.com").stdout
    assert out.strip() == f"{CRD} condition met"
    return "crontabs.stable.example.com"


@pytest.fixture
def ns(crontabs: str, kubectl_namespace: str) -> str:
    """A fresh namespace named after the test (with the crontabs CRD established)."""
    return kubectl_namespace


def _get_json(server: RunningServer, *args: str) -> Any:
    return json.loads(server.kubectl("get", *args, "-o", "json").stdout)


def _crontab(name: str = "my-cron", **spec: Any) -> str:
    doc = yaml.safe_load((TESTDATA / "crontab.yaml").read_text())
    doc["metadata"]["name"] = name
    doc["spec"].update(spec)
    return json.dumps(doc)


def test_crd_is_established_and_discoverable(api_server: RunningServer,
                                            crontabs: str) -> None:
    crd = _get_json(api_server, "crd", crontabs)
    conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
    assert conditions["Established"] == "True"
    assert conditions["NamesAccepted"] == "True"
    assert crd["status"]["acceptedNames"]["kind"] == "CronTab"
    assert crd["status"]["storedVersions"] == ["v1"]
    rows = [line.split() for line in api_server.kubectl("api-resources").stdout.splitlines()]
    assert ["crontabs", "ct", "stable.example.com/v1", "true", "CronTab"] in rows
    assert "stable.example.com/v1" in api_server.kubectl("api-versions").stdout.splitlines()
    explained = api_server.kubectl("explain", "crontab.spec").stdout
    assert "KIND:       CronTab" in explained
    assert re.search(r"^  cronSpec\t<string>$", explained, re.M), explained
    assert re.search(r"^  replicas\t<integer>$", explained, re.M), explained


def test_apply_and_get_custom_resource(api_server: RunningServer, ns: str) -> None:
    out = api_server.kubectl("apply", "-n", ns, "-f", str(TESTDATA / "crontab.yaml")).stdout
    assert out.strip() == "crontab.stable.example.com/my-cron created"
    again = api_server.kubectl("apply", "-n", ns, "-f", str(TESTDATA / "crontab.yaml")).stdout
    assert again.strip() == "crontab.stable.example.com/my-cron unchanged"

    table = api_server.kubectl("get", "-n", ns, "crontabs").stdout.splitlines()
    assert table[0].split() == ["NAME", "SPEC", "REPLICAS", "AGE"]
    assert re.fullmatch(r"my-cron\s+\* \* \* \* \*/5\s+3\s+\d+s", table[1].rstrip()), table

    obj = yaml.safe_load(api_server.kubectl("get", "-n", ns, "ct", "-o", "yaml").stdout)
    assert obj["kind"] == "List"
    (item,) = obj["items"]
    assert item["apiVersion"] == "stable.example.com/v1"
    assert item["kind"] == "CronTab"
    assert item["metadata"]["name"] == "my-cron"
    assert item["metadata"]["namespace"] == ns
    assert item["metadata"]["generation"] == 1
    assert item["spec"] == {"cronSpec": "* * * * */5", "image": "my-awesome-cron-image",
                            "replicas": 3}
    names = api_server.kubectl("get", "-n", ns, "crontab.stable.example.com", "-o",
                               "name").stdout
    assert names.strip() == "crontab.stable.example.com/my-cron"


def test_patch_custom_resource(api_server: RunningServer, ns: str) -> None:
    api_server.kubectl("create", "-n", ns, "-f", "-", input=_crontab())
    out = api_server.kubectl("patch", "-n", ns, "ct", "my-cron", "--type", "merge",
                             "-p", '{"spec":{"replicas":5}}').stdout
    assert out.strip() == "crontab.stable.example.com/my-cron patched"
    obj = _get_json(api_server, "-n", ns, "ct", "my-cron")
    assert obj["spec"]["replicas"] == 5
    assert obj["metadata"]["generation"] == 2
    api_server.kubectl("patch", "-n", ns, "ct", "my-cron", "--type", "json", "-p",
                       '[{"op":"replace","path":"/spec/image","value":"other"}]')
    assert _get_json(api_server, "-n", ns, "ct", "my-cron")["spec"]["image"] == "other"

    # Custom resources have no strategic merge patch (kubectl's default patch type).
    proc = api_server.kubectl("patch", "-n", ns, "ct", "my-cron", "-p",
                              '{"spec":{"replicas":1}}', check=False)
    assert proc.returncode == 1
    assert ("application/strategic-merge-patch+json is not supported by "
            "stable.example.com/v1, Kind=CronTab") in proc.stderr
    assert "the body of the request was in an unknown format" in proc.stderr


def test_status_subresource(api_server: RunningServer, ns: str) -> None:
    api_server.kubectl("create", "-n", ns, "-f", "-", input=_crontab())
    out = api_server.kubectl("patch", "-n", ns, "ct", "my-cron", "--subresource=status",
                             "--type", "merge", "-p", '{"status":{"lastRun":"now"}}').stdout
    assert out.strip() == "crontab.stable.example.com/my-cron patched"
    obj = _get_json(api_server, "-n", ns, "ct", "my-cron")
    assert obj["status"] == {"lastRun": "now"}
    assert obj["metadata"]["generation"] == 1
    # The main resource ignores status; the status subresource ignores spec.
    out = api_server.kubectl("patch", "-n", ns, "ct", "my-cron", "--type", "merge",
                             "-p", '{"status":{"lastRun":"ignored"}}').stdout
    assert out.strip() == "crontab.stable.example.com/my-cron patched (no change)"
    api_server.kubectl("patch", "-n", ns, "ct", "my-cron", "--subresource=status",
                       "--type", "merge", "-p", '{"spec":{"replicas":9}}')
    obj = _get_json(api_server, "-n", ns, "ct", "my-cron")
    assert obj["status"] == {"lastRun": "now"}
    assert obj["spec"]["replicas"] == 3


def test_invalid_custom_resource_rejected(api_server: RunningServer, ns: str) -> None:
    proc = api_server.kubectl("apply", "-n", ns, "-f", "-",
                              input=_crontab("bad-cron", replicas="three"), check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        'The CronTab "bad-cron" is invalid: spec.replicas: Invalid value: "string": '
        'spec.replicas in body must be of type integer: "string"')
    proc = api_server.kubectl("get", "-n", ns, "ct", "bad-cron", check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip() == \
        'Error from server (NotFound): crontabs.stable.example.com "bad-cron" not found'

    api_server.kubectl("create", "-n", ns, "-f", "-", input=_crontab())
    proc = api_server.kubectl("patch", "-n", ns, "ct", "my-cron", "--type", "merge",
                              "-p", '{"spec":{"replicas":"five"}}', check=False)
    assert proc.returncode == 1
    assert ('spec.replicas: Invalid value: "string": spec.replicas in body must be of type '
            'integer: "string"') in proc.stderr
    assert _get_json(api_server, "-n", ns, "ct", "my-cron")["spec"]["replicas"] == 3


def test_unknown_field_in_custom_resource(api_server: RunningServer, ns: str) -> None:
    proc = api_server.kubectl("create", "-n", ns, "-f", "-",
                              input=_crontab("strict", bogus=1), check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        'Error from server (BadRequest): error when creating "STDIN": CronTab in version '
        '"v1" cannot be handled as a CronTab: strict decoding error: unknown field '
        '"spec.bogus"')


def test_delete_custom_resource(api_server: RunningServer, ns: str) -> None:
    api_server.kubectl("create", "-n", ns, "-f", "-", input=_crontab())
    out = api_server.kubectl("delete", "-n", ns, "ct", "my-cron").stdout
    assert out.strip() == f'crontab.stable.example.com "my-cron" deleted from {ns} namespace'
    proc = api_server.kubectl("get", "-n", ns, "ct")
    assert proc.stderr.strip() == f"No resources found in {ns} namespace."


WIDGETS = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.test.example.com
spec:
  group: test.example.com
  scope: Cluster
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer}
"""


def test_crd_lifecycle(api_server: RunningServer) -> None:
    api_server.kubectl("create", "-f", "-", input=WIDGETS)
    api_server.kubectl("wait", "--for", "condition=established", "--timeout=10s",
                       "crd/widgets.test.example.com")
    widget = {"apiVersion": "test.example.com/v1", "kind": "Widget",
              "metadata": {"name": "w1"}, "spec": {"size": 1}}
    out = api_server.kubectl("apply", "-f", "-", input=json.dumps(widget)).stdout
    assert out.strip() == "widget.test.example.com/w1 created"
    assert api_server.kubectl("get", "widgets", "-o", "name").stdout.strip() == \
        "widget.test.example.com/w1"

    started = time.monotonic()
    out = api_server.kubectl("delete", "crd", "widgets.test.example.com",
                             "--timeout=10s").stdout
    assert out.strip() == \
        'customresourcedefinition.apiextensions.k8s.io "widgets.test.example.com" deleted'
    assert time.monotonic() - started < 30
    proc = api_server.kubectl("get", "crd", "widgets.test.example.com", check=False)
    assert proc.returncode == 1
    assert "NotFound" in proc.stderr
    # Discovery forgets the resource (api-resources refreshes kubectl's discovery cache).
    out = api_server.kubectl("api-resources", "--api-group=test.example.com", "-o",
                             "name").stdout
    assert out == ""
    proc = api_server.kubectl("get", "widgets", check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip() == 'error: the server doesn\'t have a resource type "widgets"'
