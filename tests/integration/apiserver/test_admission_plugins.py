"""ResourceQuota (enforced and reported), LimitRanger defaults, Priority and
DefaultStorageClass through kubectl."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

pytestmark = pytest.mark.integration


def _apply(server: Any, obj: dict[str, Any], check: bool = True) -> Any:
    return server.kubectl("create", "-f", "-", input=json.dumps(obj), check=check)


def _pod(name: str, cpu: str | None = None) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "c", "image": "busybox"}
    if cpu:
        container["resources"] = {"requests": {"cpu": cpu}, "limits": {"cpu": cpu}}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [container]}}


def test_quota_is_enforced_and_reported(api_server: Any) -> None:
    api_server.kubectl("create", "namespace", "quota")
    _apply(api_server, {"apiVersion": "v1", "kind": "ResourceQuota",
                        "metadata": {"name": "q", "namespace": "quota"},
                        "spec": {"hard": {"requests.cpu": "1", "pods": "5"}}})
    api_server.kubectl("create", "-n", "quota", "-f", "-", input=json.dumps(_pod("a", "600m")))
    refused = api_server.kubectl("create", "-n", "quota", "-f", "-", check=False,
                                 input=json.dumps(_pod("b", "600m")))
    assert refused.returncode == 1
    assert ('exceeded quota: q, requested: requests.cpu=600m, used: requests.cpu=600m, '
            'limited: requests.cpu=1') in refused.stderr
    unbounded = api_server.kubectl("create", "-n", "quota", "-f", "-", check=False,
                                   input=json.dumps(_pod("c")))
    assert unbounded.returncode == 1 and "must specify requests.cpu" in unbounded.stderr
    deadline = time.monotonic() + 10
    used: dict[str, str] = {}
    while time.monotonic() < deadline:
        quota = json.loads(api_server.kubectl("get", "quota", "q", "-n", "quota", "-o",
                                              "json").stdout)
        used = (quota.get("status") or {}).get("used") or {}
        if used.get("requests.cpu") == "600m":
            break
        time.sleep(0.2)
    assert used == {"requests.cpu": "600m", "pods": "1"}


def test_limit_range_defaults_and_priority(api_server: Any) -> None:
    api_server.kubectl("create", "namespace", "limits")
    _apply(api_server, {"apiVersion": "v1", "kind": "LimitRange",
                        "metadata": {"name": "lr", "namespace": "limits"},
                        "spec": {"limits": [{"type": "Container",
                                             "default": {"cpu": "500m"},
                                             "defaultRequest": {"cpu": "100m"}}]}})
    _apply(api_server, {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                        "metadata": {"name": "high"}, "value": 1000})
    pod = _pod("p")
    pod["spec"]["priorityClassName"] = "high"
    api_server.kubectl("create", "-n", "limits", "-f", "-", input=json.dumps(pod))
    got = json.loads(api_server.kubectl("get", "pod", "p", "-n", "limits", "-o",
                                        "json").stdout)
    assert got["spec"]["containers"][0]["resources"] == {
        "limits": {"cpu": "500m"}, "requests": {"cpu": "100m"}}
    assert got["spec"]["priority"] == 1000
    pod = _pod("q")
    pod["spec"]["priorityClassName"] = "nope"
    missing = api_server.kubectl("create", "-n", "limits", "-f", "-", check=False,
                                 input=json.dumps(pod))
    assert missing.returncode == 1
    assert "no PriorityClass with name nope was found" in missing.stderr


def test_default_storage_class(api_server: Any) -> None:
    _apply(api_server, {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                        "metadata": {"name": "standard", "annotations": {
                            "storageclass.kubernetes.io/is-default-class": "true"}},
                        "provisioner": "kubesmith.io/local"})
    _apply(api_server, {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                        "metadata": {"name": "data", "namespace": "default"},
                        "spec": {"accessModes": ["ReadWriteOnce"],
                                 "resources": {"requests": {"storage": "1Gi"}}}})
    pvc = json.loads(api_server.kubectl("get", "pvc", "data", "-o", "json").stdout)
    assert pvc["spec"]["storageClassName"] == "standard"


def test_service_account_admission(api_server: Any) -> None:
    api_server.kubectl("create", "namespace", "sa-adm")
    api_server.kubectl("create", "-n", "sa-adm", "-f", "-", input=json.dumps(_pod("p")))
    pod = json.loads(api_server.kubectl("get", "pod", "p", "-n", "sa-adm", "-o",
                                        "json").stdout)
    assert pod["spec"]["serviceAccountName"] == "default"
    volume = next(v for v in pod["spec"]["volumes"]
                  if v["name"].startswith("kube-api-access-"))
    sources = volume["projected"]["sources"]
    assert sources[0]["serviceAccountToken"]["path"] == "token"
    mount = pod["spec"]["containers"][0]["volumeMounts"][0]
    assert mount == {"name": volume["name"], "readOnly": True,
                     "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}
    quiet = _pod("quiet")
    quiet["spec"]["automountServiceAccountToken"] = False
    api_server.kubectl("create", "-n", "sa-adm", "-f", "-", input=json.dumps(quiet))
    pod = json.loads(api_server.kubectl("get", "pod", "quiet", "-n", "sa-adm", "-o",
                                        "json").stdout)
    assert not pod["spec"].get("volumes")
    ghost = _pod("ghost")
    ghost["spec"]["serviceAccountName"] = "nosuch"
    refused = api_server.kubectl("create", "-n", "sa-adm", "-f", "-", check=False,
                                 input=json.dumps(ghost))
    assert refused.returncode == 1
    assert ('error looking up service account sa-adm/nosuch: serviceaccount "nosuch" not '
            'found') in refused.stderr
