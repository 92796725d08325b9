"""The container runtime of the node agent: pod sandboxes and containers over runc + conmon.

Layout of one container ``<id>`` (64 hex digits):

* ``paths.containers/<id>/bundle/``: ``config.json`` (the OCI spec, whose annotations are
  how containers are re-adopted after an agent restart), ``meta.json`` (creation time and
  the cgroup), ``started`` (start time), conmon's ``ctl`` FIFO, ``attach`` socket and pid
  files, and ``execs/`` scratch space. The rest of ``paths.containers/<id>/`` (overlay
  upper/work dirs, ``rootfs``) belongs to the image store.
* runc's state under ``paths.runc_root``; conmon's exit file, persist dir (``exit``,
  ``oom``) and attach socket link under ``paths.conmon``.

Every container has its own conmon process, which outlives the agent; nothing the runtime
needs lives only in agent memory, so a new :class:`Runtime` on the same paths sees every
container again (:meth:`list_containers`, :meth:`list_sandboxes`).

Exits are learnt through :class:`ExitWatcher` (inotify on conmon's exits dir):
:meth:`wait_exit` for one container, :meth:`exit_events` for all.

OOM kills: the kernel's per-cgroup ``oom_kill`` counter is read while the container's
cgroup exists (it does until ``runc delete``), and conmon's ``oom`` file covers the rest;
either makes ``ContainerState.oom_killed`` true once the container stopped. A positive
answer is remembered in the bundle, so it survives the cgroup.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import shutil
import signal
import time
from pathlib import Path
from typing import Any

from kubesmith.agent.paths import AgentPaths
from kubesmith.agent.runtime import cgroups
from kubesmith.agent.runtime.conmon import (
    DEFAULT_LOG_SIZE_MAX,
    ConmonDirs,
    conmon_argv,
    run_conmon,
    write_control,
)
from kubesmith.agent.runtime.errors import ContainerNotFound, RuntimeFailure
from kubesmith.agent.runtime.execs import ExecSession, exec_sync, start_exec
from kubesmith.agent.runtime.exits import ExitWatcher
from kubesmith.agent.runtime.host import (
    current_capabilities,
    host_devices,
    lowest_oom_score_adj,
    memory_capacity,
)
from kubesmith.agent.runtime.oci_spec import build_oci_spec
from kubesmith.agent.runtime.resources import pod_cgroup_candidates
from kubesmith.agent.runtime.runc import Runc, error_message
from kubesmith.agent.runtime.sandboxes import SandboxStore
from kubesmith.agent.runtime.spec import (
    CREATED,
    RUNNING,
    STOPPED,
    UNKNOWN,
    ContainerSpec,
    ContainerState,
    Sandbox,
    pod_description,
)
from kubesmith.agent.runtime.state_files import read_json, write_json
from kubesmith.agent.runtime.user import resolve_user, verify_run_as_non_root

log = logging.getLogger(__name__)

#: How long a stopped container may lack its exit file before we stop waiting for conmon.
EXIT_FILE_WAIT = 2.0
#: After SIGKILL, how long the container gets to be reaped.
KILL_WAIT = 10.0


class Runtime:
    """Pod sandboxes and containers on this host (see the module docstring)."""

    def __init__(self, paths: AgentPaths, *, runc: str = "runc", conmon: str = "conmon",
                 unshare: str = "unshare",
                 log_size_max: int = DEFAULT_LOG_SIZE_MAX) -> None:
        self.paths = paths
        self.runc = Runc(shutil.which(runc) or runc, paths.runc_root)
        self.conmon_binary = shutil.which(conmon) or conmon
        self.conmon_dirs = ConmonDirs(paths.conmon)
        self.sandboxes = SandboxStore(paths.netns, unshare=shutil.which(unshare) or unshare)
        self.exits = ExitWatcher(self.conmon_dirs.exits)
        self.log_size_max = log_size_max

    def close(self) -> None:
        """Stop watching for exits (containers keep running)."""
        self.exits.close()

    # ----------------------------------------------------------------- sandboxes

    async def create_sandbox(self, *, pod_uid: str, pod_name: str, namespace: str,
                             hostname: str, host_network: bool = False, host_ipc: bool = False,
                             host_pid: bool = False) -> Sandbox:
        """Pin the pod's network, IPC and UTS namespaces (host ones where asked)."""
        return await self.sandboxes.create(
            pod_uid=pod_uid, pod_name=pod_name, namespace=namespace, hostname=hostname,
            host_network=host_network, host_ipc=host_ipc, host_pid=host_pid)

    async def remove_sandbox(self, sandbox_id: str) -> None:
        """Unpin the sandbox's namespaces and /dev/shm; idempotent. Remove its containers
        first: a running one keeps the namespaces alive anyway."""
        self.sandboxes.remove(sandbox_id)

    async def list_sandboxes(self) -> list[Sandbox]:
        return self.sandboxes.list()

    def get_sandbox(self, sandbox_id: str) -> Sandbox | None:
        return self.sandboxes.get(sandbox_id)

    async def remove_pod_cgroups(self, pod_uid: str) -> list[Path]:
        """Remove the pod's cgroup in every hierarchy (after its containers are removed);
        returns directories that could not be removed."""
        remaining: list[Path] = []
        for parent in pod_cgroup_candidates(pod_uid):
            remaining += await cgroups.remove_cgroup(parent)
        return remaining

    # ----------------------------------------------------------------- containers

    def bundle_dir(self, container_id: str) -> Path:
        return self.paths.container_dir(container_id) / "bundle"

    def _ensure_dirs(self) -> None:
        for directory in (self.paths.containers, self.paths.runc_root):
            directory.mkdir(parents=True, exist_ok=True)
        self.conmon_dirs.ensure()

    async def create_container(self, sandbox: Sandbox, spec: ContainerSpec) -> str:
        """Create (not start) a container; returns its id.

        Raises :class:`ContainerConfigError` for an impossible user setup (runAsNonRoot,
        unknown image user) and :class:`RuntimeFailure` with runc's message otherwise.
        """
        self._ensure_dirs()
        verify_run_as_non_root(
            spec.security, spec.image.config.user,
            pod=pod_description(spec.pod_name, spec.namespace, spec.pod_uid),
            container_name=spec.container_name)
        user = resolve_user(spec.rootfs, spec.image.config.user, spec.security)
        container_id = secrets.token_hex(32)
        privileged = bool((spec.security or {}).get("privileged"))
        config = build_oci_spec(
            spec, sandbox, user, container_id=container_id,
            memory_capacity=memory_capacity(),
            host_devices=host_devices() if privileged else (),
            all_capabilities=current_capabilities(),
            min_oom_score_adj=lowest_oom_score_adj())
        bundle = self.bundle_dir(container_id)
        try:
            bundle.mkdir(parents=True, mode=0o700)
            write_json(bundle / "config.json", config)
            write_json(bundle / "meta.json", {"createdAt": time.time(),
                                              "cgroupsPath": config["linux"]["cgroupsPath"]})
            spec.log_path.parent.mkdir(parents=True, exist_ok=True)
            self.conmon_dirs.persist(container_id).mkdir(parents=True, exist_ok=True)
            argv = conmon_argv(
                self.conmon_binary, self.runc.binary, self.runc.root, self.conmon_dirs,
                container_id=container_id, name=f"{spec.pod_name}_{spec.container_name}",
                bundle=bundle, log_path=spec.log_path, stdin=spec.stdin,
                stdin_once=spec.stdin_once, tty=spec.tty, log_size_max=self.log_size_max)
            try:
                await run_conmon(argv, bundle=bundle)
            except RuntimeFailure as exc:
                raise RuntimeFailure(error_message(exc.message)) from None
        except BaseException:
            await self._remove(container_id)
            raise
        return container_id

    async def start_container(self, container_id: str) -> None:
        # Taken before the start: a process exiting at once may finish before runc returns,
        # and startedAt must not come after finishedAt.
        began = time.time()
        await self.runc.start(container_id)
        with contextlib.suppress(FileNotFoundError):
            (self.bundle_dir(container_id) / "started").write_text(repr(began))

    async def stop_container(self, container_id: str, grace_seconds: float) -> None:
        """SIGTERM to the container's init, then SIGKILL to all its processes after
        ``grace_seconds`` if it has not exited. A stopped container is left alone."""
        state = await self.runc.state(container_id)
        if state is None or self.exits.exited(container_id) or \
                state.get("status") not in (RUNNING, CREATED, "paused"):
            return
        if state.get("status") == RUNNING and grace_seconds > 0:
            await self.runc.kill(container_id, "TERM")
            if await self._wait_stopped(container_id, grace_seconds):
                return
        await self.runc.kill(container_id, "KILL", all_processes=True)
        if not await self._wait_stopped(container_id, KILL_WAIT):
            raise RuntimeFailure(f"container {container_id} did not stop after SIGKILL")

    async def _wait_stopped(self, container_id: str,
                            timeout: float) -> bool:  # noqa: ASYNC109
        """Wait for the exit file; every second also ask runc (conmon may be gone)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            if await self.exits.wait(container_id, min(1.0, remaining)):
                return True
            state = await self.runc.state(container_id)
            if state is None or state.get("status") == STOPPED:
                return True

    async def remove_container(self, container_id: str) -> None:
        """Kill (if needed) and delete the container: runc state, cgroups, conmon's files
        and the bundle. Idempotent. The image store unmounts the rootfs."""
        await self._remove(container_id)

    async def _remove(self, container_id: str) -> None:
        bundle = self.bundle_dir(container_id)
        meta = read_json(bundle / "meta.json") or {}
        await self.runc.delete(container_id, force=True)
        cgroup = str(meta.get("cgroupsPath") or "")
        if cgroup:
            cgroups.kill_processes(cgroup, signal.SIGKILL)
            left = await cgroups.remove_cgroup(cgroup)
            if left:
                log.warning("cgroup of container %s not removed: %s", container_id, left)
        await self._stop_conmon(bundle)
        with contextlib.suppress(FileNotFoundError):
            self.conmon_dirs.exit_file(container_id).unlink()
        shutil.rmtree(self.conmon_dirs.persist(container_id), ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            (self.conmon_dirs.sockets / container_id).unlink()
        shutil.rmtree(bundle, ignore_errors=True)
        with contextlib.suppress(OSError):
            self.paths.container_dir(container_id).rmdir()   # only when nothing else is left

    async def _stop_conmon(self, bundle: Path) -> None:
        """conmon exits by itself right after its container; kill a straggler."""
        try:
            pid = int((bundle / "conmon.pid").read_text().strip())
        except (OSError, ValueError):
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 2.0
        while _is_conmon_of(pid, bundle):
            if loop.time() >= deadline:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                return
            await asyncio.sleep(0.05)

    async def state(self, container_id: str) -> ContainerState:
        """The container's current state; :class:`ContainerNotFound` if unknown."""
        runc_state = await self.runc.state(container_id)
        return await self._state(container_id, runc_state)

    async def _state(self, container_id: str, runc_state: dict[str, Any] | None
                     ) -> ContainerState:
        bundle = self.bundle_dir(container_id)
        config = read_json(bundle / "config.json")
        if config is None and runc_state is None:
            raise ContainerNotFound(f"container {container_id} not found")
        status = str(runc_state.get("status", UNKNOWN)) if runc_state else UNKNOWN
        exit_code = self._exit_code(container_id)
        if status == STOPPED and exit_code is None and \
                await self.exits.wait(container_id, EXIT_FILE_WAIT):
            exit_code = self._exit_code(container_id)
        if exit_code is not None:
            status = STOPPED
        meta = read_json(bundle / "meta.json") or {}
        exit_file = self.conmon_dirs.exit_file(container_id)
        finished_at = None
        if exit_code is not None:
            with contextlib.suppress(OSError):
                finished_at = exit_file.stat().st_mtime
        return ContainerState(
            id=container_id, status=status,
            pid=int(runc_state.get("pid") or 0) if runc_state and status == RUNNING else 0,
            exit_code=exit_code,
            created_at=_float(meta.get("createdAt")),
            started_at=_read_float(bundle / "started"),
            finished_at=finished_at,
            oom_killed=status == STOPPED and self._oom_killed(container_id, meta),
            annotations=dict((config or {}).get("annotations") or {}))

    def _exit_code(self, container_id: str) -> int | None:
        for path in (self.conmon_dirs.exit_file(container_id),
                     self.conmon_dirs.persist(container_id) / "exit"):
            with contextlib.suppress(OSError, ValueError):
                return int(path.read_text().strip())
        return None

    def _oom_killed(self, container_id: str, meta: dict[str, Any]) -> bool:
        marker = self.bundle_dir(container_id) / "oom"
        if marker.exists() or self.conmon_dirs.oom_file(container_id).exists():
            return True
        cgroup = str(meta.get("cgroupsPath") or "")
        count = cgroups.oom_kill_count(cgroup) if cgroup else None
        if count:
            with contextlib.suppress(OSError):
                marker.touch()
            return True
        return False

    async def list_containers(self) -> list[ContainerState]:
        """Every container runc knows or a bundle exists for (e.g. after a reboot)."""
        by_id = {str(entry["id"]): entry for entry in await self.runc.list_containers()}
        with contextlib.suppress(FileNotFoundError):
            for directory in self.paths.containers.iterdir():
                if (directory / "bundle" / "config.json").exists():
                    by_id.setdefault(directory.name, {})
        states = []
        for container_id, entry in sorted(by_id.items()):
            with contextlib.suppress(ContainerNotFound):
                states.append(await self._state(container_id, entry or None))
        return states

    # ----------------------------------------------------------------- exits

    async def wait_exit(self, container_id: str,
                        timeout: float | None = None) -> bool:  # noqa: ASYNC109
        """Wait until the container exited; False when ``timeout`` passed first."""
        return await self.exits.wait(container_id, timeout)

    def exit_events(self) -> asyncio.Queue[str]:
        """A queue of the ids of containers exiting from now on."""
        return self.exits.subscribe()

    # ----------------------------------------------------------------- exec / attach

    def _process(self, container_id: str) -> dict[str, Any]:
        config = read_json(self.bundle_dir(container_id) / "config.json")
        if config is None:
            raise ContainerNotFound(f"container {container_id} not found")
        process: dict[str, Any] = config["process"]
        return process

    async def exec_sync(self, container_id: str, argv: list[str],
                        timeout: float) -> tuple[int, bytes]:  # noqa: ASYNC109
        """Run ``argv`` in the container; (exit code, combined output).

        :class:`ExecTimeout` after ``timeout`` (the process is killed),
        :class:`ExecFailed` when it could not be started.
        """
        return await exec_sync(self.runc, container_id, self.bundle_dir(container_id),
                               self._process(container_id), argv, timeout)

    async def exec_process(self, container_id: str, argv: list[str], *, tty: bool,
                           stdin: bool, width: int = 80, height: int = 24) -> ExecSession:
        """Start an interactive process in the container."""
        return await start_exec(self.runc, container_id, self.bundle_dir(container_id),
                                self._process(container_id), argv, tty=tty, stdin=stdin,
                                width=width, height=height)

    def attach_socket(self, container_id: str) -> Path:
        """conmon's SOCK_SEQPACKET attach socket (connect with :func:`connect_attach`:
        the path may be longer than a socket address allows)."""
        return self.conmon_dirs.attach_socket(container_id)

    def control_fifo(self, container_id: str) -> Path:
        """conmon's control FIFO: ``1 <height> <width>\\n`` resizes the tty."""
        return self.bundle_dir(container_id) / "ctl"

    def resize_tty(self, container_id: str, width: int, height: int) -> None:
        """Resize the container's own terminal (for attach to a ``tty: true`` container)."""
        write_control(self.control_fifo(container_id), 1, height, width)

    def reopen_log(self, container_id: str) -> None:
        """Make conmon reopen the container's log file (after it was moved away)."""
        write_control(self.control_fifo(container_id), 2)


def _is_conmon_of(pid: int, bundle: Path) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"conmon" in cmdline and os.fsencode(bundle) in cmdline


def _float(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _read_float(path: Path) -> float | None:
    try:
        return float(path.read_text().strip())
    except (OSError, ValueError):
        return None
