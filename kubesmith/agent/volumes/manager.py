"""The volume manager: every volume of a pod set up on this node, kept current, and
removed with the pod.

Concurrency: one asyncio lock per pod serializes :meth:`VolumeManager.setup`,
:meth:`~VolumeManager.refresh` and :meth:`~VolumeManager.teardown` of that pod (the atomic
writer needs one writer per directory); different pods proceed concurrently. API reads
are awaited; the file work is small and done inline, except walks that may touch a large
volume (fsGroup ownership of a persistent volume, removing a pod's directory), which run
in the default executor.

Layout (as the kubelet's): ``<pod dir>/volumes/kubernetes.io~<plugin>/<volume name>`` for
emptyDir, configMap, secret, downwardAPI and projected volumes;
``<pod dir>/volume-subpaths/<volume>/<container>/<index>`` for subPath bind mounts.
hostPath and PersistentVolume paths are used where they are. Secret and projected volumes
are tmpfs mounts, so secrets and tokens never reach the disk.

Every setup is idempotent: the pod worker calls :meth:`~VolumeManager.setup` before
starting containers and :meth:`~VolumeManager.refresh` periodically; content is rewritten
only when it changed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from kubesmith.agent.paths import AgentPaths
from kubesmith.agent.runtime.spec import Mount
from kubesmith.agent.volumes import mounts
from kubesmith.agent.volumes.atomic_writer import AtomicWriter, FileProjection
from kubesmith.agent.volumes.claims import fetch_claim_volume, local_volume_path
from kubesmith.agent.volumes.downward import aggregate, downward_payload
from kubesmith.agent.volumes.emptydir import (
    ensure_tmpfs,
    host_memory_bytes,
    make_dir,
    memory_medium_size,
    setup_empty_dir,
)
from kubesmith.agent.volumes.errors import SourceError, VolumeError
from kubesmith.agent.volumes.hostpath import setup_host_path
from kubesmith.agent.volumes.keyed import configmap_payload, default_mode, secret_payload
from kubesmith.agent.volumes.ownership import set_volume_ownership
from kubesmith.agent.volumes.subpath import (
    SubPathError,
    bind_subpath,
    expand_subpath_expr,
    validate_subpath,
)
from kubesmith.agent.volumes.tokens import ServiceAccountTokens
from kubesmith.api.gofmt import quote
from kubesmith.api.types import Obj
from kubesmith.client import ApiError, Client, Resource
from kubesmith.client.rest import CONFIGMAPS, NODES, SECRETS

log = logging.getLogger(__name__)

PLUGIN_DIRS = {
    "emptyDir": "kubernetes.io~empty-dir",
    "configMap": "kubernetes.io~configmap",
    "secret": "kubernetes.io~secret",
    "downwardAPI": "kubernetes.io~downward-api",
    "projected": "kubernetes.io~projected",
}
#: Volumes whose files are projected from API objects (refreshed by refresh()).
CONTENT_KINDS = ("configMap", "secret", "downwardAPI", "projected")
#: Volume kinds the kubelet always mounts read-only into containers.
READ_ONLY_KINDS = frozenset(CONTENT_KINDS)
SUBPATHS_DIR = "volume-subpaths"
PROPAGATION = {None: "private", "None": "private", "HostToContainer": "rslave",
               "Bidirectional": "rshared"}
#: How long the Node's allocatable resources are reused (they change rarely).
ALLOCATABLE_TTL = 60.0


def volume_kind(volume: Obj) -> str:
    """The source key of a volume (``emptyDir``, ``configMap``...), or "" if none."""
    for key in volume:
        if key != "name":
            return key
    return ""


def _pod_security(pod: Obj) -> dict[str, Any]:
    return ((pod.get("spec") or {}).get("securityContext")) or {}


def fs_group_of(pod: Obj) -> int | None:
    """The pod's ``securityContext.fsGroup``."""
    value = _pod_security(pod).get("fsGroup")
    return None if value is None else int(value)


def fs_user_of(pod: Obj) -> int | None:
    """The one ``runAsUser`` every init and app container runs as, else None (upstream's
    FsUserFrom: token files are then owned by it, mode 0600)."""
    spec = pod.get("spec") or {}
    pod_user = _pod_security(pod).get("runAsUser")
    found: int | None = None
    for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        user = (container.get("securityContext") or {}).get("runAsUser", pod_user)
        if user is None or (found is not None and found != int(user)):
            return None
        found = int(user)
    return found


