"""Density: pods started through Deployments on many hollow nodes, with their startup
latency, beside a reference from the same run.

Run ``python bench/density_bench.py`` (defaults: 1,000 hollow nodes, 30 pods per node;
``--nodes 100 --pods-per-node 10`` for a quick look; ``--json out.json``).

One run:

1. a ``kubesmith server`` (SQLite) started as the tests start it, with the controller
   manager and the scheduler as separate processes (``--separate``, the default, so the
   three share this machine's cores as they would share a control-plane node) or inside
   the server (``--in-process``, k3s-style);
2. ``kubesmith hollow-nodes --count N`` in its own process; the run waits until every node
   is Ready, has its podCIDR and carries no startup taint;
3. **reference**: ``--latency-pods`` pods created one at a time (paced) with ``spec.nodeName``
   already set — no controller, no scheduler: the floor of API + node agent;
4. **saturation**: Deployments of ``--replicas-per-deployment`` until ``N * pods-per-node``
   pods exist; the figure is pods Running per second, from the first create to the last
   pod observed Running;
5. **latency**: ``--latency-pods`` single-replica Deployments created one at a time, paced
   ``--latency-interval-ms`` apart on the saturated cluster; each one's latency runs from
   sending the Deployment create to a watch on pods seeing its pod Running (the SLO's
   "pod startup latency", here including the ReplicaSet controller and the scheduler).

Latency is observed by one pods watch in this process (the same machine clock as the
creates). CPU seconds of every process per phase are read from /proc.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._server import ROOT, cpu_seconds, start_server, stop_server
from kubesmith.client import ApiError, Client
from kubesmith.client.rest import DEPLOYMENTS, NAMESPACES, NODES, PODS


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def _spawn(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, "-m", "kubesmith", *args], stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait(10)


class PodWatch:
    """One watch over all pods: records when each pod (by name) was first seen Running."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.running_at: dict[str, float] = {}
        self.by_label: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None
        self._changed = asyncio.Condition()

    async def wait(self, done: Any, limit: float) -> None:
        """Wait until ``done()`` holds (re-checked on every pod seen Running) or ``limit``
        seconds pass."""
        async with self._changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait_for(done), limit)

    async def start(self) -> None:
        page = await self.client.list(PODS, limit=1)
        self._task = asyncio.create_task(self._run(page.resource_version))

    async def _run(self, rv: str) -> None:
        while True:
            try:
                async for kind, pod in self.client.watch(PODS, resource_version=rv,
                                                         timeout_seconds=600):
                    meta = pod.get("metadata") or {}
                    rv = meta.get("resourceVersion") or rv
                    if kind == "BOOKMARK":
                        continue
                    if (pod.get("status") or {}).get("phase") == "Running":
                        now = time.monotonic()
                        name = meta.get("name", "")
                        self.running_at.setdefault(name, now)
                        probe = (meta.get("labels") or {}).get("latency-probe")
                        if probe:
                            self.by_label.setdefault(probe, now)
                        async with self._changed:
                            self._changed.notify_all()
            except ApiError as exc:
                if exc.code != 410:
                    raise
                rv = (await self.client.list(PODS, limit=1)).resource_version

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def _deployment(name: str, ns: str, replicas: int, probe: str | None = None) -> dict[str, Any]:
    labels = {"app": name, **({"latency-probe": probe} if probe else {})}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{
                                      "name": "pause", "image": "registry.k8s.io/pause:3.10",
                                      "resources": {"requests": {"cpu": "10m",
                                                                 "memory": "10Mi"}}}]}}}}


