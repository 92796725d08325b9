"""The etcd v3 datastore (the HA backend).

Every Store operation maps onto one etcd RPC, so etcd provides the semantics and we only
translate (connection handling, TLS and failover live in :mod:`kubesmith.storage.etcd_client`):

* ``create``  = Txn(if create_revision(key) == 0 then Put else nothing)
* ``update``  = Txn(if create_revision(key) > 0 and mod_revision(key) == expected
  then Put(prev_kv) else Range(key)) -- the else branch returns the current value for
  :class:`RevisionMismatchError` without a second round trip;
* ``delete``  = Txn(if exists [and mod_revision == expected] then DeleteRange(prev_kv)
  else Range(key));
* ``get``/``list`` = linearizable Range at a revision, ``range_end`` = prefix + 1,
  ``limit``, and etcd's ``count``/``more``;
* ``watch`` = one Watch stream per call with ``start_revision`` and ``prev_kv``; if the
  stream breaks (member down, member lost its leader) it is re-created on another endpoint
  from the revision after the last delivered event, so the consumer sees neither a gap nor a
  duplicate; a compacted start raises :class:`CompactedError`;
* ``compact`` = Compaction(physical) so reads below the revision fail as soon as it returns.

Revisions are etcd's own: an empty cluster is at revision 1 and the first write gets 2.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

import grpc  # type: ignore[import-untyped]
from aetcd import rpc
from grpc import aio

from kubesmith.storage.etcd_client import REQUIRE_LEADER, EtcdConnections, EtcdTLS
from kubesmith.storage.interface import (
    CompactedError,
    EventType,
    FutureRevisionError,
    KeyExistsError,
    KeyNotFoundError,
    KeyValue,
    ListResult,
    RevisionMismatchError,
    StoreError,
    StoreUnavailableError,
    WatchEvent,
)
from kubesmith.storage.keys import prefix_end_bytes

_COMPACTED = "required revision has been compacted"
_FUTURE = "required revision is a future revision"
#: Watch stream failures that mean "this member cannot serve us now" (member gone, no leader,
#: stream reset by a dying member): re-create the watch on another endpoint.
_RECONNECT_CODES = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.INTERNAL)


class EtcdStore:
    """A :class:`~kubesmith.storage.interface.Store` over an etcd v3 cluster (3.4+)."""

    def __init__(self, connections: EtcdConnections) -> None:
        """Use :meth:`open`; this wraps an existing connection set."""
        self._conns = connections
        self._closed = False

    @classmethod
    async def open(
        cls,
        endpoints: Sequence[str],
        *,
        tls: EtcdTLS | None = None,
        dial_timeout: float = 2.0,
        request_timeout: float = 10.0,
    ) -> EtcdStore:
        """Connect to ``endpoints`` (``host:port``) and check the cluster answers.

        Raises :class:`StoreUnavailableError` if no endpoint answers within
        ``request_timeout``. Must be awaited on the loop that will use the store.
        """
        store = cls(
            EtcdConnections(
                endpoints, tls=tls, dial_timeout=dial_timeout, request_timeout=request_timeout
            )
        )
        try:
            await store.current_revision()
        except BaseException:
            await store.close()
            raise
        return store

    # -- writes ----------------------------------------------------------------------------

    async def create(self, key: str, value: bytes) -> KeyValue:
        """Create ``key``; KeyExistsError if it exists."""
        k = key.encode()
        resp = await self._txn(
            compare=[_cmp_create(k, rpc.Compare.EQUAL, 0)],
            success=[rpc.RequestOp(request_put=rpc.PutRequest(key=k, value=value))],
            failure=[],
        )
        if not resp.succeeded:
            raise KeyExistsError(key)
        revision = int(resp.header.revision)
        return KeyValue(key, value, revision, revision)

    async def update(self, key: str, value: bytes, *, expected_mod_revision: int) -> KeyValue:
        """Compare-and-swap ``key`` against ``expected_mod_revision``."""
        k = key.encode()
        resp = await self._txn(
            compare=[
                _cmp_create(k, rpc.Compare.GREATER, 0),
                _cmp_mod(k, expected_mod_revision),
            ],
            success=[rpc.RequestOp(request_put=rpc.PutRequest(key=k, value=value, prev_kv=True))],
            failure=[rpc.RequestOp(request_range=rpc.RangeRequest(key=k))],
        )
        if not resp.succeeded:
            self._raise_cas_failure(key, expected_mod_revision, resp)
        prev = resp.responses[0].response_put.prev_kv
        return KeyValue(key, value, int(prev.create_revision), int(resp.header.revision))

    async def delete(self, key: str, *, expected_mod_revision: int = 0) -> KeyValue:
        """Delete ``key`` (if at ``expected_mod_revision`` when non-zero)."""
        k = key.encode()
        compare = [_cmp_create(k, rpc.Compare.GREATER, 0)]
        if expected_mod_revision:
            compare.append(_cmp_mod(k, expected_mod_revision))
        resp = await self._txn(
            compare=compare,
            success=[
                rpc.RequestOp(request_delete_range=rpc.DeleteRangeRequest(key=k, prev_kv=True))
            ],
            failure=[rpc.RequestOp(request_range=rpc.RangeRequest(key=k))],
        )
        if not resp.succeeded:
            self._raise_cas_failure(key, expected_mod_revision, resp)
        prev = resp.responses[0].response_delete_range.prev_kvs[0]
        return KeyValue(key, prev.value, int(prev.create_revision), int(resp.header.revision))

    @staticmethod
    def _raise_cas_failure(key: str, expected: int, resp: Any) -> None:
        kvs = resp.responses[0].response_range.kvs
        if not kvs:
            raise KeyNotFoundError(key)
        raise RevisionMismatchError(key, expected, _kv(kvs[0]))

    async def _txn(self, *, compare: list[Any], success: list[Any], failure: list[Any]) -> Any:
        request = rpc.TxnRequest(compare=compare, success=success, failure=failure)
        return await self._call("Txn", request, mutating=True)

    # -- reads -----------------------------------------------------------------------------

    async def current_revision(self) -> int:
        """The cluster's revision, read linearizably (includes every acknowledged write)."""
        resp = await self._call("Range", rpc.RangeRequest(key=b"\0", count_only=True))
        return int(resp.header.revision)

    async def get(self, key: str, *, revision: int = 0) -> KeyValue | None:
        """The key's value at ``revision`` (0 = latest), or None if absent then."""
        request = rpc.RangeRequest(key=key.encode(), revision=revision)
        resp = await self._call("Range", request, revision=revision)
        return _kv(resp.kvs[0]) if resp.kvs else None

    async def list(
        self, prefix: str, *, revision: int = 0, limit: int = 0, start_key: str = ""
    ) -> ListResult:
        """Keys under ``prefix`` (from ``start_key``) at one revision, in key order."""
        p = prefix.encode()
        request = rpc.RangeRequest(
            key=max(p, start_key.encode()),
            range_end=prefix_end_bytes(p),
            limit=limit,
            revision=revision,
        )
        resp = await self._call("Range", request, revision=revision)
        return ListResult(
            kvs=[_kv(kv) for kv in resp.kvs],
            # etcd's header carries the store's current revision; the page is "at" the
            # revision asked for, which is what a continue token must pin.
            revision=revision or int(resp.header.revision),
            more=bool(resp.more),
            count=int(resp.count),
        )

    async def _call(
        self, method: str, request: Any, *, revision: int = 0, mutating: bool = False
    ) -> Any:
        if self._closed:
            raise StoreUnavailableError("the etcd store is closed")
        try:
            return await self._conns.unary(method, request, mutating=mutating)
        except aio.AioRpcError as exc:
            raise await self._translate(exc, revision) from exc

    async def _translate(self, exc: Any, revision: int) -> StoreError:
        details = exc.details() or ""
        if _COMPACTED in details:
            return CompactedError(revision, await self._compact_revision(revision))
        if _FUTURE in details:
            return FutureRevisionError(revision, await self.current_revision())
        if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            return StoreUnavailableError(f"etcd: {details}")
        return StoreError(f"etcd: {exc.code().name}: {details}")

    async def _compact_revision(self, fallback: int) -> int:
        """etcd's compact revision, which only a watch from revision 1 reveals.

        Only used to fill in :class:`CompactedError`; ``fallback + 1`` if it cannot be told.
        """
        with contextlib.suppress(Exception):
            endpoint = await self._conns.pick(asyncio.get_running_loop().time() + 2)
            call = endpoint.watch.Watch(metadata=REQUIRE_LEADER)
            try:
                create = rpc.WatchCreateRequest(key=b"\0", start_revision=1)
                await call.write(rpc.WatchRequest(create_request=create))
                async with asyncio.timeout(2):
                    while True:
                        resp = await call.read()
                        if resp is aio.EOF:
                            break
                        if resp.compact_revision:
                            return int(resp.compact_revision)
                        if resp.canceled or resp.events:
                            break
            finally:
                call.cancel()
        return fallback + 1

    # -- watch -----------------------------------------------------------------------------

    async def watch(self, prefix: str, *, start_revision: int) -> AsyncIterator[WatchEvent]:
        """Events under ``prefix`` from ``start_revision`` (inclusive; 0 = from now on).

        Survives member failures by re-creating the etcd watch on another endpoint from the
        next undelivered revision. Raises :class:`CompactedError` if that revision has been
        compacted (also after a reconnect) and :class:`StoreUnavailableError` if no member
        can serve the watch within the request timeout.
        """
        if self._closed:
            raise StoreUnavailableError("the etcd store is closed")
        key = prefix.encode()
        range_end = prefix_end_bytes(key)
        next_revision = start_revision
        loop = asyncio.get_running_loop()
        while True:
            endpoint = await self._conns.pick(loop.time() + self._conns.request_timeout)
            call = endpoint.watch.Watch(metadata=REQUIRE_LEADER)
            try:
                create = rpc.WatchCreateRequest(
                    key=key,
                    range_end=range_end,
                    start_revision=next_revision,
                    prev_kv=True,
                    progress_notify=True,
                )
                await call.write(rpc.WatchRequest(create_request=create))
                while True:
                    resp = await call.read()
                    if resp is aio.EOF:
                        break
                    if resp.compact_revision:
                        raise CompactedError(next_revision, int(resp.compact_revision))
                    if resp.canceled:
                        raise StoreUnavailableError(f"etcd watch cancelled: {resp.cancel_reason}")
                    if resp.created:
                        if next_revision == 0:
                            # Pin "now" so a reconnect resumes exactly after it.
                            next_revision = int(resp.header.revision) + 1
                        continue
                    if not resp.events:
                        # A progress notification: every event up to the header revision
                        # has been delivered, so a reconnect may start after it.
                        next_revision = max(next_revision, int(resp.header.revision) + 1)
                        continue
                    for event in resp.events:
                        converted = _event(event)
                        next_revision = converted.kv.mod_revision + 1
                        yield converted
            except aio.AioRpcError as exc:
                if self._closed or exc.code() == grpc.StatusCode.CANCELLED:
                    raise StoreUnavailableError("the etcd store is closed") from exc
                if exc.code() not in _RECONNECT_CODES:
                    raise await self._translate(exc, next_revision) from exc
            finally:
                call.cancel()
            # The stream ended or broke: try the next member after a short pause.
            self._conns.demote(endpoint)
            await asyncio.sleep(0.05)

    # -- compaction and shutdown -----------------------------------------------------------

    async def compact(self, revision: int) -> None:
        """Compact etcd's history before ``revision`` (no-op if already compacted there)."""
        request = rpc.CompactionRequest(revision=revision, physical=True)
        try:
            await self._call("Compact", request, revision=revision, mutating=True)
        except CompactedError:
            return

    async def close(self) -> None:
        """Close every channel; open watches end with StoreUnavailableError."""
        self._closed = True
        await self._conns.close()


def _cmp_create(key: bytes, result: int, revision: int) -> Any:
    return rpc.Compare(key=key, target=rpc.Compare.CREATE, result=result, create_revision=revision)


def _cmp_mod(key: bytes, revision: int) -> Any:
    return rpc.Compare(
        key=key, target=rpc.Compare.MOD, result=rpc.Compare.EQUAL, mod_revision=revision
    )


def _kv(kv: Any) -> KeyValue:
    return KeyValue(kv.key.decode(), bytes(kv.value), int(kv.create_revision), int(kv.mod_revision))


def _event(event: Any) -> WatchEvent:
    prev = _kv(event.prev_kv) if event.HasField("prev_kv") else None
    if event.type == rpc.Event.DELETE:
        kv = KeyValue(
            event.kv.key.decode(),
            prev.value if prev is not None else b"",
            prev.create_revision if prev is not None else 0,
            int(event.kv.mod_revision),
        )
        return WatchEvent(EventType.DELETE, kv, prev)
    return WatchEvent(EventType.PUT, _kv(event.kv), prev)
