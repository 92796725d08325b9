"""Pressure and Ready conditions from observations and eviction thresholds."""

from __future__ import annotations

import re

import pytest

from kubesmith.agent.node.conditions import (
    Observations,
    Threshold,
    default_eviction_hard,
    node_conditions,
    parse_eviction_hard,
    ready_condition,
    transition_events,
)

GiB = 1024**3
HEALTHY = Observations(memory_capacity=16 * GiB, memory_available=8 * GiB,
                       fs_capacity=100 * GiB, fs_available=50 * GiB, fs_inodes=1000,
                       fs_inodes_free=900, pid_max=32768, pids_in_use=300)


def _by_type(seen: Observations, errors: list[str] | None = None
             ) -> dict[str, tuple[str, str, str]]:
    return {c[0]: c[1:] for c in node_conditions(seen, default_eviction_hard(), errors or [])}


def test_healthy_node() -> None:
    assert _by_type(HEALTHY) == {
        "MemoryPressure": ("False", "KubeletHasSufficientMemory",
                           "kubelet has sufficient memory available"),
        "DiskPressure": ("False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        "PIDPressure": ("False", "KubeletHasSufficientPID",
                        "kubelet has sufficient PID available"),
        "Ready": ("True", "KubeletReady", "kubelet is posting ready status"),
    }
    assert [c[0] for c in node_conditions(HEALTHY, {}, [])] == [
        "MemoryPressure", "DiskPressure", "PIDPressure", "Ready"]


@pytest.mark.parametrize(("change", "type_", "reason"), [
    ({"memory_available": 99 * 1024**2}, "MemoryPressure", "KubeletHasInsufficientMemory"),
    ({"fs_available": 9 * GiB}, "DiskPressure", "KubeletHasDiskPressure"),
    # The image filesystem is the node filesystem here: its 15% threshold counts.
    ({"fs_available": 14 * GiB}, "DiskPressure", "KubeletHasDiskPressure"),
    ({"fs_inodes_free": 40}, "DiskPressure", "KubeletHasDiskPressure"),
], ids=["memory", "nodefs", "imagefs", "inodes"])
def test_pressure(change: dict[str, int], type_: str, reason: str) -> None:
    seen = Observations(**{**{f: getattr(HEALTHY, f) for f in Observations.__slots__},
                           **change})
    assert _by_type(seen)[type_][:2] == ("True", reason)


def test_pid_pressure_only_with_a_threshold() -> None:
    crowded = Observations(**{**{f: getattr(HEALTHY, f) for f in Observations.__slots__},
                              "pids_in_use": 32700})
    assert _by_type(crowded)["PIDPressure"][0] == "False"
    thresholds = parse_eviction_hard("pid.available<100")
    assert node_conditions(crowded, thresholds, [])[2][:3] == (
        "PIDPressure", "True", "KubeletHasInsufficientPID")


def test_ready_aggregates_errors() -> None:
    assert ready_condition(["container runtime is down"]) == (
        "Ready", "False", "KubeletNotReady", "container runtime is down")
    assert ready_condition(["a", "b"])[3] == "[a, b]"


def test_eviction_hard_flag() -> None:
    parsed = parse_eviction_hard("memory.available<1Gi, nodefs.available<5%")
    assert parsed == {"memory.available": Threshold(amount=GiB),
                      "nodefs.available": Threshold(fraction=0.05)}
    for bad, why in (("memory.available>1Gi", "expected <signal><<quantity>"),
                     ("cpu.available<1", "unsupported eviction signal cpu.available"),
                     ("nodefs.available<150%", "must be between 0% and 100%"),
                     ("memory.available<lots", "invalid quantity 'lots'")):
        with pytest.raises(ValueError, match=re.escape(why)):
            parse_eviction_hard(bad)


def test_transition_events() -> None:
    conditions = node_conditions(HEALTHY, default_eviction_hard(), [])
    assert transition_events([], conditions) == [
        "NodeHasSufficientMemory", "NodeHasNoDiskPressure", "NodeHasSufficientPID",
        "NodeReady"]
    current = [{"type": t, "status": s} for t, s, _, _ in conditions]
    assert transition_events(current, conditions) == []
    not_ready = node_conditions(HEALTHY, default_eviction_hard(), ["runtime down"])
    assert transition_events(current, not_ready) == ["NodeNotReady"]
