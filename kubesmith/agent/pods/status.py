"""The status the kubelet reports for a pod with real containers, as a pure function of
what the pod workers know (:class:`PodSnapshot`) — upstream's ``generateAPIPodStatus`` and
``convertToAPIContainerStatuses``.

Per container of the spec:

* no runtime container yet: ``waiting`` with ``ContainerCreating`` (``PodInitializing`` for
  app containers of a pod with init containers), or the reason its last start failed
  (``ErrImagePull``, ``ImagePullBackOff``, ``CrashLoopBackOff``,
  ``CreateContainerConfigError``, ``CreateContainerError``...) with its message;
* otherwise the newest runtime container gives ``state`` (``running`` / ``terminated``),
  ``containerID``, ``image``, ``imageID`` and ``restartCount``; the one before it gives
  ``lastState``; a container waiting to be restarted shows ``waiting`` with the failure
  reason and its termination as ``lastState``;
* ``started`` and ``ready`` come from the probes (see :class:`ProbeView`); a regular init
  container is ready once it completed.

App container statuses are sorted by name, init containers keep spec order. Fields the
kubelet does not own (``qosClass``, ``nominatedNodeName``, conditions such as
``DisruptionTarget`` and readiness-gate conditions) are kept; a terminal phase never changes.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from kubesmith.agent.pods.phase import pod_phase
from kubesmith.agent.pods.qos import pod_qos
from kubesmith.agent.pods.restart import container_should_restart
from kubesmith.agent.pods.runs import CREATED, EXITED, RUNNING, ContainerRun
from kubesmith.api.protobuf.gotime import format_rfc3339
from kubesmith.api.types import Obj
from kubesmith.podstatus.conditions import (
    KUBELET_CONDITIONS,
    condition,
    containers_ready,
    initialized,
    is_sidecar,
    pod_ready,
)

TERMINAL_PHASES = ("Succeeded", "Failed")


def api_time(epoch: float | None) -> str:
    """``metav1.Time`` of an epoch (seconds precision, UTC); the epoch itself for None."""
    return format_rfc3339(int(epoch or 0))


class ProbeView(Protocol):
    """What the probes say about a running container (by its runtime id)."""

    def started(self, container: Obj, container_id: str) -> bool:
        """The startup probe passed (or there is none)."""

    def ready(self, container: Obj, container_id: str) -> bool:
        """The readiness probe passes (or there is none)."""


class NoProbes:
    """Containers without probe results: started and ready as soon as they run."""

    def started(self, container: Obj, container_id: str) -> bool:
        return True

    def ready(self, container: Obj, container_id: str) -> bool:
        return True


@dataclass
class PodSnapshot:
    """What the pod workers know about one pod at one moment."""

    pod: Obj
    #: Runtime containers by spec container name, newest first.
    runs: Mapping[str, Sequence[ContainerRun]] = field(default_factory=dict)
    #: Why a container could not be (re)started: name -> (reason, message).
    waiting: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    #: The sandbox exists with its network set up (PodReadyToStartContainers).
    sandbox_ready: bool = False
    pod_ips: Sequence[str] = ()
    host_ips: Sequence[str] = ()
    #: The pod will not run containers any more (deleted, or all done for good).
    is_terminal: bool = False
    probes: ProbeView = field(default_factory=NoProbes)
    now: float = 0.0


def _terminated(run: ContainerRun) -> dict[str, Any]:
    out: dict[str, Any] = {"exitCode": run.exit_code}
    if run.reason:
        out["reason"] = run.reason
    if run.message:
        out["message"] = run.message
    out["startedAt"] = api_time(run.started_at)
    out["finishedAt"] = api_time(run.finished_at or run.started_at or run.created_at)
    out["containerID"] = run.container_id
    return out


def _run_state(run: ContainerRun, old: Obj | None) -> dict[str, Any]:
    if run.state == RUNNING:
        return {"running": {"startedAt": api_time(run.started_at)}}
    if run.state == EXITED:
        return {"terminated": _terminated(run)}
    if run.state != CREATED and old is not None and "running" in (old.get("state") or {}):
        # It ran and the runtime lost it: it terminated, we do not know how.
        return {"terminated": {"exitCode": 137, "reason": "ContainerStatusUnknown",
                               "message": "The container could not be located when the pod "
                                          "was terminated"}}
    return {"waiting": {}}


def should_restart(container: Obj, pod: Obj, newest: ContainerRun | None) -> bool:
    """Whether the container will be (re)started by a later sync (upstream
    ``ShouldContainerBeRestarted``)."""
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    if newest is None or newest.state in (CREATED, "unknown"):
        return True
    if newest.state == RUNNING:
        return False
    return container_should_restart(container, pod.get("spec") or {}, newest.exit_code)


def _container_status(container: Obj, snap: PodSnapshot, old: Obj | None,
                      default_waiting: str, is_init: bool) -> dict[str, Any]:
    name = str(container.get("name") or "")
    runs = list(snap.runs.get(name) or ())
    status: dict[str, Any] = {"name": name, "state": {"waiting": {"reason": default_waiting}},
                              "lastState": {}, "ready": False, "restartCount": 0,
                              "image": str(container.get("image") or ""), "imageID": ""}
    if old is not None:
        if "terminated" in (old.get("state") or {}):
            status = copy.deepcopy(old)
        else:
            status["restartCount"] = old.get("restartCount") or 0
            status["lastState"] = copy.deepcopy(old.get("lastState") or {})
    if runs:
        newest = runs[0]
        status.update(image=newest.image or status["image"], imageID=newest.image_id,
                      containerID=newest.container_id, restartCount=newest.attempt,
                      state=_run_state(newest, old))
        if len(runs) > 1:
            status["lastState"] = _run_state(runs[1], None)
    newest_run = runs[0] if runs else None
    completed_init = is_init and newest_run is not None and newest_run.state == EXITED and \
        newest_run.exit_code == 0 and not is_sidecar(container)
    reason = snap.waiting.get(name)
    if reason is not None and not completed_init and \
            should_restart(container, snap.pod, newest_run):
        if "terminated" in status["state"]:
            status["lastState"] = status["state"]
        waiting: dict[str, Any] = {"reason": reason[0]}
        if reason[1]:
            waiting["message"] = reason[1]
        status["state"] = {"waiting": waiting}
    _probe_fields(status, container, snap, is_init)
    return status


def _probe_fields(status: dict[str, Any], container: Obj, snap: PodSnapshot,
                  is_init: bool) -> None:
    state = status["state"]
    cid = str(status.get("containerID") or "").removeprefix("runc://")
    running = "running" in state
    started = running and snap.probes.started(container, cid)
    status["started"] = started
    if is_init and not is_sidecar(container):
        status["ready"] = "terminated" in state and state["terminated"].get("exitCode") == 0
    else:
        status["ready"] = started and snap.probes.ready(container, cid)


def _statuses(snap: PodSnapshot, containers: Sequence[Obj], previous: Sequence[Obj],
              has_init: bool, is_init: bool) -> list[dict[str, Any]]:
    old = {str(s.get("name")): s for s in previous}
    default = "PodInitializing" if has_init and not is_init else "ContainerCreating"
    out = [_container_status(c, snap, old.get(str(c.get("name"))), default, is_init)
           for c in containers]
    if not is_init:
        out.sort(key=lambda s: str(s["name"]))
    return out


def has_initialized(pod: Obj, snap: PodSnapshot) -> bool:
    """An app container of the current sandbox runs or ran (upstream
    ``HasAnyActiveRegularContainerStarted``)."""
    if not snap.sandbox_ready:
        return False
    for container in (pod.get("spec") or {}).get("containers") or ():
        for run in snap.runs.get(str(container.get("name"))) or ():
            if run.state in (RUNNING, EXITED):
                return True
    return False


def _conditions(pod: Obj, current: Obj, snap: PodSnapshot, statuses: list[dict[str, Any]],
                phase: str) -> list[dict[str, Any]]:
    generation = (pod.get("metadata") or {}).get("generation")
    found = [c for c in current.get("conditions") or () if isinstance(c, dict)]
    previous = {str(c.get("type")): c for c in found}
    now = api_time(snap.now)
    kept = [c for c in found if c.get("type") not in KUBELET_CONDITIONS]

    def cond(type_: str, verdict: tuple[str, str, str]) -> dict[str, Any]:
        return condition(type_, verdict[0], previous, now, generation, verdict[1], verdict[2])

    others = {str(c.get("type")): c for c in kept}
    ours = [cond("PodReadyToStartContainers",
                 ("True" if snap.sandbox_ready else "False", "", "")),
            cond("Initialized", initialized(pod, statuses, phase)),
            cond("Ready", pod_ready(pod, others, statuses, phase)),
            cond("ContainersReady", containers_ready(pod, statuses, phase)),
            cond("PodScheduled", ("True", "", ""))]
    return kept + ours


def render_status(snap: PodSnapshot) -> Obj:
    """The full status to report for ``snap.pod`` (see the module docstring)."""
    pod = snap.pod
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    current: Obj = pod.get("status") or {}
    inits = list(spec.get("initContainers") or ())
    apps = _statuses(snap, list(spec.get("containers") or ()),
                     current.get("containerStatuses") or (), bool(inits), False)
    init_statuses = _statuses(snap, inits, current.get("initContainerStatuses") or (),
                              bool(inits), True)
    everything = init_statuses + apps
    phase = pod_phase(pod, everything, is_terminal=snap.is_terminal,
                      has_initialized=has_initialized(pod, snap))
    if current.get("phase") in TERMINAL_PHASES:
        phase = str(current["phase"])
    status = copy.deepcopy(current)
    if phase != current.get("phase"):
        status.pop("reason", None)
        status.pop("message", None)
    status["phase"] = phase
    status["qosClass"] = pod_qos(pod)
    if snap.host_ips:
        status["hostIP"] = snap.host_ips[0]
        status["hostIPs"] = [{"ip": ip} for ip in snap.host_ips]
    pod_ips = list(snap.pod_ips)
    if not pod_ips and spec.get("hostNetwork"):
        pod_ips = list(snap.host_ips)
    if pod_ips:
        status["podIP"] = pod_ips[0]
        status["podIPs"] = [{"ip": ip} for ip in pod_ips]
    status.setdefault("startTime", api_time(snap.now))
    status["containerStatuses"] = apps
    if init_statuses:
        status["initContainerStatuses"] = init_statuses
    else:
        status.pop("initContainerStatuses", None)
    status["conditions"] = _conditions(pod, current, snap, everything, phase)
    generation = meta.get("generation")
    if isinstance(generation, int):
        status["observedGeneration"] = generation
    return status
