"""Logs, exec, attach, cp and port-forward through a real ``kubesmith server`` and the
agent's streaming server, driven by the real kubectl.

The agent server runs in the test process on 127.0.0.1 with a serving certificate from the
cluster CA; a Node object points at it (InternalIP 127.0.0.1, kubeletEndpoint its port).
Containers are test doubles at the runtime boundary (``streams_doubles``): shell payloads
under the real conmon (logs, attach) and local processes (exec).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import pty
import re
import secrets
import shutil
import signal
import ssl
import struct
import subprocess
import tempfile
import termios
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
import yaml

from kubesmith.agent.server import AgentServer
from kubesmith.apiserver.pki import KeyPair, issue
from tests.conftest import KUBECTL, RunningServer, namespace_name
from tests.integration.agent.streams_doubles import ConmonContainer, FakePod, FakeRuntime

pytestmark = pytest.mark.integration

# The pauses order stdout and stderr lines in the log (conmon reads the pipes separately).
LOG_PAYLOAD = "echo one; echo two; sleep 0.2; echo three >&2; sleep 0.2; echo four; " \
              "while read line; do echo \"$line\"; done\n"
CHAT_PAYLOAD = "while read line; do echo \"got:$line\"; echo \"err:$line\" >&2; done; " \
               "echo bye\n"


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


@dataclass
class StreamsEnv:
    server: RunningServer
    agent: AgentServer
    runtime: FakeRuntime
    namespace: str
    node: str
    pod: str
    tmp: Path
    ca: KeyPair

    async def kubectl(self, *args: str, input: str | None = None, seconds: float = 60,
                      env: dict[str, str] | None = None,
                      kubeconfig: Path | None = None) -> Result:
        """Real kubectl, run without blocking the event loop the agent serves on."""
        proc = await asyncio.create_subprocess_exec(
            KUBECTL, *args, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.env(env, kubeconfig))
        out, err = await asyncio.wait_for(
            proc.communicate(input.encode() if input is not None else None), seconds)
        assert proc.returncode is not None
        return Result(proc.returncode, out.decode(), err.decode())

    def env(self, extra: dict[str, str] | None = None,
            kubeconfig: Path | None = None) -> dict[str, str]:
        return {**os.environ, "KUBECONFIG": str(kubeconfig or self.server.kubeconfig),
                "KUBECTL_KUBERC": "false", **(extra or {})}

    async def ok(self, *args: str, **kwargs: object) -> Result:
        result = await self.kubectl(*args, **kwargs)  # type: ignore[arg-type]
        assert result.returncode == 0, f"kubectl {args} failed:\n{result.stderr}"
        return result


def _manifests(namespace: str, node: str, port: int, pod: str) -> str:
    return yaml.safe_dump_all([
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
        {"apiVersion": "v1", "kind": "Node", "metadata": {"name": node},
         "status": {"addresses": [{"type": "InternalIP", "address": "127.0.0.1"},
                                  {"type": "Hostname", "address": node}],
                    "daemonEndpoints": {"kubeletEndpoint": {"Port": port}}}},
    ])


def _pod_manifest(namespace: str, pod: str, node: str) -> str:
    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": pod, "namespace": namespace},
        "spec": {"nodeName": node, "automountServiceAccountToken": False,
                 "containers": [{"name": name, "image": "busybox", "stdin": True}
                                for name in ("main", "chat", "logger")]}})


async def _create_pod(env: StreamsEnv) -> None:
    # The namespace's default ServiceAccount appears shortly after the namespace.
    deadline = asyncio.get_running_loop().time() + 30
    while True:
        result = await env.kubectl("create", "-f", "-",
                                   input=_pod_manifest(env.namespace, env.pod, env.node))
        if result.returncode == 0:
            break
        assert "serviceaccount" in result.stderr, result.stderr
        assert asyncio.get_running_loop().time() < deadline, result.stderr
        await asyncio.sleep(0.2)
    status = {"status": {"phase": "Running", "podIP": "127.0.0.1",
                         "conditions": [{"type": "Ready", "status": "True"}]}}
    await env.ok("-n", env.namespace, "patch", "pod", env.pod, "--subresource=status",
                 "--type=merge", "-p", json.dumps(status))


@pytest.fixture
async def env(api_server: RunningServer, tmp_path: Path,
              request: pytest.FixtureRequest) -> AsyncIterator[StreamsEnv]:
    pki_dir = api_server.data_dir / "pki"
    ca = KeyPair(pki_dir / "ca.crt", pki_dir / "ca.key")
    serving = issue(ca, KeyPair(tmp_path / "agent.crt", tmp_path / "agent.key"),
                    common_name="kubesmith-agent", sans=["127.0.0.1"], server=True)
    (tmp_path / "exec").mkdir()
    runtime = FakeRuntime(tmp_path / "exec")
    agent = AgentServer(runtime_lookup=runtime, log_dir_lookup=runtime,
                        client_ca=ca.cert_path, cert=serving.cert_path, key=serving.key_path)
    port = await agent.start("127.0.0.1", 0)
    suffix = secrets.token_hex(3)
    env = StreamsEnv(api_server, agent, runtime, namespace_name(request.node.name),
                     f"streams-{suffix}", "web", tmp_path, ca)
    containers: list[ConmonContainer] = []
    # Short: conmon's attach socket path must stay under the 108-byte unix socket limit.
    conmon_root = Path(tempfile.mkdtemp(prefix="ks-cm-"))
    try:
        await env.ok("create", "-f", "-",
                     input=_manifests(env.namespace, env.node, port, env.pod))
        await _create_pod(env)
        uid = (await env.ok("-n", env.namespace, "get", "pod", env.pod, "-o",
                            "jsonpath={.metadata.uid}")).stdout
        pod = FakePod(env.namespace, env.pod, uid)
        for name, payload, leave_open in (("main", "sleep 600\n", False),
                                          ("chat", CHAT_PAYLOAD, False),
                                          ("logger", LOG_PAYLOAD, True)):
            ctr = ConmonContainer(conmon_root, f"{name}-{suffix}", payload,
                                  leave_stdin_open=leave_open)
            containers.append(ctr)
            await asyncio.to_thread(ctr.start)
            pod.containers[name] = ctr
        runtime.add(pod)
        yield env
    finally:
        for ctr in containers:
            await asyncio.to_thread(ctr.stop)
        await agent.stop()
        await runtime.close()
        await env.kubectl("delete", "node", env.node, "--wait=false")
        await env.kubectl("delete", "namespace", env.namespace, "--wait=false")
        shutil.rmtree(conmon_root, ignore_errors=True)


async def _wait_for(predicate: object, what: str, seconds: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not predicate():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, f"timed out: {what}"
        await asyncio.sleep(0.05)


def _log_has(ctr: ConmonContainer, text: str) -> bool:
    return ctr.log_path.exists() and text in ctr.log_path.read_text()


# ---- logs --------------------------------------------------------------------------------

async def test_logs_tail_timestamps_previous(env: StreamsEnv) -> None:
    logger = env.runtime.pods[(env.namespace, env.pod)].containers["logger"]
    await _wait_for(lambda: _log_has(logger, "four"), "the logger's output")
    ns = ("-n", env.namespace)

    logs = await env.ok(*ns, "logs", env.pod, "-c", "logger")
    assert logs.stdout == "one\ntwo\nthree\nfour\n"

    tail = await env.ok(*ns, "logs", env.pod, "-c", "logger", "--tail=2")
    assert tail.stdout == "three\nfour\n"

    stamped = await env.ok(*ns, "logs", env.pod, "-c", "logger", "--timestamps")
    lines = stamped.stdout.splitlines()
    assert [line.split(" ", 1)[1] for line in lines] == ["one", "two", "three", "four"]
    for line in lines:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z \w+", line), line

    limited = await env.ok(*ns, "logs", env.pod, "-c", "logger", "--limit-bytes=6")
    assert limited.stdout == "one\ntw"

    missing = await env.kubectl(*ns, "logs", env.pod, "-c", "logger", "--previous")
    assert missing.returncode != 0
    assert 'previous terminated container "logger"' in missing.stderr

    previous = env.tmp / "previous.log"
    previous.write_text("2026-01-02T03:04:05.000000001Z stdout F before the restart\n"
                        "2026-01-02T03:04:06.5+00:00 stderr P half \n"
                        "2026-01-02T03:04:06.6+00:00 stderr F a line\n")
    env.runtime.pods[(env.namespace, env.pod)].previous_logs["logger"] = previous
    prev = await env.ok(*ns, "logs", env.pod, "-c", "logger", "--previous", "--timestamps")
    assert prev.stdout == ("2026-01-02T03:04:05.000000001Z before the restart\n"
                           "2026-01-02T03:04:06.500000000Z half a line\n")

    wrong = await env.kubectl(*ns, "logs", env.pod, "-c", "nope")
    assert wrong.returncode != 0 and "container nope is not valid for pod web" in wrong.stderr


async def test_logs_follow(env: StreamsEnv) -> None:
    logger = env.runtime.pods[(env.namespace, env.pod)].containers["logger"]
    await _wait_for(lambda: _log_has(logger, "four"), "the logger's output")
    proc = await asyncio.create_subprocess_exec(
        KUBECTL, "-n", env.namespace, "logs", "-f", env.pod, "-c", "logger", "--tail=1",
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env.env())
    assert proc.stdout is not None
    try:
        first = await asyncio.wait_for(proc.stdout.readline(), 20)
        assert first == b"four\n"
        await asyncio.to_thread(logger.write_stdin, b"five\n")
        assert await asyncio.wait_for(proc.stdout.readline(), 20) == b"five\n"
        # The container ends: the follow ends by itself once everything was sent.
        await asyncio.to_thread(logger.write_stdin, b"six\n")
        await _wait_for(lambda: _log_has(logger, "six"), "the last line")
        await asyncio.to_thread(logger.stop)
        rest = await asyncio.wait_for(proc.stdout.read(), 20)
        assert rest == b"six\n"
        assert await asyncio.wait_for(proc.wait(), 20) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


# ---- exec --------------------------------------------------------------------------------

async def test_exec_streams_and_exit_code(env: StreamsEnv) -> None:
    ns = ("-n", env.namespace)
    result = await env.kubectl(*ns, "exec", env.pod, "-c", "main", "--", "sh", "-c",
                               "echo out; echo err >&2; exit 3")
    assert result.returncode == 3
    assert result.stdout == "out\n"
    assert "err\n" in result.stderr
    assert "command terminated with exit code 3" in result.stderr

    ok = await env.ok(*ns, "exec", env.pod, "-c", "main", "--", "echo", "hello")
    assert ok.stdout == "hello\n"

    piped = await env.ok(*ns, "exec", "-i", env.pod, "-c", "main", "--", "sh", "-c",
                         "tr a-z A-Z; echo done", input="hello stdin\n")
    assert piped.stdout == "HELLO STDIN\ndone\n"

    big = "x" * 300_000 + "\n"
    echoed = await env.ok(*ns, "exec", "-i", env.pod, "-c", "main", "--", "cat", input=big)
    assert echoed.stdout == big


async def test_exec_over_spdy(env: StreamsEnv) -> None:
    """kubectl's SPDY executor (its fallback, and what older clients use)."""
    spdy = {"KUBECTL_REMOTE_COMMAND_WEBSOCKETS": "false"}
    ns = ("-n", env.namespace)
    result = await env.kubectl(*ns, "exec", env.pod, "-c", "main", "--", "sh", "-c",
                               "echo out; echo err >&2; exit 5", env=spdy)
    assert (result.returncode, result.stdout) == (5, "out\n"), result.stderr
    assert "err\n" in result.stderr
    big = "over spdy\n" * 50_000  # more than any SPDY window: nothing waits for updates
    piped = await env.kubectl(*ns, "exec", "-i", env.pod, "-c", "main", "--", "cat",
                              input=big, env=spdy)
    assert (piped.returncode, piped.stdout == big) == (0, True), piped.stderr


