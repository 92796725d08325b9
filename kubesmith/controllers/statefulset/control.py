"""One StatefulSet sync: revisions, pods in ordinal order, rolling update, status, history
(upstream ``defaultStatefulSetControl``).

The pods are split into *replicas* (ordinals ``start .. start+replicas-1``, missing ones
planned from the right revision) and *condemned* (ordinals outside, highest first).

* OrderedReady (monotonic): replicas are handled lowest ordinal first and the sync stops at
  the first one that had to be created, is terminating, or is not Running, Ready and
  available; condemned pods go one at a time, highest first, only once every replica is
  healthy.
* Parallel: everything is done at once (slow-start batches), nothing waits.

Then, for RollingUpdate, pods not at the update revision are deleted from the highest
ordinal down to the partition, at most ``maxUnavailable`` unavailable at a time; the next
sync recreates them from the update revision. OnDelete leaves that to the user.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kubesmith.api.types import Obj
from kubesmith.client import ApiError, Client
from kubesmith.client.rest import CONTROLLERREVISIONS, STATEFULSETS
from kubesmith.controllers.history import (
    CONTROLLER_HASH_LABEL,
    apply_revision,
    bump_revision,
    data_hash,
    delete_revision,
    excess_revisions,
    new_revision,
    next_revision_number,
    revision_name,
    sorted_revisions,
    template_patch,
)
from kubesmith.controllers.statefulset.identity import (
    identity_matches,
    in_ordinal_range,
    is_available,
    is_created,
    is_running_and_ready,
    is_unavailable,
    new_pod,
    ordinal_of,
    pod_revision,
    replicas_of,
    start_ordinal,
    storage_matches,
)
from kubesmith.controllers.statefulset.pods import StatefulPodControl
from kubesmith.controllers.util import is_terminating, labels_of, meta, pod_phase, scaled_value

#: Most requests in flight at once when Parallel pods are created or deleted.
MAX_BATCH = 500
_MAX_COLLISIONS = 100
STATUS_FIELDS = ("replicas", "readyReplicas", "availableReplicas", "currentReplicas",
                 "updatedReplicas")


def _spec(sts: Obj) -> dict[str, Any]:
    found: dict[str, Any] = sts.get("spec") or {}
    return found


def _min_ready(sts: Obj) -> int:
    return int(_spec(sts).get("minReadySeconds") or 0)


def _strategy(sts: Obj) -> dict[str, Any]:
    found: dict[str, Any] = _spec(sts).get("updateStrategy") or {}
    return found


@dataclass(slots=True)
class _Pass:
    """The state of one sync's pass over the pods."""

    sts: Obj
    update_set: Obj
    current: Obj
    update: Obj
    now: datetime
    monotonic: bool
    replicas: list[Obj] = field(default_factory=list)
    condemned: list[Obj] = field(default_factory=list)
    status: dict[str, Any] = field(default_factory=dict)

    def recount(self) -> None:
        """Recompute the replica counters from the pods (planned ones do not count)."""
        counts = dict.fromkeys(STATUS_FIELDS, 0)
        min_ready = _min_ready(self.sts)
        for pod in [*self.replicas, *self.condemned]:
            if is_created(pod):
                counts["replicas"] += 1
            if is_running_and_ready(pod):
                counts["readyReplicas"] += 1
                if is_available(pod, min_ready, self.now):
                    counts["availableReplicas"] += 1
            if is_created(pod) and not is_terminating(pod):
                revision = pod_revision(pod)
                if revision == meta(self.current)["name"]:
                    counts["currentReplicas"] += 1
                if revision == meta(self.update)["name"]:
                    counts["updatedReplicas"] += 1
        self.status.update(counts)


