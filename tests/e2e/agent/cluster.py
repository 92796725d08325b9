"""A single-node kubesmith cluster on this machine for the agent's end-to-end tests: a real
``kubesmith server`` (embedded SQLite, controller manager, scheduler) and a real
``kubesmith agent`` process that joins with a bootstrap token and runs pods with runc,
conmon and the CNI plugins, plus helpers to drive it with the real kubectl.

Everything the run creates is named uniquely (a random suffix on the node, the bridge, the
run directory; a random ``10.<100-199>.0.0/16`` cluster CIDR) so parallel runs never
collide. The teardown (:func:`tear_down`, then the server stop in :func:`bring_up`) always
runs: it deletes every test pod and checks that the agent itself removed what they had on
the host, stops the agent (SIGTERM, then SIGKILL), runs ``kubesmith agent-reset`` (which
must remove a pod still running), deletes the bridge and stops the server; then it looks
for leftovers (mounts, pinned namespaces, runc state, conmon processes, pod cgroups,
host-local leases, iptables rules), removes what it found and fails the run naming it.
"""

from __future__ import annotations

import datetime
import fcntl
import json
import os
import pty
import queue
import random
import secrets
import select
import shlex
import shutil
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from tests.conftest import (
    KUBECTL,
    RunningServer,
    free_port,
    namespace_manifest,
    start_server,
    stop_server,
)
from tests.support.oci_images import (
    build_busybox,
    dir_entry,
    file_entry,
    layer_tar,
    tar_directory,
    write_oci_layout,
)

T = TypeVar("T")

#: The image the tests run (imported with ``kubesmith images import``).
IMAGE = "kubesmith.local/busybox:1.35"
INDEX_HTML = "hello from a kubesmith pod\n"
#: The host-local IPAM plugin's default data directory for the agent's default network.
HOST_LOCAL_DIR = Path("/var/lib/cni/networks/kubesmith")
#: Where the server's built-in local-path provisioner puts volumes on the node.
LOCAL_PATH_ROOT = Path("/var/lib/kubesmith/storage")
#: The namespace of the pod left running for ``agent-reset`` to remove.
SURVIVOR_NAMESPACE = "e2e-survivor"
#: Agent sync settings shortened so configMap updates show within seconds.
SYNC_FREQUENCY = "3s"


def wait_for(check: Callable[[], T | None], seconds: float, what: str,
             interval: float = 0.2) -> T:
    """Poll ``check`` until it returns something truthy; fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    last: T | None = None
    while True:
        last = check()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds:.0f} s waiting for {what} "
                                 f"(last: {last!r})")
        time.sleep(interval)


def busybox_archive(directory: Path) -> Path:
    """The busybox image with ``/www/index.html`` on top, as an OCI-layout tarball that
    names it by tag only (``--base-name`` supplies the repository)."""
    www = layer_tar([dir_entry("www"), file_entry("www/index.html", INDEX_HTML)])
    layout = write_oci_layout(directory / "busybox-layout", build_busybox([www]),
                              IMAGE.rpartition(":")[2])
    return tar_directory(layout, directory / "busybox.tar")


# ---- kubectl processes, manifests and pod status ------------------------------------------

def read_lines_until(proc: subprocess.Popen[str], done: Callable[[list[str]], bool],
                     seconds: float) -> list[str]:
    """Lines of ``proc``'s stdout until ``done(lines)``; fails after ``seconds``."""
    assert proc.stdout is not None
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)
    threading.Thread(target=pump, daemon=True).start()
    seen: list[str] = []
    deadline = time.monotonic() + seconds
    while not done(seen):
        try:
            line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            raise AssertionError(f"timed out reading kubectl output: {seen}") from None
        if line is None:
            raise AssertionError(f"kubectl ended ({proc.wait()}): {seen} "
                                 f"{proc.stderr.read() if proc.stderr else ''}")
        seen.append(line)
    return seen


