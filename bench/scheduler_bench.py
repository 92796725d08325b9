"""Scheduler throughput against a real API server, beside the API's own binding rate.

Run ``python bench/scheduler_bench.py`` (defaults: 5,000 nodes, 10,000 pods, the shape of
kube-scheduler's ``SchedulingBasic`` perf test: nodes with 4 CPUs, 32Gi and 110 pods, pods
requesting 100m CPU and 500Mi). ``--nodes`` / ``--pods`` make smaller runs;
``--json out.json`` writes the figures.

One run:

1. starts a real ``kubesmith server`` (as the tests start it, without its own scheduler and
   controller manager: nothing else writes pods or nodes), creates ``--nodes`` Nodes (Ready,
   with allocatable resources) and two sets of ``--pods`` pending pods from
   ``--creators`` concurrent clients: the *reference* set names a scheduler that does not
   exist, the *scheduled* set the default one;
2. **reference**: binds the reference pods directly (``POST pods/<name>/binding`` to nodes
   round-robin, ``--binders`` requests in flight on the client's lean connections, no
   decisions) — the rate the API server itself accepts bindings;
3. **scheduler**: runs kubesmith's scheduler in this process (its own informers, binding
   cycle with events, exactly what ``run_scheduler`` runs) and lets it schedule the
   scheduled set; the reference pods are already bound, so the nodes are not empty. The
   phase ends when every Scheduled Event is written too (they trail the bindings in a
   burst: the scheduler writes them off its hot path); the output says how long after the
   last binding that was, and checks every Event's wording;
4. **in-process**: the same decisions with no API at all — a fresh scheduler's framework
   and cache over the same nodes and pods, popping, deciding and assuming in a loop.

Bound pods are counted by a separate observer process watching pods (a pod counts when its
first event with ``spec.nodeName`` arrives), so the API-phase rates are what a client of
the API sees. Rates are taken from the first to the last bound pod (and, for the
scheduler, also to the last Event). CPU seconds of the server, of this process and of the
whole machine are read from /proc per phase — and for the scheduler again from the moment
its informers synced, so its initial LIST is not spread over the pods — so the output
says where the CPU went (and whether someone else was using the machine).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import json
import multiprocessing
import multiprocessing.connection
import os
import pstats
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import orjson
import uvloop

from bench._server import cpu_seconds, machine_busy_seconds, start_server, stop_server
from kubesmith.client import Client
from kubesmith.client.rest import EVENTS, NAMESPACES, NODES, PODS, SERVICEACCOUNTS
from kubesmith.scheduler import SchedulerApp
from kubesmith.scheduler.framework import CycleState
from kubesmith.scheduler.scheduler import Scheduler

NAMESPACE = "sched-bench"
REFERENCE_SCHEDULER = "bench-reference"
SCHEDULER = "default-scheduler"


def node_manifest(i: int) -> dict[str, Any]:
    """A Ready node like scheduler_perf's node-default.yaml."""
    name = f"node-{i:05d}"
    resources = {"cpu": "4", "memory": "32Gi", "pods": "110"}
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "status": {"capacity": resources, "allocatable": resources,
                       "conditions": [{"type": "Ready", "status": "True",
                                       "reason": "KubeletReady", "message": "bench"}]}}


def pod_manifest(name: str, scheduler: str) -> dict[str, Any]:
    """A pending pod like scheduler_perf's pod-default.yaml."""
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": NAMESPACE, "labels": {"app": "bench"}},
            "spec": {"schedulerName": scheduler, "automountServiceAccountToken": False,
                     "containers": [{
                "name": "pause", "image": "registry.k8s.io/pause:3.10",
                "resources": {"requests": {"cpu": "100m", "memory": "500Mi"}}}]}}


async def run_all(items: list[Any], concurrency: int, fn: Any) -> float:
    """Run ``fn(item)`` for every item with ``concurrency`` in flight; seconds taken."""
    position = 0

    async def worker() -> None:
        nonlocal position
        while position < len(items):
            item = items[position]
            position += 1
            await fn(item)

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.monotonic() - started


# -- the observer process -------------------------------------------------------------------


def _observer_main(conn: multiprocessing.connection.Connection, kubeconfig: str,
                   scheduler: str, expected: int, resource_version: str,
                   timeout: float) -> None:
    conn.send(uvloop.run(_observe(kubeconfig, scheduler, expected, resource_version,
                                  timeout)))


