"""Small fakes of the parts the pod workers drive (our own interfaces: the image store,
runtime, CNI, volumes, probes), recording what they were asked to do."""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from kubesmith.agent.images.credentials import RegistryAuth
from kubesmith.agent.images.model import ImageConfig, ImageInfo, ImagePullError
from kubesmith.agent.paths import AgentPaths
from kubesmith.agent.pods.backoff import Backoff
from kubesmith.agent.pods.context import Parts, PodConfig
from kubesmith.agent.pods.env import EnvSources
from kubesmith.agent.pods.state import PodState
from kubesmith.agent.pods.worker import PodWorker
from kubesmith.agent.probes.result import ExecSync
from kubesmith.agent.probes.worker import ProbeKind
from kubesmith.agent.runtime import spec as rt
from kubesmith.agent.runtime.errors import ContainerNotFound, RuntimeFailure
from kubesmith.agent.runtime.oci_spec import container_annotations
from kubesmith.podstatus.diff import merge_patch

Obj = dict[str, Any]


def image(name: str = "docker.io/library/busybox:latest", *, entrypoint: list[str] | None
          = None, cmd: list[str] | None = None, size: int = 2_000_000) -> ImageInfo:
    repo = name.rsplit(":", 1)[0]
    return ImageInfo(id="sha256:" + "1" * 64, references=(name,),
                     repo_digests=(f"{repo}@sha256:" + "2" * 64,), size=size,
                     layers=("sha256:" + "3" * 64,),
                     config=ImageConfig(entrypoint=entrypoint or [], cmd=cmd or ["sh"],
                                        env=["PATH=/bin"], working_dir="", user=""))


class FakeImages:
    def __init__(self) -> None:
        self.present: dict[str, ImageInfo] = {}
        self.remote: dict[str, ImageInfo] = {"busybox": image()}
        self.failures: dict[str, str] = {}
        self.pulls: list[str] = []
        self.mounted: set[Path] = set()

    def lookup(self, name: str) -> ImageInfo | None:
        return self.present.get(name)

    async def pull(self, name: str, credentials: Sequence[RegistryAuth] = ()) -> ImageInfo:
        self.pulls.append(name)
        if name in self.failures:
            raise ImagePullError(self.failures[name])
        info = self.remote[name]
        self.present[name] = info
        return info

    def mount_rootfs(self, image: ImageInfo, container_dir: Path) -> Path:
        (container_dir / "rootfs").mkdir(parents=True, exist_ok=True)
        self.mounted.add(container_dir)
        return container_dir / "rootfs"

    def unmount_rootfs(self, container_dir: Path) -> None:
        self.mounted.discard(container_dir)


@dataclass
class FakeContainer:
    spec: rt.ContainerSpec
    state: rt.ContainerState


