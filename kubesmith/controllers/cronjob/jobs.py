"""What a CronJob makes of Jobs: the Job for a schedule time, the ``status.active`` list and
the order in which finished Jobs are pruned."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, tzinfo
from typing import Any

from kubesmith.api.types import Obj
from kubesmith.client.events import object_reference
from kubesmith.controllers.util import meta, owner_reference, parse_rfc3339

SCHEDULED_TIMESTAMP_ANNOTATION = "batch.kubernetes.io/cronjob-scheduled-timestamp"


def job_name(cronjob_name: str, scheduled: datetime) -> str:
    """``<cronjob>-<minutes since the epoch>``: one name per schedule time, which makes a
    second creation for the same time fail instead of running twice."""
    return f"{cronjob_name}-{int(scheduled.timestamp()) // 60}"


def rfc3339_in(when: datetime, zone: tzinfo) -> str:
    """Go's RFC3339 format of ``when`` in ``zone`` (``Z`` for a zero offset, else
    ``+hh:mm``)."""
    text = when.astimezone(zone).replace(microsecond=0).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def job_from_template(cronjob: Obj, scheduled: datetime, zone: tzinfo) -> Obj:
    """The Job a CronJob runs for ``scheduled``."""
    template = (cronjob.get("spec") or {}).get("jobTemplate") or {}
    template_meta = template.get("metadata") or {}
    annotations = dict(template_meta.get("annotations") or {})
    annotations[SCHEDULED_TIMESTAMP_ANNOTATION] = rfc3339_in(scheduled, zone)
    job_meta: dict[str, Any] = {
        "name": job_name(meta(cronjob)["name"], scheduled),
        "namespace": meta(cronjob)["namespace"],
        "annotations": annotations,
        "ownerReferences": [owner_reference(cronjob)],
    }
    if template_meta.get("labels"):
        job_meta["labels"] = dict(template_meta["labels"])
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": job_meta,
            "spec": copy.deepcopy(template.get("spec") or {})}


def job_reference(job: Obj) -> dict[str, Any]:
    """The ObjectReference kept in ``status.active``."""
    ref = object_reference(job)
    ref.setdefault("kind", "Job")
    ref.setdefault("apiVersion", "batch/v1")
    return ref


def active_refs(cronjob: Obj) -> list[dict[str, Any]]:
    """``status.active`` (a list, possibly empty)."""
    found: list[dict[str, Any]] = (cronjob.get("status") or {}).get("active") or []
    return found


def in_active_list(cronjob: Obj, uid: str) -> bool:
    """Whether a Job with ``uid`` is in ``status.active``."""
    return any(ref.get("uid") == uid for ref in active_refs(cronjob))


def in_active_list_by_name(cronjob: Obj, namespace: str, name: str) -> bool:
    """Whether a Job named ``namespace/name`` is in ``status.active``."""
    return any(ref.get("name") == name and ref.get("namespace") == namespace
               for ref in active_refs(cronjob))


def remove_from_active_list(cronjob: Obj, uid: str) -> None:
    """Drop the Job with ``uid`` from ``status.active``."""
    status = cronjob.setdefault("status", {})
    status["active"] = [ref for ref in active_refs(cronjob) if ref.get("uid") != uid]


def start_time_order(job: Obj) -> tuple[int, float, str]:
    """Sort key: started Jobs by start time (oldest first), then never-started ones; ties
    by name."""
    started = parse_rfc3339((job.get("status") or {}).get("startTime"))
    if started is None:
        return (1, 0.0, str(meta(job).get("name")))
    return (0, started.timestamp(), str(meta(job).get("name")))


def completion_time(job: Obj) -> datetime | None:
    """``status.completionTime``."""
    return parse_rfc3339((job.get("status") or {}).get("completionTime"))


def rfc1123z(when: datetime) -> str:
    """Go's RFC1123Z layout (``Mon, 02 Jan 2006 15:04:05 -0700``) in UTC."""
    return when.astimezone(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")
