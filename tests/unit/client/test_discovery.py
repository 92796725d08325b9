"""Reading discovery documents into resources and a kind -> resource mapping."""

from __future__ import annotations

from kubesmith.client.discovery import (
    APIResource,
    Discovery,
    RestMapper,
    parse_group_versions,
    parse_resource_list,
    preferred_resources,
)

GROUPS = {"kind": "APIGroupList", "groups": [
    {"name": "autoscaling",
     "versions": [{"groupVersion": "autoscaling/v1", "version": "v1"},
                  {"groupVersion": "autoscaling/v2", "version": "v2"}],
     "preferredVersion": {"groupVersion": "autoscaling/v2", "version": "v2"}},
    {"name": "apps", "versions": [{"groupVersion": "apps/v1", "version": "v1"}],
     "preferredVersion": {"groupVersion": "apps/v1", "version": "v1"}}]}


def _resource(group: str, version: str, plural: str, kind: str) -> APIResource:
    return APIResource(group, version, plural, kind, True, frozenset({"list"}))


def test_group_versions_preferred_first() -> None:
    assert parse_group_versions({"versions": ["v1"]}, GROUPS) == [
        ("", "v1"), ("autoscaling", "v2"), ("autoscaling", "v1"), ("apps", "v1")]


def test_resource_list_keeps_subresources_apart() -> None:
    doc = {"resources": [
        {"name": "deployments", "namespaced": True, "kind": "Deployment",
         "verbs": ["delete", "list", "watch"]},
        {"name": "deployments/scale", "namespaced": True, "kind": "Scale", "group":
         "autoscaling", "version": "v1", "verbs": ["get"]},
        {"name": "deployments/status", "namespaced": True, "kind": "Deployment",
         "verbs": ["get"]}]}
    [deployments] = parse_resource_list("apps", "v1", doc)
    assert deployments.resource.path("ns") == "/apis/apps/v1/namespaces/ns/deployments"
    assert deployments.subresources == {"scale", "status"}
    assert deployments.supports("delete", "list", "watch")
    assert not deployments.supports("deletecollection")
    assert deployments.group_resource == "deployments.apps"


def test_preferred_version_wins() -> None:
    v2 = _resource("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler")
    v1 = _resource("autoscaling", "v1", "horizontalpodautoscalers", "HorizontalPodAutoscaler")
    only_v1 = _resource("autoscaling", "v1", "legacy", "Legacy")
    assert preferred_resources([[v2], [v1, only_v1]]) == [v2, only_v1]


def test_mapper_falls_back_to_the_preferred_version() -> None:
    v2 = _resource("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler")
    pods = _resource("", "v1", "pods", "Pod")
    mapper = RestMapper([v2, pods])
    assert mapper.resource_for("v1", "Pod") is pods
    assert mapper.resource_for("autoscaling/v1", "HorizontalPodAutoscaler") is v2
    assert mapper.resource_for("autoscaling/v2", "Nope") is None


def test_partial_failure_message() -> None:
    found = Discovery(failed={"metrics.k8s.io/v1beta1": "the server is currently unable",
                              "a.io/v1": "boom"})
    assert found.error_message() == (
        "unable to retrieve the complete list of server APIs: a.io/v1: boom, "
        "metrics.k8s.io/v1beta1: the server is currently unable")