def _env_dict(env: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
    # From pairs, later entries win, as in the container's environment.
    return dict(env.items()) if isinstance(env, Mapping) else dict(env)


class VolumeManager:
    """Sets up, refreshes and tears down the volumes of the pods on one node (see the
    module docstring)."""

    def __init__(self, paths: AgentPaths, client: Client, *, node_name: str) -> None:
        self.paths = paths
        self.client = client
        self.node_name = node_name
        self.tokens = ServiceAccountTokens(client)
        self._locks: dict[str, asyncio.Lock] = {}
        # (pod uid, volume) whose fsGroup ownership was applied by this process.
        self._owned: set[tuple[str, str]] = set()
        self._allocatable: tuple[float, dict[str, Any]] | None = None

    # -- public interface ------------------------------------------------------------------

    async def setup(self, pod: Obj) -> dict[str, Path]:
        """Set up every volume of ``pod``; volume name -> host path to bind.

        All volumes are attempted; the first failure is raised afterwards as a
        :class:`VolumeError` (reason ``FailedMount``) carrying the kubelet's event text.
        """
        uid = str(pod["metadata"]["uid"])
        async with self._lock(uid):
            self.paths.pod_dir(uid).mkdir(parents=True, exist_ok=True, mode=0o750)
            return await self._each(pod, kinds=None)

    async def refresh(self, pod: Obj) -> None:
        """Re-project the configMap, secret, downwardAPI and projected volumes of a pod
        already set up (changed objects, labels, annotations; tokens due for refresh);
        unchanged content is not rewritten."""
        uid = str(pod["metadata"]["uid"])
        if not self.paths.pod_dir(uid).exists():
            return
        async with self._lock(uid):
            await self._each(pod, kinds=CONTENT_KINDS)

    def mounts_for(self, pod: Obj, container: Obj, volume_paths: Mapping[str, Path],
                   env: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> list[Mount]:
        """The runtime mounts of ``container``'s volumeMounts: subPath/subPathExpr
        (expanded from ``env``, the container's resolved environment) checked and
        bind-mounted under the pod directory, read-only where the mount or the volume
        type demands it, propagation mapped. Raises :class:`VolumeError` with reason
        ``CreateContainerConfigError``."""
        uid = str(pod["metadata"]["uid"])
        spec = pod.get("spec") or {}
        volumes = {v.get("name"): v for v in spec.get("volumes") or []}
        cname = str(container.get("name", ""))
        privileged = bool((container.get("securityContext") or {}).get("privileged"))
        env_map = _env_dict(env)
        result: list[Mount] = []
        for index, vm in enumerate(container.get("volumeMounts") or []):
            name = str(vm.get("name", ""))
            host = volume_paths.get(name)
            volume = volumes.get(name)
            if host is None or volume is None:
                raise VolumeError.container_config(
                    f"cannot find volume {quote(name)} to mount into container "
                    f"{quote(cname)}", volume=name)
            subpath = str(vm.get("subPath") or "")
            try:
                if vm.get("subPathExpr"):
                    subpath = expand_subpath_expr(str(vm["subPathExpr"]), env_map)
                if subpath:
                    validate_subpath(subpath)
            except SubPathError as exc:
                raise VolumeError.container_config(str(exc), volume=name) from exc
            if subpath:
                target = self.paths.pod_dir(uid) / SUBPATHS_DIR / name / cname / str(index)
                try:
                    host = bind_subpath(host, subpath, target)
                except (SubPathError, OSError) as exc:
                    # Like the kubelet, the details (host paths) go to the log only.
                    meta = pod["metadata"]
                    log.warning("pod %s/%s container %s: subPath %r of volume %s: %s",
                                meta.get("namespace"), meta.get("name"), cname, subpath,
                                name, exc)
                    raise VolumeError.container_config(
                        f"failed to prepare subPath for volumeMount {quote(name)} of "
                        f"container {quote(cname)}", volume=name) from exc
            result.append(Mount(
                host_path=str(host), container_path=str(vm.get("mountPath", "")),
                readonly=bool(vm.get("readOnly")) or self._must_mount_read_only(volume),
                propagation=self._propagation(vm.get("mountPropagation"), privileged)))
        return result

    async def teardown(self, pod_uid: str) -> None:
        """Unmount everything under the pod's directory (tmpfs volumes, subPath binds)
        and remove the directory. PersistentVolume and hostPath data stay: they are never
        inside it, and the removal refuses to cross into a mount left behind."""
        async with self._lock(pod_uid):
            await asyncio.to_thread(remove_pod_dir, self.paths.pod_dir(pod_uid))
            self.tokens.forget(pod_uid)
            self._owned = {entry for entry in self._owned if entry[0] != pod_uid}
        self._locks.pop(pod_uid, None)

    # -- per volume --------------------------------------------------------------------------

    def _lock(self, uid: str) -> asyncio.Lock:
        lock = self._locks.get(uid)
        if lock is None:
            lock = self._locks[uid] = asyncio.Lock()
        return lock

    def volume_dir(self, pod_uid: str, kind: str, name: str) -> Path:
        """Where a volume of a pod-local kind lives on the host."""
        return self.paths.pod_dir(pod_uid) / "volumes" / PLUGIN_DIRS[kind] / name

    async def _each(self, pod: Obj, kinds: tuple[str, ...] | None) -> dict[str, Path]:
        result: dict[str, Path] = {}
        failures: list[VolumeError] = []
        for volume in (pod.get("spec") or {}).get("volumes") or []:
            name = str(volume.get("name", ""))
            kind = volume_kind(volume)
            if kinds is not None and kind not in kinds:
                continue
            try:
                result[name] = await self._setup_volume(pod, name, kind, volume[kind] or {})
            except SourceError as exc:
                failures.append(VolumeError.setup_failed(name, str(exc)))
            except OSError as exc:
                failures.append(VolumeError.setup_failed(name, str(exc)))
        if failures:
            raise failures[0]
        return result

    async def _setup_volume(self, pod: Obj, name: str, kind: str, source: Obj) -> Path:
        uid = str(pod["metadata"]["uid"])
        if kind == "hostPath":
            return setup_host_path(str(source.get("path", "")), str(source.get("type") or ""))
        if kind == "persistentVolumeClaim":
            return await self._setup_claim(pod, name, source)
        if kind not in PLUGIN_DIRS:
            raise SourceError(f"volume type {kind or '(none)'} is not supported by the "
                              "kubesmith agent")
        path = self.volume_dir(uid, kind, name)
        if kind == "emptyDir":
            created = setup_empty_dir(path, source, pod, await self._allocatable_if(
                source.get("medium") == "Memory"))
            if created or (uid, name) not in self._owned:
                set_volume_ownership(path, fs_group_of(pod), read_only=False,
                                     policy=_pod_security(pod).get("fsGroupChangePolicy"))
                self._owned.add((uid, name))
            return path
        if kind in ("secret", "projected"):
            ensure_tmpfs(path, memory_medium_size(pod, None, await self._allocatable_if(True)))
        else:
            make_dir(path)
        payload = await self._payload(pod, kind, source)
        self._write(path, payload, fs_group_of(pod))
        return path

    async def _setup_claim(self, pod: Obj, name: str, source: Obj) -> Path:
        namespace = str(pod["metadata"].get("namespace", ""))
        _, volume = await fetch_claim_volume(self.client, namespace,
                                             str(source.get("claimName", "")))
        claim_volume = local_volume_path(volume)
        uid = str(pod["metadata"]["uid"])
        fs_group = fs_group_of(pod)
        if claim_volume.supports_ownership and fs_group is not None and \
                (uid, name) not in self._owned:
            await asyncio.to_thread(
                set_volume_ownership, claim_volume.path, fs_group,
                read_only=bool(source.get("readOnly")),
                policy=_pod_security(pod).get("fsGroupChangePolicy"))
            self._owned.add((uid, name))
        return claim_volume.path

    async def _payload(self, pod: Obj, kind: str, source: Obj) -> dict[str, FileProjection]:
        namespace = str(pod["metadata"].get("namespace", ""))
        mode = default_mode(source)
        if kind == "configMap":
            configmap = await self._get_optional(CONFIGMAPS, namespace,
                                                 str(source.get("name", "")))
            return configmap_payload(source, configmap, mode)
        if kind == "secret":
            name = str(source.get("secretName", ""))
            secret = await self._get_optional(SECRETS, namespace, name)
            return secret_payload(source, name, secret, mode)
        if kind == "downwardAPI":
            items = source.get("items") or []
            return downward_payload(items, pod, mode, await self._allocatable_if(
                any(i.get("resourceFieldRef") for i in items)))
        return await self._projected_payload(pod, source, mode)

    async def _projected_payload(self, pod: Obj, source: Obj,
                                 mode: int) -> dict[str, FileProjection]:
        namespace = str(pod["metadata"].get("namespace", ""))
        fs_user, fs_group = fs_user_of(pod), fs_group_of(pod)
        files: dict[str, FileProjection] = {}
        errors: list[str] = []
        for projection in source.get("sources") or []:
            try:
                if projection.get("configMap") is not None:
                    ref = projection["configMap"]
                    configmap = await self._get_optional(CONFIGMAPS, namespace,
                                                         str(ref.get("name", "")))
                    files.update(configmap_payload(ref, configmap, mode))
                elif projection.get("secret") is not None:
                    ref = projection["secret"]
                    name = str(ref.get("name", ""))
                    secret = await self._get_optional(SECRETS, namespace, name)
                    files.update(secret_payload(ref, name, secret, mode))
                elif projection.get("downwardAPI") is not None:
                    items = projection["downwardAPI"].get("items") or []
                    files.update(downward_payload(items, pod, mode, await self._allocatable_if(
                        any(i.get("resourceFieldRef") for i in items))))
                elif projection.get("serviceAccountToken") is not None:
                    ref = projection["serviceAccountToken"]
                    token = await self.tokens.token(pod, ref)
                    # With an fsGroup or a common runAsUser the token is 0600 (0640 after
                    # the group is applied), readable by the pod's user only.
                    token_mode = 0o600 if fs_user is not None or fs_group is not None \
                        else mode
                    files[str(ref.get("path", ""))] = FileProjection(token.encode(),
                                                                      token_mode, fs_user)
                else:
                    kinds = ", ".join(sorted(projection)) or "(empty)"
                    raise SourceError(f"projected volume source {kinds} is not supported "
                                      "by the kubesmith agent")
            except SourceError as exc:
                errors.append(str(exc))
        if errors:
            raise SourceError(aggregate(errors))
        return files

    def _write(self, path: Path, payload: dict[str, FileProjection],
               fs_group: int | None) -> None:
        def set_perms(new_dir: Path) -> None:
            set_volume_ownership(new_dir, fs_group, read_only=True)

        writer = AtomicWriter(path)
        written = writer.write(payload, set_perms if fs_group is not None else None)
        if written and fs_group is not None:
            set_volume_ownership(path, fs_group, read_only=True, recursive=False)

    async def _get_optional(self, resource: Resource, namespace: str, name: str) -> Obj | None:
        try:
            return await self.client.get(resource, name, namespace)
        except ApiError as exc:
            if exc.code == 404:
                return None
            raise SourceError(exc.message) from exc

    async def _allocatable_if(self, needed: bool) -> dict[str, Any]:
        """The node's allocatable resources (only fetched when ``needed``): from the Node
        object, else this host's CPUs and memory."""
        if not needed:
            return {}
        now = time.monotonic()
        if self._allocatable is not None and now - self._allocatable[0] < ALLOCATABLE_TTL:
            return self._allocatable[1]
        allocatable: dict[str, Any] = {}
        try:
            node = await self.client.get(NODES, self.node_name)
            status = node.get("status") or {}
            allocatable = dict(status.get("allocatable") or status.get("capacity") or {})
        except ApiError as exc:
            log.debug("node %s: %s; using host resources", self.node_name, exc.message)
        allocatable.setdefault("cpu", str(os.cpu_count() or 1))
        allocatable.setdefault("memory", str(host_memory_bytes()))
        self._allocatable = (now, allocatable)
        return allocatable

    @staticmethod
    def _must_mount_read_only(volume: Obj) -> bool:
        kind = volume_kind(volume)
        if kind in READ_ONLY_KINDS:
            return True
        return kind == "persistentVolumeClaim" and \
            bool((volume.get(kind) or {}).get("readOnly"))

    @staticmethod
    def _propagation(mode: Any, privileged: bool) -> str:
        if mode not in PROPAGATION:
            raise VolumeError.container_config(
                f"invalid MountPropagation mode: {quote(str(mode))}")
        if mode == "Bidirectional" and not privileged:
            raise VolumeError.container_config(
                "Bidirectional mount propagation is available only to privileged containers")
        return PROPAGATION[mode]


def _remove_tree(path: str, device: int) -> None:
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(path)
        return
    if st.st_dev != device:
        raise OSError(f"{path} is on another filesystem (a mount left behind); not removing")
    for entry in os.scandir(path):
        _remove_tree(entry.path, device)
    os.rmdir(path)


def remove_pod_dir(pod_dir: Path) -> None:
    """Unmount every mount under ``pod_dir`` (deepest first) and remove it; refuses to
    remove anything while a mount remains."""
    if not pod_dir.exists():
        return
    for point in mounts.mounts_under(pod_dir):
        mounts.unmount(Path(point))
    left = mounts.mounts_under(pod_dir)
    if left:
        raise OSError(f"mounts left under {pod_dir}: {', '.join(left)}")
    _remove_tree(str(pod_dir), os.lstat(pod_dir).st_dev)
