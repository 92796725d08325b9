"""Container resources turned into cgroup values, the way the kubelet computes them.

* CPU shares from ``requests.cpu`` (``milliCPU * 1024 / 1000``, at least 2, at most
  262144); with no request but a limit, the limit (the API server defaults the request to
  the limit anyway).
* CFS quota from ``limits.cpu`` over a 100 ms period (at least 1 ms), none without a limit.
* Memory limit from ``limits.memory``.
* The cgroup parent follows the kubelet's cgroupfs layout per QoS class:
  ``/kubepods/pod<uid>`` (Guaranteed), ``/kubepods/burstable/pod<uid>``,
  ``/kubepods/besteffort/pod<uid>``.
* ``oom_score_adj`` per QoS like the kubelet's OOM policy, so the kernel kills best-effort
  containers before guaranteed ones when the node itself runs out of memory.
"""

from __future__ import annotations

from typing import Any

from kubesmith.agent.runtime.spec import QOS_BEST_EFFORT, QOS_BURSTABLE, QOS_GUARANTEED
from kubesmith.api.validation.quantity import QuantityError, parse_quantity

MIN_SHARES = 2
MAX_SHARES = 262144
SHARES_PER_CPU = 1024
CFS_PERIOD_US = 100_000
MIN_QUOTA_US = 1000

GUARANTEED_OOM_SCORE_ADJ = -997
BEST_EFFORT_OOM_SCORE_ADJ = 1000

KUBEPODS = "/kubepods"


def _quantity(resources: dict[str, Any], kind: str, name: str) -> tuple[int, int] | None:
    """(milli-units, units) of ``resources[kind][name]``; None when absent or malformed."""
    raw = (resources.get(kind) or {}).get(name)
    if raw is None:
        return None
    try:
        quantity = parse_quantity(raw)
    except QuantityError:
        return None
    return quantity.milli_value(), quantity.value()


def milli_cpu_to_shares(milli_cpu: int) -> int:
    """The kubelet's ``MilliCPUToShares``."""
    if milli_cpu <= 0:
        return MIN_SHARES
    shares = milli_cpu * SHARES_PER_CPU // 1000
    return max(MIN_SHARES, min(MAX_SHARES, shares))


def milli_cpu_to_quota(milli_cpu: int, period: int = CFS_PERIOD_US) -> int:
    """The kubelet's ``MilliCPUToQuota``: microseconds of CPU per ``period``."""
    if milli_cpu <= 0:
        return 0
    return max(MIN_QUOTA_US, milli_cpu * period // 1000)


def cpu_shares(resources: dict[str, Any]) -> int:
    """cpu.shares for a container."""
    request = _quantity(resources, "requests", "cpu")
    limit = _quantity(resources, "limits", "cpu")
    if (request is None or request[0] == 0) and limit is not None and limit[0] > 0:
        return milli_cpu_to_shares(limit[0])
    return milli_cpu_to_shares(request[0] if request else 0)


def cpu_quota(resources: dict[str, Any]) -> int | None:
    """cpu.cfs_quota_us for a container, or None without a CPU limit."""
    limit = _quantity(resources, "limits", "cpu")
    if limit is None or limit[0] <= 0:
        return None
    return milli_cpu_to_quota(limit[0])


def memory_limit(resources: dict[str, Any]) -> int | None:
    """memory.limit_in_bytes for a container, or None without a memory limit."""
    limit = _quantity(resources, "limits", "memory")
    if limit is None or limit[1] <= 0:
        return None
    return limit[1]


def memory_request(resources: dict[str, Any]) -> int:
    request = _quantity(resources, "requests", "memory")
    return request[1] if request else 0


def linux_resources(resources: dict[str, Any]) -> dict[str, Any]:
    """The OCI ``linux.resources`` cpu and memory sections."""
    cpu: dict[str, Any] = {"shares": cpu_shares(resources)}
    quota = cpu_quota(resources)
    if quota is not None:
        cpu["quota"] = quota
        cpu["period"] = CFS_PERIOD_US
    out: dict[str, Any] = {"cpu": cpu}
    limit = memory_limit(resources)
    if limit is not None:
        out["memory"] = {"limit": limit}
    return out


def pod_cgroup_parent(qos_class: str, pod_uid: str) -> str:
    """The pod's cgroup (cgroupfs driver naming), relative to each hierarchy's root."""
    if qos_class == QOS_GUARANTEED:
        return f"{KUBEPODS}/pod{pod_uid}"
    if qos_class == QOS_BURSTABLE:
        return f"{KUBEPODS}/burstable/pod{pod_uid}"
    return f"{KUBEPODS}/besteffort/pod{pod_uid}"


def pod_cgroup_candidates(pod_uid: str) -> list[str]:
    """Every place a pod's cgroup can be (its QoS class is not known at cleanup time)."""
    return [pod_cgroup_parent(qos, pod_uid)
            for qos in (QOS_GUARANTEED, QOS_BURSTABLE, QOS_BEST_EFFORT)]


def oom_score_adj(qos_class: str, resources: dict[str, Any], memory_capacity: int) -> int:
    """The kubelet's OOM score policy for a container's processes."""
    if qos_class == QOS_GUARANTEED:
        return GUARANTEED_OOM_SCORE_ADJ
    if qos_class == QOS_BEST_EFFORT or memory_capacity <= 0:
        return BEST_EFFORT_OOM_SCORE_ADJ
    adjust = 1000 - (1000 * memory_request(resources)) // memory_capacity
    # A burstable container never scores as low as a guaranteed one, nor as high as a
    # best-effort one.
    if adjust < 1000 + GUARANTEED_OOM_SCORE_ADJ:
        return 1000 + GUARANTEED_OOM_SCORE_ADJ
    if adjust >= BEST_EFFORT_OOM_SCORE_ADJ:
        return BEST_EFFORT_OOM_SCORE_ADJ - 1
    return adjust
