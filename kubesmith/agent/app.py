"""`kubesmith agent`: wires the node agent's parts together and runs them.

Start-up order matters and each step says so in the log: credentials (bootstrapping a
client certificate when needed), the Node (so the API knows us before pods arrive), the
pod CIDR from the node IPAM controller (the default CNI network needs it), then the pod
manager (which first re-adopts what the runtime still runs) and the streaming server.
Stopping the agent leaves containers running: a restarted agent adopts them.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from pathlib import Path

from kubesmith.agent.cni import CNI
from kubesmith.agent.images import ImageStore
from kubesmith.agent.memory import trim_heap_periodically
from kubesmith.agent.node.bootstrap import (
    CertificateOptions,
    NodeCertificates,
    reload_client_certificate,
)
from kubesmith.agent.node.host import HostProbe, primary_address
from kubesmith.agent.node.registration import NodeOptions, NodeRegistration, default_node_name
from kubesmith.agent.options import AgentOptions
from kubesmith.agent.pods.context import PodConfig
from kubesmith.agent.pods.manager import PodManager
from kubesmith.agent.runtime.runtime import Runtime
from kubesmith.agent.server.server import AgentServer
from kubesmith.agent.streaming import AgentStreams
from kubesmith.agent.tls import ensure_self_signed
from kubesmith.agent.volumes import VolumeManager
from kubesmith.agent.volumes.mounts import make_rshared
from kubesmith.client import ApiError, Client
from kubesmith.client.events import EventRecorder
from kubesmith.client.rest import NODES

log = logging.getLogger(__name__)

#: How often the agent checks the Node's pod CIDR and runs image garbage collection.
POD_CIDR_POLL = 2.0
IMAGE_GC_PERIOD = 300.0


class Agent:
    """The running agent's parts (tests reach into them)."""

    def __init__(self, options: AgentOptions) -> None:
        self.options = options
        self.paths = options.paths
        self.node_name = options.node_name or default_node_name()
        self.started = asyncio.Event()
        self.server: AgentServer | None = None
        self.pods: PodManager | None = None

    async def run(self) -> None:
        opts, paths = self.options, self.paths
        began = time.monotonic()
        await asyncio.to_thread(paths.ensure)
        # Bidirectional mount propagation needs the agent's root to be a shared mount.
        await asyncio.to_thread(make_rshared, paths.root)
        cert_dir = paths.root / "pki"
        kubeconfig = opts.kubeconfig or (cert_dir / "kubelet.kubeconfig")
        certs = NodeCertificates(CertificateOptions(
            self.node_name, kubeconfig=kubeconfig, cert_dir=cert_dir,
            bootstrap_kubeconfig=opts.bootstrap_kubeconfig))
        log.info("agent %s: credentials", self.node_name)
        kubeconfig = await certs.ensure()
        client = Client.from_kubeconfig(str(kubeconfig), user_agent="kubelet")
        recorder = EventRecorder(client, "kubelet", host=self.node_name)
        images = ImageStore(paths.images, insecure_registries=opts.insecure_registries)
        runtime = Runtime(paths, runc=opts.runc, conmon=opts.conmon)
        cni = CNI(conf_dir=opts.cni_conf_dir, bin_dirs=opts.cni_bin_dirs,
                  cache_dir=paths.cni_cache, bridge=opts.default_network_bridge)
        volumes = VolumeManager(paths, client, node_name=self.node_name)
        node_ip = opts.node_ip or await asyncio.to_thread(primary_address, self.node_name)

        def readiness() -> list[str]:
            problem = cni.status()
            if problem is None:
                return []
            return ["container runtime network not ready: NetworkReady=false "
                    "reason:NetworkPluginNotReady message:Network plugin returns error: "
                    f"{problem}"]

        registration = NodeRegistration(
            client, NodeOptions(
                name=self.node_name, node_ip=node_ip, labels=opts.node_labels,
                taints=opts.register_with_taints, port=opts.port, max_pods=opts.max_pods,
                status_update_interval=opts.node_status_update_frequency,
                lease_duration_seconds=opts.node_lease_duration_seconds),
            HostProbe(paths.root),
            images=lambda: [([*i.references, *i.repo_digests], i.size) for i in images.list()],
            readiness=readiness, recorder=recorder)
        self.pods = PodManager(
            client, paths, _pod_config(opts, self.node_name, node_ip),
            images=images, runtime=runtime, cni=cni, volumes=volumes)
        if opts.tls_cert_file is not None and opts.tls_private_key_file is not None:
            cert, key = opts.tls_cert_file, opts.tls_private_key_file
        else:
            cert, key = await asyncio.to_thread(ensure_self_signed, cert_dir, self.node_name,
                                                [node_ip])
        client_ca = opts.client_ca_file or _write_ca(cert_dir, client.config.ca_pem)
        streams = AgentStreams(self.pods, runtime, paths)
        self.server = AgentServer(runtime_lookup=streams, log_dir_lookup=streams,
                                  client_ca=client_ca, cert=cert, key=key)
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(registration.run(), name="node-registration")
                group.create_task(certs.run_rotation(
                    lambda path: reload_client_certificate(client, path)),
                    name="certificate-rotation")
                await registration.registered.wait()
                log.info("agent %s: node registered (InternalIP %s)", self.node_name, node_ip)
                group.create_task(self._follow_pod_cidr(client, cni, registration),
                                  name="pod-cidr")
                await self.server.start(opts.address, opts.port)
                log.info("agent %s: serving logs/exec/port-forward on %s:%d", self.node_name,
                         opts.address, self.server.port)
                group.create_task(self.pods.run(), name="pods")
                await self.pods.wait_ready()
                group.create_task(self._image_gc(images), name="image-gc")
                group.create_task(trim_heap_periodically(), name="heap-trim")
                log.info("agent %s: ready in %.1f s", self.node_name,
                         time.monotonic() - began)
                self.started.set()
        finally:
            with contextlib.suppress(Exception):
                await self.server.stop()
            try:
                # Re-raises the agent's own cancellation (a SIGTERM) once its writers
                # stopped: the client must still be closed after it.
                await recorder.close()
            finally:
                runtime.close()
                await client.close()

    async def _follow_pod_cidr(self, client: Client, cni: CNI,
                               registration: NodeRegistration) -> None:
        """Give the default CNI network the Node's pod CIDR once the node IPAM controller
        assigned it (and again if it changes); until then the node reports NotReady."""
        current: list[str] = []
        waited = time.monotonic()
        while True:
            try:
                node = await client.get(NODES, self.node_name)
            except ApiError as exc:
                log.warning("agent %s: reading the Node failed: %s", self.node_name, exc)
                node = {}
            spec = node.get("spec") or {}
            cidrs = list(spec.get("podCIDRs") or ([spec["podCIDR"]] if spec.get("podCIDR")
                                                  else []))
            if cidrs and cidrs != current:
                current = cidrs
                cni.set_pod_cidrs(cidrs)
                written = await asyncio.to_thread(cni.write_default_config)
                log.info("agent %s: pod CIDR %s (network config %s)", self.node_name,
                         ",".join(cidrs), written or "provided by the network add-on")
                registration.poke()
            elif not cidrs and time.monotonic() - waited > 30:
                log.warning("agent %s: still no spec.podCIDR after 30 s — is the node IPAM "
                            "controller running with --allocate-node-cidrs?", self.node_name)
                waited = time.monotonic()
            await asyncio.sleep(POD_CIDR_POLL if not current else 10 * POD_CIDR_POLL)

    async def _image_gc(self, images: ImageStore) -> None:
        assert self.pods is not None
        while True:
            await asyncio.sleep(IMAGE_GC_PERIOD)
            try:
                removed = await asyncio.to_thread(
                    images.garbage_collect, await self.pods.images_in_use(),
                    self.options.image_gc_high_threshold, self.options.image_gc_low_threshold)
            except Exception:  # a failed pass must not stop the agent
                log.exception("agent %s: image garbage collection failed", self.node_name)
                continue
            if removed:
                log.info("agent %s: image GC removed %s", self.node_name, ", ".join(removed))


def _pod_config(opts: AgentOptions, node_name: str, node_ip: str) -> PodConfig:
    config = PodConfig(node_name=node_name, node_ips=(node_ip,),
                       cluster_dns=tuple(opts.cluster_dns), cluster_domain=opts.cluster_domain)
    if opts.sync_frequency is not None:
        config = dataclasses.replace(config, resync_seconds=opts.sync_frequency,
                                     volume_refresh_seconds=opts.sync_frequency)
    return config


def _write_ca(cert_dir: Path, ca_pem: str | None) -> Path:
    """The cluster CA from the kubeconfig, as a file the TLS context can load."""
    if not ca_pem:
        raise SystemExit("kubesmith agent: the kubeconfig has no certificate-authority; "
                         "pass --client-ca-file")
    path = cert_dir / "cluster-ca.crt"
    path.write_text(ca_pem)
    return path


async def run_agent(options: AgentOptions, agent: Agent | None = None) -> None:
    await (agent or Agent(options)).run()
