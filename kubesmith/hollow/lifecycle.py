"""The simulated life of a hollow pod's containers, as pure data and pure functions.

All containers of a pod share one timeline (:class:`Run`): they start together, run for the
pod's ``run-seconds`` and exit together with its ``exit-code`` (see
:mod:`kubesmith.hollow` for the annotations). :func:`advance` moves a timeline to a given
time the way a kubelet would have moved the real containers:

* a container that exits is restarted when the restart policy says so (``Always``; or
  ``OnFailure`` with a non-zero exit code), after a crash-loop back-off: immediately after
  the first exit, then 1 s doubling up to 10 s (upstream: 10 s doubling up to 5 min — kept
  small so tests of Jobs' ``backoffLimit`` finish quickly);
* otherwise the pod is done: ``Succeeded`` when the exit code is 0, else ``Failed``;
* a deleted pod's containers stop ``terminate-seconds`` after the deletion was first seen,
  or are killed (exit code 137) when the grace period ends first.

Times are epoch seconds. :func:`adopt_run` rebuilds a timeline from a status written
earlier (after the hollow nodes restart), so the API object stays the source of truth.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from kubesmith.api.types import Obj
from kubesmith.hollow.clock import parse_api_time

ANNOTATION_RUN_SECONDS = "hollow.kubesmith.io/run-seconds"
ANNOTATION_EXIT_CODE = "hollow.kubesmith.io/exit-code"
ANNOTATION_TERMINATE_SECONDS = "hollow.kubesmith.io/terminate-seconds"

DEFAULT_RUN_SECONDS = 1.0
KILLED_EXIT_CODE = 137  # 128 + SIGKILL, what a runtime reports for a killed container
CRASH_BACKOFF_BASE = 1.0
CRASH_BACKOFF_CAP = 10.0
_MAX_STEPS = 100_000  # a bound on restarts replayed at once (adopting a long-dead run)


@dataclass(frozen=True, slots=True)
class Behaviour:
    """How a pod's containers behave, from its restart policy and annotations."""

    restart_policy: str = "Always"
    run_seconds: float | None = None  # None: run until deleted
    exit_code: int = 0
    terminate_seconds: float = 0.0

    def restarts_after(self, exit_code: int) -> bool:
        """Whether the kubelet restarts a container that exited with ``exit_code``."""
        if self.restart_policy == "Always":
            return True
        return self.restart_policy == "OnFailure" and exit_code != 0


def _number(annotations: Mapping[str, Any], key: str) -> float | None:
    raw = annotations.get(key)
    if raw is None:
        return None
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) and value >= 0 else None


def pod_behaviour(pod: Obj) -> Behaviour:
    """The :class:`Behaviour` of ``pod`` (malformed annotations fall back to defaults)."""
    spec = pod.get("spec") or {}
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    policy = str(spec.get("restartPolicy") or "Always")
    run_seconds = _number(annotations, ANNOTATION_RUN_SECONDS)
    if run_seconds is None and policy != "Always":
        run_seconds = DEFAULT_RUN_SECONDS
    exit_code = 0
    raw_code = annotations.get(ANNOTATION_EXIT_CODE)
    if raw_code is not None:
        try:
            exit_code = int(str(raw_code))
        except ValueError:
            exit_code = 0
    return Behaviour(restart_policy=policy, run_seconds=run_seconds,
                     exit_code=max(0, min(exit_code, 255)),
                     terminate_seconds=_number(annotations, ANNOTATION_TERMINATE_SECONDS) or 0.0)


@dataclass(frozen=True, slots=True)
class Exit:
    """One ended container instance."""

    code: int
    started: float
    finished: float

    @property
    def reason(self) -> str:
        """The ``state.terminated.reason`` a runtime reports."""
        return "Completed" if self.code == 0 else "Error"


@dataclass(frozen=True, slots=True)
class Run:
    """Where a pod's containers are in their life.

    Running when ``running_since`` is set; in crash-loop back-off when it is not and the run
    is not ``done``; terminated for good when ``done``. ``last_exit`` is the latest ended
    instance (the current ``terminated`` state, or ``lastState`` while running again);
    ``previous_exit`` the one before, kept only when done (``lastState`` of a terminated
    container).
    """

    started: float
    restarts: int = 0
    running_since: float | None = None
    last_exit: Exit | None = None
    previous_exit: Exit | None = None
    done: bool = False

    @property
    def succeeded(self) -> bool:
        """Done and exited with 0."""
        return self.done and (self.last_exit is None or self.last_exit.code == 0)


