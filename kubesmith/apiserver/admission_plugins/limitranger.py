"""LimitRanger admission, as upstream's ``plugin/pkg/admission/limitranger``.

On pod creation (not mirror pods, not updates) containers and init containers missing a
request or limit get the ``defaultRequest``/``default`` of the namespace's LimitRanges of
type ``Container``, recorded in the ``kubernetes.io/limit-ranger`` annotation. Pods are then
checked against ``min``, ``max`` and ``maxLimitRequestRatio`` of type ``Container`` (each
container) and ``Pod`` (the pod's effective totals); PersistentVolumeClaims (create and
update) against ``min``/``max`` of type ``PersistentVolumeClaim``. A violation is a 403
``pods "x" is forbidden: maximum cpu usage per Container is 1, but limit is 2`` (several
join as ``[a, b]``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubesmith.api import errors
from kubesmith.api.resources import Resources
from kubesmith.api.types import Obj
from kubesmith.api.validation.quantity import Quantity
from kubesmith.apiserver.admission import AdmissionRequest
from kubesmith.apiserver.admission_plugins.resourcequota import quantities

LIMIT_RANGER_ANNOTATION = "kubernetes.io/limit-ranger"
MIRROR_POD_ANNOTATION = "kubernetes.io/config.mirror"
# Upstream compares in milli-units while every value fits in an int64 of them.
_MAX_MILLI = (2**63 - 1) // 1000


def _d(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _maps(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _observed(req: Quantity | None, lim: Quantity | None,
              enforced: Quantity) -> tuple[int, int, int]:
    """Upstream's ``requestLimitEnforcedValues``: milli-values unless one is too large."""
    qs = [q for q in (req, lim, enforced) if q is not None]
    if all(q.value() <= _MAX_MILLI for q in qs):
        def conv(q: Quantity | None) -> int:
            return q.milli_value() if q is not None else 0
    else:
        def conv(q: Quantity | None) -> int:
            return q.value() if q is not None else 0
    return conv(req), conv(lim), conv(enforced)


def min_constraint(kind: str, res: str, enforced: Quantity, request: Mapping[str, Quantity],
                   limit: Mapping[str, Quantity]) -> str:
    req, lim = request.get(res), limit.get(res)
    r, l_, e = _observed(req, lim, enforced)
    if req is None:
        return f"minimum {res} usage per {kind} is {enforced}.  No request is specified"
    if r < e:
        return f"minimum {res} usage per {kind} is {enforced}, but request is {req}"
    if lim is not None and l_ < e:
        return f"minimum {res} usage per {kind} is {enforced}, but limit is {lim}"
    return ""


def max_request_constraint(kind: str, res: str, enforced: Quantity,
                           request: Mapping[str, Quantity]) -> str:
    req = request.get(res)
    r, _, e = _observed(req, None, enforced)
    if req is None:
        return f"maximum {res} usage per {kind} is {enforced}.  No request is specified"
    if r > e:
        return f"maximum {res} usage per {kind} is {enforced}, but request is {req}"
    return ""


def max_constraint(kind: str, res: str, enforced: Quantity, request: Mapping[str, Quantity],
                   limit: Mapping[str, Quantity]) -> str:
    req, lim = request.get(res), limit.get(res)
    r, l_, e = _observed(req, lim, enforced)
    if lim is None:
        return f"maximum {res} usage per {kind} is {enforced}.  No limit is specified"
    if l_ > e:
        return f"maximum {res} usage per {kind} is {enforced}, but limit is {lim}"
    if req is not None and r > e:
        return f"maximum {res} usage per {kind} is {enforced}, but request is {req}"
    return ""


def ratio_constraint(kind: str, res: str, enforced: Quantity, request: Mapping[str, Quantity],
                     limit: Mapping[str, Quantity]) -> str:
    req, lim = request.get(res), limit.get(res)
    r, l_, _ = _observed(req, lim, enforced)
    if req is None or r == 0:
        return (f"{res} max limit to request ratio per {kind} is {enforced}, but no request "
                "is specified or request is 0")
    if lim is None or l_ == 0:
        return (f"{res} max limit to request ratio per {kind} is {enforced}, but no limit "
                "is specified or limit is 0")
    ratio = l_ / r
    observed, maximum = ratio, float(enforced.value())
    if enforced.value() <= _MAX_MILLI:
        observed, maximum = ratio * 1000, float(enforced.milli_value())
    if observed > maximum:
        return (f"{res} max limit to request ratio per {kind} is {enforced}, but provided "
                f"ratio is {ratio:f}")
    return ""


def _check(kind: str, item: Mapping[str, Any], request: Mapping[str, Quantity],
           limit: Mapping[str, Quantity], errs: list[str]) -> None:
    for res, q in quantities(item.get("min")).items():
        errs.append(min_constraint(kind, res, q, request, limit))
    for res, q in quantities(item.get("max")).items():
        errs.append(max_constraint(kind, res, q, request, limit))
    for res, q in quantities(item.get("maxLimitRequestRatio")).items():
        errs.append(ratio_constraint(kind, res, q, request, limit))


