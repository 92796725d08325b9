"""Stopping containers as the kubelet's ``killContainer`` / ``killContainersWithSyncResult``.

A container gets a ``Killing`` event, then its ``preStop`` hook runs within the grace
period, then ``SIGTERM`` with what is left of the grace period (at least 2 s), then
``SIGKILL``. The grace period is the pod's ``deletionGracePeriodSeconds`` when it is being
deleted, else a failed probe's own ``terminationGracePeriodSeconds``, else the pod's.

A pod's containers are stopped together, except sidecars: each waits until the app
containers and the sidecars declared after it have stopped (so sidecars outlive what they
serve, and stop in reverse order), within the same grace period.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Sequence

from kubesmith.agent.pods.actions import REASON_LIVENESS, REASON_STARTUP
from kubesmith.agent.pods.context import Parts
from kubesmith.agent.pods.hooks import HookError, run_handler
from kubesmith.agent.pods.runs import EXITED, ContainerRun
from kubesmith.agent.pods.state import NORMAL, WARNING, PodState, container_event, describe
from kubesmith.agent.runtime.errors import RuntimeFailure
from kubesmith.api.types import Obj
from kubesmith.podstatus.conditions import is_sidecar

log = logging.getLogger(__name__)

#: Containers always get at least this long to stop (upstream minimumGracePeriodInSeconds).
MIN_GRACE_SECONDS = 2
DEFAULT_GRACE_SECONDS = 30


def grace_period(pod: Obj, container: Obj, reason: str = "") -> int:
    """Seconds a container gets to stop (see the module docstring)."""
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    deletion = meta.get("deletionGracePeriodSeconds")
    if isinstance(deletion, int):
        return deletion
    pod_grace = spec.get("terminationGracePeriodSeconds")
    if not isinstance(pod_grace, int):
        return MIN_GRACE_SECONDS
    probe_field = {REASON_LIVENESS: "livenessProbe", REASON_STARTUP: "startupProbe"}.get(reason)
    if probe_field:
        own = (container.get(probe_field) or {}).get("terminationGracePeriodSeconds")
        if isinstance(own, int):
            return own
    return pod_grace


class TerminationOrdering:
    """Who waits for whom when a pod with sidecars stops (see the module docstring)."""

    def __init__(self, pod: Obj, running: Sequence[str]) -> None:
        spec = pod.get("spec") or {}
        running_set = set(running)
        self._stopped = {name: asyncio.Event() for name in running}
        apps = [str(c.get("name")) for c in spec.get("containers") or ()
                if c.get("name") in running_set]
        sidecars = [str(c.get("name")) for c in spec.get("initContainers") or ()
                    if is_sidecar(c) and c.get("name") in running_set]
        self._waits_for: dict[str, list[str]] = {
            name: apps + sidecars[index + 1:] for index, name in enumerate(sidecars)}

    async def wait_for_turn(self, name: str, limit: float) -> float:
        """Wait (at most ``limit`` seconds) until the containers ``name`` waits for have
        stopped; returns how long it waited."""
        loop = asyncio.get_running_loop()
        began = loop.time()
        others = [self._stopped[o] for o in self._waits_for.get(name, ())]
        if others and limit > 0:
            try:
                async with asyncio.timeout(limit):
                    for event in others:
                        await event.wait()
            except TimeoutError:
                pass
        return loop.time() - began

    def stopped(self, name: str) -> None:
        """``name`` has stopped."""
        event = self._stopped.get(name)
        if event is not None:
            event.set()


async def _pre_stop(parts: Parts, state: PodState, pod: Obj, container: Obj, is_init: bool,
                    container_id: str, grace: int) -> float:
    """Run the preStop hook within ``grace`` seconds; returns how long it took."""
    handler = (container.get("lifecycle") or {}).get("preStop")
    if not handler or grace <= 0:
        return 0.0
    loop = asyncio.get_running_loop()
    began = loop.time()
    try:
        async with asyncio.timeout(grace):
            await run_handler(handler, container=container, pod_description=describe(pod),
                              pod_ip=state.pod_ips[0] if state.pod_ips else "",
                              exec_sync=functools.partial(parts.runtime.exec_sync,
                                                          container_id),
                              time_limit=float(grace))
    except HookError as exc:
        log.info("preStop hook of %s in %s failed: %s", container.get("name"), describe(pod),
                 exc.message)
        # The hook's message may hold secrets: only the fact goes to the event.
        container_event(parts, pod, container, is_init, WARNING, "FailedPreStopHook",
                        "PreStopHook failed")
    except TimeoutError:
        log.info("preStop hook of %s in %s did not finish in %ss", container.get("name"),
                 describe(pod), grace)
    return loop.time() - began


async def kill_container(parts: Parts, state: PodState, pod: Obj, container: Obj,
                         is_init: bool, container_id: str, *, message: str = "",
                         reason: str = "", grace_override: int | None = None,
                         ordering: TerminationOrdering | None = None) -> None:
    """Stop one container (see the module docstring)."""
    name = str(container.get("name") or "")
    grace = grace_override if grace_override is not None else \
        grace_period(pod, container, reason)
    container_event(parts, pod, container, is_init, NORMAL, "Killing",
                    message or f"Stopping container {name}")
    try:
        remaining = grace - int(await _pre_stop(parts, state, pod, container, is_init,
                                                container_id, grace))
        if ordering is not None and remaining > 0:
            remaining -= int(await ordering.wait_for_turn(name, remaining))
        await parts.runtime.stop_container(container_id, max(remaining, MIN_GRACE_SECONDS))
    finally:
        parts.probes.container_stopped(state.uid, name)
        if ordering is not None:
            ordering.stopped(name)


def live_runs(pod: Obj, runs: dict[str, list[ContainerRun]]
              ) -> list[tuple[ContainerRun, Obj, bool]]:
    """The containers of the pod that may still run: (newest run, spec, is_init)."""
    spec = pod.get("spec") or {}
    out = []
    for is_init, key in ((True, "initContainers"), (False, "containers")):
        for container in spec.get(key) or ():
            found = runs.get(str(container.get("name"))) or []
            if found and found[0].state != EXITED:
                out.append((found[0], container, is_init))
    return out


async def kill_pod(parts: Parts, state: PodState, pod: Obj,
                   grace_override: int | None = None) -> None:
    """Stop every container of the pod that may still run (see the module docstring)."""
    live = live_runs(pod, state.runs)
    if not live:
        return
    ordering = TerminationOrdering(pod, [str(c.get("name")) for _, c, _ in live]) \
        if any(is_init and is_sidecar(c) for _, c, is_init in live) else None
    results = await asyncio.gather(
        *(kill_container(parts, state, pod, container, is_init, run.id,
                         grace_override=grace_override, ordering=ordering)
          for run, container, is_init in live), return_exceptions=True)
    for (_, container, _), result in zip(live, results, strict=True):
        if isinstance(result, RuntimeFailure):
            log.warning("cannot stop container %s of %s: %s", container.get("name"),
                        describe(pod), result.message)
        elif isinstance(result, BaseException):
            raise result
