"""API server figures over HTTPS, each beside the raw store's own figure from the same run.

Run ``python bench/api_bench.py --backend sqlite|etcd|both`` (``--json out.json`` for machine
output; ``--profile DIR`` adds py-spy profiles of the server during extra passes that are
kept out of the figures).

One run, per backend:

1. the raw store benchmark (``bench/store_bench.py``) on a fresh store of that backend --
   the reference column;
2. a real ``kubesmith server`` subprocess (started exactly as the tests start it; for etcd
   over a throwaway :class:`LocalEtcdCluster` of ``--etcd-members`` members) and its idle
   resident memory;
3. load from ``--generators`` generator processes (separate from the server, each one
   asyncio loop with one aiohttp session: a keep-alive ``TCPConnector`` and one TLS context
   built from the admin kubeconfig's client certificate): ConfigMap creates, GETs, UPDATEs
   (PUT with the resourceVersion each create returned) and LISTs (first page of 500) at
   ``--clients`` concurrent requests in total; every generator opens its connections before
   a common start time, so TLS handshakes are not in the figures;
4. ``--pods`` pods created the same way, then listed in pages of 500 by one sequential
   client (``limit`` + ``continue``), ``--list-repeats`` times;
5. watch fan-out (last: the server may keep serving watches whose clients have gone):
   ``--watchers`` watches (chunked HTTP streams on one namespace's ConfigMaps from one
   resourceVersion) spread over the generators, then ``--watch-events`` creates paced
   ``--watch-interval-ms`` apart by the bench process; latency runs from a create's
   acknowledgement (its response read by the writer) to each watcher reading the event;
6. resident memory after the load (and after each phase, in the JSON).

Latencies are measured by the generators around one request and its whole response body.
Timestamps cross processes on ``time.monotonic`` (CLOCK_MONOTONIC, one clock per machine).
CPU seconds of the server, etcd, the generators and this process are read per phase from
/proc, so the output says where the CPU went. Every figure printed is measured in the run
that prints it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import hashlib
import json
import multiprocessing
import multiprocessing.connection
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
import orjson
import uvloop

from bench._server import (
    ClientTLS,
    cpu_seconds,
    extract_client_tls,
    machine_busy_seconds,
    rss_mb,
    start_server,
    stop_server,
)
from bench.store_bench import run_store_bench
from kubesmith.storage.etcd_launcher import LocalEtcdCluster

VALUE = "x" * 300  # the raw store bench writes 300-byte values
PAGE = 500
JSON = {"Content-Type": "application/json", "Accept": "application/json"}
FANOUT_PREFIX = "fanout-"
FANOUT_MARK = b'"name":"' + FANOUT_PREFIX.encode()


# ---------------------------------------------------------------------------------------
# Generator processes
# ---------------------------------------------------------------------------------------

@dataclass
class _GeneratorState:
    """What one generator keeps between commands: its slice's resourceVersions."""

    tls: ClientTLS
    index: int
    total: int
    resource_versions: dict[str, str] = field(default_factory=dict)


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def _generator_main(conn: multiprocessing.connection.Connection, tls: ClientTLS,
                    index: int, total: int) -> None:
    """A generator process: run commands from ``conn`` until ``stop``, one asyncio loop
    (uvloop) per command, answering each with a result dict (or ``{"error": ...}``)."""
    state = _GeneratorState(tls, index, total)
    while True:
        command = conn.recv()
        if command["op"] == "stop":
            return
        try:
            if command["op"] == "load":
                result = uvloop.run(_load(command, conn, state))
            elif command["op"] == "watch":
                result = uvloop.run(_watch(command, conn, state))
            else:
                raise ValueError(f"unknown command {command['op']!r}")
        except Exception:
            result = {"error": traceback.format_exc()}
        conn.send(result)


def _request_for(kind: str, namespace: str, name: str, state: _GeneratorState
                 ) -> tuple[str, str, bytes | None, int]:
    """(method, path, body, expected status) of one ``kind`` request on object ``name``."""
    base = f"/api/v1/namespaces/{namespace}"
    if kind == "create":
        body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
                "data": {"value": VALUE}}
        return "POST", f"{base}/configmaps", orjson.dumps(body), 201
    if kind == "get":
        return "GET", f"{base}/configmaps/{name}", None, 200
    if kind == "update":
        body = {"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": name, "namespace": namespace,
                             "resourceVersion": state.resource_versions[name]},
                "data": {"value": VALUE[:-1] + "y"}}
        return "PUT", f"{base}/configmaps/{name}", orjson.dumps(body), 200
    if kind == "list":
        return "GET", f"{base}/configmaps?limit={PAGE}", None, 200
    if kind == "create_pod":
        body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                "spec": {"containers": [{"name": "app", "image": "busybox:1.36"}]}}
        return "POST", f"{base}/pods", orjson.dumps(body), 201
    raise ValueError(f"unknown request kind {kind!r}")


def _session(state: _GeneratorState, limit: int) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(ssl=state.tls.context(), limit=limit,
                                     keepalive_timeout=300)
    return aiohttp.ClientSession(state.tls.server, connector=connector,
                                 auto_decompress=False,
                                 timeout=aiohttp.ClientTimeout(total=60))


