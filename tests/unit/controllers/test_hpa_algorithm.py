"""The HPA's recommendation smoothing and request arithmetic."""

from __future__ import annotations

from typing import Any

from kubesmith.controllers.hpa import HorizontalPodAutoscalerController, pod_request


def test_pod_request_sums_containers_in_milli_units() -> None:
    pod: dict[str, Any] = {"spec": {"containers": [
        {"resources": {"requests": {"cpu": "250m", "memory": "64Mi"}}},
        {"resources": {"requests": {"cpu": "1"}}}, {}]}}
    assert pod_request(pod, "cpu") == 1250
    assert pod_request(pod, "memory") == 64 * 1024 * 1024 * 1000


def test_scale_up_is_limited_and_scale_down_stabilized() -> None:
    hpa = HorizontalPodAutoscalerController.__new__(HorizontalPodAutoscalerController)
    hpa._recommendations = {}
    # Up: at most double or +4 per period.
    assert hpa._stabilize("k", 2, 20) == 6
    assert hpa._stabilize("k2", 10, 50) == 20
    # Down: the highest recommendation of the window holds.
    assert hpa._stabilize("k3", 10, 10) == 10
    assert hpa._stabilize("k3", 10, 3) == 10
    hpa._recommendations["k4"] = [(-1000.0, 8)]  # long outside the window
    assert hpa._stabilize("k4", 10, 3) == 3
