"""Revision bookkeeping on ReplicaSets and Deployments (what kubectl rollout history/undo
read) and the template identity that finds a Deployment's ReplicaSet."""

from __future__ import annotations

import copy
from typing import Any

from kubesmith.controllers.deployment import revisions
from kubesmith.controllers.deployment.templates import (
    POD_TEMPLATE_HASH,
    equal_ignore_hash,
    find_new_replica_set,
    find_old_replica_sets,
    new_replica_set,
    pod_template_hash,
)

TEMPLATE = {"metadata": {"labels": {"app": "web"}, "creationTimestamp": None},
            "spec": {"containers": [{"name": "c", "image": "nginx:1", "resources": {}}]}}


def deployment(annotations: dict[str, str] | None = None, replicas: int = 3) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "ns", "uid": "d-uid",
                         "annotations": annotations or {}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": copy.deepcopy(TEMPLATE)},
            "status": {}}


def test_hash_is_stable_and_follows_template_and_collisions() -> None:
    first = pod_template_hash(TEMPLATE, None)
    assert first == pod_template_hash(copy.deepcopy(TEMPLATE), None)
    assert 1 <= len(first) <= 10 and set(first) <= set("bcdfghjklmnpqrstvwxz2456789")
    changed = copy.deepcopy(TEMPLATE)
    changed["spec"]["containers"][0]["image"] = "nginx:2"
    assert pod_template_hash(changed, None) != first
    assert pod_template_hash(TEMPLATE, 1) != first
    # Nulls and empty maps are no difference.
    lean = {"metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": "nginx:1"}]}}
    assert pod_template_hash(lean, None) == first


def test_new_replica_set_shape() -> None:
    d = deployment()
    rs = new_replica_set(d, 2)
    hash_ = pod_template_hash(TEMPLATE, None)
    assert rs["metadata"]["name"] == f"web-{hash_}"
    assert rs["metadata"]["labels"] == {"app": "web", POD_TEMPLATE_HASH: hash_}
    assert rs["spec"]["selector"] == {"matchLabels": {"app": "web", POD_TEMPLATE_HASH: hash_}}
    assert rs["spec"]["template"]["metadata"]["labels"][POD_TEMPLATE_HASH] == hash_
    assert rs["metadata"]["ownerReferences"] == [{
        "apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": "d-uid",
        "controller": True, "blockOwnerDeletion": True}]
    assert equal_ignore_hash(rs["spec"]["template"], d["spec"]["template"])


def test_new_and_old_replica_sets() -> None:
    d = deployment()
    current = new_replica_set(d, 3)
    current["metadata"].update(uid="cur", creationTimestamp="2024-01-02T00:00:00Z")
    other = copy.deepcopy(current)
    other["metadata"].update(uid="old", name="web-old", creationTimestamp="2024-01-01T00:00:00Z")
    other["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:0"
    other["spec"]["replicas"] = 0
    assert find_new_replica_set(d, [other, current]) is current
    required, old = find_old_replica_sets(d, [other, current])
    assert required == [] and old == [other]


def test_annotations_of_a_new_replica_set() -> None:
    d = deployment({revisions.CHANGE_CAUSE: "first", revisions.REVISION: "7",
                    revisions.LAST_APPLIED: "{}"})
    rs: dict[str, Any] = {"metadata": {}}
    assert revisions.set_new_rs_annotations(d, rs, "1", exists=False, max_surge=1)
    assert rs["metadata"]["annotations"] == {
        revisions.CHANGE_CAUSE: "first", revisions.REVISION: "1",
        revisions.DESIRED_REPLICAS: "3", revisions.MAX_REPLICAS: "4"}
    # Nothing new: nothing changes.
    assert not revisions.set_new_rs_annotations(d, rs, "1", exists=True, max_surge=1)


def test_rollback_raises_revision_and_keeps_history() -> None:
    d = deployment()
    rs = {"metadata": {"annotations": {revisions.REVISION: "2"}}}
    assert revisions.set_new_rs_annotations(d, rs, "4", exists=True, max_surge=1)
    assert rs["metadata"]["annotations"][revisions.REVISION] == "4"
    assert rs["metadata"]["annotations"][revisions.REVISION_HISTORY] == "2"
    rs["metadata"]["annotations"][revisions.REVISION] = "5"
    revisions.set_new_rs_annotations(d, rs, "9", exists=True, max_surge=1)
    assert rs["metadata"]["annotations"][revisions.REVISION_HISTORY] == "2,5"
    # A revision is never lowered.
    assert not revisions.set_new_rs_annotations(d, rs, "3", exists=True, max_surge=1)
    assert rs["metadata"]["annotations"][revisions.REVISION] == "9"


def test_revision_history_is_trimmed_to_its_limit() -> None:
    rs = {"metadata": {"annotations": {revisions.REVISION: "10",
                                       revisions.REVISION_HISTORY: "1,2,3"}}}
    revisions.set_new_rs_annotations(deployment(), rs, "11", exists=True, max_surge=0,
                                     history_limit=5)
    assert rs["metadata"]["annotations"][revisions.REVISION_HISTORY] == "3,10"


def test_unparsable_revision_changes_nothing() -> None:
    rs = {"metadata": {"annotations": {revisions.REVISION: "x"}}}
    assert not revisions.set_new_rs_annotations(deployment(), rs, "2", exists=True,
                                                max_surge=0)
    assert revisions.max_revision([rs, {"metadata": {"annotations": {revisions.REVISION: "4"}}}
                                   ]) == 4


def test_revision_order_and_replica_annotations() -> None:
    a = {"metadata": {"name": "a", "creationTimestamp": "2024-01-02T00:00:00Z",
                      "annotations": {revisions.REVISION: "3"}}}
    b = {"metadata": {"name": "b", "creationTimestamp": "2024-01-03T00:00:00Z",
                      "annotations": {revisions.REVISION: "1"}}}
    c = {"metadata": {"name": "c", "creationTimestamp": "2024-01-01T00:00:00Z"}}
    assert [r["metadata"]["name"] for r in revisions.oldest_revision_first([a, b, c])] == \
        ["c", "b", "a"]
    assert revisions.replicas_annotations_need_update(c, 3, 4)
    assert revisions.set_replicas_annotations(c, 3, 4)
    assert not revisions.replicas_annotations_need_update(c, 3, 4)
    assert revisions.desired_replicas(c) == 3 and revisions.max_replicas(c) == 4
