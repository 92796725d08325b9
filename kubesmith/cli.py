"""The ``kubesmith`` command.

``kubesmith server`` runs the API server with the controller manager and the scheduler in
the same process (k3s-style); ``kubesmith controller-manager`` and ``kubesmith scheduler``
run them on their own against any API server.
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
from typing import Any

from kubesmith import __version__


def duration(text: str) -> float:
    """A Go-style duration (``40s``, ``5m``, ``1h30m``, ``500ms``) or plain seconds."""
    units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    try:
        return float(text)
    except ValueError:
        pass
    total, number, i = 0.0, "", 0
    while i < len(text):
        ch = text[i]
        if ch.isdigit() or ch == ".":
            number += ch
            i += 1
            continue
        unit = "ms" if text.startswith("ms", i) else ch
        if unit not in units or not number:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a duration (use e.g. 40s, 5m, 1h)")
        total += float(number) * units[unit]
        number = ""
        i += len(unit)
    if number:
        raise argparse.ArgumentTypeError(f"{text!r}: a duration needs a unit (s, m, h)")
    return total


def _controller_flags(p: argparse.ArgumentParser) -> None:
    """kube-controller-manager's flags that matter here (shared by ``server``)."""
    g = p.add_argument_group("controller manager")
    g.add_argument("--controllers", default="*",
                   help="comma-separated controllers to run: '*' for all, 'name' to add, "
                   "'-name' to disable (default: %(default)s)")
    g.add_argument("--cluster-cidr", default="10.244.0.0/16",
                   help="pod network; each node gets a --node-cidr-mask-size slice of it "
                   "(default: %(default)s)")
    g.add_argument("--node-cidr-mask-size", type=int, default=24,
                   help="prefix length of each node's podCIDR (default: %(default)s)")
    g.add_argument("--allocate-node-cidrs", default="true", choices=("true", "false"),
                   help="give nodes spec.podCIDR from --cluster-cidr (default: %(default)s)")
    g.add_argument("--node-monitor-grace-period", type=duration, default=40.0,
                   metavar="DURATION", help="a node whose Lease is older is marked Unknown "
                   "and tainted unreachable (default: 40s)")
    g.add_argument("--node-monitor-period", type=duration, default=5.0, metavar="DURATION",
                   help="how often node health is checked (default: 5s)")
    g.add_argument("--default-not-ready-toleration-seconds", type=int, default=300,
                   help="tolerationSeconds added to pods for the not-ready taint "
                   "(default: %(default)s)")
    g.add_argument("--default-unreachable-toleration-seconds", type=int, default=300,
                   help="tolerationSeconds added to pods for the unreachable taint "
                   "(default: %(default)s)")
    g.add_argument("--terminated-pod-gc-threshold", type=int, default=12500,
                   help="finished pods kept before the oldest are deleted "
                   "(default: %(default)s)")
    g.add_argument("--horizontal-pod-autoscaler-sync-period", type=duration, default=15.0,
                   metavar="DURATION", help="HPA evaluation period (default: 15s)")


def _controller_options(args: argparse.Namespace) -> Any:
    from kubesmith.controllers.base import ControllerOptions

    return ControllerOptions(
        node_monitor_grace_period=args.node_monitor_grace_period,
        node_monitor_period=args.node_monitor_period,
        default_not_ready_toleration_seconds=args.default_not_ready_toleration_seconds,
        default_unreachable_toleration_seconds=args.default_unreachable_toleration_seconds,
        allocate_node_cidrs=args.allocate_node_cidrs == "true",
        cluster_cidr=args.cluster_cidr, node_cidr_mask_size=args.node_cidr_mask_size,
        terminated_pod_gc_threshold=args.terminated_pod_gc_threshold,
        hpa_sync_period=args.horizontal_pod_autoscaler_sync_period)


