"""Strategic merge patch against the shapes kubectl sends.

Cases come from what ``kubectl patch`` (strategic is its default type) and client-side
``kubectl apply`` (a three-way strategic patch with ``$setElementOrder``, ``$retainKeys``,
``$patch: delete`` and ``null``) put on the wire.
"""

from __future__ import annotations

import copy
import random
from typing import Any

import pytest

from kubesmith.api import schema
from kubesmith.api.errors import StatusError
from kubesmith.api.patch import apply_patch, apply_strategic_merge_patch
from kubesmith.api.schema import SchemaNode

DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {
        "name": "web", "namespace": "default",
        "labels": {"app": "web", "tier": "frontend"},
        "annotations": {"note": "x"},
        "finalizers": ["example.com/a", "example.com/b"],
    },
    "spec": {
        "replicas": 3,
        "selector": {"matchLabels": {"app": "web"}},
        "strategy": {"type": "RollingUpdate",
                     "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {
                "containers": [
                    {"name": "web", "image": "nginx:1.25", "args": ["--a", "--b"],
                     "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}],
                     "ports": [{"containerPort": 80, "protocol": "TCP"},
                               {"containerPort": 443, "protocol": "TCP"}],
                     "volumeMounts": [{"name": "data", "mountPath": "/data"}]},
                    {"name": "sidecar", "image": "busybox"},
                ],
                "volumes": [{"name": "data", "emptyDir": {}}],
                "tolerations": [{"key": "a", "operator": "Exists"}],
            },
        },
    },
}

POD_SPEC = "spec.template.spec"
WEB = f"{POD_SPEC}.containers.0"


def deployment_node() -> SchemaNode:
    node = schema.root("apps", "v1", "Deployment")
    assert node is not None
    return node


def at(obj: Any, dotted: str) -> Any:
    """``a.b.0.c``: dict keys and list indices; a missing step yields ``KeyError``."""
    for part in dotted.split("."):
        obj = obj[int(part)] if isinstance(obj, list) else obj[part]
    return obj


def names(items: list[dict[str, Any]], key: str = "name") -> list[Any]:
    return [item[key] for item in items]


def patch_at(dotted: str, value: Any) -> dict[str, Any]:
    """Nest ``value`` under a dotted path of map keys."""
    for part in reversed(dotted.split(".")):
        value = {part: value}
    assert isinstance(value, dict)
    return value


