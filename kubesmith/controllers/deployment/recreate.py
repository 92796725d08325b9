"""The Recreate strategy (upstream ``recreate.go``): scale every old ReplicaSet to zero,
wait until none of their pods is left running, and only then create (or scale up) the new
ReplicaSet — old and new pods never run side by side."""

from __future__ import annotations

from kubesmith.api.types import Obj
from kubesmith.controllers.deployment.progress import deployment_complete
from kubesmith.controllers.deployment.replicas import active, sum_status
from kubesmith.controllers.deployment.sync import DeploymentSync
from kubesmith.controllers.util import meta, pod_phase


async def rollout_recreate(sync: DeploymentSync, pods_by_rs: dict[str, list[Obj]]) -> None:
    """One step of a recreate rollout, then the status. ``pods_by_rs`` maps each claimed
    ReplicaSet's uid to the pods it controls."""
    # No new ReplicaSet yet: creating it now would scale up before scaling down.
    new_rs, old = await sync.all_replica_sets(create=False)
    all_rss: list[Obj | None] = [*old, new_rs]
    scaled_down = False
    for rs in active(old):
        scaled, _ = await sync.scale_replica_set_and_record(rs, 0)
        scaled_down = scaled_down or scaled
    if scaled_down or old_pods_running(new_rs, old, pods_by_rs):
        await sync.sync_rollout_status(all_rss, new_rs)
        return
    if new_rs is None:
        new_rs, old = await sync.all_replica_sets(create=True)
        all_rss = [*old, new_rs]
    assert new_rs is not None
    await sync.scale_replica_set_and_record(new_rs, sync.replicas)
    if deployment_complete(sync.d, sync.d.get("status") or {}):
        await sync.cleanup(old)
    await sync.sync_rollout_status(all_rss, new_rs)


def old_pods_running(new_rs: Obj | None, old: list[Obj],
                     pods_by_rs: dict[str, list[Obj]]) -> bool:
    """Whether an old ReplicaSet still reports pods or still has a pod not finished (a pod
    in an unknown phase counts: it may still run)."""
    if sum_status(old, "replicas") > 0:
        return True
    new_uid = meta(new_rs).get("uid") if new_rs is not None else None
    return any(pod_phase(pod) not in ("Succeeded", "Failed")
               for uid, pods in pods_by_rs.items() if uid != new_uid for pod in pods)
