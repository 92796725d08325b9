"""What the host has, as the Node reports it: capacity and allocatable, ``nodeInfo``,
addresses, and the observations behind the pressure conditions.

Facts that do not change while the agent runs (cores, memory, machine and boot ids,
kernel, OS, runtime version) are read once (:meth:`HostProbe.read`); what changes (free
memory, free disk, pids in use) is observed for every status report
(:meth:`HostProbe.observe`). Parsing is kept in pure functions so it is tested against
sample files; the probe only reads files, with every root (``/proc``, ``/sys``, ``/etc``)
replaceable for tests.

Allocatable is capacity minus ``--system-reserved``, ``--kube-reserved`` and the hard
eviction threshold of the resource (upstream's formula), and for memory minus pre-allocated
huge pages.
"""

from __future__ import annotations

import math
import os
import socket
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import kubesmith
from kubesmith.agent.node.conditions import Observations, Threshold
from kubesmith.api.validation.quantity import Format, Quantity, canonical, parse_quantity

#: The agent reports the API server's version line, as a kubelet of the same release would.
KUBELET_VERSION = f"v1.37.0-kubesmith.{kubesmith.__version__}"
RUNTIME_NAME = "runc"
DEFAULT_MAX_PODS = 110
_NANO = 10**9


@dataclass(frozen=True, slots=True)
class HostInfo:
    """The host's lasting facts."""

    cpu: int
    memory: int  # bytes (MemTotal)
    hugepages: dict[str, int]  # "hugepages-2Mi" -> bytes pre-allocated
    ephemeral_storage: int  # bytes of the filesystem holding the agent's root directory
    machine_id: str
    system_uuid: str
    boot_id: str
    kernel_version: str
    os_image: str
    runtime_version: str  # "runc://1.1.5"
    hostname: str


@dataclass(frozen=True, slots=True)
class Reservations:
    """What is kept from pods: ``--system-reserved``, ``--kube-reserved`` (resource name to
    quantity) and the hard eviction thresholds."""

    system_reserved: Mapping[str, str] = field(default_factory=dict)
    kube_reserved: Mapping[str, str] = field(default_factory=dict)
    eviction_hard: Mapping[str, Threshold] = field(default_factory=dict)


# ---- parsing ---------------------------------------------------------------------------


def parse_meminfo(text: str) -> dict[str, int]:
    """``/proc/meminfo`` as bytes by field (``MemTotal``, ``MemAvailable``...)."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if not parts or not parts[0].isdigit():
            continue
        scale = 1024 if len(parts) > 1 and parts[1] == "kB" else 1
        out[name.strip()] = int(parts[0]) * scale
    return out


def parse_os_release(text: str) -> str:
    """``PRETTY_NAME`` of ``/etc/os-release`` (``Linux`` without one, as cAdvisor)."""
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() == "PRETTY_NAME":
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                value = value[1:-1]
            return value or "Linux"
    return "Linux"


def parse_runc_version(output: str) -> str:
    """The version in ``runc --version`` output (``runc version 1.1.5+ds1`` ...)."""
    for line in output.splitlines():
        words = line.split()
        if len(words) >= 3 and words[:2] == ["runc", "version"]:
            return words[2]
    return ""


def cpu_count(affinity: int, quota_us: int | None, period_us: int | None) -> int:
    """Cores usable by pods: the CPUs we may run on, capped by a CFS quota on the cgroup
    hierarchy's root (a container or VM slice the node lives in), rounded up."""
    count = max(affinity, 1)
    if quota_us is not None and period_us and quota_us > 0:
        count = min(count, max(1, math.ceil(quota_us / period_us)))
    return count


def parse_cpu_max(text: str) -> tuple[int | None, int | None]:
    """cgroup v2 ``cpu.max`` (``max 100000`` or ``200000 100000``) as (quota, period)."""
    parts = text.split()
    if len(parts) != 2 or not parts[1].isdigit():
        return None, None
    return (int(parts[0]) if parts[0].isdigit() else None), int(parts[1])