CASES = [
    pytest.param(
        patch_at(POD_SPEC, {"containers": [{"name": "web", "image": "nginx:1.26"}]}),
        {f"{WEB}.image": "nginx:1.26", f"{WEB}.args": ["--a", "--b"],
         f"{POD_SPEC}.containers.1": {"name": "sidecar", "image": "busybox"}},
        id="kubectl-patch-image-merges-by-name"),
    pytest.param(
        patch_at(POD_SPEC, {"containers": [{"name": "new", "image": "redis"}]}),
        {f"{POD_SPEC}.containers.0": {"name": "new", "image": "redis"},
         f"{POD_SPEC}.containers.1.name": "web", f"{POD_SPEC}.containers.2.name": "sidecar"},
        id="new-container-goes-first"),
    pytest.param(
        patch_at(POD_SPEC, {"containers": [
            {"name": "web", "env": [{"name": "X", "value": "10"}, {"name": "Z", "value": "3"}]}]}),
        {f"{WEB}.env": [{"name": "X", "value": "10"}, {"name": "Z", "value": "3"},
                        {"name": "Y", "value": "2"}]},
        id="env-merges-by-name"),
    pytest.param(
        patch_at(POD_SPEC, {"containers": [
            {"name": "web", "ports": [{"containerPort": 80, "name": "http"}]}]}),
        {f"{WEB}.ports": [{"containerPort": 80, "protocol": "TCP", "name": "http"},
                          {"containerPort": 443, "protocol": "TCP"}]},
        id="ports-merge-by-container-port"),
    pytest.param(
        patch_at(POD_SPEC, {"containers": [
            {"name": "web", "ports": [{"containerPort": 8080}]}]}),
        {f"{WEB}.ports": [{"containerPort": 8080}, {"containerPort": 80, "protocol": "TCP"},
                          {"containerPort": 443, "protocol": "TCP"}]},
        id="new-port"),
    pytest.param(
        patch_at(POD_SPEC, {"volumes": [{"name": "cache", "emptyDir": {"medium": "Memory"}}]}),
        {f"{POD_SPEC}.volumes": [{"name": "cache", "emptyDir": {"medium": "Memory"}},
                                 {"name": "data", "emptyDir": {}}]},
        id="volumes-merge-by-name"),
    pytest.param(
        patch_at(POD_SPEC, {"volumes": [{"name": "data", "$retainKeys": ["configMap", "name"],
                                         "configMap": {"name": "cfg"}}]}),
        {f"{POD_SPEC}.volumes": [{"name": "data", "configMap": {"name": "cfg"}}]},
        id="volume-source-swapped-with-retainkeys"),
    pytest.param(
        patch_at(POD_SPEC, {"containers": [{"name": "sidecar", "$patch": "delete"}]}),
        {f"{POD_SPEC}.containers": [at(DEPLOYMENT, WEB)]},
        id="delete-container"),
    pytest.param(
        patch_at(POD_SPEC, {"containers": [{"name": "ghost", "$patch": "delete"}]}),
        {f"{POD_SPEC}.containers": at(DEPLOYMENT, f"{POD_SPEC}.containers")},
        id="delete-absent-container-is-a-no-op"),
    pytest.param(
        patch_at(POD_SPEC, {"$setElementOrder/containers": [{"name": "sidecar"},
                                                            {"name": "web"}]}),
        {f"{POD_SPEC}.containers": [at(DEPLOYMENT, f"{POD_SPEC}.containers.1"),
                                    at(DEPLOYMENT, WEB)]},
        id="set-element-order-reorders"),
    pytest.param(
        patch_at(POD_SPEC, {"$setElementOrder/containers": [{"name": "sidecar"}, {"name": "web"}],
                            "containers": [{"name": "sidecar", "image": "alpine"}]}),
        {f"{POD_SPEC}.containers.0": {"name": "sidecar", "image": "alpine"},
         f"{POD_SPEC}.containers.1.name": "web"},
        id="set-element-order-with-changes"),
    pytest.param(
        {"metadata": {"finalizers": ["example.com/c", "example.com/a"]}},
        {"metadata.finalizers": ["example.com/c", "example.com/a", "example.com/b"]},
        id="finalizers-union"),
    pytest.param(
        {"metadata": {"$deleteFromPrimitiveList/finalizers": ["example.com/a", "nope"]}},
        {"metadata.finalizers": ["example.com/b"]},
        id="delete-from-primitive-list"),
    pytest.param(
        {"metadata": {"$setElementOrder/finalizers": ["example.com/b", "example.com/c"],
                      "$deleteFromPrimitiveList/finalizers": ["example.com/a"],
                      "finalizers": ["example.com/c"]}},
        {"metadata.finalizers": ["example.com/b", "example.com/c"]},
        id="finalizers-as-kubectl-apply-sends-them"),
    pytest.param(
        {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}},
        {"spec.strategy": {"type": "Recreate"}},
        id="retainkeys-drops-rolling-update"),
    pytest.param(
        {"spec": {"strategy": {"type": "Recreate"}}},
        {"spec.strategy": {"type": "Recreate",
                           "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}},
        id="without-retainkeys-strategy-merges"),
    pytest.param(
        {"metadata": {"labels": {"tier": None, "ghost": None}}},
        {"metadata.labels": {"app": "web"}},
        id="null-removes-label"),
    pytest.param(
        {"metadata": {"labels": {"$patch": "replace", "only": "this"}}},
        {"metadata.labels": {"only": "this"}},
        id="replace-directive-on-map"),
    pytest.param(
        {"spec": {"strategy": {"$patch": "delete"}}},
        {"spec.strategy": {}},
        id="delete-directive-on-map"),
    pytest.param(
        patch_at(POD_SPEC, {"containers": [{"name": "solo", "image": "x"}, {"$patch": "replace"}]}),
        {f"{POD_SPEC}.containers": [{"name": "solo", "image": "x"}]},
        id="replace-directive-in-list"),
    pytest.param(
        patch_at(POD_SPEC, {"tolerations": [{"key": "b", "operator": "Exists"}],
                            "containers": [{"name": "web", "args": ["--c"]}]}),
        {f"{POD_SPEC}.tolerations": [{"key": "b", "operator": "Exists"}],
         f"{WEB}.args": ["--c"]},
        id="lists-without-merge-strategy-are-replaced"),
    pytest.param(
        {"spec": {"replicas": "3"}},
        {"spec.replicas": "3"},
        id="type-change-replaces"),
    pytest.param(
        {"spec": {"paused": True, "template": {"metadata": {"annotations": {"a": "b"}}}}},
        {"spec.paused": True, "spec.template.metadata.annotations": {"a": "b"},
         "spec.template.metadata.labels": {"app": "web"}},
        id="new-fields"),
    pytest.param(
        patch_at(POD_SPEC, {"containers": [{"name": "sidecar", "env": [
            {"name": "A", "value": "1"}, {"name": "B", "$patch": "delete"}],
            "$setElementOrder/env": [{"name": "A"}]}]}),
        {f"{POD_SPEC}.containers.1.env": [{"name": "A", "value": "1"}]},
        id="directives-inside-a-new-list-are-applied"),
    pytest.param(
        {"spec": {"template": {"spec": {"securityContext": {"runAsUser": None,
                                                            "runAsGroup": 1}}}}},
        {f"{POD_SPEC}.securityContext": {"runAsGroup": 1}},
        id="nulls-inside-a-new-map-are-dropped"),
    pytest.param(
        {}, {"spec.replicas": 3, "metadata.labels": {"app": "web", "tier": "frontend"}},
        id="empty-patch"),
    pytest.param(
        None, {"spec.replicas": 3}, id="null-patch"),
]


@pytest.mark.parametrize(("patch", "expected"), CASES)
def test_strategic_merge_patch(patch: Any, expected: dict[str, Any]) -> None:
    original = copy.deepcopy(DEPLOYMENT)
    patch_before = copy.deepcopy(patch)
    result = apply_strategic_merge_patch(original, patch, deployment_node())
    for dotted, value in expected.items():
        assert at(result, dotted) == value, dotted
    assert original == DEPLOYMENT
    assert patch == patch_before


def test_kubectl_apply_three_way_patch() -> None:
    """The patch ``kubectl apply`` sends after the manifest dropped ``replicas``, the ``tier``
    label, env ``Y``, port 443 and the sidecar, and switched to ``Recreate``."""
    patch = {
        "metadata": {
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{...}\n"},
            "labels": {"tier": None},
        },
        "spec": {
            "replicas": None,
            "strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": None},
            "template": {"spec": {
                "$setElementOrder/containers": [{"name": "web"}],
                "containers": [
                    {"$setElementOrder/env": [{"name": "X"}],
                     "$setElementOrder/ports": [{"containerPort": 80}],
                     "env": [{"$patch": "delete", "name": "Y"}],
                     "ports": [{"$patch": "delete", "containerPort": 443}],
                     "name": "web"},
                    {"$patch": "delete", "name": "sidecar"},
                ],
            }},
        },
    }
    result = apply_strategic_merge_patch(DEPLOYMENT, patch, deployment_node())
    assert "replicas" not in result["spec"]
    assert result["metadata"]["labels"] == {"app": "web"}
    assert result["metadata"]["annotations"] == {
        "note": "x", "kubectl.kubernetes.io/last-applied-configuration": "{...}\n"}
    assert result["spec"]["strategy"] == {"type": "Recreate"}
    containers = at(result, f"{POD_SPEC}.containers")
    assert names(containers) == ["web"]
    assert containers[0]["env"] == [{"name": "X", "value": "1"}]
    assert containers[0]["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert containers[0]["image"] == "nginx:1.25"


def test_kubectl_apply_adds_and_reorders() -> None:
    """Manifest reorders containers, adds env ``Z`` between ``X`` and ``Y``."""
    patch = patch_at(POD_SPEC, {
        "$setElementOrder/containers": [{"name": "sidecar"}, {"name": "web"}],
        "containers": [{"$setElementOrder/env": [{"name": "X"}, {"name": "Z"}, {"name": "Y"}],
                        "env": [{"name": "Z", "value": "3"}], "name": "web"}],
    })
    result = apply_strategic_merge_patch(DEPLOYMENT, patch, deployment_node())
    containers = at(result, f"{POD_SPEC}.containers")
    assert names(containers) == ["sidecar", "web"]
    assert names(containers[1]["env"]) == ["X", "Z", "Y"]


def test_pdb_selector_has_replace_strategy() -> None:
    node = schema.root("policy", "v1", "PodDisruptionBudget")
    pdb = {"spec": {"selector": {"matchLabels": {"a": "1"}}, "minAvailable": 1}}
    result = apply_strategic_merge_patch(
        pdb, {"spec": {"selector": {"matchLabels": {"b": "2"}}}}, node)
    assert result["spec"] == {"selector": {"matchLabels": {"b": "2"}}, "minAvailable": 1}


def test_service_ports_merge_by_port() -> None:
    node = schema.root("", "v1", "Service")
    service = {"spec": {"ports": [{"port": 80, "targetPort": 80, "protocol": "TCP"},
                                  {"port": 443, "targetPort": 443}]}}
    result = apply_strategic_merge_patch(
        service, {"spec": {"ports": [{"port": 80, "targetPort": 8080}]}}, node)
    assert result["spec"]["ports"] == [{"port": 80, "targetPort": 8080, "protocol": "TCP"},
                                       {"port": 443, "targetPort": 443}]


def test_merge_keys_compare_with_their_json_type() -> None:
    """Go compares merge keys as typed values: port ``80`` is not port ``80.0``."""
    patch = patch_at(POD_SPEC, {"containers": [
        {"name": "web", "ports": [{"containerPort": 80.0, "name": "float"}]}]})
    result = apply_strategic_merge_patch(DEPLOYMENT, patch, deployment_node())
    assert [p.get("name") for p in at(result, f"{WEB}.ports")] == ["float", None, None]


def test_raw_extension_falls_back_to_merge_patch() -> None:
    node = schema.root("apps", "v1", "ControllerRevision")
    revision = {"revision": 1, "data": {"spec": {"list": [1, 2], "keep": True, "drop": 1}}}
    patch = {"data": {"spec": {"list": [3], "drop": None, "$patch": "literal"}}}
    result = apply_strategic_merge_patch(revision, patch, node)
    assert result["data"] == {"spec": {"list": [3], "keep": True, "$patch": "literal"}}


def test_without_schema_it_is_a_merge_patch() -> None:
    widget = {"apiVersion": "example.com/v1", "kind": "Widget",
              "spec": {"items": [{"name": "a"}], "size": 1}}
    patch = {"spec": {"items": [{"name": "b"}], "size": None}}
    result = apply_strategic_merge_patch(widget, patch, None)
    assert result["spec"] == {"items": [{"name": "b"}]}


def test_custom_resource_schema_drives_maps_and_preserved_fields() -> None:
    node = SchemaNode.from_openapi({"type": "object", "properties": {"spec": {
        "type": "object", "properties": {
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        }}}})
    widget = {"spec": {"labels": {"a": "1"}, "free": {"x": [1], "y": 2}}}
    patch = {"spec": {"labels": {"$patch": "replace", "b": "2"}, "free": {"x": [2]}}}
    result = apply_strategic_merge_patch(widget, patch, node)
    assert result["spec"] == {"labels": {"b": "2"}, "free": {"x": [2], "y": 2}}


def test_result_shares_nothing_with_inputs() -> None:
    original = copy.deepcopy(DEPLOYMENT)
    patch = patch_at(POD_SPEC, {"containers": [{"name": "new", "env": [{"name": "A"}]}]})
    result = apply_strategic_merge_patch(original, patch, deployment_node())
    at(result, f"{POD_SPEC}.containers.0.env").append({"name": "B"})
    at(result, "metadata.labels")["mutated"] = "yes"
    at(result, f"{WEB}.env").clear()
    assert original == DEPLOYMENT
    assert patch == patch_at(POD_SPEC, {"containers": [{"name": "new", "env": [{"name": "A"}]}]})


BAD_REQUESTS = [
    pytest.param([{"op": "add"}],
                 "json: cannot unmarshal array into Go value of type map[string]interface {}",
                 id="not-an-object"),
    pytest.param({"spec": {"strategy": {"$patch": "merge", "type": "x"}}},
                 "unknown patch type: merge in map: map[$patch:merge type:x]",
                 id="merge-directive-on-map"),
    pytest.param(patch_at(POD_SPEC, {"containers": [{"name": "web", "$patch": "merge"}]}),
                 "merging lists cannot yet be specified in the patch",
                 id="merge-directive-in-list"),
    pytest.param(patch_at(POD_SPEC, {"containers": [{"name": "web", "$patch": "zap"}]}),
                 "unknown patch type: zap in map: map[$patch:zap name:web]",
                 id="unknown-directive-in-list"),
    pytest.param(patch_at(POD_SPEC, {"containers": [{"image": "x"}]}),
                 "map: map[image:x] does not contain declared merge key: name",
                 id="missing-merge-key"),
    pytest.param(patch_at(POD_SPEC, {"containers": [{"$patch": "delete"}]}),
                 "map: map[$patch:delete] does not contain declared merge key: name",
                 id="delete-without-merge-key"),
    pytest.param({"spec": {"strategy": {"$retainKeys": "type"}}},
                 "invalid patch format of retainKeys", id="retainkeys-not-a-list"),
    pytest.param({"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {}}}},
                 "invalid patch format of retainKeys", id="retainkeys-missing-a-patched-key"),
    pytest.param(patch_at(POD_SPEC, {"$setElementOrder/containers": "web"}),
                 "expected a []interface {}, but received a string",
                 id="set-element-order-not-a-list"),
    pytest.param(patch_at(POD_SPEC, {"$setElementOrder": [{"name": "web"}]}),
                 "invalid patch format of setElementOrder list",
                 id="set-element-order-without-field"),
    pytest.param(patch_at(POD_SPEC, {"$setElementOrder/containers": [{"name": "sidecar"}],
                                     "containers": [{"name": "web", "image": "x"}]}),
                 "The order in patch list:\n[map[image:x name:web]]\n doesn't match "
                 "$setElementOrder list:\n[map[name:sidecar]]\n",
                 id="set-element-order-mismatch"),
    pytest.param({"metadata": {"$deleteFromPrimitiveList": ["a"]}},
                 "invalid patch format of primitive list", id="delete-list-without-field"),
    pytest.param({"metadata": {"$deleteFromPrimitiveList/finalizers": "a"}},
                 "invalid patch format of primitive list", id="delete-list-not-a-list"),
    pytest.param({"metadata": {"finalizers": [{"name": "a"}]}},
                 "list element types are not identical: "
                 "[[example.com/a example.com/b] [map[name:a]]]", id="objects-in-string-list"),
    pytest.param({"metadata": {"finalizers": ["a", 1]}},
                 "list element types are not identical: "
                 "[[example.com/a example.com/b] [a 1]]", id="mixed-element-types"),
]


@pytest.mark.parametrize(("patch", "message"), BAD_REQUESTS)
def test_malformed_patches_are_bad_requests(patch: Any, message: str) -> None:
    with pytest.raises(StatusError) as caught:
        apply_strategic_merge_patch(DEPLOYMENT, patch, deployment_node())
    assert (caught.value.code, caught.value.reason) == (400, "BadRequest")
    assert caught.value.message == message


def test_objects_in_a_merged_list_without_merge_key() -> None:
    original = {"metadata": {"name": "x", "finalizers": [{"a": 1}]}}
    with pytest.raises(StatusError) as caught:
        apply_strategic_merge_patch(original, {"metadata": {"finalizers": [{"b": 2}]}},
                                    deployment_node())
    assert caught.value.code == 400
    assert caught.value.message == "cannot merge lists without merge key for type string"


@pytest.mark.parametrize(
    ("live", "code"),
    [
        pytest.param([], 422, id="first-element-a-list-is-ErrNoListOfLists"),
        pytest.param(["a"], 400, id="after-a-string-it-is-a-type-mismatch"),
    ],
)
def test_lists_of_lists(live: list[str], code: int) -> None:
    original = {"metadata": {"name": "x", "finalizers": live}}
    with pytest.raises(StatusError) as caught:
        apply_strategic_merge_patch(original, {"metadata": {"finalizers": [["x"]]}},
                                    deployment_node())
    assert caught.value.code == code


def _random_value(rng: random.Random, depth: int) -> Any:
    choices: list[Any] = [None, "web", "X", 80, 80.0, True, "$patch", "delete", "replace"]
    if depth < 3:
        choices.extend(["dict", "list", "dict", "list"])
    pick = rng.choice(choices)
    if pick == "dict":
        keys = ["name", "image", "env", "ports", "containerPort", "$patch", "$retainKeys",
                "$setElementOrder/env", "$deleteFromPrimitiveList/args", "args", "value"]
        return {rng.choice(keys): _random_value(rng, depth + 1)
                for _ in range(rng.randint(0, 3))}
    if pick == "list":
        return [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return pick


def _outcome(patch: dict[str, Any], node: SchemaNode) -> int:
    """200 for a result, else the StatusError's code (anything else propagates)."""
    try:
        result = apply_strategic_merge_patch(DEPLOYMENT, patch, node)
    except StatusError as error:
        return error.code
    assert isinstance(result, dict)
    return 200


def test_arbitrary_patches_never_fail_with_a_server_error() -> None:
    """Whatever a client sends, the outcome is a result or a 4xx, and inputs stay intact."""
    rng = random.Random(20240601)
    node = deployment_node()
    targets = [f"{POD_SPEC}.containers", "metadata", POD_SPEC, "spec.strategy",
               "spec.template.metadata"]
    outcomes: set[int] = set()
    for _ in range(800):
        target = rng.choice(targets)
        value = _random_value(rng, 0)
        if target.endswith("containers"):
            extra = value if isinstance(value, dict) else {}
            patch = patch_at(target, [{**extra, "name": rng.choice(["web", "sidecar", "new"])},
                                      {"name": "web", "env": _random_value(rng, 1)}])
        elif isinstance(value, dict):
            patch = patch_at(target, value)
        else:
            patch = patch_at(target, {"x": value})
        before = copy.deepcopy(patch)
        code = _outcome(patch, node)
        assert code == 200 or 400 <= code < 500, patch
        outcomes.add(code)
        assert patch == before
    assert DEPLOYMENT["spec"]["replicas"] == 3
    assert {200, 400} <= outcomes


@pytest.mark.parametrize(
    ("content_type", "patch", "replicas"),
    [
        pytest.param("application/strategic-merge-patch+json", {"spec": {"replicas": 5}}, 5,
                     id="strategic"),
        pytest.param("application/merge-patch+json; charset=utf-8", {"spec": {"replicas": 6}},
                     6, id="merge-with-charset"),
        pytest.param("application/json-patch+json",
                     [{"op": "replace", "path": "/spec/replicas", "value": 7}], 7, id="json"),
    ],
)
def test_apply_patch_dispatches_on_media_type(content_type: str, patch: Any,
                                              replicas: int) -> None:
    result = apply_patch(content_type, DEPLOYMENT, patch, deployment_node())
    assert result["spec"]["replicas"] == replicas


def test_apply_patch_rejects_other_media_types() -> None:
    with pytest.raises(StatusError) as caught:
        apply_patch("application/json", DEPLOYMENT, {}, deployment_node())
    assert caught.value.code == 415
