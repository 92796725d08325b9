"""The RollingUpdate strategy (upstream ``rolling.go``): grow the new ReplicaSet as far as
``maxSurge`` allows, shrink old ones as far as ``maxUnavailable`` allows — unhealthy old
pods first, since removing them costs no availability — one step per sync; each step's
ReplicaSet writes trigger the next sync."""

from __future__ import annotations

from kubesmith.api.types import Obj
from kubesmith.controllers.deployment.progress import deployment_complete
from kubesmith.controllers.deployment.replicas import (
    active,
    max_unavailable,
    new_rs_new_replicas,
    oldest_first,
    spec_replicas,
    status_count,
    sum_status,
    total_replicas,
)
from kubesmith.controllers.deployment.sync import DeploymentSync


async def rollout_rolling(sync: DeploymentSync) -> None:
    """One step of a rolling update, then the status."""
    new_rs, old = await sync.all_replica_sets(create=True)
    assert new_rs is not None
    all_rss: list[Obj | None] = [*old, new_rs]
    if await reconcile_new_replica_set(sync, all_rss, new_rs) or \
            await reconcile_old_replica_sets(sync, all_rss, active(old), new_rs):
        await sync.sync_rollout_status(all_rss, new_rs)
        return
    if deployment_complete(sync.d, sync.d.get("status") or {}):
        await sync.cleanup(old)
    await sync.sync_rollout_status(all_rss, new_rs)


async def reconcile_new_replica_set(sync: DeploymentSync, all_rss: list[Obj | None],
                                    new_rs: Obj) -> bool:
    """Scale the new ReplicaSet up within the surge (or down to the deployment's size)."""
    if spec_replicas(new_rs) == sync.replicas:
        return False
    if spec_replicas(new_rs) > sync.replicas:
        scaled, _ = await sync.scale_replica_set_and_record(new_rs, sync.replicas)
        return scaled
    scaled, _ = await sync.scale_replica_set_and_record(
        new_rs, new_rs_new_replicas(sync.d, all_rss, new_rs))
    return scaled


async def reconcile_old_replica_sets(sync: DeploymentSync, all_rss: list[Obj | None],
                                     old: list[Obj], new_rs: Obj) -> bool:
    """Scale old ReplicaSets down as far as availability allows."""
    if total_replicas(old) == 0:
        return False
    min_available = sync.replicas - max_unavailable(sync.d)
    new_unavailable = spec_replicas(new_rs) - status_count(new_rs, "availableReplicas")
    # Unavailable new pods already use up the unavailability budget.
    max_scaled_down = total_replicas(all_rss) - min_available - new_unavailable
    if max_scaled_down <= 0:
        return False
    old, cleaned = await cleanup_unhealthy_replicas(sync, old, max_scaled_down)
    scaled = await scale_down_old_replica_sets(sync, [*old, new_rs], old)
    return cleaned + scaled > 0


async def cleanup_unhealthy_replicas(sync: DeploymentSync, old: list[Obj], limit: int
                                     ) -> tuple[list[Obj], int]:
    """Remove up to ``limit`` unavailable pods from old ReplicaSets, oldest first."""
    old = oldest_first(old)
    total = 0
    for i, rs in enumerate(old):
        if total >= limit:
            break
        unhealthy = spec_replicas(rs) - status_count(rs, "availableReplicas")
        if spec_replicas(rs) == 0 or unhealthy <= 0:
            continue
        count = min(limit - total, unhealthy)
        _, old[i] = await sync.scale_replica_set_and_record(rs, spec_replicas(rs) - count)
        total += count
    return old, total


async def scale_down_old_replica_sets(sync: DeploymentSync, all_rss: list[Obj | None],
                                      old: list[Obj]) -> int:
    """Scale old ReplicaSets down, oldest first, by as many pods as are available beyond
    the minimum."""
    min_available = sync.replicas - max_unavailable(sync.d)
    available = sum_status(all_rss, "availableReplicas")
    if available <= min_available:
        return 0
    budget = available - min_available
    total = 0
    for rs in oldest_first(old):
        if total >= budget:
            break
        if spec_replicas(rs) == 0:
            continue
        count = min(spec_replicas(rs), budget - total)
        await sync.scale_replica_set_and_record(rs, spec_replicas(rs) - count)
        total += count
    return total
