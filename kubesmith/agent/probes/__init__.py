"""Container probes: exec, httpGet, tcpSocket and grpc, with the kubelet's timing rules."""

from kubesmith.agent.probes.manager import EventCallback, ProbeManager, ResultCallback
from kubesmith.agent.probes.result import ExecSync, ProbeResult
from kubesmith.agent.probes.runner import run_probe
from kubesmith.agent.probes.worker import ProbeKind, ProbeTiming, ProbeWorker

__all__ = [
    "EventCallback",
    "ExecSync",
    "ProbeKind",
    "ProbeManager",
    "ProbeResult",
    "ProbeTiming",
    "ProbeWorker",
    "ResultCallback",
    "run_probe",
]
