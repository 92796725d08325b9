"""The Node authorizer's reads of referenced objects (GET, and LIST/WATCH of one object named
by a field selector) and its pods-by-node index following the watch cache."""

from __future__ import annotations

from typing import Any

import pytest

from kubesmith.api.resources import Resources
from kubesmith.api.store import DeleteOptions, ResourceStore, WriteOptions
from kubesmith.apiserver import requestinfo
from kubesmith.apiserver.authn import UserInfo
from kubesmith.apiserver.authz import Attributes, Decision
from kubesmith.apiserver.node_authorizer import NodeAuthorizer

Obj = dict[str, Any]
N1 = UserInfo("system:node:n1", groups=("system:nodes", "system:authenticated"))


@pytest.mark.parametrize(("query", "verb", "name"), [
    ({"fieldSelector": "metadata.name=s1"}, "list", "s1"),
    ({"fieldSelector": "metadata.name==s1", "watch": "true"}, "watch", "s1"),
    ({"fieldSelector": "type=Opaque,metadata.name=s1"}, "list", "s1"),
    ({"fieldSelector": "metadata.name!=s1"}, "list", ""),
    ({"fieldSelector": "metadata.name=a/b"}, "list", ""),
    ({"fieldSelector": "metadata.name=.."}, "list", ""),
    ({"fieldSelector": "metadata.name"}, "list", ""),  # malformed: the handler says 400
    ({}, "list", ""),
], ids=["list", "watch", "and", "not-equal", "slash", "dots", "malformed", "none"])
def test_request_name_from_field_selector(query: dict[str, str], verb: str,
                                          name: str) -> None:
    info = requestinfo.parse("GET", "/api/v1/namespaces/ns/secrets", query)
    assert (info.verb, info.name) == (verb, name)


def test_only_collection_reads_take_a_name_from_the_selector() -> None:
    deleting = requestinfo.parse("DELETE", "/api/v1/namespaces/ns/secrets",
                                 {"fieldSelector": "metadata.name=s1"})
    assert (deleting.verb, deleting.name) == ("deletecollection", "")


def _store(res: Resources, kind: str) -> ResourceStore:
    store = res.for_kind("", kind)
    assert store is not None
    return store


def _pod(name: str, node: str, secret: str) -> Obj:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"nodeName": node, "containers": [{
                "name": "c", "image": "i",
                "env": [{"name": "K", "valueFrom": {"secretKeyRef": {"name": secret,
                                                                     "key": "k"}}}]}]}}


async def _decide(authz: NodeAuthorizer, verb: str, name: str, resource: str = "secrets",
                  namespace: str = "ns") -> Decision:
    decision, _ = await authz.authorize(Attributes(N1, verb, True, resource=resource,
                                                   namespace=namespace, name=name,
                                                   version="v1"))
    return decision


async def test_reads_of_referenced_objects(resources: Resources) -> None:
    await _store(resources, "Pod").create("ns", _pod("a", "n1", "s1"))
    await _store(resources, "Pod").create("ns", _pod("b", "n2", "s2"))
    authz = NodeAuthorizer(resources)
    for verb in ("get", "list", "watch"):
        assert await _decide(authz, verb, "s1") is Decision.ALLOW
        assert await _decide(authz, verb, "s2") is Decision.NO_OPINION
    assert await _decide(authz, "list", "") is Decision.NO_OPINION  # not one object
    assert await _decide(authz, "update", "s1") is Decision.NO_OPINION
    assert await _decide(authz, "get", "s1", namespace="other") is Decision.NO_OPINION
    assert await _decide(authz, "get", "default", "serviceaccounts") is Decision.ALLOW
    assert await _decide(authz, "list", "default", "serviceaccounts") is Decision.NO_OPINION


async def test_index_follows_binding_moves_and_deletes(resources: Resources) -> None:
    pods = _store(resources, "Pod")
    authz = NodeAuthorizer(resources)
    assert await _decide(authz, "get", "s1") is Decision.NO_OPINION  # index built (empty)
    await pods.create("ns", _pod("a", "", "s1"))
    await pods.cache.wait_consistent()
    assert await _decide(authz, "get", "s1") is Decision.NO_OPINION  # not bound yet

    def bind(node: str) -> Any:
        def transform(cur: Obj | None) -> Obj:
            assert cur is not None
            cur["spec"]["nodeName"] = node
            return cur
        return transform

    await pods.update("ns", "a", bind("n1"), WriteOptions(subresource="binding"))
    await pods.cache.wait_consistent()
    assert authz.pods.pods_on("n1")[0].name == "a"
    assert await _decide(authz, "get", "s1") is Decision.ALLOW
    await pods.update("ns", "a", bind("n2"), WriteOptions(subresource="binding"))
    await pods.cache.wait_consistent()
    assert await _decide(authz, "get", "s1") is Decision.NO_OPINION
    await pods.update("ns", "a", bind("n1"), WriteOptions(subresource="binding"))
    await pods.cache.wait_consistent()
    assert await _decide(authz, "get", "s1") is Decision.ALLOW
    await pods.delete("ns", "a", DeleteOptions(grace_period_seconds=0))
    await pods.cache.wait_consistent()
    assert authz.pods.pods_on("n1") == []
    assert await _decide(authz, "get", "s1") is Decision.NO_OPINION


async def test_index_rebuilt_after_the_cache_closes_watchers(resources: Resources) -> None:
    pods = _store(resources, "Pod")
    authz = NodeAuthorizer(resources)
    assert await _decide(authz, "get", "s1") is Decision.NO_OPINION
    pods.cache.close_watchers()  # what a re-list does: events may have been missed
    await pods.create("ns", _pod("a", "n1", "s1"))
    await pods.cache.wait_consistent()
    assert await _decide(authz, "get", "s1") is Decision.ALLOW