@pytest.mark.parametrize("transport", ["websocket", "spdy"])
async def test_exec_terminal_size(env: StreamsEnv, transport: str) -> None:
    """``exec -it``: kubectl runs in a terminal of 33 rows and 111 columns; the process in
    the container sees that size (the resize channel or stream) on its own terminal."""
    extra = {"KUBECTL_REMOTE_COMMAND_WEBSOCKETS": "false"} if transport == "spdy" else None
    script = ('i=0; while [ "$(stty size)" = "0 0" ] && [ $i -lt 100 ]; do sleep 0.05; '
              'i=$((i+1)); done; echo "size=$(stty size)"; tty >/dev/null && echo tty=yes')
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 111, 0, 0))
    proc = await asyncio.create_subprocess_exec(
        KUBECTL, "-n", env.namespace, "exec", "-it", env.pod, "-c", "main", "--", "sh", "-c",
        script, stdin=slave, stdout=slave, stderr=slave, env=env.env(extra),
        start_new_session=True)
    os.close(slave)
    output = b""
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while b"tty=yes" not in output:
            assert loop.time() < deadline, output
            try:
                chunk = await asyncio.wait_for(loop.run_in_executor(None, os.read, master,
                                                                    4096), 5)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
        assert await asyncio.wait_for(proc.wait(), 20) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        os.close(master)
    assert b"size=33 111" in output, output


