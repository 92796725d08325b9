"""managedFields tracking on writes, and server-side apply, against upstream behaviour.

The create and controller entries are checked byte for byte against a real
kube-apiserver response (``POST`` of a Deployment with curl, then the deployment
controller's status update).
"""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest

from kubesmith.api import schema
from kubesmith.api.errors import StatusError
from kubesmith.api.managedfields import (
    LAST_APPLIED_ANNOTATION,
    FieldSet,
    PathElement,
    apply,
    decode_managed_fields,
    manager_from_user_agent,
    manager_or_user_agent,
    track_update,
)

F = PathElement.of_field
K = PathElement.of_key
V = PathElement.of_value

T0 = "2024-05-01T10:00:00Z"
T1 = "2024-05-01T10:01:00Z"
T2 = "2024-05-01T10:02:00Z"
T3 = "2024-05-01T10:03:00Z"

REPLICAS = (F("spec"), F("replicas"))
TEMPLATE_SPEC = (F("spec"), F("template"), F("spec"))
CONTAINERS = (*TEMPLATE_SPEC, F("containers"))
LABELS = (F("metadata"), F("labels"))
FINALIZERS = (F("metadata"), F("finalizers"))


def deployment_node() -> schema.SchemaNode:
    node = schema.root("apps", "v1", "Deployment")
    assert node is not None
    return node


NODE = deployment_node()


def config(replicas: int | None = 3, *, labels: dict[str, str] | None = None,
           containers: list[dict[str, Any]] | None = None,
           finalizers: list[str] | None = None) -> dict[str, Any]:
    """An apply configuration for a Deployment named ``web``."""
    spec: dict[str, Any] = {
        "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}},
                     "spec": {"containers": containers if containers is not None else
                              [{"name": "nginx", "image": "nginx:1.25"}]}},
    }
    if replicas is not None:
        spec = {"replicas": replicas, **spec}
    meta: dict[str, Any] = {"name": "web", "namespace": "default"}
    if labels is not None:
        meta["labels"] = labels
    if finalizers is not None:
        meta["finalizers"] = finalizers
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": spec}


def ssa(live: dict[str, Any] | None, cfg: dict[str, Any], manager: str = "kubectl", *,
        now: str = T0, force: bool = False) -> dict[str, Any]:
    return apply(live, cfg, manager, force=force, api_version="apps/v1", now=now, node=NODE)


