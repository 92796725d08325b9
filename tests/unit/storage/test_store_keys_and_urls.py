"""Key-range arithmetic and datastore URL parsing."""

from __future__ import annotations

import pytest

from kubesmith.storage import EtcdTarget, EtcdTLS, SqliteTarget, parse_store_url
from kubesmith.storage.keys import prefix_end, prefix_end_bytes


@pytest.mark.parametrize(
    ("prefix", "end"),
    [
        ("/registry/pods/", "/registry/pods0"),
        ("a", "b"),
        ("/é", "/ê"),
        ("/\ud7ff", "/\ue000"),  # skips the surrogate block
        ("/\U0010ffff", "0"),  # U+10FFFF cannot grow: bump the character before it
        ("\U0010ffff", None),
        ("", None),
    ],
)
def test_prefix_end(prefix: str, end: str | None) -> None:
    assert prefix_end(prefix) == end


@pytest.mark.parametrize(
    ("prefix", "end"),
    [(b"/a/", b"/a0"), (b"a\xff", b"b"), (b"\xff\xff", b"\0"), (b"", b"\0")],
)
def test_prefix_end_bytes(prefix: bytes, end: bytes) -> None:
    assert prefix_end_bytes(prefix) == end


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///var/lib/kubesmith/state.db", SqliteTarget("/var/lib/kubesmith/state.db")),
        ("sqlite://state/state.db", SqliteTarget("state/state.db")),
        ("SQLITE:///x%20y.db", SqliteTarget("/x y.db")),
        (
            "etcd://10.0.0.1:2379,10.0.0.2:2380",
            EtcdTarget(("10.0.0.1:2379", "10.0.0.2:2380"), None),
        ),
        ("etcd://etcd-1,etcd-2", EtcdTarget(("etcd-1:2379", "etcd-2:2379"), None)),
        ("etcd://[::1]:2379,[::2]", EtcdTarget(("[::1]:2379", "[::2]:2379"), None)),
        (
            "etcds://h1:2379,h2:2379?ca=/p/ca.crt&cert=/p/client.crt&key=/p/client.key",
            EtcdTarget(
                ("h1:2379", "h2:2379"),
                EtcdTLS(ca_file="/p/ca.crt", cert_file="/p/client.crt", key_file="/p/client.key"),
            ),
        ),
        ("etcds://h1", EtcdTarget(("h1:2379",), EtcdTLS())),
    ],
)
def test_parse_store_url(url: str, expected: SqliteTarget | EtcdTarget) -> None:
    assert parse_store_url(url) == expected


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgres://db/kubesmith", "unsupported datastore URL"),
        ("/var/lib/state.db", "has no scheme"),
        ("sqlite://", "has no path"),
        ("etcd://", "names no endpoint"),
        ("etcd://h1:port", "bad endpoint"),
        ("etcd://::1:2379", "IPv6"),
        ("etcd://h1?ca=/ca.crt", "need the etcds:// scheme"),
        ("etcds://h1?cafile=/ca.crt", "unknown option"),
    ],
)
def test_bad_store_urls_name_the_accepted_forms(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as err:
        parse_store_url(url)
    if "unsupported" in message or "no scheme" in message:
        assert "sqlite:///" in str(err.value)
        assert "etcds://" in str(err.value)


def test_tls_needs_cert_and_key_together() -> None:
    with pytest.raises(ValueError, match="needs its key"):
        EtcdTLS(cert_file="/p/client.crt").credentials()
