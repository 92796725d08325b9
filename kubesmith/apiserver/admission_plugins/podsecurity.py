"""PodSecurity admission: the Pod Security Standards, as upstream's pod-security-admission.

Namespaces choose a level (``privileged``, ``baseline``, ``restricted``) and a policy
version (``latest`` or ``v1.x``) per mode through the labels
``pod-security.kubernetes.io/{enforce,warn,audit}[-version]``:

- *enforce* refuses pods (create, and updates that change an image or add an ephemeral
  container) with 403 ``pods "x" is forbidden: violates PodSecurity "restricted:latest": ...``;
- *warn* returns ``would violate PodSecurity "...": ...`` to the caller as a warning;
- *audit* records the same text (kept in :attr:`Result.audit` for the audit log).

Pod templates of workloads (Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, CronJob,
ReplicationController, PodTemplate) are checked for warn and audit only; upstream never
enforces on templates. Namespace writes must carry valid labels, and tightening a
namespace's enforce level warns about existing pods that would violate it.

The checks and their messages follow upstream's ``policy/check_*.go`` at every policy
version up to v1.37 (``latest``). Exemptions are not implemented.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubesmith.api import errors, gofmt
from kubesmith.api.resources import Resources
from kubesmith.api.types import Obj
from kubesmith.apiserver.admission import AdmissionRequest

PRIVILEGED = "privileged"
BASELINE = "baseline"
RESTRICTED = "restricted"
LEVELS = (PRIVILEGED, BASELINE, RESTRICTED)
LATEST = "latest"
# The newest policy version any check has; "latest" and newer versions evaluate as this.
MAX_MINOR = 37

LABEL_PREFIX = "pod-security.kubernetes.io/"
ENFORCE_LABEL = LABEL_PREFIX + "enforce"
ENFORCE_VERSION_LABEL = LABEL_PREFIX + "enforce-version"
AUDIT_LABEL = LABEL_PREFIX + "audit"
AUDIT_VERSION_LABEL = LABEL_PREFIX + "audit-version"
WARN_LABEL = LABEL_PREFIX + "warn"
WARN_VERSION_LABEL = LABEL_PREFIX + "warn-version"

_VERSION_RE = re.compile(r"^v1\.([0-9]|[1-9][0-9]*)$")


# --- levels, versions, policies (upstream api/helpers.go) ---------------------------------


@dataclass(frozen=True, slots=True)
class LevelVersion:
    level: str
    version: str  # "latest" or "v1.x"

    def __str__(self) -> str:
        return f"{self.level}:{self.version}"

    @property
    def minor(self) -> int:
        """The policy version the checks run at (``latest`` and the future clamp to the max)."""
        if self.version == LATEST:
            return MAX_MINOR
        return min(int(self.version.split(".", 1)[1]), MAX_MINOR)


PRIVILEGED_LATEST = LevelVersion(PRIVILEGED, LATEST)


@dataclass(frozen=True, slots=True)
class Policy:
    enforce: LevelVersion = PRIVILEGED_LATEST
    audit: LevelVersion = PRIVILEGED_LATEST
    warn: LevelVersion = PRIVILEGED_LATEST

    def fully_privileged(self) -> bool:
        return PRIVILEGED == self.enforce.level == self.audit.level == self.warn.level


def parse_level(value: str) -> tuple[str, str | None]:
    """A level and an error; an unknown level reads as ``restricted`` (with the error)."""
    if value in LEVELS:
        return value, None
    return RESTRICTED, "must be one of " + ", ".join(LEVELS)


def parse_version(value: str) -> tuple[str, str | None]:
    """A version and an error; an unparsable version reads as ``latest`` (with the error)."""
    if value == LATEST:
        return value, None
    m = _VERSION_RE.match(value)
    if m is None:
        return LATEST, 'must be "latest" or "v1.x"'
    return f"v1.{int(m.group(1))}", None


def compare_levels(a: str, b: str) -> int:
    """-1, 0 or 1 as ``a`` is less strict than, as strict as or stricter than ``b``."""
    if a == b:
        return 0
    if a == PRIVILEGED:
        return -1
    if a == RESTRICTED:
        return 1
    if b == PRIVILEGED:
        return 1
    return -1 if b == RESTRICTED else 0


def policy_to_evaluate(labels: Mapping[str, str] | None,
                       defaults: Policy = Policy()) -> tuple[Policy, list[errors.FieldError]]:
    """The namespace's policy and the label errors (upstream's ``PolicyToEvaluate``).

    A valid policy always comes back: a bad enforce level enforces ``restricted``, a bad
    warn or audit level turns that mode off (``privileged``), a bad version means
    ``latest``. An explicit enforce level stricter than warn also warns at that level.
    """
    if not labels:
        return defaults, []
    errs: list[errors.FieldError] = []

    def err(label: str, value: str, message: str | None) -> None:
        if message is not None:
            errs.append(errors.invalid(f"metadata.labels[{label}]", value, message))

    enforce, audit, warn = defaults.enforce, defaults.audit, defaults.warn
    has_enforce_level = False
    if (value := labels.get(ENFORCE_LABEL)) is not None:
        level, e = parse_level(value)
        enforce = LevelVersion(level, enforce.version)
        has_enforce_level = e is None
        err(ENFORCE_LABEL, value, e)
    if (value := labels.get(ENFORCE_VERSION_LABEL)) is not None:
        version, e = parse_version(value)
        enforce = LevelVersion(enforce.level, version)
        err(ENFORCE_VERSION_LABEL, value, e)
    if (value := labels.get(AUDIT_LABEL)) is not None:
        level, e = parse_level(value)
        audit = LevelVersion(PRIVILEGED if e else level, audit.version)
        err(AUDIT_LABEL, value, e)
    if (value := labels.get(AUDIT_VERSION_LABEL)) is not None:
        version, e = parse_version(value)
        audit = LevelVersion(audit.level, version)
        err(AUDIT_VERSION_LABEL, value, e)
    has_warn_level = has_warn_version = False
    if (value := labels.get(WARN_LABEL)) is not None:
        has_warn_level = True
        level, e = parse_level(value)
        warn = LevelVersion(PRIVILEGED if e else level, warn.version)
        err(WARN_LABEL, value, e)
    if (value := labels.get(WARN_VERSION_LABEL)) is not None:
        has_warn_version = True
        version, e = parse_version(value)
        warn = LevelVersion(warn.level, version)
        err(WARN_VERSION_LABEL, value, e)
    if not has_warn_level and has_enforce_level and \
            compare_levels(enforce.level, warn.level) > 0:
        warn = LevelVersion(enforce.level,
                            warn.version if has_warn_version else enforce.version)
    return Policy(enforce, audit, warn), errs


# --- checks (upstream policy/check_*.go) ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class CheckResult:
    reason: str
    detail: str = ""


CheckFn = Callable[[Obj, Obj, int], "CheckResult | None"]


def _d(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def _l(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _containers(spec: Obj) -> Iterator[Obj]:
    """Init containers, containers, then ephemeral containers (upstream's visitor order)."""
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for c in _l(spec.get(key)):
            if isinstance(c, dict):
                yield c


def _sc(obj: Obj) -> Obj:
    return _d(obj.get("securityContext"))


def _join_quote(items: Sequence[str]) -> str:
    return '"' + '", "'.join(items) + '"' if items else ""


def _plural(singular: str, plural: str, count: int) -> str:
    return singular if count == 1 else plural


def _containers_phrase(names: Sequence[str]) -> str:
    return f'{_plural("container", "containers", len(names))} {_join_quote(names)}'


def _is_windows(spec: Obj) -> bool:
    return _d(spec.get("os")).get("name") == "windows"


def _user_namespaced(spec: Obj) -> bool:
    return spec.get("hostUsers") is False


def _is_zero(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value == 0


def _names(cs: Sequence[Obj]) -> list[str]:
    return [str(c.get("name", "")) for c in cs]


def check_windows_host_process(meta: Obj, spec: Obj, minor: int) -> CheckResult | None:
    setters = []
    if _d(_sc(spec).get("windowsOptions")).get("hostProcess") is True:
        setters.append("pod")
    bad = _names([c for c in _containers(spec)
                  if _d(_sc(c).get("windowsOptions")).get("hostProcess") is True])
    if bad:
        setters.append(_containers_phrase(bad))
    if setters:
        return CheckResult("hostProcess", " and ".join(setters) +
                           " must not set securityContext.windowsOptions.hostProcess=true")
    return None


def check_host_namespaces(meta: Obj, spec: Obj, minor: int) -> CheckResult | None:
    used = [f"{k}=true" for k in ("hostNetwork", "hostPID", "hostIPC") if spec.get(k) is True]
    return CheckResult("host namespaces", ", ".join(used)) if used else None


def check_privileged(meta: Obj, spec: Obj, minor: int) -> CheckResult | None:
    bad = _names([c for c in _containers(spec) if _sc(c).get("privileged") is True])
    if bad:
        return CheckResult("privileged", f"{_containers_phrase(bad)} must not set "
                                         "securityContext.privileged=true")
    return None


BASELINE_CAPABILITIES = frozenset((
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
    "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"))


def check_capabilities_baseline(meta: Obj, spec: Obj, minor: int) -> CheckResult | None:
    bad: list[str] = []
    caps: set[str] = set()
    for c in _containers(spec):
        added = [str(a) for a in _l(_d(_sc(c).get("capabilities")).get("add"))]
        extra = [a for a in added if a not in BASELINE_CAPABILITIES]
        if extra:
            bad.append(str(c.get("name", "")))
            caps.update(extra)
    if bad:
        return CheckResult("non-default capabilities",
                           f"{_containers_phrase(bad)} must not include "
                           f"{_join_quote(sorted(caps))} in securityContext.capabilities.add")
    return None


def check_host_path_volumes(meta: Obj, spec: Obj, minor: int) -> CheckResult | None:
    bad = [str(v.get("name", "")) for v in _l(spec.get("volumes"))
           if isinstance(v, dict) and v.get("hostPath") is not None]
    if bad:
        return CheckResult("hostPath volumes",
                           f'{_plural("volume", "volumes", len(bad))} {_join_quote(bad)}')
    return None


def check_host_ports(meta: Obj, spec: Obj, minor: int) -> CheckResult | None:
    bad: list[str] = []
    ports: set[str] = set()
    for c in _containers(spec):
        used = [str(p.get("hostPort")) for p in _l(c.get("ports"))
                if isinstance(p, dict) and p.get("hostPort") not in (None, 0)]
        if used:
            bad.append(str(c.get("name", "")))
            ports.update(used)
    if bad:
        return CheckResult("hostPort", f'{_containers_phrase(bad)} '
                                       f'{_plural("uses", "use", len(bad))} '
                                       f'{_plural("hostPort", "hostPorts", len(ports))} '
                                       f'{", ".join(sorted(ports))}')
    return None


def _handler_hosts(handler: Any) -> list[str]:
    h = _d(handler)
    return [str(host) for kind in ("httpGet", "tcpSocket")
            if (host := _d(h.get(kind)).get("host"))]


def check_host_probes_and_lifecycle(meta: Obj, spec: Obj, minor: int) -> CheckResult | None:
    bad: set[str] = set()
    hosts: set[str] = set()
    for c in _containers(spec):
        lifecycle = _d(c.get("lifecycle"))
        found = [h for handler in (c.get("livenessProbe"), c.get("readinessProbe"),
                                   c.get("startupProbe"), lifecycle.get("postStart"),
                                   lifecycle.get("preStop"))
                 for h in _handler_hosts(handler)]
        if found:
            bad.add(str(c.get("name", "")))
            hosts.update(found)
    if bad:
        return CheckResult("probe or lifecycle host",
                           f'{_containers_phrase(sorted(bad))} {_plural("uses", "use", len(bad))} '
                           f'{_plural("probe or lifecycle host", "probe or lifecycle hosts", len(hosts))} '  # noqa: E501
                           f"{_join_quote(sorted(hosts))}")
    return None


def check_apparmor(meta: Obj, spec: Obj, minor: int) -> CheckResult | None:
    allowed_types = ("RuntimeDefault", "Localhost")
    setters: list[str] = []
    values: set[str] = set()
    pod_profile = _sc(spec).get("appArmorProfile")
    if isinstance(pod_profile, dict) and pod_profile.get("type", "") not in allowed_types:
        setters.append("pod")
        values.add(str(pod_profile.get("type", "")))
    bad: list[str] = []
    for c in _containers(spec):
        profile = _sc(c).get("appArmorProfile")
        if isinstance(profile, dict) and profile.get("type", "") not in allowed_types:
            bad.append(str(c.get("name", "")))
            values.add(str(profile.get("type", "")))
    if bad:
        setters.append(_containers_phrase(bad))
    prefix = "container.apparmor.security.beta.kubernetes.io/"
    annotations = sorted(
        f"{k}={gofmt.quote(str(v))}" for k, v in _d(meta.get("annotations")).items()
        if k.startswith(prefix) and not (v in ("", "runtime/default") or
                                         str(v).startswith("localhost/")))
    bad_values = sorted(values) + annotations
    if annotations:
        setters.append(_plural("annotation", "annotations", len(annotations)))
    if setters:
        return CheckResult(
            _plural("forbidden AppArmor profile", "forbidden AppArmor profiles", len(bad_values)),
            f'{" and ".join(setters)} must not set AppArmor profile type to '
            f"{_join_quote(bad_values)}")
    return None


def check_selinux(meta: Obj, spec: Obj, minor: int) -> CheckResult | None:
    allowed = {"", "container_t", "container_init_t", "container_kvm_t"}
    if minor >= 31:
        allowed.add("container_engine_t")
    bad_types: set[str] = set()
    flags = {"user": False, "role": False}

    def valid(opts: Obj) -> bool:
        ok = True
        if str(opts.get("type") or "") not in allowed:
            ok = False
            bad_types.add(str(opts.get("type") or ""))
        for key in ("user", "role"):
            if opts.get(key):
                ok = False
                flags[key] = True
        return ok

    setters: list[str] = []
    pod_opts = _sc(spec).get("seLinuxOptions")
    if isinstance(pod_opts, dict) and not valid(pod_opts):
        setters.append("pod")
    bad = _names([c for c in _containers(spec)
                  if isinstance(o := _sc(c).get("seLinuxOptions"), dict) and not valid(o)])
    if bad:
        setters.append(_containers_phrase(bad))
    if not setters:
        return None
    data = []
    if bad_types:
        data.append(f'{_plural("type", "types", len(bad_types))} '
                    f"{_join_quote(sorted(bad_types))}")
    data += [f"{key} may not be set" for key in ("user", "role") if flags[key]]
    return CheckResult("seLinuxOptions", f'{" and ".join(setters)} set forbidden '
                                         f'securityContext.seLinuxOptions: {"; ".join(data)}')


def _proc_mount(meta: Obj, spec: Obj) -> CheckResult | None:
    bad: list[str] = []
    types: set[str] = set()
    for c in _containers(spec):
        pm = _sc(c).get("procMount")
        if pm is not None and pm != "Default":
            bad.append(str(c.get("name", "")))
            types.add(str(pm))
    if bad:
        return CheckResult("procMount", f"{_containers_phrase(bad)} must not set securityContext"
                                        f".procMount to {_join_quote(sorted(types))}")
    return None


def check_proc_mount_baseline(meta: Obj, spec: Obj, minor: int) -> CheckResult | None:
    if minor >= 35 and _user_namespaced(spec):
        return None
    return _proc_mount(meta, spec)


def check_proc_mount_restricted(meta: Obj, spec: Obj, minor: int) -> CheckResult | None:
    return _proc_mount(meta, spec)


def _valid_seccomp_type(profile: Obj) -> bool:
    return profile.get("type") in ("Localhost", "RuntimeDefault")


def check_seccomp_baseline(meta: Obj, spec: Obj, minor: int) -> CheckResult | None:
    if minor < 19:
        annotations = _d(meta.get("annotations"))

        def valid(v: Any) -> bool:
            return v in ("runtime/default", "docker/default") or str(v).startswith("localhost/")

        forbidden: set[str] = set()
        keys = ["seccomp.security.alpha.kubernetes.io/pod"] + [
            "container.seccomp.security.alpha.kubernetes.io/" + str(c.get("name", ""))
            for c in _containers(spec)]
        for key in keys:
            if key in annotations and not valid(annotations[key]):
                forbidden.add(f"{key}={gofmt.quote(str(annotations[key]))}")
        if forbidden:
            return CheckResult("seccompProfile", f'forbidden '
                               f'{_plural("annotation", "annotations", len(forbidden))} '
                               f'{", ".join(sorted(forbidden))}')
        return None
    return _seccomp(spec, required=False)


def _seccomp(spec: Obj, *, required: bool) -> CheckResult | None:
    setters: list[str] = []
    values: set[str] = set()
    pod_set = False
    pod_profile = _sc(spec).get("seccompProfile")
    if isinstance(pod_profile, dict):
        if _valid_seccomp_type(pod_profile):
            pod_set = True
        else:
            setters.append("pod")
            values.add(str(pod_profile.get("type", "")))
    explicit: list[str] = []
    implicit: list[str] = []
    for c in _containers(spec):
        profile = _sc(c).get("seccompProfile")
        if isinstance(profile, dict):
            if not _valid_seccomp_type(profile):
                explicit.append(str(c.get("name", "")))
                values.add(str(profile.get("type", "")))
        elif not pod_set:
            implicit.append(str(c.get("name", "")))
    if explicit:
        setters.append(_containers_phrase(explicit))
    if setters:
        return CheckResult("seccompProfile",
                           f'{" and ".join(setters)} must not set '
                           f"securityContext.seccompProfile.type to {_join_quote(sorted(values))}")
    if required and implicit:
        return CheckResult("seccompProfile",
                           f"pod or {_containers_phrase(implicit)} must set "
                           'securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost"')
    return None


def check_seccomp_restricted(meta: Obj, spec: Obj, minor: int) -> CheckResult | None:
    if minor >= 25 and _is_windows(spec):
        return None
    return _seccomp(spec, required=True)


_SYSCTLS_BY_MINOR: tuple[tuple[int, tuple[str, ...]], ...] = (
    (0, ("kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_syncookies",
         "net.ipv4.ping_group_range", "net.ipv4.ip_unprivileged_port_start")),
    (27, ("net.ipv4.ip_local_reserved_ports",)),
    (29, ("net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout",
          "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes")),
    (32, ("net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem")),
    (37, ("net.ipv4.tcp_slow_start_after_idle", "net.ipv4.tcp_notsent_lowat")),
)


def safe_sysctls(minor: int) -> frozenset[str]:
    """The sysctls the baseline level allows at a policy version."""
    return frozenset(s for since, names in _SYSCTLS_BY_MINOR if minor >= since for s in names)


def check_sysctls(meta: Obj, spec: Obj, minor: int) -> CheckResult | None:
    allowed = safe_sysctls(minor)
    bad = [str(s.get("name", "")) for s in _l(_sc(spec).get("sysctls"))
           if isinstance(s, dict) and s.get("name") not in allowed]
    return CheckResult("forbidden sysctls", ", ".join(bad)) if bad else None


_ALLOWED_VOLUME_SOURCES = ("configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "image",
                           "persistentVolumeClaim", "projected", "secret")
_RESTRICTED_VOLUME_SOURCES = (
    "hostPath", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "nfs", "iscsi",
    "glusterfs", "rbd", "flexVolume", "cinder", "cephfs", "flocker", "fc", "azureFile",
    "vsphereVolume", "quobyte", "azureDisk", "photonPersistentDisk", "portworxVolume",
    "scaleIO", "storageos")


def check_restricted_volumes(meta: Obj, spec: Obj, minor: int) -> CheckResult | None:
    bad: list[str] = []
    types: set[str] = set()
    for v in _l(spec.get("volumes")):
        if not isinstance(v, dict) or \
                any(v.get(k) is not None for k in _ALLOWED_VOLUME_SOURCES):
            continue
        bad.append(str(v.get("name", "")))
        types.add(next((k for k in _RESTRICTED_VOLUME_SOURCES if v.get(k) is not None),
                       "unknown"))
    if bad:
        return CheckResult(
            "restricted volume types",
            f'{_plural("volume", "volumes", len(bad))} {_join_quote(bad)} '
            f'{_plural("uses", "use", len(bad))} '
            f'{_plural("restricted volume type", "restricted volume types", len(types))} '
            f"{_join_quote(sorted(types))}")
    return None


def check_allow_privilege_escalation(meta: Obj, spec: Obj, minor: int) -> CheckResult | None:
    if minor >= 25 and _is_windows(spec):
        return None
    bad = _names([c for c in _containers(spec)
                  if _sc(c).get("allowPrivilegeEscalation") is not False])
    if bad:
        return CheckResult("allowPrivilegeEscalation != false",
                           f"{_containers_phrase(bad)} must set "
                           "securityContext.allowPrivilegeEscalation=false")
    return None


def check_run_as_non_root(meta: Obj, spec: Obj, minor: int) -> CheckResult | None:
    if minor >= 35 and _user_namespaced(spec):
        return None
    setters: list[str] = []
    pod_value = _sc(spec).get("runAsNonRoot")
    if pod_value is False:
        setters.append("pod")
    explicit: list[str] = []
    implicit: list[str] = []
    for c in _containers(spec):
        value = _sc(c).get("runAsNonRoot")
        if value is not None:
            if value is False:
                explicit.append(str(c.get("name", "")))
        elif pod_value is not True:
            implicit.append(str(c.get("name", "")))
    if explicit:
        setters.append(_containers_phrase(explicit))
    if setters:
        return CheckResult("runAsNonRoot != true", f'{" and ".join(setters)} must not set '
                                                   "securityContext.runAsNonRoot=false")
    if implicit:
        return CheckResult("runAsNonRoot != true", f"pod or {_containers_phrase(implicit)} "
                                                   "must set securityContext.runAsNonRoot=true")
    return None


def check_run_as_user(meta: Obj, spec: Obj, minor: int) -> CheckResult | None:
    if minor >= 35 and _user_namespaced(spec):
        return None
    setters = ["pod"] if _is_zero(_sc(spec).get("runAsUser")) else []
    bad = _names([c for c in _containers(spec) if _is_zero(_sc(c).get("runAsUser"))])
    if bad:
        setters.append(_containers_phrase(bad))
    if setters:
        return CheckResult("runAsUser=0", f'{" and ".join(setters)} must not set runAsUser=0')
    return None


def check_capabilities_restricted(meta: Obj, spec: Obj, minor: int) -> CheckResult | None:
    if minor >= 25 and _is_windows(spec):
        return None
    missing_drop: list[str] = []
    adding: list[str] = []
    caps: set[str] = set()
    for c in _containers(spec):
        name = str(c.get("name", ""))
        capabilities = _sc(c).get("capabilities")
        if not isinstance(capabilities, dict):
            missing_drop.append(name)
            continue
        if "ALL" not in _l(capabilities.get("drop")):
            missing_drop.append(name)
        extra = [str(a) for a in _l(capabilities.get("add")) if a != "NET_BIND_SERVICE"]
        if extra:
            adding.append(name)
            caps.update(extra)
    details = []
    if missing_drop:
        details.append(f"{_containers_phrase(missing_drop)} must set "
                       'securityContext.capabilities.drop=["ALL"]')
    if adding:
        details.append(f"{_containers_phrase(adding)} must not include "
                       f"{_join_quote(sorted(caps))} in securityContext.capabilities.add")
    return CheckResult("unrestricted capabilities", "; ".join(details)) if details else None


@dataclass(frozen=True, slots=True)
class Check:
    id: str
    level: str
    since: int  # the first policy minor version the check applies to
    fn: CheckFn
    # Baseline checks this (restricted) check replaces, from the given minor version on.
    overrides: tuple[str, ...] = ()
    overrides_since: int = 0


CHECKS: tuple[Check, ...] = (
    Check("appArmorProfile", BASELINE, 0, check_apparmor),
    Check("capabilities_baseline", BASELINE, 0, check_capabilities_baseline),
    Check("hostNamespaces", BASELINE, 0, check_host_namespaces),
    Check("hostPathVolumes", BASELINE, 0, check_host_path_volumes),
    Check("hostPorts", BASELINE, 0, check_host_ports),
    Check("hostProbesAndHostLifecycle", BASELINE, 34, check_host_probes_and_lifecycle),
    Check("privileged", BASELINE, 0, check_privileged),
    Check("procMount", BASELINE, 0, check_proc_mount_baseline),
    Check("seLinuxOptions", BASELINE, 0, check_selinux),
    Check("seccompProfile_baseline", BASELINE, 0, check_seccomp_baseline),
    Check("sysctls", BASELINE, 0, check_sysctls),
    Check("windowsHostProcess", BASELINE, 0, check_windows_host_process),
    Check("allowPrivilegeEscalation", RESTRICTED, 8, check_allow_privilege_escalation),
    Check("capabilities_restricted", RESTRICTED, 22, check_capabilities_restricted,
          ("capabilities_baseline",), 22),
    Check("procMount_restricted", RESTRICTED, 35, check_proc_mount_restricted,
          ("procMount",), 35),
    Check("restrictedVolumes", RESTRICTED, 0, check_restricted_volumes,
          ("hostPathVolumes",), 0),
    Check("runAsNonRoot", RESTRICTED, 0, check_run_as_non_root),
    Check("runAsUser", RESTRICTED, 23, check_run_as_user),
    Check("seccompProfile_restricted", RESTRICTED, 19, check_seccomp_restricted,
          ("seccompProfile_baseline",), 19),
)


def checks_for(lv: LevelVersion) -> list[Check]:
    """The checks a level runs at a version: baseline checks (by ID), then restricted ones,
    minus the baseline checks a restricted check replaces."""
    if lv.level == PRIVILEGED:
        return []
    minor = lv.minor
    active = [c for c in CHECKS if c.since <= minor and
              (c.level == BASELINE or lv.level == RESTRICTED)]
    overridden = {o for c in active if c.overrides and c.overrides_since <= minor
                  for o in c.overrides}
    return [c for c in active if c.id not in overridden]


def evaluate(lv: LevelVersion, meta: Obj, spec: Obj) -> list[CheckResult]:
    """The failed checks of a pod (or template) metadata and spec at a level and version."""
    minor = lv.minor
    return [r for c in checks_for(lv) if (r := c.fn(meta, spec, minor)) is not None]


def forbidden_detail(results: Sequence[CheckResult]) -> str:
    """``reason (detail), reason, ...`` as upstream's ``AggregateCheckResult.ForbiddenDetail``."""
    return ", ".join(f"{r.reason} ({r.detail})" if r.detail else r.reason for r in results)


def forbidden_reason(results: Sequence[CheckResult]) -> str:
    return ", ".join(r.reason for r in results)


# --- evaluating a pod under a namespace policy (upstream admission/admission.go) ----------


@dataclass(slots=True)
class Result:
    """The outcome for one pod or template: an enforce refusal message (without the
    ``pods "x" is forbidden: `` prefix), warnings for the caller, audit annotations."""

    enforce_error: str | None = None
    warnings: list[str] = field(default_factory=list)
    audit: dict[str, str] = field(default_factory=dict)


def check(namespace_labels: Mapping[str, str] | None, pod_meta: Obj, pod_spec: Obj, *,
          enforce: bool = True, defaults: Policy = Policy()) -> Result:
    """Evaluate pod metadata and spec against the namespace's labels.

    ``enforce=False`` (pod templates) only computes the warn and audit results.
    """
    policy, errs = policy_to_evaluate(namespace_labels, defaults)
    out = Result()
    if errs:
        out.audit["error"] = "Failed to parse policy: " + _aggregate(errs)
    cache: dict[LevelVersion, list[CheckResult]] = {}

    def run(lv: LevelVersion) -> list[CheckResult]:
        if lv not in cache:
            cache[lv] = evaluate(lv, pod_meta, pod_spec)
        return cache[lv]

    if enforce:
        out.audit[LABEL_PREFIX + "enforce-policy"] = str(policy.enforce)
        failed = run(policy.enforce)
        if failed:
            out.enforce_error = f'violates PodSecurity "{policy.enforce}": ' \
                                f"{forbidden_detail(failed)}"
    failed = run(policy.audit)
    if failed:
        out.audit[LABEL_PREFIX + "audit-violations"] = \
            f'would violate PodSecurity "{policy.audit}": {forbidden_detail(failed)}'
    if out.enforce_error is None:
        failed = run(policy.warn)
        if failed:
            out.warnings.append(
                f'would violate PodSecurity "{policy.warn}": {forbidden_detail(failed)}')
    return out


def _aggregate(errs: Sequence[errors.FieldError]) -> str:
    """``utilerrors.NewAggregate(...).Error()``: one message, or ``[a, b]``."""
    messages = [e.message() for e in errs]
    return messages[0] if len(messages) == 1 else "[" + ", ".join(messages) + "]"


def is_significant_pod_update(pod: Obj, old: Obj) -> bool:
    """Whether a pod update needs evaluating: containers added or removed, an image changed
    or an ephemeral container added or changed (all else in a pod spec is immutable)."""
    spec, old_spec = _d(pod.get("spec")), _d(old.get("spec"))
    for key in ("containers", "initContainers"):
        new_cs, old_cs = _l(spec.get(key)), _l(old_spec.get(key))
        if len(new_cs) != len(old_cs):
            return True
        if any(_d(n).get("image") != _d(o).get("image")
               for n, o in zip(new_cs, old_cs, strict=True)):
            return True
    old_ephemeral = {_d(c).get("name"): _d(c) for c in _l(old_spec.get("ephemeralContainers"))}
    for c in _l(spec.get("ephemeralContainers")):
        before = old_ephemeral.get(_d(c).get("name"))
        if before is None or before.get("image") != _d(c).get("image"):
            return True
    return False


# Workload resources (group, plural) whose pod template is checked for warn and audit.
POD_TEMPLATE_RESOURCES = frozenset({
    ("", "replicationcontrollers"), ("", "podtemplates"), ("apps", "replicasets"),
    ("apps", "deployments"), ("apps", "statefulsets"), ("apps", "daemonsets"),
    ("batch", "jobs"), ("batch", "cronjobs")})

# Pod subresources that never change the pod spec.
IGNORED_POD_SUBRESOURCES = frozenset({
    "exec", "attach", "binding", "eviction", "log", "portforward", "proxy", "status"})


def extract_template(group: str, plural: str, obj: Obj) -> tuple[Obj, Obj] | None:
    """The pod template's metadata and spec of a workload, or None when it has none."""
    if plural == "podtemplates":
        template = obj.get("template")
    elif plural == "cronjobs":
        template = _d(_d(_d(obj.get("spec")).get("jobTemplate")).get("spec")).get("template")
    else:
        template = _d(obj.get("spec")).get("template")
    if not isinstance(template, dict):
        return None
    return _d(template.get("metadata")), _d(template.get("spec"))


# --- the plugin ----------------------------------------------------------------------------

LabelsLookup = Callable[[str], Awaitable[Mapping[str, str] | None]]
PodsLister = Callable[[str], Awaitable[Sequence[Obj]]]
WarningSink = Callable[[AdmissionRequest, str], None]


def namespace_labels_from(resources: Resources) -> LabelsLookup:
    """A namespace-labels lookup over the server's watch cache (None: no such namespace)."""

    async def lookup(namespace: str) -> Mapping[str, str] | None:
        store = resources.for_kind("", "Namespace")
        if store is None:
            return None
        cached = store.cache.get(store.key(None, namespace))
        if cached is None:
            await store.cache.wait_consistent()
            cached = store.cache.get(store.key(None, namespace))
        if cached is None:
            return None
        labels = _d(cached.obj.get("metadata")).get("labels")
        return labels if isinstance(labels, dict) else {}

    return lookup


def pods_from(resources: Resources) -> PodsLister:
    """A lister of a namespace's pods over the server's watch cache."""

    async def list_pods(namespace: str) -> Sequence[Obj]:
        store = resources.for_kind("", "Pod")
        if store is None:
            return []
        return [c.obj for c in store.cache.iter_from(namespace)]

    return list_pods


def _request_warnings(req: AdmissionRequest, warning: str) -> None:
    """Default sink: ``req.warnings`` when the request carries such a list."""
    sink = getattr(req, "warnings", None)
    if isinstance(sink, list):
        sink.append(warning)


class PodSecurity:
    """The PodSecurity admission plugin (validating only)."""

    name = "PodSecurity"

    def __init__(self, namespace_labels: LabelsLookup, *,
                 add_warning: WarningSink | None = None,
                 list_pods: PodsLister | None = None,
                 defaults: Policy = Policy(),
                 max_pods_to_check: int = 3000) -> None:
        self.namespace_labels = namespace_labels
        self.add_warning = add_warning or _request_warnings
        self.list_pods = list_pods
        self.defaults = defaults
        self.max_pods_to_check = max_pods_to_check
        # The last audit annotations, for an audit log to pick up.
        self.last_audit: dict[str, str] = {}

    async def admit(self, req: AdmissionRequest, obj: Obj | None, old: Obj | None) -> None:
        return None

    async def validate(self, req: AdmissionRequest, obj: Obj | None, old: Obj | None) -> None:
        if req.operation not in ("CREATE", "UPDATE") or obj is None:
            return
        group, plural = req.rt.group, req.rt.plural
        if group == "" and plural == "namespaces":
            await self._validate_namespace(req, obj, old)
        elif group == "" and plural == "pods":
            await self._validate_pod(req, obj, old)
        elif (group, plural) in POD_TEMPLATE_RESOURCES:
            await self._validate_template(req, obj)

    async def _validate_namespace(self, req: AdmissionRequest, obj: Obj, old: Obj | None) -> None:
        if req.subresource:
            return
        name = str(_d(obj.get("metadata")).get("name") or req.name)
        new_policy, new_errs = policy_to_evaluate(_labels(obj), self.defaults)
        if req.operation == "CREATE" or old is None:
            if new_errs:
                raise errors.invalid_object("Namespace", name, new_errs)
            return
        old_policy, old_errs = policy_to_evaluate(_labels(old), self.defaults)
        if new_errs and (not old_errs or new_errs != old_errs):
            raise errors.invalid_object("Namespace", name, new_errs)
        new, before = new_policy.enforce, old_policy.enforce
        if new == before or new.level == PRIVILEGED:
            return
        if new.version == before.version and compare_levels(new.level, before.level) < 1:
            return
        if self.list_pods is None:
            return
        for warning in self.pods_warnings(name, new, await self.list_pods(name)):
            self.add_warning(req, warning)

    def pods_warnings(self, namespace: str, enforce: LevelVersion,
                      pods: Sequence[Obj]) -> list[str]:
        """Warnings for existing pods that violate a namespace's new enforce level
        (upstream's ``EvaluatePodsInNamespace``): one per distinct set of reasons."""
        ordered = _prioritize(pods)
        checked = ordered[:self.max_pods_to_check]
        first_pod: dict[str, str] = {}
        count: dict[str, int] = {}
        for pod in checked:
            failed = evaluate(enforce, _d(pod.get("metadata")), _d(pod.get("spec")))
            if not failed:
                continue
            reason = forbidden_reason(failed)
            pod_name = str(_d(pod.get("metadata")).get("name", ""))
            if reason not in first_pod or pod_name < first_pod[reason]:
                first_pod[reason] = pod_name
            count[reason] = count.get(reason, 0) + 1
        warnings = []
        if len(checked) < len(ordered):
            warnings.append(f"new PodSecurity enforce level only checked against the first "
                            f"{len(checked)} of {len(ordered)} existing pods")
        if count:
            warnings.append(f'existing pods in namespace "{namespace}" violate the new '
                            f'PodSecurity enforce level "{enforce}"')
        decorated = []
        for reason, n in count.items():
            who = first_pod[reason]
            if n == 2:
                who += " (and 1 other pod)"
            elif n > 2:
                who += f" (and {n - 1} other pods)"
            decorated.append(f"{who}: {reason}")
        return warnings + sorted(decorated)

    async def _validate_pod(self, req: AdmissionRequest, obj: Obj, old: Obj | None) -> None:
        if req.subresource in IGNORED_POD_SUBRESOURCES:
            return
        labels = await self.namespace_labels(req.namespace)
        if labels is None:
            raise errors.internal_error(f'failed to lookup namespace "{req.namespace}"')
        policy, errs = policy_to_evaluate(labels, self.defaults)
        if not errs and policy.fully_privileged():
            return
        if req.operation == "UPDATE" and old is not None and \
                not is_significant_pod_update(obj, old):
            return
        result = check(labels, _d(obj.get("metadata")), _d(obj.get("spec")),
                       defaults=self.defaults)
        self.last_audit = result.audit
        if result.enforce_error is not None:
            name = req.name or str(_d(obj.get("metadata")).get("name", ""))
            raise errors.forbidden_operation("pods", name, result.enforce_error)
        for warning in result.warnings:
            self.add_warning(req, warning)

    async def _validate_template(self, req: AdmissionRequest, obj: Obj) -> None:
        if req.subresource:
            return
        labels = await self.namespace_labels(req.namespace)
        if labels is None:
            return
        policy, errs = policy_to_evaluate(labels, self.defaults)
        if not errs and policy.warn.level == PRIVILEGED and policy.audit.level == PRIVILEGED:
            return
        template = extract_template(req.rt.group, req.rt.plural, obj)
        if template is None:
            return
        result = check(labels, template[0], template[1], enforce=False, defaults=self.defaults)
        self.last_audit = result.audit
        for warning in result.warnings:
            self.add_warning(req, warning)


def _labels(obj: Obj) -> Mapping[str, str]:
    labels = _d(obj.get("metadata")).get("labels")
    return labels if isinstance(labels, dict) else {}


def _prioritize(pods: Sequence[Obj]) -> list[Obj]:
    """Pods without a controller and the first pod of each controller, then the rest."""
    first: list[Obj] = []
    rest: list[Obj] = []
    seen: set[str] = set()
    for pod in pods:
        owner = next((o for o in _l(_d(pod.get("metadata")).get("ownerReferences"))
                      if isinstance(o, dict) and o.get("controller") is True), None)
        if owner is None:
            first.append(pod)
            continue
        uid = str(owner.get("uid", ""))
        if uid in seen:
            rest.append(pod)
        else:
            seen.add(uid)
            first.append(pod)
    return first + rest