def entries(obj: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """managedFields by (manager, operation)."""
    return {(e["manager"], e["operation"]): e for e in obj["metadata"].get("managedFields", [])}


def owned(obj: dict[str, Any], manager: str, operation: str = "Apply") -> FieldSet:
    entry = entries(obj).get((manager, operation))
    return FieldSet.from_fields_v1(entry["fieldsV1"]) if entry else FieldSet()


def containers_of(obj: dict[str, Any]) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = obj["spec"]["template"]["spec"]["containers"]
    return result


# -- create and update tracking: a real cluster's answers --------------------------------------

CURL_CREATED: dict[str, Any] = {
    "kind": "Deployment", "apiVersion": "apps/v1",
    "metadata": {"name": "sleep", "namespace": "default",
                 "uid": "db69166f-31ac-43b4-addc-a17d79536761", "resourceVersion": "12029",
                 "generation": 1, "creationTimestamp": "2022-07-06T04:00:41Z"},
    "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "sleep"}},
             "template": {"metadata": {"creationTimestamp": None, "labels": {"app": "sleep"}},
                          "spec": {"containers": [{
                              "name": "sleep", "image": "curlimages/curl",
                              "command": ["/bin/sleep", "365d"], "resources": {},
                              "terminationMessagePath": "/dev/termination-log",
                              "terminationMessagePolicy": "File",
                              "imagePullPolicy": "Always"}],
                              "restartPolicy": "Always", "terminationGracePeriodSeconds": 30,
                              "dnsPolicy": "ClusterFirst", "securityContext": {},
                              "schedulerName": "default-scheduler"}},
             "strategy": {"type": "RollingUpdate",
                          "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
             "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600},
    "status": {},
}

CURL_ENTRY = (
    b'{"manager":"curl","operation":"Update","apiVersion":"apps/v1",'
    b'"time":"2022-07-06T04:00:41Z","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{'
    b'"f:progressDeadlineSeconds":{},"f:replicas":{},"f:revisionHistoryLimit":{},'
    b'"f:selector":{},"f:strategy":{"f:rollingUpdate":{".":{},"f:maxSurge":{},'
    b'"f:maxUnavailable":{}},"f:type":{}},"f:template":{"f:metadata":{"f:labels":{".":{},'
    b'"f:app":{}}},"f:spec":{"f:containers":{"k:{\\"name\\":\\"sleep\\"}":{".":{},'
    b'"f:command":{},"f:image":{},"f:imagePullPolicy":{},"f:name":{},"f:resources":{},'
    b'"f:terminationMessagePath":{},"f:terminationMessagePolicy":{}}},"f:dnsPolicy":{},'
    b'"f:restartPolicy":{},"f:schedulerName":{},"f:securityContext":{},'
    b'"f:terminationGracePeriodSeconds":{}}}}}}')

CONTROLLER_ENTRY = (
    b'{"manager":"kube-controller-manager","operation":"Update","apiVersion":"apps/v1",'
    b'"time":"2022-07-06T04:01:07Z","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{'
    b'"f:annotations":{".":{},"f:deployment.kubernetes.io/revision":{}}},"f:status":{'
    b'"f:availableReplicas":{},"f:conditions":{".":{},"k:{\\"type\\":\\"Available\\"}":{'
    b'".":{},"f:lastTransitionTime":{},"f:lastUpdateTime":{},"f:message":{},"f:reason":{},'
    b'"f:status":{},"f:type":{}},"k:{\\"type\\":\\"Progressing\\"}":{".":{},'
    b'"f:lastTransitionTime":{},"f:lastUpdateTime":{},"f:message":{},"f:reason":{},'
    b'"f:status":{},"f:type":{}}},"f:observedGeneration":{},"f:readyReplicas":{},'
    b'"f:replicas":{},"f:updatedReplicas":{}}},"subresource":"status"}')


def created_by_curl() -> dict[str, Any]:
    new = copy.deepcopy(CURL_CREATED)
    track_update(None, new, "curl", "apps/v1", "2022-07-06T04:00:41Z", node=NODE)
    return new


def test_create_records_what_kube_apiserver_records() -> None:
    created = created_by_curl()
    assert orjson.dumps(created["metadata"]["managedFields"]) == b"[" + CURL_ENTRY + b"]"


def test_status_update_by_controller_matches_real_entry() -> None:
    created = created_by_curl()
    updated = copy.deepcopy(created)
    updated["metadata"]["annotations"] = {"deployment.kubernetes.io/revision": "1"}
    updated["status"] = {
        "observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "readyReplicas": 1,
        "availableReplicas": 1,
        "conditions": [
            {"type": "Available", "status": "True", "lastUpdateTime": "2022-07-06T04:01:07Z",
             "lastTransitionTime": "2022-07-06T04:01:07Z", "reason": "MinimumReplicasAvailable",
             "message": "Deployment has minimum availability."},
            {"type": "Progressing", "status": "True", "lastUpdateTime": "2022-07-06T04:01:07Z",
             "lastTransitionTime": "2022-07-06T04:00:41Z", "reason": "NewReplicaSetAvailable",
             "message": 'ReplicaSet "sleep-7575b6d458" has successfully progressed.'}]}
    track_update(created, updated, "kube-controller-manager", "apps/v1",
                 "2022-07-06T04:01:07Z", "status", node=NODE)
    assert orjson.dumps(updated["metadata"]["managedFields"]) == \
        b"[" + CURL_ENTRY + b"," + CONTROLLER_ENTRY + b"]"


def test_update_moves_changed_fields_between_managers() -> None:
    created = created_by_curl()
    edited = copy.deepcopy(created)
    containers_of(edited)[0]["image"] = "curlimages/curl:8.8.0"
    edited["spec"]["replicas"] = 2
    track_update(created, edited, "kubectl-edit", "apps/v1", T1, node=NODE)
    image = (*CONTAINERS, K({"name": "sleep"}), F("image"))
    assert owned(edited, "kubectl-edit", "Update") == FieldSet.from_paths([image, REPLICAS])
    curl = owned(edited, "curl", "Update")
    assert not curl.has(image)
    assert not curl.has(REPLICAS)
    assert curl.has((*CONTAINERS, K({"name": "sleep"}), F("command")))
    assert entries(edited)[("kubectl-edit", "Update")]["time"] == T1

    # A second edit by another tool takes the image back; kubectl-edit keeps replicas.
    patched = copy.deepcopy(edited)
    containers_of(patched)[0]["image"] = "curlimages/curl:8.9.0"
    track_update(edited, patched, "kubectl-patch", "apps/v1", T2, node=NODE)
    assert owned(patched, "kubectl-edit", "Update") == FieldSet.from_paths([REPLICAS])
    assert owned(patched, "kubectl-patch", "Update") == FieldSet.from_paths([image])


def test_manager_left_with_nothing_is_dropped() -> None:
    created = created_by_curl()
    scaled_up = copy.deepcopy(created)
    scaled_up["spec"]["replicas"] = 3
    track_update(created, scaled_up, "kubectl-scale", "apps/v1", T1, node=NODE)
    assert owned(scaled_up, "kubectl-scale", "Update") == FieldSet.from_paths([REPLICAS])
    edited = copy.deepcopy(scaled_up)
    edited["spec"]["replicas"] = 4
    track_update(scaled_up, edited, "kubectl-edit", "apps/v1", T2, node=NODE)
    assert ("kubectl-scale", "Update") not in entries(edited)
    assert owned(edited, "kubectl-edit", "Update") == FieldSet.from_paths([REPLICAS])


def test_label_changes_move_the_label_but_not_the_labels_map() -> None:
    created = created_by_curl()
    labelled = copy.deepcopy(created)
    labelled["metadata"]["labels"] = {"team": "a"}
    track_update(created, labelled, "kubectl-label", "apps/v1", T1, node=NODE)
    # Adding the first label creates the map: its existence is owned too (".").
    assert owned(labelled, "kubectl-label", "Update") == \
        FieldSet.from_paths([LABELS, (*LABELS, F("team"))])
    relabelled = copy.deepcopy(labelled)
    relabelled["metadata"]["labels"] = {"team": "b"}
    track_update(labelled, relabelled, "kubectl-edit", "apps/v1", T2, node=NODE)
    assert owned(relabelled, "kubectl-label", "Update") == FieldSet.from_paths([LABELS])
    assert owned(relabelled, "kubectl-edit", "Update") == \
        FieldSet.from_paths([(*LABELS, F("team"))])


def test_removed_fields_leave_every_manager() -> None:
    created = created_by_curl()
    trimmed = copy.deepcopy(created)
    del containers_of(trimmed)[0]["command"]
    track_update(created, trimmed, "kubectl-edit", "apps/v1", T1, node=NODE)
    assert not owned(trimmed, "curl", "Update").has(
        (*CONTAINERS, K({"name": "sleep"}), F("command")))
    # Removing is not setting: the editor owns nothing and gets no entry.
    assert ("kubectl-edit", "Update") not in entries(trimmed)


def test_noop_update_keeps_timestamps() -> None:
    created = created_by_curl()
    same = copy.deepcopy(created)
    same["metadata"]["resourceVersion"] = "12030"
    track_update(created, same, "kubectl-edit", "apps/v1", T1, node=NODE)
    assert same["metadata"]["managedFields"] == created["metadata"]["managedFields"]


@pytest.mark.parametrize("reset", [[], [{}]], ids=["empty-list", "one-empty-entry"])
def test_request_can_reset_managed_fields(reset: list[Any]) -> None:
    created = created_by_curl()
    cleared = copy.deepcopy(created)
    cleared["metadata"]["managedFields"] = reset
    track_update(created, cleared, "kubectl-edit", "apps/v1", T1, node=NODE)
    assert "managedFields" not in cleared["metadata"]
    # An existing object without managedFields is not tracked again until applied to.
    later = copy.deepcopy(cleared)
    later["spec"]["replicas"] = 5
    track_update(cleared, later, "kubectl-scale", "apps/v1", T2, node=NODE)
    assert "managedFields" not in later["metadata"]


def test_request_managed_fields_are_honoured_but_not_on_subresources() -> None:
    created = created_by_curl()
    rewritten = copy.deepcopy(created)
    rewritten["metadata"]["managedFields"] = [{
        "manager": "someone", "operation": "Update", "apiVersion": "apps/v1",
        "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:replicas": {}}}}]
    track_update(created, rewritten, "kubectl-edit", "apps/v1", T1, node=NODE)
    assert [e["manager"] for e in rewritten["metadata"]["managedFields"]] == ["someone"]

    status = copy.deepcopy(created)
    status["metadata"]["managedFields"] = []
    status["status"] = {"replicas": 1}
    track_update(created, status, "kubelet", "apps/v1", T1, "status", node=NODE)
    managers = {(e["manager"], e.get("subresource")) for e in status["metadata"]["managedFields"]}
    assert managers == {("curl", None), ("kubelet", "status")}


