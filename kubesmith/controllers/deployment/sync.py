"""One sync of one Deployment: the steps every strategy shares (upstream ``sync.go``) —
finding or creating the new ReplicaSet and keeping revisions in step, scaling ReplicaSets
(proportionally while a rollout is in progress), cleaning up old ReplicaSets, and writing
the status.

A :class:`DeploymentSync` works on a private copy of the Deployment and on the ReplicaSets
the controller claimed for it; every ReplicaSet it writes replaces the cached copy in its
list, so later steps of the same sync do not act on what it already changed.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from kubesmith.api.types import Obj
from kubesmith.client import ApiError, Client, Informer, object_key
from kubesmith.client.events import EventRecorder
from kubesmith.client.rest import DEPLOYMENTS, REPLICASETS
from kubesmith.controllers.deployment import conditions as c
from kubesmith.controllers.deployment import revisions
from kubesmith.controllers.deployment.progress import (
    progress_deadline,
    rollout_status,
    stuck_check_delay,
)
from kubesmith.controllers.deployment.replicas import (
    active,
    find_active_or_latest,
    is_rolling_update,
    is_saturated,
    max_surge,
    new_rs_new_replicas,
    proportional_sizes,
    spec_replicas,
    status_count,
)
from kubesmith.controllers.deployment.status import calculate_status, same_status
from kubesmith.controllers.deployment.templates import (
    equal_ignore_hash,
    find_new_replica_set,
    find_old_replica_sets,
    new_replica_set,
)
from kubesmith.controllers.util import (
    error_message,
    is_controlled_by,
    is_namespace_terminating,
    is_terminating,
    meta,
)

log = logging.getLogger(__name__)

SCALING_REPLICA_SET = "ScalingReplicaSet"


class DeploymentSync:
    """The API-facing steps of syncing the deployment ``d`` (see the module docstring)."""

    def __init__(self, client: Client, recorder: EventRecorder, replicasets: Informer,
                 d: Obj, rs_list: list[Obj], requeue_after: Callable[[float], None]) -> None:
        self.client = client
        self.recorder = recorder
        self.replicasets = replicasets
        self.d = d
        self.rs_list = rs_list
        self.requeue_after = requeue_after

    @staticmethod
    def now() -> datetime:
        """The time conditions are stamped with."""
        return datetime.now(UTC)

    @property
    def replicas(self) -> int:
        """The deployment's ``spec.replicas``."""
        return spec_replicas(self.d)

    def _remember(self, rs: Obj) -> Obj:
        rs.setdefault("kind", "ReplicaSet")
        rs.setdefault("apiVersion", "apps/v1")
        uid = meta(rs).get("uid")
        self.rs_list = [rs if meta(old).get("uid") == uid else old for old in self.rs_list]
        if all(meta(old).get("uid") != uid for old in self.rs_list):
            self.rs_list.append(rs)
        return rs

    def _progressing(self, status: str, reason: str, message: str) -> bool:
        """Set ``Progressing`` when the deployment tracks progress; returns whether it
        does (the status then needs writing)."""
        if progress_deadline(self.d) is None:
            return False
        c.set_condition(self.d.setdefault("status", {}),
                        c.new_condition(c.PROGRESSING, status, reason, message, self.now()))
        return True

    # -- writes ----------------------------------------------------------------------------

    async def update_status(self) -> None:
        """Write the deployment's status — and its revision annotation, which upstream's
        status subresource accepts but a server resetting metadata on status writes drops,
        so it is then written through the main resource."""
        written: Obj = await self.client.replace(DEPLOYMENTS, self.d, subresource="status")
        wanted = (meta(self.d).get("annotations") or {}).get(revisions.REVISION)
        if wanted is not None and \
                (meta(written).get("annotations") or {}).get(revisions.REVISION) != wanted:
            fixed = copy.deepcopy(written)
            revisions.annotations_of(fixed)[revisions.REVISION] = wanted
            written = await self.client.replace(DEPLOYMENTS, fixed)
        self.d["metadata"]["resourceVersion"] = meta(written).get("resourceVersion")

    async def _update_replica_set(self, rs: Obj) -> Obj:
        updated: Obj = await self.client.replace(REPLICASETS, rs)
        return self._remember(updated)

    async def scale_replica_set(self, rs: Obj, new_scale: int, operation: str
                                ) -> tuple[bool, Obj]:
        """Set ``rs``'s size (and the deployment's size annotations on it); records
        ``ScalingReplicaSet`` when the size changed. Returns (scaled, the ReplicaSet)."""
        desired, ceiling = self.replicas, self.replicas + max_surge(self.d)
        resize = spec_replicas(rs) != new_scale
        if not resize and not revisions.replicas_annotations_need_update(rs, desired, ceiling):
            return False, rs
        old_scale = spec_replicas(rs)
        body = copy.deepcopy(rs)
        body.setdefault("spec", {})["replicas"] = new_scale
        revisions.set_replicas_annotations(body, desired, ceiling)
        updated = await self._update_replica_set(body)
        if resize:
            self.recorder.event(self.d, "Normal", SCALING_REPLICA_SET,
                                f"Scaled {operation} replica set {meta(rs)['name']} "
                                f"from {old_scale} to {new_scale}")
        return resize, updated

    async def scale_replica_set_and_record(self, rs: Obj, new_scale: int) -> tuple[bool, Obj]:
        """Scale ``rs`` to ``new_scale`` if it is not that size already."""
        if spec_replicas(rs) == new_scale:
            return False, rs
        operation = "up" if spec_replicas(rs) < new_scale else "down"
        return await self.scale_replica_set(rs, new_scale, operation)

    # -- the new ReplicaSet and revisions --------------------------------------------------

    async def all_replica_sets(self, *, create: bool) -> tuple[Obj | None, list[Obj]]:
        """The new ReplicaSet (created when ``create`` and missing) and all old ones, with
        the new one's and the deployment's revisions brought up to date."""
        _, old = find_old_replica_sets(self.d, self.rs_list)
        new_rs = await self._new_replica_set(old, create)
        return new_rs, old

    async def _new_replica_set(self, old: list[Obj], create: bool) -> Obj | None:
        existing = find_new_replica_set(self.d, self.rs_list)
        new_revision = str(revisions.max_revision(old) + 1)
        if existing is not None:
            return await self._sync_existing(existing, new_revision)
        if not create:
            return None
        return await self._create_new(old, new_revision)

    async def _sync_existing(self, existing: Obj, new_revision: str) -> Obj:
        rs = copy.deepcopy(existing)
        changed = revisions.set_new_rs_annotations(self.d, rs, new_revision, exists=True,
                                                   max_surge=max_surge(self.d))
        min_ready = (self.d.get("spec") or {}).get("minReadySeconds", 0)
        if changed or (rs.get("spec") or {}).get("minReadySeconds", 0) != min_ready:
            rs.setdefault("spec", {})["minReadySeconds"] = min_ready
            return await self._update_replica_set(rs)
        needs_update = revisions.set_deployment_revision(
            self.d, (meta(rs).get("annotations") or {}).get(revisions.REVISION, ""))
        if c.get_condition(self.d.get("status"), c.PROGRESSING) is None:
            # Progress was not tracked before: count from now.
            needs_update = self._progressing(
                "True", c.FOUND_NEW_REPLICASET,
                f'Found new replica set "{meta(rs)["name"]}"') or needs_update
        if needs_update:
            await self.update_status()
        return rs

    async def _create_new(self, old: list[Obj], new_revision: str) -> Obj:
        rs = new_replica_set(self.d, 0)
        count = new_rs_new_replicas(self.d, [*old, rs], rs)
        rs["spec"]["replicas"] = count
        revisions.set_new_rs_annotations(self.d, rs, new_revision, exists=False,
                                         max_surge=max_surge(self.d))
        name = meta(rs)["name"]
        already_exists = False
        try:
            created = self._remember(await self.client.create(REPLICASETS, rs))
        except ApiError as exc:
            if exc.code == 409 and exc.reason == "AlreadyExists":
                created = await self._existing_or_collision(rs)
                already_exists = True
            elif is_namespace_terminating(exc):
                raise
            else:
                message = f'Failed to create new replica set "{name}": {error_message(exc)}'
                if self._progressing("False", c.FAILED_RS_CREATE, message):
                    try:
                        await self.update_status()
                    except ApiError:
                        log.debug("status of %s not written", object_key(self.d))
                self.recorder.event(self.d, "Warning", c.FAILED_RS_CREATE, message)
                raise
        if not already_exists and count > 0:
            self.recorder.event(self.d, "Normal", SCALING_REPLICA_SET,
                                f"Scaled up replica set {name} from 0 to {count}")
        needs_update = revisions.set_deployment_revision(self.d, new_revision)
        if not already_exists:
            needs_update = self._progressing("True", c.NEW_REPLICASET_CREATED,
                                             f'Created new replica set "{name}"') or \
                needs_update
        if needs_update:
            await self.update_status()
        return created

    async def _existing_or_collision(self, rs: Obj) -> Obj:
        """The ReplicaSet already named like the new one: ours if it runs this template,
        else a hash collision — bump ``collisionCount`` (a new name) and retry."""
        m = meta(rs)
        found = self.replicasets.get(f"{m['namespace']}/{m['name']}")
        if found is None:
            found = await self.client.get(REPLICASETS, m["name"], m["namespace"])
        template = (self.d.get("spec") or {}).get("template") or {}
        if is_controlled_by(found, self.d) and \
                equal_ignore_hash(template, (found.get("spec") or {}).get("template") or {}):
            return self._remember(copy.deepcopy(found))
        status = self.d.setdefault("status", {})
        status["collisionCount"] = int(status.get("collisionCount") or 0) + 1
        await self.update_status()
        raise RuntimeError(f"replica set {m['name']} already exists with another template; "
                           f"collisionCount raised to {status['collisionCount']}")

    # -- scaling ---------------------------------------------------------------------------

    async def scale(self, new_rs: Obj | None, old: list[Obj]) -> None:
        """Bring the ReplicaSets to the deployment's size: the one active (or newest)
        ReplicaSet directly, old ones to zero once the new one is saturated, otherwise
        proportionally (rolling updates)."""
        only = find_active_or_latest(new_rs, old)
        if only is not None:
            if spec_replicas(only) != self.replicas:
                await self.scale_replica_set_and_record(only, self.replicas)
            return
        if is_saturated(self.d, new_rs):
            for rs in active(old):
                await self.scale_replica_set_and_record(rs, 0)
            return
        if is_rolling_update(self.d):
            plan, operation = proportional_sizes(self.d, active([*old, new_rs]))
            for rs, size in plan:
                await self.scale_replica_set(rs, size, operation)

    async def cleanup(self, old: list[Obj]) -> None:
        """Delete the oldest unused ReplicaSets beyond ``revisionHistoryLimit``."""
        limit = (self.d.get("spec") or {}).get("revisionHistoryLimit")
        if not isinstance(limit, int):
            return
        alive = [rs for rs in old if not is_terminating(rs)]
        excess = len(alive) - limit
        if excess <= 0:
            return
        for rs in revisions.oldest_revision_first(alive)[:excess]:
            m = meta(rs)
            if status_count(rs, "replicas") != 0 or spec_replicas(rs) != 0 or \
                    int(m.get("generation") or 0) > status_count(rs, "observedGeneration"):
                continue
            try:
                await self.client.delete(REPLICASETS, m["name"], m["namespace"])
            except ApiError as exc:
                if exc.code != 404:
                    raise

    # -- status ----------------------------------------------------------------------------

    async def sync_status(self, all_rss: list[Obj | None], new_rs: Obj | None) -> None:
        """Write the status counts if they changed."""
        status = calculate_status(all_rss, new_rs, self.d, self.now())
        if same_status(self.d.get("status"), status):
            return
        self.d["status"] = status
        await self.update_status()

    async def sync_rollout_status(self, all_rss: list[Obj | None], new_rs: Obj | None
                                  ) -> None:
        """Write the status with the progress conditions; when nothing changed, look again
        when the progress deadline would pass."""
        now = self.now()
        status = rollout_status(self.d, all_rss, new_rs, now)
        if same_status(self.d.get("status"), status):
            delay = stuck_check_delay(self.d, status, now)
            if delay is not None:
                self.requeue_after(delay)
            return
        self.d["status"] = status
        await self.update_status()

    async def check_paused_conditions(self) -> None:
        """Mark a paused (or resumed) deployment in ``Progressing``, so time spent paused
        never counts against the progress deadline."""
        if progress_deadline(self.d) is None:
            return
        status = self.d.setdefault("status", {})
        current = c.get_condition(status, c.PROGRESSING)
        if current is not None and current.get("reason") == c.TIMED_OUT:
            return
        paused_noted = current is not None and current.get("reason") == c.PAUSED
        paused = bool((self.d.get("spec") or {}).get("paused"))
        if paused and not paused_noted:
            c.set_condition(status, c.new_condition(
                c.PROGRESSING, "Unknown", c.PAUSED, "Deployment is paused", self.now()))
        elif not paused and paused_noted:
            c.set_condition(status, c.new_condition(
                c.PROGRESSING, "Unknown", c.RESUMED, "Deployment is resumed", self.now()))
        else:
            return
        await self.update_status()

    # -- whole syncs -----------------------------------------------------------------------

    async def sync(self) -> None:
        """A scaling event or a paused deployment: scale, no rollout."""
        new_rs, old = await self.all_replica_sets(create=False)
        await self.scale(new_rs, old)
        if (self.d.get("spec") or {}).get("paused") and \
                revisions.ROLLBACK_TO not in (meta(self.d).get("annotations") or {}):
            await self.cleanup(old)
        await self.sync_status([*old, new_rs], new_rs)

    async def sync_status_only(self) -> None:
        """A deployment being deleted: only the status."""
        new_rs, old = await self.all_replica_sets(create=False)
        await self.sync_status([*old, new_rs], new_rs)

    async def is_scaling_event(self) -> bool:
        """Whether ``spec.replicas`` changed since the ReplicaSets were last sized."""
        new_rs, old = await self.all_replica_sets(create=False)
        for rs in active([*old, new_rs]):
            desired = revisions.desired_replicas(rs)
            if desired is not None and desired != self.replicas:
                return True
        return False
