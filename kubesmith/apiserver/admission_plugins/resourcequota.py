"""ResourceQuota admission and usage, as upstream's ``plugin/pkg/admission/resourcequota``
with the quota evaluators of ``pkg/quota/v1/evaluator/core``.

A write (create, or an update that raises usage) of an object in a namespace with
ResourceQuota objects is refused with 403 ``... is forbidden: exceeded quota: q,
requested: r=v, used: r=v, limited: r=v`` when it would take usage past ``spec.hard``.
Pods that lack a cpu or memory request or limit a matching quota constrains are refused
with ``failed quota: q: must specify limits.cpu for: c; requests.memory for: c,d``.

Usage is computed from the watch cache at admission time (upstream reads ``status.used``,
which its controller keeps up to date); :meth:`ResourceQuota.recalculate` writes
``status.hard`` and ``status.used`` on every quota for clients to read.

Evaluated: pods (``pods``, ``cpu``/``memory``/``ephemeral-storage``, their ``requests.``
and ``limits.`` forms, ``hugepages-*``, extended ``requests.*``; terminal pods count only
for ``count/pods``), services (``services``, ``services.nodeports``,
``services.loadbalancers``), persistentvolumeclaims (``persistentvolumeclaims``,
``requests.storage`` and the per-storage-class forms), configmaps, secrets,
replicationcontrollers, resourcequotas, and ``count/<resource>[.<group>]`` for every
stored resource. Quota scopes (``Terminating``, ``NotTerminating``, ``BestEffort``,
``NotBestEffort`` and ``scopeSelector`` on ``PriorityClass``) restrict pod quotas.
Concurrent creates are not serialised against each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubesmith.api import errors
from kubesmith.api.resource_types import ResourceType
from kubesmith.api.resources import Resources
from kubesmith.api.store import WriteOptions
from kubesmith.api.types import Obj
from kubesmith.api.validation.quantity import Quantity, QuantityError, parse_quantity
from kubesmith.apiserver.admission import AdmissionRequest

Usage = dict[str, Quantity]

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


class ResourceQuota:
    name = "ResourceQuota"

    def __init__(self, resources: Resources) -> None:
        self.resources = resources

    # ---- usage ---------------------------------------------------------------------------
    def _types(self) -> list[ResourceType]:
        out = []
        for rt in self.resources.registry.all():
            if rt.namespaced and not rt.virtual and rt.preferred and \
                    self.resources.get(rt) is not None:
                out.append(rt)
        return out

    def _quotas(self, namespace: str) -> list[Obj]:
        store = self.resources.for_kind("", "ResourceQuota")
        if store is None:
            return []
        return [c.obj for c in store.cache.iter_from(namespace)]

    def usage(self, quota: Obj, namespace: str) -> Usage:
        """Current usage in ``namespace`` of every resource ``quota`` constrains."""
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

    async def recalculate(self, resources: Resources | None = None) -> None:
        """Write ``status.hard`` and ``status.used`` on every ResourceQuota that is stale."""
        res = resources or self.resources
        store = res.for_kind("", "ResourceQuota")
        if store is None:
            return
        await store.cache.wait_consistent()
        for cached in list(store.cache.iter_from(None)):
            quota = cached.obj
            namespace = cached.namespace
            hard = _d(_d(quota.get("spec")).get("hard"))
            used = {k: str(v) for k, v in self.usage(quota, namespace).items()}
            status = _d(quota.get("status"))
            if status.get("hard") == hard and status.get("used") == used:
                continue

            def transform(cur: Obj | None, hard: dict[str, Any] = hard,
                          used: dict[str, str] = used, name: str = cached.name) -> Obj:
                if cur is None:
                    raise errors.not_found("resourcequotas", name)
                cur["status"] = {"hard": dict(hard), "used": used}
                return cur

            try:
                await store.update(namespace, cached.name, transform,
                                   WriteOptions(subresource="status"))
            except errors.StatusError:
                continue

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
        for quota in sorted(quotas, key=_quota_name):
            hard = quantities(_d(quota.get("spec")).get("hard"))
            restricted = {k for k in hard if _matching(rt, k)}
            if not restricted or not _applies_to(quota, rt, obj):
                continue
            if rt.group == "" and rt.plural == "pods" and req.operation == "CREATE":
                missing = missing_constraints(restricted, obj)
                if missing:
                    raise errors.forbidden_operation(
                        rt.plural, name, f"failed quota: {_quota_name(quota)}: {missing}",
                        rt.group)
            requested = {k: v for k, v in delta.items() if k in hard}
            if not requested:
                continue
            used = self.usage(quota, req.namespace)
            # On update ``used`` already counts the old object; ``requested`` is the growth.
            exceeded = sorted(k for k, v in requested.items()
                              if used.get(k, Quantity(0)).add(v) > hard[k])
            if exceeded:
                req_s = pretty({k: requested[k] for k in exceeded})
                used_s = pretty({k: used.get(k, Quantity(0)) for k in exceeded})
                hard_s = pretty({k: hard[k] for k in exceeded})
                raise errors.forbidden_operation(
                    rt.plural, name,
                    f"exceeded quota: {_quota_name(quota)}, requested: {req_s}, "
                    f"used: {used_s}, limited: {hard_s}", rt.group)
