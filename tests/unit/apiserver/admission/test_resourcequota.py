"""ResourceQuota admission and status over a real SQLite datastore."""

from __future__ import annotations

from typing import Any

import pytest

from kubesmith.api.errors import StatusError
from kubesmith.api.resources import Resources
from kubesmith.api.store import ResourceStore
from kubesmith.apiserver.admission import AdmissionRequest
from kubesmith.apiserver.admission_plugins.resourcequota import ResourceQuota
from kubesmith.apiserver.authn import UserInfo

Obj = dict[str, Any]




def _store(res: Resources, kind: str, group: str = "") -> ResourceStore:
    store = res.for_kind(group, kind)
    assert store is not None
    return store


def _req(res: Resources, kind: str = "Pod", op: str = "CREATE", name: str = "x",
         group: str = "") -> AdmissionRequest:
    return AdmissionRequest(op, _store(res, kind, group).rt, "ns", name, "", UserInfo("u"),
                            False)


def _pod(name: str = "x", *containers: tuple[str, Obj], **spec: Any) -> Obj:
    body: Obj = {"containers": [{"name": n, "image": "i", "resources": r}
                                for n, r in containers or [("c", {})]]}
    body.update(spec)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": body}


def _cpu(req: str, lim: str | None = None) -> Obj:
    out: Obj = {"requests": {"cpu": req}}
    if lim is not None:
        out["limits"] = {"cpu": lim}
    return out


async def _quota(res: Resources, name: str = "q", **hard: str) -> None:
    await _store(res, "ResourceQuota").create("ns", {
        "apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": name},
        "spec": {"hard": {k.replace("_", "."): v for k, v in hard.items()}}})


async def _create(res: Resources, kind: str, obj: Obj) -> None:
    await _store(res, kind).create("ns", obj)


async def test_no_quota_allows_anything(resources: Resources) -> None:
    await ResourceQuota(resources).validate(_req(resources), _pod(), None)


async def test_exceeded_cpu(resources: Resources) -> None:
    await _quota(resources, requests_cpu="2")
    plugin = ResourceQuota(resources)
    await _create(resources, "Pod", _pod("a", ("c", _cpu("1"))))
    await plugin.validate(_req(resources), _pod("x", ("c", _cpu("1"))), None)
    with pytest.raises(StatusError) as exc:
        await plugin.validate(_req(resources), _pod("x", ("c", _cpu("2"))), None)
    assert exc.value.code == 403
    assert exc.value.message == (
        'pods "x" is forbidden: exceeded quota: q, requested: requests.cpu=2, '
        "used: requests.cpu=1, limited: requests.cpu=2")


async def test_terminal_pods_do_not_count(resources: Resources) -> None:
    await _quota(resources, pods="1")
    pod = _pod("a")
    pod["status"] = {"phase": "Succeeded"}
    await _create(resources, "Pod", pod)
    pods = _store(resources, "Pod")

    def done(cur: Obj | None) -> Obj:
        assert cur is not None
        cur["status"] = {"phase": "Succeeded"}
        return cur

    from kubesmith.api.store import WriteOptions
    await pods.update("ns", "a", done, WriteOptions(subresource="status"))
    plugin = ResourceQuota(resources)
    await plugin.validate(_req(resources), _pod("x"), None)
    await _create(resources, "Pod", _pod("b"))
    with pytest.raises(StatusError) as exc:
        await plugin.validate(_req(resources), _pod("x"), None)
    assert "exceeded quota: q, requested: pods=1, used: pods=1, limited: pods=1" in \
        exc.value.message


async def test_must_specify(resources: Resources) -> None:
    await _quota(resources, requests_cpu="2", limits_memory="1Gi")
    with pytest.raises(StatusError) as exc:
        await ResourceQuota(resources).validate(
            _req(resources), _pod("x", ("a", {}), ("b", _cpu("1"))), None)
    assert exc.value.message == ('pods "x" is forbidden: failed quota: q: must specify '
                                 "limits.memory for: a,b; requests.cpu for: a")


