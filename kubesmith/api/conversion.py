"""Conversion between served versions that share one store.

Some resources are served at several group/versions over one set of stored objects: core
``v1`` Events and ``events.k8s.io/v1`` Events; ``autoscaling/v2`` and ``autoscaling/v1``
HorizontalPodAutoscalers; custom resources with several served versions (conversion
strategy ``None``). Objects are stored in one version (the storage version); a request at
another version is converted on the way in and on the way out, exactly as kube-apiserver
converts through its internal version.

:class:`ConvertingStore` wraps the storage version's :class:`ResourceStore` so the handlers
use it like any other store; the per-object converted bytes are memoised on the cached
object, so a watch fanning a change out to many clients converts it once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import orjson

from kubesmith.api.resource_types import ResourceType
from kubesmith.api.store import DeleteOptions, DeleteResult, ResourceStore, WriteOptions
from kubesmith.api.strategies.base import Strategy
from kubesmith.api.types import Obj
from kubesmith.api.watchcache import CachedObject, cached_object

Converter = Callable[[Obj], Obj]

# ---- core/v1 Event <-> events.k8s.io/v1 Event -------------------------------------------
# (core field, events.k8s.io field); the rest have the same name in both.
_EVENT_RENAMES = (
    ("involvedObject", "regarding"),
    ("message", "note"),
    ("source", "deprecatedSource"),
    ("firstTimestamp", "deprecatedFirstTimestamp"),
    ("lastTimestamp", "deprecatedLastTimestamp"),
    ("count", "deprecatedCount"),
    ("reportingComponent", "reportingController"),
)
_EVENT_SHARED = ("metadata", "reason", "type", "action", "related", "series", "eventTime",
                 "reportingInstance")


def core_event_to_events_v1(obj: Obj) -> Obj:
    out: Obj = {"kind": "Event", "apiVersion": "events.k8s.io/v1"}
    for name in _EVENT_SHARED:
        if name in obj:
            out[name] = obj[name]
    for core, new in _EVENT_RENAMES:
        if core in obj and obj[core] not in (None, "", {}):
            out[new] = obj[core]
    # events.k8s.io requires eventTime; upstream fills it from the legacy timestamps.
    out.setdefault("eventTime", None)
    return out


def events_v1_to_core_event(obj: Obj) -> Obj:
    out: Obj = {"kind": "Event", "apiVersion": "v1"}
    for name in _EVENT_SHARED:
        if name in obj:
            out[name] = obj[name]
    for core, new in _EVENT_RENAMES:
        if new in obj:
            out[core] = obj[new]
    out.setdefault("involvedObject", {})
    return out


# ---- autoscaling/v2 <-> autoscaling/v1 HorizontalPodAutoscaler --------------------------
_METRICS_ANNOTATION = "autoscaling.alpha.kubernetes.io/metrics"
_CURRENT_METRICS_ANNOTATION = "autoscaling.alpha.kubernetes.io/current-metrics"
_CONDITIONS_ANNOTATION = "autoscaling.alpha.kubernetes.io/conditions"
_BEHAVIOR_ANNOTATION = "autoscaling.alpha.kubernetes.io/behavior"


def _is_cpu_utilization(metric: Any) -> bool:
    return (isinstance(metric, dict) and metric.get("type") == "Resource"
            and (metric.get("resource") or {}).get("name") == "cpu"
            and ((metric.get("resource") or {}).get("target") or {}).get("type")
            == "Utilization")


def hpa_v2_to_v1(obj: Obj) -> Obj:
    """v1 keeps only the CPU utilization target; everything else rides in annotations,
    as upstream does, so a v1 round trip loses nothing."""
    meta = dict(obj.get("metadata") or {})
    annotations = dict(meta.get("annotations") or {})
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    v1_spec: Obj = {k: spec[k] for k in ("scaleTargetRef", "minReplicas", "maxReplicas")
                    if k in spec}
    other: list[Any] = []
    for metric in spec.get("metrics") or []:
        if _is_cpu_utilization(metric) and "targetCPUUtilizationPercentage" not in v1_spec:
            v1_spec["targetCPUUtilizationPercentage"] = \
                metric["resource"]["target"].get("averageUtilization")
        else:
            other.append(metric)
    if other:
        annotations[_METRICS_ANNOTATION] = orjson.dumps(other).decode()
    if spec.get("behavior"):
        annotations[_BEHAVIOR_ANNOTATION] = orjson.dumps(spec["behavior"]).decode()
    v1_status: Obj = {k: status[k] for k in ("observedGeneration", "lastScaleTime",
                                              "currentReplicas", "desiredReplicas")
                      if k in status}
    current_other: list[Any] = []
    for metric in status.get("currentMetrics") or []:
        res = (metric or {}).get("resource") or {}
        if metric.get("type") == "Resource" and res.get("name") == "cpu" and \
                "averageUtilization" in (res.get("current") or {}):
            v1_status["currentCPUUtilizationPercentage"] = res["current"]["averageUtilization"]
        else:
            current_other.append(metric)
    if current_other:
        annotations[_CURRENT_METRICS_ANNOTATION] = orjson.dumps(current_other).decode()
    if status.get("conditions"):
        annotations[_CONDITIONS_ANNOTATION] = orjson.dumps(status["conditions"]).decode()
    if annotations:
        meta["annotations"] = annotations
    out: Obj = {"kind": "HorizontalPodAutoscaler", "apiVersion": "autoscaling/v1",
                "metadata": meta, "spec": v1_spec}
    if v1_status or "status" in obj:
        v1_status.setdefault("currentReplicas", 0)
        v1_status.setdefault("desiredReplicas", 0)
        out["status"] = v1_status
    return out


def hpa_v1_to_v2(obj: Obj) -> Obj:
    meta = dict(obj.get("metadata") or {})
    annotations = dict(meta.get("annotations") or {})
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    metrics: list[Any] = []
    if spec.get("targetCPUUtilizationPercentage") is not None:
        metrics.append({"type": "Resource", "resource": {"name": "cpu", "target": {
            "type": "Utilization",
            "averageUtilization": spec["targetCPUUtilizationPercentage"]}}})
    extra = annotations.pop(_METRICS_ANNOTATION, None)
    if extra:
        metrics.extend(_json_list(extra))
    v2_spec: Obj = {k: spec[k] for k in ("scaleTargetRef", "minReplicas", "maxReplicas")
                    if k in spec}
    if metrics:
        v2_spec["metrics"] = metrics
    behavior = annotations.pop(_BEHAVIOR_ANNOTATION, None)
    if behavior:
        with contextlib.suppress(orjson.JSONDecodeError):
            v2_spec["behavior"] = orjson.loads(behavior)
    v2_status: Obj = {k: status[k] for k in ("observedGeneration", "lastScaleTime",
                                              "currentReplicas", "desiredReplicas")
                      if k in status}
    current: list[Any] = []
    if status.get("currentCPUUtilizationPercentage") is not None:
        current.append({"type": "Resource", "resource": {"name": "cpu", "current": {
            "averageUtilization": status["currentCPUUtilizationPercentage"]}}})
    current.extend(_json_list(annotations.pop(_CURRENT_METRICS_ANNOTATION, None)))
    if current:
        v2_status["currentMetrics"] = current
    conditions = _json_list(annotations.pop(_CONDITIONS_ANNOTATION, None))
    if conditions:
        v2_status["conditions"] = conditions
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    out: Obj = {"kind": "HorizontalPodAutoscaler", "apiVersion": "autoscaling/v2",
                "metadata": meta, "spec": v2_spec}
    if "status" in obj:
        out["status"] = v2_status
    return out


def _json_list(text: str | None) -> list[Any]:
    if not text:
        return []
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return []
    return value if isinstance(value, list) else []


_CONVERTERS: dict[tuple[str, str, str], Converter] = {
    ("Event", "v1", "events.k8s.io/v1"): core_event_to_events_v1,
    ("Event", "events.k8s.io/v1", "v1"): events_v1_to_core_event,
    ("HorizontalPodAutoscaler", "autoscaling/v2", "autoscaling/v1"): hpa_v2_to_v1,
    ("HorizontalPodAutoscaler", "autoscaling/v1", "autoscaling/v2"): hpa_v1_to_v2,
}


# The apiVersion built-in resources served at several versions are stored in.
_STORAGE_VERSIONS = {
    "/registry/core/events/": "v1",
    "/registry/autoscaling/horizontalpodautoscalers/": "autoscaling/v2",
}


def storage_api_version(rt: ResourceType) -> str:
    """The apiVersion objects of a built-in resource are stored in."""
    return _STORAGE_VERSIONS.get(rt.key_prefix, rt.api_version)


def converter(kind: str, from_version: str, to_version: str) -> Converter:
    """The conversion between two apiVersions of ``kind``; with no registered converter the
    versions are schema-identical (custom resources, strategy None): rewrite apiVersion."""
    if from_version == to_version:
        return lambda obj: obj
    found = _CONVERTERS.get((kind, from_version, to_version))
    if found is not None:
        return found

    def rewrite(obj: Obj) -> Obj:
        out = dict(obj)
        out["apiVersion"] = to_version
        return out
    return rewrite


class ConvertingStore(ResourceStore):
    """A served version over another version's store: converts requests and answers."""

    def __init__(self, rt: ResourceType, strategy: Strategy, inner: ResourceStore,
                 storage_version: str) -> None:
        super().__init__(rt, strategy, inner.store, inner.cache)
        self.inner = inner
        self.storage_version = storage_version
        self.to_storage = converter(rt.kind, rt.api_version, storage_version)
        self.from_storage = converter(rt.kind, storage_version, rt.api_version)

    def key(self, namespace: str | None, name: str) -> str:
        return self.inner.key(namespace, name)

    def view(self, cached: CachedObject) -> CachedObject:
        """``cached`` as this version serves it (memoised per object revision)."""
        api_version = self.rt.api_version
        if cached.api_version == api_version:
            return cached
        views = cached.views
        hit = views.get(api_version)
        if hit is None:
            obj = self.from_storage(orjson.loads(cached.raw))
            hit = cached_object(cached.key, cached.namespace, cached.name, obj,
                                cached.revision, cached.fields)
            views[api_version] = hit
        return hit

    async def create(self, namespace: str | None, obj: Obj,
                     opts: WriteOptions | None = None) -> Obj:
        created = await self.inner.create(namespace, self.to_storage(obj), opts)
        return self.from_storage(created)

    async def update(self, namespace: str | None, name: str,
                     transform: Callable[[Obj | None], Obj],
                     opts: WriteOptions | None = None, *, retry_on_conflict: bool = True,
                     create_if_missing: bool = False) -> tuple[Obj, bool]:
        def converted(current: Obj | None) -> Obj:
            served = self.from_storage(current) if current is not None else None
            return self.to_storage(transform(served))

        result, created = await self.inner.update(
            namespace, name, converted, opts, retry_on_conflict=retry_on_conflict,
            create_if_missing=create_if_missing)
        return self.from_storage(result), created

    async def delete(self, namespace: str | None, name: str,
                     opts: DeleteOptions | None = None) -> DeleteResult:
        result = await self.inner.delete(namespace, name, opts)
        return DeleteResult(self.from_storage(result.obj), result.deleted)
