"""Starting one container, step by step as the kubelet's ``startContainer``: back-off, image,
configuration, create, start, postStart hook. Each failure records the kubelet's events and
raises :class:`StartFailed` with the waiting reason the container then shows:

=====================================  =========================================
failure                                waiting reason
=====================================  =========================================
restarted too soon after exiting       ``CrashLoopBackOff`` (no start attempted)
image pull failed / in back-off        ``ErrImagePull`` / ``ImagePullBackOff``
image absent with policy Never         ``ErrImageNeverPull``
env or mounts cannot be built          ``CreateContainerConfigError``
runtime refused the user setup         ``CreateContainerConfigError``
runtime could not create it            ``CreateContainerError``
created but could not start            ``RunContainerError``
postStart hook failed (it is killed)   ``PostStartHookError``
=====================================  =========================================
"""

from __future__ import annotations

import functools
import os
import re
import secrets
from pathlib import Path

from kubesmith.agent.dnsconfig import pod_hostname_and_domain
from kubesmith.agent.images.credentials import RegistryAuth, credentials_from_pull_secrets
from kubesmith.agent.images.model import ImageInfo, ImagePullError
from kubesmith.agent.images.reference import InvalidReference, parse_reference
from kubesmith.agent.pods.actions import container_hash
from kubesmith.agent.pods.adoption import release_rootfs
from kubesmith.agent.pods.backoff import go_seconds
from kubesmith.agent.pods.command import (
    EmptyCommand,
    container_argv,
    expand_command,
    merged_env,
    working_dir,
)
from kubesmith.agent.pods.context import Parts
from kubesmith.agent.pods.env import EnvError, PodAddresses, container_env
from kubesmith.agent.pods.hooks import HookError, run_handler
from kubesmith.agent.pods.qos import pod_qos
from kubesmith.agent.pods.runs import (
    EXITED,
    GRACE_PERIOD,
    HASH,
    IMAGE_DIGEST,
    ROOTFS_DIR,
    TERMINATION_LOG,
    TERMINATION_MESSAGE_PATH,
    TERMINATION_MESSAGE_POLICY,
)
from kubesmith.agent.pods.state import (
    NORMAL,
    WARNING,
    PodState,
    container_event,
    describe,
    pod_event,
)
from kubesmith.agent.pods.stopping import kill_container
from kubesmith.agent.runtime import spec as rt
from kubesmith.agent.runtime.errors import ContainerConfigError, RuntimeFailure
from kubesmith.agent.volumes.errors import VolumeError
from kubesmith.api.protobuf.gotime import format_duration
from kubesmith.api.types import Obj

_SECURITY_FROM_POD = ("runAsUser", "runAsGroup", "runAsNonRoot", "seLinuxOptions",
                      "seccompProfile", "appArmorProfile", "supplementalGroups", "fsGroup",
                      "sysctls", "supplementalGroupsPolicy", "windowsOptions")
_LOG_NAME = re.compile(r"^(\d+)\.log(\..*)?$")


class StartFailed(Exception):
    """A container was not started; ``reason``/``message`` become its waiting state."""

    def __init__(self, reason: str, message: str = "") -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


def backoff_key(pod: Obj, container: Obj) -> str:
    """The crash-loop back-off key of a container (upstream ``GetStableKey``)."""
    meta = pod.get("metadata") or {}
    return f"{meta.get('name')}_{meta.get('namespace')}_{meta.get('uid')}_" \
           f"{container.get('name')}_{container_hash(container)}"


def security_context(pod: Obj, container: Obj) -> Obj:
    """The container's effective securityContext: the pod's, overridden by the
    container's own (upstream ``DetermineEffectiveSecurityContext`` plus the pod-level
    group settings the runtime applies)."""
    pod_sc = (pod.get("spec") or {}).get("securityContext") or {}
    merged: Obj = {k: v for k, v in pod_sc.items() if k in _SECURITY_FROM_POD}
    merged.update(container.get("securityContext") or {})
    return merged


def default_pull_policy(image: str) -> str:
    """``Always`` for ``:latest`` or untagged images, else ``IfNotPresent`` (API default)."""
    try:
        ref = parse_reference(image)
    except InvalidReference:
        return "IfNotPresent"
    return "Always" if ref.digest is None and ref.tag in (None, "latest") else "IfNotPresent"


def restart_count_from_logs(log_dir: Path) -> int:
    """The next restart count when the runtime lost the container but its logs remain
    (upstream ``calcRestartCountByLogDir``): one past the highest ``N.log``."""
    try:
        names = os.listdir(log_dir)
    except OSError:
        return 0
    counts = [int(m[1]) + 1 for n in names if (m := _LOG_NAME.match(n))]
    return max(counts, default=0)


