"""A StatefulSet pod's identity: its ordinal, name, labels, hostname and claims, and the
pod states the controller reasons about (upstream ``stateful_set_utils.go``).

Pod ``<set>-<ordinal>`` keeps its name, its ``statefulset.kubernetes.io/pod-name`` and
``apps.kubernetes.io/pod-index`` labels, hostname/subdomain (``<pod>.<serviceName>``) and
its claims ``<template>-<set>-<ordinal>`` for its whole life, across rescheduling and
updates.
"""

from __future__ import annotations

import copy
import re
from datetime import datetime
from typing import Any

from kubesmith.api.types import Obj
from kubesmith.controllers.history import REVISION_HASH_LABEL, applied_template
from kubesmith.controllers.util import (
    is_pod_available,
    is_pod_ready,
    is_terminating,
    labels_of,
    meta,
    pod_phase,
)

POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"

_POD_NAME = re.compile(r"^(.*)-([0-9]+)$")
_MAX_INT32 = 2**31 - 1


def parent_and_ordinal(pod: Obj) -> tuple[str, int]:
    """The StatefulSet name and ordinal in the pod's name; ``("", -1)`` when it has
    none."""
    found = _POD_NAME.match(str(meta(pod).get("name") or ""))
    if found is None:
        return "", -1
    number = int(found.group(2))
    return found.group(1), number if number <= _MAX_INT32 else -1


def ordinal_of(pod: Obj) -> int:
    """The pod's ordinal (-1 when its name has none)."""
    return parent_and_ordinal(pod)[1]


def is_member(sts: Obj, pod: Obj) -> bool:
    """Whether the pod's name makes it one of ``sts``'s pods."""
    return parent_and_ordinal(pod)[0] == meta(sts).get("name")


def replicas_of(sts: Obj) -> int:
    """``spec.replicas`` (1 when unset)."""
    value = (sts.get("spec") or {}).get("replicas")
    return int(value) if isinstance(value, int) else 1


def start_ordinal(sts: Obj) -> int:
    """The first ordinal (``spec.ordinals.start``, default 0)."""
    return int(((sts.get("spec") or {}).get("ordinals") or {}).get("start") or 0)


def in_ordinal_range(pod: Obj, sts: Obj) -> bool:
    """Whether the pod's ordinal is one of the replicas ``sts`` wants now."""
    ordinal = ordinal_of(pod)
    start = start_ordinal(sts)
    return start <= ordinal < start + replicas_of(sts)


def pod_name(sts: Obj, ordinal: int) -> str:
    """``<set>-<ordinal>``."""
    return f"{meta(sts)['name']}-{ordinal}"


def claim_name(sts: Obj, template: Obj, ordinal: int) -> str:
    """``<claim template>-<set>-<ordinal>``."""
    return f"{meta(template).get('name')}-{meta(sts)['name']}-{ordinal}"


def claim_templates(sts: Obj) -> list[Obj]:
    """``spec.volumeClaimTemplates``."""
    found: list[Obj] = (sts.get("spec") or {}).get("volumeClaimTemplates") or []
    return found