def test_reset_fields_are_never_owned() -> None:
    new = copy.deepcopy(CURL_CREATED)
    new["status"] = {"replicas": 4}
    reset = FieldSet.from_paths([(F("status"),)])
    track_update(None, new, "curl", "apps/v1", T0, node=NODE, reset_fields=reset)
    assert owned(new, "curl", "Update").with_prefix(F("status")) == FieldSet()


def test_update_managers_beyond_ten_fold_into_ancient_changes() -> None:
    obj = created_by_curl()
    for index in range(11):
        new = copy.deepcopy(obj)
        new["metadata"].setdefault("labels", {})[f"l{index}"] = "x"
        track_update(obj, new, f"tool-{index:02d}", "apps/v1", f"2024-05-01T10:{index:02d}:00Z",
                     node=NODE)
        obj = new
    managers = [e["manager"] for e in obj["metadata"]["managedFields"]]
    assert len(managers) == 10
    assert "ancient-changes" in managers
    assert "curl" not in managers
    assert "tool-00" not in managers
    ancient = owned(obj, "ancient-changes", "Update")
    assert ancient.has((*LABELS, F("l0")))
    assert ancient.has(REPLICAS)


def test_empty_manager_is_recorded_as_unknown() -> None:
    new = copy.deepcopy(CURL_CREATED)
    track_update(None, new, "", "apps/v1", T0, node=NODE)
    assert [e["manager"] for e in new["metadata"]["managedFields"]] == ["unknown"]


