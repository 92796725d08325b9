"""One pod worker: an asyncio task per pod UID that drives the pod's containers towards its
spec, level-triggered like the kubelet's ``SyncPod``.

Concurrency design:

* **One sync at a time per pod.** The task sleeps until woken (the pod changed, one of its
  containers exited, a probe result changed, a back-off expired) or its resync interval
  passes, then runs :meth:`PodWorker.sync` to completion. Wakes during a sync coalesce into
  one more sync. Different pods sync concurrently.
* **Level-triggered.** Each sync re-reads the pod (the newest of the informer's copy and
  our last status write) and the runtime's state of its containers, computes the actions
  (:func:`~kubesmith.agent.pods.actions.compute_actions`) and carries them out; nothing is
  trusted from the event that woke it.
* **Termination preempts.** A deletion (``deletionTimestamp``) cancels a sync that is
  setting containers up (a long image pull), then stops everything with the grace period.

The phases of a pod: admitted (or rejected: Failed) → sandbox, volumes → init containers
→ app containers (restarted per policy) → either terminal (containers stopped, sandbox and
volumes released, exited containers kept for their logs until the pod is deleted) or
deleted (everything stopped and removed, final status written, then the API object
deleted with grace 0 and a UID precondition).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from collections.abc import Callable
from pathlib import Path

from kubesmith.agent.pods.actions import PodActions, compute_actions
from kubesmith.agent.pods.admission import admit, rejection_status
from kubesmith.agent.pods.adoption import release_rootfs
from kubesmith.agent.pods.context import Parts
from kubesmith.agent.pods.runs import (
    EXITED,
    RUNNING,
    ContainerRun,
    newest_first,
    remove_quietly,
    run_from_state,
)
from kubesmith.agent.pods.sandbox import SandboxFailed, create_sandbox, remove_sandbox
from kubesmith.agent.pods.starting import start_container
from kubesmith.agent.pods.state import WARNING, PodState, find_container, pod_event
from kubesmith.agent.pods.status import PodSnapshot, render_status
from kubesmith.agent.pods.stopping import kill_container, kill_pod
from kubesmith.agent.probes.worker import ProbeKind
from kubesmith.agent.runtime import spec as rt
from kubesmith.agent.runtime.errors import ContainerNotFound, RuntimeFailure
from kubesmith.agent.volumes.errors import VolumeError
from kubesmith.api.types import Obj
from kubesmith.podstatus.conditions import is_sidecar

log = logging.getLogger(__name__)

TERMINAL_PHASES = ("Succeeded", "Failed")
#: Dead containers kept per container name (for lastState and ``logs --previous``).
KEEP_EXITED = 1
_RETRY_FIRST, _RETRY_CAP = 1.0, 30.0


class ProbeAdapter:
    """The probe manager's answers for one pod, in the shapes the pure parts ask for."""

    def __init__(self, parts: Parts, uid: str) -> None:
        self.parts = parts
        self.uid = uid

    def result(self, kind: str, name: str, container_id: str) -> str | None:
        probe_kind: ProbeKind = "liveness" if kind == "liveness" else \
            "startup" if kind == "startup" else "readiness"
        found = self.parts.probes.result(self.uid, name, probe_kind)
        return None if found is None else ("success" if found else "failure")

    def started(self, container: Obj, container_id: str) -> bool:
        return self.parts.probes.started(self.uid, str(container.get("name")))

    def ready(self, container: Obj, container_id: str) -> bool:
        return self.parts.probes.ready(self.uid, str(container.get("name")))