def parse_loadavg_tasks(text: str) -> int:
    """Scheduling entities in use (the ``running/total`` field of ``/proc/loadavg``)."""
    parts = text.split()
    if len(parts) >= 4 and "/" in parts[3]:
        total = parts[3].partition("/")[2]
        if total.isdigit():
            return int(total)
    return 0


def hugepage_resource(directory_name: str) -> str | None:
    """``hugepages-2048kB`` (a ``/sys/kernel/mm/hugepages`` entry) as the resource name
    ``hugepages-2Mi``."""
    size = directory_name.removeprefix("hugepages-")
    if not size.endswith("kB") or not size[:-2].isdigit():
        return None
    return f"hugepages-{binary_quantity(int(size[:-2]) * 1024)}"


# ---- quantities ------------------------------------------------------------------------


def binary_quantity(amount: int) -> str:
    """Bytes as upstream prints a BinarySI quantity (``16393568Ki``, ``100Mi``)."""
    return canonical(Quantity(max(amount, 0) * _NANO, Format.BINARY_SI))


def _milli(milli: int) -> str:
    return canonical(Quantity(max(milli, 0) * 10**6, Format.DECIMAL_SI))


def _reserved(reservations: Reservations, resource: str, *, milli: bool = False) -> int:
    total = 0
    for source in (reservations.system_reserved, reservations.kube_reserved):
        if resource in source:
            quantity = parse_quantity(source[resource])
            total += quantity.milli_value() if milli else quantity.value()
    return total


def capacity(info: HostInfo, max_pods: int = DEFAULT_MAX_PODS) -> dict[str, str]:
    """``status.capacity``."""
    out = {"cpu": str(info.cpu), "ephemeral-storage": binary_quantity(info.ephemeral_storage),
           "memory": binary_quantity(info.memory), "pods": str(max_pods)}
    for name, amount in info.hugepages.items():
        out[name] = binary_quantity(amount)
    return dict(sorted(out.items()))


def allocatable(info: HostInfo, reservations: Reservations,
                max_pods: int = DEFAULT_MAX_PODS) -> dict[str, str]:
    """``status.allocatable``: capacity minus what is reserved and the eviction
    thresholds (see the module docstring); never below zero."""
    eviction = reservations.eviction_hard
    memory_eviction = eviction.get("memory.available", Threshold(amount=0)).of(info.memory)
    fs_eviction = eviction.get("nodefs.available", Threshold(amount=0)).of(
        info.ephemeral_storage)
    out = capacity(info, max_pods)
    out["cpu"] = _milli(info.cpu * 1000 - _reserved(reservations, "cpu", milli=True))
    out["memory"] = binary_quantity(info.memory - _reserved(reservations, "memory") -
                                    memory_eviction - sum(info.hugepages.values()))
    out["ephemeral-storage"] = binary_quantity(
        info.ephemeral_storage - _reserved(reservations, "ephemeral-storage") - fs_eviction)
    return out


def node_info(info: HostInfo) -> dict[str, str]:
    """``status.nodeInfo``."""
    return {"machineID": info.machine_id, "systemUUID": info.system_uuid,
            "bootID": info.boot_id, "kernelVersion": info.kernel_version,
            "osImage": info.os_image, "containerRuntimeVersion": info.runtime_version,
            # Upstream no longer reports kube-proxy's version (it cannot know it).
            "kubeletVersion": KUBELET_VERSION, "kubeProxyVersion": "",
            "operatingSystem": "linux", "architecture": _architecture()}


def _architecture() -> str:
    machine = os.uname().machine
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


# ---- reading the host ------------------------------------------------------------------


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError):
        return ""


