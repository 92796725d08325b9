"""Running one probe of any kind: the kubelet's prober dispatch."""

from __future__ import annotations

from kubesmith.agent.probes.exec_action import exec_probe
from kubesmith.agent.probes.grpc_health import grpc_probe
from kubesmith.agent.probes.http_get import http_get_probe
from kubesmith.agent.probes.result import ExecSync, ProbeResult, errored
from kubesmith.agent.probes.tcp_socket import tcp_socket_probe
from kubesmith.api.types import Obj

DEFAULT_TIMEOUT_SECONDS = 1


async def run_probe(probe: Obj, *, pod_ip: str, container: Obj,
                    exec_sync: ExecSync | None = None) -> ProbeResult:
    """Run ``probe`` (a container's livenessProbe/readinessProbe/startupProbe) once.

    ``exec_sync`` runs a command in the container (needed for exec probes only).
    """
    time_limit = float(probe.get("timeoutSeconds") or DEFAULT_TIMEOUT_SECONDS)
    if probe.get("exec") is not None:
        return await exec_probe(probe["exec"], exec_sync=exec_sync, time_limit=time_limit)
    if probe.get("httpGet") is not None:
        return await http_get_probe(probe["httpGet"], pod_ip=pod_ip, container=container,
                                    time_limit=time_limit)
    if probe.get("tcpSocket") is not None:
        return await tcp_socket_probe(probe["tcpSocket"], pod_ip=pod_ip, container=container,
                                      time_limit=time_limit)
    if probe.get("grpc") is not None:
        return await grpc_probe(probe["grpc"], pod_ip=pod_ip, time_limit=time_limit)
    return errored(f"missing probe handler for {container.get('name', '')}")
