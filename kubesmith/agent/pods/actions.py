"""What one sync of a pod must do, as a pure function of the pod, its runtime containers and
the probe results — upstream's ``computePodActions`` and ``computeInitContainerActions``.

* No sandbox: create it and start from the first init container (or every app container),
  unless the pod already ran to completion (nothing would be started).
* Init containers run one at a time in spec order; the next starts when the previous
  completed (a sidecar: once started, i.e. its startup probe passed). A failed one is
  retried unless the restart policy says ``Never`` (then the whole pod is killed: it
  failed). Sidecars that exit are restarted; failing their liveness or startup probe kills
  and restarts them.
* Once initialized, app containers that are not running are started when the restart
  policy says so; a running one is killed (and restarted, unless the policy is ``Never``)
  when its spec changed or it failed its liveness or startup probe.
* When no app container is left running and none is to be started, the pod is done: kill
  everything that still runs (sidecars) and start nothing.

Back-off is not decided here: the worker checks it when it starts a container.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import orjson

from kubesmith.agent.pods.restart import container_should_restart
from kubesmith.agent.pods.runs import CREATED, EXITED, RUNNING, ContainerRun
from kubesmith.api.types import Obj
from kubesmith.podstatus.conditions import is_sidecar

SUCCESS = "success"
FAILURE = "failure"

#: Why a container is killed, which picks the grace period (a probe may set its own).
REASON_LIVENESS = "liveness"
REASON_STARTUP = "startup"
REASON_UNKNOWN = "unknown"
REASON_CHANGED = "changed"


class ProbeResults(Protocol):
    """Latest probe results of running containers; None: not probed yet."""

    def result(self, kind: str, name: str, container_id: str) -> str | None:
        """``success`` / ``failure`` / None for the ``liveness``, ``readiness`` or
        ``startup`` probe of the container ``name`` running as ``container_id``."""


@dataclass(frozen=True)
class KillRequest:
    """A running container to stop, and the ``Killing`` event's message."""

    run: ContainerRun
    container: Obj
    message: str
    reason: str = ""


@dataclass
class PodActions:
    """The plan of one sync (see the module docstring)."""

    create_sandbox: bool = False
    kill_pod: bool = False
    initialized: bool = False
    init_to_start: list[int] = field(default_factory=list)
    apps_to_start: list[int] = field(default_factory=list)
    to_kill: list[KillRequest] = field(default_factory=list)


def container_hash(container: Obj) -> str:
    """A digest of the container's definition; a running container whose hash differs was
    created from an older spec (its image changed). Resources are left out: they may be
    resized in place."""
    body = {k: v for k, v in container.items() if k != "resources"}
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


def _newest(runs: Mapping[str, Sequence[ContainerRun]], name: object) -> ContainerRun | None:
    found = runs.get(str(name))
    return found[0] if found else None


def _app_created(pod: Obj, runs: Mapping[str, Sequence[ContainerRun]]) -> bool:
    return any((run := _newest(runs, c.get("name"))) is not None and
               run.state in (CREATED, RUNNING, EXITED)
               for c in (pod.get("spec") or {}).get("containers") or ())


def _should_start(container: Obj, pod: Obj, newest: ContainerRun | None) -> bool:
    if newest is None or newest.state in (CREATED, "unknown"):
        return True
    if newest.state == RUNNING:
        return False
    return container_should_restart(container, pod.get("spec") or {}, newest.exit_code)


def _init_actions(pod: Obj, runs: Mapping[str, Sequence[ContainerRun]],
                  probes: ProbeResults, out: PodActions) -> bool:
    """Fill the init container part of ``out``; True when the pod is initialized."""
    spec = pod.get("spec") or {}
    inits: list[Obj] = list(spec.get("initContainers") or ())
    if not inits:
        return True
    # A running app container means the init containers ran before, even if the runtime no
    # longer has them; only sidecars then still need keeping alive.
    initialized = any((run := _newest(runs, c.get("name"))) is not None and
                      run.state in (CREATED, RUNNING) for c in spec.get("containers") or ())
    previously = initialized
    starts: list[int] = []
    for index in range(len(inits) - 1, -1, -1):
        container = inits[index]
        sidecar = is_sidecar(container)
        run = _newest(runs, container.get("name"))
        if run is None:
            if previously and sidecar:
                starts.append(index)
            continue
        if previously and not sidecar:
            continue
        if run.state == CREATED:
            starts.append(index)
        elif run.state == RUNNING:
            # A running regular init container: wait for it to finish.
            if sidecar and _sidecar_running(container, index, run, len(inits), previously,
                                            probes, starts, out) and index == len(inits) - 1:
                initialized = True
        elif run.state == EXITED:
            if sidecar:
                starts.append(index)
            elif run.exit_code != 0:
                if not container_should_restart(container, spec, run.exit_code):
                    out.kill_pod = True
                    out.init_to_start = []
                    return False
                starts.append(index)
            elif index == len(inits) - 1:
                initialized = True
            else:
                starts.append(index + 1)
        else:
            out.to_kill.append(KillRequest(
                run, container, f'Init container is in "{run.state}" state, try killing it '
                                f'before restart', REASON_UNKNOWN))
            if not sidecar and not container_should_restart(container, spec, 1):
                out.kill_pod = True
                out.init_to_start = []
                return False
            starts.append(index)
        previously = True
    if not previously:
        starts.append(0)
    out.init_to_start = sorted(set(starts))
    return initialized


