"""A real container registry on loopback for tests: Debian's ``docker-registry``
(distribution 2.8) serving a temporary storage directory.

Three flavours: anonymous; Basic auth from an htpasswd file (bcrypt hashes made with the
``crypt`` module, or ``bcrypt`` when installed); and token auth, where a small token server
in a thread plays the role of Docker Hub's auth.docker.io: it checks Basic credentials and
issues ES256-signed JWTs that the registry verifies against the certificate in its
``rootcertbundle``. Fixtures are module-scoped; each stops its processes in teardown.

Use from a conftest: ``from tests.support.registry import loopback_registry  # noqa: F401``.
"""

from __future__ import annotations

import base64
import datetime
import http.server
import json
import secrets
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.conftest import free_port
from tests.support.oci_images import push_to_registry

REGISTRY_BINARY = "/usr/bin/docker-registry"
USERNAME = "tester"
PASSWORD = "s3cret-pass"
TOKEN_SERVICE = "kubesmith-test-registry"
TOKEN_ISSUER = "kubesmith-test-issuer"
AuthKind = Literal["none", "htpasswd", "token"]


@dataclass
class LoopbackRegistry:
    """A running registry at ``host`` ("127.0.0.1:PORT")."""

    host: str
    storage: Path
    log: Path
    auth: AuthKind
    process: subprocess.Popen[bytes]
    # Requests the token server answered (token auth only): {"query", "authenticated"}.
    token_requests: list[dict[str, Any]] = field(default_factory=list)

    @property
    def creds(self) -> str | None:
        """``user:password`` for skopeo, when the registry wants credentials."""
        return None if self.auth == "none" else f"{USERNAME}:{PASSWORD}"

    def ref(self, repository_and_tag: str) -> str:
        return f"{self.host}/{repository_and_tag}"

    def push(self, layout_dir: Path, repository_and_tag: str, *, source_ref: str | None = None,
             all_platforms: bool = False) -> str:
        """Push from an OCI layout; returns the full reference pushed to."""
        destination = self.ref(repository_and_tag)
        push_to_registry(layout_dir, destination, source_ref=source_ref,
                         all_platforms=all_platforms, creds=self.creds)
        return destination

    def blob_file(self, digest: str) -> Path:
        """Where the filesystem storage driver keeps a blob (to corrupt it in tests)."""
        hex_digest = digest.removeprefix("sha256:")
        return (self.storage / "docker" / "registry" / "v2" / "blobs" / "sha256"
                / hex_digest[:2] / hex_digest / "data")


def _htpasswd_line(username: str, password: str) -> str:
    try:
        import bcrypt  # type: ignore[import-not-found]
        hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
    except ImportError:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import crypt  # deprecated, gone in 3.13; Debian's libcrypt does bcrypt
        hashed = crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16))
    return f"{username}:{hashed}\n"


