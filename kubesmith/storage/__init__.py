"""Datastores with etcd semantics: embedded SQLite (default) and etcd v3.

Only the API layer (``kubesmith.api``) imports this package.

A URL picks the backend (like kine's datastore endpoint):

* ``sqlite:///abs/path/state.db`` or ``sqlite://relative/state.db`` -- :class:`SqliteStore`;
* ``etcd://h1:2379,h2:2379`` -- :class:`EtcdStore` over plaintext gRPC;
* ``etcds://h1:2379,h2:2379?ca=/p/ca.crt&cert=/p/client.crt&key=/p/client.key`` -- over
  TLS (``ca`` verifies the members, ``cert``/``key`` are the client certificate; each is
  optional, the system trust store is used without ``ca``).

Ports default to 2379.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

from kubesmith.storage.etcd import EtcdStore
from kubesmith.storage.etcd_client import EtcdTLS
from kubesmith.storage.fanout import WatchOverflowError
from kubesmith.storage.interface import Store
from kubesmith.storage.sqlite import SqliteStore

ACCEPTED_URLS = (
    "sqlite:///abs/path/state.db, sqlite://relative/path/state.db, "
    "etcd://host:2379[,host:2379...], "
    "etcds://host:2379[,host:2379...]?ca=CA.crt&cert=client.crt&key=client.key"
)
_DEFAULT_ETCD_PORT = 2379


@dataclass(frozen=True, slots=True)
class SqliteTarget:
    """A parsed ``sqlite://`` URL."""

    path: str


@dataclass(frozen=True, slots=True)
class EtcdTarget:
    """A parsed ``etcd://`` or ``etcds://`` URL."""

    endpoints: tuple[str, ...]
    tls: EtcdTLS | None


def parse_store_url(url: str) -> SqliteTarget | EtcdTarget:
    """Parse a datastore URL; ValueError (naming the accepted forms) if it is not one."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError(f"datastore URL {url!r} has no scheme; accepted: {ACCEPTED_URLS}")
    scheme = scheme.lower()
    if scheme == "sqlite":
        # "sqlite:///abs" keeps its leading slash; "sqlite://rel" is relative to the cwd.
        path = unquote(rest.split("?", 1)[0])
        if not path:
            raise ValueError(f"datastore URL {url!r} has no path; accepted: {ACCEPTED_URLS}")
        return SqliteTarget(path)
    if scheme in ("etcd", "etcds"):
        parts = urlsplit(url)
        endpoints = tuple(_endpoint(e, url) for e in parts.netloc.split(",") if e)
        if not endpoints:
            raise ValueError(f"datastore URL {url!r} names no endpoint; accepted: {ACCEPTED_URLS}")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        unknown = set(query) - {"ca", "cert", "key"}
        if unknown:
            raise ValueError(f"datastore URL {url!r}: unknown option(s) {sorted(unknown)}")
        if scheme == "etcd":
            if query:
                raise ValueError(f"datastore URL {url!r}: TLS options need the etcds:// scheme")
            return EtcdTarget(endpoints, None)
        tls = EtcdTLS(
            ca_file=query.get("ca"), cert_file=query.get("cert"), key_file=query.get("key")
        )
        return EtcdTarget(endpoints, tls)
    raise ValueError(f"unsupported datastore URL {url!r}; accepted: {ACCEPTED_URLS}")


def _endpoint(text: str, url: str) -> str:
    """``host[:port]`` or ``[v6addr][:port]`` to ``host:port`` (gRPC's target form)."""
    if text.startswith("["):
        host, _, rest = text.partition("]")
        host += "]"
        port = rest[1:] if rest.startswith(":") else "" if not rest else "bad"
    elif text.count(":") <= 1:
        host, _, port = text.partition(":")
    else:
        raise ValueError(f"datastore URL {url!r}: write IPv6 endpoints as [addr]:port")
    port = port or str(_DEFAULT_ETCD_PORT)
    if host in ("", "[]") or not port.isdigit():
        raise ValueError(f"datastore URL {url!r}: bad endpoint {text!r}")
    return f"{host}:{port}"


async def open_store(url: str) -> Store:
    """Open the datastore ``url`` names (see the module docstring for the forms)."""
    target = parse_store_url(url)
    if isinstance(target, SqliteTarget):
        return await SqliteStore.open(target.path)
    return await EtcdStore.open(list(target.endpoints), tls=target.tls)


__all__ = [
    "ACCEPTED_URLS",
    "EtcdStore",
    "EtcdTLS",
    "EtcdTarget",
    "SqliteStore",
    "SqliteTarget",
    "Store",
    "WatchOverflowError",
    "open_store",
    "parse_store_url",
]