async def _observe(kubeconfig: str, scheduler: str, expected: int, resource_version: str,
                   limit_s: float) -> dict[str, Any]:
    """Watch pods of ``scheduler`` from ``resource_version``; the monotonic time of each
    pod's first event with a node."""
    seen: dict[str, float] = {}
    async with Client.from_kubeconfig(kubeconfig) as client:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(limit_s):
                rv = resource_version
                while len(seen) < expected:
                    async for kind, obj in client.watch(
                            PODS, NAMESPACE, resource_version=rv,
                            field_selector=f"spec.schedulerName={scheduler}"):
                        rv = obj.get("metadata", {}).get("resourceVersion") or rv
                        if kind in ("ADDED", "MODIFIED") and obj["spec"].get("nodeName"):
                            seen.setdefault(obj["metadata"]["name"], time.monotonic())
                            if len(seen) >= expected:
                                break
    times = sorted(seen.values())
    return {"bound": len(times), "first": times[0] if times else 0.0,
            "last": times[-1] if times else 0.0}


class Observer:
    """The observer process of one phase."""

    def __init__(self, kubeconfig: str, scheduler: str, expected: int,
                 resource_version: str, timeout: float) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_observer_main, daemon=True, args=(
            child, kubeconfig, scheduler, expected, resource_version, timeout))
        self.process.start()

    async def result(self) -> dict[str, Any]:
        """Wait for the observer's figures."""
        result: dict[str, Any] = await asyncio.to_thread(self.conn.recv)
        self.process.join(5)
        return result


# -- CPU accounting ---------------------------------------------------------------------------


class Cpu:
    """CPU seconds of the server, this process and the machine over a phase."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid
        self.start = self._sample()

    def _sample(self) -> tuple[float, float, float, float]:
        return (cpu_seconds(self.server_pid), time.process_time(), machine_busy_seconds(),
                time.monotonic())

    def done(self) -> dict[str, float]:
        """Seconds used since construction: server, bench, others, wall."""
        end = self._sample()
        server, bench, machine, wall = (b - a for a, b in zip(self.start, end, strict=True))
        # The observer process is small; it is counted under "others" with everyone else.
        return {"server_cpu_s": round(server, 2), "bench_cpu_s": round(bench, 2),
                "others_cpu_s": round(max(machine - server - bench, 0.0), 2),
                "wall_s": round(wall, 2)}


# -- phases -------------------------------------------------------------------------------------


async def setup(client: Client, args: argparse.Namespace) -> None:
    """Nodes and both pod sets."""
    await client.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace",
                                     "metadata": {"name": NAMESPACE}})
    # No controller manager runs: create the ServiceAccount admission requires.
    await client.create(SERVICEACCOUNTS, {"apiVersion": "v1", "kind": "ServiceAccount",
                                          "metadata": {"name": "default",
                                                       "namespace": NAMESPACE}})

    async def add_node(i: int) -> None:
        manifest = node_manifest(i)
        await client.create(NODES, manifest)
        # Status is the kubelet's to write: through the status subresource.
        await client.patch(NODES, manifest["metadata"]["name"],
                           {"status": manifest["status"]}, subresource="status")
        # Nodes start tainted not-ready (TaintNodesByCondition); no node lifecycle
        # controller runs here, so lift it as that controller would for a Ready node.
        await client.patch(NODES, manifest["metadata"]["name"], {"spec": {"taints": None}})

    took = await run_all(list(range(args.nodes)), args.creators, add_node)
    print(f"  {args.nodes} nodes in {took:.1f} s", flush=True)

    async def add_pod(item: tuple[str, str]) -> None:
        await client.create(PODS, pod_manifest(*item))

    pods = [(f"ref-{i:06d}", REFERENCE_SCHEDULER) for i in range(args.pods)] + \
        [(f"pod-{i:06d}", SCHEDULER) for i in range(args.pods)]
    took = await run_all(pods, args.creators, add_pod)
    print(f"  {len(pods)} pending pods in {took:.1f} s ({len(pods) / took:.0f}/s)",
          flush=True)


async def wait_quiet(limit_s: float, idle_share: float = 0.15) -> float:
    """Wait (at most ``limit_s``) until the whole machine used less than ``idle_share`` of
    a core over one second; returns the seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < limit_s:
        before = machine_busy_seconds()
        await asyncio.sleep(1.0)
        if machine_busy_seconds() - before < idle_share:
            break
    return round(time.monotonic() - started, 1)


