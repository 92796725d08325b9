"""ResourceQuota admission and usage, as upstream's ``plugin/pkg/admission/resourcequota``
with the quota evaluators of ``pkg/quota/v1/evaluator/core``.

A write (create, or an update that raises usage) of an object in a namespace with
ResourceQuota objects is refused with 403 ``... is forbidden: exceeded quota: q,
requested: r=v, used: r=v, limited: r=v`` when it would take usage past ``spec.hard``.
Pods that lack a cpu or memory request or limit a matching quota constrains are refused
with ``failed quota: q: must specify limits.cpu for: c; requests.memory for: c,d``.

Concurrency, as upstream: admission *charges* each quota it passes by adding the request to
``status.used`` with a compare-and-swap update of the ResourceQuota (a lost race re-reads the
quota and re-evaluates, so it may then refuse). Parallel creates — through one API server or
several sharing the datastore — therefore cannot together exceed ``spec.hard``. Within one
server, charges in a namespace are also queued behind a lock so local requests do not burn
their retries racing each other. Admission charges against ``status.used``, or the live count
from the watch cache where that is larger (objects that never passed admission, a quota
whose status is not written yet). Dry runs are checked, never charged.

:meth:`ResourceQuota.recalculate` (every second) rewrites ``status.hard`` and
``status.used`` from the live objects, so deletions release quota and a create that failed
after its charge does not keep it charged. It never releases a charge whose object may still
be on its way to storage: :class:`ChargeLedger` sees every charge (from any server) through
the quota cache and holds it until the object appears or :data:`CHARGE_GRACE` passes.

Evaluated: pods (``pods``, ``cpu``/``memory``/``ephemeral-storage``, their ``requests.``
and ``limits.`` forms, ``hugepages-*``, extended ``requests.*``; terminal pods count only
for ``count/pods``), services (``services``, ``services.nodeports``,
``services.loadbalancers``), persistentvolumeclaims (``persistentvolumeclaims``,
``requests.storage`` and the per-storage-class forms), configmaps, secrets,
replicationcontrollers, resourcequotas, and ``count/<resource>[.<group>]`` for every
stored resource. Quota scopes (``Terminating``, ``NotTerminating``, ``BestEffort``,
``NotBestEffort`` and ``scopeSelector`` on ``PriorityClass``) restrict pod quotas.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kubesmith.api import errors
from kubesmith.api.resource_types import ResourceType
from kubesmith.api.resources import Resources
from kubesmith.api.store import ResourceStore, WriteOptions
from kubesmith.api.types import Obj
from kubesmith.api.validation.quantity import Quantity, QuantityError, parse_quantity
from kubesmith.api.watchcache import CachedObject, CacheEvent, CacheWatcher, WatchCache
from kubesmith.apiserver.admission import AdmissionRequest

Usage = dict[str, Quantity]

# How long a charge whose object has not shown up is assumed to be still in flight; after
# that the recalculation treats it as a failed write and releases it.
CHARGE_GRACE = 15.0

ONE = Quantity(10**9)
# Object-count names that predate count/<resource>.
LEGACY_COUNTS = {"pods": "pods", "services": "services",
                 "replicationcontrollers": "replicationcontrollers",
                 "resourcequotas": "resourcequotas", "secrets": "secrets",
                 "configmaps": "configmaps", "persistentvolumeclaims": "persistentvolumeclaims"}
# The resources whose absence from a container a matching quota refuses (upstream's
# backward-compatibility requirement).
POD_VALIDATION_SET = frozenset({"cpu", "memory", "requests.cpu", "requests.memory",
                                "limits.cpu", "limits.memory"})
STORAGE_CLASS_SUFFIX = ".storageclass.storage.k8s.io/"
_NATIVE_PREFIXES = ("kubernetes.io/", "requests.")
_STANDARD = frozenset({"cpu", "memory", "ephemeral-storage", "storage", "pods"})


def _d(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _maps(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def quantities(value: Any) -> Usage:
    """A ResourceList (unparsable entries skipped: validation refuses those)."""
    out: Usage = {}
    for k, v in _d(value).items():
        try:
            out[str(k)] = parse_quantity(v)
        except QuantityError:
            continue
    return out


def add(a: Mapping[str, Quantity], b: Mapping[str, Quantity]) -> Usage:
    out = dict(a)
    for k, v in b.items():
        out[k] = out[k].add(v) if k in out else v
    return out


def _max(a: Mapping[str, Quantity], b: Mapping[str, Quantity]) -> Usage:
    out = dict(a)
    for k, v in b.items():
        if k not in out or v > out[k]:
            out[k] = v
    return out


def pretty(usage: Mapping[str, Quantity]) -> str:
    return ",".join(f"{k}={usage[k]}" for k in sorted(usage))


def count_name(rt: ResourceType) -> str:
    return f"count/{rt.plural}" if rt.group == "" else f"count/{rt.plural}.{rt.group}"


# --- pods ---------------------------------------------------------------------------------


def _pod_totals(spec: Mapping[str, Any], field: str) -> Usage:
    """Effective pod requests or limits: containers and sidecars summed, the largest
    init-container step, pod overhead (upstream's ``PodRequests``/``PodLimits``)."""
    pod_level = quantities(_d(spec.get("resources")).get(field))
    total: Usage = {}
    for ctr in _maps(spec.get("containers")):
        total = add(total, quantities(_d(ctr.get("resources")).get(field)))
    sidecars: Usage = {}
    init_max: Usage = {}
    for ctr in _maps(spec.get("initContainers")):
        res = quantities(_d(ctr.get("resources")).get(field))
        if ctr.get("restartPolicy") == "Always":
            sidecars = add(sidecars, res)
            init_max = _max(init_max, sidecars)
        else:
            init_max = _max(init_max, add(sidecars, res))
    total = _max(add(total, sidecars), init_max)
    for k, v in pod_level.items():
        if k in ("cpu", "memory"):
            total[k] = v
    return add(total, quantities(spec.get("overhead")))


def _is_extended(name: str) -> bool:
    if name in _STANDARD or name.startswith(("hugepages-", "requests.", "limits.")):
        return False
    return "/" in name and not name.startswith("kubernetes.io/")


def compute_usage(requests: Mapping[str, Quantity], limits: Mapping[str, Quantity]) -> Usage:
    """Upstream's ``podComputeUsageHelper``."""
    out: Usage = {"pods": ONE}
    for res in ("cpu", "memory", "ephemeral-storage"):
        if res in requests:
            out[res] = requests[res]
            out["requests." + res] = requests[res]
        if res in limits:
            out["limits." + res] = limits[res]
    for res, q in requests.items():
        if res.startswith("hugepages-"):
            out[res] = q
            out["requests." + res] = q
        elif _is_extended(res):
            out["requests." + res] = q
    return out


def pod_terminal(pod: Obj) -> bool:
    return _d(pod.get("status")).get("phase") in ("Succeeded", "Failed")


def pod_usage(pod: Obj) -> Usage:
    usage: Usage = {"count/pods": ONE}
    if pod_terminal(pod):
        return usage
    spec = _d(pod.get("spec"))
    return add(usage, compute_usage(_pod_totals(spec, "requests"), _pod_totals(spec, "limits")))


def missing_constraints(required: set[str], pod: Obj) -> str:
    """``must specify ...`` for containers lacking a required cpu/memory request or limit."""
    needed = required & POD_VALIDATION_SET
    if not needed:
        return ""
    spec = _d(pod.get("spec"))
    missing: dict[str, set[str]] = {}
    for key in ("containers", "initContainers"):
        for ctr in _maps(spec.get(key)):
            res = _d(ctr.get("resources"))
            have = compute_usage(quantities(res.get("requests")), quantities(res.get("limits")))
            for name in needed - set(have):
                missing.setdefault(name, set()).add(str(ctr.get("name", "")))
    if not missing:
        return ""
    return "must specify " + "; ".join(
        f"{name} for: {','.join(sorted(missing[name]))}" for name in sorted(missing))


def _best_effort(pod: Obj) -> bool:
    spec = _d(pod.get("spec"))
    for key in ("containers", "initContainers"):
        for ctr in _maps(spec.get(key)):
            res = _d(ctr.get("resources"))
            for field in ("requests", "limits"):
                if any(k in ("cpu", "memory") for k in _d(res.get(field))):
                    return False
    return True


def _scope_matches(scope: str, op: str, values: list[str], pod: Obj) -> bool:
    spec = _d(pod.get("spec"))
    if scope == "Terminating":
        return spec.get("activeDeadlineSeconds") is not None
    if scope == "NotTerminating":
        return spec.get("activeDeadlineSeconds") is None
    if scope == "BestEffort":
        return _best_effort(pod)
    if scope == "NotBestEffort":
        return not _best_effort(pod)
    if scope == "PriorityClass":
        pc = spec.get("priorityClassName") or ""
        if op == "Exists":
            return bool(pc)
        if op == "DoesNotExist":
            return not pc
        if op == "In":
            return pc in values
        if op == "NotIn":
            return pc not in values
        return False
    if scope == "CrossNamespacePodAffinity":
        affinity = _d(spec.get("affinity"))
        for kind in ("podAffinity", "podAntiAffinity"):
            a = _d(affinity.get(kind))
            terms = _maps(a.get("requiredDuringSchedulingIgnoredDuringExecution")) + [
                _d(t.get("podAffinityTerm")) for t in
                _maps(a.get("preferredDuringSchedulingIgnoredDuringExecution"))]
            if any(t.get("namespaces") or t.get("namespaceSelector") is not None
                   for t in terms):
                return True
        return False
    return False


def quota_matches_pod(quota: Obj, pod: Obj) -> bool:
    spec = _d(quota.get("spec"))
    for scope in spec.get("scopes") or []:
        if not _scope_matches(str(scope), "Exists", [], pod):
            return False
    for expr in _maps(_d(spec.get("scopeSelector")).get("matchExpressions")):
        values = [str(v) for v in expr.get("values") or []]
        if not _scope_matches(str(expr.get("scopeName", "")), str(expr.get("operator", "")),
                              values, pod):
            return False
    return True


# --- other kinds --------------------------------------------------------------------------


def service_usage(svc: Obj) -> Usage:
    spec = _d(svc.get("spec"))
    ports = _maps(spec.get("ports"))
    out: Usage = {"services": ONE, "count/services": ONE}
    kind = spec.get("type")
    if kind == "NodePort":
        out["services.nodeports"] = Quantity(len(ports) * 10**9)
    elif kind == "LoadBalancer":
        if spec.get("allocateLoadBalancerNodePorts") is False:
            n = sum(1 for p in ports if p.get("nodePort"))
        else:
            n = len(ports)
        out["services.nodeports"] = Quantity(n * 10**9)
        out["services.loadbalancers"] = ONE
    return out


def pvc_usage(pvc: Obj) -> Usage:
    spec = _d(pvc.get("spec"))
    out: Usage = {"persistentvolumeclaims": ONE, "count/persistentvolumeclaims": ONE}
    cls = spec.get("storageClassName")
    if cls:
        out[f"{cls}{STORAGE_CLASS_SUFFIX}persistentvolumeclaims"] = ONE
    storage = quantities(_d(spec.get("resources")).get("requests")).get("storage")
    allocated = quantities(_d(pvc.get("status")).get("allocatedResources")).get("storage")
    if allocated is not None and (storage is None or allocated > storage):
        storage = allocated
    if storage is not None:
        out["requests.storage"] = storage
        if cls:
            out[f"{cls}{STORAGE_CLASS_SUFFIX}requests.storage"] = storage
    return out


def object_usage(rt: ResourceType, obj: Obj) -> Usage:
    """The quota usage of one object of type ``rt``."""
    if rt.group == "":
        if rt.plural == "pods":
            return pod_usage(obj)
        if rt.plural == "services":
            return service_usage(obj)
        if rt.plural == "persistentvolumeclaims":
            return pvc_usage(obj)
        if rt.plural in LEGACY_COUNTS:
            return {rt.plural: ONE, count_name(rt): ONE}
    return {count_name(rt): ONE}


def _matching(rt: ResourceType, name: str) -> bool:
    """Whether a quota resource name is one ``rt``'s evaluator tracks."""
    if name == count_name(rt):
        return True
    if rt.group != "":
        return False
    if rt.plural == "pods":
        return name in ("pods", "cpu", "memory", "ephemeral-storage") or (
            name.startswith(("requests.", "limits.", "hugepages-"))
            and name != "requests.storage")
    if rt.plural == "services":
        return name in ("services", "services.nodeports", "services.loadbalancers")
    if rt.plural == "persistentvolumeclaims":
        return name in ("persistentvolumeclaims", "requests.storage") or \
            STORAGE_CLASS_SUFFIX in name
    return name == LEGACY_COUNTS.get(rt.plural)


def _applies_to(quota: Obj, rt: ResourceType, obj: Obj) -> bool:
    if rt.group == "" and rt.plural == "pods":
        return quota_matches_pod(quota, obj)
    spec = _d(quota.get("spec"))
    # Scoped quotas only track pods.
    return not spec.get("scopes") and not _d(spec.get("scopeSelector")).get("matchExpressions")


def _quota_name(quota: Obj) -> str:
    return str(_d(quota.get("metadata")).get("name", ""))


class ChargeLedger:
    """The quota charges this server knows of that may not be visible as objects yet.

    A charge becomes visible in live usage only when its object is written, a moment after
    admission; until then only ``status.used`` holds it. The usage recalculation must
    therefore not lower ``status.used`` by charges still in flight, and must lower it for
    charges whose write failed. The ledger watches the ResourceQuota cache in direct (sink)
    mode, so it sees every increase of ``status.used`` by any API server sharing the
    datastore, stamped with when this server saw it. A charge counts as pending until its
    object shows up in the cache at a later revision (known for charges made here) or, for
    the others and for writes that failed, until :data:`CHARGE_GRACE` seconds passed.
    Increases written by this server's own recalculation are not charges.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._watcher: CacheWatcher | None = None
        self._cache: WatchCache | None = None
        self._objects: object = None
        # quota key -> [(seen at, revision, increase)]
        self._charges: dict[str, list[tuple[float, int, Usage]]] = {}
        # (quota key, revision) -> (store, object key, uid) of charges made here
        self._mine: dict[tuple[str, int], tuple[ResourceStore, str, str]] = {}
        self._recalculated: set[tuple[str, int]] = set()
        # Until then a lowering is not trusted: charges may have been missed (start-up,
        # a re-list of the cache).
        self._blind_until = 0.0

    def follow(self, cache: WatchCache) -> None:
        """Make sure the ledger watches ``cache`` without a gap."""
        w = self._watcher
        if w is not None and not w.closed and self._cache is cache and \
                self._objects is cache.objects:
            return
        if w is not None and self._cache is not None:
            self._cache.unwatch(w)
        self._charges.clear()
        self._blind_until = self.clock() + CHARGE_GRACE
        watcher = cache.watch(namespace=None, predicate=None, since=cache.revision)
        watcher.sink = self._observe
        self._watcher, self._cache, self._objects = watcher, cache, cache.objects

    def _observe(self, event: CacheEvent) -> bool:
        key = event.obj.key
        if event.type == "DELETED":
            self._charges.pop(key, None)
            return True
        if event.prev is None:
            return True
        before = quantities(_d(event.prev.obj.get("status")).get("used"))
        after = quantities(_d(event.obj.obj.get("status")).get("used"))
        increase = {k: v.sub(before[k]) if k in before else v for k, v in after.items()}
        increase = {k: v for k, v in increase.items() if v.sign() > 0}
        if increase:
            self._charges.setdefault(key, []).append((self.clock(), event.revision,
                                                      increase))
        return True

    def charged_here(self, quota_key: str, revision: int, store: ResourceStore,
                     object_key: str, uid: str) -> None:
        """Record that this server's admission wrote ``revision`` for that object."""
        self._mine[(quota_key, revision)] = (store, object_key, uid)

    def recalculated_here(self, quota_key: str, revision: int) -> None:
        """Record that ``revision`` was this server's own recalculation."""
        self._recalculated.add((quota_key, revision))

    def trusted(self) -> bool:
        """Whether every charge since the last CHARGE_GRACE seconds was seen."""
        return self.clock() >= self._blind_until

    def pending(self, quota_key: str) -> Usage:
        """The sum of ``quota_key``'s charges that may still be in flight (a charge whose
        object was seen written is settled for good)."""
        now = self.clock()
        kept = [c for c in self._charges.get(quota_key, ())
                if now - c[0] < CHARGE_GRACE and (quota_key, c[1]) not in self._recalculated
                and not self._landed(quota_key, c[1])]
        if kept:
            self._charges[quota_key] = kept
        else:
            self._charges.pop(quota_key, None)
        total: Usage = {}
        for _seen, _revision, increase in kept:
            total = add(total, increase)
        return total

    def _landed(self, quota_key: str, revision: int) -> bool:
        mine = self._mine.get((quota_key, revision))
        if mine is None:
            return False
        store, object_key, uid = mine
        cached = store.cache.get(object_key)
        return cached is not None and cached.revision > revision and \
            _d(cached.obj.get("metadata")).get("uid") == uid

    def forget_old(self) -> None:
        """Drop bookkeeping for charges past the grace period."""
        live = {(key, c[1]) for key, charges in self._charges.items() for c in charges}
        self._mine = {k: v for k, v in self._mine.items() if k in live}
        self._recalculated &= live


class ResourceQuota:
    """The admission plugin; also keeps ``status`` of every quota current (see the module
    docstring)."""

    name = "ResourceQuota"

    def __init__(self, resources: Resources) -> None:
        self.resources = resources
        self.ledger = ChargeLedger()
        # Per-namespace serialisation of this server's charges (the CAS on the quota is
        # what makes charges safe across servers; this only spares local requests from
        # losing compare-and-swap races to each other).
        self._locks: dict[str, tuple[asyncio.Lock, list[int]]] = {}

    # ---- usage ---------------------------------------------------------------------------
    def _types(self) -> list[ResourceType]:
        out = []
        for rt in self.resources.registry.all():
            if rt.namespaced and not rt.virtual and rt.preferred and \
                    self.resources.get(rt) is not None:
                out.append(rt)
        return out

    def _quota_store(self) -> ResourceStore | None:
        store = self.resources.for_kind("", "ResourceQuota")
        if store is not None:
            self.ledger.follow(store.cache)
        return store

    def _quotas(self, namespace: str) -> list[Obj]:
        store = self._quota_store()
        if store is None:
            return []
        return [c.obj for c in store.cache.iter_from(namespace)]

    def usage(self, quota: Obj, namespace: str) -> Usage:
        """Current usage in ``namespace`` of every resource ``quota`` constrains, counted
        from the objects that exist (charges in flight excluded)."""
        hard = quantities(_d(quota.get("spec")).get("hard"))
        used: Usage = {k: Quantity(0) for k in hard}
        for rt in self._types():
            names = [k for k in hard if _matching(rt, k)]
            if not names:
                continue
            store = self.resources.get(rt)
            if store is None:
                continue
            for cached in store.cache.iter_from(namespace):
                obj = cached.obj
                if not _applies_to(quota, rt, obj):
                    continue
                u = object_usage(rt, obj)
                for k in names:
                    if k in u:
                        used[k] = used[k].add(u[k])
        return {k: Quantity(v.nanos, hard[k].format) for k, v in used.items()}

    def charged_usage(self, quota: Obj, namespace: str) -> Usage:
        """What admission charges against: ``status.used`` (which holds charges whose
        objects are not written yet) or, where larger or missing, the live count (objects
        that never went through admission, a quota whose status is not written yet)."""
        live = self.usage(quota, namespace)
        recorded = quantities(_d(quota.get("status")).get("used"))
        return {k: recorded[k] if k in recorded and recorded[k] > v else v
                for k, v in live.items()}

    async def recalculate(self, resources: Resources | None = None) -> None:
        """Write ``status.hard`` and ``status.used`` on every ResourceQuota that is stale:
        used is the live count plus the charges that may still be in flight (never less
        than the live count, never more than what status says already)."""
        store = (resources or self.resources).for_kind("", "ResourceQuota")
        if store is None:
            return
        await store.cache.wait_consistent()
        self.ledger.follow(store.cache)
        self.ledger.forget_old()
        trusted = self.ledger.trusted()
        # Every target below is computed without an await in between: one cache state.
        targets = []
        for cached in list(store.cache.iter_from(None)):
            quota = cached.obj
            live = self.usage(quota, cached.namespace)
            recorded = quantities(_d(quota.get("status")).get("used"))
            pending = self.ledger.pending(cached.key)
            used: dict[str, str] = {}
            for k, v in live.items():
                floor = v
                if k in recorded and recorded[k] > v:
                    in_flight = recorded[k].sub(v)
                    if trusted and k in pending and pending[k] < in_flight:
                        in_flight = pending[k]
                    elif trusted and k not in pending:
                        in_flight = Quantity(0)
                    floor = v.add(in_flight)
                used[k] = str(Quantity(floor.nanos, v.format))
            hard = _d(_d(quota.get("spec")).get("hard"))
            status = _d(quota.get("status"))
            if status.get("hard") != hard or status.get("used") != used:
                targets.append((cached, {"hard": dict(hard), "used": used}))
        for cached, wanted in targets:
            await self._write_status(store, cached, wanted)

    async def _write_status(self, store: ResourceStore, cached: CachedObject,
                            status: dict[str, Any]) -> None:
        expected = str(cached.revision)

        def transform(cur: Obj | None) -> Obj:
            # Computed against exactly that revision: anything newer (a charge) wins.
            if cur is None or _d(cur.get("metadata")).get("resourceVersion") != expected:
                raise errors.conflict("resourcequotas", cached.name, errors.STALE_OBJECT)
            cur["status"] = status
            return cur

        try:
            written, _ = await store.update(cached.namespace, cached.name, transform,
                                            WriteOptions(subresource="status"),
                                            retry_on_conflict=False)
        except errors.StatusError:
            return  # changed meanwhile or gone: the next pass looks again
        revision = _d(written.get("metadata")).get("resourceVersion")
        if isinstance(revision, str) and revision.isdigit():
            self.ledger.recalculated_here(cached.key, int(revision))

    # ---- admission -----------------------------------------------------------------------
    async def admit(self, req: AdmissionRequest, obj: Obj | None, old: Obj | None) -> None:
        return None

    async def validate(self, req: AdmissionRequest, obj: Obj | None, old: Obj | None) -> None:
        if obj is None or not req.namespace or not req.rt.namespaced or req.rt.virtual:
            return
        if req.operation not in ("CREATE", "UPDATE"):
            return
        if req.subresource not in ("", "resize"):
            return
        quotas = self._quotas(req.namespace)
        if not quotas:
            return
        rt = req.rt
        if self.resources.get(rt) is None or not rt.preferred:
            found = self.resources.for_kind(rt.group, rt.kind)
            rt = found.rt if found is not None else rt
        # Object counts only change on create; pods, services and claims may grow.
        if req.operation == "UPDATE" and (
                rt.group != "" or rt.plural not in ("pods", "services",
                                                    "persistentvolumeclaims")):
            return
        new_usage = object_usage(rt, obj)
        delta = dict(new_usage)
        if req.operation == "UPDATE" and old is not None:
            old_usage = object_usage(rt, old)
            delta = {k: v.sub(old_usage[k]) if k in old_usage else v
                     for k, v in new_usage.items()}
            delta = {k: v for k, v in delta.items() if v.sign() > 0}
            if not delta:
                return
        name = str(_d(obj.get("metadata")).get("name", "")) or req.name
        charge = _Charge(rt, req.namespace, name, delta, obj)
        # First against the cache, refusing early without writing anything.
        to_charge = [q for q in sorted(quotas, key=_quota_name)
                     if self._check(charge, q, req.operation == "CREATE")]
        if not to_charge or req.dry_run:
            return  # a dry run is checked, never charged (as upstream)
        store = self.resources.get(rt)
        if req.operation == "CREATE" and store is not None and \
                store.cache.get(store.key(req.namespace, name)) is not None:
            # The create fails right after admission anyway: do not charge for it.
            raise errors.already_exists(rt.plural, name, rt.group)
        async with self._serialised(req.namespace):
            for quota in to_charge:
                await self._charge(charge, _quota_name(quota), store)

    def _check(self, charge: _Charge, quota: Obj, creating: bool) -> Usage:
        """What ``charge`` asks of ``quota`` (empty when it does not concern it); raises
        403 when it does not fit."""
        rt = charge.rt
        hard = quantities(_d(quota.get("spec")).get("hard"))
        restricted = {k for k in hard if _matching(rt, k)}
        if not restricted or not _applies_to(quota, rt, charge.obj):
            return {}
        if rt.group == "" and rt.plural == "pods" and creating:
            missing = missing_constraints(restricted, charge.obj)
            if missing:
                raise errors.forbidden_operation(
                    rt.plural, charge.name, f"failed quota: {_quota_name(quota)}: {missing}",
                    rt.group)
        requested = {k: v for k, v in charge.delta.items() if k in hard}
        if not requested:
            return {}
        used = self.charged_usage(quota, charge.namespace)
        # On update ``used`` already counts the old object; ``requested`` is the growth.
        exceeded = sorted(k for k, v in requested.items()
                          if used.get(k, Quantity(0)).add(v) > hard[k])
        if exceeded:
            req_s = pretty({k: requested[k] for k in exceeded})
            used_s = pretty({k: used.get(k, Quantity(0)) for k in exceeded})
            hard_s = pretty({k: hard[k] for k in exceeded})
            raise errors.forbidden_operation(
                rt.plural, charge.name,
                f"exceeded quota: {_quota_name(quota)}, requested: {req_s}, "
                f"used: {used_s}, limited: {hard_s}", rt.group)
        return requested

    async def _charge(self, charge: _Charge, quota_name: str,
                      object_store: ResourceStore | None) -> None:
        """Add ``charge`` to the quota's ``status.used`` with a compare-and-swap update; a
        lost race re-evaluates against the newer quota (and may then refuse)."""
        store = self._quota_store()
        if store is None:
            return
        charged = False

        def transform(cur: Obj | None) -> Obj:
            nonlocal charged
            if cur is None:
                raise errors.not_found("resourcequotas", quota_name)
            requested = self._check(charge, cur, creating=False)
            charged = bool(requested)
            if not requested:
                return cur  # the quota no longer concerns this object: nothing to write
            used = self.charged_usage(cur, charge.namespace)
            for k, v in requested.items():
                used[k] = used[k].add(v) if k in used else v
            hard = _d(_d(cur.get("spec")).get("hard"))
            cur["status"] = {"hard": dict(hard), "used": {k: str(v) for k, v in used.items()}}
            return cur

        try:
            written, _ = await store.update(charge.namespace, quota_name, transform,
                                            WriteOptions(subresource="status"))
        except errors.StatusError as exc:
            if exc.code == 404:
                return  # the quota was deleted meanwhile: nothing to charge
            raise
        revision = _d(written.get("metadata")).get("resourceVersion")
        uid = _d(charge.obj.get("metadata")).get("uid")
        if charged and object_store is not None and isinstance(revision, str) and \
                revision.isdigit() and isinstance(uid, str):
            self.ledger.charged_here(store.key(charge.namespace, quota_name), int(revision),
                                     object_store,
                                     object_store.key(charge.namespace, charge.name), uid)

    @contextlib.asynccontextmanager
    async def _serialised(self, namespace: str) -> AsyncIterator[None]:
        lock, users = self._locks.setdefault(namespace, (asyncio.Lock(), [0]))
        users[0] += 1
        try:
            async with lock:
                yield
        finally:
            users[0] -= 1
            if not users[0]:
                self._locks.pop(namespace, None)


@dataclass(frozen=True, slots=True)
class _Charge:
    """One admission's request: the object's type, namespace, name and usage growth."""

    rt: ResourceType
    namespace: str
    name: str
    delta: Usage
    obj: Obj