def _check_controller_flags(command: str, args: argparse.Namespace) -> str | None:
    """An error message for bad controller flags, or None."""
    from kubesmith.controllers.manager import UnknownControllerError, enabled_controllers

    try:
        enabled_controllers(args.controllers.split(","))
    except UnknownControllerError as exc:
        return f"kubesmith {command}: --controllers: {exc}"
    try:
        net = ipaddress.ip_network(args.cluster_cidr, strict=True)
    except ValueError as exc:
        return (f"kubesmith {command}: --cluster-cidr: {exc} (use a CIDR such as "
                "10.244.0.0/16)")
    if not net.prefixlen <= args.node_cidr_mask_size <= net.max_prefixlen:
        return (f"kubesmith {command}: --node-cidr-mask-size {args.node_cidr_mask_size} "
                f"must be between the cluster CIDR's prefix ({net.prefixlen}) and "
                f"{net.max_prefixlen}")
    return None


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
    p.add_argument("--service-account-legacy-tokens", action="store_true",
                   help="also accept long-lived Secret-based ServiceAccount tokens")
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
    p.add_argument("--disable-controller-manager", action="store_true",
                   help="do not run the controller manager in this process")
    p.add_argument("--disable-scheduler", action="store_true",
                   help="do not run the scheduler in this process")
    _controller_flags(p)


def _controller_manager_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]
                               ) -> None:
    p = _component_parser(sub, "controller-manager", "run the controller manager",
                          "Run the controllers (Deployments, ReplicaSets, Jobs, garbage "
                          "collection, nodes...) against an API server.",
                          "controller-manager.kubeconfig", "kube-controller-manager")
    p.add_argument("--service-account-private-key-file", type=Path, default=None,
                   metavar="PATH", help="ServiceAccount signing key: fill in legacy "
                   "kubernetes.io/service-account-token Secrets (e.g. <data-dir>/pki/sa.key)")
    _controller_flags(p)


def _component_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str,
                      summary: str, description: str, kubeconfig: str, lease: str
                      ) -> argparse.ArgumentParser:
    """A component's subcommand with what every leader-elected component takes: its
    kubeconfig and the leader election flags."""
    p = sub.add_parser(name, help=summary, description=description)
    p.add_argument("--kubeconfig", required=True, type=Path,
                   help=f"kubeconfig of the component's identity (e.g. <data-dir>/{kubeconfig})")
    p.add_argument("--leader-elect", default="true", choices=("true", "false"),
                   help=f"campaign for the kube-system/{lease} Lease so only one replica "
                   "acts (default: %(default)s)")
    p.add_argument("--leader-elect-lease-duration", type=duration, default=15.0,
                   metavar="DURATION", help="how long a standby waits after the leader's "
                   "last renewal before taking over (default: 15s)")
    p.add_argument("--leader-elect-renew-deadline", type=duration, default=10.0,
                   metavar="DURATION", help="the leader gives up if it cannot renew for this "
                   "long (default: 10s)")
    p.add_argument("--leader-elect-retry-period", type=duration, default=2.0,
                   metavar="DURATION", help="between acquire/renew attempts (default: 2s)")
    return p


