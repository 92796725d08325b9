"""What the streaming server (:mod:`kubesmith.agent.server`) sees of the agent's pods.

A thin adapter: containers and sandboxes are found through the pod manager's workers (the
agent's own view, also after re-adoption), processes and sockets come from the runtime,
and log files follow :class:`~kubesmith.agent.paths.AgentPaths`' layout.
"""

from __future__ import annotations

from pathlib import Path

from kubesmith.agent.paths import AgentPaths
from kubesmith.agent.pods.manager import PodManager
from kubesmith.agent.pods.state import PodState, find_container
from kubesmith.agent.runtime.runtime import Runtime
from kubesmith.agent.server.interfaces import (
    ContainerLogFiles,
    ContainerRef,
    ExecSession,
    PodRef,
)


class AgentStreams:
    """Implements the server's ContainerRuntime and LogLookup over the pod manager."""

    def __init__(self, pods: PodManager, runtime: Runtime, paths: AgentPaths) -> None:
        self.pods = pods
        self.runtime = runtime
        self.paths = paths

    def _state(self, namespace: str, pod: str) -> PodState | None:
        obj = self.pods.pods.get(f"{namespace}/{pod}")
        if obj is None:
            return None
        worker = self.pods.workers.get(str((obj.get("metadata") or {}).get("uid") or ""))
        return worker.state if worker is not None else None

    async def find_container(self, namespace: str, pod: str, container: str
                             ) -> ContainerRef | None:
        state = self._state(namespace, pod)
        if state is None or state.pod is None:
            return None
        runs = state.runs.get(container)
        found = find_container(state.pod, container)
        if not runs or found is None or runs[0].state != "running":
            return None
        spec = found[0]
        return ContainerRef(id=runs[0].id, pod_uid=state.uid, tty=bool(spec.get("tty")),
                            stdin=bool(spec.get("stdin")))

    async def find_pod(self, namespace: str, pod: str) -> PodRef | None:
        state = self._state(namespace, pod)
        if state is None or state.sandbox is None:
            return None
        return PodRef(uid=state.uid, netns=state.sandbox.netns_path)

    async def exec_process(self, container_id: str, argv: list[str], *, tty: bool,
                           stdin: bool) -> ExecSession:
        return await self.runtime.exec_process(container_id, argv, tty=tty, stdin=stdin)

    def attach_socket(self, container_id: str) -> Path:
        return self.runtime.attach_socket(container_id)

    def control_fifo(self, container_id: str) -> Path:
        return self.runtime.control_fifo(container_id)

    async def container_logs(self, namespace: str, pod: str, container: str
                             ) -> ContainerLogFiles | None:
        state = self._state(namespace, pod)
        if state is None or state.pod is None or find_container(state.pod, container) is None:
            return None
        runs = state.runs.get(container) or []
        if not runs:
            return ContainerLogFiles(current=None, previous=None, running=False)
        uid = state.uid

        def log(attempt: int) -> Path | None:
            path = self.paths.container_log(namespace, pod, uid, container, attempt)
            return path if path.exists() else None

        current = runs[0]
        return ContainerLogFiles(
            current=log(current.attempt),
            previous=log(current.attempt - 1) if current.attempt else None,
            running=current.state == "running")
