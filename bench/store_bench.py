"""Raw datastore figures, so the API benchmark can show the store's own rate beside its own.

Run ``python bench/store_bench.py --backend sqlite|etcd`` (``--json`` for machine output), or
import :func:`run_store_bench` and await it: it returns a dict of figures. For etcd the bench
starts its own members on loopback in a temporary directory and stops them at the end.

Figures (``clients`` concurrent tasks, 64 by default):

* ``creates_per_s``, ``create_p50_ms``, ``create_p99_ms`` -- ``keys`` creates of 300-byte values;
* ``gets_per_s`` -- point reads of those keys at the latest revision;
* ``updates_per_s`` -- compare-and-swap updates (each task owns its keys, so no conflicts);
* ``list_pages_s`` -- reading ``keys`` keys in pages of 500 at one revision (total seconds);
* ``watch_p50_ms``, ``watch_p99_ms`` -- from the start of a create to its event reaching each
  of ``watchers`` watchers, for sequential creates (fan-out latency, not throughput).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kubesmith.storage.etcd import EtcdStore
from kubesmith.storage.etcd_launcher import LocalEtcdCluster
from kubesmith.storage.interface import Store, WatchEvent
from kubesmith.storage.sqlite import SqliteStore

VALUE = b"x" * 300
PAGE = 500


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


async def _run_workers(
    clients: int, count: int, one: Callable[[int], Awaitable[None]]
) -> tuple[float, list[float]]:
    """Run ``one(i)`` for i in range(count) on ``clients`` tasks; (seconds, latencies)."""
    latencies: list[float] = []
    next_index = 0

    async def worker() -> None:
        nonlocal next_index
        while next_index < count:
            index = next_index
            next_index += 1
            started = time.perf_counter()
            await one(index)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    return time.perf_counter() - started, latencies


async def bench_store(
    store: Store, *, clients: int = 64, keys: int = 10_000, watchers: int = 32, events: int = 300
) -> dict[str, float]:
    """Measure ``store`` (which should be empty under ``/bench/``)."""
    figures: dict[str, float] = {}
    prefix = "/bench/items/"
    names = [f"{prefix}{i:07d}" for i in range(keys)]
    revisions: list[int] = [0] * keys

    async def create(i: int) -> None:
        revisions[i] = (await store.create(names[i], VALUE)).mod_revision

    seconds, latencies = await _run_workers(clients, keys, create)
    figures["creates_per_s"] = keys / seconds
    figures["create_p50_ms"] = _percentile(latencies, 0.50) * 1e3
    figures["create_p99_ms"] = _percentile(latencies, 0.99) * 1e3

    async def get(i: int) -> None:
        await store.get(names[i])

    seconds, _ = await _run_workers(clients, keys, get)
    figures["gets_per_s"] = keys / seconds

    async def update(i: int) -> None:
        revisions[i] = (
            await store.update(names[i], VALUE, expected_mod_revision=revisions[i])
        ).mod_revision

    seconds, latencies = await _run_workers(clients, keys, update)
    figures["updates_per_s"] = keys / seconds
    figures["update_p99_ms"] = _percentile(latencies, 0.99) * 1e3

    started = time.perf_counter()
    page = await store.list(prefix, limit=PAGE)
    listed = len(page.kvs)
    while page.more:
        page = await store.list(
            prefix, revision=page.revision, limit=PAGE, start_key=page.kvs[-1].key + "\0"
        )
        listed += len(page.kvs)
    figures["list_pages_s"] = time.perf_counter() - started
    if listed != keys:
        raise AssertionError(f"listed {listed} keys, expected {keys}")

    figures.update(await _bench_watch(store, watchers, events))
    return figures


async def _bench_watch(store: Store, watchers: int, events: int) -> dict[str, float]:
    prefix = "/bench/watch/"
    start = await store.current_revision() + 1
    sent: dict[int, float] = {}
    delays: list[float] = []

    async def watch() -> None:
        stream = store.watch(prefix, start_revision=start)
        seen = 0
        try:
            async for event in stream:
                delays.append(time.perf_counter() - sent[_rev(event)])
                seen += 1
                if seen == events:
                    return
        finally:
            await stream.aclose()  # type: ignore[attr-defined]

    tasks = [asyncio.create_task(watch()) for _ in range(watchers)]
    await asyncio.sleep(0.2)  # let every watch reach the store before the first write
    for i in range(events):
        # The create's revision is only known once it returns, so stamp the revision it
        # will get: nothing else writes meanwhile, and revisions advance by exactly one.
        sent[start + i] = time.perf_counter()
        kv = await store.create(f"{prefix}{i:06d}", VALUE)
        if kv.mod_revision != start + i:
            raise AssertionError("another writer interfered with the watch benchmark")
    await asyncio.wait_for(asyncio.gather(*tasks), 60)
    return {
        "watchers": float(watchers),
        "watch_p50_ms": statistics.median(delays) * 1e3,
        "watch_p99_ms": _percentile(delays, 0.99) * 1e3,
    }


def _rev(event: WatchEvent) -> int:
    return event.kv.mod_revision


async def run_store_bench(
    backend: str,
    *,
    clients: int = 64,
    keys: int = 10_000,
    watchers: int = 32,
    events: int = 300,
    etcd_members: int = 1,
    workdir: str | None = None,
) -> dict[str, Any]:
    """Open a fresh ``backend`` ("sqlite" or "etcd") store, measure it, tear it down."""
    with tempfile.TemporaryDirectory(prefix="store-bench-", dir=workdir) as tmp:
        if backend == "sqlite":
            store: Store = await SqliteStore.open(os.path.join(tmp, "state.db"))
            cluster = None
        elif backend == "etcd":
            cluster = LocalEtcdCluster(Path(tmp) / "etcd", size=etcd_members)
            await asyncio.to_thread(cluster.start)
            try:
                store = await EtcdStore.open(cluster.endpoints)
            except BaseException:
                await asyncio.to_thread(cluster.stop)
                raise
        else:
            raise ValueError(f"unknown backend {backend!r} (sqlite or etcd)")
        try:
            figures: dict[str, Any] = {"backend": backend, "clients": clients, "keys": keys}
            if cluster is not None:
                figures["etcd_members"] = etcd_members
            figures.update(
                await bench_store(
                    store, clients=clients, keys=keys, watchers=watchers, events=events
                )
            )
            if isinstance(store, SqliteStore):
                figures["writes_per_commit"] = store.writes / max(store.commits, 1)
            return figures
        finally:
            await store.close()
            if cluster is not None:
                await asyncio.to_thread(cluster.stop)


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "etcd"], default="sqlite")
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--watchers", type=int, default=32)
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--etcd-members", type=int, default=1, choices=[1, 3])
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    bench = run_store_bench(
        args.backend,
        clients=args.clients,
        keys=args.keys,
        watchers=args.watchers,
        events=args.events,
        etcd_members=args.etcd_members,
    )
    if args.uvloop:
        import uvloop

        figures = uvloop.run(bench)
    else:
        figures = asyncio.run(bench)
    if args.json:
        print(json.dumps(figures))
        return
    for name, value in figures.items():
        shown = f"{value:,.2f}" if isinstance(value, float) else str(value)
        print(f"{name:>20}  {shown}")


if __name__ == "__main__":
    main()