def _sidecar_running(container: Obj, index: int, run: ContainerRun, count: int,
                     previously: bool, probes: ProbeResults, starts: list[int],
                     out: PodActions) -> bool:
    """A running sidecar: once it has started (its startup probe passed) the next init
    container may start; it is restarted when its startup or liveness probe failed or its
    definition changed. True when it has started."""
    name = str(container.get("name"))
    if container.get("startupProbe"):
        startup = probes.result("startup", run.name, run.id)
        if startup != SUCCESS:
            if startup == FAILURE:
                out.to_kill.append(KillRequest(
                    run, container, f"Init container {name} failed startup probe",
                    REASON_STARTUP))
                starts.append(index)
            return False
    if index != count - 1 and not previously:
        starts.append(index + 1)
    if run.hash and run.hash != container_hash(container):
        out.to_kill.append(KillRequest(run, container,
                                       f"Init container {name} definition changed",
                                       REASON_CHANGED))
        starts.append(index)
    elif container.get("livenessProbe") and probes.result("liveness", run.name, run.id) == FAILURE:
        out.to_kill.append(KillRequest(run, container,
                                       f"Init container {name} failed liveness probe",
                                       REASON_LIVENESS))
        starts.append(index)
    return True


def pod_is_done(pod: Obj, runs: Mapping[str, Sequence[ContainerRun]]) -> bool:
    """Every app container ran and none will be started again (nor is running)."""
    spec = pod.get("spec") or {}
    containers = list(spec.get("containers") or ())
    if not containers or not _app_created(pod, runs):
        return False
    for container in containers:
        run = _newest(runs, container.get("name"))
        if run is None or run.state == RUNNING or _should_start(container, pod, run):
            return False
    return True


def compute_actions(pod: Obj, runs: Mapping[str, Sequence[ContainerRun]], *,
                    has_sandbox: bool, probes: ProbeResults) -> PodActions:
    """The plan for one sync of ``pod`` (see the module docstring). ``runs`` holds the
    runtime containers by spec container name, newest first."""
    spec = pod.get("spec") or {}
    out = PodActions()
    containers: list[Obj] = list(spec.get("containers") or ())
    if not has_sandbox:
        if pod_is_done(pod, runs):
            out.kill_pod = True
            return out
        out.create_sandbox = True
        if spec.get("initContainers") and not _app_created(pod, runs):
            out.init_to_start = [0]
            return out
        if not spec.get("initContainers"):
            out.initialized = True
            out.apps_to_start = [i for i, c in enumerate(containers)
                                 if _should_start(c, pod, _newest(runs, c.get("name")))]
            return out
    out.initialized = _init_actions(pod, runs, probes, out)
    if out.kill_pod or not out.initialized:
        return out
    keep = 0
    for index, container in enumerate(containers):
        name = str(container.get("name"))
        run = _newest(runs, name)
        if run is None or run.state != RUNNING:
            if _should_start(container, pod, run):
                out.apps_to_start.append(index)
                if run is not None and run.state == "unknown":
                    out.to_kill.append(KillRequest(
                        run, container, f'Container is in "{run.state}" state, try killing '
                                        f'it before restart', REASON_UNKNOWN))
            continue
        restart = container_should_restart(container, spec, 1)
        liveness = probes.result("liveness", name, run.id)
        startup = probes.result("startup", name, run.id)
        if run.hash and run.hash != container_hash(container):
            message, reason, restart = f"Container {name} definition changed", \
                REASON_CHANGED, True
        elif container.get("livenessProbe") and liveness == FAILURE:
            message, reason = f"Container {name} failed liveness probe", REASON_LIVENESS
        elif container.get("startupProbe") and startup == FAILURE:
            message, reason = f"Container {name} failed startup probe", REASON_STARTUP
        else:
            keep += 1
            continue
        if restart:
            message += ", will be restarted"
            out.apps_to_start.append(index)
        out.to_kill.append(KillRequest(run, container, message, reason))
    if keep == 0 and not out.apps_to_start:
        out.kill_pod = True
        out.init_to_start = []
    return out
