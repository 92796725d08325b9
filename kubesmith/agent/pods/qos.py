"""A pod's QoS class (``Guaranteed``, ``Burstable``, ``BestEffort``) as upstream computes it
(``v1qos.ComputePodQOS``): only cpu and memory count; Guaranteed needs every container to
limit both and the summed requests to equal the summed limits. The API server stores the
class in ``status.qosClass`` at creation; :func:`pod_qos` prefers that value."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from kubesmith.api.types import Obj
from kubesmith.api.validation.quantity import QuantityError, parse_quantity

_QOS_RESOURCES = ("cpu", "memory")


def _positive_milli(raw: Any) -> int:
    try:
        return max(parse_quantity(raw).milli_value(), 0)
    except (QuantityError, TypeError, ValueError):
        return 0


def _add(total: dict[str, int], amounts: Mapping[str, Any] | None) -> set[str]:
    found: set[str] = set()
    for name, raw in (amounts or {}).items():
        if name not in _QOS_RESOURCES:
            continue
        value = _positive_milli(raw)
        if value > 0:
            found.add(name)
            total[name] = total.get(name, 0) + value
    return found


def compute_qos(pod: Obj) -> str:
    """The QoS class from the pod's resources (pod-level resources when set)."""
    spec = pod.get("spec") or {}
    requests: dict[str, int] = {}
    limits: dict[str, int] = {}
    guaranteed = True
    pod_level = spec.get("resources")
    sources: Iterable[Mapping[str, Any]]
    if pod_level and (pod_level.get("requests") or pod_level.get("limits")):
        sources = [pod_level]
    else:
        sources = [c.get("resources") or {} for c in
                   [*(spec.get("initContainers") or ()), *(spec.get("containers") or ())]]
    for resources in sources:
        _add(requests, resources.get("requests"))
        if not set(_QOS_RESOURCES) <= _add(limits, resources.get("limits")):
            guaranteed = False
    if not requests and not limits:
        return "BestEffort"
    if guaranteed and all(limits.get(name) == value for name, value in requests.items()) \
            and len(requests) == len(limits):
        return "Guaranteed"
    return "Burstable"


def pod_qos(pod: Obj) -> str:
    """``status.qosClass`` as the API server set it, else :func:`compute_qos`."""
    stored = (pod.get("status") or {}).get("qosClass")
    if stored in ("Guaranteed", "Burstable", "BestEffort"):
        return str(stored)
    return compute_qos(pod)