async def _load(command: dict[str, Any], conn: multiprocessing.connection.Connection,
                state: _GeneratorState) -> dict[str, Any]:
    """Open this generator's share of the connections, say ready, wait for the common
    start time, then run its slice of ``count`` requests on its share of the clients."""
    kind, namespace, count = command["kind"], command["namespace"], command["count"]
    clients = max(1, command["clients"] // state.total
                  + (1 if state.index < command["clients"] % state.total else 0))
    indices = list(range(state.index, count, state.total))
    prefix = command["prefix"]
    async with _session(state, clients) as session:
        async def warm() -> None:
            async with session.get(f"/api/v1/namespaces/{namespace}", headers=JSON) as resp:
                await resp.read()

        await asyncio.gather(*(warm() for _ in range(clients)))
        conn.send({"ready": True})
        start_at = conn.recv()["start_at"]  # blocks the loop briefly: nothing else runs
        await asyncio.sleep(max(0.0, start_at - time.monotonic()))
        latencies: list[float] = []
        errors: Counter[str] = Counter()
        first_errors: list[str] = []
        position = 0
        cpu_start = time.process_time()
        started = time.monotonic()

        async def worker() -> None:
            nonlocal position
            while position < len(indices):
                i = indices[position]
                position += 1
                name = f"{prefix}{i:06d}" if kind != "list" else ""
                method, path, body, expected = _request_for(kind, namespace, name, state)
                sent = time.monotonic()
                async with session.request(method, path, data=body, headers=JSON) as resp:
                    payload = await resp.read()
                    status = resp.status
                latencies.append(time.monotonic() - sent)
                if status != expected:
                    errors[str(status)] += 1
                    if len(first_errors) < 3:
                        first_errors.append(f"{method} {path}: {status} {payload[:300]!r}")
                elif kind in ("create", "update"):
                    state.resource_versions[name] = \
                        orjson.loads(payload)["metadata"]["resourceVersion"]

        await asyncio.gather(*(worker() for _ in range(clients)))
        return {"latencies": latencies, "started": started, "ended": time.monotonic(),
                "cpu": time.process_time() - cpu_start, "errors": dict(errors),
                "first_errors": first_errors, "clients": clients}


async def _watch(command: dict[str, Any], conn: multiprocessing.connection.Connection,
                 state: _GeneratorState) -> dict[str, Any]:
    """Open this generator's share of the watches, say ready, then record when each watch
    reads each fan-out event (by the event's object name) until all arrive or time runs
    out."""
    namespace, events = command["namespace"], command["events"]
    watchers = command["watchers"] // state.total + (
        1 if state.index < command["watchers"] % state.total else 0)
    path = (f"/api/v1/namespaces/{namespace}/configmaps?watch=true"
            f"&resourceVersion={command['resource_version']}&timeoutSeconds=600")
    connector = aiohttp.TCPConnector(ssl=state.tls.context(), limit=0)
    received = [[-1.0] * events for _ in range(watchers)]
    unexpected: list[str] = []
    async with aiohttp.ClientSession(
            state.tls.server, connector=connector, auto_decompress=False,
            timeout=aiohttp.ClientTimeout(total=None, connect=60, sock_read=None)) as session:
        opening = asyncio.Semaphore(64)  # bounded concurrent TLS handshakes

        async def open_watch() -> aiohttp.ClientResponse:
            async with opening:
                resp = await session.get(path, headers=JSON)
            if resp.status != 200:
                raise RuntimeError(f"watch answered {resp.status}: {await resp.text()}")
            return resp

        responses = await asyncio.gather(*(open_watch() for _ in range(watchers)))
        conn.send({"ready": True})
        cpu_start = time.process_time()

        async def read(times: list[float], resp: aiohttp.ClientResponse) -> None:
            got = 0
            while got < events:
                line = await resp.content.readline()
                now = time.monotonic()
                if not line:
                    unexpected.append("stream ended early")
                    return
                at = line.find(FANOUT_MARK)
                if at < 0:
                    if len(unexpected) < 3:
                        unexpected.append(line[:300].decode(errors="replace"))
                    continue
                start = at + len(FANOUT_MARK)
                times[int(line[start:start + 6])] = now
                got += 1

        readers = [asyncio.create_task(read(times, resp))
                   for times, resp in zip(received, responses, strict=True)]
        _done, pending = await asyncio.wait(
            readers, timeout=max(1.0, command["deadline"] - time.monotonic()))
        for task in pending:
            task.cancel()
        cpu = time.process_time() - cpu_start
        for resp in responses:
            resp.close()
    return {"received": received, "cpu": cpu, "unexpected": unexpected,
            "timed_out": len(pending)}


class Generators:
    """The generator processes, driven from the bench process's event loop."""

    def __init__(self, count: int, tls: ClientTLS) -> None:
        context = multiprocessing.get_context("spawn")
        self.pipes: list[multiprocessing.connection.Connection] = []
        self.processes: list[multiprocessing.process.BaseProcess] = []
        for index in range(count):
            parent, child = context.Pipe()
            process = context.Process(target=_generator_main, args=(child, tls, index, count),
                                      name=f"api-bench-generator-{index}", daemon=True)
            process.start()
            child.close()
            self.pipes.append(parent)
            self.processes.append(process)

    async def send(self, message: dict[str, Any]) -> None:
        for pipe in self.pipes:
            pipe.send(message)

    async def receive(self, limit_s: float) -> list[dict[str, Any]]:
        """One message from every generator; raise on a generator's error, or when one has
        not answered within ``limit_s`` seconds."""

        def one(pipe: multiprocessing.connection.Connection) -> dict[str, Any]:
            if not pipe.poll(limit_s):
                raise TimeoutError(f"no answer from a generator within {limit_s:.0f} s")
            message: dict[str, Any] = pipe.recv()
            if "error" in message:
                raise RuntimeError(f"generator failed:\n{message['error']}")
            return message

        return list(await asyncio.gather(*(asyncio.to_thread(one, p) for p in self.pipes)))

    def stop(self) -> None:
        for pipe in self.pipes:
            with contextlib.suppress(OSError):
                pipe.send({"op": "stop"})
        for process in self.processes:
            process.join(10)
            if process.is_alive():
                process.terminate()
                process.join(5)


