"""Kubeconfig loading: the current context's cluster and user as an SSL context, a base URL
and request headers.

Python's :mod:`ssl` only loads client certificates and keys from files, so embedded
``client-certificate-data`` / ``client-key-data`` are written to a private directory
(mode 0700, files 0600) that exists only while the :class:`ClientConfig` is open; it is
removed by :meth:`ClientConfig.close` (or at interpreter exit as a fallback). The CA needs
no file: :meth:`ssl.SSLContext.load_verify_locations` takes PEM text directly.

Loading is synchronous and small (one YAML file, a few PEM blobs); callers on an event loop
can run it in an executor if they care about the few milliseconds.
"""

from __future__ import annotations

import base64
import binascii
import os
import shutil
import ssl
import tempfile
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class KubeconfigError(ValueError):
    """A kubeconfig that cannot be used; the message names the file and the field."""


@dataclass
class ClientConfig:
    """Everything a :class:`~kubesmith.client.rest.Client` needs to reach an API server."""

    server: str
    ssl_context: ssl.SSLContext | bool
    headers: dict[str, str] = field(default_factory=dict)
    source: str = ""
    tls_server_name: str | None = None
    #: The CA the server is verified with (PEM), kept so a config for another identity
    #: on the same cluster can be derived (:meth:`with_bearer_token`).
    ca_pem: str | None = None
    insecure_skip_verify: bool = False
    _tmpdir: str | None = None
    _finalizer: weakref.finalize[[str], ClientConfig] | None = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        """The server URL without a trailing slash."""
        return self.server.rstrip("/")

    def with_bearer_token(self, token: str) -> ClientConfig:
        """A config for the same cluster authenticating with ``token`` instead of this
        config's user (no client certificate: x509 would win over the token)."""
        sslarg: ssl.SSLContext | bool = False
        if self.server.startswith("https://"):
            sslarg = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
            if self.insecure_skip_verify:
                sslarg.check_hostname = False
                sslarg.verify_mode = ssl.CERT_NONE
            if self.ca_pem:
                sslarg.load_verify_locations(cadata=self.ca_pem)
        return ClientConfig(self.server, sslarg, {"Authorization": f"Bearer {token}"},
                            self.source, self.tls_server_name, self.ca_pem,
                            self.insecure_skip_verify)

    def close(self) -> None:
        """Remove the private directory holding any embedded certificate and key."""
        if self._finalizer is not None:
            self._finalizer()
            self._finalizer = None
        self._tmpdir = None

    def __enter__(self) -> ClientConfig:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _section(doc: dict[str, Any], kind: str, name: str, where: str) -> dict[str, Any]:
    """The ``cluster``/``user``/``context`` body of the named entry in ``<kind>s``."""
    entries = doc.get(kind + "s") or []
    if not isinstance(entries, list):
        raise KubeconfigError(f"{where}: {kind}s: expected a list")
    for entry in entries:
        if isinstance(entry, dict) and entry.get("name") == name:
            body = entry.get(kind)
            if body is None:
                return {}
            if not isinstance(body, dict):
                raise KubeconfigError(f"{where}: {kind}s[{name}].{kind}: expected a mapping")
            return body
    raise KubeconfigError(f"{where}: {kind} {name!r} not found in {kind}s")


