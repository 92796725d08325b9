"""Leader election over a ``coordination.k8s.io/v1`` Lease, with client-go's semantics, so
several replicas of a controller manager or scheduler can run and only one acts.

* A candidate acquires the Lease when it has no holder or its holder has not renewed within
  ``leaseDurationSeconds`` — measured on *our* clock from when we last saw the Lease change
  (client-go does the same), so clock skew between machines cannot make two leaders.
* Every write is a compare-and-swap on the Lease's resourceVersion: two candidates racing
  for an expired Lease cannot both win.
* The leader renews every ``retry_period``; if it cannot renew for ``renew_deadline`` it
  stops leading (its work is cancelled) before another candidate may take over, because
  ``renew_deadline < lease_duration``.
* On a clean shutdown the leader releases the Lease (holder cleared, duration 1 s) so a
  standby takes over at once instead of after the lease duration.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

from kubesmith.api.types import Obj
from kubesmith.client.rest import LEASES, ApiError, Client

log = logging.getLogger(__name__)


def _micro_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    """Campaign for the Lease ``namespace/name`` as ``identity``; see :meth:`run`."""

    def __init__(self, client: Client, *, name: str, identity: str,
                 namespace: str = "kube-system", lease_duration: float = 15.0,
                 renew_deadline: float = 10.0, retry_period: float = 2.0) -> None:
        if not retry_period < renew_deadline < lease_duration:
            raise ValueError("need retry_period < renew_deadline < lease_duration")
        self.client = client
        self.name = name
        self.identity = identity
        self.namespace = namespace
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self._observed: Obj | None = None
        self._observed_at = 0.0
        self.is_leader = False

    async def run(self, lead: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Wait until elected, then run ``lead()`` while renewing. Returns when ``lead``
        returns; if leadership is lost, ``lead`` is cancelled and :class:`LeadershipLost`
        is raised (a component then exits, as upstream's do, to start clean)."""
        await self._acquire()
        work = asyncio.create_task(lead(), name=f"leader-{self.name}")
        renew = asyncio.create_task(self._renew_loop(), name=f"renew-{self.name}")
        try:
            done, _ = await asyncio.wait({work, renew}, return_when=asyncio.FIRST_COMPLETED)
            if renew in done:
                work.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await work
                renew.result()
                raise LeadershipLost(f"lost the {self.namespace}/{self.name} lease")
            work.result()
        finally:
            for task in (work, renew):
                task.cancel()
            for task in (work, renew):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            if self.is_leader:
                with contextlib.suppress(Exception):
                    await asyncio.shield(self._release())
            self.is_leader = False

    # -- internals -----------------------------------------------------------------------

    async def _acquire(self) -> None:
        announced = False
        while True:
            if await self._try_acquire_or_renew():
                log.info("%s: became leader of %s/%s", self.identity, self.namespace,
                         self.name)
                self.is_leader = True
                return
            if not announced:
                holder = ((self._observed or {}).get("spec") or {}).get("holderIdentity")
                log.info("%s: waiting for the %s/%s lease (held by %s)", self.identity,
                         self.namespace, self.name, holder)
                announced = True
            await asyncio.sleep(self.retry_period)

    async def _renew_loop(self) -> None:
        last_renew = time.monotonic()
        while True:
            await asyncio.sleep(self.retry_period)
            try:
                ok = await asyncio.wait_for(self._try_acquire_or_renew(),
                                            self.renew_deadline)
            except (TimeoutError, ApiError, OSError) as exc:
                log.warning("%s: renewing %s failed: %r", self.identity, self.name, exc)
                ok = False
            except Exception as exc:
                log.warning("%s: renewing %s failed: %r", self.identity, self.name, exc)
                ok = False
            now = time.monotonic()
            if ok:
                last_renew = now
            elif now - last_renew >= self.renew_deadline:
                self.is_leader = False
                return

    def _spec(self, old: dict[str, Any] | None) -> dict[str, Any]:
        now = _micro_now()
        spec = dict(old or {})
        if spec.get("holderIdentity") != self.identity:
            spec["acquireTime"] = now
            # Every change of holder on an existing Lease counts, also after a release
            # left it without one (client-go does the same).
            spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + \
                (1 if old is not None else 0)
        spec["holderIdentity"] = self.identity
        spec["leaseDurationSeconds"] = int(self.lease_duration)
        spec["renewTime"] = now
        return spec

    async def _try_acquire_or_renew(self) -> bool:
        try:
            current = await self.client.get(LEASES, self.name, self.namespace)
        except ApiError as exc:
            if exc.code != 404:
                raise
            body: Obj = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                         "metadata": {"name": self.name, "namespace": self.namespace},
                         "spec": self._spec(None)}
            try:
                self._see(await self.client.create(LEASES, body, self.namespace))
            except ApiError as create_exc:
                if create_exc.code == 409:
                    return False
                raise
            return True
        if self._observed is None or \
                current["metadata"].get("resourceVersion") != \
                self._observed["metadata"].get("resourceVersion"):
            self._see(current)
        spec = current.get("spec") or {}
        holder = spec.get("holderIdentity")
        duration = float(spec.get("leaseDurationSeconds") or self.lease_duration)
        if holder and holder != self.identity and \
                time.monotonic() < self._observed_at + duration:
            return False
        updated = copy.deepcopy(current)
        updated["spec"] = self._spec(spec)
        try:
            self._see(await self.client.replace(LEASES, updated, self.namespace))
        except ApiError as exc:
            if exc.code == 409:
                return False
            raise
        return True

    def _see(self, lease: Obj) -> None:
        self._observed = lease
        self._observed_at = time.monotonic()

    async def _release(self) -> None:
        lease = self._observed
        if lease is None or (lease.get("spec") or {}).get("holderIdentity") != self.identity:
            return
        updated = copy.deepcopy(lease)
        updated["spec"] = {"leaseDurationSeconds": 1, "leaseTransitions":
                           (lease.get("spec") or {}).get("leaseTransitions", 0),
                           "renewTime": _micro_now(), "acquireTime": _micro_now()}
        with contextlib.suppress(ApiError):
            await self.client.replace(LEASES, updated, self.namespace)


class LeadershipLost(RuntimeError):
    """The Lease could not be renewed within the renew deadline."""
