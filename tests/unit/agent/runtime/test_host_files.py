"""Parsing what runc and the kernel write: runc's JSON log lines, mountinfo, CapBnd."""

from __future__ import annotations

from pathlib import Path

from kubesmith.agent.runtime.cgroups import hierarchies
from kubesmith.agent.runtime.host import (
    current_capabilities,
    lowest_oom_score_adj,
    memory_capacity,
)
from kubesmith.agent.runtime.runc import error_message

MOUNTINFO = """\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
30 22 0:26 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755
31 30 0:27 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
32 30 0:28 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
33 30 0:29 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd
34 30 0:30 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
35 22 0:31 / /mnt/with\\040space rw - cgroup cgroup rw,pids
"""


def test_runc_error_message() -> None:
    stderr = ('{"level":"warning","msg":"something odd","time":"t"}\n'
              '{"level":"error","msg":"container does not exist","time":"t"}\n')
    assert error_message(stderr) == "container does not exist"
    assert error_message("plain failure\n") == "plain failure"


def test_cgroup_hierarchies(tmp_path: Path) -> None:
    path = tmp_path / "mountinfo"
    path.write_text(MOUNTINFO)
    found = {str(h.mountpoint): (h.version, h.controllers) for h in hierarchies(path)}
    assert found == {
        "/sys/fs/cgroup/cpu,cpuacct": (1, frozenset({"cpu", "cpuacct"})),
        "/sys/fs/cgroup/memory": (1, frozenset({"memory"})),
        "/sys/fs/cgroup/systemd": (1, frozenset({"name=systemd"})),
        "/sys/fs/cgroup/unified": (2, frozenset()),
        "/mnt/with space": (1, frozenset({"pids"})),
    }


def test_capabilities_held(tmp_path: Path) -> None:
    status = tmp_path / "status"
    # Bits 0 (CHOWN), 5 (KILL) and 21 (SYS_ADMIN).
    status.write_text(f"Name:\tx\nCapBnd:\t{(1 | 1 << 5 | 1 << 21):016x}\n")
    assert current_capabilities(status) == ("CAP_CHOWN", "CAP_KILL", "CAP_SYS_ADMIN")


def test_memory_capacity(tmp_path: Path) -> None:
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:        8000000 kB\nMemFree: 1 kB\n")
    assert memory_capacity(meminfo) == 8000000 * 1024


def test_lowest_oom_score_adj(tmp_path: Path) -> None:
    status, own = tmp_path / "status", tmp_path / "oom_score_adj"
    own.write_text("-5\n")
    # Without CAP_SYS_RESOURCE (bit 24) a score cannot go below the agent's own.
    status.write_text(f"CapEff:\t{(1 << 21):016x}\n")
    assert lowest_oom_score_adj(status, own) == -5
    privileged = tmp_path / "status-with-sys-resource"
    privileged.write_text(f"CapEff:\t{(1 << 21 | 1 << 24):016x}\n")
    assert lowest_oom_score_adj(privileged, own) == -1000
