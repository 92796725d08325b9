"""``kubesmith scheduler`` as its own process: flag errors name the fix, and a running
scheduler takes the kube-scheduler Lease and binds a pod."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RunningServer

pytestmark = pytest.mark.integration


def test_bad_flags(tmp_path: Path) -> None:
    for args, expected in (
            (["--kubeconfig", str(tmp_path / "none")], "cannot read kubeconfig"),
            (["--kubeconfig", "x", "--percentage-of-nodes-to-score", "120"], "0-100"),
            (["--kubeconfig", "x", "--leader-elect-renew-deadline", "1m"],
             "--leader-elect-renew-deadline <")):
        proc = subprocess.run([sys.executable, "-m", "kubesmith", "scheduler", *args],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2, proc.stderr
        assert expected in proc.stderr


def test_scheduler_process_binds_pods(server_factory: Any, tmp_path: Path) -> None:
    server: RunningServer = server_factory("--disable-scheduler", "--controllers",
                                           "serviceaccount,node-lifecycle")
    log = tmp_path / "scheduler.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kubesmith", "scheduler", "--kubeconfig",
             str(server.data_dir / "scheduler.kubeconfig"), "--leader-elect-lease-duration",
             "4s", "--leader-elect-renew-deadline", "3s", "--leader-elect-retry-period",
             "500ms"], stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        server.kubectl("create", "-f", "-", input=json.dumps({
            "apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"},
            "status": {"capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"},
                       "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
                       "conditions": [{"type": "Ready", "status": "True",
                                       "reason": "KubeletReady", "message": "test"}]}}))
        # The node lifecycle controller lifts the startup taint of a Ready node.
        server.kubectl("create", "-f", "-", input=json.dumps({
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": "n1", "namespace": "kube-node-lease"},
            "spec": {"holderIdentity": "n1", "leaseDurationSeconds": 40,
                     "renewTime": time.strftime("%Y-%m-%dT%H:%M:%S.000000Z",
                                                time.gmtime())}}))
        server.kubectl("run", "p1", "--image=busybox", "--restart=Never")
        deadline = time.monotonic() + 30
        node = ""
        while time.monotonic() < deadline and not node:
            node = server.kubectl("get", "pod", "p1", "-o",
                                  "jsonpath={.spec.nodeName}").stdout
            time.sleep(0.2)
        assert node == "n1", log.read_text()
        holder = server.kubectl("get", "lease", "kube-scheduler", "-n", "kube-system", "-o",
                                "jsonpath={.spec.holderIdentity}").stdout
        assert holder
        events = server.kubectl("get", "events", "--field-selector",
                                "involvedObject.name=p1,reason=Scheduled").stdout
        assert "Successfully assigned default/p1 to n1" in events
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(15)
