"""Build a container's OCI runtime ``config.json`` from a :class:`ContainerSpec`.

A pure function: host facts it depends on (memory capacity for the OOM score, the host's
device nodes for privileged containers) come in as arguments. The defaults mirror
containerd's CRI plugin, which is what the kubelet's containers get on most clusters:

* capabilities: containerd's default set; ``capabilities.add``/``drop`` with ``ALL``
  applied first so ``add: [ALL], drop: [CHOWN]`` means everything but CHOWN;
* default mounts (proc, /dev tmpfs, devpts, mqueue, read-only sysfs and cgroupfs) and the
  pod's shared ``/dev/shm``; mounts the pod asks for replace defaults at the same place and
  are ordered parents first;
* masked and read-only ``/proc`` and ``/sys`` paths, dropped for privileged containers and
  ``procMount: Unmasked``;
* namespaces: a new mount and (unless hostPID) pid namespace; network, IPC and UTS joined
  from the pod sandbox's pinned files, or the host's when the sandbox has none;
* privileged: every capability, every host device, writable sysfs/cgroupfs, no masking.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kubesmith.agent.runtime import resources as res
from kubesmith.agent.runtime.spec import (
    CONTAINER_NAME,
    IMAGE_ID,
    IMAGE_REF,
    LOG_PATH,
    POD_NAME,
    POD_NAMESPACE,
    POD_UID,
    RESTART_COUNT,
    SANDBOX_ID,
    ContainerSpec,
    MountLike,
    Sandbox,
)
from kubesmith.agent.runtime.user import ResolvedUser

OCI_VERSION = "1.0.2"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

DEFAULT_CAPABILITIES = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
)

# Every capability of Linux 5.9+ (CAP_CHECKPOINT_RESTORE is number 40), in number order.
ALL_CAPABILITIES = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
    "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
)

MASKED_PATHS = (
    "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
    "/sys/devices/virtual/powercap", "/proc/scsi",
)
READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")

_PROPAGATION = {
    "": "rprivate", "private": "rprivate", "rprivate": "rprivate", "None": "rprivate",
    "slave": "rslave", "rslave": "rslave", "HostToContainer": "rslave",
    "shared": "rshared", "rshared": "rshared", "Bidirectional": "rshared",
}


@dataclass(frozen=True)
class Device:
    """A host device node, for privileged containers."""

    path: str
    type: str        # "c" or "b"
    major: int
    minor: int
    file_mode: int
    uid: int = 0
    gid: int = 0


def capability_name(name: str) -> str:
    """``net_admin`` / ``NET_ADMIN`` / ``CAP_NET_ADMIN`` -> ``CAP_NET_ADMIN``."""
    upper = name.upper()
    return upper if upper.startswith("CAP_") else f"CAP_{upper}"


def capabilities(security: dict[str, Any] | None,
                 all_capabilities: Sequence[str] = ALL_CAPABILITIES) -> list[str]:
    """The capability set of a container (bounding = effective = permitted).

    ``all_capabilities`` is what "all" means: the capabilities the agent itself holds, since
    runc cannot grant more (containerd does the same).
    """
    sc = security or {}
    if sc.get("privileged"):
        return list(all_capabilities)
    caps_spec = sc.get("capabilities") or {}
    add = [str(c) for c in caps_spec.get("add") or ()]
    drop = [str(c) for c in caps_spec.get("drop") or ()]
    caps = list(DEFAULT_CAPABILITIES)
    if any(c.upper() == "ALL" for c in add):
        caps = list(all_capabilities)
    if any(c.upper() == "ALL" for c in drop):
        caps = []
    for cap in add:
        if cap.upper() != "ALL" and capability_name(cap) not in caps:
            caps.append(capability_name(cap))
    dropped = {capability_name(c) for c in drop if c.upper() != "ALL"}
    return [c for c in caps if c not in dropped]


def propagation_option(propagation: str) -> str:
    """OCI mount propagation option for a Mount's propagation (OCI or upstream names)."""
    try:
        return _PROPAGATION[propagation]
    except KeyError:
        raise ValueError(f"unknown mount propagation {propagation!r}") from None


