"""Workloads on a real node through the real kubectl: a Deployment's rollout with logs,
exec, cp and port-forward; a multi-container pod with init containers and a sidecar;
restart back-off, completion and Jobs; OOMKilled."""

from __future__ import annotations

import ipaddress
import re
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.agent.cluster import (
    IMAGE,
    INDEX_HTML,
    AgentCluster,
    container,
    is_ready,
    pod_manifest,
    read_lines_until,
    status_of,
    stop,
    wait_for,
)

pytestmark = pytest.mark.e2e

#: A web server that also writes a line a second (for ``logs -f``) and stops on SIGTERM.
DEMO_SCRIPT = ("trap 'exit 0' TERM; echo started $HOSTNAME; httpd -p 8080 -h /www; i=0; "
               "while true; do i=$((i+1)); echo tick $i; sleep 1; done")

#: Prints the terminal's size once it is the caller's 33x101 (resizes travel separately
#: from input, so the first keystrokes may arrive before the last resize), at most 3 s.
AWAIT_SIZE = ('for i in $(seq 30); do [ "$(stty size)" = "33 101" ] && break; sleep 0.1; '
              "done; stty size")


def test_deployment_rollout_logs_exec_cp_port_forward(cluster: AgentCluster, ns: str,
                                                       tmp_path: Path) -> None:
    cluster.kubectl("create", "deployment", "demo", "-n", ns, f"--image={IMAGE}",
                    "--replicas=2", "--port=8080", "--", "sh", "-c", DEMO_SCRIPT)
    rollout = cluster.kubectl("rollout", "status", "-n", ns, "deployment/demo",
                              "--timeout=90s", timeout=100)
    assert "successfully rolled out" in rollout.stdout
    pods = cluster.pods(ns, "app=demo")
    assert len(pods) == 2 and all(is_ready(p) for p in pods)
    network = ipaddress.ip_network(cluster.cluster_cidr)
    ips = {p["status"]["podIP"] for p in pods}
    assert len(ips) == 2 and all(ipaddress.ip_address(ip) in network for ip in ips)
    first, second = (p["metadata"]["name"] for p in pods)
    other_ip = pods[1]["status"]["podIP"]

    # logs, and logs -f bounded by a deadline
    logs = cluster.kubectl("logs", "-n", ns, first).stdout
    assert f"started {first}" in logs
    follow = cluster.popen_kubectl("logs", "-f", "-n", ns, first, "--tail=1")
    try:
        lines = read_lines_until(
            follow, lambda seen: len([s for s in seen if s.startswith("tick")]) >= 3, 20)
    finally:
        stop(follow)
    ticks = [int(s.split()[1]) for s in lines if s.startswith("tick")]
    assert ticks == sorted(ticks) and ticks[-1] > ticks[0], lines
    tail = cluster.kubectl("logs", "-n", ns, first, "--tail=2", "--timestamps").stdout
    stamped = tail.splitlines()
    assert len(stamped) == 2 and all(re.match(r"\d{4}-\d\d-\d\dT[\d:.]+Z tick \d+$", line)
                                     for line in stamped), stamped
    # the pod has been up for several seconds by now: --since shows only the latest lines
    recent = cluster.kubectl("logs", "-n", ns, first, "--since=2s").stdout.splitlines()
    everything = cluster.kubectl("logs", "-n", ns, first).stdout.splitlines()
    assert recent and len(recent) < len(everything), (recent, everything)
    assert set(recent) <= set(everything[-len(recent) - 3:]), (recent, everything)

    # exec: output, exit code propagation, stdin
    exec_prefix = ("exec", "-n", ns, first, "--")
    assert cluster.kubectl(*exec_prefix, "cat", "/www/index.html").stdout == INDEX_HTML
    failed = cluster.kubectl(*exec_prefix, "sh", "-c", "echo out; echo err >&2; exit 3",
                             check=False)
    assert failed.returncode == 3, failed
    assert failed.stdout == "out\n" and "err" in failed.stderr
    upper = cluster.kubectl("exec", "-i", "-n", ns, first, "--", "tr", "a-z", "A-Z",
                            input="hello stdin\n")
    assert upper.stdout == "HELLO STDIN\n"
    # exec -it: a terminal of the caller's size, keystrokes, output and the exit code
    code, screen = cluster.kubectl_in_terminal(
        "exec", "-it", "-n", ns, first, "--", "sh", "-c",
        f"echo ready; read line; echo got:$line; {AWAIT_SIZE}; exit 4",
        answers={"ready": b"typed\r"})
    assert code == 4, screen
    assert "got:typed" in screen and "33 101" in screen, screen
    # pod to pod over the node's bridge
    fetched = cluster.kubectl(*exec_prefix, "wget", "-qO-", f"http://{other_ip}:8080/")
    assert fetched.stdout == INDEX_HTML

    # cp into and out of the pod
    local = tmp_path / "upload.txt"
    local.write_text("copied in\n" * 100)
    cluster.kubectl("cp", str(local), f"{ns}/{first}:/tmp/upload.txt")
    assert cluster.kubectl(*exec_prefix, "md5sum", "/tmp/upload.txt").stdout.split()[0] == \
        subprocess.run(["md5sum", str(local)], capture_output=True, text=True,
                       check=True).stdout.split()[0]
    cluster.kubectl("cp", f"{ns}/{second}:/www/index.html", str(tmp_path / "index.html"))
    assert (tmp_path / "index.html").read_text() == INDEX_HTML

    # port-forward round trip (loopback only)
    forward = cluster.popen_kubectl("port-forward", "-n", ns, f"pod/{first}", ":8080",
                                    "--address", "127.0.0.1")
    try:
        lines = read_lines_until(forward, lambda seen: any("Forwarding from" in s
                                                           for s in seen), 20)
        match = re.search(r"127\.0\.0\.1:(\d+) -> 8080", "\n".join(lines))
        assert match, lines
        for _ in range(3):
            with urllib.request.urlopen(f"http://127.0.0.1:{match[1]}/index.html",
                                        timeout=10) as response:
                assert response.read().decode() == INDEX_HTML
    finally:
        stop(forward)