# -- server-side apply --------------------------------------------------------------------------


def test_first_apply_creates_the_object() -> None:
    cfg = config(containers=[{"name": "nginx", "image": "nginx",
                              "ports": [{"containerPort": 80}],
                              "env": [{"name": "MY_NODE_NAME", "valueFrom": {
                                  "fieldRef": {"fieldPath": "spec.nodeName"}}}]}],
                 labels={"app": "web"})
    created = ssa(None, cfg)
    [entry] = created["metadata"]["managedFields"]
    assert {k: v for k, v in entry.items() if k != "fieldsV1"} == {
        "manager": "kubectl", "operation": "Apply", "apiVersion": "apps/v1", "time": T0,
        "fieldsType": "FieldsV1"}
    # The same fields kube-apiserver records for this configuration.
    assert orjson.dumps(entry["fieldsV1"]) == (
        b'{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:replicas":{},"f:selector":{},'
        b'"f:template":{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:containers":{'
        b'"k:{\\"name\\":\\"nginx\\"}":{".":{},"f:env":{"k:{\\"name\\":\\"MY_NODE_NAME\\"}":{'
        b'".":{},"f:name":{},"f:valueFrom":{"f:fieldRef":{}}}},"f:image":{},"f:name":{},'
        b'"f:ports":{"k:{\\"containerPort\\":80,\\"protocol\\":\\"TCP\\"}":{".":{},'
        b'"f:containerPort":{}}}}}}}}}')
    without = {k: v for k, v in created["metadata"].items() if k != "managedFields"}
    assert {**created, "metadata": without} == cfg


def test_second_apply_with_a_changed_field_updates_it() -> None:
    live = ssa(None, config(3))
    updated = ssa(live, config(5), now=T1)
    assert updated["spec"]["replicas"] == 5
    assert entries(updated)[("kubectl", "Apply")]["time"] == T1


def test_apply_without_a_field_removes_it() -> None:
    live = ssa(None, config(3, labels={"app": "web", "tier": "front"}))
    updated = ssa(live, config(None, labels={"app": "web"}), now=T1)
    assert "replicas" not in updated["spec"]
    assert updated["metadata"]["labels"] == {"app": "web"}
    assert not owned(updated, "kubectl").has(REPLICAS)


def test_apply_without_a_list_element_removes_it() -> None:
    two = [{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}]
    live = ssa(None, config(containers=two))
    updated = ssa(live, config(containers=[{"name": "b", "image": "b:1"}]), now=T1)
    assert containers_of(updated) == [{"name": "b", "image": "b:1"}]
    assert not owned(updated, "kubectl").has((*CONTAINERS, K({"name": "a"})))


def test_field_dropped_by_its_applier_stays_when_someone_else_owns_it() -> None:
    live = ssa(None, config(3))
    shared = ssa(live, config(3), "ci-bot", now=T1)  # same value: shared ownership
    assert owned(shared, "kubectl").has(REPLICAS)
    assert owned(shared, "ci-bot").has(REPLICAS)
    updated = ssa(shared, config(None), now=T2)
    assert updated["spec"]["replicas"] == 3
    assert not owned(updated, "kubectl").has(REPLICAS)
    assert owned(updated, "ci-bot").has(REPLICAS)