class PodWorker:
    """Drives one pod (see the module docstring)."""

    def __init__(self, parts: Parts, state: PodState, *, current: Callable[[], Obj | None],
                 admitted_pods: Callable[[], list[Obj]]) -> None:
        self.parts = parts
        self.state = state
        self.current = current
        self.admitted_pods = admitted_pods
        self.done = asyncio.Event()
        self._wake = asyncio.Event()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_due = 0.0
        self._task: asyncio.Task[None] | None = None
        self._sync_task: asyncio.Task[bool] | None = None
        self._terminating = False
        self._volume_failures = 0
        #: Syncs completed (for tests and benchmarks).
        self.syncs = 0

    # -- scheduling ----------------------------------------------------------------------

    def start(self) -> None:
        """Run the worker's loop in a task."""
        self._task = asyncio.get_running_loop().create_task(
            self._loop(), name=f"pod-worker-{self.state.key}")

    def wake(self, delay: float = 0.0) -> None:
        """Sync after ``delay`` seconds (an earlier pending wake wins)."""
        if delay <= 0:
            self._wake.set()
            return
        loop = asyncio.get_running_loop()
        due = loop.time() + delay
        if self._timer is not None and self._timer_due <= due:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_due = due
        self._timer = loop.call_at(due, self._fire)

    def _fire(self) -> None:
        self._timer = None
        self._wake.set()

    def pod_changed(self, pod: Obj) -> None:
        """The API object changed: sync now; a deletion interrupts a setup in progress."""
        if (pod.get("metadata") or {}).get("deletionTimestamp") and not self._terminating:
            self._terminating = True
            if self._sync_task is not None and not self._sync_task.done():
                self._sync_task.cancel()
        self.wake()

    async def stop(self) -> None:
        """Stop the loop without touching the containers (agent shutdown)."""
        if self._timer is not None:
            self._timer.cancel()
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _loop(self) -> None:
        delay = _RETRY_FIRST
        try:
            while True:
                try:
                    async with asyncio.timeout(self.parts.config.resync_seconds):
                        await self._wake.wait()
                except TimeoutError:
                    pass
                self._wake.clear()
                self._sync_task = asyncio.get_running_loop().create_task(self.sync())
                try:
                    finished = await self._sync_task
                except asyncio.CancelledError:
                    if self._sync_task.cancelled() and not _cancelling():
                        self._wake.set()  # interrupted for a deletion: go again now
                        continue
                    raise
                except Exception:
                    log.exception("pod %s: sync failed; retrying in %.0fs", self.state.key,
                                  delay)
                    self.wake(delay)
                    delay = min(delay * 2, _RETRY_CAP)
                    continue
                delay = _RETRY_FIRST
                self.syncs += 1
                if finished:
                    return
        finally:
            self.done.set()

    # -- the sync ------------------------------------------------------------------------

    async def sync(self) -> bool:
        """One level-triggered pass; True once the pod is gone and the worker may end."""
        state = self.state
        pod = self.current()
        if pod is None:
            return await self._gone()
        state.pod = pod
        meta, status = pod.get("metadata") or {}, pod.get("status") or {}
        if status.get("phase") in TERMINAL_PHASES or state.finished:
            return await self._terminal(pod, deleting=bool(meta.get("deletionTimestamp")))
        if meta.get("deletionTimestamp"):
            return await self._terminate(pod)
        if not state.admitted and not await self._admit(pod):
            return False
        await self.refresh_runs()
        actions = compute_actions(pod, state.runs, has_sandbox=state.sandbox is not None,
                                  probes=ProbeAdapter(self.parts, state.uid))
        if actions.kill_pod:
            await self._finish_terminal(pod)
            return False
        if not await self._prepare(pod, actions):
            await self.write_status(pod)
            return False
        changed = await self._apply(pod, actions)
        await self.refresh_runs()
        await self.write_status(pod)
        if changed:
            self.wake()  # what was started may let the next step proceed
        return False

    async def _admit(self, pod: Obj) -> bool:
        """Kubelet admission, once, for a pod not yet running here."""
        state = self.state
        if state.container_ids or (pod.get("status") or {}).get("phase") == "Running":
            state.admitted = True  # ran here before the agent restarted
            return True
        rejection = state.rejection
        if rejection is None:
            node = self.parts.node.node()
            if node is None:
                self.wake(1.0)  # the Node object is not known yet
                return False
            rejection = admit(pod, node, self.admitted_pods())
        if rejection is None:
            state.admitted = True
            return True
        pod_event(self.parts, pod, WARNING, rejection.reason, rejection.message)
        await self.parts.status.write(pod, rejection_status(pod, rejection))
        state.finished = True
        return False

    async def _prepare(self, pod: Obj, actions: PodActions) -> bool:
        """Sandbox and volumes; False when the pod cannot proceed yet (retried)."""
        state = self.state
        for request in actions.to_kill:
            found = find_container(pod, request.run.name)
            is_init = found[1] if found else False
            with contextlib.suppress(RuntimeFailure):
                await kill_container(self.parts, state, pod, request.container, is_init,
                                     request.run.id, message=request.message,
                                     reason=request.reason)
        if actions.to_kill:
            await self.refresh_runs()
        if actions.create_sandbox:
            if state.sandbox is None and not state.volume_paths:
                await self.write_status(pod)  # show ContainerCreating while we work
            try:
                await create_sandbox(self.parts, state, pod)
            except SandboxFailed:
                self.wake(self._retry_delay())
                return False
        return await self._volumes(pod)

    async def _volumes(self, pod: Obj) -> bool:
        state, parts = self.state, self.parts
        now = parts.clock()
        try:
            if state.volume_paths is None:
                state.volume_paths = await parts.volumes.setup(pod)
                state.volumes_refreshed = now
            elif now - state.volumes_refreshed >= parts.config.volume_refresh_seconds:
                state.volumes_refreshed = now
                await parts.volumes.refresh(pod)
        except VolumeError as exc:
            pod_event(parts, pod, WARNING, exc.reason, exc.message)
            if state.volume_paths is None:
                self.wake(self._retry_delay())
                return False
        self._volume_failures = 0
        return True

    def _retry_delay(self) -> float:
        self._volume_failures += 1
        return min(2.0 ** self._volume_failures, 64.0)

    async def _apply(self, pod: Obj, actions: PodActions) -> bool:
        """Start what the plan says; True when something was started."""
        spec = pod.get("spec") or {}
        inits = list(spec.get("initContainers") or ())
        apps = list(spec.get("containers") or ())
        started = False
        for index in actions.init_to_start:
            container = inits[index]
            ok = await start_container(self.parts, self.state, pod, container, True)
            started = started or ok
            if not ok and not is_sidecar(container):
                return started
        for index in actions.apps_to_start:
            started = await start_container(self.parts, self.state, pod, apps[index],
                                            False) or started
        return started

    # -- runtime view --------------------------------------------------------------------

    async def refresh_runs(self, *, full: bool = False) -> None:
        """Re-read the pod's containers from the runtime (``full``: find every container
        labelled with the pod's uid, not only those we know of)."""
        state, runtime = self.state, self.parts.runtime
        states: list[rt.ContainerState] = []
        if full:
            states = [s for s in await runtime.list_containers() if s.pod_uid == state.uid]
            state.container_ids = {s.id for s in states}
        else:
            for container_id in sorted(state.container_ids):
                try:
                    states.append(await runtime.state(container_id))
                except ContainerNotFound:
                    state.container_ids.discard(container_id)
        by_name: dict[str, list[ContainerRun]] = {}
        for found in states:
            run = run_from_state(found, start_error=state.start_errors.get(found.id),
                                 message_cache=state.messages)
            by_name.setdefault(run.name, []).append(run)
        state.runs = {name: newest_first(runs) for name, runs in by_name.items()}
        for name, runs in state.runs.items():
            if runs[0].state != RUNNING:
                self.parts.probes.container_stopped(state.uid, name)
            for old in runs[1 + KEEP_EXITED:]:
                if old.state == EXITED:
                    await self._remove_container(old)
            del runs[1 + KEEP_EXITED:]

    async def _remove_container(self, run: ContainerRun) -> None:
        state = self.state
        with contextlib.suppress(RuntimeFailure):
            await self.parts.runtime.remove_container(run.id)
        if run.rootfs_dir:
            release_rootfs(self.parts, Path(run.rootfs_dir))
        remove_quietly(run.log_path)
        state.container_ids.discard(run.id)
        state.start_errors.pop(run.id, None)
        state.messages.pop(run.id, None)

    async def write_status(self, pod: Obj, *, is_terminal: bool = False) -> None:
        """Render and write the pod's status (only what changed is sent)."""
        state = self.state
        snap = PodSnapshot(pod=pod, runs=state.runs, waiting=state.waiting,
                           sandbox_ready=state.sandbox is not None, pod_ips=state.pod_ips,
                           host_ips=self.parts.node.host_ips(), is_terminal=is_terminal,
                           probes=ProbeAdapter(self.parts, state.uid), now=self.parts.clock())
        updated = await self.parts.status.write(pod, render_status(snap))
        if updated is not None:
            state.pod = updated

    # -- endings -------------------------------------------------------------------------

    async def _terminate(self, pod: Obj) -> bool:
        """The pod is being deleted: stop, report, release, delete the object."""
        state = self.state
        self.parts.probes.pod_terminating(state.uid)
        await self.refresh_runs(full=True)
        await kill_pod(self.parts, state, pod)
        await self.refresh_runs()
        await self.write_status(pod, is_terminal=True)
        await self.release(pod, remove_containers=True)
        await self.parts.status.delete(state.pod or pod)
        return True

    async def _finish_terminal(self, pod: Obj) -> None:
        """Every container is done for good: the pod reaches Succeeded or Failed."""
        state = self.state
        await kill_pod(self.parts, state, pod)
        await self.refresh_runs()
        await self.write_status(pod, is_terminal=True)
        await self.release(pod, remove_containers=False)
        state.finished = True

    async def _terminal(self, pod: Obj, *, deleting: bool) -> bool:
        """A pod in a terminal phase (ours, or set by someone else such as an eviction)."""
        state = self.state
        if not state.finished:
            await self.refresh_runs(full=True)
            await kill_pod(self.parts, state, pod)
            await self.refresh_runs()
            if state.runs:
                await self.write_status(pod, is_terminal=True)
            await self.release(pod, remove_containers=False)
            state.finished = True
        if not deleting:
            return False
        await self.release(pod, remove_containers=True)
        await self.parts.status.delete(state.pod or pod)
        return True

    async def _gone(self) -> bool:
        """The pod left the API (force-deleted, or bound elsewhere): stop and clean up."""
        state = self.state
        pod = state.pod
        if pod is not None:
            await self.refresh_runs(full=True)
            await kill_pod(self.parts, state, pod, grace_override=_force_grace(pod))
        await self.release(pod, remove_containers=True)
        self.parts.status.forget(state.uid)
        return True

    async def release(self, pod: Obj | None, *, remove_containers: bool) -> None:
        """Give back what the pod holds on the node: probes, network, sandbox, volumes;
        with ``remove_containers`` also its containers, cgroups and logs."""
        state, parts = self.state, self.parts
        parts.probes.remove_pod(state.uid)
        if remove_containers:
            await self.refresh_runs(full=True)
            for runs in state.runs.values():
                for run in runs:
                    await self._remove_container(run)
            state.runs = {}
        else:
            for runs in state.runs.values():
                for run in runs:
                    if run.state == EXITED and run.rootfs_dir:
                        release_rootfs(parts, Path(run.rootfs_dir))
        await remove_sandbox(parts, state, pod)
        if remove_containers:
            # A setup interrupted by the deletion may have left a mounted root filesystem
            # without a container.
            for directory in parts.paths.containers.glob(f"{state.uid}_*"):
                release_rootfs(parts, directory)
            await parts.runtime.remove_pod_cgroups(state.uid)
            meta = (pod or {}).get("metadata") or {}
            if meta:
                shutil.rmtree(parts.paths.pod_log_dir(str(meta.get("namespace")),
                                                      str(meta.get("name")), state.uid),
                              ignore_errors=True)
                parts.crash_backoff.forget(f"{meta.get('name')}_{meta.get('namespace')}_"
                                           f"{state.uid}_")
            parts.pull_backoff.forget(f"{state.uid}_")
        await parts.volumes.teardown(state.uid)
        state.volume_paths = None


def _force_grace(pod: Obj) -> int | None:
    grace = (pod.get("metadata") or {}).get("deletionGracePeriodSeconds")
    return grace if isinstance(grace, int) else None


def _cancelling() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0

