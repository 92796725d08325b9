"""Which ReplicaSet runs a Deployment's current pod template, and the ReplicaSet to create
when none does.

A ReplicaSet belongs to the current template when its template equals the Deployment's
ignoring the ``pod-template-hash`` label — compared semantically (an empty map or list
equals a missing one), never by hash, so a template restored by ``kubectl rollout undo``
finds its old ReplicaSet again. The hash only names new ReplicaSets
(``<deployment>-<hash>``) and labels their pods; ``status.collisionCount`` changes it when a
name is already taken by a different template.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from kubesmith.api.types import Obj
from kubesmith.controllers.deployment.revisions import creation_key
from kubesmith.controllers.history import template_hash
from kubesmith.controllers.util import meta, owner_reference

POD_TEMPLATE_HASH = "pod-template-hash"


def semantic(value: Any) -> Any:
    """``value`` without nulls and empty maps/lists (what Go's semantic equality and
    ``omitempty`` treat as absent)."""
    if isinstance(value, dict):
        out = {k: semantic(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not None and v != {} and v != []}
    if isinstance(value, list):
        return [semantic(v) for v in value]
    return value


def _template(obj: Obj) -> dict[str, Any]:
    found: dict[str, Any] = (obj.get("spec") or {}).get("template") or {}
    return found


def pod_template_hash(template: dict[str, Any], collision_count: int | None) -> str:
    """The ``pod-template-hash`` of a template (stable; changes with the template and with
    ``collision_count``)."""
    return template_hash(semantic(template), collision_count)


def _without_hash(template: dict[str, Any]) -> Any:
    out = copy.deepcopy(template)
    labels = (out.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(POD_TEMPLATE_HASH, None)
    return semantic(out)


def equal_ignore_hash(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two pod templates are the same but for ``pod-template-hash``."""
    return bool(_without_hash(a) == _without_hash(b))


def find_new_replica_set(d: Obj, rss: Sequence[Obj]) -> Obj | None:
    """The (oldest) ReplicaSet running ``d``'s current template."""
    for rs in sorted(rss, key=creation_key):
        if equal_ignore_hash(_template(rs), _template(d)):
            return rs
    return None


def find_old_replica_sets(d: Obj, rss: Sequence[Obj]) -> tuple[list[Obj], list[Obj]]:
    """The other ReplicaSets: those still wanting pods, and all of them."""
    new_rs = find_new_replica_set(d, rss)
    new_uid = meta(new_rs).get("uid") if new_rs is not None else None
    old = [rs for rs in rss if new_rs is None or meta(rs).get("uid") != new_uid]
    required = [rs for rs in old if (rs.get("spec") or {}).get("replicas", 1) != 0]
    return required, old


def new_replica_set(d: Obj, replicas: int) -> Obj:
    """The ReplicaSet for ``d``'s current template (annotations are added by the caller)."""
    m = meta(d)
    spec = d.get("spec") or {}
    collisions = (d.get("status") or {}).get("collisionCount")
    template = copy.deepcopy(_template(d))
    hash_ = pod_template_hash(template, collisions if isinstance(collisions, int) else None)
    template_meta = template.setdefault("metadata", {})
    labels = {**(template_meta.get("labels") or {}), POD_TEMPLATE_HASH: hash_}
    template_meta["labels"] = labels
    selector = copy.deepcopy(spec.get("selector") or {})
    selector["matchLabels"] = {**(selector.get("matchLabels") or {}), POD_TEMPLATE_HASH: hash_}
    rs_spec: dict[str, Any] = {"replicas": replicas, "selector": selector,
                               "template": template}
    if spec.get("minReadySeconds"):
        rs_spec["minReadySeconds"] = spec["minReadySeconds"]
    return {
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": f"{m['name']}-{hash_}", "namespace": m.get("namespace"),
                     "labels": dict(labels), "ownerReferences": [owner_reference(d)]},
        "spec": rs_spec,
    }