def test_same_value_from_two_appliers_is_shared_without_conflict() -> None:
    live = ssa(None, config(3))
    other = ssa(live, config(3), "ci-bot", now=T1)
    assert other["spec"] == live["spec"]
    # Nothing changed, so the new applier's entry has no timestamp (as upstream).
    assert "time" not in entries(other)[("ci-bot", "Apply")]
    assert entries(other)[("kubectl", "Apply")]["time"] == T0


def scaled(live: dict[str, Any], replicas: int, manager: str = "kubectl-scale",
           subresource: str = "scale") -> dict[str, Any]:
    new = copy.deepcopy(live)
    new["spec"]["replicas"] = replicas
    track_update(live, new, manager, "apps/v1", T1, subresource, node=NODE)
    return new


def test_conflict_with_an_update_manager_after_scale() -> None:
    live = scaled(ssa(None, config(3)), 5)
    assert owned(live, "kubectl-scale", "Update") == FieldSet.from_paths([REPLICAS])
    with pytest.raises(StatusError) as raised:
        ssa(live, config(4), now=T2)
    error = raised.value
    assert (error.code, error.reason) == (409, "Conflict")
    assert error.message == ('Apply failed with 1 conflict: conflict with "kubectl-scale" with '
                             'subresource "scale" using apps/v1: .spec.replicas')
    assert error.details == {"causes": [{
        "reason": "FieldManagerConflict",
        "message": 'conflict with "kubectl-scale" with subresource "scale" using apps/v1',
        "field": ".spec.replicas"}]}


def test_conflict_message_for_client_side_apply_manager() -> None:
    live = scaled(ssa(None, config(3)), 5, "kubectl-client-side-apply", "")
    with pytest.raises(StatusError) as raised:
        ssa(live, config(4), now=T2)
    assert raised.value.message == ('Apply failed with 1 conflict: conflict with '
                                    '"kubectl-client-side-apply" using apps/v1: .spec.replicas')


def test_force_moves_ownership_to_the_applier() -> None:
    live = scaled(ssa(None, config(3)), 5)
    forced = ssa(live, config(4), now=T2, force=True)
    assert forced["spec"]["replicas"] == 4
    assert owned(forced, "kubectl").has(REPLICAS)
    # The scaler owned nothing else and disappears.
    assert ("kubectl-scale", "Update") not in entries(forced)


def test_applying_the_current_value_of_an_updated_field_does_not_conflict() -> None:
    live = scaled(ssa(None, config(3)), 5)
    shared = ssa(live, config(5), now=T2)
    assert owned(shared, "kubectl").has(REPLICAS)
    assert owned(shared, "kubectl-scale", "Update").has(REPLICAS)


def test_conflicts_with_several_managers_are_grouped() -> None:
    live = ssa(None, config(3, labels={"a": "1"}))
    live = ssa(live, config(3, labels={"a": "1", "b": "2"}), "bot", now=T1)
    with pytest.raises(StatusError) as raised:
        ssa(live, config(4, labels={"a": "9", "b": "9"}), "third", now=T2)
    assert raised.value.message == (
        'Apply failed with 5 conflicts: conflicts with "bot":\n'
        "- .metadata.labels.a\n- .metadata.labels.b\n- .spec.replicas\n"
        'conflicts with "kubectl":\n- .metadata.labels.a\n- .spec.replicas')
    causes = raised.value.details["causes"]  # type: ignore[index]
    assert [(c["message"], c["field"]) for c in causes] == [
        ('conflict with "bot"', ".metadata.labels.a"),
        ('conflict with "bot"', ".metadata.labels.b"),
        ('conflict with "bot"', ".spec.replicas"),
        ('conflict with "kubectl"', ".metadata.labels.a"),
        ('conflict with "kubectl"', ".spec.replicas"),
    ]


def test_labels_merge_per_key_between_appliers() -> None:
    live = ssa(None, config(labels={"app": "web"}))
    mine = ssa(live, {"apiVersion": "apps/v1", "kind": "Deployment",
                      "metadata": {"name": "web", "namespace": "default",
                                   "labels": {"owner": "team-a"}}}, "labeller", now=T1)
    assert mine["metadata"]["labels"] == {"app": "web", "owner": "team-a"}
    assert owned(mine, "labeller") == FieldSet.from_paths([(*LABELS, F("owner"))])
    # kubectl re-applies its own labels only: the labeller's label survives.
    again = ssa(mine, config(labels={"app": "web", "env": "prod"}), now=T2)
    assert again["metadata"]["labels"] == {"app": "web", "owner": "team-a", "env": "prod"}