# ---------------------------------------------------------------------------------------
# CPU accounting
# ---------------------------------------------------------------------------------------

class CpuMeter:
    """CPU seconds of the server, etcd and this process over one phase (from /proc)."""

    def __init__(self, server_pid: int, etcd_pids: list[int]) -> None:
        self.server_pid = server_pid
        self.etcd_pids = etcd_pids

    def sample(self) -> dict[str, float]:
        return {"server": cpu_seconds(self.server_pid),
                "server_main_thread": cpu_seconds(self.server_pid, self.server_pid),
                "etcd": sum(cpu_seconds(pid) for pid in self.etcd_pids),
                "bench": time.process_time(),
                "machine": machine_busy_seconds(),
                "at": time.monotonic()}

    @staticmethod
    def share(before: dict[str, float], after: dict[str, float],
              generator_cpu: list[float], wall: float | None = None) -> dict[str, Any]:
        """Each process's CPU over the phase as a percentage of one core."""
        wall = wall or (after["at"] - before["at"])
        shares: dict[str, Any] = {
            name: round(100 * (after[name] - before[name]) / wall, 1)
            for name in ("server", "server_main_thread", "etcd", "bench", "machine")}
        shares["generators"] = [round(100 * cpu / wall, 1) for cpu in generator_cpu]
        # Whatever else ran on the machine meanwhile (other users' work disturbs figures).
        shares["others"] = round(shares["machine"] - shares["server"] - shares["etcd"]
                                 - shares["bench"] - sum(shares["generators"]), 1)
        return shares


# ---------------------------------------------------------------------------------------
# The benchmark
# ---------------------------------------------------------------------------------------

async def _wait_quiet(args: argparse.Namespace) -> float:
    """Wait (at most ``--quiet-wait`` seconds) until the machine has been nearly idle for a
    second; return the seconds waited. This bench's own processes are idle when it is
    called, so what runs is other people's work, which would eat into the figures."""
    waited = 0.0
    while waited < args.quiet_wait:
        before = machine_busy_seconds()
        await asyncio.sleep(1.0)
        waited += 1.0
        if 100 * (machine_busy_seconds() - before) < args.quiet_percent:
            break
    return waited


