"""The pod workers' memory of one pod (:class:`PodState`) and the small helpers every step
of a sync uses: container lookup by name, event references, the kubelet's pod naming."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from kubesmith.agent.pods.admission import Rejection
from kubesmith.agent.pods.context import Parts
from kubesmith.agent.pods.runs import ContainerRun
from kubesmith.agent.runtime.spec import Sandbox
from kubesmith.api.types import Obj
from kubesmith.client.events import NORMAL, WARNING

__all__ = ["NORMAL", "WARNING", "PodState", "container_event", "describe", "field_path",
           "find_container", "pod_event"]


@dataclass
class PodState:
    """What a worker knows about its pod beyond the API object (lost on agent restart and
    rebuilt from the runtime: see :mod:`kubesmith.agent.pods.adoption`)."""

    uid: str
    key: str                                     # namespace/name
    pod: Obj | None = None                       # the last version seen
    sandbox: Sandbox | None = None
    pod_ips: list[str] = field(default_factory=list)
    hostname: str = ""
    domain: str = ""
    volume_paths: dict[str, Path] | None = None
    volumes_refreshed: float = 0.0
    #: Runtime containers of this pod (created by us or adopted).
    container_ids: set[str] = field(default_factory=set)
    #: The latest view of them, by spec container name, newest first.
    runs: dict[str, list[ContainerRun]] = field(default_factory=dict)
    #: Containers created but not started: id -> the start error.
    start_errors: dict[str, str] = field(default_factory=dict)
    #: Termination messages by container id (read once, after the exit).
    messages: dict[str, str] = field(default_factory=dict)
    #: Why a container could not be (re)started: name -> (reason, message).
    waiting: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: The last pull error per back-off key, for the ImagePullBackOff message.
    pull_errors: dict[str, str] = field(default_factory=dict)
    admitted: bool = False
    #: Why the node refused the pod (decided by the manager when it first saw it).
    rejection: Rejection | None = None
    #: A terminal pod whose containers were stopped and whose sandbox is gone.
    finished: bool = False


def describe(pod: Obj) -> str:
    """The kubelet's ``format.Pod``: ``name_namespace(uid)``."""
    meta = pod.get("metadata") or {}
    return f"{meta.get('name', '')}_{meta.get('namespace', '')}({meta.get('uid', '')})"


def find_container(pod: Obj, name: str) -> tuple[Obj, bool] | None:
    """The spec of container ``name`` and whether it is an init container."""
    spec = pod.get("spec") or {}
    for container in spec.get("containers") or ():
        if container.get("name") == name:
            return container, False
    for container in spec.get("initContainers") or ():
        if container.get("name") == name:
            return container, True
    return None


def field_path(container: Obj, is_init: bool) -> str:
    """The ``involvedObject.fieldPath`` of a container's events."""
    kind = "initContainers" if is_init else "containers"
    return f"spec.{kind}{{{container.get('name', '')}}}"


def pod_event(parts: Parts, pod: Obj, type_: str, reason: str, message: str) -> None:
    """Record an Event about the pod."""
    parts.events.event({**pod, "kind": "Pod", "apiVersion": "v1"}, type_, reason, message)


def container_event(parts: Parts, pod: Obj, container: Obj, is_init: bool, type_: str,
                    reason: str, message: str) -> None:
    """Record an Event about one container of the pod."""
    parts.events.event({**pod, "kind": "Pod", "apiVersion": "v1"}, type_, reason, message,
                       field_path=field_path(container, is_init))