def stop(proc: subprocess.Popen[str]) -> None:
    proc.kill()
    proc.wait(10)


def container(name: str, script: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": IMAGE, "command": ["sh", "-c", script], **extra}


def pod_manifest(name: str, ns: str, containers: list[dict[str, Any]],
                 **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns},
            "spec": {"terminationGracePeriodSeconds": 2, "containers": containers, **spec}}


def status_of(pod: dict[str, Any], name: str) -> dict[str, Any]:
    statuses = [*(pod["status"].get("initContainerStatuses") or []),
                *(pod["status"].get("containerStatuses") or [])]
    found = [s for s in statuses if s["name"] == name]
    return found[0] if found else {}


def is_ready(pod: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True"
               for c in pod.get("status", {}).get("conditions") or [])


@dataclass
class AgentCluster:
    """The running cluster and what the tests need to drive and inspect it."""

    server: RunningServer
    tmp: Path
    run_dir: Path
    node: str
    bridge: str
    cluster_cidr: str
    bootstrap_kubeconfig: Path
    agent_port: int = field(default_factory=free_port)
    agent: subprocess.Popen[bytes] | None = None
    agent_starts: int = 0
    #: Every pod uid seen on the cluster (for the cgroup leftover check).
    pod_uids: set[str] = field(default_factory=set)
    uid_watch: subprocess.Popen[str] | None = None

    # -- paths -----------------------------------------------------------------------------

    @property
    def root_dir(self) -> Path:
        return self.tmp / "agent"

    @property
    def log_dir(self) -> Path:
        return self.tmp / "logs"

    @property
    def cni_dir(self) -> Path:
        return self.tmp / "cni"

    @property
    def agent_log(self) -> Path:
        return self.tmp / "agent.log"

    def dir_flags(self) -> list[str]:
        return ["--root-dir", str(self.root_dir), "--run-dir", str(self.run_dir),
                "--pod-log-dir", str(self.log_dir), "--cni-conf-dir", str(self.cni_dir),
                "--default-network-bridge", self.bridge]

    # -- kubectl ---------------------------------------------------------------------------

    def kubectl(self, *args: str, input: str | None = None, check: bool = True,
                timeout: float = 60, env: dict[str, str] | None = None
                ) -> subprocess.CompletedProcess[str]:
        return self.server.kubectl(*args, input=input, check=check, timeout=timeout, env=env)

    def json(self, *args: str) -> Any:
        return json.loads(self.kubectl(*args, "-o", "json").stdout)

    def apply(self, *manifests: dict[str, Any]) -> None:
        self.kubectl("apply", "-f", "-",
                     input=json.dumps({"apiVersion": "v1", "kind": "List",
                                       "items": list(manifests)}))

    def pod(self, ns: str, name: str) -> dict[str, Any]:
        pod: dict[str, Any] = self.json("get", "pod", "-n", ns, name)
        self.pod_uids.add(pod["metadata"]["uid"])
        return pod

    def pods(self, ns: str, selector: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.json("get", "pods", "-n", ns, "-l",
                                                selector)["items"]
        self.pod_uids.update(p["metadata"]["uid"] for p in items)
        return items

    def popen_kubectl(self, *args: str, stdin: bool = False) -> subprocess.Popen[str]:
        """A long-running kubectl (logs -f, port-forward); the caller stops it."""
        env = {**os.environ, "KUBECONFIG": str(self.server.kubeconfig),
               "KUBECTL_KUBERC": "false"}
        return subprocess.Popen([KUBECTL, *args], env=env, text=True,
                                stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def kubectl_in_terminal(self, *args: str, answers: dict[str, bytes], rows: int = 33,
                            columns: int = 101, seconds: float = 30) -> tuple[int, str]:
        """Run kubectl on a pseudo-terminal of ``rows`` x ``columns`` (as people run
        ``exec -it``), typing ``answers[text]`` once ``text`` shows; returns its exit code
        and everything it printed."""
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        env = {**os.environ, "KUBECONFIG": str(self.server.kubeconfig),
               "KUBECTL_KUBERC": "false"}
        proc = subprocess.Popen([KUBECTL, *args], env=env, stdin=slave, stdout=slave,
                                stderr=slave, start_new_session=True)
        os.close(slave)
        output, pending = b"", dict(answers)
        deadline = time.monotonic() + seconds
        try:
            while time.monotonic() < deadline:
                readable, _, _ = select.select([master], [], [], 0.1)
                if readable:
                    try:
                        chunk = os.read(master, 4096)
                    except OSError:  # EIO: kubectl and its terminal are gone
                        break
                    output += chunk
                for text, keys in list(pending.items()):
                    if text.encode() in output:
                        os.write(master, keys)
                        del pending[text]
                if not readable and proc.poll() is not None:
                    break
            else:
                raise AssertionError(f"kubectl {' '.join(args)} still running after "
                                     f"{seconds} s: {output!r}")
            return proc.wait(10), output.decode(errors="replace")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
            os.close(master)

    def events(self, ns: str, name: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.json(
            "get", "events", "-n", ns, "--field-selector", f"involvedObject.name={name}")["items"]
        return items

    def wait_pod(self, ns: str, name: str, check: Callable[[dict[str, Any]], Any],
                 seconds: float, what: str) -> dict[str, Any]:
        """Poll the pod until ``check(pod)`` is truthy; returns the pod."""
        def probe() -> dict[str, Any] | None:
            result = self.kubectl("get", "pod", "-n", ns, name, "-o", "json", check=False)
            if result.returncode != 0:
                return None
            pod: dict[str, Any] = json.loads(result.stdout)
            self.pod_uids.add(pod["metadata"]["uid"])
            return pod if check(pod) else None
        try:
            return wait_for(probe, seconds, f"pod {ns}/{name}: {what}", interval=0.3)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.describe(ns, name)}") from None

    def describe(self, ns: str, name: str) -> str:
        out = self.kubectl("get", "pod", "-n", ns, name, "-o", "yaml", check=False).stdout
        events = self.kubectl("get", "events", "-n", ns, check=False).stdout
        return f"{out}\n{events}\nagent log tail:\n{self.agent_log_tail()}"

    def agent_log_tail(self, lines: int = 40) -> str:
        with suppress(OSError):
            return "\n".join(self.agent_log.read_text(errors="replace").splitlines()[-lines:])
        return ""

    # -- the agent -------------------------------------------------------------------------

    def start_agent(self) -> None:
        """Start ``kubesmith agent`` and wait until the Node is Ready."""
        self.agent_starts += 1
        with self.agent_log.open("ab") as out:
            out.write(f"---- agent start #{self.agent_starts}\n".encode())
            out.flush()
            self.agent = subprocess.Popen(
                [sys.executable, "-m", "kubesmith", "agent",
                 "--bootstrap-kubeconfig", str(self.bootstrap_kubeconfig),
                 "--node-name", self.node, "--node-ip", "127.0.0.1",
                 "--address", "127.0.0.1", "--port", str(self.agent_port),
                 "--sync-frequency", SYNC_FREQUENCY, *self.dir_flags()],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)
        began = time.monotonic()

        def ready() -> bool:
            if self.agent is not None and self.agent.poll() is not None:
                raise AssertionError(f"agent exited ({self.agent.returncode}):\n"
                                     f"{self.agent_log_tail(80)}")
            text = self.agent_log.read_text(errors="replace")
            this_run = text.rpartition(f"---- agent start #{self.agent_starts}\n")[2]
            return f"agent {self.node}: ready in" in this_run
        try:
            wait_for(ready, 60, "the agent to start")
            wait_for(self._node_ready, 60 - (time.monotonic() - began), "the Node Ready")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.agent_log_tail(80)}") from None

    def _node_ready(self) -> bool:
        result = self.kubectl("get", "node", self.node, "-o", "json", check=False)
        if result.returncode != 0:
            return False
        conditions = json.loads(result.stdout).get("status", {}).get("conditions") or []
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    def stop_agent(self) -> bool:
        """SIGTERM, then SIGKILL after 15 s; the pods keep running. False when the agent
        needed the SIGKILL."""
        proc, self.agent = self.agent, None
        if proc is None or proc.poll() is not None:
            return True
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
            return False
        return True

    # -- pod uid bookkeeping ---------------------------------------------------------------

    def watch_pod_uids(self) -> None:
        """Record the uid of every pod the cluster ever has (a kubectl watch)."""
        self.uid_watch = self.popen_kubectl(
            "get", "pods", "-A", "--watch", "-o", "jsonpath={.metadata.uid}{\"\\n\"}")
        stream = self.uid_watch.stdout
        assert stream is not None

        def follow() -> None:
            for line in stream:
                if line.strip():
                    self.pod_uids.add(line.strip())
        threading.Thread(target=follow, daemon=True, name="pod-uid-watch").start()


# ---- bring-up -------------------------------------------------------------------------------

def _bootstrap_kubeconfig(server: RunningServer, path: Path) -> Path:
    """A bootstrap token Secret and a kubeconfig holding only that token."""
    token_id, token_secret = secrets.token_hex(3), secrets.token_hex(8)
    expires = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)
               ).strftime("%Y-%m-%dT%H:%M:%SZ")
    server.kubectl("-n", "kube-system", "create", "secret", "generic",
                   f"bootstrap-token-{token_id}", "--type", "bootstrap.kubernetes.io/token",
                   f"--from-literal=token-id={token_id}",
                   f"--from-literal=token-secret={token_secret}",
                   "--from-literal=usage-bootstrap-authentication=true",
                   f"--from-literal=expiration={expires}")
    config = ["--kubeconfig", str(path)]
    server.kubectl("config", *config, "set-cluster", "kubesmith", f"--server={server.url}",
                   f"--certificate-authority={server.data_dir / 'pki' / 'ca.crt'}",
                   "--embed-certs=true")
    server.kubectl("config", *config, "set-credentials", "bootstrap",
                   f"--token={token_id}.{token_secret}")
    server.kubectl("config", *config, "set-context", "bootstrap", "--cluster=kubesmith",
                   "--user=bootstrap")
    server.kubectl("config", *config, "use-context", "bootstrap")
    return path


