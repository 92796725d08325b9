"""The agent's HTTPS server (port 10250): container logs, exec, attach and port-forward,
which the API server proxies ``pods/log``, ``pods/exec``, ``pods/attach`` and
``pods/portforward`` to."""

from kubesmith.agent.server.interfaces import (
    AllowIdentities,
    Authorizer,
    ClientIdentity,
    ContainerLogFiles,
    ContainerRef,
    ContainerRuntime,
    ExecSession,
    LogLookup,
    PodRef,
)
from kubesmith.agent.server.server import DEFAULT_PORT, AgentServer

__all__ = ["DEFAULT_PORT", "AgentServer", "AllowIdentities", "Authorizer", "ClientIdentity",
           "ContainerLogFiles", "ContainerRef", "ContainerRuntime", "ExecSession",
           "LogLookup", "PodRef"]
