"""ResourceQuota admission and status over a real SQLite datastore."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kubesmith.api.errors import StatusError
from kubesmith.api.registry import Registry
from kubesmith.api.resources import Resources
from kubesmith.api.store import ResourceStore, WriteOptions
from kubesmith.apiserver.admission import AdmissionRequest
from kubesmith.apiserver.admission_plugins.resourcequota import (
    CHARGE_GRACE,
    ChargeLedger,
    ResourceQuota,
)
from kubesmith.apiserver.authn import UserInfo

Obj = dict[str, Any]




def _store(res: Resources, kind: str, group: str = "") -> ResourceStore:
    store = res.for_kind(group, kind)
    assert store is not None
    return store


def _req(res: Resources, kind: str = "Pod", op: str = "CREATE", name: str = "x",
         group: str = "", dry_run: bool = False) -> AdmissionRequest:
    return AdmissionRequest(op, _store(res, kind, group).rt, "ns", name, "", UserInfo("u"),
                            dry_run)


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
    # A dry run is checked but not charged.
    await plugin.validate(_req(resources, dry_run=True), _pod("x", ("c", _cpu("1"))), None)
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


# ---- charging: concurrent admissions and the usage recalculation -------------------------


def _admitted_pod(name: str) -> Obj:
    """A pod as admission sees it: the store has already given it a uid."""
    pod = _pod(name)
    pod["metadata"]["uid"] = f"uid-{name}"
    return pod


async def _admit_all(plugins: list[ResourceQuota], res: Resources, n: int
                     ) -> tuple[int, list[StatusError]]:
    results = await asyncio.gather(*(
        plugins[i % len(plugins)].validate(_req(res, name=f"p{i}"), _admitted_pod(f"p{i}"),
                                           None)
        for i in range(n)), return_exceptions=True)
    refused = [r for r in results if isinstance(r, StatusError)]
    assert len(refused) == sum(1 for r in results if r is not None), results
    return n - len(refused), refused


async def _used(res: Resources) -> dict[str, str]:
    quota = (await _store(res, "ResourceQuota").get("ns", "q")).obj
    used: dict[str, str] = (quota.get("status") or {}).get("used") or {}
    return used


async def test_parallel_admissions_never_exceed(resources: Resources) -> None:
    await _quota(resources, pods="3")
    admitted, refused = await _admit_all([ResourceQuota(resources)], resources, 12)
    assert admitted == 3
    assert {(r.code, r.message.split(" is forbidden: ")[1]) for r in refused} == {
        (403, "exceeded quota: q, requested: pods=1, used: pods=3, limited: pods=3")}
    assert await _used(resources) == {"pods": "3"}


async def test_servers_sharing_a_datastore_never_exceed(resources: Resources) -> None:
    # A second API server: its own caches and plugin (no shared lock) over the same store;
    # only the compare-and-swap on the quota keeps them from both charging the last slot.
    other = Resources(Registry(), resources.store)
    await other.start()
    try:
        await _quota(resources, pods="5")
        await _store(other, "ResourceQuota").cache.wait_consistent()
        plugins = [ResourceQuota(resources), ResourceQuota(other)]
        admitted, refused = await _admit_all(plugins, resources, 20)
        assert admitted == 5 and len(refused) == 15
        assert await _used(resources) == {"pods": "5"}
    finally:
        await other.feed.stop()


async def test_dry_run_is_checked_not_charged(resources: Resources) -> None:
    await _quota(resources, pods="1")
    plugin = ResourceQuota(resources)
    await plugin.validate(_req(resources, dry_run=True), _admitted_pod("a"), None)
    assert await _used(resources) == {}
    await plugin.validate(_req(resources, name="a"), _admitted_pod("a"), None)
    with pytest.raises(StatusError):
        await plugin.validate(_req(resources, name="b", dry_run=True), _admitted_pod("b"),
                              None)


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def _past_startup(res: Resources, **hard: str) -> tuple[ResourceQuota, _Clock]:
    """A quota and a plugin on a fake clock, past the start-up period in which the
    recalculation releases nothing."""
    await _quota(res, **hard)
    plugin = ResourceQuota(res)
    clock = _Clock()
    plugin.ledger = ChargeLedger(clock)
    await plugin.recalculate()
    clock.now += CHARGE_GRACE
    return plugin, clock


async def test_recalculation_keeps_charges_in_flight(resources: Resources) -> None:
    plugin, _ = await _past_startup(resources, pods="2")
    # Charged, the pod not written yet: the recalculation must not release the charge.
    await plugin.validate(_req(resources, name="a"), _admitted_pod("a"), None)
    await plugin.recalculate()
    assert await _used(resources) == {"pods": "1"}
    # A pod created through admission: charged, then written — counted once, not twice.
    async def admission(new: Obj, old: Obj | None) -> None:
        await plugin.validate(_req(resources, name="b"), new, old)

    await _store(resources, "Pod").create("ns", _pod("b"),
                                          WriteOptions(validating_admission=admission))
    await plugin.recalculate()
    assert await _used(resources) == {"pods": "2"}
    # It goes away: released at once (its charge had landed); "a" is still in flight.
    await _store(resources, "Pod").delete("ns", "b")
    await plugin.recalculate()
    assert await _used(resources) == {"pods": "1"}


async def test_recalculation_releases_failed_creates(resources: Resources) -> None:
    plugin, clock = await _past_startup(resources, pods="1")
    await plugin.validate(_req(resources, name="a"), _admitted_pod("a"), None)
    # The create failed after admission (nothing written): held for the grace period...
    clock.now += CHARGE_GRACE / 2
    await plugin.recalculate()
    assert await _used(resources) == {"pods": "1"}
    with pytest.raises(StatusError):
        await plugin.validate(_req(resources, name="b"), _admitted_pod("b"), None)
    # ...then released, and the slot is usable again.
    clock.now += CHARGE_GRACE
    await plugin.recalculate()
    assert await _used(resources) == {"pods": "0"}
    await plugin.validate(_req(resources, name="b"), _admitted_pod("b"), None)


async def test_charges_seen_from_another_server_are_held(resources: Resources) -> None:
    other = Resources(Registry(), resources.store)
    await other.start()
    try:
        here, clock = await _past_startup(resources, pods="2")
        there = ResourceQuota(other)
        await _store(other, "ResourceQuota").cache.wait_consistent()
        await there.validate(_req(other, name="a"), _admitted_pod("a"), None)
        await here.recalculate()
        assert await _used(resources) == {"pods": "1"}
        clock.now += CHARGE_GRACE
        await here.recalculate()
        assert await _used(resources) == {"pods": "0"}
    finally:
        await other.feed.stop()


async def test_create_of_an_existing_object_is_not_charged(resources: Resources) -> None:
    await _quota(resources, pods="2")
    await _create(resources, "Pod", _admitted_pod("a"))
    with pytest.raises(StatusError) as exc:
        await ResourceQuota(resources).validate(_req(resources, name="a"),
                                                _admitted_pod("a"), None)
    assert exc.value.code == 409
    assert await _used(resources) == {}
