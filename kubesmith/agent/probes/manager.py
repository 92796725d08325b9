"""The probe manager: workers per running container, and the probe-derived container state.

Concurrency design (one asyncio loop, no locks): the pod workers tell the manager when a
container instance starts (:meth:`ProbeManager.container_started`, idempotent per container
id) and stops; the manager runs one :class:`ProbeWorker` task per probe the container
declares. Results are kept per container *instance*: a restarted container (new id) gets
fresh workers and fresh state, and late results of an old instance's workers are ignored.

State and reporting follow the kubelet: readiness starts False, liveness starts True (so a
container is not killed before its first probe), startup starts unknown. Every change of a
stored result is reported through ``on_result(pod_uid, container_name, kind, success,
message)``, the initial readiness False and liveness True included. Each failed probe run
(even below the failure threshold) is reported through ``on_event(pod_uid, container_name,
reason, message)`` with the kubelet's reasons and wording (``Unhealthy`` — "Liveness probe
failed: ..." — and ``ProbeWarning``), for the pod workers to record as Warning events.

``started``/``ready`` answer for a *running* container what the kubelet puts in
containerStatuses[].started/.ready: started once its startup probe succeeded (or it has
none); ready once started and its readiness probe succeeded (or it has none).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import Protocol

from kubesmith.agent.probes.result import ExecSync
from kubesmith.agent.probes.runner import run_probe
from kubesmith.agent.probes.worker import (
    PROBE_FIELDS,
    Clock,
    ContainerTarget,
    ProbeKind,
    ProbeRunner,
    ProbeWorker,
    Sleep,
)
from kubesmith.api.types import Obj

# The kubelet's initial results: readiness Failure, liveness Success, startup Unknown.
INITIAL_RESULTS: dict[ProbeKind, bool | None] = {
    "readiness": False, "liveness": True, "startup": None}


class ResultCallback(Protocol):
    def __call__(self, pod_uid: str, container_name: str, kind: ProbeKind, success: bool,
                 message: str) -> None: ...


class EventCallback(Protocol):
    def __call__(self, pod_uid: str, container_name: str, reason: str,
                 message: str) -> None: ...


@dataclass
class _ContainerProbes:
    target: ContainerTarget
    kinds: set[ProbeKind]
    workers: dict[ProbeKind, ProbeWorker] = field(default_factory=dict)
    results: dict[ProbeKind, bool | None] = field(default_factory=dict)
    terminating: bool = False


class ProbeManager:
    """Runs liveness/readiness/startup probes of running containers (see module doc)."""

    def __init__(self, *, on_result: ResultCallback, on_event: EventCallback | None = None,
                 clock: Clock = time.time, sleep: Sleep = asyncio.sleep,
                 runner: ProbeRunner = run_probe) -> None:
        self.on_result = on_result
        self.on_event = on_event
        self.clock = clock
        self.sleep = sleep
        self.runner = runner
        self._containers: dict[tuple[str, str], _ContainerProbes] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    # -- what the pod workers call ------------------------------------------------------

    def container_started(self, pod_uid: str, container: Obj, *, container_id: str,
                          started_at: float, pod_ip: str, exec_sync: ExecSync | None = None,
                          terminating: bool = False) -> None:
        """Start probing a running container instance (no-op if already probing this id).

        ``started_at`` is in the manager's clock (wall time by default, as the runtime
        reports it); ``exec_sync`` runs commands in this container, for exec probes.
        """
        key = (pod_uid, str(container.get("name", "")))
        current = self._containers.get(key)
        if current is not None and current.target.container_id == container_id:
            return
        if current is not None:
            self._stop(key)
        target = ContainerTarget(pod_uid=pod_uid, container=container,
                                 container_id=container_id, started_at=started_at,
                                 pod_ip=pod_ip, exec_sync=exec_sync)
        kinds = {kind for kind, name in PROBE_FIELDS.items() if container.get(name)}
        entry = _ContainerProbes(target=target, kinds=kinds, terminating=terminating)
        self._containers[key] = entry
        for kind in sorted(kinds):
            initial = INITIAL_RESULTS[kind]
            if initial is not None:
                self.set_result(target, kind, initial, "")
        for kind in sorted(kinds):
            # Setting an initial result may have ended the entry (a callback stopping it).
            if self._containers.get(key) is not entry:
                return
            worker = ProbeWorker(host=self, target=target, kind=kind,
                                 probe=container[PROBE_FIELDS[kind]], runner=self.runner,
                                 clock=self.clock, sleep=self.sleep)
            entry.workers[kind] = worker
            task = asyncio.create_task(worker.run(),
                                       name=f"probe-{kind}-{pod_uid}-{target.name}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def container_stopped(self, pod_uid: str, container_name: str) -> None:
        """The container exited or was killed: its probes stop and its results go."""
        self._stop((pod_uid, container_name))

    def pod_terminating(self, pod_uid: str) -> None:
        """The pod is being deleted: liveness and startup report success and stop (so a
        shutting-down container is not restarted); readiness keeps probing."""
        for (uid, _), entry in list(self._containers.items()):
            if uid != pod_uid or entry.terminating:
                continue
            entry.terminating = True
            for kind in ("liveness", "startup"):
                worker = entry.workers.get(kind)
                if worker is not None:
                    worker.trigger()

    def remove_pod(self, pod_uid: str) -> None:
        """Stop every probe of the pod (it finished or was removed)."""
        for key in [k for k in self._containers if k[0] == pod_uid]:
            self._stop(key)

    def started(self, pod_uid: str, container_name: str) -> bool:
        """containerStatuses[].started for a running container."""
        entry = self._containers.get((pod_uid, container_name))
        return entry is None or self._entry_started(entry)

    def ready(self, pod_uid: str, container_name: str) -> bool:
        """containerStatuses[].ready for a running container."""
        entry = self._containers.get((pod_uid, container_name))
        if entry is None:
            return True
        if not self._entry_started(entry):
            return False
        return "readiness" not in entry.kinds or entry.results.get("readiness") is True

    def result(self, pod_uid: str, container_name: str, kind: ProbeKind) -> bool | None:
        """The stored result of one probe (None: no such probe, or not known yet)."""
        entry = self._containers.get((pod_uid, container_name))
        return None if entry is None else entry.results.get(kind)

    async def close(self) -> None:
        """Stop all workers and wait for them (agent shutdown)."""
        for key in list(self._containers):
            self._stop(key)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*tasks, return_exceptions=True)

    # -- WorkerHost -----------------------------------------------------------------------

    def target_started(self, target: ContainerTarget) -> bool:
        entry = self._current(target)
        return entry is not None and self._entry_started(entry)

    def target_terminating(self, target: ContainerTarget) -> bool:
        entry = self._current(target)
        return entry is not None and entry.terminating

    def set_result(self, target: ContainerTarget, kind: ProbeKind, success: bool,
                   message: str) -> None:
        entry = self._current(target)
        if entry is None or entry.results.get(kind) == success:
            return
        entry.results[kind] = success
        if kind == "startup" and success:
            # Like the kubelet's status sync after startup: probe readiness right away.
            readiness = entry.workers.get("readiness")
            if readiness is not None:
                readiness.trigger()
        self.on_result(target.pod_uid, target.name, kind, success, message)

    def record_event(self, target: ContainerTarget, reason: str, message: str) -> None:
        if self.on_event is not None and self._current(target) is not None:
            self.on_event(target.pod_uid, target.name, reason, message)

    # -- internals ------------------------------------------------------------------------

    def _current(self, target: ContainerTarget) -> _ContainerProbes | None:
        entry = self._containers.get((target.pod_uid, target.name))
        if entry is None or entry.target.container_id != target.container_id:
            return None
        return entry

    @staticmethod
    def _entry_started(entry: _ContainerProbes) -> bool:
        return "startup" not in entry.kinds or entry.results.get("startup") is True

    def _stop(self, key: tuple[str, str]) -> None:
        entry = self._containers.pop(key, None)
        if entry is None:
            return
        for worker in entry.workers.values():
            worker.stop()
