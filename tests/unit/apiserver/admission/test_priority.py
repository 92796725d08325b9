"""Priority admission over a real SQLite datastore."""

from __future__ import annotations

from typing import Any

import pytest

from kubesmith.api.errors import StatusError
from kubesmith.api.resources import Resources
from kubesmith.apiserver.admission import AdmissionRequest
from kubesmith.apiserver.admission_plugins.priority import Priority
from kubesmith.apiserver.authn import UserInfo

Obj = dict[str, Any]




def _req(res: Resources, op: str = "CREATE", kind: str = "Pod",
         group: str = "") -> AdmissionRequest:
    store = res.for_kind(group, kind)
    assert store is not None
    return AdmissionRequest(op, store.rt, "ns" if kind == "Pod" else "", "x", "",
                            UserInfo("u"), False)


def _pc(name: str, value: int, **extra: Any) -> Obj:
    obj: Obj = {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                "metadata": {"name": name}, "value": value}
    obj.update(extra)
    return obj


async def _create_pc(res: Resources, name: str, value: int, **extra: Any) -> None:
    store = res.for_kind("scheduling.k8s.io", "PriorityClass")
    assert store is not None
    await store.create(None, _pc(name, value, **extra))


def _pod(**spec: Any) -> Obj:
    body: Obj = {"containers": [{"name": "c", "image": "i"}]}
    body.update(spec)
    return {"metadata": {"name": "x"}, "spec": body}


async def test_no_class_no_default(resources: Resources) -> None:
    pod = _pod()
    await Priority(resources).admit(_req(resources), pod, None)
    assert pod["spec"]["priority"] == 0
    assert "priorityClassName" not in pod["spec"]


async def test_global_default_lowest_wins(resources: Resources) -> None:
    await _create_pc(resources, "high", 100, globalDefault=True)
    await _create_pc(resources, "never", 5, preemptionPolicy="Never")
    pod = _pod()
    await Priority(resources).admit(_req(resources), pod, None)
    assert (pod["spec"]["priorityClassName"], pod["spec"]["priority"]) == ("high", 100)
    pod = _pod(priorityClassName="never")
    await Priority(resources).admit(_req(resources), pod, None)
    assert (pod["spec"]["priority"], pod["spec"]["preemptionPolicy"]) == (5, "Never")


async def test_builtin_and_unknown(resources: Resources) -> None:
    plugin = Priority(resources)
    pod = _pod(priorityClassName="system-node-critical")
    await plugin.admit(_req(resources), pod, None)
    assert pod["spec"]["priority"] == 2000001000
    assert pod["spec"]["preemptionPolicy"] == "PreemptLowerPriority"
    with pytest.raises(StatusError) as exc:
        await plugin.admit(_req(resources), _pod(priorityClassName="nope"), None)
    assert exc.value.code == 403
    assert exc.value.message == \
        'pods "x" is forbidden: no PriorityClass with name nope was found'


async def test_stated_priority_must_match(resources: Resources) -> None:
    await _create_pc(resources, "p", 10)
    plugin = Priority(resources)
    await plugin.admit(_req(resources), _pod(priorityClassName="p", priority=10), None)
    with pytest.raises(StatusError) as exc:
        await plugin.admit(_req(resources), _pod(priorityClassName="p", priority=3), None)
    assert exc.value.message == (
        'pods "x" is forbidden: the integer value of priority (3) must not be provided in '
        "pod spec; priority admission controller computed 10 from the given PriorityClass "
        "name")


async def test_update_keeps_priority(resources: Resources) -> None:
    old = _pod(priority=7, preemptionPolicy="Never")
    new = _pod()
    await Priority(resources).admit(_req(resources, "UPDATE"), new, old)
    assert (new["spec"]["priority"], new["spec"]["preemptionPolicy"]) == (7, "Never")


async def test_single_global_default(resources: Resources) -> None:
    await _create_pc(resources, "a", 1, globalDefault=True)
    plugin = Priority(resources)
    req = _req(resources, "CREATE", "PriorityClass", "scheduling.k8s.io")
    await plugin.validate(req, _pc("b", 2), None)
    with pytest.raises(StatusError) as exc:
        await plugin.validate(req, _pc("b", 2, globalDefault=True), None)
    assert exc.value.message == (
        'priorityclasses.scheduling.k8s.io "b" is forbidden: PriorityClass a is already '
        "marked as default. Only one default can exist")
    await plugin.validate(_req(resources, "UPDATE", "PriorityClass", "scheduling.k8s.io"),
                          _pc("a", 1, globalDefault=True), None)
