"""The agent's container runtime: OCI specs, runc + conmon, pinned pod namespaces.

Use :class:`Runtime`; :class:`ContainerSpec`, :class:`Sandbox`, :class:`ContainerState`
and :class:`Mount` are its vocabulary, the errors are in :mod:`.errors`.
"""

from kubesmith.agent.runtime.conmon import connect_attach
from kubesmith.agent.runtime.errors import (
    ContainerConfigError,
    ContainerNotFound,
    ExecFailed,
    ExecTimeout,
    RuncError,
    RuntimeFailure,
)
from kubesmith.agent.runtime.execs import ExecSession
from kubesmith.agent.runtime.runtime import Runtime
from kubesmith.agent.runtime.spec import ContainerSpec, ContainerState, Mount, Sandbox

__all__ = [
    "ContainerConfigError",
    "ContainerNotFound",
    "ContainerSpec",
    "ContainerState",
    "ExecFailed",
    "ExecSession",
    "ExecTimeout",
    "Mount",
    "RuncError",
    "Runtime",
    "RuntimeFailure",
    "Sandbox",
    "connect_attach",
]