async def pull_credentials(parts: Parts, pod: Obj) -> list[RegistryAuth]:
    """Registry credentials from the pod's imagePullSecrets (missing ones are named in a
    warning event; the pull is tried anyway)."""
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    found: list[Obj] = []
    missing: list[str] = []
    for ref in spec.get("imagePullSecrets") or ():
        name = str(ref.get("name") or "")
        if not name:
            continue
        secret = await parts.env.secret(str(meta.get("namespace") or ""), name)
        if secret is None:
            missing.append(name)
        else:
            found.append(secret)
    if missing:
        pod_event(parts, pod, WARNING, "FailedToRetrieveImagePullSecret",
                  f"Unable to retrieve some image pull secrets ({', '.join(missing)}); "
                  "attempting to pull the image may not succeed.")
    return credentials_from_pull_secrets(found)


async def ensure_image(parts: Parts, state: PodState, pod: Obj, container: Obj,
                       is_init: bool) -> ImageInfo:
    """The container's image, pulled per ``imagePullPolicy`` (upstream
    ``EnsureImageExists``, with its events)."""
    image = str(container.get("image") or "")
    policy = str(container.get("imagePullPolicy") or default_pull_policy(image))

    def event(type_: str, reason: str, message: str) -> None:
        container_event(parts, pod, container, is_init, type_, reason, message)

    try:
        parse_reference(image)
    except InvalidReference as exc:
        message = f"Failed to apply default image tag \"{image}\": couldn't parse image " \
                  f"name \"{image}\": {exc}"
        event(WARNING, "InspectFailed", message)
        raise StartFailed("InvalidImageName", message) from None
    present = parts.images.lookup(image)
    if policy == "Never" or (policy == "IfNotPresent" and present is not None):
        if present is not None:
            event(NORMAL, "Pulled", f"Container image \"{image}\" already present on machine "
                                    "and can be accessed by the pod")
            return present
        message = f"Container image \"{image}\" is not present with pull policy of Never"
        event(WARNING, "ErrImageNeverPull", message)
        raise StartFailed("ErrImageNeverPull", message)
    key = f"{state.uid}_{image}"
    now = parts.clock()
    if parts.pull_backoff.is_in_backoff_since_update(key, now):
        message = f"Back-off pulling image \"{image}\""
        event(NORMAL, "BackOff", message)
        event(WARNING, "Failed", "Error: ImagePullBackOff")
        previous = state.pull_errors.get(key)
        parts.wake(state.uid, parts.pull_backoff.remaining_since_update(key) + 0.05)
        raise StartFailed("ImagePullBackOff",
                          f"{message}: {previous}" if previous else message)
    event(NORMAL, "Pulling", f"Pulling image \"{image}\"")
    credentials = await pull_credentials(parts, pod)
    try:
        info = await parts.images.pull(image, credentials)
    except ImagePullError as exc:
        event(WARNING, "Failed", f"Failed to pull image \"{image}\": {exc.message}")
        event(WARNING, "Failed", f"Error: {exc.reason}")
        parts.pull_backoff.next(key, parts.clock())
        state.pull_errors[key] = f"{exc.reason}: {exc.message}"
        parts.wake(state.uid, parts.pull_backoff.remaining_since_update(key) + 0.05)
        raise StartFailed(exc.reason, exc.message) from None
    took = format_duration(int((parts.clock() - now) * 1000) * 1_000_000)
    event(NORMAL, "Pulled", f"Successfully pulled image \"{image}\" in {took} ({took} "
                            f"including waiting). Image size: {info.size} bytes.")
    state.pull_errors.pop(key, None)
    return info


def _image_names(image: ImageInfo, wanted: str) -> tuple[str, str]:
    """(image as statuses show it, imageID): the normalized reference the pod asked for and
    the repo digest of its repository (the image id for imported images)."""
    try:
        ref = parse_reference(wanted)
        name, repository = str(ref), ref.name
    except InvalidReference:
        name, repository = wanted, ""
    digests = [d for d in image.repo_digests if d.split("@", 1)[0] == repository]
    digest = (digests or list(image.repo_digests) or [image.id])[0]
    return name, digest


