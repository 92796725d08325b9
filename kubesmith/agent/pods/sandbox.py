"""A pod's sandbox: its pinned namespaces, its network (CNI, except hostNetwork pods, which
take the node's addresses) and the files every container mounts from the pod directory —
``etc-hosts``, ``resolv.conf`` and ``hostname`` — written per the pod's dnsPolicy,
dnsConfig, hostAliases, hostname and subdomain.

A failure anywhere undoes what was done and records upstream's
``FailedCreatePodSandBox`` event; the pod stays ``ContainerCreating`` and is retried.
"""

from __future__ import annotations

import contextlib
import logging

from kubesmith.agent.cni.errors import CNIError
from kubesmith.agent.cni.ports import port_mappings
from kubesmith.agent.dnsconfig import (
    etc_hosts,
    kernel_hostname,
    pod_dns,
    pod_hostname_and_domain,
    render_resolv_conf,
)
from kubesmith.agent.pods.context import Parts
from kubesmith.agent.pods.state import WARNING, PodState, pod_event
from kubesmith.agent.runtime.errors import RuntimeFailure
from kubesmith.agent.runtime.spec import Sandbox
from kubesmith.api.types import Obj

log = logging.getLogger(__name__)


class SandboxFailed(Exception):
    """The sandbox could not be created; the message is in the event already."""


def _read(path: object) -> str | None:
    try:
        with open(str(path), encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return None


def write_pod_files(parts: Parts, state: PodState, pod: Obj) -> None:
    """(Re)write the pod's hosts, resolv.conf and hostname files, recording the DNS
    configuration events the kubelet would."""
    spec = pod.get("spec") or {}
    pod_dir = parts.paths.pod_dir(state.uid)
    pod_dir.mkdir(parents=True, exist_ok=True, mode=0o750)
    host_network = bool(spec.get("hostNetwork"))
    hosts = etc_hosts(pod, pod_ips=state.pod_ips,
                      host_network_hosts=_read(parts.config.hosts_file) if host_network
                      else None, hostname=state.hostname, subdomain_fqdn=state.domain)
    host_resolv = _read(parts.config.resolv_conf) if parts.config.resolv_conf else None
    dns = pod_dns(pod, cluster_dns=parts.config.cluster_dns,
                  cluster_domain=parts.config.cluster_domain, host_resolv=host_resolv,
                  node_ips=parts.node.host_ips())
    for event in dns.events:
        pod_event(parts, pod, WARNING, event.reason, event.message)
    uts = kernel_hostname(state.hostname, state.domain, spec.get("setHostnameAsFQDN"))
    for name, content in (("etc-hosts", hosts), ("resolv.conf", render_resolv_conf(
            dns, host_resolv)), ("hostname", uts + "\n")):
        path = pod_dir / name
        path.write_text(content, encoding="utf-8")
        path.chmod(0o644)


async def create_sandbox(parts: Parts, state: PodState, pod: Obj) -> None:
    """Create the pod's sandbox and network, and write its files (see the module
    docstring); raises :class:`SandboxFailed`."""
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    name, namespace = str(meta.get("name") or ""), str(meta.get("namespace") or "")
    host_network = bool(spec.get("hostNetwork"))
    sandbox: Sandbox | None = None
    try:
        state.hostname, state.domain = pod_hostname_and_domain(pod,
                                                               parts.config.cluster_domain)
        uts = kernel_hostname(state.hostname, state.domain, spec.get("setHostnameAsFQDN"))
        sandbox = await parts.runtime.create_sandbox(
            pod_uid=state.uid, pod_name=name, namespace=namespace, hostname=uts,
            host_network=host_network, host_ipc=bool(spec.get("hostIPC")),
            host_pid=bool(spec.get("hostPID")))
        if host_network:
            state.pod_ips = parts.node.host_ips()
        else:
            assert sandbox.netns_path is not None
            try:
                network = await parts.cni.add(
                    container_id=sandbox.id, netns=sandbox.netns_path, pod_name=name,
                    namespace=namespace, pod_uid=state.uid, port_mappings=port_mappings(pod))
            except CNIError as exc:
                raise RuntimeFailure(f"failed to setup network for sandbox "
                                     f"\"{sandbox.id}\": {exc}") from None
            state.pod_ips = list(network.ips)
        state.sandbox = sandbox
        write_pod_files(parts, state, pod)
    except (RuntimeFailure, ValueError, OSError) as exc:
        text = exc.message if isinstance(exc, RuntimeFailure) else str(exc)
        pod_event(parts, pod, WARNING, "FailedCreatePodSandBox",
                  f"Failed to create pod sandbox: {text}")
        if sandbox is not None:
            await remove_sandbox(parts, state, pod, sandbox)
        raise SandboxFailed(text) from None


async def remove_sandbox(parts: Parts, state: PodState, pod: Obj | None,
                         sandbox: Sandbox | None = None) -> None:
    """Detach the sandbox from the network and unpin its namespaces (idempotent)."""
    sandbox = sandbox or state.sandbox
    if sandbox is None:
        return
    meta = (pod or {}).get("metadata") or {}
    if sandbox.netns_path is not None:
        try:
            await parts.cni.delete(container_id=sandbox.id, netns=sandbox.netns_path,
                                   pod_name=str(meta.get("name") or sandbox.pod_name),
                                   namespace=str(meta.get("namespace") or sandbox.namespace),
                                   pod_uid=state.uid)
        except CNIError as exc:
            log.warning("CNI DEL of sandbox %s (pod %s) failed: %s", sandbox.id, state.key, exc)
    with contextlib.suppress(RuntimeFailure):
        await parts.runtime.remove_sandbox(sandbox.id)
    if state.sandbox is sandbox or (state.sandbox is not None and
                                    state.sandbox.id == sandbox.id):
        state.sandbox = None