def claims_for(sts: Obj, ordinal: int) -> list[tuple[str, Obj]]:
    """``(template name, claim)`` for every claim template, the claims as the pod with
    ``ordinal`` needs them: named for the pod and labelled with the set's selector labels."""
    selector_labels = ((sts.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    out: list[tuple[str, Obj]] = []
    for template in claim_templates(sts):
        claim_meta = copy.deepcopy(meta(template))
        for key in ("uid", "resourceVersion", "creationTimestamp", "generation",
                    "managedFields", "selfLink"):
            claim_meta.pop(key, None)
        claim_meta["name"] = claim_name(sts, template, ordinal)
        claim_meta["namespace"] = meta(sts).get("namespace")
        claim_meta["labels"] = {**(claim_meta.get("labels") or {}), **selector_labels}
        out.append((str(meta(template).get("name")), {
            "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": claim_meta,
            "spec": copy.deepcopy(template.get("spec") or {})}))
    return out


def identity_matches(sts: Obj, pod: Obj) -> bool:
    """Whether the pod's name, namespace and identity labels are right for its ordinal."""
    parent, ordinal = parent_and_ordinal(pod)
    name = meta(pod).get("name")
    labels = labels_of(pod)
    return ordinal >= 0 and parent == meta(sts).get("name") and \
        name == pod_name(sts, ordinal) and \
        meta(pod).get("namespace") == meta(sts).get("namespace") and \
        labels.get(POD_NAME_LABEL) == name and labels.get(POD_INDEX_LABEL) == str(ordinal)


def storage_matches(sts: Obj, pod: Obj) -> bool:
    """Whether the pod mounts each of its claims under the template's volume name."""
    ordinal = ordinal_of(pod)
    if ordinal < 0:
        return False
    volumes = {v.get("name"): v for v in (pod.get("spec") or {}).get("volumes") or ()}
    for template in claim_templates(sts):
        volume = volumes.get(meta(template).get("name"))
        claim = (volume or {}).get("persistentVolumeClaim") or {}
        if claim.get("claimName") != claim_name(sts, template, ordinal):
            return False
    return True


def update_identity(sts: Obj, pod: Obj) -> None:
    """Set the pod's name, namespace and identity labels from its ordinal (in place)."""
    ordinal = ordinal_of(pod)
    pod_meta = pod.setdefault("metadata", {})
    pod_meta["name"] = pod_name(sts, ordinal)
    pod_meta["namespace"] = meta(sts).get("namespace")
    labels = pod_meta.setdefault("labels", {})
    labels[POD_NAME_LABEL] = pod_meta["name"]
    labels[POD_INDEX_LABEL] = str(ordinal)


def update_storage(sts: Obj, pod: Obj) -> None:
    """Point the pod's claim volumes at its claims (in place); other volumes stay."""
    claims = claims_for(sts, ordinal_of(pod))
    names = {template for template, _ in claims}
    spec = pod.setdefault("spec", {})
    volumes: list[dict[str, Any]] = [
        {"name": template, "persistentVolumeClaim": {"claimName": meta(claim)["name"]}}
        for template, claim in claims]
    volumes += [v for v in spec.get("volumes") or () if v.get("name") not in names]
    spec["volumes"] = volumes


def new_pod(sts: Obj, revision: Obj, ordinal: int) -> Obj:
    """Pod ``ordinal`` of ``sts`` from the template ``revision`` records, labelled with the
    revision's name (upstream ``newVersionedStatefulSetPod`` for one revision)."""
    template = applied_template(revision)
    template_meta = template.get("metadata") or {}
    name = pod_name(sts, ordinal)
    pod_meta: dict[str, Any] = {
        "name": name, "generateName": f"{meta(sts)['name']}-",
        "namespace": meta(sts).get("namespace"),
        "labels": {**(template_meta.get("labels") or {}),
                   REVISION_HASH_LABEL: meta(revision)["name"]},
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet",
                             "name": meta(sts)["name"], "uid": meta(sts)["uid"],
                             "controller": True, "blockOwnerDeletion": True}]}
    for field in ("annotations", "finalizers"):
        if template_meta.get(field):
            pod_meta[field] = copy.deepcopy(template_meta[field])
    pod: Obj = {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta,
                "spec": copy.deepcopy(template.get("spec") or {})}
    update_identity(sts, pod)
    # Hostname and subdomain are set once, at creation (they are immutable afterwards).
    pod["spec"]["hostname"] = name
    service = (sts.get("spec") or {}).get("serviceName")
    if service:
        pod["spec"]["subdomain"] = service
    update_storage(sts, pod)
    return pod


def pod_revision(pod: Obj) -> str:
    """The name of the revision the pod was made from."""
    return labels_of(pod).get(REVISION_HASH_LABEL, "")


def is_created(pod: Obj) -> bool:
    """Whether the pod exists on the server (it has a phase); pods planned in this sync
    do not."""
    return bool(pod_phase(pod))


def is_running_and_ready(pod: Obj) -> bool:
    """Running with its Ready condition True."""
    return pod_phase(pod) == "Running" and is_pod_ready(pod)


def is_available(pod: Obj, min_ready_seconds: int, now: datetime) -> bool:
    """Ready for at least ``min_ready_seconds``."""
    return is_pod_available(pod, min_ready_seconds, now)


def is_unavailable(pod: Obj, min_ready_seconds: int, now: datetime) -> bool:
    """Not available, or already going away."""
    return not is_available(pod, min_ready_seconds, now) or is_terminating(pod)
