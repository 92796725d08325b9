"""One probe worker: the periodic probing of one container instance for one probe kind.

It follows the kubelet's worker loop: probe once at start, then on each tick of a
``periodSeconds`` ticker (a tick missed while a slow probe ran fires at once, the others are
dropped, as Go's ticker does) or when triggered. A probe is skipped while the container is
younger than ``initialDelaySeconds``; liveness and readiness are skipped until the container
has *started* (its startup probe succeeded, or it has none), and the startup worker ends
once it has. A result only changes the reported state after ``successThreshold``
consecutive successes or ``failureThreshold`` consecutive failures. After a liveness or
startup failure the worker ends: the container will be restarted, and the new instance
gets new workers. A probe that could not run (``error``) is retried up to three times and
then thrown away. Time comes from an injected clock and sleep, so tests run on fake time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from kubesmith.agent.probes.result import ExecSync, ProbeResult, errored
from kubesmith.api.types import Obj

log = logging.getLogger(__name__)

ProbeKind = Literal["liveness", "readiness", "startup"]
PROBE_FIELDS: dict[ProbeKind, str] = {
    "liveness": "livenessProbe", "readiness": "readinessProbe", "startup": "startupProbe"}
KIND_TITLES: dict[ProbeKind, str] = {
    "liveness": "Liveness", "readiness": "Readiness", "startup": "Startup"}
MAX_PROBE_RETRIES = 3

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class ProbeRunner(Protocol):
    def __call__(self, probe: Obj, *, pod_ip: str, container: Obj,
                 exec_sync: ExecSync | None = None) -> Awaitable[ProbeResult]: ...


@dataclass(frozen=True)
class ProbeTiming:
    """A probe's timing fields, with the API defaults for any left out."""

    initial_delay: int = 0
    period: int = 10
    timeout: int = 1
    success_threshold: int = 1
    failure_threshold: int = 3

    @classmethod
    def of(cls, probe: Obj) -> ProbeTiming:
        def field(name: str, default: int, minimum: int) -> int:
            value = probe.get(name)
            return max(int(value), minimum) if value is not None else default

        return cls(initial_delay=field("initialDelaySeconds", 0, 0),
                   period=field("periodSeconds", 10, 1),
                   timeout=field("timeoutSeconds", 1, 1),
                   success_threshold=field("successThreshold", 1, 1),
                   failure_threshold=field("failureThreshold", 3, 1))


@dataclass(frozen=True)
class ContainerTarget:
    """The running container instance a worker probes."""

    pod_uid: str
    container: Obj
    container_id: str
    started_at: float  # in the manager's clock
    pod_ip: str
    exec_sync: ExecSync | None = None

    @property
    def name(self) -> str:
        return str(self.container.get("name", ""))


class WorkerHost(Protocol):
    """What a worker needs from its manager."""

    def target_started(self, target: ContainerTarget) -> bool: ...
    def target_terminating(self, target: ContainerTarget) -> bool: ...
    def set_result(self, target: ContainerTarget, kind: ProbeKind, success: bool,
                   message: str) -> None: ...
    def record_event(self, target: ContainerTarget, reason: str, message: str) -> None: ...


class ProbeWorker:
    """Probes one container instance for one kind until stopped (see the module doc)."""

    def __init__(self, *, host: WorkerHost, target: ContainerTarget, kind: ProbeKind,
                 probe: Obj, runner: ProbeRunner, clock: Clock, sleep: Sleep) -> None:
        self.host = host
        self.target = target
        self.kind = kind
        self.probe = probe
        self.timing = ProbeTiming.of(probe)
        self.runner = runner
        self.clock = clock
        self.sleep = sleep
        self.last_success: bool | None = None
        self.result_run = 0
        self.stopped = False
        self._wake = asyncio.Event()

    def stop(self) -> None:
        """Ask the loop to end; a probe in flight finishes but its result is dropped."""
        self.stopped = True
        self._wake.set()

    def _is_stopped(self) -> bool:
        # A method, not the attribute, because stop() may run while we await.
        return self.stopped

    def trigger(self) -> None:
        """Probe now instead of at the next tick."""
        self._wake.set()

    async def run(self) -> None:
        start = self.clock()
        period = self.timing.period
        ticks_consumed = 0
        while await self.do_probe() and not self._is_stopped():
            ticks_due = int((self.clock() - start) // period)
            if ticks_due > ticks_consumed:
                # A tick passed while probing: Go's ticker kept one, so probe at once.
                ticks_consumed = ticks_due
                continue
            timer_fired = await self._wait(start + (ticks_consumed + 1) * period - self.clock())
            if self._is_stopped():
                break
            if timer_fired:
                ticks_consumed += 1

    async def _wait(self, delay: float) -> bool:
        """Sleep until the next tick or a trigger; True when the tick came first."""
        if self._wake.is_set():
            self._wake.clear()
            return False
        sleeper = asyncio.ensure_future(self.sleep(delay))
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, waker):
                task.cancel()
            self._wake.clear()
        return sleeper.done() and not sleeper.cancelled() and not waker.done()

    async def do_probe(self) -> bool:
        """One step of the loop; False ends the worker."""
        if self.stopped:
            return False
        target = self.target
        if self.kind in ("liveness", "startup") and self.host.target_terminating(target):
            # Pod deletion: report success so the container is not restarted while it is
            # being shut down, and stop probing.
            self.host.set_result(target, self.kind, True, "")
            return False
        if int(self.clock() - target.started_at) < self.timing.initial_delay:
            return True
        started = self.host.target_started(target)
        if self.kind == "startup" and started:
            return False
        if self.kind != "startup" and not started:
            return True
        result = await self._probe_with_retries()
        if self._is_stopped():
            return False
        title = KIND_TITLES[self.kind]
        if result.error:
            self.host.record_event(target, "Unhealthy", f"{title} probe errored and resulted "
                                   f"in unknown state: {result.message}")
            return True
        if not result.success:
            self.host.record_event(target, "Unhealthy", f"{title} probe failed: {result.message}")
        elif result.warning:
            self.host.record_event(target, "ProbeWarning",
                                   f"{title} probe warning: {result.message}")
        if self.last_success == result.success:
            self.result_run += 1
        else:
            self.last_success = result.success
            self.result_run = 1
        threshold = (self.timing.success_threshold if result.success
                     else self.timing.failure_threshold)
        if self.result_run < threshold:
            return True
        self.host.set_result(target, self.kind, result.success, result.message)
        # A failed liveness/startup probe means a restart: stop until the new instance.
        return result.success or self.kind == "readiness"

    async def _probe_with_retries(self) -> ProbeResult:
        result = errored("probe not run")
        for _ in range(MAX_PROBE_RETRIES):
            try:
                result = await self.runner(self.probe, pod_ip=self.target.pod_ip,
                                           container=self.target.container,
                                           exec_sync=self.target.exec_sync)
            except Exception as exc:  # a bug in a prober must not kill the worker
                log.exception("%s probe of %s/%s crashed", self.kind, self.target.pod_uid,
                              self.target.name)
                result = errored(str(exc) or type(exc).__name__)
            if not result.error or self.stopped:
                return result
        return result