def new_run(now: float) -> Run:
    """Containers started at ``now``."""
    return Run(started=now, running_since=now)


def crash_backoff(restarts: int) -> float:
    """Seconds before restarting an instance that had ``restarts`` restarts and exited."""
    if restarts <= 0:
        return 0.0
    return min(CRASH_BACKOFF_BASE * 2.0 ** min(restarts - 1, 32), CRASH_BACKOFF_CAP)


@dataclass(frozen=True, slots=True)
class Deletion:
    """A deletion in progress: first seen at ``began``; the grace period ends at
    ``deadline`` (the pod's ``deletionTimestamp``)."""

    began: float
    deadline: float


def advance(run: Run, behaviour: Behaviour, now: float,
            deletion: Deletion | None = None) -> tuple[Run, float | None]:
    """``run`` moved to ``now``, and when it changes next on its own (None: never)."""
    for _ in range(_MAX_STEPS):
        if run.done:
            return run, None
        if deletion is not None:
            return _stop(run, behaviour, now, deletion)
        if run.running_since is not None:
            if behaviour.run_seconds is None:
                return run, None
            end = run.running_since + behaviour.run_seconds
            if now < end:
                return run, end
            exit_ = Exit(behaviour.exit_code, run.running_since, end)
            done = not behaviour.restarts_after(exit_.code)
            # The exit before is only shown (as lastState) once the pod is done.
            run = replace(run, running_since=None, last_exit=exit_,
                          previous_exit=run.last_exit if done else None, done=done)
            continue
        assert run.last_exit is not None  # in back-off: something exited
        resume = run.last_exit.finished + crash_backoff(run.restarts)
        if now < resume:
            return run, resume
        run = replace(run, restarts=run.restarts + 1, running_since=resume)
    return run, now


def _stop(run: Run, behaviour: Behaviour, now: float,
          deletion: Deletion) -> tuple[Run, float | None]:
    wanted = deletion.began + behaviour.terminate_seconds
    stop_at = min(wanted, deletion.deadline)
    if run.running_since is None:
        # Nothing running (in back-off): the pod is over at once.
        return replace(run, done=True), None
    if now < stop_at:
        return run, stop_at
    code = KILLED_EXIT_CODE if wanted > deletion.deadline else 0
    exit_ = Exit(code, run.running_since, max(stop_at, run.running_since))
    return replace(run, running_since=None, last_exit=exit_, previous_exit=run.last_exit,
                   done=True), None


def _exit_from(state: Any) -> Exit | None:
    if not isinstance(state, dict):
        return None
    terminated = state.get("terminated")
    if not isinstance(terminated, dict):
        return None
    started = parse_api_time(terminated.get("startedAt"))
    finished = parse_api_time(terminated.get("finishedAt"))
    if started is None or finished is None:
        return None
    code = terminated.get("exitCode")
    return Exit(int(code) if isinstance(code, int) else 0, started, finished)


def adopt_run(status: Obj, now: float) -> Run | None:
    """The timeline a status written by hollow nodes describes (None when no hollow node
    wrote it: then the containers start afresh)."""
    statuses = status.get("containerStatuses") or []
    first = statuses[0] if statuses and isinstance(statuses[0], dict) else None
    if first is None or not str(first.get("containerID") or "").startswith("hollow://"):
        return None
    started = parse_api_time(status.get("startTime")) or now
    restarts = first.get("restartCount")
    restarts = restarts if isinstance(restarts, int) and restarts >= 0 else 0
    state = first.get("state") or {}
    last_state = _exit_from(first.get("lastState"))
    running = state.get("running") if isinstance(state, dict) else None
    if isinstance(running, dict):
        since = parse_api_time(running.get("startedAt")) or now
        return Run(started, restarts, since, last_state)
    current_exit = _exit_from(state)
    phase = status.get("phase")
    if phase in ("Succeeded", "Failed"):
        return Run(started, restarts, None, current_exit or last_state,
                   last_state if current_exit else None, done=True)
    if last_state is not None:
        return Run(started, restarts, None, last_state)
    return None
