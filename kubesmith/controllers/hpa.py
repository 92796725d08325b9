"""The HorizontalPodAutoscaler controller (autoscaling/v2) with upstream's algorithm for
resource metrics: ``desired = ceil(current * usage / target)`` over the target's ready pods,
ignored within the 10% tolerance, bounded by min/max, scale-up limited to
``max(2 * current, current + 4)`` per period and scale-down smoothed by the stabilization
window (the highest recommendation of the last 300 s wins), as upstream's default behavior.

Metrics come from the resource metrics API (``metrics.k8s.io/v1beta1`` PodMetrics). When
it is unavailable the HPA reports exactly what upstream reports — ``ScalingActive=False``
with reason ``FailedGetResourceMetric`` and the matching events — and still enforces
``minReplicas``/``maxReplicas``.
"""

from __future__ import annotations

import copy
import math
import time
from typing import Any
from urllib.parse import quote

import orjson

from kubesmith.api.types import Obj
from kubesmith.api.validation.quantity import QuantityError, parse_quantity
from kubesmith.client import ApiError
from kubesmith.client.rest import HORIZONTALPODAUTOSCALERS, PODS
from kubesmith.controllers.base import Controller, ControllerContext
from kubesmith.controllers.util import (
    NAMESPACE_INDEX,
    index_by_namespace,
    is_pod_ready,
    meta,
    now_rfc3339,
    set_condition,
)

TOLERANCE = 0.1
DOWNSCALE_WINDOW = 300.0


class MetricsUnavailable(Exception):
    """The metrics API could not answer; the message is upstream's wording."""

    def __init__(self, resource: str, message: str) -> None:
        super().__init__(message)
        self.resource = resource