async def test_cp_into_and_out_of_the_container(env: StreamsEnv) -> None:
    source = env.tmp / "source.txt"
    source.write_text("copied through tar over exec\n" * 1000)
    target_dir = env.tmp / "in-container"
    target_dir.mkdir()
    ns = ("-n", env.namespace)
    await env.ok(*ns, "cp", str(source), f"{env.pod}:{target_dir}/copied.txt", "-c", "main")
    assert (target_dir / "copied.txt").read_text() == source.read_text()

    back = env.tmp / "back.txt"
    await env.ok(*ns, "cp", f"{env.pod}:{target_dir}/copied.txt", str(back), "-c", "main")
    assert back.read_text() == source.read_text()


# ---- attach ------------------------------------------------------------------------------

async def test_attach_with_stdin(env: StreamsEnv) -> None:
    chat = env.runtime.pods[(env.namespace, env.pod)].containers["chat"]
    result = await env.kubectl("-n", env.namespace, "attach", "-i", env.pod, "-c", "chat",
                               input="hello\nagain\n")
    assert result.returncode == 0, result.stderr
    # stdin's end closed the container's stdin (stdinOnce): the payload said bye and ended.
    assert result.stdout == "got:hello\ngot:again\nbye\n"
    assert "err:hello\n" in result.stderr
    await asyncio.to_thread(chat.wait_exited)