@dataclass
class Bench:
    """One server under test: the sessions and processes that drive it."""

    args: argparse.Namespace
    tls: ClientTLS
    session: aiohttp.ClientSession
    generators: Generators
    meter: CpuMeter
    figures: dict[str, Any] = field(default_factory=dict)
    cpu: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, Any] = field(default_factory=dict)
    profiles: dict[str, Any] = field(default_factory=dict)
    waited: dict[str, float] = field(default_factory=dict)

    async def request(self, method: str, path: str, body: Any = None,
                      expected: int = 200) -> Any:
        data = orjson.dumps(body) if body is not None else None
        async with self.session.request(method, path, data=data, headers=JSON) as resp:
            payload = await resp.read()
            if resp.status != expected:
                raise RuntimeError(f"{method} {path}: {resp.status} {payload[:500]!r}")
        return orjson.loads(payload)

    async def quiet(self, phase: str) -> None:
        """Wait for a quiet machine before ``phase`` (see :func:`_wait_quiet`)."""
        self.waited[phase] = await _wait_quiet(self.args)

    async def namespace(self, name: str) -> None:
        await self.request("POST", "/api/v1/namespaces",
                           {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
                           201)

    async def load(self, phase: str, kind: str, namespace: str, count: int,
                   prefix: str = "cm-", running: asyncio.Event | None = None
                   ) -> dict[str, Any]:
        """Run ``count`` requests of ``kind`` on the generators; store figures under
        ``phase``; return the merged raw results. ``running`` is set once load starts."""
        timeout = self.args.phase_timeout
        await self.generators.send({"op": "load", "kind": kind, "namespace": namespace,
                                    "count": count, "clients": self.args.clients,
                                    "prefix": prefix})
        await self.generators.receive(timeout)  # every generator's connections are open
        await self.quiet(phase)
        before = self.meter.sample()
        start_at = time.monotonic() + 0.05
        await self.generators.send({"start_at": start_at})
        if running is not None:
            running.set()
        results = await self.generators.receive(timeout)
        after = self.meter.sample()
        started = min(r["started"] for r in results)
        wall = max(r["ended"] for r in results) - started
        latencies = [x for r in results for x in r["latencies"]]
        errors: Counter[str] = Counter()
        for r in results:
            errors.update(r["errors"])
        ok = len(latencies) - sum(errors.values())
        self.figures[f"{phase}_per_s"] = ok / wall
        self.figures[f"{phase}_p50_ms"] = _percentile(latencies, 0.50) * 1e3
        self.figures[f"{phase}_p99_ms"] = _percentile(latencies, 0.99) * 1e3
        self.figures[f"{phase}_count"] = len(latencies)
        self.figures[f"{phase}_seconds"] = wall
        self.cpu[phase] = CpuMeter.share(before, after, [r["cpu"] for r in results],
                                         after["at"] - before["at"])
        if errors:
            self.errors[phase] = {"counts": dict(errors),
                                  "first": [e for r in results for e in r["first_errors"]][:3]}
        return {"results": results, "wall": wall}

    async def watch_fanout(self, namespace: str = "bench-watch", events: int = 0,
                           running: asyncio.Event | None = None) -> None:
        """Open the watches, make the paced changes, measure ack → event per watcher.
        ``running`` is set when the first change is made."""
        args = self.args
        await self.namespace(namespace)
        listed = await self.request("GET", f"/api/v1/namespaces/{namespace}/configmaps?limit=1")
        events, interval = events or args.watch_events, args.watch_interval_ms / 1e3
        deadline = time.monotonic() + args.phase_timeout
        await self.generators.send({
            "op": "watch", "namespace": namespace, "watchers": args.watchers,
            "events": events, "resource_version": listed["metadata"]["resourceVersion"],
            "deadline": deadline})
        await self.generators.receive(args.phase_timeout)  # every watch is open
        await self.request("GET", f"/api/v1/namespaces/{namespace}")  # writer's connection
        await self.quiet("watch")
        before = self.meter.sample()
        sent: list[float] = []
        acked: list[float] = []
        first = time.monotonic() + 0.1
        if running is not None:
            running.set()
        for i in range(events):
            await asyncio.sleep(max(0.0, first + i * interval - time.monotonic()))
            body = {"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": f"{FANOUT_PREFIX}{i:06d}"}, "data": {"value": VALUE}}
            sent.append(time.monotonic())
            await self.request("POST", f"/api/v1/namespaces/{namespace}/configmaps", body, 201)
            acked.append(time.monotonic())
        results = await self.generators.receive(args.phase_timeout + 30)
        after = self.meter.sample()
        from_ack: list[float] = []
        from_send: list[float] = []
        first_seen = [float("inf")] * events
        last_seen = [float("-inf")] * events
        missing = 0
        for result in results:
            for times in result["received"]:
                for i, at in enumerate(times):
                    if at < 0:
                        missing += 1
                        continue
                    from_ack.append(at - acked[i])
                    from_send.append(at - sent[i])
                    first_seen[i] = min(first_seen[i], at)
                    last_seen[i] = max(last_seen[i], at)
        seen = [i for i in range(events) if last_seen[i] >= first_seen[i]]
        if not from_ack:
            raise RuntimeError(f"no watch event arrived: {results[0]['unexpected']}")
        self.figures.update({
            "watchers": args.watchers, "watch_events": events,
            "watch_interval_ms": args.watch_interval_ms,
            "watch_deliveries": len(from_ack), "watch_missing": missing,
            "watch_p50_ms": statistics.median(from_ack) * 1e3,
            "watch_p99_ms": _percentile(from_ack, 0.99) * 1e3,
            "watch_max_ms": max(from_ack) * 1e3,
            "watch_from_send_p50_ms": statistics.median(from_send) * 1e3,
            "watch_from_send_p99_ms": _percentile(from_send, 0.99) * 1e3,
            # Per change: when its first and its last watcher read it, from the ack.
            "watch_first_watcher_p50_ms": statistics.median(
                [first_seen[i] - acked[i] for i in seen]) * 1e3,
            "watch_last_watcher_p50_ms": statistics.median(
                [last_seen[i] - acked[i] for i in seen]) * 1e3,
            "watch_write_ack_p50_ms": statistics.median(
                [a - s for a, s in zip(acked, sent, strict=True)]) * 1e3,
        })
        self.cpu["watch"] = CpuMeter.share(before, after, [r["cpu"] for r in results])
        unexpected = [u for r in results for u in r["unexpected"]]
        if missing or unexpected:
            self.errors["watch"] = {"missing": missing, "unexpected": unexpected[:3],
                                    "timed_out_streams": sum(r["timed_out"] for r in results)}

    async def list_pods(self, namespace: str) -> tuple[float, int, int]:
        """One paged LIST of every pod in ``namespace``: (seconds, items, pages)."""
        started = time.monotonic()
        items = pages = 0
        token = ""
        while True:
            path = f"/api/v1/namespaces/{namespace}/pods?limit={PAGE}"
            if token:
                path += f"&continue={token}"
            page = await self.request("GET", path)
            items += len(page["items"])
            pages += 1
            token = page["metadata"].get("continue", "")
            if not token:
                return time.monotonic() - started, items, pages