def _local_path_storage_class(server: RunningServer) -> None:
    """The server ships no StorageClass: make the built-in local-path provisioner's the
    default one, as k3s does."""
    server.kubectl("apply", "-f", "-", input=json.dumps({
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": "local-path", "annotations": {
            "storageclass.kubernetes.io/is-default-class": "true"}},
        "provisioner": "kubesmith.io/local-path", "reclaimPolicy": "Delete",
        "volumeBindingMode": "WaitForFirstConsumer"}))


def _start_survivor(cluster: AgentCluster) -> None:
    """A pod that runs for the whole session and is still running at teardown, so
    ``kubesmith agent-reset`` has a live pod (with a tmpfs volume) to remove."""
    cluster.kubectl("create", "-f", "-", input=namespace_manifest(SURVIVOR_NAMESPACE))
    cluster.apply(pod_manifest(
        "survivor", SURVIVOR_NAMESPACE,
        [container("main", "trap 'exit 0' TERM; while true; do sleep 1; done",
                   volumeMounts=[{"name": "mem", "mountPath": "/mem"}])],
        volumes=[{"name": "mem", "emptyDir": {"medium": "Memory"}}]))
    cluster.wait_pod(SURVIVOR_NAMESPACE, "survivor", is_ready, 60, "Ready")


