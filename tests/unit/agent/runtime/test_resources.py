"""Resources to cgroup values and QoS cgroup paths, with the kubelet's formulas."""

from __future__ import annotations

from typing import Any

import pytest

from kubesmith.agent.runtime.resources import (
    cpu_quota,
    cpu_shares,
    linux_resources,
    memory_limit,
    oom_score_adj,
    pod_cgroup_candidates,
    pod_cgroup_parent,
)


@pytest.mark.parametrize(("resources", "shares"), [
    pytest.param({}, 2, id="best-effort"),
    pytest.param({"requests": {"cpu": "1m"}}, 2, id="minimum"),
    pytest.param({"requests": {"cpu": "100m"}}, 102, id="100m"),
    pytest.param({"requests": {"cpu": "250m"}}, 256, id="250m"),
    pytest.param({"requests": {"cpu": "2"}}, 2048, id="two-cpus"),
    pytest.param({"requests": {"cpu": 1.5}}, 1536, id="json-number"),
    pytest.param({"limits": {"cpu": "500m"}}, 512, id="limit-only"),
    pytest.param({"requests": {"cpu": "1000"}}, 262144, id="maximum"),
])
def test_cpu_shares(resources: dict[str, Any], shares: int) -> None:
    assert cpu_shares(resources) == shares


@pytest.mark.parametrize(("limit", "quota"), [
    pytest.param(None, None, id="no-limit"),
    pytest.param("500m", 50000, id="half"),
    pytest.param("2", 200000, id="two"),
    pytest.param("1m", 1000, id="minimum-quota"),
])
def test_cpu_quota(limit: str | None, quota: int | None) -> None:
    resources = {"limits": {"cpu": limit}} if limit else {}
    assert cpu_quota(resources) == quota


def test_memory_limit() -> None:
    assert memory_limit({}) is None
    assert memory_limit({"limits": {"memory": "16Mi"}}) == 16 * 1024 * 1024
    assert memory_limit({"limits": {"memory": "1G"}}) == 10**9
    assert memory_limit({"limits": {"memory": "not-a-quantity"}}) is None


def test_linux_resources() -> None:
    assert linux_resources({}) == {"cpu": {"shares": 2}}
    assert linux_resources({"requests": {"cpu": "100m"},
                            "limits": {"cpu": "200m", "memory": "64Mi"}}) == {
        "cpu": {"shares": 102, "quota": 20000, "period": 100000},
        "memory": {"limit": 64 * 1024 * 1024},
    }


def test_qos_cgroup_paths() -> None:
    assert pod_cgroup_parent("Guaranteed", "u1") == "/kubepods/podu1"
    assert pod_cgroup_parent("Burstable", "u1") == "/kubepods/burstable/podu1"
    assert pod_cgroup_parent("BestEffort", "u1") == "/kubepods/besteffort/podu1"
    assert sorted(pod_cgroup_candidates("u1")) == [
        "/kubepods/besteffort/podu1", "/kubepods/burstable/podu1", "/kubepods/podu1"]


def test_oom_score_adj() -> None:
    gib = 1024**3
    assert oom_score_adj("Guaranteed", {}, 8 * gib) == -997
    assert oom_score_adj("BestEffort", {}, 8 * gib) == 1000
    assert oom_score_adj("Burstable", {"requests": {"memory": "4Gi"}}, 8 * gib) == 500
    # Never as low as guaranteed, never as high as best-effort.
    assert oom_score_adj("Burstable", {"requests": {"memory": "8Gi"}}, 8 * gib) == 3
    assert oom_score_adj("Burstable", {}, 8 * gib) == 999