def test_containers_merge_by_name_between_appliers() -> None:
    live = ssa(None, config(containers=[{"name": "app", "image": "app:1"}]))
    sidecar = {"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": "web", "namespace": "default"},
               "spec": {"template": {"spec": {"containers": [
                   {"name": "proxy", "image": "envoy:1"}]}}}}
    both = ssa(live, sidecar, "mesh-injector", now=T1)
    assert [c["name"] for c in containers_of(both)] == ["app", "proxy"]
    updated = ssa(both, config(containers=[{"name": "app", "image": "app:2"}]), now=T2)
    assert containers_of(updated) == [{"name": "app", "image": "app:2"},
                                      {"name": "proxy", "image": "envoy:1"}]


def test_ports_keyed_by_container_port_and_protocol() -> None:
    ports = [{"containerPort": 53}, {"containerPort": 53, "protocol": "UDP"}]
    live = ssa(None, config(containers=[{"name": "dns", "image": "d", "ports": ports}]))
    keys = owned(live, "kubectl").with_prefix(F("spec")).with_prefix(F("template")) \
        .with_prefix(F("spec")).with_prefix(F("containers")).with_prefix(K({"name": "dns"})) \
        .with_prefix(F("ports")).members
    assert keys == {K({"containerPort": 53, "protocol": "TCP"}),
                    K({"containerPort": 53, "protocol": "UDP"})}
    # Dropping the UDP port removes only that element.
    updated = ssa(live, config(containers=[{"name": "dns", "image": "d",
                                            "ports": [{"containerPort": 53}]}]), now=T1)
    assert containers_of(updated)[0]["ports"] == [{"containerPort": 53}]


def test_env_merged_by_name_between_appliers() -> None:
    live = ssa(None, config(containers=[{"name": "a", "image": "i",
                                         "env": [{"name": "LOG", "value": "info"}]}]))
    injected = {"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web", "namespace": "default"},
                "spec": {"template": {"spec": {"containers": [
                    {"name": "a", "env": [{"name": "TRACE", "value": "1"}]}]}}}}
    both = ssa(live, injected, "tracer", now=T1)
    assert containers_of(both)[0]["env"] == [{"name": "LOG", "value": "info"},
                                             {"name": "TRACE", "value": "1"}]
    changed = ssa(both, config(containers=[{"name": "a", "image": "i",
                                            "env": [{"name": "LOG", "value": "debug"}]}]),
                  now=T2)
    assert containers_of(changed)[0]["env"] == [{"name": "LOG", "value": "debug"},
                                                {"name": "TRACE", "value": "1"}]


def test_finalizers_have_set_semantics() -> None:
    live = ssa(None, config(finalizers=["example.com/a"]))
    other = {"apiVersion": "apps/v1", "kind": "Deployment",
             "metadata": {"name": "web", "namespace": "default",
                          "finalizers": ["example.com/b"]}}
    both = ssa(live, other, "controller", now=T1)
    assert both["metadata"]["finalizers"] == ["example.com/a", "example.com/b"]
    assert owned(both, "controller") == FieldSet.from_paths([(*FINALIZERS, V("example.com/b"))])
    # kubectl drops its finalizer; the controller's stays.
    dropped = ssa(both, config(finalizers=[]), now=T2)
    assert dropped["metadata"]["finalizers"] == ["example.com/b"]


def test_noop_apply_keeps_object_and_time() -> None:
    live = ssa(None, config(3))
    again = ssa(live, config(3), now=T1)
    assert again == live


def test_first_apply_to_an_untracked_object_records_before_first_apply() -> None:
    existing = {**config(3), "metadata": {"name": "web", "namespace": "default",
                                          "uid": "u1", "resourceVersion": "7"}}
    applied = ssa(existing, config(3, labels={"a": "b"}), now=T1)
    before = owned(applied, "before-first-apply", "Update")
    assert before.has(REPLICAS)
    assert not before.has((F("metadata"), F("uid")))
    assert entries(applied)[("before-first-apply", "Update")]["time"] == T1


def test_kubectl_takes_over_fields_from_client_side_apply() -> None:
    # An object created by `kubectl apply` (client side) and then scaled by hand... no:
    # its replicas were set by client-side apply, recorded in the annotation.
    cfg = config(3)
    last_applied = orjson.dumps(cfg).decode() + "\n"
    live = copy.deepcopy(cfg)
    live["metadata"]["annotations"] = {LAST_APPLIED_ANNOTATION: last_applied}
    track_update(None, live, "kubectl-client-side-apply", "apps/v1", T0, node=NODE)

    # Another tool would conflict on replicas...
    with pytest.raises(StatusError):
        ssa(live, config(4), "other-tool", now=T1)
    # ...but `kubectl apply --server-side` takes over what its annotation proves it set.
    upgraded = ssa(live, config(4), "kubectl", now=T1)
    assert upgraded["spec"]["replicas"] == 4
    assert owned(upgraded, "kubectl").has(REPLICAS)
    annotation = upgraded["metadata"]["annotations"][LAST_APPLIED_ANNOTATION]
    assert orjson.loads(annotation)["spec"]["replicas"] == 4
    assert annotation.endswith("\n")