def _default_mounts(privileged: bool) -> list[dict[str, Any]]:
    sys_mode = "rw" if privileged else "ro"
    return [
        {"destination": "/proc", "type": "proc", "source": "proc",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620",
                     "gid=5"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": ["nosuid", "noexec", "nodev", sys_mode]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["nosuid", "noexec", "nodev", "relatime", sys_mode]},
    ]


def _user_mount(mount: MountLike) -> dict[str, Any]:
    if mount.kind == "tmpfs":
        options = ["nosuid", "nodev", "mode=1777"]
        if mount.readonly:
            options.append("ro")
        return {"destination": mount.container_path, "type": "tmpfs", "source": "tmpfs",
                "options": options}
    options = ["rbind", propagation_option(mount.propagation)]
    if mount.readonly:
        options.append("ro")
    return {"destination": mount.container_path, "type": "bind", "source": mount.host_path,
            "options": options}


def _depth(destination: str) -> int:
    return len([p for p in destination.split("/") if p])


def mounts(spec: ContainerSpec, sandbox: Sandbox, privileged: bool) -> list[dict[str, Any]]:
    """Default mounts, the pod's /dev/shm, then the requested mounts parents first."""
    shm_source = str(sandbox.shm_path) if sandbox.shm_path else "/dev/shm"
    shm = {"destination": "/dev/shm", "type": "bind", "source": shm_source,
           "options": ["rbind", "rprivate", "nosuid", "nodev", "noexec"]}
    requested = sorted((_user_mount(m) for m in spec.mounts),
                       key=lambda m: _depth(m["destination"]))
    taken = {m["destination"].rstrip("/") or "/" for m in requested}
    defaults = [m for m in [*_default_mounts(privileged), shm]
                if m["destination"] not in taken]
    return defaults + requested


def rootfs_propagation(spec: ContainerSpec) -> str | None:
    """rshared/rslave root when a mount needs propagation from (or to) the host."""
    kinds = {propagation_option(m.propagation) for m in spec.mounts if m.kind == "bind"}
    if "rshared" in kinds:
        return "rshared"
    if "rslave" in kinds:
        return "rslave"
    return None


def environment(spec: ContainerSpec, sandbox: Sandbox) -> list[str]:
    """``KEY=value`` list: a default PATH, HOSTNAME and (with a tty) TERM unless given."""
    names = {name for name, _ in spec.env}
    env: list[str] = []
    if "PATH" not in names:
        env.append(f"PATH={DEFAULT_PATH}")
    if sandbox.hostname and "HOSTNAME" not in names:
        env.append(f"HOSTNAME={sandbox.hostname}")
    if spec.tty and "TERM" not in names:
        env.append("TERM=xterm")
    env.extend(f"{name}={value}" for name, value in spec.env)
    return env


def namespaces(sandbox: Sandbox) -> list[dict[str, str]]:
    out = [{"type": "mount"}]
    if not sandbox.host_pid:
        out.append({"type": "pid"})
    for kind, path in (("network", sandbox.netns_path), ("ipc", sandbox.ipc_path),
                       ("uts", sandbox.uts_path)):
        if path is not None:
            out.append({"type": kind, "path": str(path)})
    return out


def container_annotations(spec: ContainerSpec, sandbox: Sandbox) -> dict[str, str]:
    image_ref = spec.image_ref or (spec.image.references[0] if spec.image.references else "")
    return {
        **spec.annotations,
        POD_UID: spec.pod_uid,
        POD_NAME: spec.pod_name,
        POD_NAMESPACE: spec.namespace,
        CONTAINER_NAME: spec.container_name,
        RESTART_COUNT: str(spec.attempt),
        SANDBOX_ID: sandbox.id,
        LOG_PATH: str(spec.log_path),
        IMAGE_REF: image_ref,
        IMAGE_ID: spec.image.id,
    }


def _device_json(device: Device) -> dict[str, Any]:
    return {"path": device.path, "type": device.type, "major": device.major,
            "minor": device.minor, "fileMode": device.file_mode, "uid": device.uid,
            "gid": device.gid}


def cgroups_path(spec: ContainerSpec, container_id: str) -> str:
    return f"{res.pod_cgroup_parent(spec.qos_class, spec.pod_uid)}/{container_id}"


def build_oci_spec(spec: ContainerSpec, sandbox: Sandbox, user: ResolvedUser, *,
                   container_id: str, memory_capacity: int = 0,
                   host_devices: Sequence[Device] = (),
                   all_capabilities: Sequence[str] = ALL_CAPABILITIES,
                   min_oom_score_adj: int = -1000) -> dict[str, Any]:
    """The OCI runtime config (``config.json``) of one container; its OOM score is kept
    at or above ``min_oom_score_adj`` (what the agent may set)."""
    sc = spec.security or {}
    privileged = bool(sc.get("privileged"))
    caps = capabilities(sc, all_capabilities)
    allow_escalation = sc.get("allowPrivilegeEscalation")
    process: dict[str, Any] = {
        "terminal": spec.tty,
        "user": {"uid": user.uid, "gid": user.gid,
                 "additionalGids": list(user.additional_gids)},
        "args": list(spec.args),
        "env": environment(spec, sandbox),
        "cwd": spec.working_dir or "/",
        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
        # Upstream's default (unset) allows escalation; privileged implies it.
        "noNewPrivileges": allow_escalation is False and not privileged,
        "oomScoreAdj": max(min_oom_score_adj, res.oom_score_adj(
            spec.qos_class, spec.resources, memory_capacity)),
    }
    linux_resources = res.linux_resources(spec.resources)
    linux_resources["devices"] = [{"allow": privileged, "access": "rwm"}]
    linux: dict[str, Any] = {
        "cgroupsPath": cgroups_path(spec, container_id),
        "resources": linux_resources,
        "namespaces": namespaces(sandbox),
    }
    unmasked = privileged or sc.get("procMount") == "Unmasked"
    if not unmasked:
        linux["maskedPaths"] = list(MASKED_PATHS)
        linux["readonlyPaths"] = list(READONLY_PATHS)
    if privileged and host_devices:
        linux["devices"] = [_device_json(d) for d in host_devices]
    sysctls = {str(s["name"]): str(s["value"]) for s in sc.get("sysctls") or ()
               if "name" in s and "value" in s}
    if sysctls:
        linux["sysctl"] = sysctls
    propagation = rootfs_propagation(spec)
    if propagation:
        linux["rootfsPropagation"] = propagation
    config: dict[str, Any] = {
        "ociVersion": OCI_VERSION,
        "process": process,
        "root": {"path": str(spec.rootfs), "readonly": bool(sc.get("readOnlyRootFilesystem"))},
        "mounts": mounts(spec, sandbox, privileged),
        "annotations": container_annotations(spec, sandbox),
        "linux": linux,
    }
    if sandbox.uts_path is not None and sandbox.hostname:
        config["hostname"] = sandbox.hostname
    return config