class FakeRuntime:
    def __init__(self, root: Path, clock: Any) -> None:
        self.root = root
        self.clock = clock
        self.sandboxes: dict[str, rt.Sandbox] = {}
        self.containers: dict[str, FakeContainer] = {}
        self.calls: list[tuple[str, ...]] = []
        self.unstartable: set[str] = set()     # argv[0] values whose start fails
        self.exec_results: dict[str, tuple[int, bytes]] = {}
        self.exits: asyncio.Queue[str] = asyncio.Queue()
        self._next = 0

    async def create_sandbox(self, *, pod_uid: str, pod_name: str, namespace: str,
                             hostname: str, host_network: bool = False,
                             host_ipc: bool = False, host_pid: bool = False) -> rt.Sandbox:
        self._next += 1
        sid = f"sandbox{self._next}"
        sandbox = rt.Sandbox(id=sid, pod_uid=pod_uid,
                             netns_path=None if host_network else self.root / f"{sid}.net",
                             ipc_path=None, uts_path=None, pod_name=pod_name,
                             namespace=namespace, hostname=hostname,
                             created_at=self.clock())
        self.sandboxes[sid] = sandbox
        self.calls.append(("create_sandbox", pod_uid, hostname))
        return sandbox

    async def remove_sandbox(self, sandbox_id: str) -> None:
        self.calls.append(("remove_sandbox", sandbox_id))
        self.sandboxes.pop(sandbox_id, None)

    async def list_sandboxes(self) -> list[rt.Sandbox]:
        return list(self.sandboxes.values())

    async def remove_pod_cgroups(self, pod_uid: str) -> list[Path]:
        self.calls.append(("remove_pod_cgroups", pod_uid))
        return []

    async def create_container(self, sandbox: rt.Sandbox, spec: rt.ContainerSpec) -> str:
        self._next += 1
        cid = f"{spec.container_name}{self._next}".ljust(12, "0")
        self.containers[cid] = FakeContainer(spec, rt.ContainerState(
            id=cid, status=rt.CREATED, created_at=self.clock(),
            annotations=container_annotations(spec, sandbox)))
        self.calls.append(("create", spec.container_name))
        return cid

    def _set(self, cid: str, **changes: Any) -> None:
        found = self.containers[cid]
        found.state = replace(found.state, **changes)

    async def start_container(self, container_id: str) -> None:
        found = self.containers[container_id]
        self.calls.append(("start", found.spec.container_name))
        if found.spec.args[0] in self.unstartable:
            self._set(container_id, status=rt.STOPPED, exit_code=128,
                      finished_at=self.clock())
            raise RuntimeFailure(f'exec: "{found.spec.args[0]}": executable file not '
                                 "found in $PATH")
        self._set(container_id, status=rt.RUNNING, started_at=self.clock())

    async def stop_container(self, container_id: str, grace_seconds: float) -> None:
        found = self.containers.get(container_id)
        if found is None:
            return
        self.calls.append(("stop", found.spec.container_name, str(grace_seconds)))
        if found.state.status in (rt.RUNNING, rt.CREATED):
            self._set(container_id, status=rt.STOPPED, exit_code=143,
                      finished_at=self.clock())

    async def remove_container(self, container_id: str) -> None:
        found = self.containers.pop(container_id, None)
        if found is not None:
            self.calls.append(("remove", found.spec.container_name))

    async def state(self, container_id: str) -> rt.ContainerState:
        found = self.containers.get(container_id)
        if found is None:
            raise ContainerNotFound(container_id)
        return found.state

    async def list_containers(self) -> list[rt.ContainerState]:
        return [c.state for c in self.containers.values()]

    async def exec_sync(self, container_id: str, argv: list[str],
                        timeout: float) -> tuple[int, bytes]:  # noqa: ASYNC109
        self.calls.append(("exec", self.containers[container_id].spec.container_name,
                           " ".join(argv)))
        return self.exec_results.get(" ".join(argv), (0, b""))

    def exit_events(self) -> asyncio.Queue[str]:
        return self.exits

    # -- test controls --------------------------------------------------------------------

    def by_name(self, name: str) -> list[str]:
        """Ids of the containers named ``name``, oldest first."""
        return [cid for cid, c in self.containers.items() if c.spec.container_name == name]

    def exit(self, name: str, code: int, *, oom: bool = False) -> None:
        cid = self.by_name(name)[-1]
        self._set(cid, status=rt.STOPPED, exit_code=code, finished_at=self.clock(),
                  oom_killed=oom)

    def spec_of(self, name: str) -> rt.ContainerSpec:
        return self.containers[self.by_name(name)[-1]].spec


@dataclass
class FakeNetwork:
    ips: list[str]


class FakeCNI:
    def __init__(self) -> None:
        self.added: list[str] = []
        self.deleted: list[str] = []

    async def add(self, *, container_id: str, netns: Path, pod_name: str, namespace: str,
                  pod_uid: str, port_mappings: Sequence[Obj] = ()) -> FakeNetwork:
        self.added.append(container_id)
        return FakeNetwork(["10.244.0.5"])

    async def delete(self, *, container_id: str, netns: Path | None, pod_name: str = "",
                     namespace: str = "", pod_uid: str = "") -> None:
        self.deleted.append(container_id)


class FakeVolumes:
    def __init__(self) -> None:
        self.setups: list[str] = []
        self.teardowns: list[str] = []
        self.failure: Exception | None = None

    async def setup(self, pod: Obj) -> dict[str, Path]:
        self.setups.append(pod["metadata"]["uid"])
        if self.failure is not None:
            raise self.failure
        return {}

    async def refresh(self, pod: Obj) -> None:
        return None

    def mounts_for(self, pod: Obj, container: Obj, volume_paths: Mapping[str, Path],
                   env: Mapping[str, str] | Iterable[tuple[str, str]] = ()
                   ) -> list[rt.Mount]:
        return []

    async def teardown(self, pod_uid: str) -> None:
        self.teardowns.append(pod_uid)


class FakeProbes:
    """No probes run: answers come from ``results``/``started_map``/``ready_map``."""

    def __init__(self) -> None:
        self.results: dict[tuple[str, str], bool] = {}
        self.ready_map: dict[str, bool] = {}
        self.started_calls: list[str] = []
        self.stopped_calls: list[str] = []

    def container_started(self, pod_uid: str, container: Obj, *, container_id: str,
                          started_at: float, pod_ip: str, exec_sync: ExecSync | None = None,
                          terminating: bool = False) -> None:
        self.started_calls.append(container["name"])

    def container_stopped(self, pod_uid: str, container_name: str) -> None:
        self.stopped_calls.append(container_name)

    def pod_terminating(self, pod_uid: str) -> None:
        return None

    def remove_pod(self, pod_uid: str) -> None:
        return None

    def started(self, pod_uid: str, container_name: str) -> bool:
        return self.results.get(("startup", container_name), True)

    def ready(self, pod_uid: str, container_name: str) -> bool:
        return self.ready_map.get(container_name, True)

    def result(self, pod_uid: str, container_name: str, kind: ProbeKind) -> bool | None:
        return self.results.get((kind, container_name))

    async def close(self) -> None:
        return None


