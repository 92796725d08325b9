"""Fixtures for real pod networking: network namespaces attached with the real CNI plugins
on a bridge, pod CIDR and state directories unique to each test, all removed afterwards
(even when the test fails)."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import random
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from kubesmith.agent.cni import CNI, PodNetwork

PLUGIN_DIR = Path("/usr/lib/cni")


def run(*argv: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr}")
    return proc


def _used_networks() -> list[ipaddress.IPv4Network]:
    routes = json.loads(run("ip", "-j", "-4", "route", "show", "table", "all").stdout or "[]")
    used = []
    for route in routes:
        with contextlib.suppress(ValueError):
            if route.get("dst") not in (None, "default"):
                used.append(ipaddress.ip_network(route["dst"], strict=False))
    return [n for n in used if isinstance(n, ipaddress.IPv4Network)]


def free_subnet(base: str, prefix: int) -> ipaddress.IPv4Network:
    """A random subnet of ``base`` that no route on the host touches."""
    used = _used_networks()
    candidates = list(ipaddress.IPv4Network(base).subnets(new_prefix=prefix))
    for _ in range(200):
        subnet = random.choice(candidates)
        if not any(subnet.overlaps(u) for u in used):
            return subnet
    raise RuntimeError(f"no free /{prefix} in {base}")


def wait_for_port(host: str, port: int, deadline: float = 10.0) -> None:
    end = time.monotonic() + deadline
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > end:
                raise
            time.sleep(0.05)


@dataclass
class PodNet:
    """One test's networking: a bridge, a pod CIDR, namespaces, processes, veths."""

    suffix: str
    tmp: Path
    cidr: ipaddress.IPv4Network
    bridge: str
    cni: CNI
    namespaces: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    attached: list[tuple[str, Path]] = field(default_factory=list)

    @property
    def ipam_dir(self) -> Path:
        return self.tmp / "ipam"

    def netns(self, label: str) -> tuple[str, Path]:
        name = f"ks-{self.suffix}-{label}"
        run("ip", "netns", "add", name)
        self.namespaces.append(name)
        return name, Path("/run/netns") / name

    def container_id(self, label: str) -> str:
        return f"{self.suffix}{label}".ljust(64, "0")

    async def attach(self, label: str, **kwargs: Any) -> tuple[str, Path, PodNetwork]:
        name, path = self.netns(label)
        cid = self.container_id(label)
        self.attached.append((cid, path))
        network = await self.cni.add(container_id=cid, netns=path, pod_name=f"pod-{label}",
                                     namespace="net-test", pod_uid=f"uid-{label}", **kwargs)
        return name, path, network

    def exec_in(self, namespace: str, *argv: str, check: bool = True,
                timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return run("ip", "netns", "exec", namespace, *argv, check=check, timeout=timeout)

    def wget(self, namespace: str, url: str, time_limit: float = 5) -> tuple[int, str]:
        """Fetch ``url`` from inside ``namespace``: (exit status, body). busybox wget's own
        -T option crashes (Debian 1.35), so the time limit is applied from outside."""
        try:
            proc = self.exec_in(namespace, "busybox", "wget", "-q", "-O", "-", url,
                                check=False, timeout=time_limit)
        except subprocess.TimeoutExpired:
            return -1, ""
        return proc.returncode, proc.stdout

    def spawn_in(self, namespace: str, *argv: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(["ip", "netns", "exec", namespace, *argv],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.processes.append(proc)
        return proc

    def serve_http(self, namespace: str, port: int, files: dict[str, str]) -> subprocess.Popen[
            bytes]:
        root = self.tmp / f"www-{namespace}-{port}"
        root.mkdir()
        for name, content in files.items():
            (root / name).write_text(content)
        return self.spawn_in(namespace, "busybox", "httpd", "-f", "-p", str(port),
                             "-h", str(root))

    def client_netns(self, label: str) -> tuple[str, str]:
        """A namespace outside the bridge, linked to the host by a veth pair (as a remote
        client would reach the node). Returns (namespace, the host's address on the link)."""
        name, _ = self.netns(label)
        link = free_subnet("198.18.0.0/15", 30)
        host_ip, peer_ip = (str(ip) for ip in list(link.hosts())[:2])
        host_end, peer_end = f"ksv{self.suffix}{label}", f"ksp{self.suffix}{label}"
        run("ip", "link", "add", host_end, "type", "veth", "peer", "name", peer_end)
        self.links.append(host_end)
        run("ip", "link", "set", peer_end, "netns", name)
        run("ip", "addr", "add", f"{host_ip}/30", "dev", host_end)
        run("ip", "link", "set", host_end, "up")
        self.exec_in(name, "ip", "addr", "add", f"{peer_ip}/30", "dev", peer_end)
        self.exec_in(name, "ip", "link", "set", peer_end, "up")
        self.exec_in(name, "ip", "link", "set", "lo", "up")
        self.exec_in(name, "ip", "route", "add", "default", "via", host_ip)
        return name, host_ip

    async def cleanup(self) -> None:
        for proc in self.processes:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        for cid, path in self.attached:
            # Releases addresses and the iptables rules the plugins added for the pod.
            with contextlib.suppress(Exception):
                await self.cni.delete(container_id=cid, netns=path)
        for name in self.namespaces:
            run("ip", "netns", "del", name, check=False)
        for link in [*self.links, self.bridge]:
            run("ip", "link", "del", link, check=False)


def require_root_and_plugins() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (network namespaces, bridges)")
    missing = [p for p in ("bridge", "host-local", "loopback", "portmap")
               if not (PLUGIN_DIR / p).exists()]
    if missing or not shutil.which("busybox"):
        pytest.skip(f"missing CNI plugins {missing} or busybox")


@pytest.fixture
async def podnet(tmp_path: Path) -> AsyncIterator[PodNet]:
    require_root_and_plugins()
    suffix = secrets.token_hex(3)
    cidr = free_subnet("10.128.0.0/9", 24)
    bridge = f"kst{suffix}"
    cni = CNI(conf_dir=tmp_path / "net.d", bin_dirs=(PLUGIN_DIR,), cache_dir=tmp_path / "cache",
              default_pod_cidr=str(cidr), default_network_name=f"kst{suffix}", bridge=bridge,
              ipam_data_dir=tmp_path / "ipam")
    net = PodNet(suffix=suffix, tmp=tmp_path, cidr=cidr, bridge=bridge, cni=cni)
    try:
        yield net
    finally:
        await net.cleanup()