async def _profiled(bench: Bench, server_pid: int, out_dir: Path, phase: str
                    ) -> dict[str, Any]:
    """An extra pass of ``phase`` ("create" or "watch"), kept out of the figures, with
    py-spy sampling the server for ``--profile-seconds`` while the pass runs."""
    duration = bench.args.profile_seconds
    raw = out_dir / f"server-{phase}.collapsed.txt"
    saved = dict(bench.figures), dict(bench.cpu), dict(bench.errors)
    running = asyncio.Event()
    work: Coroutine[Any, Any, Any]
    if phase == "create":
        count = min(60_000, int(saved[0]["create_per_s"] * (duration + 4)))
        await bench.namespace("bench-profile")
        work = bench.load("profiled_create", "create", "bench-profile", count,
                          running=running)
    else:
        events = int((duration + 2) * 1e3 / bench.args.watch_interval_ms)
        work = bench.watch_fanout("bench-watch-profile", events, running=running)
    task = asyncio.create_task(work)
    spy = None
    try:
        started = asyncio.create_task(running.wait())
        await asyncio.wait({task, started}, return_when=asyncio.FIRST_COMPLETED)
        started.cancel()
        await asyncio.sleep(0.5)
        if not task.done():
            spy = await asyncio.to_thread(_start_py_spy, server_pid, duration, raw)
        if spy is not None:
            await asyncio.to_thread(spy.wait, duration + 60)
        await task
    finally:
        if not task.done():
            task.cancel()
        if spy is not None and spy.poll() is None:
            spy.terminate()
            spy.wait(10)
    if phase == "create":
        during = {"what": f"{bench.figures['profiled_create_count']} ConfigMap creates",
                  "rate": f"{bench.figures['profiled_create_per_s']:,.0f}/s under py-spy",
                  "cpu": bench.cpu["profiled_create"],
                  "errors": bench.errors.get("profiled_create")}
    else:
        during = {"what": f"{bench.args.watchers} watches, {bench.figures['watch_events']} "
                          f"changes {bench.args.watch_interval_ms:g} ms apart",
                  "rate": f"p99 {bench.figures['watch_p99_ms']:.0f} ms under py-spy",
                  "cpu": bench.cpu["watch"], "errors": bench.errors.get("watch")}
    bench.figures, bench.cpu, bench.errors = saved  # the figures stay py-spy-free
    if spy is None:
        return {"skipped": "py-spy not installed (.venv/bin/pip install py-spy)", **during}
    return {"phase": phase, "collapsed_stacks": str(raw), "seconds": duration, **during,
            **_summarise_profile(raw)}


def _start_py_spy(pid: int, duration: int, raw: Path) -> subprocess.Popen[bytes] | None:
    """``py-spy record`` of ``pid`` for ``duration`` seconds into ``raw`` (collapsed
    stacks, no line numbers, so samples add up per function), or None without py-spy."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        return None
    raw.parent.mkdir(parents=True, exist_ok=True)
    with (raw.parent / "py-spy.log").open("wb") as log:
        return subprocess.Popen(
            [py_spy, "record", "--pid", str(pid), "--duration", str(duration),
             "--rate", "100", "--nolineno", "--threads", "--format", "raw",
             "--output", str(raw)],
            stdout=log, stderr=subprocess.STDOUT)


def _thread_label(thread: str, frames: list[str]) -> str:
    """A sampled thread's name (py-spy writes ``thread (tid): name``)."""
    if any("kubesmith/__main__.py" in frame for frame in frames):
        return "MainThread (event loop)"
    return thread.partition(": ")[2] or thread or "?"


def _summarise_profile(raw: Path, top: int = 15) -> dict[str, Any]:
    """Per-thread sample counts, the top functions by own time (all threads, and the
    event-loop thread alone) and kubesmith's functions by inclusive time."""
    own: Counter[str] = Counter()
    loop_own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    per_thread: Counter[str] = Counter()
    labels: dict[str, Counter[str]] = {}
    total = loop_total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = stack.split(";")
        thread = ""
        if frames[0].startswith("process "):
            frames = frames[1:]
        if frames and frames[0].startswith("thread "):
            thread, frames = frames[0], frames[1:]
        if not frames:
            continue
        label = _thread_label(thread, frames)
        labels.setdefault(thread, Counter())[label] += count
        per_thread[thread] += count
        total += count
        own[frames[-1]] += count
        if label.startswith("MainThread"):
            loop_total += count
            loop_own[frames[-1]] += count
            for frame in set(frames):
                if "kubesmith/" in frame and "kubesmith/cli.py" not in frame \
                        and "kubesmith/__main__.py" not in frame:
                    inclusive[frame] += count
    threads: Counter[str] = Counter()
    for thread, n in per_thread.items():
        threads[labels[thread].most_common(1)[0][0]] += n

    def ranked(counter: Counter[str], of: int) -> list[tuple[str, int, float]]:
        return [(frame, n, round(100 * n / max(of, 1), 1))
                for frame, n in counter.most_common(top)]

    return {
        "samples": total, "event_loop_samples": loop_total,
        "threads": threads.most_common(),
        "top_own": ranked(own, total),
        "top_own_event_loop": ranked(loop_own, loop_total),
        "top_inclusive_kubesmith_event_loop": ranked(inclusive, loop_total),
    }