async def current_rv(client: Client) -> str:
    """The resourceVersion to start watches from."""
    return (await client.list(PODS, NAMESPACE, limit=1)).resource_version


async def reference_phase(client: Client, kubeconfig: str, server_pid: int,
                          args: argparse.Namespace) -> dict[str, Any]:
    """Bind the reference pods directly."""
    observer = Observer(kubeconfig, REFERENCE_SCHEDULER, args.pods, await current_rv(client),
                        args.timeout)
    await asyncio.sleep(1.0)  # the observer's watch is open
    cpu = Cpu(server_pid)

    async def bind(i: int) -> None:
        name = f"ref-{i:06d}"
        body = {"apiVersion": "v1", "kind": "Binding",
                "metadata": {"name": name, "namespace": NAMESPACE},
                "target": {"apiVersion": "v1", "kind": "Node",
                           "name": f"node-{i % args.nodes:05d}"}}
        # The same lean requests as the scheduler's binder: the reference should cost the
        # machine no more client CPU than the scheduler's own bindings do.
        await client.lean_request("POST", PODS.path(NAMESPACE, name, "binding"),
                                  body=orjson.dumps(body))

    await run_all(list(range(args.pods)), args.binders, bind)
    seen = await observer.result()
    return {**seen, **cpu.done()}