def import_image(cluster: AgentCluster, archive: Path, base_name: str) -> None:
    subprocess.run([sys.executable, "-m", "kubesmith", "images", "import", str(archive),
                    "--root-dir", str(cluster.root_dir), "--base-name", base_name],
                   check=True, capture_output=True, timeout=60)


@dataclass
class Leftovers:
    """What teardown found still on the host (and then removed), and agent misbehaviour
    seen while stopping it."""

    found: list[str] = field(default_factory=list)

    def add(self, what: str) -> None:
        self.found.append(what)


def bring_up(tmp: Path) -> Iterator[AgentCluster]:
    """The fixture body: a running single-node cluster; torn down (and checked) after."""
    suffix = secrets.token_hex(3)
    cidr = f"10.{random.randint(100, 199)}.0.0/16"
    server = start_server(tmp / "server", "--cluster-cidr", cidr)
    cluster: AgentCluster | None = None
    try:
        cluster = AgentCluster(
            server=server, tmp=tmp, run_dir=Path(f"/run/ks-{suffix}"), node=f"e2e-{suffix}",
            bridge=f"ks{suffix}", cluster_cidr=cidr,
            bootstrap_kubeconfig=_bootstrap_kubeconfig(server, tmp / "bootstrap.kubeconfig"))
        cluster.watch_pod_uids()
        _local_path_storage_class(server)
        cluster.start_agent()
        import_image(cluster, busybox_archive(tmp / "image"), IMAGE.rpartition(":")[0])
        _start_survivor(cluster)
        yield cluster
    finally:
        leftovers = tear_down(cluster) if cluster is not None else Leftovers()
        stop_server(server.process)
        assert not leftovers.found, "left on the host after teardown:\n" + \
            "\n".join(leftovers.found)