async def _wait_nodes(client: Client, count: int, limit: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < limit:
        ready = 0
        async for node in client.list_all(NODES):
            taints = (node.get("spec") or {}).get("taints") or []
            conds = {c["type"]: c["status"] for c in
                     (node.get("status") or {}).get("conditions") or ()}
            if conds.get("Ready") == "True" and (node.get("spec") or {}).get("podCIDR") and \
                    not any(t.get("key", "").startswith("node.kubernetes.io/") for t in taints):
                ready += 1
        if ready >= count:
            return time.monotonic() - started
        print(f"  {ready}/{count} nodes ready", flush=True)
        await asyncio.sleep(2)
    raise RuntimeError(f"only some of {count} nodes became ready in {limit:.0f}s")


async def _reference(client: Client, watch: PodWatch, ns: str, nodes: list[str],
                     count: int, interval: float) -> list[float]:
    latencies: list[float] = []
    sent: dict[str, float] = {}
    for i in range(count):
        name = f"ref-{i}"
        sent[name] = time.monotonic()
        await client.create(PODS, {
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns},
            "spec": {"nodeName": nodes[i % len(nodes)],
                     "containers": [{"name": "pause", "image": "registry.k8s.io/pause:3.10"}]}})
        await asyncio.sleep(interval)
    await watch.wait(lambda: all(n in watch.running_at for n in sent), 120)
    for name, at in sent.items():
        if name in watch.running_at:
            latencies.append(watch.running_at[name] - at)
    return latencies


async def _saturate(client: Client, watch: PodWatch, ns: str, total: int,
                    per_deployment: int) -> tuple[float, int]:
    started = time.monotonic()
    created = 0
    index = 0
    sem = asyncio.Semaphore(16)

    async def make(name: str, replicas: int) -> None:
        async with sem:
            await client.create(DEPLOYMENTS, _deployment(name, ns, replicas))

    jobs = []
    while created < total:
        replicas = min(per_deployment, total - created)
        jobs.append(make(f"sat-{index}", replicas))
        created += replicas
        index += 1
    await asyncio.gather(*jobs)
    last_report = 0.0
    deadline = time.monotonic() + 3600
    while time.monotonic() < deadline:
        running = sum(1 for n in watch.running_at if n.startswith("sat-"))
        if running >= total:
            break
        if time.monotonic() - last_report > 10:
            print(f"  saturation: {running}/{total} pods running after "
                  f"{time.monotonic() - started:.0f}s", flush=True)
            last_report = time.monotonic()
        await asyncio.sleep(0.2)
    running_times = [t for n, t in watch.running_at.items() if n.startswith("sat-")]
    return (max(running_times) - started if running_times else float("nan"),
            len(running_times))


async def _latency(client: Client, watch: PodWatch, ns: str, count: int,
                   interval: float) -> list[float]:
    sent: dict[str, float] = {}
    for i in range(count):
        probe = f"lat-{i}"
        sent[probe] = time.monotonic()
        await client.create(DEPLOYMENTS, _deployment(probe, ns, 1, probe=probe))
        await asyncio.sleep(interval)
    await watch.wait(lambda: all(p in watch.by_label for p in sent), 120)
    return [watch.by_label[p] - at for p, at in sent.items() if p in watch.by_label]


