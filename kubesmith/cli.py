"""The ``kubesmith`` command.

``kubesmith server`` runs the API server (and, as the other components land, the
controller manager and scheduler in the same process, k3s-style).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import logging
import os
import signal
import sys
from pathlib import Path

from kubesmith import __version__


def _server_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("server", help="run the Kubernetes API server",
                       description="Serve the Kubernetes API over HTTPS with the embedded "
                       "SQLite datastore (default) or etcd.")
    p.add_argument("--data-dir", type=Path, default=Path("/var/lib/kubesmith"),
                   help="state directory: PKI, admin.kubeconfig, the SQLite database "
                   "(default: %(default)s)")
    p.add_argument("--datastore", default="",
                   help="datastore URL: sqlite:///path/state.db (default: under --data-dir), "
                   "etcd://h1:2379,h2:2379 or etcds://h1:2379?ca=..&cert=..&key=..")
    p.add_argument("--bind-address", default="127.0.0.1",
                   help="address to listen on (default: %(default)s)")
    p.add_argument("--secure-port", type=int, default=6443,
                   help="HTTPS port (default: %(default)s)")
    p.add_argument("--tls-san", action="append", default=[], metavar="NAME",
                   help="extra subject alternative name for the serving certificate "
                   "(repeatable)")
    p.add_argument("--advertise-address", default="",
                   help="address written into admin.kubeconfig (default: the bind address, "
                   "or 127.0.0.1 when binding to all addresses)")
    p.add_argument("--token-auth-file", type=Path, default=None, metavar="PATH",
                   help="static bearer tokens, CSV lines token,user,uid[,\"group1,group2\"] "
                   "(mode 0600)")
    p.add_argument("--audit-policy-file", default="", metavar="PATH",
                   help="audit.k8s.io/v1 Policy; with --audit-log-path enables the audit log")
    p.add_argument("--audit-log-path", default="", metavar="PATH",
                   help="audit log file (JSON lines, 0600; '-' for stdout)")
    p.add_argument("--audit-log-maxsize", type=int, default=0, metavar="MB",
                   help="rotate the audit log at this size (default 100)")
    p.add_argument("--audit-log-maxbackup", type=int, default=0, metavar="N",
                   help="rotated audit logs to keep (default: all)")
    p.add_argument("--audit-log-maxage", type=int, default=0, metavar="DAYS",
                   help="days to keep rotated audit logs (default: forever)")
    p.add_argument("--encryption-provider-config", type=Path, default=None, metavar="PATH",
                   help="EncryptionConfiguration (apiserver.config.k8s.io/v1) for encryption "
                   "at rest: aescbc, aesgcm or secretbox keys per resource")
    p.add_argument("--service-cluster-ip-range", default="10.96.0.0/12",
                   help="CIDR ClusterIPs are allocated from (default: %(default)s)")
    p.add_argument("--service-node-port-range", default="30000-32767",
                   help="port range NodePorts are allocated from (default: %(default)s)")
    p.add_argument("--ready-file", type=Path, default=None,
                   help="write this file once the server accepts requests")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kubesmith", description="kubesmith control plane")
    p.add_argument("--version", action="version", version=f"kubesmith {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True)
    _server_parser(sub)
    return p


def _run_server(args: argparse.Namespace) -> int:
    from kubesmith.apiserver.app import ServerConfig, serve

    if not 0 < args.secure_port < 65536:
        print(f"kubesmith server: --secure-port {args.secure_port} is not a port number "
              "(use 1-65535)", file=sys.stderr)
        return 2
    try:
        low_text, _, high_text = args.service_node_port_range.partition("-")
        node_ports = (int(low_text), int(high_text))
        if not 0 < node_ports[0] <= node_ports[1] < 65536:
            raise ValueError
    except ValueError:
        print(f"kubesmith server: --service-node-port-range {args.service_node_port_range!r}"
              " is not a port range (use LOW-HIGH, e.g. 30000-32767)", file=sys.stderr)
        return 2
    try:
        ipaddress.ip_network(args.service_cluster_ip_range, strict=True)
    except ValueError as exc:
        print(f"kubesmith server: --service-cluster-ip-range: {exc} (use a CIDR such as "
              "10.96.0.0/12)", file=sys.stderr)
        return 2
    encryption = None
    if args.encryption_provider_config is not None:
        from kubesmith.apiserver.app import load_encryption_config

        try:
            encryption = load_encryption_config(args.encryption_provider_config)
        except (OSError, ValueError) as exc:
            print(f"kubesmith server: --encryption-provider-config: {exc}", file=sys.stderr)
            return 2
    config = ServerConfig(data_dir=args.data_dir, datastore=args.datastore,
                          bind_address=args.bind_address, secure_port=args.secure_port,
                          tls_sans=args.tls_san, advertise_address=args.advertise_address,
                          service_cluster_ip_range=args.service_cluster_ip_range,
                          service_node_port_range=node_ports,
                          token_auth_file=args.token_auth_file, encryption=encryption,
                          audit_policy_file=args.audit_policy_file,
                          audit_log_path=args.audit_log_path,
                          audit_log_maxsize=args.audit_log_maxsize,
                          audit_log_maxbackup=args.audit_log_maxbackup,
                          audit_log_maxage=args.audit_log_maxage)

    controllers: list[asyncio.Task[None]] = []

    def ready(kubeconfig: Path) -> None:
        # The in-process controllers (k3s-style) talk to the server over HTTPS with the
        # controller-manager's own identity, exactly as a separate process would.
        from kubesmith.controllers.serviceaccounts import run_serviceaccounts_controller

        controllers.append(asyncio.get_running_loop().create_task(
            run_serviceaccounts_controller(
                str(config.data_dir / "controller-manager.kubeconfig")),
            name="serviceaccounts-controller"))
        print(f"kubesmith server ready: export KUBECONFIG={kubeconfig}", flush=True)
        if args.ready_file:
            args.ready_file.write_text(str(os.getpid()))

    async def main() -> None:
        task = asyncio.create_task(serve(config, ready=ready))
        loop = asyncio.get_running_loop()

        def stop() -> None:
            for controller in controllers:
                controller.cancel()
            task.cancel()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop is a dependency; asyncio still works
        pass
    try:
        asyncio.run(main())
    except OSError as exc:
        print(f"kubesmith server: cannot listen on {args.bind_address}:{args.secure_port}: "
              f"{exc.strerror} (is another server running? pick another --secure-port)",
              file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"kubesmith server: {exc}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "server":
        return _run_server(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