# ---- port-forward ------------------------------------------------------------------------

async def _echo_server() -> tuple[asyncio.Server, int]:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def _port_forward(env: StreamsEnv, remote: int, extra_env: dict[str, str] | None = None
                        ) -> tuple[asyncio.subprocess.Process, int]:
    proc = await asyncio.create_subprocess_exec(
        KUBECTL, "-n", env.namespace, "port-forward", f"pod/{env.pod}", f":{remote}",
        "--address=127.0.0.1", stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=env.env(extra_env))
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 30)
    match = re.search(rb"127\.0\.0\.1:(\d+) -> (\d+)", line)
    assert match, line
    return proc, int(match.group(1))


async def _round_trip(port: int, payload: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(payload)
    await writer.drain()
    received = await asyncio.wait_for(reader.readexactly(len(payload)), 20)
    writer.close()
    await writer.wait_closed()
    return received


@pytest.mark.parametrize("transport", ["websocket", "spdy"])
async def test_port_forward(env: StreamsEnv, transport: str) -> None:
    echo, remote = await _echo_server()
    extra = {"KUBECTL_PORT_FORWARD_WEBSOCKETS": "false"} if transport == "spdy" else None
    proc, local = await _port_forward(env, remote, extra)
    try:
        assert await _round_trip(local, b"ping\n") == b"ping\n"
        big = os.urandom(200_000)
        assert await _round_trip(local, big) == big
        assert await _round_trip(local, b"again\n") == b"again\n"
        payloads = [os.urandom(50_000) for _ in range(5)]
        received = await asyncio.gather(*(_round_trip(local, p) for p in payloads))
        assert received == payloads
    finally:
        proc.send_signal(signal.SIGINT)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), 10)
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        echo.close()
        await echo.wait_closed()


async def _run(*argv: str) -> None:
    proc = await asyncio.create_subprocess_exec(*argv)
    assert await proc.wait() == 0, argv