async def run_api_bench(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    """Measure the raw store, then the API server over it, for one backend."""
    report: dict[str, Any] = {"backend": backend}
    profile_phases = set(args.profile_phases.split(",")) if args.profile else set()
    print(f"[{backend}] raw store benchmark ...", file=sys.stderr, flush=True)
    report["store_quiet_waited_s"] = await _wait_quiet(args)
    busy, own, started = machine_busy_seconds(), time.process_time(), time.monotonic()
    report["store"] = await run_store_bench(
        backend, clients=args.clients, keys=args.count, watchers=args.watchers,
        events=args.watch_events, etcd_members=args.etcd_members)
    wall = time.monotonic() - started
    # The store bench runs in this process (etcd members are its children): what the
    # machine did beyond this process is etcd's share, or other people's work.
    report["store_cpu_percent_of_one_core"] = {
        "machine": round(100 * (machine_busy_seconds() - busy) / wall, 1),
        "bench": round(100 * (time.process_time() - own) / wall, 1)}
    with tempfile.TemporaryDirectory(prefix="api-bench-") as tmp_text:
        tmp = Path(tmp_text)
        cluster: LocalEtcdCluster | None = None
        server = None
        generators: Generators | None = None
        try:
            extra: list[str] = []
            if backend == "etcd":
                cluster = LocalEtcdCluster(tmp / "etcd", size=args.etcd_members)
                await asyncio.to_thread(cluster.start)
                extra = ["--datastore", "etcd://" + ",".join(cluster.endpoints)]
            print(f"[{backend}] starting the server ...", file=sys.stderr, flush=True)
            started = time.monotonic()
            server = await asyncio.to_thread(start_server, tmp / "server", *extra)
            report["server_start_s"] = time.monotonic() - started
            pid = server.process.pid
            tls = extract_client_tls(server.kubeconfig, tmp / "client-tls")
            generators = Generators(args.generators, tls)
            etcd_pids = [m.process.pid for m in cluster.members
                         if m.process is not None] if cluster else []
            await asyncio.sleep(args.settle)
            report["rss_idle_mb"] = rss_mb(pid)
            connector = aiohttp.TCPConnector(ssl=tls.context(), limit=8)
            async with aiohttp.ClientSession(
                    tls.server, connector=connector,
                    timeout=aiohttp.ClientTimeout(total=120)) as session:
                bench = Bench(args, tls, session, generators, CpuMeter(pid, etcd_pids))
                rss_after: dict[str, float] = {}
                report["rss_mb_after"] = rss_after
                await _run_phases(bench, backend, pid, rss_after)
                report["rss_after_load_mb"] = rss_mb(pid)
                if "watch" in profile_phases:
                    print(f"[{backend}] profiling the watch fan-out with py-spy ...",
                          file=sys.stderr, flush=True)
                    report["profile_watch"] = await _profiled(
                        bench, pid, Path(args.profile) / backend, "watch")
            if bench.profiles.get("create"):
                report["profile_create"] = bench.profiles["create"]
            report["api"] = bench.figures
            report["cpu_percent_of_one_core"] = bench.cpu
            report["errors"] = bench.errors
            report["quiet_waited_s"] = bench.waited
        finally:
            if generators is not None:
                await asyncio.to_thread(generators.stop)
            if server is not None:
                stopping = time.monotonic()
                await asyncio.to_thread(stop_server, server.process)
                report["server_stop_s"] = time.monotonic() - stopping
                report["server_exit_code"] = server.process.returncode
                log_text = server.log.read_text(errors="replace")
                report["server_log_errors"] = [
                    line for line in log_text.splitlines()
                    if "Traceback" in line or "internal error" in line][:5]
            if cluster is not None:
                await asyncio.to_thread(cluster.stop)
    report["rows"] = _rows(report)
    return report


async def _run_phases(bench: Bench, backend: str, pid: int, rss: dict[str, float]) -> None:
    """The measured phases, in an order where none disturbs the next: the watch fan-out
    goes last because the server may keep serving watches whose clients have gone."""
    args = bench.args

    def say(text: str) -> None:
        print(f"[{backend}] {text}", file=sys.stderr, flush=True)

    await bench.namespace("bench")
    say(f"{args.count} ConfigMap creates at {args.clients} clients ...")
    await bench.load("create", "create", "bench", args.count)
    rss["create"] = rss_mb(pid)
    say(f"{args.count} GETs ...")
    await bench.load("get", "get", "bench", args.count)
    rss["get"] = rss_mb(pid)
    say(f"{args.count} UPDATEs ...")
    await bench.load("update", "update", "bench", args.count)
    rss["update"] = rss_mb(pid)
    say(f"{args.list_requests} LISTs (page of {PAGE}) ...")
    await bench.load("list", "list", "bench", args.list_requests)
    rss["list"] = rss_mb(pid)
    await bench.namespace("bench-pods")
    say(f"{args.pods} pod creates ...")
    await bench.load("pod_create", "create_pod", "bench-pods", args.pods, prefix="pod-")
    rss["pod_create"] = rss_mb(pid)
    say(f"paged pod LIST x{args.list_repeats} ...")
    runs = []
    pages = 0
    await bench.quiet("pod_list")
    before = bench.meter.sample()
    for _ in range(max(1, args.list_repeats)):
        seconds, items, pages = await bench.list_pods("bench-pods")
        if items != args.pods:
            raise RuntimeError(f"paged LIST returned {items} pods, expected {args.pods}")
        runs.append(seconds)
    bench.cpu["pod_list"] = CpuMeter.share(before, bench.meter.sample(), [])
    bench.figures["pod_list_pages_runs_s"] = runs
    bench.figures["pod_list_pages_s"] = statistics.median(runs)
    bench.figures["pod_list_pages"] = pages
    rss["pod_list"] = rss_mb(pid)
    if args.profile and "create" in args.profile_phases.split(","):
        say("profiling creates with py-spy (an extra pass, not in the figures) ...")
        bench.profiles["create"] = await _profiled(
            bench, pid, Path(args.profile) / backend, "create")
        rss["profiled_create"] = rss_mb(pid)
    say(f"{args.watchers} watches, {args.watch_events} changes ...")
    await bench.watch_fanout()
    rss["watch"] = rss_mb(pid)


# ---------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------

# (label, api key, target text, target check, store key or callable, unit)
def _rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    api = report.get("api", {})
    store = report["store"]
    store_list_pages_per_s = (store["keys"] / PAGE) / store["list_pages_s"]
    specs: list[tuple[str, Any, str, Any, Any, str]] = [
        ("ConfigMap creates/s", api.get("create_per_s"), ">= 2,000", lambda v: v >= 2000,
         store["creates_per_s"], "/s"),
        ("create p50", api.get("create_p50_ms"), "", None, store["create_p50_ms"], "ms"),
        ("create p99", api.get("create_p99_ms"), "<= 25 ms", lambda v: v <= 25,
         store["create_p99_ms"], "ms"),
        ("GETs/s", api.get("get_per_s"), "", None, store["gets_per_s"], "/s"),
        ("GET p50", api.get("get_p50_ms"), "", None, None, "ms"),
        ("GET p99", api.get("get_p99_ms"), "", None, None, "ms"),
        ("UPDATEs/s (PUT with RV)", api.get("update_per_s"), "", None,
         store["updates_per_s"], "/s"),
        ("UPDATE p50", api.get("update_p50_ms"), "", None, None, "ms"),
        ("UPDATE p99", api.get("update_p99_ms"), "", None, store["update_p99_ms"], "ms"),
        (f"LISTs/s (page of {PAGE})", api.get("list_per_s"), "", None,
         store_list_pages_per_s, "/s"),
        ("LIST p50", api.get("list_p50_ms"), "", None, None, "ms"),
        ("LIST p99", api.get("list_p99_ms"), "", None, None, "ms"),
        (f"watch p50 ({api.get('watchers')} watchers)", api.get("watch_p50_ms"), "", None,
         store["watch_p50_ms"], "ms"),
        (f"watch p99 ({api.get('watchers')} watchers)", api.get("watch_p99_ms"), "<= 50 ms",
         lambda v: v <= 50, store["watch_p99_ms"], "ms"),
        ("watch p99 from the create's request", api.get("watch_from_send_p99_ms"), "", None,
         None, "ms"),
        ("watch: first watcher of a change, p50", api.get("watch_first_watcher_p50_ms"), "",
         None, None, "ms"),
        ("watch: last watcher of a change, p50", api.get("watch_last_watcher_p50_ms"), "",
         None, None, "ms"),
        ("watch: the change's own create, p50", api.get("watch_write_ack_p50_ms"), "", None,
         None, "ms"),
        ("Pod creates/s", api.get("pod_create_per_s"), "", None, None, "/s"),
        ("Pod create p99", api.get("pod_create_p99_ms"), "", None, None, "ms"),
        (f"LIST {api.get('pod_create_count', '')} pods, pages of {PAGE} (median)",
         api.get("pod_list_pages_s"), "<= 1 s", lambda v: v <= 1.0,
         store["list_pages_s"], "s"),
        (f"  same, slowest of {len(api.get('pod_list_pages_runs_s', []))} runs",
         max(api["pod_list_pages_runs_s"]) if api.get("pod_list_pages_runs_s") else None,
         "<= 1 s", lambda v: v <= 1.0, store["list_pages_s"], "s"),
        ("server RSS idle", report.get("rss_idle_mb"), "<= 150 MB", lambda v: v <= 150,
         None, "MB"),
        ("server RSS after load" + (" (incl. the profiled create pass)"
                                    if "profiled_create" in report.get("rss_mb_after", {})
                                    else ""),
         report.get("rss_after_load_mb"), "", None, None, "MB"),
    ]
    rows = []
    for label, value, target, check, reference, unit in specs:
        row: dict[str, Any] = {"figure": label, "value": value, "unit": unit,
                               "target": target, "store": reference}
        row["ratio"] = value / reference if value is not None and reference else None
        row["met"] = None if check is None or value is None else bool(check(value))
        rows.append(row)
    return rows


def _fmt(value: Any, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "/s":
        return f"{value:,.0f}/s"
    if unit == "ms":
        return f"{value:,.2f} ms"
    if unit == "s":
        return f"{value:,.3f} s"
    return f"{value:,.1f} {unit}"


def format_table(report: dict[str, Any]) -> str:
    """The rows as a Markdown table (readable in a terminal too)."""
    lines = [f"backend: {report['backend']}"
             + (f" ({report['store'].get('etcd_members')} etcd member(s))"
                if report["backend"] == "etcd" else ""),
             "",
             "| figure | API server | target | raw store | API / store |",
             "|---|---:|---|---:|---:|"]
    for row in report["rows"]:
        target = row["target"]
        if row["met"] is not None:
            target += " ok" if row["met"] else " **MISSED**"
        ratio = f"{row['ratio']:.2f}x" if row["ratio"] is not None else "-"
        lines.append(f"| {row['figure']} | {_fmt(row['value'], row['unit'])} | {target} | "
                     f"{_fmt(row['store'], row['unit'])} | {ratio} |")
    lines.append("")
    lines.append(f"CPU per phase, % of one core ({os.cpu_count()} cores): server process (of "
                 "which its event-loop thread), etcd, generator processes, this process, "
                 "other processes on the machine:")
    for phase, share in report.get("cpu_percent_of_one_core", {}).items():
        gens = " + ".join(f"{g:.0f}" for g in share["generators"]) or "-"
        lines.append(f"  {phase:<11} server {share['server']:4.0f} (loop "
                     f"{share['server_main_thread']:3.0f})  etcd {share['etcd']:4.0f}"
                     f"  generators {gens}  bench {share['bench']:.0f}"
                     f"  others {share['others']:.0f}"
                     f"  (waited {report.get('quiet_waited_s', {}).get(phase, 0):.0f} s "
                     "for a quiet machine)")
    store_cpu = report.get("store_cpu_percent_of_one_core")
    if store_cpu:
        lines.append(f"  raw store bench: machine busy {store_cpu['machine']:.0f}, of which "
                     f"this process {store_cpu['bench']:.0f}"
                     + (" (the rest is etcd and other processes)"
                        if report["backend"] == "etcd" else " (the rest is other processes)"))
    disturbed = [f"{phase} {share['others']:.0f}%"
                 for phase, share in report.get("cpu_percent_of_one_core", {}).items()
                 if share["others"] > 25]
    if disturbed:
        lines.append("NOTE: other processes on the machine were busy during "
                     + ", ".join(disturbed) + " (of one core): those figures are understated.")
    if report.get("errors"):
        lines.append(f"ERRORS: {json.dumps(report['errors'])}")
    if report.get("server_log_errors"):
        lines.append(f"SERVER LOG ERRORS: {report['server_log_errors']}")
    for key in ("profile_create", "profile_watch"):
        if report.get(key):
            lines += ["", *format_profile(report[key])]
    return "\n".join(lines)


def format_profile(profile: dict[str, Any]) -> list[str]:
    """A profile summary as text lines."""
    if "top_own" not in profile:
        return [f"py-spy: {profile.get('skipped')}"]
    lines = [f"py-spy on the server ({profile['phase']} pass, not in the figures): "
             f"{profile['seconds']} s at 100 Hz during {profile['what']} ({profile['rate']});",
             f"{profile['samples']} samples, by thread: "
             + ", ".join(f"{label} {n}" for label, n in profile["threads"]),
             "(py-spy counts threads blocked in Condition.wait / queue.get here as active, "
             "so only the event-loop thread's samples are a CPU profile)"]
    for title, key in (("top by own time, event-loop thread", "top_own_event_loop"),
                       ("kubesmith functions by inclusive time, event-loop thread",
                        "top_inclusive_kubesmith_event_loop")):
        lines.append(f"{title}:")
        lines += [f"  {percent:5.1f}%  {n:6d}  {frame}" for frame, n, percent in profile[key]]
    return lines


def code_state() -> dict[str, Any]:
    """Which code was measured: the commit, and a digest of uncommitted changes."""
    root = Path(__file__).resolve().parents[1]

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", "-C", str(root), *args], capture_output=True,
                                  text=True, timeout=30, check=False).stdout
        except (OSError, subprocess.TimeoutExpired):
            return ""

    diff = git("diff", "HEAD")
    return {"commit": git("rev-parse", "HEAD").strip(),
            "changed_files": len(git("status", "--porcelain").splitlines()),
            "diff_sha1": hashlib.sha1(diff.encode()).hexdigest()[:12] if diff else ""}


def machine_info() -> dict[str, Any]:
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {"nproc": os.cpu_count(), "cpu_model": model, "python": platform.python_version(),
            "kernel": platform.release()}


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "etcd", "both"], default="sqlite")
    parser.add_argument("--etcd-members", type=int, default=1, choices=[1, 3])
    parser.add_argument("--clients", type=int, default=64,
                        help="concurrent requests in total (default: %(default)s)")
    parser.add_argument("--generators", type=int, default=2,
                        help="load generator processes (default: %(default)s)")
    parser.add_argument("--count", type=int, default=10_000,
                        help="ConfigMaps created, read and updated (default: %(default)s)")
    parser.add_argument("--list-requests", type=int, default=1_000)
    parser.add_argument("--watchers", type=int, default=1_000)
    parser.add_argument("--watch-events", type=int, default=100)
    parser.add_argument("--watch-interval-ms", type=float, default=200.0,
                        help="pause between fan-out changes (default: %(default)s)")
    parser.add_argument("--pods", type=int, default=10_000)
    parser.add_argument("--list-repeats", type=int, default=3)
    parser.add_argument("--settle", type=float, default=2.0,
                        help="seconds between readiness and the idle RSS reading")
    parser.add_argument("--quiet-wait", type=float, default=60.0,
                        help="before each phase, wait up to this many seconds for the "
                        "machine to be idle (shared machines; default: %(default)s)")
    parser.add_argument("--quiet-percent", type=float, default=15.0,
                        help="idle means below this %% of one core busy (default: "
                        "%(default)s)")
    parser.add_argument("--phase-timeout", type=float, default=180.0,
                        help="abort when one phase takes longer (seconds)")
    parser.add_argument("--profile", metavar="DIR", default="",
                        help="after the figures, profile the server with py-spy during an "
                        "extra create pass; write collapsed stacks under DIR")
    parser.add_argument("--profile-phases", default="create",
                        help="comma-separated extra passes to profile: create, watch "
                        "(default: %(default)s)")
    parser.add_argument("--profile-seconds", type=int, default=10)
    parser.add_argument("--json", metavar="FILE", default="",
                        help="also write every figure as JSON to FILE")
    args = parser.parse_args()
    backends = ["sqlite", "etcd"] if args.backend == "both" else [args.backend]
    output: dict[str, Any] = {
        "command": " ".join(["python", *sys.argv]),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "code": code_state(),
        "settings": {k: v for k, v in vars(args).items() if k not in ("json",)},
        "results": {},
    }
    for backend in backends:
        report = uvloop.run(run_api_bench(backend, args))
        output["results"][backend] = report
        print(format_table(report), flush=True)
        print(flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(output, indent=2) + "\n")
    failed = any(r.get("errors") or r.get("server_log_errors")
                 for r in output["results"].values())
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