class _TokenIssuer:
    """A docker token-auth server: checks Basic credentials, grants requested scopes."""

    def __init__(self, workdir: Path) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, TOKEN_ISSUER)])
        self.cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - datetime.timedelta(hours=1))
                     .not_valid_after(now + datetime.timedelta(days=1))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
                     .sign(self.key, hashes.SHA256()))
        self.cert_file = workdir / "token-issuer.pem"
        self.cert_file.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        self.requests: list[dict[str, Any]] = []
        issuer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                issuer.handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.realm = f"http://127.0.0.1:{self.server.server_address[1]}/token"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def handle(self, request: http.server.BaseHTTPRequestHandler) -> None:
        query = parse_qs(urlsplit(request.path).query)
        header = request.headers.get("Authorization", "")
        expected = "Basic " + base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
        self.requests.append({"query": query, "authenticated": header == expected})
        if header != expected:
            body = json.dumps({"details": "incorrect username or password"}).encode()
            request.send_response(401)
        else:
            access = []
            for scope in query.get("scope", []):
                kind, _, rest = scope.partition(":")
                name, _, actions = rest.rpartition(":")
                access.append({"type": kind, "name": name, "actions": actions.split(",")})
            now = int(time.time())
            token = jwt.encode(
                {"iss": TOKEN_ISSUER, "sub": USERNAME, "aud": TOKEN_SERVICE, "exp": now + 300,
                 "nbf": now - 10, "iat": now, "jti": secrets.token_hex(8), "access": access},
                self.key, algorithm="ES256",
                headers={"x5c": [base64.b64encode(
                    self.cert.public_bytes(serialization.Encoding.DER)).decode()]})
            body = json.dumps({"token": token, "expires_in": 300}).encode()
            request.send_response(200)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _config(workdir: Path, port: int, auth: AuthKind, issuer: _TokenIssuer | None) -> str:
    lines = ["version: 0.1",
             "log: {level: info, accesslog: {disabled: true}}",
             f"storage: {{filesystem: {{rootdirectory: {workdir / 'storage'}}}, "
             "delete: {enabled: true}, cache: {blobdescriptor: inmemory}}",
             f"http: {{addr: '127.0.0.1:{port}', secret: {secrets.token_hex(16)}}}"]
    if auth == "htpasswd":
        htpasswd = workdir / "htpasswd"
        htpasswd.write_text(_htpasswd_line(USERNAME, PASSWORD))
        lines.append(f"auth: {{htpasswd: {{realm: kubesmith-test, path: {htpasswd}}}}}")
    elif auth == "token":
        assert issuer is not None
        lines.append(f"auth: {{token: {{realm: '{issuer.realm}', service: {TOKEN_SERVICE}, "
                     f"issuer: {TOKEN_ISSUER}, rootcertbundle: {issuer.cert_file}}}}}")
    return "\n".join(lines) + "\n"


def _wait_ready(host: str, process: subprocess.Popen[bytes], log: Path,
                timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"docker-registry exited: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://{host}/v2/", timeout=2):
                return
        except urllib.error.HTTPError as exc:
            if exc.code == 401:  # up, and asking for credentials
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"docker-registry did not answer /v2/ in {timeout}s")


@contextmanager
def running_registry(workdir: Path, auth: AuthKind = "none") -> Iterator[LoopbackRegistry]:
    """Start docker-registry on a free loopback port; stopped (and its token server) on exit."""
    if not Path(REGISTRY_BINARY).exists() or shutil.which("skopeo") is None:
        pytest.skip("docker-registry and skopeo are needed (scripts/install-deps.sh)")
    workdir.mkdir(parents=True, exist_ok=True)
    issuer = _TokenIssuer(workdir) if auth == "token" else None
    try:
        port = free_port()
        config = workdir / "config.yml"
        config.write_text(_config(workdir, port, auth, issuer))
        log = workdir / "registry.log"
        with open(log, "wb") as log_file:
            process = subprocess.Popen([REGISTRY_BINARY, "serve", str(config)],
                                       stdout=log_file, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL)
        try:
            host = f"127.0.0.1:{port}"
            _wait_ready(host, process, log)
            yield LoopbackRegistry(host=host, storage=workdir / "storage", log=log, auth=auth,
                                   process=process,
                                   token_requests=issuer.requests if issuer else [])
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    finally:
        if issuer is not None:
            issuer.stop()


@pytest.fixture(scope="module")
def loopback_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackRegistry]:
    """An anonymous registry for the test module."""
    with running_registry(tmp_path_factory.mktemp("registry")) as registry:
        yield registry


@pytest.fixture(scope="module")
def htpasswd_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackRegistry]:
    """A registry wanting Basic auth (``USERNAME``/``PASSWORD``)."""
    with running_registry(tmp_path_factory.mktemp("registry-basic"), "htpasswd") as registry:
        yield registry


@pytest.fixture(scope="module")
def token_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackRegistry]:
    """A registry wanting Bearer tokens from a token server that checks
    ``USERNAME``/``PASSWORD``."""
    with running_registry(tmp_path_factory.mktemp("registry-token"), "token") as registry:
        yield registry