def _summary(values: list[float]) -> dict[str, float]:
    return {"n": len(values), "p50": _percentile(values, 0.5),
            "p90": _percentile(values, 0.9), "p99": _percentile(values, 0.99),
            "mean": statistics.fmean(values) if values else float("nan")}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="kubesmith-density-"))
    # 10.244.0.0/16 holds 256 node /24s, like upstream's default; a bigger fleet needs a
    # bigger pod network.
    cidr = ["--cluster-cidr", args.cluster_cidr]
    extra = ["--disable-controller-manager", "--disable-scheduler"] if args.separate \
        else cidr
    server = start_server(work / "server", *extra)
    procs: dict[str, subprocess.Popen[bytes]] = {}
    results: dict[str, Any] = {"nodes": args.nodes, "pods_per_node": args.pods_per_node,
                               "separate_components": args.separate}
    try:
        if args.separate:
            procs["controller-manager"] = _spawn(
                ["controller-manager", "--kubeconfig",
                 str(server.data_dir / "controller-manager.kubeconfig"), *cidr],
                work / "controller-manager.log")
            procs["scheduler"] = _spawn(
                ["scheduler", "--kubeconfig", str(server.data_dir / "scheduler.kubeconfig")],
                work / "scheduler.log")
        procs["hollow-nodes"] = _spawn(
            ["hollow-nodes", "--kubeconfig", str(server.kubeconfig), "--count",
             str(args.nodes), "--pods", str(max(110, args.pods_per_node + 10))],
            work / "hollow.log")
        pids = {"server": server.process.pid, **{k: p.pid for k, p in procs.items()}}
        async with Client.from_kubeconfig(str(server.kubeconfig)) as client:
            print(f"waiting for {args.nodes} hollow nodes ...", flush=True)
            results["nodes_ready_seconds"] = await _wait_nodes(client, args.nodes, 900)
            print(f"  ready in {results['nodes_ready_seconds']:.1f}s", flush=True)
            await client.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace",
                                             "metadata": {"name": "density"}})
            watch = PodWatch(client)
            await watch.start()
            nodes = [n["metadata"]["name"] async for n in client.list_all(NODES)]

            cpu0 = {k: cpu_seconds(pid) for k, pid in pids.items()}
            print("reference: pods with nodeName set (API + node agent only) ...", flush=True)
            ref = await _reference(client, watch, "density", nodes, args.latency_pods,
                                   args.latency_interval_ms / 1000)
            results["reference_latency_s"] = _summary(ref)

            total = args.nodes * args.pods_per_node
            print(f"saturation: {total} pods through Deployments ...", flush=True)
            cpu1 = {k: cpu_seconds(pid) for k, pid in pids.items()}
            seconds, running = await _saturate(client, watch, "density", total,
                                               args.replicas_per_deployment)
            cpu2 = {k: cpu_seconds(pid) for k, pid in pids.items()}
            results["saturation"] = {"pods": total, "running": running,
                                     "seconds": seconds,
                                     "pods_per_second": running / seconds if seconds else 0,
                                     "cpu_seconds": {k: cpu2[k] - cpu1[k] for k in pids}}
            print("latency: single-replica Deployments on the saturated cluster ...",
                  flush=True)
            lat = await _latency(client, watch, "density", args.latency_pods,
                                 args.latency_interval_ms / 1000)
            results["startup_latency_s"] = _summary(lat)
            results["cpu_seconds_total"] = {k: cpu_seconds(pid) - cpu0[k]
                                            for k, pid in pids.items()}
            await watch.stop()
    finally:
        for proc in procs.values():
            _stop(proc)
        stop_server(server.process)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--pods-per-node", type=int, default=30)
    parser.add_argument("--replicas-per-deployment", type=int, default=100)
    parser.add_argument("--latency-pods", type=int, default=100)
    parser.add_argument("--latency-interval-ms", type=float, default=200)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--separate", dest="separate", action="store_true", default=True,
                      help="controller manager and scheduler as their own processes")
    mode.add_argument("--in-process", dest="separate", action="store_false",
                      help="controller manager and scheduler inside the server")
    parser.add_argument("--cluster-cidr", default="10.64.0.0/11",
                        help="pod network (8,192 node /24s by default)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    results = asyncio.run(run(args))
    sat = results["saturation"]
    lat = results["startup_latency_s"]
    ref = results["reference_latency_s"]
    print()
    print(f"density: {args.nodes} hollow nodes, {sat['pods']} pods via Deployments "
          f"({'separate' if args.separate else 'in-process'} controller manager/scheduler)")
    print(f"  nodes ready:          {results['nodes_ready_seconds']:.1f} s")
    print(f"  saturation:           {sat['running']}/{sat['pods']} running in "
          f"{sat['seconds']:.1f} s = {sat['pods_per_second']:.0f} pods/s")
    print(f"  startup latency:      p50 {lat['p50']:.3f} s  p90 {lat['p90']:.3f} s  "
          f"p99 {lat['p99']:.3f} s  (n={lat['n']}; goal p99 <= 2 s, SLO 5 s)")
    print(f"  reference (nodeName): p50 {ref['p50']:.3f} s  p90 {ref['p90']:.3f} s  "
          f"p99 {ref['p99']:.3f} s  (n={ref['n']}; API + node agent only)")
    if ref["p99"] and ref["p99"] == ref["p99"]:
        print(f"  ratio p99 latency / reference p99: {lat['p99'] / ref['p99']:.1f}x")
    print(f"  CPU seconds during saturation: {json.dumps(sat['cpu_seconds'])}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