def _leader_election_error(command: str, args: argparse.Namespace) -> str | None:
    if not args.leader_elect_retry_period < args.leader_elect_renew_deadline < \
            args.leader_elect_lease_duration:
        return (f"kubesmith {command}: need --leader-elect-retry-period < "
                "--leader-elect-renew-deadline < --leader-elect-lease-duration")
    return None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kubesmith", description="kubesmith control plane")
    p.add_argument("--version", action="version", version=f"kubesmith {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True)
    _server_parser(sub)
    _controller_manager_parser(sub)
    _hollow_nodes_parser(sub)
    _scheduler_parser(sub)
    from kubesmith.agent.cli import add_agent_parser, add_reset_parser

    add_agent_parser(sub, _list_of, _parse_label, _parse_taint, duration)
    add_reset_parser(sub)
    # `images` has its own sub-commands and flags (kubesmith/agent/images/cli.py); it is
    # listed here so `kubesmith --help` shows it, and dispatched before parsing.
    sub.add_parser("images", help="manage the node's image store (import, list, pull, "
                   "remove, gc)", add_help=False)
    return p


def _scheduler_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = _component_parser(sub, "scheduler", "run the scheduler",
                          "Assign pending pods to nodes (kube-scheduler's plugins, queue and "
                          "preemption) against an API server.", "scheduler.kubeconfig",
                          "kube-scheduler")
    p.add_argument("--scheduler-name", default="default-scheduler",
                   help="schedule pods whose spec.schedulerName is this "
                   "(default: %(default)s)")
    p.add_argument("--percentage-of-nodes-to-score", type=int, default=None,
                   metavar="PERCENT", help="stop filtering after this share of nodes fit "
                   "(default: adaptive, as upstream)")


def _run_scheduler(args: argparse.Namespace) -> int:
    from kubesmith.scheduler.app import run_scheduler

    pct = args.percentage_of_nodes_to_score
    if pct is not None and not 0 <= pct <= 100:
        print("kubesmith scheduler: --percentage-of-nodes-to-score must be 0-100 "
              "(0 = adaptive)", file=sys.stderr)
        return 2
    if (problem := _leader_election_error("scheduler", args)) is not None:
        print(problem, file=sys.stderr)
        return 2
    if (problem := _kubeconfig_error("scheduler", args.kubeconfig)) is not None:
        print(problem, file=sys.stderr)
        return 2
    _run_until_signalled(run_scheduler(str(args.kubeconfig),
                                       leader_elect=args.leader_elect == "true",
                                       scheduler_name=args.scheduler_name,
                                       percentage_of_nodes_to_score=pct or None,
                                       lease_duration=args.leader_elect_lease_duration,
                                       renew_deadline=args.leader_elect_renew_deadline,
                                       retry_period=args.leader_elect_retry_period))
    return 0


def _kubeconfig_error(command: str, path: Path) -> str | None:
    """Why the component's ``--kubeconfig`` cannot be used (None when it can): checked
    before starting, so the error names the flag instead of surfacing from a retry loop."""
    from kubesmith.client import KubeconfigError, load_kubeconfig

    try:
        load_kubeconfig(path).close()
    except KubeconfigError as exc:
        return f"kubesmith {command}: --kubeconfig: {exc}"
    return None


def _parse_label(text: str) -> tuple[str, str]:
    # Imported when used: the hollow package pulls in the client stack, which no other
    # command's argument parsing needs.
    from kubesmith.hollow.options import parse_label

    return parse_label(text)


def _parse_taint(text: str) -> dict[str, Any]:
    from kubesmith.hollow.options import parse_taint

    return parse_taint(text)


def _list_of(parse: Any) -> Any:
    """An argparse type for comma-separated items, each parsed by ``parse`` (whose
    ValueError becomes the usage error)."""

    def convert(text: str) -> list[Any]:
        try:
            return [parse(item.strip()) for item in text.split(",") if item.strip()]
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return convert


def _hollow_nodes_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("hollow-nodes", help="run simulated nodes (KWOK-like)",
                       description="Register N simulated nodes that renew their Leases and "
                       "run the pods bound to them without containers: pods become "
                       "Running/Ready, finite pods (restartPolicy Never/OnFailure) succeed.")
    p.add_argument("--kubeconfig", required=True, type=Path,
                   help="kubeconfig to act with (e.g. <data-dir>/admin.kubeconfig)")
    p.add_argument("--count", type=int, required=True, help="how many nodes")
    p.add_argument("--name-prefix", default="hollow-node-",
                   help="node names are <prefix><index> (default: %(default)s)")
    p.add_argument("--start-index", type=int, default=0,
                   help="first index, to run several processes side by side")
    p.add_argument("--cpu", default="8", help="capacity per node (default: %(default)s)")
    p.add_argument("--memory", default="32Gi", help="capacity per node (default: %(default)s)")
    p.add_argument("--pods", type=int, default=110,
                   help="pod capacity per node (default: %(default)s)")
    p.add_argument("--ephemeral-storage", default="100Gi",
                   help="capacity per node (default: %(default)s)")
    p.add_argument("--node-labels", type=_list_of(_parse_label), default=[],
                   metavar="K=V,...", help="extra labels for every node")
    p.add_argument("--register-with-taints", type=_list_of(_parse_taint), default=[],
                   metavar="KEY[=VALUE]:EFFECT,...", help="taints for every node")
    p.add_argument("--node-lease-duration-seconds", type=int, default=40,
                   help="Lease duration (default: %(default)s)")
    p.add_argument("--lease-renew-interval", type=duration, default=10.0, metavar="DURATION",
                   help="how often each Lease is renewed (default: 10s)")
    p.add_argument("--pod-ready-delay", type=duration, default=0.0, metavar="DURATION",
                   help="simulated time from start to Ready (default: 0s)")
    p.add_argument("--pod-cidr-wait", type=duration, default=2.0, metavar="DURATION",
                   help="how long a pod waits for its node's podCIDR before a fallback "
                   "address is used (default: 2s)")
    p.add_argument("--node-workers", type=int, default=50,
                   help="node registrations/renewals in flight (default: %(default)s)")
    p.add_argument("--pod-workers", type=int, default=64,
                   help="pod status writes in flight (default: %(default)s)")
    p.add_argument("--no-events", action="store_true",
                   help="do not record the nodes' Starting events")
    p.add_argument("--delete-nodes-on-exit", action="store_true",
                   help="delete the Nodes when stopping (default: leave them to expire)")


def _install_uvloop() -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop is a dependency; asyncio still works
        pass


def _run_until_signalled(coro: Any) -> None:
    """Run ``coro`` on a fresh loop; SIGINT/SIGTERM cancel it cleanly."""

    async def main() -> None:
        task = asyncio.ensure_future(coro)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    _install_uvloop()
    asyncio.run(main())


def _run_controller_manager(args: argparse.Namespace) -> int:
    from kubesmith.controllers.manager import ManagerConfig, run_controller_manager

    problem = _check_controller_flags("controller-manager", args) or \
        _leader_election_error("controller-manager", args)
    if problem is not None:
        print(problem, file=sys.stderr)
        return 2
    if (problem := _kubeconfig_error("controller-manager", args.kubeconfig)) is not None:
        print(problem, file=sys.stderr)
        return 2
    config = ManagerConfig(kubeconfig=str(args.kubeconfig),
                           controllers=args.controllers.split(","),
                           options=_controller_options(args),
                           leader_elect=args.leader_elect == "true",
                           lease_duration=args.leader_elect_lease_duration,
                           renew_deadline=args.leader_elect_renew_deadline,
                           retry_period=args.leader_elect_retry_period,
                           service_account_private_key_file=str(
                               args.service_account_private_key_file or ""))
    _run_until_signalled(run_controller_manager(config))
    return 0


def _run_hollow_nodes(args: argparse.Namespace) -> int:
    from kubesmith.hollow.app import run_hollow_nodes

    for flag, value in (("--count", args.count), ("--node-workers", args.node_workers),
                        ("--pod-workers", args.pod_workers)):
        if value < 1:
            print(f"kubesmith hollow-nodes: {flag} must be at least 1", file=sys.stderr)
            return 2
    if (problem := _kubeconfig_error("hollow-nodes", args.kubeconfig)) is not None:
        print(problem, file=sys.stderr)
        return 2
    _run_until_signalled(run_hollow_nodes(
        str(args.kubeconfig), count=args.count, name_prefix=args.name_prefix,
        start_index=args.start_index, cpu=args.cpu, memory=args.memory, pods=args.pods,
        ephemeral_storage=args.ephemeral_storage, labels=dict(args.node_labels),
        taints=args.register_with_taints,
        lease_duration_seconds=args.node_lease_duration_seconds,
        renew_interval=args.lease_renew_interval, pod_ready_delay=args.pod_ready_delay,
        pod_cidr_wait=args.pod_cidr_wait, node_workers=args.node_workers,
        pod_workers=args.pod_workers, events=not args.no_events,
        delete_nodes_on_exit=args.delete_nodes_on_exit))
    return 0


def _run_agent(args: argparse.Namespace) -> int:
    from kubesmith.agent.app import run_agent
    from kubesmith.agent.cli import agent_options

    options = agent_options(args)
    if isinstance(options, str):
        print(options, file=sys.stderr)
        return 2
    _run_until_signalled(run_agent(options))
    return 0


def _run_agent_reset(args: argparse.Namespace) -> int:
    from kubesmith.agent.cli import reset_options
    from kubesmith.agent.reset import reset_node

    options = reset_options(args)
    if isinstance(options, str):
        print(options, file=sys.stderr)
        return 2
    removed = asyncio.run(reset_node(options, remove_images=args.remove_images))
    print(f"removed {removed} pod(s) from {options.paths.root}")
    return 0


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
    if (problem := _check_controller_flags("server", args)) is not None:
        print(problem, file=sys.stderr)
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
                          service_account_legacy_tokens=args.service_account_legacy_tokens,
                          audit_policy_file=args.audit_policy_file,
                          audit_log_path=args.audit_log_path,
                          audit_log_maxsize=args.audit_log_maxsize,
                          audit_log_maxbackup=args.audit_log_maxbackup,
                          audit_log_maxage=args.audit_log_maxage)

    controllers: list[asyncio.Task[None]] = []

    from kubesmith.client.leaderelection import LeadershipLost
    from kubesmith.client.supervise import run_restarting

    def ready(kubeconfig: Path) -> None:
        # The in-process components (k3s-style) talk to the server over HTTPS with their
        # own identities, exactly as separate processes would.
        loop = asyncio.get_running_loop()
        if not args.disable_controller_manager:
            from kubesmith.controllers.manager import ManagerConfig, run_controller_manager

            manager_config = ManagerConfig(
                kubeconfig=str(config.data_dir / "controller-manager.kubeconfig"),
                controllers=args.controllers.split(","),
                options=_controller_options(args),
                service_account_private_key_file=str(config.data_dir / "pki" / "sa.key")
                if args.service_account_legacy_tokens else "")
            controllers.append(loop.create_task(run_restarting(
                "controller manager", lambda: run_controller_manager(manager_config),
                expected=(LeadershipLost,), max_delay=30.0),
                name="controller-manager"))
        if not args.disable_scheduler:
            from kubesmith.scheduler.app import run_scheduler

            kubeconfig_path = str(config.data_dir / "scheduler.kubeconfig")
            controllers.append(loop.create_task(run_restarting(
                "scheduler", lambda: run_scheduler(kubeconfig_path, leader_elect=True),
                expected=(LeadershipLost,), max_delay=30.0),
                name="scheduler"))
        print(f"kubesmith server ready: export KUBECONFIG={kubeconfig}", flush=True)
        if args.ready_file:
            args.ready_file.write_text(str(os.getpid()))

    async def main() -> None:
        task = asyncio.create_task(serve(config, ready=ready))
        loop = asyncio.get_running_loop()

        async def shutdown() -> None:
            # Components first, while the API still answers them, so they stop cleanly
            # instead of logging the server's disappearance.
            for controller in controllers:
                controller.cancel()
            if controllers:
                await asyncio.wait(controllers, timeout=10)
            task.cancel()

        stopping: list[asyncio.Task[None]] = []

        def stop() -> None:
            if not stopping:
                stopping.append(loop.create_task(shutdown()))

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    _install_uvloop()
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
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["images"]:
        from kubesmith.agent.images.cli import images_main

        return images_main(argv[1:])
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "server":
        return _run_server(args)
    if args.command == "controller-manager":
        return _run_controller_manager(args)
    if args.command == "hollow-nodes":
        return _run_hollow_nodes(args)
    if args.command == "scheduler":
        return _run_scheduler(args)
    if args.command == "agent":
        return _run_agent(args)
    if args.command == "agent-reset":
        return _run_agent_reset(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
