"""StatefulSet pod identity and the owner references the claim retention policy wants."""

from __future__ import annotations

from typing import Any

import pytest

from kubesmith.controllers.statefulset.identity import (
    claims_for,
    identity_matches,
    new_pod,
    parent_and_ordinal,
    storage_matches,
)
from kubesmith.controllers.statefulset.retention import (
    claim_owner_up_to_date,
    has_unexpected_controller,
    owner_refs_for_policy,
)


def sts(replicas: int = 2, when_deleted: str = "Retain", when_scaled: str = "Retain"
        ) -> dict[str, Any]:
    return {"metadata": {"name": "web", "namespace": "ns", "uid": "set-uid"},
            "spec": {"replicas": replicas, "serviceName": "svc",
                     "selector": {"matchLabels": {"app": "web"}},
                     "persistentVolumeClaimRetentionPolicy": {"whenDeleted": when_deleted,
                                                              "whenScaled": when_scaled},
                     "volumeClaimTemplates": [{"metadata": {"name": "data",
                                                            "labels": {"tier": "db"}},
                                               "spec": {"resources": {}}}]}}


def pod(ordinal: int) -> dict[str, Any]:
    return {"metadata": {"name": f"web-{ordinal}", "namespace": "ns",
                         "uid": f"pod-{ordinal}"}}


SET_REF = {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web", "uid": "set-uid",
           "controller": True, "blockOwnerDeletion": True}


def pod_ref(ordinal: int) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "name": f"web-{ordinal}",
            "uid": f"pod-{ordinal}", "controller": True, "blockOwnerDeletion": True}


def claim(*refs: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": "data-web-1", "ownerReferences": list(refs)}}


def test_names_and_identity() -> None:
    assert parent_and_ordinal({"metadata": {"name": "my-web-12"}}) == ("my-web", 12)
    assert parent_and_ordinal({"metadata": {"name": "web"}}) == ("", -1)
    revision = {"metadata": {"name": "web-abc"}, "data": {"spec": {"template": {
        "$patch": "replace", "metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [{"name": "c"}],
                 "volumes": [{"name": "data", "emptyDir": {}}, {"name": "cfg"}]}}}}}
    made = new_pod(sts(), revision, 1)
    assert made["metadata"]["name"] == "web-1"
    assert made["metadata"]["labels"] == {
        "app": "web", "controller-revision-hash": "web-abc",
        "statefulset.kubernetes.io/pod-name": "web-1", "apps.kubernetes.io/pod-index": "1"}
    assert made["spec"]["hostname"] == "web-1" and made["spec"]["subdomain"] == "svc"
    # The claim volume replaces the template's volume of the same name.
    assert made["spec"]["volumes"] == [
        {"name": "data", "persistentVolumeClaim": {"claimName": "data-web-1"}},
        {"name": "cfg"}]
    assert identity_matches(sts(), made) and storage_matches(sts(), made)
    made["metadata"]["labels"]["apps.kubernetes.io/pod-index"] = "2"
    assert not identity_matches(sts(), made)
    [(template, pvc)] = claims_for(sts(), 1)
    assert template == "data"
    assert pvc["metadata"] == {"name": "data-web-1", "namespace": "ns",
                               "labels": {"tier": "db", "app": "web"}}


@pytest.mark.parametrize(("when_deleted", "when_scaled", "replicas", "wanted"), [
    ("Retain", "Retain", 2, []),
    ("Delete", "Retain", 2, [SET_REF]),
    ("Delete", "Retain", 1, [SET_REF]),
    ("Retain", "Delete", 2, []),
    ("Retain", "Delete", 1, [pod_ref(1)]),
    ("Delete", "Delete", 2, [SET_REF]),
    ("Delete", "Delete", 1, [pod_ref(1)]),
], ids=["retain", "deleted-in-range", "deleted-scaled-away", "scaled-in-range",
        "scaled-away", "both-in-range", "both-scaled-away"])
def test_owner_refs_follow_the_policy(when_deleted: str, when_scaled: str, replicas: int,
                                      wanted: list[dict[str, Any]]) -> None:
    the_set, the_pod = sts(replicas, when_deleted, when_scaled), pod(1)
    other = {"apiVersion": "v1", "kind": "ConfigMap", "name": "x", "uid": "cm"}
    refs = owner_refs_for_policy(claim(other, SET_REF, pod_ref(1)), the_set, the_pod)
    assert refs == [other, *wanted]
    assert claim_owner_up_to_date(claim(other, *wanted), the_set, the_pod)
    stale_free = [SET_REF, pod_ref(1)]
    assert claim_owner_up_to_date(claim(*stale_free), the_set, the_pod) == \
        (wanted == stale_free)


def test_foreign_controllers_and_stale_refs_are_left_alone() -> None:
    the_set, the_pod = sts(2, "Delete", "Delete"), pod(1)
    foreign = {"apiVersion": "x/v1", "kind": "Owner", "name": "o", "uid": "o",
               "controller": True}
    assert has_unexpected_controller(claim(foreign), the_set, the_pod)
    assert claim_owner_up_to_date(claim(foreign), the_set, the_pod)
    assert owner_refs_for_policy(claim(foreign, SET_REF), the_set, the_pod) == [foreign]
    stale = {**SET_REF, "uid": "an-earlier-set"}
    assert claim_owner_up_to_date(claim(stale), the_set, the_pod)
    # A non-controller reference from the set is upgraded.
    assert not claim_owner_up_to_date(claim({**SET_REF, "controller": False}), the_set,
                                      the_pod)