async def test_object_counts(resources: Resources) -> None:
    await _quota(resources, configmaps="1", **{"count/secrets": "0"})
    plugin = ResourceQuota(resources)
    cm: Obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}
    await plugin.validate(_req(resources, "ConfigMap"), cm, None)
    await _create(resources, "ConfigMap", cm)
    with pytest.raises(StatusError) as exc:
        await plugin.validate(_req(resources, "ConfigMap", name="b"),
                              {"metadata": {"name": "b"}}, None)
    assert exc.value.message == ('configmaps "b" is forbidden: exceeded quota: q, requested: '
                                 "configmaps=1, used: configmaps=1, limited: configmaps=1")
    with pytest.raises(StatusError) as exc:
        await plugin.validate(_req(resources, "Secret", name="s"),
                              {"metadata": {"name": "s"}}, None)
    assert "requested: count/secrets=1, used: count/secrets=0" in exc.value.message
    # Updates do not change object counts.
    await plugin.validate(_req(resources, "ConfigMap", "UPDATE", "a"), cm, cm)


async def test_services_and_claims(resources: Resources) -> None:
    await _quota(resources, **{"services.nodeports": "1", "requests.storage": "1Gi"})
    plugin = ResourceQuota(resources)
    svc: Obj = {"metadata": {"name": "s"},
                "spec": {"type": "NodePort", "ports": [{"port": 1}, {"port": 2}]}}
    with pytest.raises(StatusError) as exc:
        await plugin.validate(_req(resources, "Service", name="s"), svc, None)
    assert "requested: services.nodeports=2" in exc.value.message
    pvc: Obj = {"metadata": {"name": "p"},
                "spec": {"resources": {"requests": {"storage": "2Gi"}}}}
    with pytest.raises(StatusError) as exc:
        await plugin.validate(_req(resources, "PersistentVolumeClaim", name="p"), pvc, None)
    assert exc.value.message.endswith(
        "requested: requests.storage=2Gi, used: requests.storage=0, "
        "limited: requests.storage=1Gi")


async def test_scopes(resources: Resources) -> None:
    await _store(resources, "ResourceQuota").create("ns", {
        "apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "be"},
        "spec": {"hard": {"pods": "0"}, "scopes": ["BestEffort"]}})
    plugin = ResourceQuota(resources)
    await plugin.validate(_req(resources), _pod("x", ("c", _cpu("1"))), None)
    with pytest.raises(StatusError):
        await plugin.validate(_req(resources), _pod("x"), None)


async def test_pod_resize_update(resources: Resources) -> None:
    await _quota(resources, limits_cpu="2")
    old = _pod("a", ("c", _cpu("1", "1")))
    await _create(resources, "Pod", old)
    new = _pod("a", ("c", _cpu("1", "3")))
    with pytest.raises(StatusError) as exc:
        await ResourceQuota(resources).validate(_req(resources, op="UPDATE", name="a"),
                                                new, old)
    assert "requested: limits.cpu=2, used: limits.cpu=1, limited: limits.cpu=2" in \
        exc.value.message


async def test_recalculate_writes_status(resources: Resources) -> None:
    await _quota(resources, requests_cpu="2", pods="5", configmaps="3")
    await _create(resources, "Pod", _pod("a", ("c", _cpu("500m"))))
    await _create(resources, "Pod", _pod("b", ("c", _cpu("250m"))))
    plugin = ResourceQuota(resources)
    await plugin.recalculate(resources)
    await plugin.recalculate(resources)  # idempotent
    got = (await _store(resources, "ResourceQuota").get("ns", "q")).obj
    assert got["status"] == {"hard": {"requests.cpu": "2", "pods": "5", "configmaps": "3"},
                             "used": {"requests.cpu": "750m", "pods": "2",
                                      "configmaps": "0"}}