def test_last_applied_annotation_is_encoding_json() -> None:
    # runtime.Encode(UnstructuredJSONScheme) is encoding/json: HTML escaped, and since
    # Go 1.22 \b and \f as short escapes (json-iterator would write \u0008 and \u000c).
    cfg = config(3)
    cfg["metadata"]["labels"] = {"note": "a<b\bc"}
    last_applied = orjson.dumps(config(3)).decode() + "\n"
    live = copy.deepcopy(config(3))
    live["metadata"]["annotations"] = {LAST_APPLIED_ANNOTATION: last_applied}
    track_update(None, live, "kubectl-client-side-apply", "apps/v1", T0, node=NODE)
    upgraded = ssa(live, cfg, "kubectl", now=T1)
    annotation = upgraded["metadata"]["annotations"][LAST_APPLIED_ANNOTATION]
    assert '"labels":{"note":"a\\u003cb\\bc"}' in annotation


def test_kubectl_still_conflicts_on_fields_changed_since_client_side_apply() -> None:
    cfg = config(3)
    live = copy.deepcopy(cfg)
    live["metadata"]["annotations"] = {LAST_APPLIED_ANNOTATION: orjson.dumps(cfg).decode()}
    track_update(None, live, "kubectl-client-side-apply", "apps/v1", T0, node=NODE)
    live = scaled(live, 7, "kubectl-scale", "")  # the live value no longer matches
    with pytest.raises(StatusError) as raised:
        ssa(live, config(4), "kubectl", now=T2)
    assert '"kubectl-scale" using apps/v1: .spec.replicas' in raised.value.message


def test_apply_never_owns_server_managed_metadata() -> None:
    cfg = config(3)
    cfg["metadata"].update({"resourceVersion": "5", "uid": "u", "generation": 2})
    created = ssa(None, cfg)
    fields = owned(created, "kubectl")
    for name in ("name", "namespace", "resourceVersion", "uid", "generation", "managedFields"):
        assert not fields.has((F("metadata"), F(name)))
    assert not fields.has((F("apiVersion"),))
    assert not fields.has((F("kind"),))


def test_apply_does_not_modify_its_inputs() -> None:
    live = ssa(None, config(3))
    live_before = copy.deepcopy(live)
    cfg = config(4, labels={"x": "y"})
    cfg_before = copy.deepcopy(cfg)
    result = ssa(live, cfg, now=T1)
    assert live == live_before
    assert cfg == cfg_before
    result["spec"]["template"]["spec"]["containers"][0]["image"] = "changed"
    assert live == live_before
    assert cfg == cfg_before


def test_apply_reset_fields_are_not_owned() -> None:
    cfg = {**config(3), "status": {"replicas": 9}}
    created = apply(None, cfg, "kubectl", force=False, api_version="apps/v1", now=T0,
                    node=NODE, reset_fields=FieldSet.from_paths([(F("status"),)]))
    assert owned(created, "kubectl").with_prefix(F("status")) == FieldSet()


def test_schemaless_custom_resource_apply() -> None:
    cr = {"apiVersion": "example.com/v1", "kind": "Widget",
          "metadata": {"name": "w", "namespace": "default"},
          "spec": {"size": 1, "ports": [80], "opts": {"a": 1}}}
    live = apply(None, cr, "kubectl", force=False, api_version="example.com/v1", now=T0,
                 node=None)
    other = {"apiVersion": "example.com/v1", "kind": "Widget",
             "metadata": {"name": "w", "namespace": "default"},
             "spec": {"opts": {"b": 2}}}
    merged = apply(live, other, "tuner", force=False, api_version="example.com/v1", now=T1,
                   node=None)
    assert merged["spec"] == {"size": 1, "ports": [80], "opts": {"a": 1, "b": 2}}


