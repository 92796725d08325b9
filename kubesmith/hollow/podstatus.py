"""The status a kubelet would report for a hollow pod, as a pure function.

:func:`desired_pod_status` renders the whole ``status`` from the pod, its current status and
its simulated :class:`~kubesmith.hollow.lifecycle.Run`; fields the kubelet does not own
(``qosClass``, conditions other components set such as ``DisruptionTarget`` or readiness
gates, ``nominatedNodeName``, ...) are carried over unchanged. Times that describe a state
which has not changed (a condition's ``lastTransitionTime``) are kept from the current
status, so rendering an unchanged pod gives exactly its current status and
:func:`merge_patch` between the two is empty — that is how writes are skipped.

Condition types, reasons and messages are upstream's (``pkg/kubelet/status/generate.go``).
"""

from __future__ import annotations

import copy
import functools
import hashlib
from typing import Any

from kubesmith.api.types import Obj
from kubesmith.hollow.clock import api_time
from kubesmith.hollow.lifecycle import Exit, Run, crash_backoff
from kubesmith.podstatus.conditions import (
    KUBELET_CONDITIONS,
    condition,
    go_list,
    is_sidecar,
    readiness_gates_message,
)
from kubesmith.podstatus.diff import merge_patch

__all__ = ["KUBELET_CONDITIONS", "container_id", "container_ready_at", "desired_pod_status",
           "image_id", "is_sidecar", "merge_patch", "next_ready_time", "pod_phase"]


@functools.lru_cache(maxsize=4096)
def image_id(image: str) -> str:
    """A stable fake image digest (what a runtime reports as ``imageID``)."""
    return "sha256:" + hashlib.sha256(image.encode()).hexdigest()


def container_id(uid: str, name: str, instance: int) -> str:
    """The fake runtime ID of one container instance (``instance`` = its restart count)."""
    suffix = f"-{instance}" if instance else ""
    return f"hollow://{uid}-{name}{suffix}"


def container_ready_at(container: Obj, running_since: float, ready_delay: float) -> float:
    """When a running container counts as ready: at once, or ``ready_delay`` after it
    started when it has a readiness probe (the probe is simulated as passing)."""
    if container.get("readinessProbe"):
        return running_since + ready_delay
    return running_since


def next_ready_time(pod: Obj, run: Run, now: float, ready_delay: float) -> float | None:
    """The next moment a running container turns ready (None: nothing pending)."""
    if run.done or ready_delay <= 0:
        return None
    spec = pod.get("spec") or {}
    pending = [t for c in _running_containers(spec, run)
               if (t := container_ready_at(c, _since(c, run), ready_delay)) > now]
    return min(pending) if pending else None


def _running_containers(spec: Obj, run: Run) -> list[Obj]:
    out = [c for c in spec.get("initContainers") or () if is_sidecar(c)]
    if run.running_since is not None:
        out.extend(spec.get("containers") or ())
    return out


def _since(container: Obj, run: Run) -> float:
    # Sidecars start with the pod and are not restarted with the app containers.
    if is_sidecar(container) or run.running_since is None:
        return run.started
    return run.running_since


def _terminated(exit_: Exit, cid: str) -> dict[str, Any]:
    return {"terminated": {"exitCode": exit_.code, "reason": exit_.reason,
                           "startedAt": api_time(exit_.started),
                           "finishedAt": api_time(exit_.finished), "containerID": cid}}


def _base(container: Obj, uid: str, instance: int) -> dict[str, Any]:
    image = str(container.get("image") or "")
    return {"name": container.get("name", ""), "image": image, "imageID": image_id(image),
            "containerID": container_id(uid, str(container.get("name", "")), instance)}


def _app_status(container: Obj, uid: str, run: Run, pod_name: str, namespace: str,
                now: float, ready_delay: float) -> dict[str, Any]:
    name = str(container.get("name", ""))
    out = _base(container, uid, run.restarts)
    out["restartCount"] = run.restarts
    last, previous = run.last_exit, run.previous_exit
    if run.running_since is not None:
        ready = now >= container_ready_at(container, run.running_since, ready_delay)
        out.update(state={"running": {"startedAt": api_time(run.running_since)}},
                   ready=ready, started=True,
                   lastState=_terminated(last, container_id(uid, name, run.restarts - 1))
                   if last is not None else {})
    elif run.done and last is not None:
        out.update(state=_terminated(last, out["containerID"]), ready=False, started=False,
                   lastState=_terminated(previous, container_id(uid, name, run.restarts - 1))
                   if previous is not None else {})
    else:
        assert last is not None  # in back-off
        delay = crash_backoff(run.restarts)
        message = (f"back-off {delay:g}s restarting failed container={name} "
                   f"pod={pod_name}_{namespace}({uid})")
        out.update(state={"waiting": {"reason": "CrashLoopBackOff", "message": message}},
                   ready=False, started=False,
                   lastState=_terminated(last, out["containerID"]))
    return out


