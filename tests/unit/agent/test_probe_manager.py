"""Probe workers' timing and state machine on fake time: initial delay, period ticks,
thresholds, startup gating, restarts, pod termination, errored probes and events."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from kubesmith.agent.probes import ProbeManager, ProbeResult
from kubesmith.agent.probes.result import ExecSync, errored, failure, success

T0 = 1000.0


async def settle() -> None:
    for _ in range(50):
        await asyncio.sleep(0)


class FakeClock:
    """Time that moves only when the test says so."""

    def __init__(self, now: float = T0) -> None:
        self.now = now
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = 0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._seq += 1
        entry = (self.now + max(delay, 0.0), self._seq, future)
        self._sleepers.append(entry)
        try:
            await future
        finally:
            if entry in self._sleepers:
                self._sleepers.remove(entry)

    async def advance(self, seconds: float) -> None:
        target = self.now + seconds
        await settle()
        while True:
            due = [e for e in self._sleepers if e[0] <= target and not e[2].done()]
            if not due:
                break
            wake_at = min(e[0] for e in due)
            self.now = wake_at
            for entry in due:
                if entry[0] == wake_at:
                    entry[2].set_result(None)
            await settle()
        self.now = target
        await settle()


@dataclass
class ScriptedRunner:
    """Answers each probe from a per-command script; records (command, time) per run."""

    clock: FakeClock
    scripts: dict[str, Callable[[int], ProbeResult]] = field(default_factory=dict)
    delays: dict[str, list[float]] = field(default_factory=dict)  # per run, in order
    runs: list[tuple[str, float]] = field(default_factory=list)

    async def __call__(self, probe: dict[str, Any], *, pod_ip: str, container: dict[str, Any],
                       exec_sync: ExecSync | None = None) -> ProbeResult:
        name = probe["exec"]["command"][0]
        count = sum(1 for n, _ in self.runs if n == name)
        self.runs.append((name, self.clock.now))
        if self.delays.get(name):
            await self.clock.sleep(self.delays[name].pop(0))
        return self.scripts.get(name, lambda _: success())(count)

    def times(self, name: str) -> list[float]:
        return [t - T0 for n, t in self.runs if n == name]


@dataclass
class Recorder:
    results: list[tuple[str, str, bool, str]] = field(default_factory=list)
    events: list[tuple[str, str]] = field(default_factory=list)

    def on_result(self, pod_uid: str, container_name: str, kind: str, ok: bool,
                  message: str) -> None:
        self.results.append((container_name, kind, ok, message))

    def on_event(self, pod_uid: str, container_name: str, reason: str, message: str) -> None:
        self.events.append((reason, message))

    def kinds(self, kind: str) -> list[bool]:
        return [ok for _, k, ok, _ in self.results if k == kind]


def probe(command: str, **timing: int) -> dict[str, Any]:
    return {"exec": {"command": [command]}, **timing}


@pytest.fixture
async def harness() -> Any:
    clock = FakeClock()
    runner = ScriptedRunner(clock)
    recorder = Recorder()
    manager = ProbeManager(on_result=recorder.on_result, on_event=recorder.on_event,
                           clock=clock, sleep=clock.sleep, runner=runner)
    yield clock, runner, recorder, manager
    await manager.close()


def start(manager: ProbeManager, container: dict[str, Any], cid: str = "c-1",
          started_at: float = T0) -> None:
    manager.container_started("pod-1", container, container_id=cid, started_at=started_at,
                              pod_ip="10.244.0.5")


async def test_readiness_starts_false_and_probes_each_period(harness: Any) -> None:
    clock, runner, recorder, manager = harness
    start(manager, {"name": "app", "readinessProbe": probe("ready", periodSeconds=10)})
    assert recorder.results == [("app", "readiness", False, "")]
    assert not manager.ready("pod-1", "app")
    await clock.advance(0)
    assert recorder.kinds("readiness") == [False, True]
    assert manager.ready("pod-1", "app")
    await clock.advance(35)
    assert runner.times("ready") == [0, 10, 20, 30]


async def test_initial_delay_skips_ticks_until_it_has_passed(harness: Any) -> None:
    clock, runner, recorder, manager = harness
    start(manager, {"name": "app", "readinessProbe": probe(
        "ready", initialDelaySeconds=15, periodSeconds=10)})
    await clock.advance(19)
    assert runner.times("ready") == []
    await clock.advance(1)
    assert runner.times("ready") == [20]  # the first tick at or after the delay
    assert recorder.kinds("readiness") == [False, True]


async def test_liveness_fails_after_failure_threshold_then_stops(harness: Any) -> None:
    clock, runner, recorder, manager = harness
    runner.scripts["live"] = lambda n: failure("HTTP probe failed with statuscode: 500")
    start(manager, {"name": "app", "livenessProbe": probe(
        "live", periodSeconds=5, failureThreshold=3)})
    assert recorder.kinds("liveness") == [True]  # initial: do not kill before probing
    await clock.advance(9)
    assert recorder.kinds("liveness") == [True]
    assert recorder.events == [
        ("Unhealthy", "Liveness probe failed: HTTP probe failed with statuscode: 500")] * 2
    await clock.advance(1)
    assert recorder.results[-1] == (
        "app", "liveness", False, "HTTP probe failed with statuscode: 500")
    await clock.advance(60)
    assert runner.times("live") == [0, 5, 10]  # on hold until a new container instance


async def test_success_threshold_needs_consecutive_successes(harness: Any) -> None:
    clock, runner, recorder, manager = harness
    answers = [True, False, True, True, False]
    runner.scripts["ready"] = lambda n: success() if answers[n] else failure("no")
    start(manager, {"name": "app", "readinessProbe": probe(
        "ready", periodSeconds=1, successThreshold=2, failureThreshold=1)})
    await clock.advance(4)
    assert runner.times("ready") == [0, 1, 2, 3, 4]
    assert recorder.kinds("readiness") == [False, True, False]


async def test_startup_probe_gates_liveness_and_readiness(harness: Any) -> None:
    clock, runner, recorder, manager = harness
    runner.scripts["startup"] = lambda n: success() if n >= 2 else failure("not yet")
    start(manager, {"name": "app",
                    "startupProbe": probe("startup", periodSeconds=3, failureThreshold=5),
                    "livenessProbe": probe("live", periodSeconds=10),
                    "readinessProbe": probe("ready", periodSeconds=10)})
    await clock.advance(5)
    assert not manager.started("pod-1", "app")
    assert not manager.ready("pod-1", "app")
    assert runner.times("live") == runner.times("ready") == []
    await clock.advance(1)  # third startup probe at t=6 succeeds
    assert manager.started("pod-1", "app")
    assert recorder.kinds("startup") == [True]
    # Readiness is probed straight away after startup; liveness waits for its next tick.
    assert runner.times("ready") == [6]
    assert manager.ready("pod-1", "app")
    await clock.advance(30)
    assert runner.times("startup") == [0, 3, 6]  # the startup worker is done
    assert runner.times("live") == [10, 20, 30]
    assert runner.times("ready") == [6, 10, 20, 30]


async def test_startup_failure_reports_false_and_stops(harness: Any) -> None:
    clock, runner, recorder, manager = harness
    runner.scripts["startup"] = lambda n: failure("refused")
    start(manager, {"name": "app", "startupProbe": probe(
        "startup", periodSeconds=1, failureThreshold=2)})
    await clock.advance(10)
    assert recorder.kinds("startup") == [False]
    assert runner.times("startup") == [0, 1]
    assert recorder.events[-1] == ("Unhealthy", "Startup probe failed: refused")


async def test_restarted_container_gets_fresh_workers_and_state(harness: Any) -> None:
    clock, runner, recorder, manager = harness
    container = {"name": "app", "readinessProbe": probe("ready", periodSeconds=10)}
    start(manager, container, "c-1")
    start(manager, container, "c-1")  # idempotent for the same instance
    await clock.advance(0)
    assert manager.ready("pod-1", "app")
    manager.container_stopped("pod-1", "app")
    await clock.advance(30)
    assert runner.times("ready") == [0]
    assert manager.result("pod-1", "app", "readiness") is None
    start(manager, container, "c-2", started_at=clock.now)
    assert recorder.kinds("readiness") == [False, True, False]
    await clock.advance(0)
    assert recorder.kinds("readiness") == [False, True, False, True]
    assert runner.times("ready") == [0, 30]


async def test_results_of_a_replaced_instance_are_ignored(harness: Any) -> None:
    clock, runner, recorder, manager = harness
    runner.delays["ready"] = [5.0]  # a slow probe still running when the container restarts
    runner.scripts["ready"] = lambda n: success() if n == 0 else failure("not ready")
    container = {"name": "app", "readinessProbe": probe(
        "ready", periodSeconds=10, failureThreshold=1)}
    start(manager, container, "c-1")
    await clock.advance(1)
    start(manager, container, "c-2", started_at=clock.now)
    await clock.advance(10)
    # c-1's probe succeeded at t=5, after c-2 replaced it: dropped, c-2 stays not ready.
    assert runner.times("ready") == [0, 1, 11]
    assert recorder.kinds("readiness") == [False, False]
    assert not manager.ready("pod-1", "app")


async def test_slow_probe_runs_again_at_once_then_back_on_the_grid(harness: Any) -> None:
    clock, runner, _, manager = harness
    runner.delays["ready"] = [25.0]
    start(manager, {"name": "app", "readinessProbe": probe(
        "ready", periodSeconds=10, timeoutSeconds=30)})
    await clock.advance(40)
    assert runner.times("ready") == [0, 25, 30, 40]


async def test_pod_termination_quiets_liveness_but_keeps_readiness(harness: Any) -> None:
    clock, runner, recorder, manager = harness
    runner.scripts["live"] = lambda n: failure("down")
    start(manager, {"name": "app",
                    "livenessProbe": probe("live", periodSeconds=10, failureThreshold=2),
                    "readinessProbe": probe("ready", periodSeconds=10)})
    await clock.advance(0)
    manager.pod_terminating("pod-1")
    await clock.advance(40)
    assert runner.times("live") == [0]
    assert recorder.kinds("liveness") == [True]  # never reported as failed
    assert runner.times("ready") == [0, 10, 20, 30, 40]


async def test_errored_probe_is_retried_and_thrown_away(harness: Any) -> None:
    clock, runner, recorder, manager = harness
    runner.scripts["live"] = lambda n: errored('strconv.Atoi: parsing "http": invalid syntax')
    start(manager, {"name": "app", "livenessProbe": probe(
        "live", periodSeconds=10, failureThreshold=1)})
    await clock.advance(0)
    assert runner.times("live") == [0, 0, 0]
    assert recorder.kinds("liveness") == [True]
    assert recorder.events == [(
        "Unhealthy", "Liveness probe errored and resulted in unknown state: "
                     'strconv.Atoi: parsing "http": invalid syntax')]


async def test_redirect_warning_counts_as_success_with_an_event(harness: Any) -> None:
    clock, runner, recorder, manager = harness
    runner.scripts["ready"] = lambda n: success(
        "Probe terminated redirects, Response body: moved", warning=True)
    start(manager, {"name": "app", "readinessProbe": probe("ready")})
    await clock.advance(0)
    assert manager.ready("pod-1", "app")
    assert recorder.events == [(
        "ProbeWarning", "Readiness probe warning: Probe terminated redirects, Response body: "
                        "moved")]


async def test_containers_without_probes_are_started_and_ready(harness: Any) -> None:
    clock, runner, recorder, manager = harness
    start(manager, {"name": "plain"})
    await clock.advance(60)
    assert manager.started("pod-1", "plain") and manager.ready("pod-1", "plain")
    assert recorder.results == [] and runner.runs == []


async def test_remove_pod_stops_everything(harness: Any) -> None:
    clock, runner, _, manager = harness
    start(manager, {"name": "a", "readinessProbe": probe("ready", periodSeconds=1)})
    await clock.advance(2)
    manager.remove_pod("pod-1")
    await clock.advance(10)
    assert runner.times("ready") == [0, 1, 2]