def _pod_file_mounts(parts: Parts, state: PodState, pod: Obj, container: Obj,
                     taken: set[str], read_only_root: bool) -> list[rt.Mount]:
    pod_dir = parts.paths.pod_dir(state.uid)
    spec = pod.get("spec") or {}
    mounts: list[rt.Mount] = []
    if "/etc/hosts" not in taken and (state.pod_ips or spec.get("hostNetwork")):
        mounts.append(rt.Mount(str(pod_dir / "etc-hosts"), "/etc/hosts", False))
    for name, target in (("resolv.conf", "/etc/resolv.conf"), ("hostname", "/etc/hostname")):
        if target not in taken and (pod_dir / name).exists():
            mounts.append(rt.Mount(str(pod_dir / name), target, read_only_root))
    return mounts


def _termination_log(parts: Parts, state: PodState, container: Obj) -> Path | None:
    """A fresh, world-writable file for the container's termination message."""
    if not container.get("terminationMessagePath"):
        return None
    directory = parts.paths.pod_dir(state.uid) / "containers" / str(container.get("name"))
    directory.mkdir(parents=True, exist_ok=True, mode=0o750)
    path = directory / secrets.token_hex(4)
    path.touch()
    path.chmod(0o666)
    return path


def rootfs_dir(parts: Parts, pod_uid: str, container_name: str, attempt: int) -> Path:
    """Where a container's root filesystem is mounted (known before the runtime assigns the
    container its id, and derivable from the container's annotations)."""
    return parts.paths.containers / f"{pod_uid}_{container_name}_{attempt}"


async def _create(parts: Parts, state: PodState, pod: Obj, container: Obj, is_init: bool,
                  image: ImageInfo, attempt: int) -> str:
    """Build the container's configuration and create it; returns the container id."""
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    uid, name = state.uid, str(container.get("name") or "")
    pod_name, namespace = str(meta.get("name") or ""), str(meta.get("namespace") or "")

    def fail(reason: str, message: str) -> StartFailed:
        container_event(parts, pod, container, is_init, WARNING, "Failed", f"Error: {message}")
        return StartFailed(reason, message)

    host_ips = parts.node.host_ips()
    try:
        if not state.hostname:
            state.hostname, state.domain = pod_hostname_and_domain(
                pod, parts.config.cluster_domain)
        env = await container_env(pod, container, sources=parts.env,
                                  addresses=PodAddresses(state.pod_ips or host_ips, host_ips),
                                  node_allocatable=parts.node.allocatable())
        mounts = parts.volumes.mounts_for(pod, container, state.volume_paths or {}, env)
    except EnvError as exc:
        raise fail("CreateContainerConfigError", exc.message) from None
    except VolumeError as exc:
        raise fail("CreateContainerConfigError", exc.message) from None
    except ValueError as exc:
        raise fail("CreateContainerConfigError", str(exc)) from None
    security = security_context(pod, container)
    taken = {m.container_path for m in mounts}
    mounts += _pod_file_mounts(parts, state, pod, container, taken,
                               bool(security.get("readOnlyRootFilesystem")))
    command, args = expand_command(container, env)
    try:
        argv = container_argv(command, args, image.config.entrypoint, image.config.cmd)
    except EmptyCommand as exc:
        raise fail("CreateContainerError", str(exc)) from None
    termination_log = _termination_log(parts, state, container)
    if termination_log is not None:
        mounts.append(rt.Mount(str(termination_log),
                               str(container.get("terminationMessagePath")), False))
    image_name, image_digest = _image_names(image, str(container.get("image") or ""))
    log_path = parts.paths.container_log(namespace, pod_name, uid, name, attempt)
    root_dir = rootfs_dir(parts, uid, name, attempt)
    grace = spec.get("terminationGracePeriodSeconds")
    annotations = {
        HASH: container_hash(container),
        TERMINATION_MESSAGE_PATH: str(container.get("terminationMessagePath") or ""),
        TERMINATION_MESSAGE_POLICY: str(container.get("terminationMessagePolicy") or "File"),
        TERMINATION_LOG: str(termination_log or ""),
        IMAGE_DIGEST: image_digest,
        GRACE_PERIOD: str(grace if grace is not None else 30),
        ROOTFS_DIR: str(root_dir),
    }
    try:
        rootfs = parts.images.mount_rootfs(image, root_dir)
    except (ImagePullError, OSError) as exc:
        release_rootfs(parts, root_dir)
        raise fail("CreateContainerError", str(exc)) from None
    container_spec = rt.ContainerSpec(
        pod_uid=uid, pod_name=pod_name, namespace=namespace, container_name=name,
        attempt=attempt, image=image, rootfs=rootfs, args=argv,
        env=merged_env(image.config.env, env, state.hostname or pod_name),
        working_dir=working_dir(container, image.config.working_dir), mounts=mounts,
        tty=bool(container.get("tty")), stdin=bool(container.get("stdin")),
        stdin_once=bool(container.get("stdinOnce")), security=security,
        resources=dict(container.get("resources") or {}), qos_class=pod_qos(pod),
        log_path=log_path, annotations=annotations, image_ref=image_name)
    assert state.sandbox is not None
    try:
        return await parts.runtime.create_container(state.sandbox, container_spec)
    except ContainerConfigError as exc:
        release_rootfs(parts, root_dir)
        raise fail("CreateContainerConfigError", exc.message) from None
    except RuntimeFailure as exc:
        release_rootfs(parts, root_dir)
        raise fail("CreateContainerError", exc.message) from None