def test_multi_container_pod_init_and_sidecar(cluster: AgentCluster, ns: str) -> None:
    work = [{"name": "work", "mountPath": "/work"}]
    inits = [
        container("init-a", "echo init-a >> /work/order", volumeMounts=work),
        container("init-b", "test -f /work/order && echo init-b >> /work/order",
                  volumeMounts=work),
        container("sidecar", "trap 'exit 0' TERM; echo sidecar >> /work/order; "
                  "echo from-sidecar > /tmp/s.txt; httpd -f -p 9090 -h /tmp & wait",
                  restartPolicy="Always", volumeMounts=work),
    ]
    apps = [
        container("web", "echo web >> /work/order; exec httpd -f -p 8080 -h /www",
                  volumeMounts=work),
        container("client", "trap 'exit 0' TERM; "
                  "until wget -qO- http://localhost:8080/index.html; do sleep 0.2; done; "
                  "wget -qO- http://127.0.0.1:9090/s.txt; "
                  "while true; do sleep 1; done", volumeMounts=work),
    ]
    cluster.apply(pod_manifest("multi", ns, apps, initContainers=inits,
                               volumes=[{"name": "work", "emptyDir": {}}]))
    pod = cluster.wait_pod(ns, "multi", is_ready, 60, "Ready")
    order = cluster.kubectl("exec", "-n", ns, "multi", "-c", "client", "--", "cat",
                            "/work/order").stdout.split()
    assert order[:3] == ["init-a", "init-b", "sidecar"] and sorted(order[3:]) == ["web"], order
    for name in ("init-a", "init-b"):
        terminated = status_of(pod, name)["state"]["terminated"]
        assert (terminated["exitCode"], terminated["reason"]) == (0, "Completed")
    sidecar = status_of(pod, "sidecar")
    assert sidecar["started"] and "running" in sidecar["state"]
    assert sidecar["state"]["running"]["startedAt"] <= \
        status_of(pod, "web")["state"]["running"]["startedAt"]
    def client_log() -> str | None:
        out = cluster.kubectl("logs", "-n", ns, "multi", "-c", "client").stdout
        return out if "from-sidecar" in out else None
    logs = wait_for(client_log, 20, "the client's requests over localhost")
    assert INDEX_HTML in logs
    # the containers share one network namespace: the sidecar reaches the web container too
    via_sidecar = cluster.kubectl("exec", "-n", ns, "multi", "-c", "sidecar", "--", "wget",
                                  "-qO-", "http://127.0.0.1:8080/index.html")
    assert via_sidecar.stdout == INDEX_HTML
    pulled = [e["message"] for e in cluster.events(ns, "multi") if e["reason"] == "Pulled"]
    assert pulled and all(m.startswith(f'Container image "{IMAGE}" already present on '
                                       "machine") for m in pulled), pulled