def _pod_total(spec: Mapping[str, Any], field: str) -> dict[str, Quantity]:
    """Containers summed, then the largest init container where larger (upstream's
    ``podRequests``/``podLimits`` in this plugin)."""
    total: dict[str, Quantity] = {}
    for ctr in _maps(spec.get("containers")):
        for k, v in quantities(_d(ctr.get("resources")).get(field)).items():
            total[k] = total[k].add(v) if k in total else v
    for ctr in _maps(spec.get("initContainers")):
        for k, v in quantities(_d(ctr.get("resources")).get(field)).items():
            if k not in total or v > total[k]:
                total[k] = v
    return total


def _merge_defaults(ctr: dict[str, Any], limits: Mapping[str, Any],
                    requests: Mapping[str, Any], prefix: str, notes: list[str]) -> None:
    resources = ctr.get("resources")
    if not isinstance(resources, dict):
        resources = ctr["resources"] = {}
    set_limits: list[str] = []
    set_requests: list[str] = []
    for field, defaults, record in (("limits", limits, set_limits),
                                    ("requests", requests, set_requests)):
        if not defaults:
            continue
        current = resources.get(field)
        if not isinstance(current, dict):
            current = {}
        for k, v in defaults.items():
            if k not in current:
                current[k] = v
                record.append(k)
        if current:
            resources[field] = current
    if set_requests:
        notes.append(f"{', '.join(sorted(set_requests))} request for {prefix} {ctr.get('name')}")
    if set_limits:
        notes.append(f"{', '.join(sorted(set_limits))} limit for {prefix} {ctr.get('name')}")


class LimitRanger:
    name = "LimitRanger"

    def __init__(self, resources: Resources) -> None:
        self.resources = resources

    def _ranges(self, namespace: str) -> list[Obj]:
        store = self.resources.for_kind("", "LimitRange")
        if store is None:
            return []
        return [c.obj for c in store.cache.iter_from(namespace)]

    @staticmethod
    def _kind(req: AdmissionRequest, obj: Obj | None) -> str:
        if obj is None or req.subresource or req.rt.group != "" or not req.namespace:
            return ""
        if req.rt.plural == "pods":
            if req.operation != "CREATE":
                return ""
            annotations = _d(_d(obj.get("metadata")).get("annotations"))
            return "" if MIRROR_POD_ANNOTATION in annotations else "pods"
        if req.rt.plural == "persistentvolumeclaims" and req.operation in ("CREATE", "UPDATE"):
            return "persistentvolumeclaims"
        return ""

    async def admit(self, req: AdmissionRequest, obj: Obj | None, old: Obj | None) -> None:
        if obj is None or self._kind(req, obj) != "pods":
            return
        for lr in self._ranges(req.namespace):
            limits: dict[str, Any] = {}
            requests: dict[str, Any] = {}
            for item in _maps(_d(lr.get("spec")).get("limits")):
                if item.get("type") != "Container":
                    continue
                limits.update(_d(item.get("default")))
                requests.update(_d(item.get("defaultRequest")))
            if not limits and not requests:
                continue
            spec = _d(obj.get("spec"))
            notes: list[str] = []
            for ctr in _maps(spec.get("containers")):
                _merge_defaults(ctr, limits, requests, "container", notes)
            for ctr in _maps(spec.get("initContainers")):
                _merge_defaults(ctr, limits, requests, "init container", notes)
            if notes:
                meta = obj.setdefault("metadata", {})
                annotations = meta.get("annotations")
                if not isinstance(annotations, dict):
                    annotations = meta["annotations"] = {}
                annotations[LIMIT_RANGER_ANNOTATION] = \
                    "LimitRanger plugin set: " + "; ".join(notes)

    async def validate(self, req: AdmissionRequest, obj: Obj | None, old: Obj | None) -> None:
        kind = self._kind(req, obj)
        if obj is None or not kind:
            return
        errs: list[str] = []
        spec = _d(obj.get("spec"))
        for lr in self._ranges(req.namespace):
            for item in _maps(_d(lr.get("spec")).get("limits")):
                typ = item.get("type")
                if kind == "pods" and typ == "Container":
                    for key in ("containers", "initContainers"):
                        for ctr in _maps(spec.get(key)):
                            rr = _d(ctr.get("resources"))
                            _check("Container", item, quantities(rr.get("requests")),
                                   quantities(rr.get("limits")), errs)
                elif kind == "pods" and typ == "Pod":
                    _check("Pod", item, _pod_total(spec, "requests"),
                           _pod_total(spec, "limits"), errs)
                elif kind == "persistentvolumeclaims" and typ == "PersistentVolumeClaim":
                    requests = quantities(_d(spec.get("resources")).get("requests"))
                    for rname, q in quantities(item.get("min")).items():
                        errs.append(min_constraint("PersistentVolumeClaim", rname, q,
                                                   requests, {}))
                    for rname, q in quantities(item.get("max")).items():
                        errs.append(max_request_constraint("PersistentVolumeClaim", rname, q,
                                                           requests))
        errs = [e for e in errs if e]
        if errs:
            message = errs[0] if len(errs) == 1 else "[" + ", ".join(errs) + "]"
            name = str(_d(obj.get("metadata")).get("name", "")) or req.name
            raise errors.forbidden_operation(kind, name, message)