# ---- teardown and leftover checks -----------------------------------------------------------

def tear_down(cluster: AgentCluster) -> Leftovers:
    """Stop the agent, reset the node, delete the bridge; then find (and remove) leftovers.
    The server keeps running until the caller stops it (the PV paths are read from it)."""
    leftovers = Leftovers()
    volume_paths = _local_path_volumes(cluster)
    if cluster.agent is not None and cluster.agent.poll() is None:
        _check_agent_cleanup(cluster, leftovers)
    if not cluster.stop_agent():
        leftovers.add("the agent did not stop within 15 s of SIGTERM")
    with suppress(OSError):
        errors = [line for line in cluster.agent_log.read_text(errors="replace").splitlines()
                  if "Traceback" in line or " ERROR " in line]
        if errors:
            leftovers.add("the agent logged errors:\n" + "\n".join(errors[:20]))
    reset = subprocess.run(
        [sys.executable, "-m", "kubesmith", "agent-reset", *cluster.dir_flags()],
        capture_output=True, text=True, timeout=120, check=False)
    if reset.returncode != 0:
        leftovers.add(f"agent-reset failed ({reset.returncode}): {reset.stderr[-2000:]}")
    if cluster.uid_watch is not None:
        cluster.uid_watch.kill()
        cluster.uid_watch.wait(10)
    subprocess.run(["ip", "link", "del", cluster.bridge], capture_output=True, check=False)
    # Containers first (their processes pin cgroups and mounts), then the rest.
    _check_containers(cluster, leftovers)
    _check_conmon(cluster, leftovers)
    _check_mounts(cluster, leftovers)
    _check_run_state(cluster, leftovers)
    _check_cgroups(cluster, leftovers)
    _check_network(cluster, leftovers)
    for path in volume_paths:
        shutil.rmtree(path, ignore_errors=True)
    return leftovers


