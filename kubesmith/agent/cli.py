"""``kubesmith agent``: command-line flags (the kubelet's names) and their checks."""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path
from typing import Any

from kubesmith.agent.options import DEFAULT_CLUSTER_DNS, DEFAULT_PORT, AgentOptions
from kubesmith.agent.paths import DEFAULT_LOG, DEFAULT_ROOT, DEFAULT_RUN, AgentPaths


def add_agent_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser],
                     list_of: Any, parse_label: Any, parse_taint: Any,
                     duration: Any) -> None:
    p = sub.add_parser(
        "agent", help="run the node agent (kubelet): real pods in OCI containers",
        description="Register this host as a Node and run the pods scheduled to it with "
        "runc, conmon and CNI; serve logs, exec, attach and port-forward on --port. "
        "Needs root.")
    p.add_argument("--kubeconfig", type=Path, default=None,
                   help="the node's kubeconfig (identity system:node:<name>); written here "
                   "after a bootstrap (default: <root-dir>/pki/kubelet.kubeconfig)")
    p.add_argument("--bootstrap-kubeconfig", type=Path, default=None,
                   help="a kubeconfig with a bootstrap token: the agent requests its client "
                   "certificate with a CertificateSigningRequest")
    p.add_argument("--node-name", default="", help="default: the hostname")
    p.add_argument("--node-ip", default="", help="the node's InternalIP (default: the "
                   "address the hostname resolves to, or the default route's)")
    p.add_argument("--node-labels", type=list_of(parse_label), default=[],
                   metavar="KEY=VALUE,...")
    p.add_argument("--register-with-taints", type=list_of(parse_taint), default=[],
                   metavar="KEY[=VALUE]:EFFECT,...")
    p.add_argument("--root-dir", type=Path, default=DEFAULT_ROOT,
                   help="images, pod volumes, bundles (default: %(default)s)")
    p.add_argument("--run-dir", type=Path, default=DEFAULT_RUN,
                   help="runtime state that must not survive a reboot (default: %(default)s)")
    p.add_argument("--pod-log-dir", type=Path, default=DEFAULT_LOG,
                   help="container logs (default: %(default)s)")
    p.add_argument("--address", default="0.0.0.0", help="serve on (default: %(default)s)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT,
                   help="logs/exec/port-forward port (default: %(default)s)")
    p.add_argument("--cluster-dns", default=DEFAULT_CLUSTER_DNS,
                   help="comma-separated DNS server addresses for pods "
                   "(default: %(default)s)")
    p.add_argument("--cluster-domain", default="cluster.local")
    p.add_argument("--max-pods", type=int, default=110)
    p.add_argument("--cni-conf-dir", type=Path, default=Path("/etc/cni/net.d"))
    p.add_argument("--cni-bin-dir", default="/opt/cni/bin,/usr/lib/cni",
                   help="comma-separated (default: %(default)s)")
    p.add_argument("--default-network-bridge", default="cni0",
                   help="bridge of the built-in pod network, used when --cni-conf-dir holds "
                   "no configuration (default: %(default)s)")
    p.add_argument("--runc", default="runc")
    p.add_argument("--conmon", default="conmon")
    p.add_argument("--insecure-registry", action="append", default=[], metavar="HOST[:PORT]",
                   help="pull from this registry over plain HTTP (loopback always is)")
    p.add_argument("--tls-cert-file", type=Path, default=None)
    p.add_argument("--tls-private-key-file", type=Path, default=None)
    p.add_argument("--client-ca-file", type=Path, default=None,
                   help="CA for the API server's client certificate (default: the "
                   "kubeconfig's CA)")
    p.add_argument("--node-status-update-frequency", type=duration, default=10.0)
    p.add_argument("--sync-frequency", type=duration, default=None, metavar="DURATION",
                   help="longest time between two syncs of a pod, which is also how often "
                   "configMap, secret, downwardAPI and projected volumes are refreshed "
                   "(default: 10s for syncs, 30s for volume refreshes)")
    p.add_argument("--node-lease-duration-seconds", type=int, default=40)
    p.add_argument("--image-gc-high-threshold", type=int, default=85, metavar="PERCENT")
    p.add_argument("--image-gc-low-threshold", type=int, default=80, metavar="PERCENT")


