"""Reading the host: /proc and /etc parsing, capacity and allocatable as upstream prints
them, and the probe against a fake /proc, /sys and /etc."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubesmith.agent.node.conditions import Threshold, default_eviction_hard
from kubesmith.agent.node.host import (
    KUBELET_VERSION,
    HostInfo,
    HostProbe,
    Reservations,
    allocatable,
    binary_quantity,
    capacity,
    cpu_count,
    hugepage_resource,
    node_info,
    parse_cpu_max,
    parse_loadavg_tasks,
    parse_meminfo,
    parse_os_release,
    parse_runc_version,
)

MEMINFO = """MemTotal:       24683656 kB
MemFree:        24028484 kB
MemAvailable:   24240296 kB
HugePages_Total:       0
Hugepagesize:       2048 kB
"""

INFO = HostInfo(cpu=4, memory=16 * 1024**3, hugepages={"hugepages-2Mi": 0},
                ephemeral_storage=100 * 1024**3, machine_id="m", system_uuid="s",
                boot_id="b", kernel_version="6.1.0", os_image="Debian GNU/Linux 12 (bookworm)",
                runtime_version="runc://1.1.5+ds1", hostname="n1")


def test_meminfo_in_bytes() -> None:
    parsed = parse_meminfo(MEMINFO)
    assert parsed["MemTotal"] == 24683656 * 1024
    assert parsed["MemAvailable"] == 24240296 * 1024
    assert parsed["HugePages_Total"] == 0


@pytest.mark.parametrize(("text", "expected"), [
    ('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\n',
     "Debian GNU/Linux 12 (bookworm)"),
    ("NAME=Alpine\nPRETTY_NAME='Alpine Linux v3.20'\n", "Alpine Linux v3.20"),
    ("NAME=Foo\n", "Linux"),
], ids=["quoted", "single-quoted", "missing"])
def test_os_image(text: str, expected: str) -> None:
    assert parse_os_release(text) == expected


def test_runc_version() -> None:
    out = "runc version 1.1.5+ds1\ncommit: 1.1.5+ds1-1+deb12u1\nspec: 1.0.2-dev\n"
    assert parse_runc_version(out) == "1.1.5+ds1"
    assert parse_runc_version("garbage") == ""


@pytest.mark.parametrize(("affinity", "quota", "period", "expected"), [
    (8, None, None, 8), (8, -1, 100000, 8), (8, 250000, 100000, 3), (2, 800000, 100000, 2),
    (4, 10000, 100000, 1),
], ids=["no-cgroup", "unlimited", "quota-rounds-up", "quota-above-affinity", "tiny-quota"])
def test_cpu_count(affinity: int, quota: int | None, period: int | None,
                   expected: int) -> None:
    assert cpu_count(affinity, quota, period) == expected


def test_cgroup_v2_cpu_max_and_loadavg() -> None:
    assert parse_cpu_max("max 100000\n") == (None, 100000)
    assert parse_cpu_max("200000 100000") == (200000, 100000)
    assert parse_loadavg_tasks("0.00 0.01 0.05 1/234 5678\n") == 234


def test_quantities_print_like_upstream() -> None:
    assert binary_quantity(24683656 * 1024) == "24683656Ki"
    assert binary_quantity(100 * 1024**2) == "100Mi"
    assert binary_quantity(243497856212) == "243497856212"
    assert hugepage_resource("hugepages-2048kB") == "hugepages-2Mi"
    assert hugepage_resource("hugepages-1048576kB") == "hugepages-1Gi"
    assert hugepage_resource("vm") is None


def test_capacity_and_default_allocatable() -> None:
    assert capacity(INFO) == {"cpu": "4", "ephemeral-storage": "100Gi",
                              "hugepages-2Mi": "0", "memory": "16Gi", "pods": "110"}
    alloc = allocatable(INFO, Reservations(eviction_hard=default_eviction_hard()))
    # memory: 16Gi - 100Mi (memory.available); storage: 100Gi - 10%, the 10% taken as
    # upstream's float32 0.1 (a few bytes more than a tenth).
    assert alloc["memory"] == "16284Mi"
    assert alloc["ephemeral-storage"] == "96636764000"
    assert alloc["cpu"] == "4" and alloc["pods"] == "110"


def test_allocatable_subtracts_reservations_and_hugepages() -> None:
    info = HostInfo(cpu=2, memory=8 * 1024**3, hugepages={"hugepages-2Mi": 512 * 1024**2},
                    ephemeral_storage=10 * 1024**3, machine_id="m", system_uuid="s",
                    boot_id="b", kernel_version="k", os_image="o", runtime_version="r",
                    hostname="h")
    reservations = Reservations(system_reserved={"cpu": "100m", "memory": "1Gi"},
                                kube_reserved={"cpu": "200m", "ephemeral-storage": "1Gi"},
                                eviction_hard={"memory.available": Threshold(amount=0)})
    alloc = allocatable(info, reservations, max_pods=50)
    assert alloc["cpu"] == "1700m"
    assert alloc["memory"] == "6656Mi"  # 8Gi - 1Gi reserved - 512Mi huge pages
    assert alloc["ephemeral-storage"] == "9Gi"  # no nodefs threshold given
    assert alloc["hugepages-2Mi"] == "512Mi" and alloc["pods"] == "50"


def test_node_info() -> None:
    info = node_info(INFO)
    assert info["containerRuntimeVersion"] == "runc://1.1.5+ds1"
    assert info["kubeletVersion"] == KUBELET_VERSION
    assert KUBELET_VERSION.startswith("v1.37.0-kubesmith.")
    assert (info["operatingSystem"], info["architecture"]) == ("linux", "amd64")
    assert info["osImage"] == "Debian GNU/Linux 12 (bookworm)"


def _fake_host(tmp_path: Path, *, product_uuid: str | None) -> HostProbe:
    proc, sys, etc = tmp_path / "proc", tmp_path / "sys", tmp_path / "etc"
    (proc / "sys/kernel/random").mkdir(parents=True)
    (proc / "meminfo").write_text(MEMINFO)
    (proc / "loadavg").write_text("0.10 0.20 0.30 2/345 999\n")
    (proc / "sys/kernel/random/boot_id").write_text("boot-1\n")
    (proc / "sys/kernel/pid_max").write_text("32768\n")
    (proc / "sys/kernel/threads-max").write_text("190000\n")
    (sys / "fs/cgroup/cpu").mkdir(parents=True)
    (sys / "fs/cgroup/cpu/cpu.cfs_quota_us").write_text("100000\n")
    (sys / "fs/cgroup/cpu/cpu.cfs_period_us").write_text("100000\n")
    (sys / "kernel/mm/hugepages/hugepages-2048kB").mkdir(parents=True)
    (sys / "kernel/mm/hugepages/hugepages-2048kB/nr_hugepages").write_text("4\n")
    if product_uuid is not None:
        (sys / "class/dmi/id").mkdir(parents=True)
        (sys / "class/dmi/id/product_uuid").write_text(product_uuid + "\n")
    etc.mkdir()
    (etc / "machine-id").write_text("abc123\n")
    (etc / "os-release").write_text('PRETTY_NAME="Test OS 1"\n')
    root = tmp_path / "root"
    root.mkdir()
    return HostProbe(root, proc=proc, sys=sys, etc=etc, runc="/nonexistent/runc")


def test_probe_reads_a_fake_host(tmp_path: Path) -> None:
    info = _fake_host(tmp_path, product_uuid="UUID-1").read()
    assert info.cpu == 1  # the cgroup quota allows one core
    assert info.memory == 24683656 * 1024
    assert info.hugepages == {"hugepages-2Mi": 4 * 2 * 1024**2}
    assert (info.machine_id, info.system_uuid, info.boot_id) == ("abc123", "UUID-1", "boot-1")
    assert info.os_image == "Test OS 1"
    assert info.runtime_version == "runc://unknown"
    assert info.ephemeral_storage > 0


def test_system_uuid_falls_back_to_machine_id(tmp_path: Path) -> None:
    assert _fake_host(tmp_path, product_uuid=None).read().system_uuid == "abc123"


def test_observe(tmp_path: Path) -> None:
    seen = _fake_host(tmp_path, product_uuid=None).observe()
    assert seen.memory_available == 24240296 * 1024
    assert seen.pid_max == 32768 and seen.pids_in_use == 345
    assert 0 < seen.fs_available <= seen.fs_capacity