def _milli(value: Any) -> int:
    try:
        return -(-parse_quantity(value).nanos // 1_000_000)
    except (QuantityError, TypeError):
        return 0


def pod_request(pod: Obj, resource: str) -> int:
    """The pod's request for ``resource`` in milli-units (sum over its containers)."""
    total = 0
    for container in (pod.get("spec") or {}).get("containers") or ():
        requests = (container.get("resources") or {}).get("requests") or {}
        if resource in requests:
            total += _milli(requests[resource])
    return total


class HorizontalPodAutoscalerController(Controller):
    name = "horizontal-pod-autoscaler"
    component = "horizontal-pod-autoscaler"
    default_workers = 2

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.hpas = self.informer(HORIZONTALPODAUTOSCALERS)
        self.hpas.add_handlers(on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n))
        self.pods = self.informer(PODS)
        self.pods.add_index(NAMESPACE_INDEX, index_by_namespace)
        # hpa key -> [(monotonic time, recommendation)]
        self._recommendations: dict[str, list[tuple[float, int]]] = {}
        self._scale_paths: dict[tuple[str, str], str] = {}

    async def reconcile(self, key: str) -> None:
        hpa = self.hpas.get(key)
        if hpa is None:
            self._recommendations.pop(key, None)
            return
        try:
            await self._sync(key, copy.deepcopy(hpa))
        finally:
            self.queue.add_after(key, self.options.hpa_sync_period)

    async def _scale_path(self, ns: str, ref: dict[str, Any]) -> str:
        api_version = str(ref.get("apiVersion") or "")
        kind = str(ref.get("kind") or "")
        cache_key = (api_version, kind)
        plural = self._scale_paths.get(cache_key)
        if plural is None:
            prefix = f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"
            listing = await self.client.request("GET", prefix)
            for res in listing.get("resources") or ():
                if res.get("kind") == kind and "/" not in res.get("name", "") and \
                        any(r.get("name") == f"{res['name']}/scale"
                            for r in listing.get("resources") or ()):
                    plural = f"{prefix}/namespaces/{{ns}}/{res['name']}"
                    break
            if plural is None:
                raise ApiError(code=404, reason="NotFound",
                               message=f'no matches for kind "{kind}" in group version '
                               f'"{api_version}" with a scale subresource')
            self._scale_paths[cache_key] = plural
        return plural.format(ns=quote(ns, safe="")) + \
            f"/{quote(str(ref.get('name') or ''), safe='')}/scale"

    async def _sync(self, key: str, hpa: Obj) -> None:
        ns = meta(hpa)["namespace"]
        spec = hpa.get("spec") or {}
        ref = spec.get("scaleTargetRef") or {}
        status: dict[str, Any] = hpa.setdefault("status", {})
        before = copy.deepcopy(status)
        try:
            path = await self._scale_path(ns, ref)
            scale = await self.client.request("GET", path)
        except ApiError as exc:
            message = f"the HPA controller was unable to get the target's current scale: " \
                      f"{exc.message}"
            set_condition(status, "AbleToScale", "False", "FailedGetScale", message)
            self.recorder.event(hpa, "Warning", "FailedGetScale", exc.message)
            await self._write_status(hpa, before)
            return
        # Like upstream, the replica count the algorithm starts from is the target's
        # desired count; status.currentReplicas reports what exists.
        current = int((scale.get("spec") or {}).get("replicas") or 0)
        minimum = int(spec.get("minReplicas") or 1)
        maximum = int(spec.get("maxReplicas") or 1)
        set_condition(status, "AbleToScale", "True", "SucceededGetScale",
                      "the HPA controller was able to get the target's current scale")
        status["currentReplicas"] = int((scale.get("status") or {}).get("replicas") or 0)
        desired = current
        reason = ""
        if current == 0 and minimum != 0:
            set_condition(status, "ScalingActive", "False", "ScalingDisabled",
                          "scaling is disabled since the replica count of the target is "
                          "zero")
            desired = 0
        elif current > maximum:
            desired, reason = maximum, "Current number of replicas above Spec.MaxReplicas"
        elif current < minimum:
            desired, reason = minimum, "Current number of replicas below Spec.MinReplicas"
        else:
            try:
                recommendation, reason, metrics = await self._compute(
                    hpa, ns, str((scale.get("status") or {}).get("selector") or ""), current)
            except MetricsUnavailable as exc:
                value_error = f"failed to get {exc.resource} resource metric value: {exc}"
                set_condition(status, "ScalingActive", "False", "FailedGetResourceMetric",
                              f"the HPA was unable to compute the replica count: "
                              f"{value_error}")
                self.recorder.event(hpa, "Warning", "FailedGetResourceMetric", str(exc))
                self.recorder.event(hpa, "Warning", "FailedComputeMetricsReplicas",
                                    "invalid metrics (1 invalid out of 1), first error is: "
                                    f"{value_error}")
                status["currentMetrics"] = None
                await self._write_status(hpa, before)
                return
            status["currentMetrics"] = metrics
            set_condition(status, "ScalingActive", "True", "ValidMetricFound",
                          "the HPA was able to successfully calculate a replica count from "
                          f"{reason}")
            desired = self._stabilize(key, current, recommendation)
            if desired > maximum:
                desired = maximum
                set_condition(status, "ScalingLimited", "True", "TooManyReplicas",
                              "the desired replica count is more than the maximum replica "
                              "count")
            elif desired < minimum:
                desired = minimum
                set_condition(status, "ScalingLimited", "True", "TooFewReplicas",
                              "the desired replica count is less than the minimum replica "
                              "count")
            else:
                set_condition(status, "ScalingLimited", "False", "DesiredWithinRange",
                              "the desired count is within the acceptable range")
            reason = f"{reason} above target" if desired > current else \
                "All metrics below target"
        status["desiredReplicas"] = desired
        if desired != current:
            scale = copy.deepcopy(scale)
            scale.setdefault("spec", {})["replicas"] = desired
            await self.client.request("PUT", path, body=_json(scale))
            status["lastScaleTime"] = now_rfc3339()
            self.recorder.event(hpa, "Normal", "SuccessfulRescale",
                                f"New size: {desired}; reason: {reason}")
        await self._write_status(hpa, before)

    def _stabilize(self, key: str, current: int, recommendation: int) -> int:
        now = time.monotonic()
        history = [(t, r) for t, r in self._recommendations.get(key, [])
                   if now - t < DOWNSCALE_WINDOW]
        history.append((now, recommendation))
        self._recommendations[key] = history
        if recommendation < current:
            # Scale down only as far as every recommendation of the window allows.
            return min(current, max(r for _, r in history))
        # Default scale-up policy: at most double, or +4 pods, per period.
        return min(recommendation, max(2 * current, current + 4))

    async def _compute(self, hpa: Obj, ns: str, selector: str, current: int
                       ) -> tuple[int, str, list[dict[str, Any]]]:
        best = 0
        best_reason = ""
        metrics_out: list[dict[str, Any]] = []
        for metric in (hpa.get("spec") or {}).get("metrics") or \
                [{"type": "Resource", "resource": {"name": "cpu", "target": {
                    "type": "Utilization", "averageUtilization": 80}}}]:
            if metric.get("type") != "Resource":
                continue
            resource = str((metric.get("resource") or {}).get("name") or "cpu")
            target = (metric.get("resource") or {}).get("target") or {}
            usage = await self._usage(ns, selector, resource)
            pods = {meta(p)["name"]: p for p in self.pods.by_index("namespace", ns)
                    if meta(p)["name"] in usage and is_pod_ready(p)}
            if not pods:
                raise MetricsUnavailable(
                    resource, f"failed to get {resource} utilization: did not receive "
                    "metrics for targeted pods (pods might be unready)")
            total_usage = sum(usage[n] for n in pods)
            if target.get("type") == "AverageValue":
                want = _milli(target.get("averageValue"))
                average = total_usage // len(pods)
                ratio = average / want if want else 1.0
                current_metric: dict[str, Any] = {"averageValue": f"{average}m"}
                label = f"{resource} resource"
            else:
                requests = sum(pod_request(p, resource) for p in pods.values())
                if not requests:
                    raise MetricsUnavailable(
                        resource, f"failed to get {resource} utilization: missing request "
                        f"for {resource} in containers of the targeted pods")
                utilization = round(100 * total_usage / requests)
                want = int(target.get("averageUtilization") or 80)
                ratio = utilization / want
                current_metric = {"averageUtilization": utilization,
                                  "averageValue": f"{total_usage // len(pods)}m"}
                label = f"{resource} resource utilization (percentage of request)"
            metrics_out.append({"type": "Resource", "resource": {"name": resource,
                                                                 "current": current_metric}})
            proposal = current if abs(ratio - 1.0) <= TOLERANCE else \
                math.ceil(ratio * len(pods))
            if proposal > best or not best_reason:
                best, best_reason = proposal, label
        return best, best_reason, metrics_out

    async def _usage(self, ns: str, selector: str, resource: str) -> dict[str, int]:
        path = f"/apis/metrics.k8s.io/v1beta1/namespaces/{quote(ns, safe='')}/pods"
        try:
            listing = await self.client.request("GET", path,
                                                params={"labelSelector": selector})
        except ApiError as exc:
            detail = "the server could not find the requested resource" \
                if exc.code == 404 else exc.message
            raise MetricsUnavailable(
                resource, f"failed to get {resource} utilization: unable to get metrics for "
                f"resource {resource}: unable to fetch metrics from resource metrics API: {detail} "
                "(get pods.metrics.k8s.io)") from None
        usage: dict[str, int] = {}
        for item in listing.get("items") or ():
            total = sum(_milli((c.get("usage") or {}).get(resource))
                        for c in item.get("containers") or ())
            usage[meta(item).get("name", "")] = total
        return usage

    async def _write_status(self, hpa: Obj, before: dict[str, Any]) -> None:
        if hpa.get("status") == before:
            return
        try:
            await self.client.replace(HORIZONTALPODAUTOSCALERS, hpa, subresource="status")
        except ApiError as exc:
            if exc.code not in (404, 409):
                raise


def _json(obj: Obj) -> bytes:
    return orjson.dumps(obj)