@dataclass
class FakeEvents:
    events: list[tuple[str, str, str, str]] = field(default_factory=list)

    def event(self, obj: Obj, type_: str, reason: str, message: str, *,
              field_path: str | None = None) -> None:
        self.events.append((type_, reason, message, field_path or ""))

    def reasons(self) -> list[str]:
        return [e[1] for e in self.events]


class FakeApi:
    """The pod object as the API server holds it, with status writes applied."""

    def __init__(self, pod: Obj) -> None:
        self.pod: Obj | None = pod
        self.writes: list[Obj] = []
        self.deleted = False

    async def write(self, pod: Obj, desired: Obj) -> Obj | None:
        if self.pod is None:
            return None
        patch = merge_patch(self.pod.get("status") or {}, desired)
        if not patch:
            return self.pod
        self.writes.append(patch)
        self.pod = {**self.pod, "status": copy.deepcopy(desired)}
        rv = int(self.pod["metadata"]["resourceVersion"]) + 1
        self.pod["metadata"] = {**self.pod["metadata"], "resourceVersion": str(rv)}
        return self.pod

    async def delete(self, pod: Obj) -> None:
        self.deleted = True
        self.pod = None

    def forget(self, uid: str) -> None:
        return None

    def update(self, **meta: Any) -> None:
        assert self.pod is not None
        self.pod = {**self.pod, "metadata": {**self.pod["metadata"], **meta}}


class FakeNode:
    def __init__(self) -> None:
        self.obj: Obj = {"metadata": {"name": "node-a", "labels": {
            "kubernetes.io/os": "linux"}}, "status": {"allocatable": {
                "cpu": "2", "memory": "4Gi", "pods": "110", "ephemeral-storage": "50Gi"}}}

    def node(self) -> Obj | None:
        return self.obj

    def host_ips(self) -> list[str]:
        return ["192.168.1.5"]

    def allocatable(self) -> Mapping[str, Any]:
        return dict(self.obj["status"]["allocatable"])


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


class Harness:
    """A pod worker on fakes; ``await h.sync()`` runs one sync."""

    def __init__(self, tmp: Path, pod: Obj, *, configmaps: dict[str, Obj] | None = None,
                 secrets: dict[str, Obj] | None = None) -> None:
        self.clock = Clock()
        self.paths = AgentPaths(root=tmp / "root", run=tmp / "run", log=tmp / "log")
        self.paths.ensure()
        self.images = FakeImages()
        self.runtime = FakeRuntime(tmp, self.clock)
        self.cni = FakeCNI()
        self.volumes = FakeVolumes()
        self.probes = FakeProbes()
        self.events = FakeEvents()
        self.api = FakeApi(pod)
        self.node = FakeNode()
        self.wakes: list[float] = []
        configmaps = configmaps or {}
        secrets = secrets or {}

        async def get_configmap(namespace: str, name: str) -> Obj | None:
            return configmaps.get(name)

        async def get_secret(namespace: str, name: str) -> Obj | None:
            return secrets.get(name)

        hosts = tmp / "hosts"
        hosts.write_text("127.0.0.1 localhost\n")
        resolv = tmp / "resolv.conf"
        resolv.write_text("nameserver 1.1.1.1\n")
        self.parts = Parts(
            config=PodConfig(node_name="node-a", resolv_conf=resolv, hosts_file=hosts),
            paths=self.paths, images=self.images, runtime=self.runtime, cni=self.cni,
            volumes=self.volumes, probes=self.probes, events=self.events, status=self.api,
            node=self.node, env=EnvSources(configmap=get_configmap, secret=get_secret),
            wake=lambda uid, delay: self.wakes.append(delay),
            crash_backoff=Backoff(clock=self.clock), pull_backoff=Backoff(clock=self.clock),
            clock=self.clock)
        meta = pod["metadata"]
        self.state = PodState(uid=meta["uid"], key=f"{meta['namespace']}/{meta['name']}")
        self.worker = PodWorker(self.parts, self.state, current=lambda: self.api.pod,
                                admitted_pods=list)

    async def sync(self) -> bool:
        return await self.worker.sync()

    @property
    def status(self) -> Obj:
        assert self.api.pod is not None
        status: Obj = self.api.pod["status"]
        return status

    def container_status(self, name: str) -> Obj:
        for key in ("containerStatuses", "initContainerStatuses"):
            for found in self.status.get(key) or ():
                if found["name"] == name:
                    return dict(found)
        raise KeyError(name)
