"""gRPC connections to an etcd v3 cluster: endpoints, TLS, failover and retry rules.

We speak etcd's native gRPC API with the generated stubs shipped in ``aetcd.rpc`` over our
own ``grpc.aio`` channels. aetcd's high-level ``Client`` works against etcd 3.4 but only
dials one plaintext ``host:port`` (no TLS credentials, no endpoint list), which the
datastore needs; see docs/adr/0001-storage-backends.md.

Concurrency and failover design: one channel per endpoint, created lazily on the event loop
that uses the store; calls go to the "current" endpoint and stay there while it works.
Before sending, :meth:`EtcdConnections.pick` makes sure the channel is READY, moving on to
the next endpoint (round robin, bounded by the call's deadline) when it is not. Because a
request is never sent on a channel that is not connected, switching endpoints at that point
is always safe, writes included. Once a request was sent the rules follow etcd's clientv3:

* reads (Range, Watch set-up) are retried on another endpoint on UNAVAILABLE;
* writes (Txn, Compaction) are retried only when etcd says it did not apply them
  ("no leader"); any other UNAVAILABLE after sending is ambiguous, so the caller gets
  :class:`~kubesmith.storage.interface.StoreUnavailableError` and must re-read, exactly as
  a Kubernetes API server does when etcd times out.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc  # type: ignore[import-untyped]
from aetcd import rpc
from grpc import aio

from kubesmith.storage.interface import StoreUnavailableError

#: Channel options: large responses (lists), keepalive so a dead peer is noticed by idle
#: watches, and short reconnect backoff so a restarted member is used again quickly.
CHANNEL_OPTIONS: tuple[tuple[str, int], ...] = (
    ("grpc.max_receive_message_length", 2**31 - 1),
    ("grpc.max_send_message_length", 2**31 - 1),
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 2_000),
)

#: UNAVAILABLE details with which etcd rejects a request before proposing it.
_NOT_APPLIED = ("etcdserver: no leader", "etcdserver: not capable")
#: Metadata asking a member to fail requests when it has no leader instead of hanging
#: (clientv3's ``WithRequireLeader``); a partitioned member then pushes us to another one.
REQUIRE_LEADER = (("hasleader", "true"),)


@dataclass(frozen=True, slots=True)
class EtcdTLS:
    """Client TLS material: CA bundle to verify members, optional client cert and key."""

    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None

    def credentials(self) -> Any:
        """gRPC channel credentials (reads the files)."""
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("etcd TLS: a client certificate needs its key and vice versa")
        ca = Path(self.ca_file).read_bytes() if self.ca_file else None
        cert = Path(self.cert_file).read_bytes() if self.cert_file else None
        key = Path(self.key_file).read_bytes() if self.key_file else None
        return grpc.ssl_channel_credentials(
            root_certificates=ca, private_key=key, certificate_chain=cert
        )


class Endpoint:
    """One member's address and its lazily created channel and stubs."""

    def __init__(self, address: str, credentials: Any) -> None:
        self.address = address
        self._credentials = credentials
        self._channel: Any = None
        self.kv: Any = None
        self.watch: Any = None

    @property
    def channel(self) -> Any:
        """The channel, created on first use (must be on the store's event loop)."""
        if self._channel is None:
            if self._credentials is None:
                self._channel = aio.insecure_channel(self.address, options=CHANNEL_OPTIONS)
            else:
                self._channel = aio.secure_channel(
                    self.address, self._credentials, options=CHANNEL_OPTIONS
                )
            self.kv = rpc.KVStub(self._channel)
            self.watch = rpc.WatchStub(self._channel)
        return self._channel

    def is_ready(self) -> bool:
        """True if the channel is connected right now (also kicks off a connection)."""
        state = self.channel.get_state(try_to_connect=True)
        return bool(state == grpc.ChannelConnectivity.READY)

    async def wait_ready(self, budget: float) -> bool:
        """Wait up to ``budget`` seconds for READY; False early if connecting failed."""
        channel = self.channel
        loop = asyncio.get_running_loop()
        end = loop.time() + budget
        state = channel.get_state(try_to_connect=True)
        while state != grpc.ChannelConnectivity.READY:
            if state in (
                grpc.ChannelConnectivity.TRANSIENT_FAILURE,
                grpc.ChannelConnectivity.SHUTDOWN,
            ):
                return False
            remaining = end - loop.time()
            if remaining <= 0:
                return False
            try:
                await asyncio.wait_for(channel.wait_for_state_change(state), remaining)
            except TimeoutError:
                return False
            state = channel.get_state(try_to_connect=True)
        return True

    async def close(self) -> None:
        """Close the channel (cancels its calls)."""
        if self._channel is not None:
            channel, self._channel = self._channel, None
            await channel.close()


