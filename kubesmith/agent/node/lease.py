"""The node's Lease in ``kube-node-lease``: the node's heartbeat.

One loop renews it every ``renew_interval`` (a quarter of ``leaseDurationSeconds``, 10 s
for the default 40 s, as the kubelet does) by a compare-and-swap PUT on the version it
holds. On a conflict it re-reads the Lease and tries again at once; when the Lease is gone
it creates it again; on other errors it backs off (0.2 s doubling to 7 s, upstream's lease
controller) without giving up — the node controller marks the node unknown only after
the whole lease duration without renewal. The Lease is owned by the Node (an
ownerReference) as soon as the Node's uid is known, so deleting the Node deletes its Lease.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import aiohttp

from kubesmith.agent.node.nodeobjects import NODE_LEASE_NAMESPACE, node_lease
from kubesmith.api.objectmeta import now_rfc3339_micro
from kubesmith.api.types import Obj
from kubesmith.client import ApiError, Client
from kubesmith.client.rest import LEASES

log = logging.getLogger(__name__)

DEFAULT_DURATION_SECONDS = 40
_FIRST_BACKOFF = 0.2
_MAX_BACKOFF = 7.0


class NodeLease:
    """Keeps node ``name``'s Lease renewed (see the module docstring)."""

    def __init__(self, client: Client, name: str, *,
                 duration_seconds: int = DEFAULT_DURATION_SECONDS,
                 renew_interval: float | None = None,
                 node_uid: Callable[[], str] = lambda: "") -> None:
        self.client = client
        self.name = name
        self.duration_seconds = duration_seconds
        self.renew_interval = renew_interval if renew_interval is not None \
            else duration_seconds / 4
        self.node_uid = node_uid
        #: The Lease as last written (None until the first renewal).
        self.lease: Obj | None = None
        #: Successful writes (creates and renewals), for tests and metrics.
        self.renewals = 0

    async def run(self) -> None:
        """Renew until cancelled."""
        backoff = _FIRST_BACKOFF
        while True:
            try:
                await self.renew()
            except (ApiError, OSError, aiohttp.ClientError, TimeoutError) as exc:
                log.warning("renewing node lease %s failed (retrying in %.1fs): %s",
                            self.name, backoff, exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF)
                continue
            backoff = _FIRST_BACKOFF
            await asyncio.sleep(self.renew_interval)

    async def renew(self) -> Obj:
        """Write the Lease once with ``renewTime`` now (creating it when missing)."""
        for _ in range(5):
            try:
                if self.lease is None:
                    self.lease = await self._get_or_create()
                else:
                    self.lease = await self.client.replace(
                        LEASES, self._renewed(self.lease), NODE_LEASE_NAMESPACE)
                self.renewals += 1
                return self.lease
            except ApiError as exc:
                if exc.code not in (404, 409):
                    raise
                # Someone else wrote it (or deleted it): start from the server's copy.
                self.lease = None
        raise ApiError(code=409, reason="Conflict",
                       message=f"lease {self.name}: too many conflicting writes")

    def _renewed(self, current: Obj | None) -> Obj:
        return node_lease(self.name, self.node_uid(), self.duration_seconds,
                          now_rfc3339_micro(), current)

    async def _get_or_create(self) -> Obj:
        try:
            current = await self.client.get(LEASES, self.name, NODE_LEASE_NAMESPACE)
        except ApiError as exc:
            if exc.code != 404:
                raise
            return await self.client.create(LEASES, self._renewed(None),
                                            NODE_LEASE_NAMESPACE)
        return await self.client.replace(LEASES, self._renewed(current), NODE_LEASE_NAMESPACE)