class StatefulSetControl:
    """Drives one StatefulSet towards its spec (see the module docstring)."""

    def __init__(self, client: Client, pods: StatefulPodControl) -> None:
        self.client = client
        self.pods = pods

    async def sync(self, sts: Obj, owner_ref: dict[str, Any], pods: Sequence[Obj],
                   revisions: Sequence[Obj], now: datetime) -> dict[str, Any]:
        """Run one sync; return the status written (raise after writing it when a step
        failed)."""
        ordered = sorted_revisions(revisions)
        current, update, collisions = await self._revisions(sts, owner_ref, ordered)
        state = _Pass(sts, apply_revision(sts, update), current, update, now,
                      _spec(sts).get("podManagementPolicy") != "Parallel")
        state.status = {"observedGeneration": meta(sts).get("generation"),
                        "currentRevision": meta(current)["name"],
                        "updateRevision": meta(update)["name"],
                        "collisionCount": collisions}
        error: Exception | None = None
        try:
            await self._update_pods(state, apply_revision(sts, current), list(pods))
        except Exception as exc:
            state.recount()
            error = exc
        await self._store_status(sts, state.status)
        await self._trim_history(sts, pods, ordered, current, update)
        if error is not None:
            raise error
        return state.status

    # ---- revisions ---------------------------------------------------------------------

    async def _revisions(self, sts: Obj, owner_ref: dict[str, Any], revisions: list[Obj]
                         ) -> tuple[Obj, Obj, int]:
        """The current and update revisions (creating or renumbering the update one) and
        the collision count used."""
        collisions = int((sts.get("status") or {}).get("collisionCount") or 0)
        data = template_patch(sts)
        number = next_revision_number(revisions)
        equal = [r for r in revisions if r.get("data") == data]
        if equal and equal[-1] is revisions[-1]:
            update = revisions[-1]
        elif equal:
            # Back to an older template: that revision becomes the newest.
            update = await bump_revision(self.client, equal[-1], number)
        else:
            update, collisions = await self._create_revision(sts, owner_ref, data, number,
                                                             collisions)
        wanted = (sts.get("status") or {}).get("currentRevision")
        current = next((r for r in revisions if meta(r).get("name") == wanted), update)
        return current, update, collisions

    async def _create_revision(self, sts: Obj, owner_ref: dict[str, Any], data: Obj,
                               number: int, collisions: int) -> tuple[Obj, int]:
        template_labels = labels_of(_spec(sts).get("template") or {})
        for _ in range(_MAX_COLLISIONS):
            hash_ = data_hash(data, collisions)
            name = revision_name(meta(sts)["name"], hash_)
            body = new_revision(sts, owner_ref, data, number, name=name,
                                labels={**template_labels, CONTROLLER_HASH_LABEL: hash_})
            try:
                created: Obj = await self.client.create(CONTROLLERREVISIONS, body)
                return created, collisions
            except ApiError as exc:
                if exc.code != 409:
                    raise
            existing = await self.client.get(CONTROLLERREVISIONS, name,
                                              meta(sts)["namespace"])
            if existing.get("data") == data:
                return existing, collisions
            collisions += 1
        raise RuntimeError(f"too many ControllerRevision name collisions for "
                           f"{meta(sts)['name']}")

    async def _trim_history(self, sts: Obj, pods: Sequence[Obj], revisions: list[Obj],
                            current: Obj, update: Obj) -> None:
        live = {meta(current)["name"], meta(update)["name"], *map(pod_revision, pods)}
        limit = _spec(sts).get("revisionHistoryLimit")
        for revision in excess_revisions(revisions,
                                         int(limit) if isinstance(limit, int) else 10,
                                         lambda r: meta(r).get("name") in live,
                                         live_counts=False):
            await delete_revision(self.client, revision)

    # ---- pods --------------------------------------------------------------------------

    def _planned_pod(self, state: _Pass, current_set: Obj, ordinal: int) -> Obj:
        """A missing replica, from the current revision below the partition (or below the
        pods already current, without a partition) and from the update revision
        otherwise."""
        strategy = _strategy(current_set)
        rolling = strategy.get("rollingUpdate")
        start = start_ordinal(current_set)
        current_replicas = int((current_set.get("status") or {}).get("currentReplicas") or 0)
        keep_current = (
            (strategy.get("type", "RollingUpdate") == "RollingUpdate" and rolling is None
             and ordinal < start + current_replicas)
            or (rolling is not None
                and ordinal < start + int(rolling.get("partition") or 0)))
        return new_pod(state.sts, state.current if keep_current else state.update, ordinal)

    async def _update_pods(self, state: _Pass, current_set: Obj, pods: list[Obj]) -> None:
        sts = state.sts
        count, start = replicas_of(sts), start_ordinal(sts)
        slots: list[Obj | None] = [None] * count
        for pod in pods:
            if in_ordinal_range(pod, sts):
                slots[ordinal_of(pod) - start] = pod
            elif ordinal_of(pod) >= 0:
                state.condemned.append(pod)
        state.replicas = [pod if pod is not None else
                          self._planned_pod(state, current_set, start + i)
                          for i, pod in enumerate(slots)]
        state.condemned.sort(key=ordinal_of, reverse=True)
        state.recount()
        if is_terminating(sts):
            return
        min_ready = _min_ready(sts)
        first_unavailable = next(
            (p for p in [*state.replicas, *reversed(state.condemned)]
             if is_unavailable(p, min_ready, state.now)), None)

        async def replica(i: int) -> bool:
            return await self._process_replica(state, state.replicas[i])

        async def fix_claims(i: int) -> bool:
            pod = state.condemned[i]
            if not self.pods.claims_follow_policy(state.update_set, pod):
                await self.pods.apply_claim_policy(state.update_set, pod)
            return False

        async def condemned(i: int) -> bool:
            return await self._process_condemned(state, state.condemned[i], first_unavailable)

        for items, step in ((state.replicas, replica), (state.condemned, fix_claims),
                            (state.condemned, condemned)):
            if await _run_for_all(len(items), step, state.monotonic):
                state.recount()
                return
        state.recount()
        if _strategy(sts).get("type") == "OnDelete":
            return
        await self._rolling_update(state)

    async def _process_replica(self, state: _Pass, pod: Obj) -> bool:
        """Create, replace or repair one replica; True when the sync must stop here."""
        sts, monotonic = state.sts, state.monotonic
        if pod_phase(pod) in ("Failed", "Succeeded"):
            # Finished pods are recreated, whatever their exit status.
            if not is_terminating(pod):
                await self.pods.delete(sts, pod)
            return True
        if not is_created(pod):
            if self.pods.claim_is_stale(sts, pod):
                return True
            await self.pods.create(sts, pod)
            # OrderedReady waits for this pod to become Running and Ready; Parallel goes on.
            return monotonic
        if pod_phase(pod) == "Pending":
            await self.pods.create_claims(sts, pod)
            await self.pods.apply_claim_policy(sts, pod)
        if monotonic and (is_terminating(pod) or not is_running_and_ready(pod) or
                          not is_available(pod, _min_ready(sts), state.now)):
            return True
        if identity_matches(sts, pod) and storage_matches(sts, pod) and \
                self.pods.claims_follow_policy(state.update_set, pod):
            return False
        await self.pods.repair(state.update_set, pod)
        return False

    async def _process_condemned(self, state: _Pass, pod: Obj, first_unavailable: Obj | None
                                 ) -> bool:
        """Delete one pod scaled away; in OrderedReady mode only when it is healthy or the
        first unhealthy pod (so a broken set can still scale down)."""
        if is_terminating(pod):
            return state.monotonic
        if state.monotonic and pod is not first_unavailable and (
                not is_running_and_ready(pod) or
                not is_available(pod, _min_ready(state.sts), state.now)):
            return True
        await self.pods.delete(state.sts, pod)
        return True

    async def _rolling_update(self, state: _Pass) -> None:
        """Delete outdated pods from the highest ordinal down to the partition, keeping at
        most maxUnavailable replicas unavailable."""
        rolling = _strategy(state.sts).get("rollingUpdate") or {}
        partition = int(rolling.get("partition") or 0)
        max_unavailable = max(1, scaled_value(rolling.get("maxUnavailable"),
                                              replicas_of(state.sts), round_up=False,
                                              default=1))
        min_ready = _min_ready(state.sts)
        unavailable = sum(1 for p in state.replicas if is_unavailable(p, min_ready, state.now))
        budget = max_unavailable - unavailable
        update_name = meta(state.update)["name"]
        for target in range(len(state.replicas) - 1, partition - 1, -1):
            if budget <= 0:
                return
            pod = state.replicas[target]
            if is_created(pod) and pod_revision(pod) != update_name and \
                    not is_terminating(pod):
                await self.pods.delete(state.sts, pod)
                budget -= 1
                state.status["currentReplicas"] -= 1

    # ---- status ------------------------------------------------------------------------

    async def _store_status(self, sts: Obj, status: dict[str, Any]) -> None:
        """Write ``status`` unless the set already has it; a rolling update whose pods are
        all updated and ready completes here (current revision := update revision)."""
        replicas = replicas_of(sts)
        if _strategy(sts).get("type", "RollingUpdate") == "RollingUpdate" and \
                status["updatedReplicas"] == replicas == status["readyReplicas"] == \
                status["replicas"]:
            status["currentReplicas"] = status["updatedReplicas"]
            status["currentRevision"] = status["updateRevision"]
        old = sts.get("status") or {}
        keys = (*STATUS_FIELDS, "currentRevision", "updateRevision")
        if int(status.get("observedGeneration") or 0) <= int(old.get("observedGeneration")
                                                              or 0) and \
                all(old.get(k, 0 if k in STATUS_FIELDS else None) == status.get(k)
                    for k in keys):
            return
        body = copy.deepcopy(sts)
        for attempt in range(3):
            body["status"] = status
            try:
                await self.client.replace(STATEFULSETS, body, subresource="status")
                return
            except ApiError as exc:
                if exc.code != 409 or attempt == 2:
                    raise
            body = await self.client.get(STATEFULSETS, meta(sts)["name"],
                                         meta(sts)["namespace"])
            if meta(body).get("uid") != meta(sts).get("uid"):
                return


async def _run_for_all(count: int, step: Callable[[int], Awaitable[bool]],
                       monotonic: bool) -> bool:
    """Run ``step`` for indexes ``0..count-1``: in order, stopping at the first that asks
    to (monotonic), or concurrently in slow-start batches raising the first error."""
    if monotonic:
        for i in range(count):
            if await step(i):
                return True
        return False
    pos, batch = 0, min(1, count)
    while pos < count:
        results = await asyncio.gather(*(step(i) for i in range(pos, pos + batch)),
                                       return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        pos += batch
        batch = min(2 * batch, count - pos, MAX_BATCH)
    return False
