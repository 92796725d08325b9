"""A pod's phase from its container statuses, as the kubelet decides it (``getPhase``).

* An init container that failed and will not be retried fails the pod.
* ``Pending`` while a regular init container has not completed, a sidecar has not started
  before the pod was first initialized, or an app container waits to start for the first
  time.
* ``Running`` once every container was started and one runs (or exited containers are
  being restarted).
* When nothing runs and everything stopped: ``Succeeded`` if all app containers exited 0,
  else ``Failed`` — for a terminal pod (deleted or done) regardless of the restart policy,
  otherwise only for containers the policy does not restart.

Sidecars do not count toward the outcome once the app containers are done.
"""

from __future__ import annotations

from collections.abc import Mapping

from kubesmith.agent.pods.restart import container_should_restart
from kubesmith.api.types import Obj
from kubesmith.podstatus.conditions import is_sidecar


def _exit_code(terminated: Mapping[str, object]) -> int:
    code = terminated.get("exitCode")
    return code if isinstance(code, int) else 0


def _failed_init_not_restartable(pod: Obj, statuses: Mapping[str, Obj]) -> tuple[int, int]:
    """(pending regular init containers, failed ones that will not be retried)."""
    spec = pod.get("spec") or {}
    pending = failed = 0
    for container in spec.get("initContainers") or ():
        if is_sidecar(container):
            continue
        status = statuses.get(str(container.get("name")))
        state = (status or {}).get("state") or {}
        if "terminated" in state:
            terminated = state["terminated"]
        elif "waiting" in state and "terminated" in ((status or {}).get("lastState") or {}):
            terminated = status["lastState"]["terminated"]  # type: ignore[index]
        else:
            pending += 1
            continue
        code = _exit_code(terminated)
        if code != 0 and not container_should_restart(container, spec, code):
            failed += 1
    return pending, failed


def pod_phase(pod: Obj, statuses: list[Obj], *, is_terminal: bool,
              has_initialized: bool) -> str:
    """The phase (see the module docstring). ``statuses`` holds init and app container
    statuses; ``has_initialized``: an app container of the current sandbox ran."""
    spec = pod.get("spec") or {}
    by_name = {str(s.get("name")): s for s in statuses}
    pending_init, failed_init = _failed_init_not_restartable(pod, by_name)
    if failed_init:
        return "Failed"
    pending_sidecars = unknown = running = waiting = stopped = not_restartable = 0
    succeeded = 0
    for container in spec.get("initContainers") or ():
        if not is_sidecar(container):
            continue
        status = by_name.get(str(container.get("name")))
        if status is None:
            unknown += 1
            continue
        state = status.get("state") or {}
        if "running" in state:
            if status.get("started") is not True:
                pending_sidecars += 1
            running += 1
        elif "waiting" in state and "terminated" not in (status.get("lastState") or {}):
            pending_sidecars += 1
            waiting += 1
    for container in spec.get("containers") or ():
        status = by_name.get(str(container.get("name")))
        if status is None:
            unknown += 1
            continue
        state = status.get("state") or {}
        last = status.get("lastState") or {}
        if "running" in state:
            running += 1
            continue
        if "terminated" in state:
            code = _exit_code(state["terminated"])
        elif "waiting" in state and "terminated" in last:
            code = _exit_code(last["terminated"])
        else:
            waiting += 1
            continue
        stopped += 1
        if not container_should_restart(container, spec, code):
            not_restartable += 1
        if "terminated" in state and code == 0:
            succeeded += 1
    if pending_init or (pending_sidecars and not has_initialized) or waiting:
        return "Pending"
    if running and not unknown:
        return "Running"
    if not running and stopped and not unknown:
        if not is_terminal and stopped != not_restartable:
            return "Running"
        return "Succeeded" if stopped == succeeded else "Failed"
    return "Pending"
