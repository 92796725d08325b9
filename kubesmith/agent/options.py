"""What `kubesmith agent` is told on its command line, with upstream kubelet defaults."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubesmith.agent.paths import AgentPaths

DEFAULT_PORT = 10250
DEFAULT_CLUSTER_DNS = "10.96.0.10"
DEFAULT_CLUSTER_DOMAIN = "cluster.local"


@dataclass
class AgentOptions:
    kubeconfig: Path | None = None
    # Joining with a bootstrap token: a kubeconfig holding only the token; the agent
    # requests its client certificate through a CertificateSigningRequest and writes
    # the resulting kubeconfig to `kubeconfig`.
    bootstrap_kubeconfig: Path | None = None
    node_name: str = ""
    node_ip: str = ""
    node_labels: dict[str, str] = field(default_factory=dict)
    register_with_taints: list[dict[str, Any]] = field(default_factory=list)
    paths: AgentPaths = field(default_factory=AgentPaths)
    port: int = DEFAULT_PORT
    address: str = "0.0.0.0"
    cluster_dns: list[str] = field(default_factory=lambda: [DEFAULT_CLUSTER_DNS])
    cluster_domain: str = DEFAULT_CLUSTER_DOMAIN
    max_pods: int = 110
    cni_conf_dir: Path = Path("/etc/cni/net.d")
    cni_bin_dirs: tuple[Path, ...] = (Path("/opt/cni/bin"), Path("/usr/lib/cni"))
    # The bridge of the built-in default network (used when no add-on wrote a conflist).
    default_network_bridge: str = "cni0"
    runc: str = "runc"
    conmon: str = "conmon"
    insecure_registries: tuple[str, ...] = ()
    image_gc_high_threshold: int = 85
    image_gc_low_threshold: int = 80
    node_status_update_frequency: float = 10.0
    # [--sync-frequency] The longest pause between two syncs of a pod and the volume
    # refresh period; None keeps PodConfig's defaults.
    sync_frequency: float | None = None
    node_lease_duration_seconds: int = 40
    # Where the agent's serving certificate and key live (self-signed when absent).
    tls_cert_file: Path | None = None
    tls_private_key_file: Path | None = None
    # The CA that signs the API server's client certificate for logs/exec/port-forward.
    client_ca_file: Path | None = None