async def test_port_forward_into_pod_network_namespace(env: StreamsEnv) -> None:
    """The forwarded connection is made inside the pod's network namespace: the server
    listens on the namespace's own loopback, which the host cannot reach."""
    name = f"ks-pf-{secrets.token_hex(3)}"
    await _run("ip", "netns", "add", name)
    server = None
    try:
        await _run("ip", "-n", name, "link", "set", "lo", "up")
        script = ("import socket\ns=socket.socket()\ns.bind(('127.0.0.1',0))\ns.listen()\n"
                  "print(s.getsockname()[1],flush=True)\nc,_=s.accept()\n"
                  "d=c.recv(100)\nc.sendall(b'netns:'+d)\nc.close()\n")
        server = await asyncio.create_subprocess_exec(
            "ip", "netns", "exec", name, "python3", "-c", script, stdout=subprocess.PIPE)
        assert server.stdout is not None
        remote = int(await asyncio.wait_for(server.stdout.readline(), 10))
        env.runtime.pods[(env.namespace, env.pod)].netns = Path("/run/netns") / name
        proc, local = await _port_forward(env, remote)
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", local)
            writer.write(b"hi")
            await writer.drain()
            assert await asyncio.wait_for(reader.readexactly(8), 20) == b"netns:hi"
            writer.close()
        finally:
            proc.kill()
            await proc.wait()
    finally:
        if server is not None and server.returncode is None:
            server.kill()
            await server.wait()
        await _run("ip", "netns", "del", name)


# ---- refusals ----------------------------------------------------------------------------

def _user_kubeconfig(env: StreamsEnv, user: str) -> Path:
    cert = issue(env.ca, KeyPair(env.tmp / f"{user}.crt", env.tmp / f"{user}.key"),
                 common_name=user, client=True)
    config = yaml.safe_load(env.server.kubeconfig.read_text())
    config["users"][0]["user"] = {"client-certificate": str(cert.cert_path),
                                  "client-key": str(cert.key_path)}
    path = env.tmp / f"{user}.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


async def test_exec_needs_create_on_pods_exec(env: StreamsEnv) -> None:
    ns = env.namespace
    await env.ok("-n", ns, "create", "role", "reader", "--verb=get,list",
                 "--resource=pods,pods/exec,pods/log")
    await env.ok("-n", ns, "create", "rolebinding", "reader", "--role=reader", "--user=bob")
    bob = _user_kubeconfig(env, "bob")
    denied = await env.kubectl("-n", ns, "exec", env.pod, "-c", "main", "--", "true",
                               kubeconfig=bob)
    assert denied.returncode != 0
    assert 'cannot create resource "pods/exec"' in denied.stderr, denied.stderr
    # Reading logs only needs get.
    logs = await env.kubectl("-n", ns, "logs", env.pod, "-c", "main", kubeconfig=bob)
    assert logs.returncode == 0, logs.stderr

    await env.ok("-n", ns, "create", "role", "execer", "--verb=get,create",
                 "--resource=pods/exec")
    await env.ok("-n", ns, "create", "rolebinding", "execer", "--role=execer", "--user=bob")
    allowed = await env.kubectl("-n", ns, "exec", env.pod, "-c", "main", "--", "echo", "ok",
                                kubeconfig=bob)
    assert (allowed.returncode, allowed.stdout) == (0, "ok\n"), allowed.stderr


async def test_agent_requires_the_api_servers_certificate(env: StreamsEnv) -> None:
    url = f"https://127.0.0.1:{env.agent.port}"
    path = f"/exec/{env.namespace}/{env.pod}/main?command=true&stdout=1"

    def context(cert: KeyPair | None) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(env.ca.cert_path))
        if cert is not None:
            ctx.load_cert_chain(cert.cert_path, cert.key_path)
        return ctx

    async with aiohttp.ClientSession() as session:
        async with session.get(f"{url}/healthz", ssl=context(None)) as resp:
            assert resp.status == 200
        async with session.get(url + path, ssl=context(None)) as resp:
            assert resp.status == 401
        bob = issue(env.ca, KeyPair(env.tmp / "bob.crt", env.tmp / "bob.key"),
                    common_name="bob", client=True)
        async with session.get(url + path, ssl=context(bob)) as resp:
            assert resp.status == 403

        # A certificate from another CA fails the TLS handshake.
        other_ca = KeyPair(env.tmp / "other-ca.crt", env.tmp / "other-ca.key")
        from kubesmith.apiserver.pki import ensure_ca
        ensure_ca(env.tmp / "other", "other-ca")
        other_ca = KeyPair(env.tmp / "other" / "ca.crt", env.tmp / "other" / "ca.key")
        impostor = issue(other_ca, KeyPair(env.tmp / "imp.crt", env.tmp / "imp.key"),
                         common_name="kube-apiserver-kubelet-client", client=True)
        with pytest.raises(aiohttp.ClientError):
            async with session.get(url + path, ssl=context(impostor)) as resp:
                await resp.read()