def _init_status(container: Obj, uid: str, run: Run, now: float,
                 ready_delay: float) -> dict[str, Any]:
    out = _base(container, uid, 0)
    out["restartCount"] = 0
    out["lastState"] = {}
    if is_sidecar(container) and not run.done:
        ready = now >= container_ready_at(container, run.started, ready_delay)
        out.update(state={"running": {"startedAt": api_time(run.started)}}, ready=ready,
                   started=True)
    elif is_sidecar(container):
        finished = run.last_exit.finished if run.last_exit is not None else run.started
        out.update(state=_terminated(Exit(0, run.started, finished), out["containerID"]),
                   ready=False, started=False)
    else:
        # Regular init containers ran to completion before the app containers started.
        out.update(state=_terminated(Exit(0, run.started, run.started), out["containerID"]),
                   ready=True, started=False)
    return out


def pod_phase(run: Run) -> str:
    """``Running`` until the run is done, then ``Succeeded`` or ``Failed``."""
    if not run.done:
        return "Running"
    return "Succeeded" if run.succeeded else "Failed"


def _conditions(pod: Obj, current: Obj, run: Run, container_statuses: list[dict[str, Any]],
                sidecar_statuses: list[dict[str, Any]], phase: str,
                now: float) -> list[dict[str, Any]]:
    spec = pod.get("spec") or {}
    generation = (pod.get("metadata") or {}).get("generation")
    found = [c for c in current.get("conditions") or () if isinstance(c, dict)]
    previous = {str(c.get("type")): c for c in found}

    def cond(type_: str, status: str, reason: str = "", message: str = "") -> dict[str, Any]:
        return condition(type_, status, previous, api_time(now), generation, reason, message)

    if run.done:
        terminal_reason = "PodCompleted" if phase == "Succeeded" else "PodFailed"
        ours = [cond("PodReadyToStartContainers", "False"),
                cond("Initialized", "True", "PodCompleted" if phase == "Succeeded" else ""),
                cond("Ready", "False", terminal_reason),
                cond("ContainersReady", "False", terminal_reason)]
    else:
        unready = [s["name"] for s in sidecar_statuses + container_statuses if not s["ready"]]
        if unready:
            containers_ready = cond("ContainersReady", "False", "ContainersNotReady",
                                    f"containers with unready status: {go_list(unready)}")
            ready = cond("Ready", "False", "ContainersNotReady",
                         f"containers with unready status: {go_list(unready)}")
        elif gates := readiness_gates_message(spec, previous):
            containers_ready = cond("ContainersReady", "True")
            ready = cond("Ready", "False", "ReadinessGatesNotReady", gates)
        else:
            containers_ready = cond("ContainersReady", "True")
            ready = cond("Ready", "True")
        ours = [cond("PodReadyToStartContainers", "True"), cond("Initialized", "True"),
                ready, containers_ready]
    ours.append(cond("PodScheduled", "True"))
    return [c for c in found if c.get("type") not in KUBELET_CONDITIONS] + ours


def desired_pod_status(pod: Obj, run: Run, *, host_ip: str, pod_ip: str, now: float,
                       ready_delay: float = 0.0) -> Obj:
    """The full status a kubelet would report for ``pod`` at ``now`` (see the module
    docstring); ``pod`` itself is not modified."""
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    current: Obj = pod.get("status") or {}
    uid = str(meta.get("uid") or "")
    name, namespace = str(meta.get("name") or ""), str(meta.get("namespace") or "")
    apps = [_app_status(c, uid, run, name, namespace, now, ready_delay)
            for c in spec.get("containers") or ()]
    inits = [_init_status(c, uid, run, now, ready_delay) for c in spec.get("initContainers")
             or ()]
    sidecars = [s for c, s in zip(spec.get("initContainers") or (), inits, strict=True)
                if is_sidecar(c)]
    phase = pod_phase(run)
    status = copy.deepcopy(current)
    status.update(phase=phase, hostIP=host_ip, hostIPs=[{"ip": host_ip}], podIP=pod_ip,
                  podIPs=[{"ip": pod_ip}], startTime=api_time(run.started),
                  containerStatuses=apps,
                  conditions=_conditions(pod, current, run, apps, sidecars, phase, now))
    if inits:
        status["initContainerStatuses"] = inits
    else:
        status.pop("initContainerStatuses", None)
    generation = meta.get("generation")
    if isinstance(generation, int):
        status["observedGeneration"] = generation
    return status