class HostProbe:
    """Reads the host (see the module docstring). Its methods block briefly on file
    reads; callers on the event loop run them in a thread."""

    def __init__(self, root_dir: Path, *, proc: Path = Path("/proc"),
                 sys: Path = Path("/sys"), etc: Path = Path("/etc"),
                 runc: str = "runc") -> None:
        self.root_dir = root_dir
        self.proc = proc
        self.sys = sys
        self.etc = etc
        self.runc = runc

    def read(self) -> HostInfo:
        """The lasting facts."""
        machine_id = _read(self.etc / "machine-id").strip()
        product_uuid = _read(self.sys / "class/dmi/id/product_uuid").strip()
        fs = os.statvfs(self.root_dir)
        return HostInfo(
            cpu=self._cpus(), memory=parse_meminfo(_read(self.proc / "meminfo"))
            .get("MemTotal", 0), hugepages=self._hugepages(),
            ephemeral_storage=fs.f_blocks * fs.f_frsize, machine_id=machine_id,
            system_uuid=product_uuid or machine_id,
            boot_id=_read(self.proc / "sys/kernel/random/boot_id").strip(),
            kernel_version=os.uname().release,
            os_image=parse_os_release(_read(self.etc / "os-release")),
            runtime_version=f"{RUNTIME_NAME}://{self._runc_version()}",
            hostname=socket.gethostname().lower())

    def observe(self) -> Observations:
        """What the pressure conditions are decided on, now."""
        meminfo = parse_meminfo(_read(self.proc / "meminfo"))
        fs = os.statvfs(self.root_dir)
        pid_max = min((int(v) for v in (_read(self.proc / "sys/kernel/pid_max").strip(),
                                        _read(self.proc / "sys/kernel/threads-max").strip())
                       if v.isdigit()), default=0)
        return Observations(
            memory_capacity=meminfo.get("MemTotal", 0),
            memory_available=meminfo.get("MemAvailable", meminfo.get("MemFree", 0)),
            fs_capacity=fs.f_blocks * fs.f_frsize, fs_available=fs.f_bavail * fs.f_frsize,
            fs_inodes=fs.f_files, fs_inodes_free=fs.f_favail, pid_max=pid_max,
            pids_in_use=parse_loadavg_tasks(_read(self.proc / "loadavg")))

    def _cpus(self) -> int:
        try:
            affinity = len(os.sched_getaffinity(0))
        except OSError:
            affinity = os.cpu_count() or 1
        cgroup = self.sys / "fs/cgroup"
        v1 = cgroup / "cpu"
        if (v1 / "cpu.cfs_quota_us").exists():
            quota = _read(v1 / "cpu.cfs_quota_us").strip()
            period = _read(v1 / "cpu.cfs_period_us").strip()
            return cpu_count(affinity, int(quota) if quota.lstrip("-").isdigit() else None,
                             int(period) if period.isdigit() else None)
        return cpu_count(affinity, *parse_cpu_max(_read(cgroup / "cpu.max")))

    def _hugepages(self) -> dict[str, int]:
        out: dict[str, int] = {}
        base = self.sys / "kernel/mm/hugepages"
        try:
            entries = sorted(base.iterdir())
        except OSError:
            return out
        for entry in entries:
            name = hugepage_resource(entry.name)
            count = _read(entry / "nr_hugepages").strip()
            if name is not None:
                size_kb = int(entry.name.removeprefix("hugepages-")[:-2])
                out[name] = (int(count) if count.isdigit() else 0) * size_kb * 1024
        return out

    def _runc_version(self) -> str:
        try:
            done = subprocess.run([self.runc, "--version"], capture_output=True, text=True,
                                  timeout=10, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return "unknown"
        return parse_runc_version(done.stdout) or "unknown"


def primary_address(hostname: str) -> str:
    """The node's InternalIP when ``--node-ip`` is not given, as the kubelet picks it: an
    address the hostname resolves to that is not loopback, else the address of the
    interface holding the default route, else loopback."""
    try:
        infos = socket.getaddrinfo(hostname, None, socket.AF_INET, socket.SOCK_STREAM)
    except OSError:
        infos = []
    for info in infos:
        address = str(info[4][0])
        if not address.startswith("127."):
            return address
    # Connecting a UDP socket only selects a route and a source address; nothing is sent.
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("203.0.113.1", 9))
            address = str(probe.getsockname()[0])
            if address and address != "0.0.0.0":
                return address
    except OSError:
        pass
    return "127.0.0.1"


def addresses(internal_ip: str, hostname: str) -> list[dict[str, str]]:
    """``status.addresses``."""
    return [{"type": "InternalIP", "address": internal_ip},
            {"type": "Hostname", "address": hostname}]