# ---- failures reported through the API server ---------------------------------------------

async def test_agent_and_api_server_refusals_reach_kubectl(env: StreamsEnv) -> None:
    ns = ("-n", env.namespace)
    chat = env.runtime.pods[(env.namespace, env.pod)].containers["chat"]
    await asyncio.to_thread(chat.stop)
    stopped = await env.kubectl(*ns, "exec", env.pod, "-c", "chat", "--", "true")
    assert stopped.returncode != 0
    assert 'container "chat" in pod "web" is not running' in stopped.stderr, stopped.stderr

    unknown = await env.kubectl(*ns, "exec", env.pod, "-c", "nope", "--", "true")
    assert "container nope is not valid for pod web" in unknown.stderr, unknown.stderr

    pending = yaml.safe_dump({"apiVersion": "v1", "kind": "Pod",
                              "metadata": {"name": "pending", "namespace": env.namespace},
                              "spec": {"automountServiceAccountToken": False,
                                       "containers": [{"name": "c", "image": "busybox"}]}})
    await env.ok("create", "-f", "-", input=pending)
    logs = await env.ok(*ns, "logs", "pending")
    assert logs.stdout == ""  # not scheduled: nothing logged yet
    unscheduled = await env.kubectl(*ns, "exec", "pending", "--", "true")
    assert "pod pending does not have a host assigned" in unscheduled.stderr, \
        unscheduled.stderr


async def test_port_forward_to_a_closed_port_reports_the_agents_error(env: StreamsEnv) -> None:
    echo, port = await _echo_server()
    echo.close()
    await echo.wait_closed()  # nothing listens on the port any more
    proc, local = await _port_forward(env, port)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", local)
        assert await asyncio.wait_for(reader.read(), 20) == b""
        writer.close()
        assert proc.stderr is not None
        stderr = (await asyncio.wait_for(proc.stderr.read(), 20)).decode()
        assert f"error forwarding port {port} to pod web" in stderr, stderr
        assert "failed to connect to localhost" in stderr
        assert await asyncio.wait_for(proc.wait(), 20) != 0  # lost connection to pod
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_node_proxy_reaches_the_agent(env: StreamsEnv) -> None:
    health = await env.ok("get", "--raw", f"/api/v1/nodes/{env.node}/proxy/healthz")
    assert health.stdout == "ok"
    logger = env.runtime.pods[(env.namespace, env.pod)].containers["logger"]
    await _wait_for(lambda: _log_has(logger, "four"), "the logger's output")
    logs = await env.ok("get", "--raw", f"/api/v1/nodes/{env.node}/proxy/containerLogs/"
                                        f"{env.namespace}/{env.pod}/logger?tailLines=1")
    assert logs.stdout == "four\n"


# ---- other clients -----------------------------------------------------------------------

async def test_official_python_client_exec_and_port_forward(env: StreamsEnv) -> None:
    """The Python client speaks the older WebSocket protocols: exec on
    ``v4.channel.k8s.io``, port-forward on the per-port channel protocol."""
    from kubernetes import client, config
    from kubernetes.stream import portforward, stream

    echo, remote = await _echo_server()

    def use_client() -> tuple[str, bytes]:
        api = client.CoreV1Api(config.new_client_from_config(str(env.server.kubeconfig)))
        output = stream(api.connect_get_namespaced_pod_exec, env.pod, env.namespace,
                        container="main", command=["sh", "-c", "echo from python"],
                        stderr=True, stdin=False, stdout=True, tty=False)
        forwarded = portforward(api.connect_get_namespaced_pod_portforward, env.pod,
                                env.namespace, ports=str(remote))
        sock = forwarded.socket(remote)
        sock.settimeout(20)
        sock.sendall(b"python ping")
        received = b""
        while len(received) < len(b"python ping"):
            received += sock.recv(100)
        sock.close()
        forwarded.close()
        return output, received

    try:
        output, received = await asyncio.wait_for(asyncio.to_thread(use_client), 60)
    finally:
        echo.close()
        await echo.wait_closed()
    assert output == "from python\n"
    assert received == b"python ping"