def _check_agent_cleanup(cluster: AgentCluster, leftovers: Leftovers) -> None:
    """Delete every pod but the survivor and check that the agent itself (not
    ``agent-reset``) removed their containers, namespaces, mounts and cgroups."""
    cluster.kubectl("delete", "pods", "-A", "--field-selector",
                    f"metadata.namespace!={SURVIVOR_NAMESPACE}", "--wait=false", check=False)

    def others() -> list[str]:
        result = cluster.kubectl("get", "pods", "-A", "-o", "json", check=False)
        items = json.loads(result.stdout)["items"] if result.returncode == 0 else [{}]
        return [f"{p['metadata']['namespace']}/{p['metadata']['name']}" for p in items
                if p.get("metadata", {}).get("namespace") != SURVIVOR_NAMESPACE]
    try:
        wait_for(lambda: not others() or None, 60, "every test pod to be deleted")
    except AssertionError as exc:
        leftovers.add(f"pods not deleted: {exc}")
        return
    survivor = cluster.pod(SURVIVOR_NAMESPACE, "survivor")
    uid = survivor["metadata"]["uid"]
    ids = {s["containerID"].partition("://")[2]
           for s in survivor["status"]["containerStatuses"]}
    sandboxes = {sandbox_of(cluster, i) for i in ids}

    def traces() -> list[str]:
        found = [f"runc state {p.name}" for p in _entries(cluster.run_dir / "runc")
                 if p.name not in ids]
        found += [f"netns {p.name}" for p in _entries(cluster.run_dir / "netns")
                  if p.name.partition(".")[0] not in sandboxes]
        found += [f"pod directory {p.name}" for p in _entries(cluster.root_dir / "pods")
                  if p.name != uid]
        found += [f"container directory {p.name}"
                  for p in _entries(cluster.root_dir / "containers")
                  if p.name not in ids and not p.name.startswith(uid)]
        roots = (str(cluster.root_dir / "pods") + "/", str(cluster.root_dir / "containers") +
                 "/", str(cluster.run_dir) + "/")
        found += [f"mount {m}" for m in _mount_points() if m.startswith(roots) and
                  uid not in m and not any(i in m for i in ids | sandboxes)]
        found += [f"cgroup {p}" for p in pod_cgroups(cluster.pod_uids - {uid})]
        return found
    try:
        wait_for(lambda: not traces() or None, 20, "the agent to clean up deleted pods")
    except AssertionError:
        leftovers.add("left by the agent after its pods were deleted:\n" +
                      "\n".join(traces()))


def pod_traces(cluster: AgentCluster, uid: str, sandbox: str) -> list[str]:
    """What the host still holds for one pod: mounts naming its uid or sandbox, pinned
    namespaces, cgroups and its pod directory."""
    found = [f"mount {m}" for m in _mount_points() if uid in m or sandbox in m]
    found += [f"netns {p.name}" for p in (cluster.run_dir / "netns").glob(f"{sandbox}*")]
    found += [f"cgroup {p}" for p in pod_cgroups({uid})]
    if (cluster.root_dir / "pods" / uid).exists():
        found.append(f"pod directory {uid}")
    return found


def _entries(directory: Path) -> list[Path]:
    try:
        return list(directory.iterdir())
    except FileNotFoundError:
        return []


def sandbox_of(cluster: AgentCluster, container_id: str) -> str:
    config = cluster.root_dir / "containers" / container_id / "bundle" / "config.json"
    return str(json.loads(config.read_text())["annotations"]["io.kubernetes.sandbox.id"])


def pod_cgroups(uids: set[str]) -> list[Path]:
    """``/kubepods[/<qos>]/pod<uid>`` directories of these pods, in every hierarchy."""
    return [parent / f"pod{uid}"
            for kubepods in Path("/sys/fs/cgroup").glob("*/kubepods")
            for uid in sorted(uids)
            for parent in (kubepods, kubepods / "burstable", kubepods / "besteffort")
            if (parent / f"pod{uid}").is_dir()]