def agent_options(args: argparse.Namespace) -> AgentOptions | str:
    """The options, or a message naming the problem and the fix."""
    if os.geteuid() != 0:
        return "kubesmith agent: must run as root (it creates namespaces, mounts, cgroups)"
    for tool in (args.runc, args.conmon):
        if shutil.which(tool) is None:
            return (f"kubesmith agent: {tool!r} not found on PATH; install it "
                    "(Debian: apt-get install runc conmon) or pass --runc/--conmon")
    if args.kubeconfig is None and args.bootstrap_kubeconfig is None and \
            not (args.root_dir / "pki" / "kubelet.kubeconfig").exists():
        return ("kubesmith agent: no credentials: pass --kubeconfig (a node kubeconfig) or "
                "--bootstrap-kubeconfig (a bootstrap token)")
    for flag, path in (("--kubeconfig", args.kubeconfig),
                       ("--bootstrap-kubeconfig", args.bootstrap_kubeconfig)):
        if path is not None and not path.exists() and not (
                flag == "--kubeconfig" and args.bootstrap_kubeconfig is not None):
            return f"kubesmith agent: {flag} {path}: no such file"
    if not 0 <= args.image_gc_low_threshold < args.image_gc_high_threshold <= 100:
        return ("kubesmith agent: need 0 <= --image-gc-low-threshold < "
                "--image-gc-high-threshold <= 100")
    return AgentOptions(
        kubeconfig=args.kubeconfig, bootstrap_kubeconfig=args.bootstrap_kubeconfig,
        node_name=args.node_name, node_ip=args.node_ip, node_labels=dict(args.node_labels),
        register_with_taints=list(args.register_with_taints),
        paths=AgentPaths(root=args.root_dir, run=args.run_dir, log=args.pod_log_dir),
        port=args.port, address=args.address,
        cluster_dns=[s.strip() for s in args.cluster_dns.split(",") if s.strip()],
        cluster_domain=args.cluster_domain, max_pods=args.max_pods,
        cni_conf_dir=args.cni_conf_dir,
        cni_bin_dirs=tuple(Path(d) for d in args.cni_bin_dir.split(",") if d),
        default_network_bridge=args.default_network_bridge,
        runc=args.runc, conmon=args.conmon,
        insecure_registries=tuple(args.insecure_registry),
        image_gc_high_threshold=args.image_gc_high_threshold,
        image_gc_low_threshold=args.image_gc_low_threshold,
        node_status_update_frequency=args.node_status_update_frequency,
        sync_frequency=args.sync_frequency,
        node_lease_duration_seconds=args.node_lease_duration_seconds,
        tls_cert_file=args.tls_cert_file, tls_private_key_file=args.tls_private_key_file,
        client_ca_file=args.client_ca_file)


def add_reset_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "agent-reset", help="remove every pod the agent ran on this host",
        description="Stop and remove all containers, pod networks (CNI DEL), pinned "
        "namespaces, volumes, root filesystems and cgroups the agent left on this host "
        "(stopping the agent leaves pods running so a restart adopts them). Run it after "
        "stopping the agent, with the agent's directory flags.")
    p.add_argument("--root-dir", type=Path, default=DEFAULT_ROOT)
    p.add_argument("--run-dir", type=Path, default=DEFAULT_RUN)
    p.add_argument("--pod-log-dir", type=Path, default=DEFAULT_LOG)
    p.add_argument("--cni-conf-dir", type=Path, default=Path("/etc/cni/net.d"))
    p.add_argument("--cni-bin-dir", default="/opt/cni/bin,/usr/lib/cni")
    p.add_argument("--default-network-bridge", default="cni0")
    p.add_argument("--remove-images", action="store_true", help="also remove the image store")


def reset_options(args: argparse.Namespace) -> AgentOptions | str:
    if os.geteuid() != 0:
        return "kubesmith agent-reset: must run as root"
    return AgentOptions(
        paths=AgentPaths(root=args.root_dir, run=args.run_dir, log=args.pod_log_dir),
        cni_conf_dir=args.cni_conf_dir,
        cni_bin_dirs=tuple(Path(d) for d in args.cni_bin_dir.split(",") if d),
        default_network_bridge=args.default_network_bridge)