@pytest.mark.parametrize(
    ("cfg", "code", "message"),
    [
        pytest.param({**config(), "apiVersion": "apps/v1beta1"}, 400,
                     "invalid object type: apps/v1beta1, Kind=Deployment", id="wrong-version"),
        pytest.param({**config(), "kind": "StatefulSet"}, 400,
                     "invalid object type: apps/v1, Kind=StatefulSet", id="wrong-kind"),
        pytest.param({**config(), "metadata": {"name": "web", "managedFields": []}}, 400,
                     "metadata.managedFields must be nil", id="managed-fields"),
        pytest.param({**config(), "spec": {**config()["spec"], "topologyKeys": ["a"]}}, 500,
                     "failed to create typed patch object (default/web; apps/v1, "
                     "Kind=Deployment): .spec.topologyKeys: field not declared in schema",
                     id="undeclared-field"),
        pytest.param(config(containers=[{"name": "c", "env": [{"name": "A"}, {"name": "A"}]}]),
                     500, "failed to create typed patch object (default/web; apps/v1, "
                     'Kind=Deployment): .spec.template.spec.containers[name="c"].env: '
                     'duplicate entries for key [name="A"]', id="duplicate-keys"),
        pytest.param(config(containers=[{"name": "c", "env": [{"name": "A"}, {"name": "A"}],
                                         "ports": [{"containerPort": 1},
                                                   {"containerPort": 1}]}]),
                     500, "failed to create typed patch object (default/web; apps/v1, "
                     "Kind=Deployment): errors:\n"
                     '  .spec.template.spec.containers[name="c"].env: duplicate entries for '
                     'key [name="A"]\n'
                     '  .spec.template.spec.containers[name="c"].ports: duplicate entries for '
                     'key [containerPort=1,protocol="TCP"]', id="several-errors"),
    ],
)
def test_apply_rejects_bad_requests(cfg: dict[str, Any], code: int, message: str) -> None:
    with pytest.raises(StatusError) as raised:
        apply(None, cfg, "kubectl", force=False, api_version="apps/v1", now=T0, node=NODE,
              kind="Deployment")
    assert (raised.value.code, raised.value.message) == (code, message)


def test_apply_with_undecodable_live_managed_fields() -> None:
    live = ssa(None, config())
    live["metadata"]["managedFields"][0]["operation"] = "Patch"
    with pytest.raises(StatusError) as raised:
        ssa(live, config(), now=T1)
    assert raised.value.code == 500
    assert raised.value.message == \
        "failed to decode managed fields: operation must be `Apply` or `Update`"


# -- entries and managers -------------------------------------------------------------------


def test_entries_sort_apply_first_then_by_time() -> None:
    live = scaled(ssa(None, config(3)), 5)
    live = ssa(live, config(5, labels={"z": "1"}), "another", now=T2)
    order = [(e["operation"], e["manager"]) for e in live["metadata"]["managedFields"]]
    assert order == [("Apply", "kubectl"), ("Apply", "another"), ("Update", "kubectl-scale")]


def test_decode_rejects_bad_entries() -> None:
    base = {"manager": "m", "operation": "Update", "apiVersion": "v1", "fieldsType": "FieldsV1"}
    assert decode_managed_fields([base])[("m", "Update", "v1", "")].fields == FieldSet()
    for broken, message in [({"apiVersion": ""}, "apiVersion must not be empty"),
                            ({"fieldsType": ""}, "missing fieldsType in managed fields entry 0"),
                            ({"fieldsType": "FieldsV2"},
                             'invalid fieldsType "FieldsV2" in managed fields entry 0')]:
        with pytest.raises(ValueError, match=message):
            decode_managed_fields([{**base, **broken}])


@pytest.mark.parametrize(
    ("user_agent", "manager"),
    [
        pytest.param("kubectl/v1.37.1 (linux/amd64) kubernetes/abcdef", "kubectl", id="kubectl"),
        pytest.param("kube-controller-manager/v1.37.0 (linux/amd64) kubernetes/x/leader",
                     "kube-controller-manager", id="controller"),
        pytest.param("curl/8.5.0", "curl", id="curl"),
        pytest.param("Go-http-client/2.0", "Go-http-client", id="go"),
        pytest.param("my\ttool", "mytool", id="non-printable-dropped"),
        pytest.param("x" * 200, "x" * 128, id="truncated-to-128-bytes"),
        pytest.param("", "", id="empty"),
    ],
)
def test_manager_from_user_agent(user_agent: str, manager: str) -> None:
    assert manager_from_user_agent(user_agent) == manager


def test_field_manager_parameter_wins_over_user_agent() -> None:
    assert manager_or_user_agent("kubectl-edit", "kubectl/v1.37.1") == "kubectl-edit"
    assert manager_or_user_agent(None, "kubectl/v1.37.1") == "kubectl"