def _local_path_volumes(cluster: AgentCluster) -> list[Path]:
    """Directories the local-path provisioner made for this cluster's claims."""
    result = cluster.kubectl("get", "pv", "-o", "json", check=False)
    if result.returncode != 0:
        return []
    paths = [Path(pv["spec"]["hostPath"]["path"]) for pv in json.loads(result.stdout)["items"]
             if (pv["spec"].get("hostPath") or {}).get("path")]
    return [p for p in paths if p.is_relative_to(LOCAL_PATH_ROOT)]


def _mount_points() -> list[str]:
    with open("/proc/self/mountinfo") as mountinfo:
        return [line.split()[4] for line in mountinfo]


def _check_mounts(cluster: AgentCluster, leftovers: Leftovers) -> None:
    roots = (str(cluster.tmp.resolve()), str(cluster.run_dir))
    mounted = [m for m in _mount_points() if any(m == r or m.startswith(r + "/")
                                                  for r in roots)]
    for mount in reversed(mounted):  # children first
        leftovers.add(f"mount {mount}")
        subprocess.run(["umount", "-l", mount], capture_output=True, check=False)


def _check_containers(cluster: AgentCluster, leftovers: Leftovers) -> None:
    runc_root = cluster.run_dir / "runc"
    if not runc_root.is_dir():
        return
    for state in runc_root.iterdir():
        leftovers.add(f"runc state {state.name}")
        subprocess.run(["runc", "--root", str(runc_root), "delete", "--force", state.name],
                       capture_output=True, check=False, timeout=30)


def _check_run_state(cluster: AgentCluster, leftovers: Leftovers) -> None:
    netns = cluster.run_dir / "netns"
    if netns.is_dir() and any(netns.iterdir()):
        leftovers.add(f"netns files {sorted(p.name for p in netns.iterdir())}")
    shutil.rmtree(cluster.run_dir, ignore_errors=True)


def _check_conmon(cluster: AgentCluster, leftovers: Leftovers) -> None:
    marker = str(cluster.run_dir).encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"conmon") and any(marker in a for a in argv):
            leftovers.add(f"conmon process {proc.name}")
            with suppress(ProcessLookupError):
                os.kill(int(proc.name), signal.SIGKILL)


def _check_cgroups(cluster: AgentCluster, leftovers: Leftovers) -> None:
    for directory in pod_cgroups(cluster.pod_uids):
        leftovers.add(f"cgroup {directory}")
        children = [p for p in directory.iterdir() if p.is_dir()]
        for child in [*children, directory]:
            with suppress(OSError):
                child.rmdir()


def _check_network(cluster: AgentCluster, leftovers: Leftovers) -> None:
    prefix = cluster.cluster_cidr.rpartition(".0.0/")[0] + "."
    if HOST_LOCAL_DIR.is_dir():
        for lease in HOST_LOCAL_DIR.iterdir():
            if lease.name.startswith(prefix):
                leftovers.add(f"host-local lease {lease}")
                lease.unlink(missing_ok=True)
    saved = subprocess.run(["iptables-save"], capture_output=True, text=True, check=False)
    table = "filter"
    chains: set[tuple[str, str]] = set()
    for line in saved.stdout.splitlines():
        if line.startswith("*"):
            table = line[1:]
        elif line.startswith("-A ") and prefix in line:
            leftovers.add(f"iptables -t {table} rule {line}")
            rule = shlex.split(line)[1:]
            subprocess.run(["iptables", "-t", table, "-D", *rule], capture_output=True,
                           check=False)
            if "-j" in rule and rule[rule.index("-j") + 1].startswith("CNI-"):
                chains.add((table, rule[rule.index("-j") + 1]))
    for table, chain in chains:  # the bridge plugin's per-container masquerade chains
        for action in ("-F", "-X"):
            subprocess.run(["iptables", "-t", table, action, chain], capture_output=True,
                           check=False)
    if Path(f"/sys/class/net/{cluster.bridge}").exists():
        leftovers.add(f"bridge {cluster.bridge}")
        subprocess.run(["ip", "link", "del", cluster.bridge], capture_output=True,
                       check=False)
