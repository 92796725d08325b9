"""ServiceAccount admission over a real SQLite datastore."""

from __future__ import annotations

from typing import Any

import pytest

from kubesmith.api.errors import StatusError
from kubesmith.api.resources import Resources
from kubesmith.apiserver.admission import AdmissionRequest
from kubesmith.apiserver.admission_plugins.serviceaccount import (
    TOKEN_MOUNT_PATH,
    ServiceAccount,
)
from kubesmith.apiserver.authn import UserInfo

Obj = dict[str, Any]




def _req(res: Resources, op: str = "CREATE", ns: str = "ns", name: str = "x") -> AdmissionRequest:
    store = res.for_kind("", "Pod")
    assert store is not None
    return AdmissionRequest(op, store.rt, ns, name, "", UserInfo("u"), False)


def _pod(name: str = "x", **spec: Any) -> Obj:
    body: Obj = {"containers": [{"name": "c", "image": "i"}],
                 "initContainers": [{"name": "i", "image": "i"}]}
    body.update(spec)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": body}


async def _sa(res: Resources, name: str = "default", ns: str = "ns", **extra: Any) -> None:
    store = res.for_kind("", "ServiceAccount")
    assert store is not None
    obj: Obj = {"apiVersion": "v1", "kind": "ServiceAccount",
                "metadata": {"name": name}}
    obj.update(extra)
    await store.create(ns, obj)


async def test_defaults_and_mounts_token(resources: Resources) -> None:
    await _sa(resources, imagePullSecrets=[{"name": "reg"}])
    plugin = ServiceAccount(resources)
    pod = _pod()
    await plugin.admit(_req(resources), pod, None)
    await plugin.validate(_req(resources), pod, None)
    spec = pod["spec"]
    assert spec["serviceAccountName"] == "default" == spec["serviceAccount"]
    assert spec["imagePullSecrets"] == [{"name": "reg"}]
    [vol] = spec["volumes"]
    assert vol["name"].startswith("kube-api-access-") and len(vol["name"]) == 21
    sources = vol["projected"]["sources"]
    assert sources[0] == {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}}
    assert sources[1]["configMap"]["name"] == "kube-root-ca.crt"
    assert sources[2]["downwardAPI"]["items"][0]["fieldRef"]["fieldPath"] == \
        "metadata.namespace"
    for key in ("containers", "initContainers"):
        assert spec[key][0]["volumeMounts"] == [
            {"name": vol["name"], "readOnly": True, "mountPath": TOKEN_MOUNT_PATH}]
    # The result is a valid pod.
    pods = resources.for_kind("", "Pod")
    assert pods is not None
    await pods.create("ns", pod)


async def test_missing_service_account(resources: Resources) -> None:
    plugin = ServiceAccount(resources)
    with pytest.raises(StatusError) as exc:
        await plugin.admit(_req(resources), _pod(), None)
    assert exc.value.code == 403
    assert exc.value.message == ('pods "x" is forbidden: error looking up service account '
                                 'ns/default: serviceaccount "default" not found')
    with pytest.raises(StatusError) as exc:
        await plugin.validate(_req(resources), _pod(serviceAccountName="other"), None)
    assert 'serviceaccount "other" not found' in exc.value.message


@pytest.mark.parametrize(("pod_value", "sa_value", "mounted"), [
    (None, None, True), (None, False, False), (True, False, True), (False, None, False)])
async def test_automount(resources: Resources, pod_value: bool | None,
                         sa_value: bool | None, mounted: bool) -> None:
    extra: dict[str, Any] = {} if sa_value is None else \
        {"automountServiceAccountToken": sa_value}
    await _sa(resources, "sa", **extra)
    spec: Obj = {"serviceAccountName": "sa"}
    if pod_value is not None:
        spec["automountServiceAccountToken"] = pod_value
    pod = _pod(**spec)
    await ServiceAccount(resources).admit(_req(resources), pod, None)
    assert ("volumes" in pod["spec"]) is mounted


async def test_existing_mount_is_kept(resources: Resources) -> None:
    await _sa(resources)
    pod = _pod(volumes=[{"name": "mine", "emptyDir": {}}])
    pod["spec"]["containers"][0]["volumeMounts"] = [
        {"name": "mine", "mountPath": TOKEN_MOUNT_PATH}]
    pod["spec"]["initContainers"] = []
    await ServiceAccount(resources).admit(_req(resources), pod, None)
    assert pod["spec"]["volumes"] == [{"name": "mine", "emptyDir": {}}]


async def test_mirror_pods(resources: Resources) -> None:
    plugin = ServiceAccount(resources)
    pod = _pod()
    pod["metadata"]["annotations"] = {"kubernetes.io/config.mirror": "x"}
    await plugin.admit(_req(resources), pod, None)
    await plugin.validate(_req(resources), pod, None)
    assert "serviceAccountName" not in pod["spec"]
    pod["spec"]["serviceAccountName"] = "default"
    with pytest.raises(StatusError) as exc:
        await plugin.validate(_req(resources), pod, None)
    assert exc.value.message == \
        'pods "x" is forbidden: a mirror pod may not reference service accounts'
    del pod["spec"]["serviceAccountName"]
    pod["spec"]["volumes"] = [{"name": "s", "secret": {"secretName": "s"}}]
    with pytest.raises(StatusError) as exc:
        await plugin.validate(_req(resources), pod, None)
    assert exc.value.message.endswith("a mirror pod may not reference secrets")


async def test_updates_are_ignored(resources: Resources) -> None:
    pod = _pod()
    await ServiceAccount(resources).admit(_req(resources, "UPDATE"), pod, pod)
    assert "serviceAccountName" not in pod["spec"]