async def _post_start(parts: Parts, state: PodState, pod: Obj, container: Obj, is_init: bool,
                      container_id: str) -> None:
    handler = (container.get("lifecycle") or {}).get("postStart")
    if not handler:
        return
    try:
        await run_handler(handler, container=container, pod_description=describe(pod),
                          pod_ip=state.pod_ips[0] if state.pod_ips else "",
                          exec_sync=functools.partial(parts.runtime.exec_sync, container_id))
    except HookError as exc:
        # The hook's message may hold secrets: it goes to the status, not the event.
        container_event(parts, pod, container, is_init, WARNING, "FailedPostStartHook",
                        "PostStartHook failed")
        await kill_container(parts, state, pod, container, is_init, container_id,
                             message="FailedPostStartHook")
        raise StartFailed("PostStartHookError", exc.message) from None


async def start_container(parts: Parts, state: PodState, pod: Obj, container: Obj,
                          is_init: bool) -> bool:
    """Start (or restart) ``container``; False when it was not started — its waiting
    reason is then in ``state.waiting`` (see the module docstring)."""
    name = str(container.get("name") or "")
    runs = state.runs.get(name) or []
    newest = runs[0] if runs else None
    try:
        if newest is not None and newest.state == EXITED:
            _check_backoff(parts, state, pod, container, is_init, newest.finished_at)
        image = await ensure_image(parts, state, pod, container, is_init)
        if newest is not None:
            attempt = newest.attempt + 1
        else:
            meta = pod.get("metadata") or {}
            attempt = restart_count_from_logs(parts.paths.container_log(
                str(meta.get("namespace")), str(meta.get("name")), state.uid, name, 0).parent)
        container_id = await _create(parts, state, pod, container, is_init, image, attempt)
        state.container_ids.add(container_id)
        container_event(parts, pod, container, is_init, NORMAL, "Created", "Container created")
        try:
            await parts.runtime.start_container(container_id)
        except RuntimeFailure as exc:
            state.start_errors[container_id] = exc.message
            container_event(parts, pod, container, is_init, WARNING, "Failed",
                            f"Error: {exc.message}")
            raise StartFailed("RunContainerError", exc.message) from None
        container_event(parts, pod, container, is_init, NORMAL, "Started", "Container started")
        parts.probes.container_started(
            state.uid, container, container_id=container_id, started_at=parts.clock(),
            pod_ip=state.pod_ips[0] if state.pod_ips else "",
            exec_sync=functools.partial(parts.runtime.exec_sync, container_id))
        await _post_start(parts, state, pod, container, is_init, container_id)
    except StartFailed as exc:
        state.waiting[name] = (exc.reason, exc.message)
        return False
    state.waiting.pop(name, None)
    return True


def _check_backoff(parts: Parts, state: PodState, pod: Obj, container: Obj, is_init: bool,
                   finished_at: float | None) -> None:
    """Raise ``CrashLoopBackOff`` while the container must wait before its restart, else
    count this restart in its back-off."""
    key = backoff_key(pod, container)
    finished = finished_at if finished_at is not None else parts.clock()
    name = str(container.get("name") or "")
    if parts.crash_backoff.is_in_backoff_since(key, finished):
        container_event(parts, pod, container, is_init, WARNING, "BackOff",
                        f"Back-off restarting failed container {name} in pod {describe(pod)}")
        parts.wake(state.uid, parts.crash_backoff.remaining_since(key, finished) + 0.05)
        delay = go_seconds(parts.crash_backoff.get(key))
        raise StartFailed("CrashLoopBackOff", f"back-off {delay} restarting failed "
                                              f"container={name} pod={describe(pod)}")
    parts.crash_backoff.next(key, finished)

