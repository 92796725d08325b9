"""What the agent's streaming server needs from the rest of the agent.

The server never looks at pods or the runtime's state itself: the agent wires in a
:class:`ContainerRuntime` (finds containers and pod sandboxes, runs exec sessions, knows
where conmon's attach socket and control fifo are), a :class:`LogLookup` (where a
container's CRI log files are) and an :class:`Authorizer` (who may use the endpoints).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True, slots=True)
class ContainerRef:
    """A running container, as exec and attach address it."""

    id: str
    pod_uid: str
    #: The container was created with a terminal (attach then carries one stream).
    tty: bool = False
    #: The container keeps a stdin open (attach may write to it).
    stdin: bool = False


@dataclass(frozen=True, slots=True)
class PodRef:
    """A pod sandbox, as port-forward addresses it."""

    uid: str
    #: The pod's network namespace (``/run/.../netns/<sandbox>.net``); None for
    #: hostNetwork pods, whose ports are the host's.
    netns: Path | None


@dataclass(frozen=True, slots=True)
class ContainerLogFiles:
    """Where a container's logs are: the current instance's file and the previous
    instance's (``<restartCount>.log`` and ``<restartCount-1>.log``)."""

    current: Path | None
    previous: Path | None
    #: Whether the current instance still runs (a follow ends once it does not).
    running: bool


class ExecSession(Protocol):
    """A process started in a container by :meth:`ContainerRuntime.exec_process`.

    Without a terminal stdout and stderr are separate pipes; with one, everything comes on
    stdout and :meth:`read_stderr` is at its end at once.
    """

    async def read_stdout(self) -> bytes:
        """The next chunk of output; b"" at the end."""
        ...

    async def read_stderr(self) -> bytes:
        """The next chunk of error output; b"" at the end (at once with a terminal)."""
        ...

    async def write_stdin(self, data: bytes) -> None:
        """Write to the process's stdin (ignored when it was started without one)."""
        ...

    async def close_stdin(self) -> None:
        """End of input: the process reads EOF."""
        ...

    async def resize(self, width: int, height: int) -> None:
        """Set the terminal size (ignored without a terminal)."""
        ...

    async def wait(self) -> int:
        """The exit code once the process ended (128+n when killed by signal n)."""
        ...

    async def kill(self) -> None:
        """Stop the process now (the client went away); idempotent."""
        ...


class ContainerRuntime(Protocol):
    """The runtime as the streaming endpoints see it."""

    async def find_container(self, namespace: str, pod: str, container: str
                             ) -> ContainerRef | None:
        """The running container, or None when the pod or container is unknown or not
        running."""
        ...

    async def find_pod(self, namespace: str, pod: str) -> PodRef | None:
        """The pod's sandbox, or None when the pod does not run here."""
        ...

    async def exec_process(self, container_id: str, argv: list[str], *, tty: bool,
                           stdin: bool) -> ExecSession:
        """Start ``argv`` in the container (its namespaces, cgroup, user, env)."""
        ...

    def attach_socket(self, container_id: str) -> Path:
        """conmon's attach socket (SOCK_SEQPACKET) for the container."""
        ...

    def control_fifo(self, container_id: str) -> Path:
        """conmon's control fifo for the container (terminal resize)."""
        ...


class LogLookup(Protocol):
    async def container_logs(self, namespace: str, pod: str, container: str
                             ) -> ContainerLogFiles | None:
        """The container's log files, or None when the pod or container is unknown."""
        ...


@dataclass(frozen=True, slots=True)
class ClientIdentity:
    """Who is calling, from the verified client certificate (CN and O's)."""

    user: str
    groups: tuple[str, ...] = ()


class Authorizer(Protocol):
    async def authorize(self, identity: ClientIdentity, verb: str, path: str) -> bool:
        """May ``identity`` do ``verb`` (``get``/``create``) on the agent's ``path``?"""
        ...


class AllowIdentities:
    """Allows the listed users and members of the listed groups everything (the API
    server's kubelet-client identity, and cluster administrators)."""

    def __init__(self, users: tuple[str, ...] = ("kube-apiserver-kubelet-client",),
                 groups: tuple[str, ...] = ("system:masters",)) -> None:
        self.users = frozenset(users)
        self.groups = frozenset(groups)

    async def authorize(self, identity: ClientIdentity, verb: str, path: str) -> bool:
        return identity.user in self.users or not self.groups.isdisjoint(identity.groups)
