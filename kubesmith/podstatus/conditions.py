"""The pod conditions a kubelet owns, computed as upstream does
(``pkg/kubelet/status/generate.go``): ``Initialized``, ``ContainersReady`` and ``Ready``
(readiness gates included) from the API container statuses and the pod phase.

A verdict is ``(status, reason, message)``; :func:`condition` turns it into the API
condition, keeping ``lastTransitionTime`` from the previous condition of the same type when
the status did not change, so rendering an unchanged pod renders an unchanged status.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from kubesmith.api.types import Obj

#: The conditions the kubelet owns; others are kept as found, before these (upstream order).
KUBELET_CONDITIONS = ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady",
                      "PodScheduled")

#: (status, reason, message) of one condition.
Verdict = tuple[str, str, str]

TRUE: Verdict = ("True", "", "")


def is_sidecar(container: Mapping[str, Any]) -> bool:
    """An init container that keeps running next to the app containers (a restartable init
    container: ``restartPolicy: Always``)."""
    return container.get("restartPolicy") == "Always"


def go_list(names: Iterable[str]) -> str:
    """How Go's fmt prints a ``[]string``, which upstream puts in condition messages."""
    return "[" + " ".join(names) + "]"


def condition(type_: str, status: str, previous: Mapping[str, Mapping[str, Any]], now: str,
              generation: Any, reason: str = "", message: str = "") -> dict[str, Any]:
    """An API condition; ``lastTransitionTime`` is kept from ``previous[type_]`` when its
    status is the same, else ``now`` (an RFC 3339 time)."""
    before = previous.get(type_)
    transition = before.get("lastTransitionTime") if before is not None and \
        before.get("status") == status else None
    cond: dict[str, Any] = {"type": type_, "status": status,
                            "lastTransitionTime": transition or now}
    if reason:
        cond["reason"] = reason
    if message:
        cond["message"] = message
    if isinstance(generation, int):
        cond["observedGeneration"] = generation
    return cond


def readiness_gates_message(spec: Mapping[str, Any],
                            conditions: Mapping[str, Mapping[str, Any]]) -> str:
    """Why the pod's readiness gates are not all ``True`` (empty when they are)."""
    problems = []
    for gate in spec.get("readinessGates") or ():
        ctype = str(gate.get("conditionType") or "")
        found = conditions.get(ctype)
        if found is None:
            problems.append(f"corresponding condition of pod readiness gate \"{ctype}\" does "
                            f"not exist.")
        elif found.get("status") != "True":
            problems.append(f"the status of pod readiness gate \"{ctype}\" is not \"True\", "
                            f"but {found.get('status')}")
    return ", ".join(problems)


def _by_name(statuses: Sequence[Obj]) -> dict[str, Obj]:
    return {str(s.get("name")): s for s in statuses}


def _not_all(unknown: list[str], adjective: str, failing: list[str], reason: str) -> Verdict:
    """False with ``reason`` when containers are unknown or ``failing``, else True."""
    messages = []
    if unknown:
        messages.append(f"containers with unknown status: {go_list(unknown)}")
    if failing:
        messages.append(f"containers with {adjective} status: {go_list(failing)}")
    if messages:
        return ("False", reason, ", ".join(messages))
    return TRUE


def _terminal_verdict(phase: str) -> Verdict:
    return ("False", "PodFailed" if phase == "Failed" else "PodCompleted", "")


def containers_ready(pod: Obj, statuses: Sequence[Obj] | None, phase: str) -> Verdict:
    """``ContainersReady``: every app container and sidecar reports ``ready``.
    ``statuses`` holds the init and app container statuses together."""
    if statuses is None:
        return ("False", "UnknownContainerStatuses", "")
    spec = pod.get("spec") or {}
    found = _by_name(statuses)
    unknown: list[str] = []
    unready: list[str] = []
    watched = [c for c in spec.get("initContainers") or () if is_sidecar(c)]
    watched += list(spec.get("containers") or ())
    for container in watched:
        name = str(container.get("name") or "")
        status = found.get(name)
        if status is None:
            unknown.append(name)
        elif not status.get("ready"):
            unready.append(name)
    if (phase == "Succeeded" and not unknown) or phase == "Failed":
        return _terminal_verdict(phase)
    return _not_all(unknown, "unready", unready, "ContainersNotReady")


def pod_ready(pod: Obj, conditions: Mapping[str, Mapping[str, Any]],
              statuses: Sequence[Obj] | None, phase: str) -> Verdict:
    """``Ready``: ``ContainersReady`` and every readiness gate's condition ``True``.
    ``conditions`` are the pod's other conditions by type (where gates are found)."""
    ready = containers_ready(pod, statuses, phase)
    if ready[0] != "True":
        return ready
    gates = readiness_gates_message(pod.get("spec") or {}, conditions)
    if gates:
        return ("False", "ReadinessGatesNotReady", gates)
    return TRUE


def any_app_container_started(pod: Obj, statuses: Sequence[Obj]) -> bool:
    """Whether an app container runs or ran: the pod was initialized at some point."""
    names = {str(c.get("name")) for c in (pod.get("spec") or {}).get("containers") or ()}
    for status in statuses:
        state = status.get("state") or {}
        if status.get("name") in names and ("running" in state or "terminated" in state):
            return True
    return False


def initialized(pod: Obj, statuses: Sequence[Obj] | None, phase: str) -> Verdict:
    """``Initialized``: every init container completed (a sidecar: started)."""
    spec = pod.get("spec") or {}
    inits = list(spec.get("initContainers") or ())
    if statuses is None and inits:
        return ("False", "UnknownContainerStatuses", "")
    statuses = statuses or ()
    found = _by_name(statuses)
    unknown: list[str] = []
    incomplete: list[str] = []
    for container in inits:
        name = str(container.get("name") or "")
        status = found.get(name)
        if status is None:
            unknown.append(name)
            continue
        done = status.get("started") is True if is_sidecar(container) else \
            bool(status.get("ready"))
        if not done:
            incomplete.append(name)
    if phase == "Succeeded" and not unknown:
        return ("True", "PodCompleted", "")
    # A running or finished app container means the pod was initialized before; its
    # sidecars may be restarting now.
    if any_app_container_started(pod, statuses):
        return TRUE
    return _not_all(unknown, "incomplete", incomplete, "ContainersNotInitialized")
