"""LimitRanger admission over a real SQLite datastore."""

from __future__ import annotations

from typing import Any

import pytest

from kubesmith.api.errors import StatusError
from kubesmith.api.resources import Resources
from kubesmith.apiserver.admission import AdmissionRequest
from kubesmith.apiserver.admission_plugins.limitranger import LimitRanger
from kubesmith.apiserver.authn import UserInfo

Obj = dict[str, Any]




def _req(res: Resources, kind: str = "Pod", op: str = "CREATE") -> AdmissionRequest:
    store = res.for_kind("", kind)
    assert store is not None
    return AdmissionRequest(op, store.rt, "ns", "x", "", UserInfo("u"), False)


async def _limit_range(res: Resources, *items: Obj) -> None:
    store = res.for_kind("", "LimitRange")
    assert store is not None
    await store.create("ns", {"apiVersion": "v1", "kind": "LimitRange",
                              "metadata": {"name": "lr"}, "spec": {"limits": list(items)}})


def _pod(*containers: Obj, init: list[Obj] | None = None) -> Obj:
    spec: Obj = {"containers": [dict(c, image="i") for c in containers]}
    if init:
        spec["initContainers"] = [dict(c, image="i") for c in init]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}, "spec": spec}


async def test_defaults_applied(resources: Resources) -> None:
    await _limit_range(resources, {"type": "Container",
                                   "default": {"cpu": "1", "memory": "1Gi"},
                                   "defaultRequest": {"cpu": "500m", "memory": "512Mi"}})
    plugin = LimitRanger(resources)
    pod = _pod({"name": "a"}, {"name": "b", "resources": {"limits": {"cpu": "2"},
                                                         "requests": {"cpu": "2"}}},
               init=[{"name": "i"}])
    await plugin.admit(_req(resources), pod, None)
    await plugin.validate(_req(resources), pod, None)
    a, b = pod["spec"]["containers"]
    assert a["resources"] == {"limits": {"cpu": "1", "memory": "1Gi"},
                              "requests": {"cpu": "500m", "memory": "512Mi"}}
    assert b["resources"] == {"limits": {"cpu": "2", "memory": "1Gi"},
                              "requests": {"cpu": "2", "memory": "512Mi"}}
    assert pod["spec"]["initContainers"][0]["resources"]["limits"] == \
        {"cpu": "1", "memory": "1Gi"}
    assert pod["metadata"]["annotations"]["kubernetes.io/limit-ranger"] == (
        "LimitRanger plugin set: cpu, memory request for container a; cpu, memory limit for "
        "container a; memory request for container b; memory limit for container b; "
        "cpu, memory request for init container i; cpu, memory limit for init container i")


async def test_no_range_no_change(resources: Resources) -> None:
    pod = _pod({"name": "a"})
    await LimitRanger(resources).admit(_req(resources), pod, None)
    assert pod == _pod({"name": "a"})


async def test_container_max_and_min(resources: Resources) -> None:
    await _limit_range(resources, {"type": "Container", "max": {"cpu": "1"},
                                   "min": {"memory": "100Mi"}})
    plugin = LimitRanger(resources)
    pod = _pod({"name": "a", "resources": {"limits": {"cpu": "2"},
                                           "requests": {"cpu": "1", "memory": "10Mi"}}})
    with pytest.raises(StatusError) as exc:
        await plugin.validate(_req(resources), pod, None)
    assert exc.value.code == 403
    assert exc.value.message == (
        'pods "x" is forbidden: [minimum memory usage per Container is 100Mi, but request is '
        "10Mi, maximum cpu usage per Container is 1, but limit is 2]")
    with pytest.raises(StatusError) as exc:
        await plugin.validate(_req(resources), _pod({"name": "a"}), None)
    assert exc.value.message == (
        'pods "x" is forbidden: [minimum memory usage per Container is 100Mi.  No request is '
        "specified, maximum cpu usage per Container is 1.  No limit is specified]")


async def test_ratio_and_pod_type(resources: Resources) -> None:
    await _limit_range(resources, {"type": "Container", "maxLimitRequestRatio": {"cpu": "2"}},
                       {"type": "Pod", "max": {"memory": "1Gi"}})
    plugin = LimitRanger(resources)
    ok = {"limits": {"cpu": "1", "memory": "512Mi"}, "requests": {"cpu": "500m"}}
    await plugin.validate(_req(resources), _pod({"name": "a", "resources": ok}), None)
    bad = {"limits": {"cpu": "2", "memory": "512Mi"}, "requests": {"cpu": "500m"}}
    with pytest.raises(StatusError) as exc:
        await plugin.validate(_req(resources), _pod({"name": "a", "resources": ok},
                                                    {"name": "b", "resources": bad}), None)
    assert exc.value.message == (
        'pods "x" is forbidden: cpu max limit to request ratio per Container is 2, but '
        "provided ratio is 4.000000")


async def test_pod_total(resources: Resources) -> None:
    await _limit_range(resources, {"type": "Pod", "max": {"memory": "1Gi"}})
    lim = {"limits": {"memory": "768Mi"}}
    with pytest.raises(StatusError) as exc:
        await LimitRanger(resources).validate(
            _req(resources), _pod({"name": "a", "resources": lim},
                                  {"name": "b", "resources": lim}), None)
    assert exc.value.message == \
        'pods "x" is forbidden: maximum memory usage per Pod is 1Gi, but limit is 1536Mi'


async def test_mirror_pods_and_updates_skipped(resources: Resources) -> None:
    await _limit_range(resources, {"type": "Container", "default": {"cpu": "1"},
                                   "max": {"cpu": "1"}})
    plugin = LimitRanger(resources)
    pod = _pod({"name": "a"})
    pod["metadata"]["annotations"] = {"kubernetes.io/config.mirror": "m"}
    await plugin.admit(_req(resources), pod, None)
    await plugin.validate(_req(resources), pod, None)
    assert "resources" not in pod["spec"]["containers"][0]
    plain = _pod({"name": "a"})
    await plugin.validate(_req(resources, op="UPDATE"), plain, plain)


async def test_pvc(resources: Resources) -> None:
    await _limit_range(resources, {"type": "PersistentVolumeClaim",
                                   "min": {"storage": "1Gi"}, "max": {"storage": "10Gi"}})
    plugin = LimitRanger(resources)
    pvc: Obj = {"metadata": {"name": "x"},
                "spec": {"resources": {"requests": {"storage": "20Gi"}}}}
    with pytest.raises(StatusError) as exc:
        await plugin.validate(_req(resources, "PersistentVolumeClaim"), pvc, None)
    assert exc.value.message == ('persistentvolumeclaims "x" is forbidden: maximum storage '
                                 "usage per PersistentVolumeClaim is 10Gi, but request is 20Gi")
