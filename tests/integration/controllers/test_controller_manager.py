"""``kubesmith controller-manager`` as its own process: flag errors, leader election between
replicas (only the leader acts; a standby takes over when it stops), and each controller
acting as its own ServiceAccount limited by its bootstrap role."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RunningServer
from tests.integration.controllers.helpers import wait_for

pytestmark = pytest.mark.integration


def _start_manager(server: RunningServer, log: Path, *extra: str) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "kubesmith", "controller-manager", "--kubeconfig",
             str(server.data_dir / "controller-manager.kubeconfig"),
             "--controllers", "serviceaccount", "--leader-elect-lease-duration", "4s",
             "--leader-elect-renew-deadline", "3s", "--leader-elect-retry-period", "0.3s",
             *extra], stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


@pytest.fixture(scope="module")
def bare_server(server_factory: Any) -> RunningServer:
    """An API server without its in-process controller manager."""
    server: RunningServer = server_factory("--disable-controller-manager")
    return server


@pytest.fixture
def managers(bare_server: RunningServer, tmp_path: Path
             ) -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    try:
        yield procs
    finally:
        for proc in procs:
            _stop(proc)


def _holder(server: RunningServer) -> str:
    proc = server.kubectl("get", "lease", "kube-controller-manager", "-n", "kube-system",
                          "-o", "jsonpath={.spec.holderIdentity}", check=False)
    return proc.stdout.strip() if proc.returncode == 0 else ""


def _has_default_sa(server: RunningServer, ns: str) -> bool:
    return server.kubectl("get", "sa", "default", "-n", ns, check=False).returncode == 0


def test_bad_flags_name_the_problem(bare_server: RunningServer, tmp_path: Path) -> None:
    for args, expected in (
            (["--controllers", "bogus"], "unknown controller 'bogus'"),
            (["--cluster-cidr", "10.0.0.1/16"], "--cluster-cidr"),
            (["--node-monitor-grace-period", "soon"], "is not a duration"),
            (["--leader-elect-renew-deadline", "20s"], "--leader-elect-renew-deadline <")):
        proc = subprocess.run(
            [sys.executable, "-m", "kubesmith", "controller-manager", "--kubeconfig",
             str(bare_server.data_dir / "controller-manager.kubeconfig"), *args],
            capture_output=True, text=True, timeout=30)
        assert proc.returncode == 2, proc.stderr
        assert expected in proc.stderr
    missing = subprocess.run(
        [sys.executable, "-m", "kubesmith", "controller-manager", "--kubeconfig",
         str(tmp_path / "nope.kubeconfig")], capture_output=True, text=True, timeout=30)
    assert missing.returncode == 2
    assert "cannot read kubeconfig" in missing.stderr


def test_one_leader_acts_and_a_standby_takes_over(bare_server: RunningServer,
                                                  managers: list[Any],
                                                  tmp_path: Path) -> None:
    server = bare_server
    first = _start_manager(server, tmp_path / "cm1.log")
    managers.append(first)
    leader = wait_for(lambda: _holder(server), "a leader", 20)
    second = _start_manager(server, tmp_path / "cm2.log")
    managers.append(second)
    server.kubectl("create", "namespace", "cm-one")
    wait_for(lambda: _has_default_sa(server, "cm-one"), "default SA from the leader", 10)
    time.sleep(1)
    assert _holder(server) == leader, "the standby must not take the lease"
    assert "running serviceaccount-controller" not in (tmp_path / "cm2.log").read_text()

    # The leader stops: it releases the Lease and the standby takes over quickly.
    _stop(first)
    new_leader = wait_for(lambda: (h := _holder(server)) and h != leader and h,
                          "the standby to lead", 10)
    assert new_leader
    server.kubectl("create", "namespace", "cm-two")
    wait_for(lambda: _has_default_sa(server, "cm-two"), "default SA from the new leader",
             10)
    assert "running serviceaccount-controller" in (tmp_path / "cm2.log").read_text()


def test_controllers_act_as_their_own_service_accounts(bare_server: RunningServer,
                                                       managers: list[Any],
                                                       tmp_path: Path) -> None:
    server = bare_server
    managers.append(_start_manager(server, tmp_path / "cm.log", "--leader-elect", "false"))
    server.kubectl("create", "namespace", "cm-ident-a")
    wait_for(lambda: _has_default_sa(server, "cm-ident-a"), "default SA", 15)
    binding = "system:controller:service-account-controller"
    saved = json.loads(server.kubectl("get", "clusterrolebinding", binding,
                                      "-o", "json").stdout)
    assert saved["subjects"] == [{"kind": "ServiceAccount", "name":
                                  "service-account-controller", "namespace": "kube-system"}]
    server.kubectl("delete", "clusterrolebinding", binding)
    try:
        # Without its binding the controller's own identity may not create
        # ServiceAccounts, even though the manager's identity could.
        server.kubectl("create", "namespace", "cm-ident-b")
        time.sleep(2)
        assert not _has_default_sa(server, "cm-ident-b")
    finally:
        for key in ("resourceVersion", "uid", "creationTimestamp", "managedFields"):
            saved["metadata"].pop(key, None)
        server.kubectl("create", "-f", "-", input=json.dumps(saved))
    # The failed reconcile was retried with backoff and now succeeds.
    wait_for(lambda: _has_default_sa(server, "cm-ident-b"), "default SA after restore", 20)
