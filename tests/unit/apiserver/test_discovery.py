"""Discovery documents: legacy and aggregated shapes, negotiation, ETags and caching."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
import pytest

from kubesmith.api.errors import StatusError
from kubesmith.api.registry import Registry
from kubesmith.api.resource_types import ResourceType
from kubesmith.apiserver.discovery import (
    AGGREGATED_CONTENT_TYPE,
    Discovery,
    if_none_match_matches,
    negotiate_root,
    storage_version_hash,
)

KUBECTL_ACCEPT = ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
                  "application/json")


@pytest.fixture
def discovery() -> Discovery:
    return Discovery(Registry(), "10.0.0.1:6443")


def _json(body: bytes) -> Any:
    return orjson.loads(body)


def _resources(discovery: Discovery, group: str, version: str) -> dict[str, dict[str, Any]]:
    doc = discovery.resource_list(group, version)
    assert doc is not None
    return {r["name"]: r for r in _json(doc.body)["resources"]}


# -- legacy ---------------------------------------------------------------------------


def test_api_versions(discovery: Discovery) -> None:
    body = _json(discovery.api_versions().body)
    assert body == {"kind": "APIVersions", "versions": ["v1"],
                    "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                                    "serverAddress": "10.0.0.1:6443"}]}


def test_api_group_list_order_and_preferred_versions(discovery: Discovery) -> None:
    body = _json(discovery.api_group_list().body)
    assert body["kind"] == "APIGroupList"
    assert body["apiVersion"] == "v1"
    names = [g["name"] for g in body["groups"]]
    assert names[0] == "apps"  # core is at /api; apps leads /apis as in kube-apiserver
    assert "" not in names
    autoscaling = next(g for g in body["groups"] if g["name"] == "autoscaling")
    assert [v["version"] for v in autoscaling["versions"]] == ["v2", "v1"]
    assert autoscaling["preferredVersion"] == {"groupVersion": "autoscaling/v2",
                                               "version": "v2"}


def test_api_group(discovery: Discovery) -> None:
    doc = discovery.api_group("apps")
    assert doc is not None
    assert _json(doc.body) == {
        "kind": "APIGroup", "apiVersion": "v1", "name": "apps",
        "versions": [{"groupVersion": "apps/v1", "version": "v1"}],
        "preferredVersion": {"groupVersion": "apps/v1", "version": "v1"}}
    assert discovery.api_group("nope.example.com") is None


def test_core_resource_list_has_no_api_version(discovery: Discovery) -> None:
    core = discovery.resource_list("", "v1")
    apps = discovery.resource_list("apps", "v1")
    assert core is not None
    assert apps is not None
    assert "apiVersion" not in _json(core.body)
    assert _json(core.body)["groupVersion"] == "v1"
    assert _json(apps.body)["apiVersion"] == "v1"
    assert _json(apps.body)["groupVersion"] == "apps/v1"
    assert discovery.resource_list("apps", "v9") is None


def test_top_level_resource_entry(discovery: Discovery) -> None:
    pods = _resources(discovery, "", "v1")["pods"]
    assert pods == {
        "name": "pods", "singularName": "pod", "namespaced": True, "kind": "Pod",
        "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update",
                  "watch"],
        "shortNames": ["po"], "categories": ["all"], "storageVersionHash": "xPOwRZ+Yhw8="}
    assert _resources(discovery, "", "v1")["namespaces"]["namespaced"] is False


@pytest.mark.parametrize(("group", "name", "expected"), [
    ("", "pods/status", {"kind": "Pod", "verbs": ["get", "patch", "update"]}),
    ("", "pods/binding", {"kind": "Binding", "verbs": ["create"]}),
    ("", "pods/eviction", {"group": "policy", "version": "v1", "kind": "Eviction",
                           "verbs": ["create"]}),
    ("", "pods/log", {"kind": "Pod", "verbs": ["get"]}),
    ("", "pods/exec", {"kind": "PodExecOptions", "verbs": ["create", "get"]}),
    ("", "pods/proxy", {"kind": "PodProxyOptions",
                        "verbs": ["create", "delete", "get", "patch", "update"]}),
    ("", "serviceaccounts/token", {"group": "authentication.k8s.io", "version": "v1",
                                   "kind": "TokenRequest", "verbs": ["create"]}),
    ("", "namespaces/finalize", {"kind": "Namespace", "verbs": ["update"]}),
    ("apps", "deployments/scale", {"group": "autoscaling", "version": "v1", "kind": "Scale",
                                   "verbs": ["get", "patch", "update"]}),
    ("apps", "deployments/status", {"kind": "Deployment",
                                    "verbs": ["get", "patch", "update"]}),
], ids=lambda v: v if isinstance(v, str) and v else None)
def test_subresource_entries(discovery: Discovery, group: str, name: str,
                             expected: dict[str, Any]) -> None:
    entry = _resources(discovery, group, "v1")[name]
    namespaced = name.split("/")[0] != "namespaces"
    assert entry == {"name": name, "singularName": "", "namespaced": namespaced, **expected}


def test_resources_sorted_with_subresources_after_parent(discovery: Discovery) -> None:
    names = list(_resources(discovery, "", "v1"))
    assert names == sorted(names)
    assert names.index("pods") < names.index("pods/attach") < names.index("podtemplates")


def test_storage_version_hash() -> None:
    assert storage_version_hash("", "v1", "Pod") == "xPOwRZ+Yhw8="
    assert storage_version_hash("apps", "v1", "Deployment") == "8aSe+NMegvE="


def test_storage_version_hash_follows_storage(discovery: Discovery) -> None:
    core_events = _resources(discovery, "", "v1")["events"]
    new_events = _resources(discovery, "events.k8s.io", "v1")["events"]
    assert new_events["storageVersionHash"] == core_events["storageVersionHash"]
    hpa_v1 = _resources(discovery, "autoscaling", "v1")["horizontalpodautoscalers"]
    hpa_v2 = _resources(discovery, "autoscaling", "v2")["horizontalpodautoscalers"]
    assert hpa_v1["storageVersionHash"] == hpa_v2["storageVersionHash"]
    # Never-stored kinds have no storage version.
    assert "storageVersionHash" not in _resources(discovery, "", "v1")["bindings"]


# -- aggregated -----------------------------------------------------------------------


def test_aggregated_apis_shape(discovery: Discovery) -> None:
    doc = discovery.aggregated("/apis")
    assert doc.content_type == AGGREGATED_CONTENT_TYPE
    body = _json(doc.body)
    assert body["kind"] == "APIGroupDiscoveryList"
    assert body["apiVersion"] == "apidiscovery.k8s.io/v2"
    assert body["metadata"] == {}
    apps = next(i for i in body["items"] if i["metadata"]["name"] == "apps")
    (v1,) = apps["versions"]
    assert v1["version"] == "v1"
    assert v1["freshness"] == "Current"
    deploy = next(r for r in v1["resources"] if r["resource"] == "deployments")
    assert deploy == {
        "resource": "deployments",
        "responseKind": {"group": "apps", "version": "v1", "kind": "Deployment"},
        "scope": "Namespaced",
        "singularResource": "deployment",
        "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update",
                  "watch"],
        "shortNames": ["deploy"],
        "categories": ["all"],
        "subresources": [
            {"subresource": "scale",
             "responseKind": {"group": "autoscaling", "version": "v1", "kind": "Scale"},
             "verbs": ["get", "patch", "update"]},
            {"subresource": "status",
             "responseKind": {"group": "apps", "version": "v1", "kind": "Deployment"},
             "verbs": ["get", "patch", "update"]},
        ]}
    autoscaling = next(i for i in body["items"] if i["metadata"]["name"] == "autoscaling")
    assert [v["version"] for v in autoscaling["versions"]] == ["v2", "v1"]


def test_aggregated_api_is_core_only(discovery: Discovery) -> None:
    body = _json(discovery.aggregated("/api").body)
    (core,) = body["items"]
    assert core["metadata"] == {}
    resources = {r["resource"]: r for r in core["versions"][0]["resources"]}
    assert resources["nodes"]["scope"] == "Cluster"
    assert resources["pods"]["responseKind"] == {"group": "", "version": "v1", "kind": "Pod"}
    eviction = next(s for s in resources["pods"]["subresources"]
                    if s["subresource"] == "eviction")
    assert eviction["responseKind"] == {"group": "policy", "version": "v1", "kind": "Eviction"}


def test_aggregated_etag_is_sha512_of_body(discovery: Discovery) -> None:
    doc = discovery.aggregated("/apis")
    assert doc.etag == hashlib.sha512(doc.body).hexdigest().upper()
    assert doc.quoted_etag == f'"{doc.etag}"'


def test_respond_aggregated_headers_and_304(discovery: Discovery) -> None:
    reply = discovery.respond("/apis", KUBECTL_ACCEPT)
    assert reply is not None
    assert reply.status == 200
    etag = reply.headers["ETag"]
    assert reply.headers == {"Content-Type": AGGREGATED_CONTENT_TYPE, "ETag": etag,
                             "Vary": "Accept", "Cache-Control": "public"}
    again = discovery.respond("/apis", KUBECTL_ACCEPT, etag)
    assert again is not None
    assert again.status == 304
    assert again.body == b""
    stale = discovery.respond("/apis", KUBECTL_ACCEPT, '"0000"')
    assert stale is not None
    assert stale.status == 200


def test_respond_legacy_when_plain_json(discovery: Discovery) -> None:
    reply = discovery.respond("/api", "application/json, */*")
    assert reply is not None
    assert reply.headers == {"Content-Type": "application/json"}
    assert _json(reply.body)["kind"] == "APIVersions"
    group = discovery.respond("/apis/apps/", None)
    assert group is not None
    assert _json(group.body)["kind"] == "APIGroup"
    assert discovery.respond("/apis/apps/v1", None) is not None
    assert discovery.respond("/api/v1", None) is not None


def test_respond_unknown_paths(discovery: Discovery) -> None:
    assert discovery.respond("/apis/nope.example.com") is None
    assert discovery.respond("/apis/apps/v1/deployments") is None
    assert discovery.respond("/api/v2") is None
    assert discovery.respond("/healthz") is None


@pytest.mark.parametrize(("accept", "expected"), [
    (KUBECTL_ACCEPT, "aggregated"),
    ("application/json;as=APIGroupDiscoveryList;v=v2;g=apidiscovery.k8s.io", "aggregated"),
    ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList;profile=nopeer,"
     "application/json", "aggregated"),
    ("application/json", "legacy"),
    ("*/*", "legacy"),
    (None, "legacy"),
    ("application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,"
     "application/json", "legacy"),
    ("application/json;q=0.9,application/json;g=apidiscovery.k8s.io;v=v2;"
     "as=APIGroupDiscoveryList", "aggregated"),
])
def test_negotiate_root(accept: str | None, expected: str) -> None:
    assert negotiate_root(accept) == expected


@pytest.mark.parametrize("accept", [
    "application/vnd.kubernetes.protobuf",
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList",
    "text/html",
])
def test_negotiate_root_not_acceptable(accept: str) -> None:
    with pytest.raises(StatusError) as caught:
        negotiate_root(accept)
    assert caught.value.code == 406


def test_if_none_match_forms() -> None:
    assert if_none_match_matches('"ABC"', "ABC")
    assert if_none_match_matches('W/"ABC"', "ABC")
    assert if_none_match_matches('"X", "ABC"', "ABC")
    assert if_none_match_matches("*", "ABC")
    assert not if_none_match_matches("ABC", "ABC")  # unquoted is not the ETag
    assert not if_none_match_matches(None, "ABC")


# -- caching --------------------------------------------------------------------------


def test_documents_cached_until_registry_changes() -> None:
    registry = Registry()
    discovery = Discovery(registry)
    first = discovery.aggregated("/apis")
    assert discovery.aggregated("/apis") is first
    registry.add(ResourceType("stable.example.com", "v1", "CronTab", "crontabs", True,
                              ("ct",), ("all",), ("status",)))
    second = discovery.aggregated("/apis")
    assert second is not first
    assert second.etag != first.etag
    names = [i["metadata"]["name"] for i in _json(second.body)["items"]]
    assert names[-1] == "stable.example.com"  # custom groups after the built-ins
    crontabs = _resources(discovery, "stable.example.com", "v1")
    assert crontabs["crontabs"]["shortNames"] == ["ct"]
    assert crontabs["crontabs/status"]["kind"] == "CronTab"
    registry.remove("stable.example.com", "v1", "crontabs")
    assert discovery.api_group("stable.example.com") is None
    assert discovery.aggregated("/apis").etag == first.etag
