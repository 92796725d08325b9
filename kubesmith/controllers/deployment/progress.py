"""Rollout progress (upstream ``progress.go``): the ``Progressing`` condition —
NewReplicaSetAvailable when complete, ReplicaSetUpdated while pods move, and
ProgressDeadlineExceeded when nothing moved for ``progressDeadlineSeconds`` — plus the
ReplicaSets' failures promoted to a ``ReplicaFailure`` condition."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from kubesmith.api.types import Obj
from kubesmith.controllers.deployment import conditions as c
from kubesmith.controllers.deployment.replicas import spec_replicas, status_count
from kubesmith.controllers.deployment.status import calculate_status
from kubesmith.controllers.util import int_value, meta, parse_rfc3339

#: ``progressDeadlineSeconds`` of MaxInt32 means "no deadline".
NO_DEADLINE = 2 ** 31 - 1


def progress_deadline(d: Obj) -> int | None:
    """``spec.progressDeadlineSeconds``, None when there is none."""
    value = (d.get("spec") or {}).get("progressDeadlineSeconds")
    if not isinstance(value, int) or value == NO_DEADLINE:
        return None
    return value


def deployment_complete(d: Obj, status: dict[str, Any]) -> bool:
    """Every replica updated and available, and the latest spec observed."""
    wanted = spec_replicas(d)
    return int_value(status.get("updatedReplicas")) == wanted and \
        int_value(status.get("replicas")) == wanted and \
        int_value(status.get("availableReplicas")) == wanted and \
        int_value(status.get("observedGeneration")) >= int_value(meta(d).get("generation"))


def deployment_progressing(d: Obj, status: dict[str, Any]) -> bool:
    """Whether ``status`` moved forward from the deployment's current status: more updated,
    ready or available pods, or fewer old ones."""
    old = d.get("status") or {}
    old_old = status_count(d, "replicas") - status_count(d, "updatedReplicas")
    new_old = int_value(status.get("replicas")) - int_value(status.get("updatedReplicas"))
    return int_value(status.get("updatedReplicas")) > int_value(old.get("updatedReplicas")) or \
        new_old < old_old or \
        int_value(status.get("readyReplicas")) > int_value(old.get("readyReplicas")) or \
        int_value(status.get("availableReplicas")) > int_value(old.get("availableReplicas"))


def deployment_timed_out(d: Obj, status: dict[str, Any], now: datetime) -> bool:
    """Whether the last progress is older than the deadline."""
    deadline = progress_deadline(d)
    cond = c.get_condition(status, c.PROGRESSING)
    if deadline is None or cond is None or cond.get("reason") == c.NEW_RS_AVAILABLE:
        return False
    if cond.get("reason") == c.TIMED_OUT:
        return True
    since = parse_rfc3339(cond.get("lastUpdateTime"))
    return since is not None and since + timedelta(seconds=deadline) < now


def replica_failures(all_rss: list[Obj | None], new_rs: Obj | None) -> list[c.Condition]:
    """ReplicaFailure conditions, the new ReplicaSet's first."""
    def failures(rs: Obj) -> list[c.Condition]:
        return [c.from_replicaset_condition(cond)
                for cond in (rs.get("status") or {}).get("conditions") or ()
                if cond.get("type") == c.REPLICA_FAILURE]
    if new_rs is not None and (found := failures(new_rs)):
        return found
    return [cond for rs in all_rss if rs is not None for cond in failures(rs)]


def rollout_status(d: Obj, all_rss: list[Obj | None], new_rs: Obj | None,
                   now: datetime) -> dict[str, Any]:
    """The status a rollout step leaves the deployment in (upstream ``syncRolloutStatus``)."""
    status = calculate_status(all_rss, new_rs, d, now)
    deadline = progress_deadline(d)
    if deadline is None:
        c.remove_condition(status, c.PROGRESSING)
    current = c.get_condition(d.get("status"), c.PROGRESSING)
    finished = int_value(status.get("replicas")) == int_value(status.get("updatedReplicas")) and \
        current is not None and current.get("reason") == c.NEW_RS_AVAILABLE
    subject = f'ReplicaSet "{meta(new_rs)["name"]}"' if new_rs is not None else \
        f'Deployment "{meta(d)["name"]}"'
    if deadline is not None and not finished:
        if deployment_complete(d, status):
            c.set_condition(status, c.new_condition(
                c.PROGRESSING, "True", c.NEW_RS_AVAILABLE,
                f"{subject} has successfully progressed.", now))
        elif deployment_progressing(d, status):
            cond = c.new_condition(c.PROGRESSING, "True", c.REPLICASET_UPDATED,
                                   f"{subject} is progressing.", now)
            # Refresh lastUpdateTime (the deadline's start) even though nothing else changes.
            if current is not None:
                if current.get("status") == "True":
                    cond["lastTransitionTime"] = current.get("lastTransitionTime")
                c.remove_condition(status, c.PROGRESSING)
            c.set_condition(status, cond)
        elif deployment_timed_out(d, status, now):
            c.set_condition(status, c.new_condition(
                c.PROGRESSING, "False", c.TIMED_OUT,
                f"{subject} has timed out progressing.", now))
    failures = replica_failures(all_rss, new_rs)
    if failures:
        c.set_condition(status, failures[0])
    else:
        c.remove_condition(status, c.REPLICA_FAILURE)
    if not status.get("conditions"):
        status.pop("conditions", None)
    return status


def stuck_check_delay(d: Obj, status: dict[str, Any], now: datetime) -> float | None:
    """When to look again so a stuck rollout is reported once its deadline passes (None:
    no need)."""
    deadline = progress_deadline(d)
    current = c.get_condition(d.get("status"), c.PROGRESSING)
    if deadline is None or current is None:
        return None
    if deployment_complete(d, status) or current.get("reason") == c.TIMED_OUT:
        return None
    since = parse_rfc3339(current.get("lastUpdateTime"))
    if since is None:
        return None
    remaining = (since + timedelta(seconds=deadline) - now).total_seconds()
    # A second of slack: the condition times have seconds precision.
    return max(remaining, 0.0) + 1.0