async def scheduler_phase(client: Client, kubeconfig: str, scheduler_kubeconfig: str,
                          server_pid: int, args: argparse.Namespace) -> dict[str, Any]:
    """Let the scheduler bind the scheduled pods."""
    observer = Observer(kubeconfig, SCHEDULER, args.pods, await current_rv(client),
                        args.timeout)
    await asyncio.sleep(1.0)
    cpu = Cpu(server_pid)
    started = time.monotonic()
    spy = None
    if args.py_spy:
        # Sampling profile of this process (the scheduler) for the phase; low overhead.
        spy = await asyncio.create_subprocess_exec(
            "py-spy", "record", "-p", str(os.getpid()), "-r", "250", "-f", "raw",
            "-o", str(args.py_spy), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        await asyncio.sleep(1.0)
    profiler = cProfile.Profile() if args.profile else None
    if profiler is not None:
        profiler.enable()
    async with Client.from_kubeconfig(scheduler_kubeconfig, user_agent="kube-scheduler") \
            as sched_client:
        app = SchedulerApp(sched_client, percentage_of_nodes_to_score=args.percentage,
                           max_in_flight_binds=args.binders)
        if args.no_events:
            app.scheduler.recorder = None  # to measure what the Events cost the API
        if args.event_writers:
            app.recorder.writers = args.event_writers
        task = asyncio.create_task(app.run())
        synced = 0.0
        after_list: Cpu | None = None
        samples: list[tuple[float, float, float, float]] = []
        while not observer.conn.poll():
            if not synced and app.pods.has_synced and app.nodes.has_synced:
                synced = time.monotonic()
                after_list = Cpu(server_pid)  # CPU per pod without the initial LIST
            if synced:
                samples.append((time.monotonic(), cpu_seconds(server_pid),
                                time.process_time(), machine_busy_seconds()))
            if task.done():
                task.result()
            await asyncio.sleep(0.05)
        seen = await observer.result()
        burst = cpu_between(samples, seen["first"], seen["last"])
        # Every bound pod's Scheduled Event must be written too: wait for the recorder's
        # queue to drain (the Events trail the bindings: they are written off the
        # scheduling loop) and say when that was.
        events_done = 0.0
        if not args.no_events:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(app.recorder.flush(), args.timeout)
                events_done = time.monotonic()
        # Until every Event is written, so each pod's Event is in its CPU cost.
        steady = after_list.done() if after_list is not None else {}
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        failures = app.scheduler.bind_failures
        dropped = app.recorder.dropped
    if spy is not None:
        spy.send_signal(signal.SIGINT)
        await asyncio.wait_for(spy.wait(), 30)
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(str(args.profile))
        pstats.Stats(str(args.profile)).sort_stats("tottime").print_stats(25)
    events = 0
    if not args.no_events:
        async for event in client.list_all(EVENTS, NAMESPACE, field_selector="reason=Scheduled"):
            pod = event["involvedObject"]["name"]
            node = event["message"].rsplit(" ", 1)[-1]
            assert event["message"] == f"Successfully assigned {NAMESPACE}/{pod} to {node}"
            events += 1
    return {**seen, **cpu.done(), "started": started, "synced": synced,
            "bind_failures": failures, "events_done": events_done, "events_written": events,
            "events_dropped": dropped, "after_list": steady, "burst": burst}


def cpu_between(samples: list[tuple[float, float, float, float]], start: float, end: float
                ) -> dict[str, float]:
    """CPU seconds (server, this process, others) from the last sample at or before
    ``start`` to the first at or after ``end`` (samples every 50 ms)."""
    if not samples:
        return {}
    before = max((x for x in samples if x[0] <= start), default=samples[0])
    after = min((x for x in samples if x[0] >= end), default=samples[-1])
    server, bench, machine = (b - a for a, b in zip(before[1:], after[1:], strict=True))
    return {"server_cpu_s": round(server, 2), "bench_cpu_s": round(bench, 2),
            "others_cpu_s": round(max(machine - server - bench, 0.0), 2),
            "wall_s": round(after[0] - before[0], 2)}


def inprocess_phase(args: argparse.Namespace) -> dict[str, Any]:
    """Decisions only: the framework and cache, no API."""
    scheduler = Scheduler(None, percentage_of_nodes_to_score=args.percentage)
    for i in range(args.nodes):
        scheduler.on_node_add(node_manifest(i))
    for i in range(args.pods):  # the reference pods, bound round-robin as in the API run
        pod = pod_manifest(f"ref-{i:06d}", REFERENCE_SCHEDULER)
        pod["metadata"]["uid"] = f"ref-{i}"
        pod["spec"]["nodeName"] = f"node-{i % args.nodes:05d}"
        scheduler.on_pod_add(pod)
    for i in range(args.pods):
        pod = pod_manifest(f"pod-{i:06d}", SCHEDULER)
        pod["metadata"]["uid"] = f"pod-{i}"
        scheduler.on_pod_add(pod)
    queue, framework, cache = scheduler.queue, scheduler.framework, scheduler.cache
    cpu_start, started = time.process_time(), time.monotonic()
    decided = 0
    while (qp := queue.pop_nowait()) is not None:
        result = framework.schedule(CycleState(), qp.info, cache.node_list)
        cache.assume_pod(qp.info, result.node)
        queue.done(qp.key)
        decided += 1
    wall, cpu = time.monotonic() - started, time.process_time() - cpu_start
    return {"decided": decided, "wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
            "per_s": round(decided / wall), "per_cpu_s": round(decided / cpu)}


def rate(phase: dict[str, Any]) -> float:
    """Bound pods per second from the first to the last bound pod."""
    span = phase["last"] - phase["first"]
    return phase["bound"] / span if span > 0 else 0.0


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    """All phases; returns the report."""
    report: dict[str, Any] = {"nodes": args.nodes, "pods": args.pods}
    with tempfile.TemporaryDirectory(prefix="sched-bench-") as tmp:
        server = start_server(Path(tmp) / "server", "--disable-scheduler",
                              "--disable-controller-manager")
        try:
            kubeconfig = str(server.kubeconfig)
            async with Client.from_kubeconfig(kubeconfig) as client:
                print("setup", flush=True)
                await setup(client, args)
                print("reference: direct binding POSTs", flush=True)
                waited = await wait_quiet(args.quiet_wait)
                ref = await reference_phase(client, kubeconfig, server.process.pid, args)
                report["reference"] = {**ref, "per_s": round(rate(ref)), "waited_s": waited}
                print(f"  {ref['bound']} bound, {rate(ref):.0f}/s  {ref}", flush=True)
                print("scheduler", flush=True)
                waited = await wait_quiet(args.quiet_wait)
                sch = await scheduler_phase(client, kubeconfig,
                                            str(server.data_dir / "scheduler.kubeconfig"),
                                            server.process.pid, args)
                from_start = sch["bound"] / (sch["last"] - sch["started"]) \
                    if sch["bound"] else 0.0
                report["scheduler"] = {**sch, "per_s": round(rate(sch)),
                                       "per_s_from_start": round(from_start),
                                       "sync_s": round(sch["synced"] - sch["started"], 2),
                                       "waited_s": waited, "events": not args.no_events}
                print(f"  {sch['bound']} bound, {rate(sch):.0f}/s "
                      f"({from_start:.0f}/s including the informers' initial LIST)",
                      flush=True)
        finally:
            stop_server(server.process)
    print("in-process decisions", flush=True)
    report["inprocess"] = inprocess_phase(args)
    return report


def per_pod(phase: dict[str, Any], key: str) -> str:
    """Milliseconds of ``key`` CPU seconds per bound pod."""
    return f"{1000 * phase[key] / phase['bound']:.2f}" if phase.get(key) is not None and \
        phase["bound"] else "-"


def cpu_line(phase: dict[str, Any]) -> str:
    """Server, client and others' CPU per bound pod over a phase, and its length."""
    return (f"{per_pod(phase, 'server_cpu_s')} / {per_pod(phase, 'bench_cpu_s')} / "
            f"{per_pod(phase, 'others_cpu_s')} over {phase.get('wall_s')} s")


def format_report(report: dict[str, Any]) -> str:
    """The figures as a small table."""
    ref, sch, inp = report["reference"], report["scheduler"], report["inprocess"]
    steady = {**sch["after_list"], "bound": sch["bound"]}
    burst = {**sch["burst"], "bound": sch["bound"]}
    ratio = sch["per_s"] / ref["per_s"] if ref["per_s"] else 0.0
    events_span = sch["events_done"] - sch["first"] if sch["events"] else 0.0
    events_rate = sch["bound"] / events_span if events_span > 0 else 0.0
    lines = [
        f"scheduler benchmark: {report['nodes']} nodes, {report['pods']} pods",
        f"  reference (direct binding POSTs): {ref['per_s']:>6}/s   "
        f"server {ref['server_cpu_s']} s CPU, bench {ref['bench_cpu_s']} s, "
        f"others {ref['others_cpu_s']} s over {ref['wall_s']} s",
        f"  scheduler (decide + bind{' + events' if sch['events'] else ''}): "
        f"{sch['per_s']:>4}/s   "
        f"server {sch['server_cpu_s']} s CPU, scheduler {sch['bench_cpu_s']} s, "
        f"others {sch['others_cpu_s']} s over {sch['wall_s']} s",
        f"    from scheduler start, incl. initial LIST ({sch['sync_s']} s): "
        f"{sch['per_s_from_start']}/s; bind failures {sch['bind_failures']}",
        *([f"    Scheduled Events: {sch['events_written']} written, {sch['events_dropped']} "
           f"dropped; the last {sch['events_done'] - sch['last']:.2f} s after the last "
           f"binding ({events_rate:.0f} pods/s counting until then)"] if sch["events"] else []),
        f"  scheduler / reference: {ratio:.2f}x",
        "  CPU ms per bound pod (server / bench or scheduler process / everything else):",
        f"    reference: {cpu_line(ref)}",
        f"    scheduler phase, its initial LIST and the Event tail included: {cpu_line(sch)}",
        f"    from the scheduler's sync to its last Event: {cpu_line(steady)}",
        f"    from the first to the last binding: {cpu_line(burst)}",
        f"  in-process decisions (no API): {inp['per_s']}/s wall, "
        f"{inp['per_cpu_s']}/s per CPU second",
        f"  goal >= 700 pods/s through the API: "
        f"{'met' if sch['per_s'] >= 700 else 'MISSED'}",
    ]
    return "\n".join(lines)


def main() -> None:
    """Parse arguments, run, print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--pods", type=int, default=10000)
    parser.add_argument("--creators", type=int, default=32,
                        help="concurrent clients creating nodes and pods")
    parser.add_argument("--binders", type=int, default=64,
                        help="binding requests in flight (the reference's binders and the "
                        "scheduler's binding cycles alike)")
    parser.add_argument("--percentage", type=int, default=None,
                        help="percentageOfNodesToScore (default: adaptive)")
    parser.add_argument("--timeout", type=float, default=600.0,
                        help="give up on a phase after this many seconds")
    parser.add_argument("--no-events", action="store_true",
                        help="the scheduler records no Scheduled events (to show their cost)")
    parser.add_argument("--event-writers", type=int, default=None,
                        help="the scheduler's concurrent Event writes (default: its own)")
    parser.add_argument("--quiet-wait", type=float, default=60.0,
                        help="before each API phase, wait up to this many seconds for the "
                        "machine to be nearly idle (others share it)")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--py-spy", type=Path, default=None,
                        help="py-spy (raw collapsed stacks) of the scheduler phase into this file")
    parser.add_argument("--profile", type=Path, default=None,
                        help="cProfile the scheduler phase into this file (slows it)")
    args = parser.parse_args()
    report = uvloop.run(main_async(args))
    print(format_report(report))
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