class EtcdConnections:
    """The cluster's endpoints with failover; every RPC of the store goes through here."""

    def __init__(
        self,
        addresses: Sequence[str],
        *,
        tls: EtcdTLS | None = None,
        dial_timeout: float = 2.0,
        request_timeout: float = 10.0,
    ) -> None:
        if not addresses:
            raise ValueError("etcd: at least one endpoint is required")
        credentials = tls.credentials() if tls is not None else None
        self.endpoints = [Endpoint(address, credentials) for address in addresses]
        self.dial_timeout = dial_timeout
        self.request_timeout = request_timeout
        self._current = 0

    @property
    def current(self) -> Endpoint:
        """The endpoint calls currently go to."""
        return self.endpoints[self._current]

    def demote(self, endpoint: Endpoint) -> None:
        """Move on from ``endpoint`` after it failed (no-op if we already moved on)."""
        if self.endpoints[self._current] is endpoint:
            self._current = (self._current + 1) % len(self.endpoints)

    async def pick(self, deadline: float) -> Endpoint:
        """A connected endpoint, trying each in turn until ``deadline`` (loop time)."""
        current = self.endpoints[self._current]
        if current.is_ready():
            return current
        loop = asyncio.get_running_loop()
        delay = 0.05
        while True:
            for step in range(len(self.endpoints)):
                index = (self._current + step) % len(self.endpoints)
                endpoint = self.endpoints[index]
                budget = min(self.dial_timeout, deadline - loop.time())
                if budget > 0 and await endpoint.wait_ready(budget):
                    self._current = index
                    return endpoint
            remaining = deadline - loop.time()
            if remaining <= 0:
                addresses = ", ".join(e.address for e in self.endpoints)
                raise StoreUnavailableError(f"etcd: no endpoint reachable ({addresses})")
            # Every member refused: back off a little, they may be restarting.
            await asyncio.sleep(min(delay, remaining))
            delay = min(delay * 2, 0.5)

    async def unary(self, method: str, request: Any, *, mutating: bool) -> Any:
        """Call the KV service's ``method`` with failover, per the module rules."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.request_timeout
        while True:
            endpoint = await self.pick(deadline)
            try:
                return await getattr(endpoint.kv, method)(
                    request, timeout=max(deadline - loop.time(), 0.001), metadata=REQUIRE_LEADER
                )
            except aio.AioRpcError as exc:
                if exc.code() != grpc.StatusCode.UNAVAILABLE:
                    raise
                if mutating and not any(r in (exc.details() or "") for r in _NOT_APPLIED):
                    raise StoreUnavailableError(
                        f"etcd {endpoint.address}: {exc.details()} (the write may or may "
                        "not have been applied)"
                    ) from exc
                self.demote(endpoint)
                if loop.time() >= deadline:
                    raise StoreUnavailableError(
                        f"etcd {endpoint.address}: {exc.details()}"
                    ) from exc
                await asyncio.sleep(0.02)

    async def close(self) -> None:
        """Close every channel."""
        for endpoint in self.endpoints:
            with contextlib.suppress(Exception):
                await endpoint.close()
