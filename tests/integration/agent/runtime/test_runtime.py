"""Real containers through the runtime: runc + conmon, pinned namespaces, cgroups."""

from __future__ import annotations

import asyncio
import re
import socket
import time
from pathlib import Path

import pytest

from kubesmith.agent.runtime import (
    ContainerConfigError,
    ExecFailed,
    ExecSession,
    ExecTimeout,
    Runtime,
    connect_attach,
)
from kubesmith.agent.runtime.cgroups import memory_dir, oom_kill_count
from kubesmith.agent.runtime.spec import RUNNING, STOPPED
from tests.integration.agent.runtime.conftest import (
    RuntimeHarness,
    leftovers,
    needs_root_runtime,
)
from tests.unit.agent.runtime.helpers import FakeImage, FakeImageConfig

pytestmark = [pytest.mark.integration, needs_root_runtime]

CRI_LINE = re.compile(
    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+[+-]\d\d:\d\d (stdout|stderr) ([FP]) (.*)$")


def cri_lines(log: str) -> list[tuple[str, str, str]]:
    lines = []
    for line in log.splitlines():
        match = CRI_LINE.match(line)
        assert match, f"not a CRI log line: {line!r}"
        lines.append((match.group(1), match.group(2), match.group(3)))
    return lines


CPU_V1 = Path("/sys/fs/cgroup/cpu/cpu.shares").exists()   # a cgroup v1 cpu controller


def status_fields(text: str) -> dict[str, str]:
    """/proc/<pid>/status as a dict."""
    return {k: v.strip() for k, v in (line.split(":\t", 1) for line in text.splitlines()
                                      if ":\t" in line)}


def process_alive(pid: int) -> bool:
    """Running (a zombie waiting for init to reap it is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def read_text(path: str) -> str:
    return Path(path).read_text()


def cgroup_value(controller: str, cgroup: str, name: str) -> str:
    return (Path("/sys/fs/cgroup") / controller / cgroup.strip("/") / name).read_text().strip()


async def test_exit_code_and_cri_log(harness: RuntimeHarness) -> None:
    pod = await harness.pod()
    cid = await harness.run(pod, "main", ["sh", "-c", "echo hello; echo oops >&2; exit 3"])
    assert await harness.runtime.wait_exit(cid, timeout=15)
    state = await harness.runtime.state(cid)
    assert state.status == STOPPED
    assert state.exit_code == 3
    assert not state.oom_killed
    assert state.started_at is not None and state.finished_at is not None
    assert state.created_at is not None
    assert state.created_at <= state.started_at <= state.finished_at
    log = harness.paths.container_log("default", pod.name, pod.uid, "main", 0).read_text()
    lines = cri_lines(log)
    assert ("stdout", "F", "hello") in lines
    assert ("stderr", "F", "oops") in lines


async def test_containers_of_a_pod_share_localhost_and_hostname(
        harness: RuntimeHarness) -> None:
    pod = await harness.pod(hostname="shared-host")
    await harness.run(pod, "server",
                      ["sh", "-c", "echo listening; echo pong | nc -l -p 7777"])
    await harness.wait_for_log(pod, "server", "listening")
    client = await harness.run(pod, "client", ["sleep", "1000"])
    code, output = await harness.runtime.exec_sync(
        client, ["sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10; do "
                 "echo ping | nc 127.0.0.1 7777 && exit 0; sleep 0.2; done; exit 1"], 15)
    assert (code, output) == (0, b"pong\n")
    await harness.wait_for_log(pod, "server", "ping")
    code, output = await harness.runtime.exec_sync(client, ["hostname"], 10)
    assert output.decode().strip() == "shared-host"


async def test_host_network_sandbox(harness: RuntimeHarness) -> None:
    pod = await harness.pod(host_network=True, host_ipc=True, hostname=socket.gethostname())
    assert pod.sandbox.netns_path is None and pod.sandbox.uts_path is None
    assert pod.sandbox.ipc_path is None and pod.sandbox.shm_path is None
    cid = await harness.run(pod, "main", ["sleep", "1000"])
    _, output = await harness.runtime.exec_sync(cid, ["hostname"], 10)
    assert output.decode().strip() == socket.gethostname()


async def test_stop_runs_the_term_trap(harness: RuntimeHarness) -> None:
    pod = await harness.pod()
    script = "trap 'echo got TERM; exit 0' TERM; echo ready; while true; do sleep 0.1; done"
    cid = await harness.run(pod, "main", ["sh", "-c", script])
    await harness.wait_for_log(pod, "main", "ready")
    started = time.monotonic()
    await harness.runtime.stop_container(cid, grace_seconds=20)
    assert time.monotonic() - started < 10
    state = await harness.runtime.state(cid)
    assert (state.status, state.exit_code) == (STOPPED, 0)
    await harness.wait_for_log(pod, "main", "got TERM")


async def test_stop_kills_after_the_grace_period(harness: RuntimeHarness) -> None:
    pod = await harness.pod()
    # PID 1 of a pid namespace ignores signals it has no handler for: TERM does nothing.
    cid = await harness.run(pod, "main", ["sleep", "1000"])
    started = time.monotonic()
    await harness.runtime.stop_container(cid, grace_seconds=1)
    elapsed = time.monotonic() - started
    assert 1 <= elapsed < 10
    state = await harness.runtime.state(cid)
    assert (state.status, state.exit_code) == (STOPPED, 137)
    await harness.runtime.stop_container(cid, grace_seconds=1)   # already stopped: no-op


async def test_oom_killed(harness: RuntimeHarness) -> None:
    pod = await harness.pod()
    cid = await harness.run(
        pod, "hog", ["sh", "-c", "x=$(head -c 64m /dev/zero | tr '\\0' a); echo survived"],
        resources={"limits": {"memory": "16Mi"}}, qos_class="Burstable")
    assert await harness.runtime.wait_exit(cid, timeout=60)
    state = await harness.runtime.state(cid)
    assert (state.status, state.exit_code, state.oom_killed) == (STOPPED, 137, True)
    cgroup = f"/kubepods/burstable/pod{pod.uid}/{cid}"
    # The kernel's own counter says so too (read before the cgroup is removed).
    count = oom_kill_count(cgroup)
    assert count is not None and count >= 1
    log = harness.paths.container_log("default", pod.name, pod.uid, "hog", 0).read_text()
    assert "survived" not in log


async def test_resources_reach_the_cgroup(harness: RuntimeHarness) -> None:
    pod = await harness.pod()
    cid = await harness.run(
        pod, "main", ["sleep", "1000"], qos_class="Burstable",
        resources={"requests": {"cpu": "250m", "memory": "16Mi"},
                   "limits": {"cpu": "500m", "memory": "32Mi"}})
    cgroup = f"/kubepods/burstable/pod{pod.uid}/{cid}"
    found = memory_dir(cgroup)
    assert found is not None
    directory, version = found
    limit_file = "memory.limit_in_bytes" if version == 1 else "memory.max"
    assert (directory / limit_file).read_text().strip() == str(32 * 1024 * 1024)
    if CPU_V1:
        assert cgroup_value("cpu", cgroup, "cpu.shares") == "256"
        assert cgroup_value("cpu", cgroup, "cpu.cfs_quota_us") == "50000"
        assert cgroup_value("cpu", cgroup, "cpu.cfs_period_us") == "100000"
    state = await harness.runtime.state(cid)
    assert state.status == RUNNING and state.pid > 0
    procs = (directory / "cgroup.procs").read_text().split()
    assert str(state.pid) in procs


async def test_exec_sync(harness: RuntimeHarness) -> None:
    pod = await harness.pod()
    cid = await harness.run(pod, "main", ["sleep", "1000"])
    assert await harness.runtime.exec_sync(cid, ["sh", "-c", "echo out; echo err >&2"], 10) \
        == (0, b"out\nerr\n")
    assert await harness.runtime.exec_sync(cid, ["sh", "-c", "exit 42"], 10) == (42, b"")
    with pytest.raises(ExecFailed, match="executable file not found"):
        await harness.runtime.exec_sync(cid, ["no-such-binary"], 10)
    started = time.monotonic()
    with pytest.raises(ExecTimeout):
        await harness.runtime.exec_sync(cid, ["sleep", "77"], 0.5)
    assert time.monotonic() - started < 8
    _, ps = await harness.runtime.exec_sync(cid, ["ps"], 10)
    assert b"sleep 77" not in ps          # the timed-out process was killed


async def read_until(session: ExecSession, text: bytes,
                     timeout: float = 15) -> bytes:  # noqa: ASYNC109
    """Read an ExecSession's stdout until ``text`` shows up (or EOF)."""
    data = b""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while text not in data:
        chunk = await asyncio.wait_for(session.read_stdout(), max(0.1, deadline - loop.time()))
        if not chunk:
            break
        data += chunk
    return data


async def test_interactive_exec_with_tty_resizes(harness: RuntimeHarness) -> None:
    pod = await harness.pod()
    cid = await harness.run(pod, "main", ["sleep", "1000"])
    session = await harness.runtime.exec_process(cid, ["sh"], tty=True, stdin=True,
                                                 width=80, height=24)
    # The terminal echoes input: the marker is computed so only the output contains it.
    await session.write_stdin(b"stty size; echo MARK$((0+1))\n")
    first = await read_until(session, b"MARK1\r\n")
    assert b"24 80" in first
    await session.resize(132, 43)
    await session.write_stdin(b"stty size; echo MARK$((0+2))\n")
    second = await read_until(session, b"MARK2\r\n")
    assert b"43 132" in second
    await session.write_stdin(b"exit 5\n")
    await read_until(session, b"never printed")     # drains to EOF
    assert await session.wait() == 5


async def test_interactive_exec_with_pipes(harness: RuntimeHarness) -> None:
    pod = await harness.pod()
    cid = await harness.run(pod, "main", ["sleep", "1000"])
    session = await harness.runtime.exec_process(
        cid, ["sh", "-c", "cat; echo bye >&2; exit 9"], tty=False, stdin=True)
    await session.write_stdin(b"line one\n")
    await session.close_stdin()
    assert await read_until(session, b"never printed") == b"line one\n"
    assert await session.read_stderr() == b"bye\n"
    assert await session.wait() == 9


async def test_attach_socket_reaches_stdin_and_stdout(harness: RuntimeHarness) -> None:
    pod = await harness.pod()
    cid = await harness.run(pod, "main", ["sh", "-c", "read line; echo got:$line"],
                            stdin=True, stdin_once=True)
    sock = connect_attach(harness.runtime.attach_socket(cid))
    try:
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        await loop.sock_sendall(sock, b"hello\n")
        message = await asyncio.wait_for(loop.sock_recv(sock, 65536), 10)
        # conmon prefixes each message with its stream: 2 = stdout.
        assert message == b"\x02got:hello\n"
    finally:
        sock.close()
    assert await harness.runtime.wait_exit(cid, timeout=15)
    assert (await harness.runtime.state(cid)).exit_code == 0
    await harness.wait_for_log(pod, "main", "got:hello")


async def test_security_context(harness: RuntimeHarness) -> None:
    pod = await harness.pod()
    cid = await harness.run(
        pod, "main", ["sleep", "1000"],
        security={"runAsUser": 1000, "readOnlyRootFilesystem": True,
                  "allowPrivilegeEscalation": False,
                  "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}})
    _, ids = await harness.runtime.exec_sync(cid, ["id"], 10)
    assert ids.decode().startswith("uid=1000(app) gid=1000(app)")
    assert b"29(audio)" in ids
    code, output = await harness.runtime.exec_sync(cid, ["touch", "/x"], 10)
    assert code != 0 and b"Read-only file system" in output
    _, status = await harness.runtime.exec_sync(cid, ["cat", "/proc/self/status"], 10)
    fields = status_fields(status.decode())
    assert int(fields["CapBnd"], 16) == 1 << 10        # only CAP_NET_BIND_SERVICE
    assert fields["NoNewPrivs"] == "1"


async def test_run_as_non_root_refuses_a_root_image(harness: RuntimeHarness) -> None:
    pod = await harness.pod()
    spec = harness.spec(pod, "main", ["true"], security={"runAsNonRoot": True})
    with pytest.raises(ContainerConfigError, match="image will run as root"):
        await harness.runtime.create_container(pod.sandbox, spec)
    named = harness.spec(pod, "main", ["true"],
                         image=FakeImage(config=FakeImageConfig(user="ghost")))
    with pytest.raises(ContainerConfigError, match="unable to find user ghost"):
        await harness.runtime.create_container(pod.sandbox, named)
    assert await harness.runtime.list_containers() == []


async def test_a_new_runtime_adopts_running_containers(harness: RuntimeHarness) -> None:
    pod = await harness.pod()
    cid = await harness.run(pod, "main", ["sleep", "1000"], annotations={"mine": "yes"})
    fresh = Runtime(harness.paths)
    try:
        states = await fresh.list_containers()
        assert [s.id for s in states] == [cid]
        state = states[0]
        assert state.status == RUNNING
        assert state.pod_uid == pod.uid and state.container_name == "main"
        assert state.sandbox_id == pod.sandbox.id
        assert state.annotations["mine"] == "yes"
        assert state.annotations["io.kubernetes.pod.name"] == pod.name
        assert [s.id for s in await fresh.list_sandboxes()] == [pod.sandbox.id]
        adopted = (await fresh.list_sandboxes())[0]
        assert adopted == pod.sandbox
        # The new runtime controls it: stop and see the exit.
        await fresh.stop_container(cid, grace_seconds=0.5)
        assert (await fresh.state(cid)).exit_code == 137
    finally:
        fresh.close()


async def test_removal_leaves_nothing_behind(harness: RuntimeHarness) -> None:
    pod = await harness.pod()
    running = await harness.run(pod, "main", ["sleep", "1000"],
                                resources={"limits": {"memory": "32Mi"}},
                                qos_class="Burstable")
    exited = await harness.run(pod, "done", ["true"])
    assert await harness.runtime.wait_exit(exited, timeout=15)
    conmon_pid = int((harness.runtime.bundle_dir(running) / "conmon.pid").read_text())
    for container_id in (running, exited):
        await harness.runtime.remove_container(container_id)
        await harness.runtime.remove_container(container_id)    # idempotent
    await harness.runtime.remove_sandbox(pod.sandbox.id)
    await harness.runtime.remove_sandbox(pod.sandbox.id)
    assert await harness.runtime.remove_pod_cgroups(pod.uid) == []
    assert leftovers(harness.paths, [pod.uid]) == []
    assert not process_alive(conmon_pid)
    assert await harness.runtime.list_containers() == []
    assert await harness.runtime.list_sandboxes() == []


async def test_privileged_container_gets_what_the_agent_holds(
        harness: RuntimeHarness) -> None:
    pod = await harness.pod()
    cid = await harness.run(pod, "main", ["sleep", "1000"], security={"privileged": True})
    _, status = await harness.runtime.exec_sync(cid, ["cat", "/proc/self/status"], 10)
    inside = status_fields(status.decode())
    assert inside["CapBnd"] == status_fields(read_text("/proc/self/status"))["CapBnd"]
    # Not masked: /proc/kcore is the kernel's, not an empty /dev/null bind.
    _, listing = await harness.runtime.exec_sync(cid, ["ls", "-l", "/proc/kcore"], 10)
    assert not listing.startswith(b"c")


async def test_stop_and_remove_a_container_that_never_started(
        harness: RuntimeHarness) -> None:
    pod = await harness.pod()
    cid = await harness.runtime.create_container(
        pod.sandbox, harness.spec(pod, "main", ["sleep", "1000"]))
    assert (await harness.runtime.state(cid)).status == "created"
    await harness.runtime.stop_container(cid, grace_seconds=5)
    state = await harness.runtime.state(cid)
    assert state.status == STOPPED and state.started_at is None
    await harness.runtime.remove_container(cid)
    assert await harness.runtime.list_containers() == []


async def test_attach_to_a_tty_container_and_resize(harness: RuntimeHarness) -> None:
    pod = await harness.pod()
    cid = await harness.run(pod, "main", ["sh"], tty=True, stdin=True)
    sock = connect_attach(harness.runtime.attach_socket(cid))
    try:
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        harness.runtime.resize_tty(cid, width=101, height=31)
        await loop.sock_sendall(sock, b"stty size; echo END$((0+1))\n")
        received = b""
        deadline = loop.time() + 15
        while b"END1" not in received:
            message = await asyncio.wait_for(loop.sock_recv(sock, 65536),
                                             max(0.1, deadline - loop.time()))
            assert message, "attach socket closed"
            assert message[0] == 2          # a terminal has a single stream: stdout
            received += message[1:]
        assert b"31 101" in received
        await loop.sock_sendall(sock, b"exit 4\n")
    finally:
        sock.close()
    assert await harness.runtime.wait_exit(cid, timeout=15)
    assert (await harness.runtime.state(cid)).exit_code == 4
