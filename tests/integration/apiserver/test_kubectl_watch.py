"""kubectl get -w: watch events as the real kubectl prints them, and what the server does
when a watching kubectl goes away.

The watch tests share the module's server, each in its own namespace. The disconnect tests
start a server of their own, because what they check (a clean log, a prompt exit on
SIGTERM) is exactly what the shared fixture's teardown would trip over.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import KUBECTL, RunningServer, start_server, stop_server

pytestmark = pytest.mark.integration


@pytest.fixture
def ns(kubectl_namespace: str) -> str:
    """A fresh namespace named after the test."""
    return kubectl_namespace


def _configmaps(server: RunningServer, ns: str, *names: str) -> None:
    docs = [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": n},
             "data": {"key": n}} for n in names]
    server.kubectl("create", "-n", ns, "-f", "-",
                   input="\n---\n".join(json.dumps(d) for d in docs))


class Watch:
    """A ``kubectl get -w`` subprocess whose stdout lines arrive on a queue.

    kubectl runs with ``-v=6``, so its stderr logs each request once the response headers
    are in: :meth:`wait_for_request` tells when the watch itself has started.
    """

    def __init__(self, server: RunningServer, args: tuple[str, ...]) -> None:
        env = {**os.environ, "KUBECONFIG": str(server.kubeconfig), "KUBECTL_KUBERC": "false"}
        self.proc = subprocess.Popen([KUBECTL, "-v=6", *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=env)
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self.requests: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_log, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def _read_log(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            match = re.search(r'"Response" verb="GET" url="([^"]*)" status="(\d+)', line)
            if match:
                self.requests.put(f"{match.group(2)} {match.group(1)}")

    def wait_for_request(self, pattern: str, timeout: float = 15) -> str:
        """Wait until kubectl logs a response to a GET whose ``status url`` matches."""
        deadline = time.monotonic() + timeout
        seen = []
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                request = self.requests.get(timeout=remaining)
            except queue.Empty:
                break
            seen.append(request)
            if re.search(pattern, request):
                return request
        raise AssertionError(f"no request matching {pattern!r} in {seen}")

    def wait_for(self, pattern: str, timeout: float = 15) -> list[str]:
        """Read lines until one matches ``pattern``; return every line read so far."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no line matching {pattern!r} in {self.seen}"
                                     f" (exit {self.proc.poll()})")
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                continue
            self.seen.append(line)
            if re.search(pattern, line):
                return self.seen

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


WatchFactory = Callable[..., Watch]


@pytest.fixture
def watcher(api_server: RunningServer) -> Iterator[WatchFactory]:
    """Start ``kubectl <args>`` watches on the module's server; all are killed afterwards."""
    watches: list[Watch] = []

    def start(*args: str) -> Watch:
        w = Watch(api_server, args)
        watches.append(w)
        return w

    yield start
    for w in watches:
        w.stop()


def test_get_watch_events(api_server: RunningServer, ns: str,
                          watcher: WatchFactory) -> None:
    _configmaps(api_server, ns, "before")
    w = watcher("get", "cm", "-n", ns, "-w", "--output-watch-events")
    w.wait_for(r"^ADDED\s+before\s")
    _configmaps(api_server, ns, "during")
    api_server.kubectl("patch", "-n", ns, "cm", "during", "--type", "merge",
                       "-p", '{"data":{"other":"1"}}')
    api_server.kubectl("label", "-n", ns, "cm", "before", "touched=yes")
    api_server.kubectl("delete", "-n", ns, "cm", "during")
    seen = w.wait_for(r"^DELETED\s+during\s")
    assert [line.split()[:3] for line in seen] == [
        ["EVENT", "NAME", "DATA"],
        ["ADDED", "before", "1"],
        ["ADDED", "during", "1"],
        ["MODIFIED", "during", "2"],
        ["MODIFIED", "before", "1"],
        ["DELETED", "during", "2"],
    ]


def test_get_watch_single_object(api_server: RunningServer, ns: str,
                                 watcher: WatchFactory) -> None:
    _configmaps(api_server, ns, "watched", "ignored")
    w = watcher("get", "cm", "watched", "-n", ns, "-w", "-o",
                "jsonpath={.metadata.name}={.data.key}{'\\n'}")
    w.wait_for(r"^watched=watched$")
    api_server.kubectl("patch", "-n", ns, "cm", "ignored", "--type", "merge",
                       "-p", '{"data":{"key":"x"}}')
    api_server.kubectl("patch", "-n", ns, "cm", "watched", "--type", "merge",
                       "-p", '{"data":{"key":"changed"}}')
    assert w.wait_for(r"^watched=changed$") == ["watched=watched", "watched=changed"]


def test_get_watch_only(api_server: RunningServer, ns: str, watcher: WatchFactory) -> None:
    """``--watch-only`` skips the initial list; a label selector filters the events."""
    _configmaps(api_server, ns, "old")
    w = watcher("get", "cm", "-n", ns, "--watch-only", "-l", "pick=yes", "-o", "name")
    w.wait_for_request(r"^200 .*[?&]watch=true")
    _configmaps(api_server, ns, "skipped")
    api_server.kubectl("label", "-n", ns, "cm", "old", "pick=yes")
    assert w.wait_for(r"configmap/") == ["configmap/old"]


# ---- a watching kubectl goes away ----------------------------------------------------------

@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[RunningServer]:
    """A server for one test; stopped without the shared fixture's log check."""
    server = start_server(tmp_path / "server")
    try:
        yield server
    finally:
        if server.process.poll() is None:
            os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait(10)


def _abandon_watch(server: RunningServer) -> None:
    """Watch configmaps in ``default`` with kubectl, then kill kubectl."""
    w = Watch(server, ("get", "cm", "-n", "default", "-w", "--output-watch-events"))
    _configmaps(server, "default", "seen")
    w.wait_for(r"^ADDED\s+seen\s")
    w.stop()


def test_watch_client_gone_then_event_logs_no_traceback(own_server: RunningServer) -> None:
    _abandon_watch(own_server)
    _configmaps(own_server, "default", "after")
    time.sleep(1)
    stop_server(own_server.process)
    log = own_server.log.read_text()
    assert "Traceback" not in log, log


def test_server_stops_promptly_after_watch_client_gone(own_server: RunningServer) -> None:
    _abandon_watch(own_server)
    started = time.monotonic()
    os.killpg(own_server.process.pid, signal.SIGTERM)
    try:
        own_server.process.wait(3)
    except subprocess.TimeoutExpired:
        pytest.fail("server still running 3 s after SIGTERM")
    assert time.monotonic() - started < 3