def _decode(value: Any, where: str, fieldname: str) -> bytes:
    if not isinstance(value, str):
        raise KubeconfigError(f"{where}: {fieldname}: expected a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KubeconfigError(f"{where}: {fieldname}: invalid base64 ({exc})") from None


def _path(value: Any, base: Path, where: str, fieldname: str) -> Path:
    if not isinstance(value, str) or not value:
        raise KubeconfigError(f"{where}: {fieldname}: expected a file path")
    path = Path(value).expanduser()
    if not path.is_absolute():
        # Relative paths in a kubeconfig are relative to the kubeconfig itself.
        path = base / path
    if not path.is_file():
        raise KubeconfigError(f"{where}: {fieldname}: file {str(path)!r} not found")
    return path


def _cleanup(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)


def default_kubeconfig_path() -> Path:
    """``$KUBECONFIG`` (its first entry) or ``~/.kube/config``."""
    env = os.environ.get("KUBECONFIG")
    if env:
        return Path(env.split(os.pathsep)[0])
    return Path.home() / ".kube" / "config"


def load_kubeconfig(path: str | os.PathLike[str] | None = None,
                    context: str | None = None) -> ClientConfig:
    """Load the kubeconfig at ``path`` (default: ``$KUBECONFIG`` or ``~/.kube/config``)
    for ``context`` (default: its ``current-context``).

    Raises :class:`KubeconfigError` naming the file and the offending field.
    """
    file = Path(path) if path is not None else default_kubeconfig_path()
    where = str(file)
    try:
        doc = yaml.safe_load(file.read_text())
    except OSError as exc:
        raise KubeconfigError(f"{where}: cannot read kubeconfig: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise KubeconfigError(f"{where}: not valid YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise KubeconfigError(f"{where}: expected a kubeconfig mapping")
    ctx_name = context or doc.get("current-context")
    if not ctx_name:
        raise KubeconfigError(f"{where}: current-context: not set and no context given")
    ctx = _section(doc, "context", str(ctx_name), where)
    cluster_name = ctx.get("cluster")
    if not cluster_name:
        raise KubeconfigError(f"{where}: contexts[{ctx_name}].context.cluster: not set")
    cluster = _section(doc, "cluster", str(cluster_name), where)
    user_name = ctx.get("user")
    user = _section(doc, "user", str(user_name), where) if user_name else {}
    base = file.parent
    cwhere = f"{where}: clusters[{cluster_name}].cluster"
    uwhere = f"{where}: users[{user_name}].user"

    server = cluster.get("server")
    if not isinstance(server, str) or not server:
        raise KubeconfigError(f"{cwhere}.server: not set")
    if not server.startswith("https://"):
        if not server.startswith("http://"):
            raise KubeconfigError(f"{cwhere}.server: {server!r} is not an http(s) URL")
        return ClientConfig(server, False, _auth_headers(user, base, uwhere), where)

    sslctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    ca_pem: str | None = None
    if cluster.get("insecure-skip-tls-verify"):
        sslctx.check_hostname = False
        sslctx.verify_mode = ssl.CERT_NONE
    try:
        if "certificate-authority-data" in cluster:
            ca = _decode(cluster["certificate-authority-data"], cwhere,
                         "certificate-authority-data")
            ca_pem = ca.decode("ascii", "replace")
            sslctx.load_verify_locations(cadata=ca_pem)
        elif "certificate-authority" in cluster:
            ca_path = _path(cluster["certificate-authority"], base, cwhere,
                            "certificate-authority")
            ca_pem = ca_path.read_text()
            sslctx.load_verify_locations(cadata=ca_pem)
    except ssl.SSLError as exc:
        raise KubeconfigError(f"{cwhere}.certificate-authority: unusable CA: {exc}") from None
    config = ClientConfig(server, sslctx, {}, where, ca_pem=ca_pem,
                          insecure_skip_verify=bool(cluster.get("insecure-skip-tls-verify")))
    if cluster.get("tls-server-name"):
        config.tls_server_name = str(cluster["tls-server-name"])
    try:
        _load_client_cert(config, sslctx, user, base, uwhere)
    except BaseException:
        config.close()
        raise
    config.headers = _auth_headers(user, base, uwhere)
    return config


def _load_client_cert(config: ClientConfig, sslctx: ssl.SSLContext, user: dict[str, Any],
                      base: Path, uwhere: str) -> None:
    has_cert = "client-certificate-data" in user or "client-certificate" in user
    has_key = "client-key-data" in user or "client-key" in user
    if not has_cert and not has_key:
        return
    if not has_cert:
        raise KubeconfigError(f"{uwhere}.client-certificate: required with client-key")
    if not has_key:
        raise KubeconfigError(f"{uwhere}.client-key: required with client-certificate")
    cert_file: Path
    key_file: Path
    tmp: Path | None = None
    if "client-certificate-data" in user or "client-key-data" in user:
        tmp = Path(tempfile.mkdtemp(prefix="kubesmith-client-"))
        os.chmod(tmp, 0o700)
        config._tmpdir = str(tmp)
        config._finalizer = weakref.finalize(config, _cleanup, str(tmp))
    if "client-certificate-data" in user:
        assert tmp is not None
        cert_file = _write_private(tmp / "client.crt",
                                   _decode(user["client-certificate-data"], uwhere,
                                           "client-certificate-data"))
    else:
        cert_file = _path(user["client-certificate"], base, uwhere, "client-certificate")
    if "client-key-data" in user:
        assert tmp is not None
        key_file = _write_private(tmp / "client.key",
                                  _decode(user["client-key-data"], uwhere, "client-key-data"))
    else:
        key_file = _path(user["client-key"], base, uwhere, "client-key")
    try:
        sslctx.load_cert_chain(str(cert_file), str(key_file))
    except ssl.SSLError as exc:
        raise KubeconfigError(
            f"{uwhere}.client-certificate/client-key: unusable pair: {exc}") from None


def _write_private(path: Path, data: bytes) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    return path


def _auth_headers(user: dict[str, Any], base: Path, uwhere: str) -> dict[str, str]:
    token = user.get("token")
    if token is None and "tokenFile" in user:
        token_path = _path(user["tokenFile"], base, uwhere, "tokenFile")
        token = token_path.read_text().strip()
    if token is not None:
        if not isinstance(token, str) or not token:
            raise KubeconfigError(f"{uwhere}.token: expected a non-empty string")
        return {"Authorization": f"Bearer {token}"}
    if user.get("username") is not None:
        raw = f"{user.get('username')}:{user.get('password') or ''}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode()}
    return {}