def test_attach(cluster: AgentCluster, ns: str) -> None:
    echo = container("echo", "echo ready; while read line; do echo got:$line; done",
                     stdin=True)
    cluster.apply(pod_manifest("echo", ns, [echo]))
    cluster.wait_pod(ns, "echo", is_ready, 60, "Ready")
    attach = cluster.popen_kubectl("attach", "-i", "-n", ns, "echo", stdin=True)
    try:
        assert attach.stdin is not None
        attach.stdin.write("first\nsecond\n")
        attach.stdin.flush()
        lines = read_lines_until(attach, lambda seen: "got:second" in seen, 20)
        assert lines[-2:] == ["got:first", "got:second"], lines
    finally:
        stop(attach)

    # a terminal: attach -it to a shell, type a command, leave with exit
    shell = {"name": "shell", "image": IMAGE, "command": ["sh"], "stdin": True, "tty": True}
    cluster.apply(pod_manifest("term", ns, [shell], restartPolicy="Never"))
    cluster.wait_pod(ns, "term", is_ready, 60, "Ready")
    code, screen = cluster.kubectl_in_terminal(
        "attach", "-it", "-n", ns, "term",
        answers={"If you don't see a command prompt":
                 f"echo sum=$((40+2)); {AWAIT_SIZE}\r".encode(), "sum=42": b"exit 0\r"})
    assert code == 0 and "sum=42" in screen and "33 101" in screen, screen
    cluster.wait_pod(ns, "term", lambda p: p["status"].get("phase") == "Succeeded", 30,
                     "Succeeded after exit")


def test_restart_backoff_completion_and_job(cluster: AgentCluster, ns: str) -> None:
    cluster.apply(
        pod_manifest("crasher", ns, [container("crash", "echo crashing; exit 1")]),
        pod_manifest("once", ns, [container("once", "echo done")], restartPolicy="Never"),
        pod_manifest("countdown", ns, [container("count", "for i in 3 2 1; do echo $i; "
                                                 "sleep 1; done")], restartPolicy="Never"),
        {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "count", "namespace": ns},
         "spec": {"completions": 2, "parallelism": 2, "backoffLimit": 1, "template": {
             "spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 2,
                      "containers": [container("count", "echo counted")]}}}})

    # logs -f ends by itself when the container does
    cluster.wait_pod(ns, "countdown", lambda p: status_of(p, "count").get("started") or
                     "terminated" in status_of(p, "count").get("state", {}), 60, "started")
    follow = cluster.popen_kubectl("logs", "-f", "-n", ns, "countdown")
    try:
        out, err = follow.communicate(timeout=30)
    finally:
        stop(follow)
    assert (follow.returncode, out) == (0, "3\n2\n1\n"), err

    once = cluster.wait_pod(ns, "once", lambda p: p["status"].get("phase") == "Succeeded",
                            60, "Succeeded")
    terminated = status_of(once, "once")["state"]["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (0, "Completed")
    row = cluster.kubectl("get", "pod", "-n", ns, "once", "--no-headers").stdout
    assert "Completed" in row

    cluster.kubectl("wait", "-n", ns, "--for=condition=Complete", "job/count",
                    "--timeout=60s", timeout=70)
    job = cluster.json("get", "job", "-n", ns, "count")
    assert job["status"]["succeeded"] == 2

    def crash_looping(pod: dict[str, Any]) -> bool:
        status = status_of(pod, "crash")
        waiting = status.get("state", {}).get("waiting") or {}
        last = status.get("lastState", {}).get("terminated") or {}
        return waiting.get("reason") == "CrashLoopBackOff" and last.get("exitCode") == 1
    first = cluster.wait_pod(ns, "crasher", crash_looping, 40, "CrashLoopBackOff")
    status = status_of(first, "crash")
    assert status["lastState"]["terminated"]["reason"] == "Error"
    assert "back-off 10s restarting failed container" in status["state"]["waiting"]["message"]
    count = status["restartCount"]
    assert count >= 1
    later = cluster.wait_pod(ns, "crasher",
                             lambda p: status_of(p, "crash")["restartCount"] > count, 40,
                             "the restart count to grow")
    assert later["status"]["phase"] == "Running"
    previous = cluster.kubectl("logs", "-n", ns, "crasher", "--previous").stdout
    assert previous == "crashing\n"
    # waiting in back-off, the latest container's log is still there to read
    assert cluster.kubectl("logs", "-n", ns, "crasher").stdout == "crashing\n"
    reasons = {e["reason"] for e in cluster.events(ns, "crasher")}
    assert {"Created", "Started", "BackOff"} <= reasons, reasons


def test_oom_killed(cluster: AgentCluster, ns: str) -> None:
    # tail keeps the "last lines" of /dev/zero, which has no newline: it grows until killed
    hog = container("hog", "tail /dev/zero",
                    resources={"limits": {"memory": "16Mi"}, "requests": {"memory": "16Mi"}})
    cluster.apply(pod_manifest("hog", ns, [hog], restartPolicy="Never"))
    pod = cluster.wait_pod(ns, "hog", lambda p: p["status"].get("phase") == "Failed", 60,
                           "Failed")
    terminated = status_of(pod, "hog")["state"]["terminated"]
    assert (terminated["reason"], terminated["exitCode"]) == ("OOMKilled", 137), terminated
    assert pod["status"]["qosClass"] == "Burstable"
