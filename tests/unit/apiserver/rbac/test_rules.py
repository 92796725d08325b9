"""Rule matching, coverage and compaction as upstream's RBAC helpers define them."""

from __future__ import annotations

import pytest

from kubesmith.apiserver.authn import UserInfo
from kubesmith.apiserver.authz import Attributes
from kubesmith.apiserver.rbac.rules import PolicyRule, compact, covers, rule_allows

USER = UserInfo("alice")


def res(verb: str, resource: str, group: str = "", sub: str = "", name: str = "",
        ns: str = "default") -> Attributes:
    return Attributes(USER, verb, True, group=group, resource=resource, subresource=sub,
                      name=name, namespace=ns)


def url(verb: str, path: str) -> Attributes:
    return Attributes(USER, verb, False, path=path)


def r(verbs: str, groups: str = "", resources: str = "", names: str = "",
      urls: str = "") -> PolicyRule:
    def split(text: str) -> tuple[str, ...]:
        return tuple(text.split(",")) if text else ()
    return PolicyRule(split(verbs), tuple(groups.split(",")) if resources else (),
                      split(resources), split(names), split(urls))


MATRIX = [
    # (id, rule, request, allowed)
    ("exact", r("get", "", "pods"), res("get", "pods"), True),
    ("other-verb", r("get", "", "pods"), res("list", "pods"), False),
    ("verb-star", r("*", "", "pods"), res("deletecollection", "pods"), True),
    ("other-group", r("get", "apps", "pods"), res("get", "pods"), False),
    ("group-star", r("get", "*", "deployments"), res("get", "deployments", "apps"), True),
    ("resource-star", r("get", "", "*"), res("get", "secrets"), True),
    ("resource-star-covers-subresources", r("get", "", "*"), res("get", "pods", sub="log"),
     True),
    ("resource-does-not-cover-subresource", r("get", "", "pods"),
     res("get", "pods", sub="log"), False),
    ("subresource-exact", r("get", "", "pods/log"), res("get", "pods", sub="log"), True),
    ("subresource-does-not-cover-resource", r("get", "", "pods/log"), res("get", "pods"),
     False),
    ("star-slash-sub", r("get", "*", "*/scale"),
     res("get", "deployments", "apps", sub="scale"), True),
    ("star-slash-sub-other-sub", r("get", "*", "*/scale"),
     res("get", "deployments", "apps", sub="status"), False),
    ("star-slash-sub-not-resource", r("get", "*", "*/scale"), res("get", "deployments",
                                                                  "apps"), False),
    # upstream has no resource/* wildcard: it only matches a subresource named "*"
    ("resource-slash-star-is-literal", r("get", "", "pods/*"),
     res("get", "pods", sub="log"), False),
    ("names-match", r("get", "", "configmaps", "a,b"), res("get", "configmaps", name="b"),
     True),
    ("names-mismatch", r("get", "", "configmaps", "a"), res("get", "configmaps", name="c"),
     False),
    ("names-never-list", r("list", "", "configmaps", "a"), res("list", "configmaps"), False),
    ("names-never-watch", r("watch", "", "configmaps", "a"), res("watch", "configmaps"),
     False),
    ("names-never-create", r("create", "", "configmaps", "a"), res("create", "configmaps"),
     False),
    ("names-watch-one-object", r("watch", "", "configmaps", "a"),
     res("watch", "configmaps", name="a"), True),
    ("no-names-any-name", r("get", "", "configmaps"), res("get", "configmaps", name="x"),
     True),
    ("url-exact", r("get", urls="/healthz"), url("get", "/healthz"), True),
    ("url-no-prefix-without-star", r("get", urls="/healthz"), url("get", "/healthz/etcd"),
     False),
    ("url-star-prefix", r("get", urls="/healthz/*"), url("get", "/healthz/etcd"), True),
    ("url-star-prefix-needs-slash", r("get", urls="/healthz/*"), url("get", "/healthz"),
     False),
    ("url-star-plain-prefix", r("get", urls="/healthz*"), url("get", "/healthzfoo"), True),
    ("url-all", r("get", urls="*"), url("get", "/anything"), True),
    ("url-verb", r("get", urls="*"), url("post", "/anything"), False),
    ("url-rule-not-for-resources", r("get", urls="*"), res("get", "pods"), False),
    ("resource-rule-not-for-urls", r("*", "*", "*"), url("get", "/healthz"), False),
]


@pytest.mark.parametrize(("rule", "attrs", "allowed"), [m[1:] for m in MATRIX],
                         ids=[m[0] for m in MATRIX])
def test_rule_allows(rule: PolicyRule, attrs: Attributes, allowed: bool) -> None:
    assert rule_allows(attrs, rule) is allowed


def test_json_round_trip_and_compact_string() -> None:
    rule = PolicyRule.from_json({"apiGroups": ["apps"], "resources": ["deployments"],
                                 "resourceNames": ["web"], "verbs": ["get", "update"]})
    assert PolicyRule.from_json(rule.to_json()) == rule
    assert rule.compact_string() == ('{APIGroups:["apps"], Resources:["deployments"], '
                                     'ResourceNames:["web"], Verbs:["get" "update"]}')
    assert PolicyRule(("get",), non_resource_urls=("/x",)).compact_string() == \
        '{NonResourceURLs:["/x"], Verbs:["get"]}'


COVERS = [
    ("star-covers-all", [r("*", "*", "*")], [r("get,list", "apps", "deployments")], True),
    ("exact", [r("get,list", "", "pods")], [r("get", "", "pods")], True),
    ("missing-verb", [r("get", "", "pods")], [r("get,delete", "", "pods")], False),
    ("star-slash-sub", [r("get", "*", "*/scale")], [r("get", "apps", "deployments/scale")],
     True),
    ("names-subset", [r("get", "", "cm", "a,b")], [r("get", "", "cm", "a")], True),
    ("names-do-not-cover-all", [r("get", "", "cm", "a")], [r("get", "", "cm")], False),
    ("urls-prefix", [r("get", urls="/api/*")], [r("get", urls="/api/v1")], True),
    ("urls-missing", [r("get", urls="/api")], [r("get", urls="/apis")], False),
]


@pytest.mark.parametrize(("owner", "wanted", "covered"), [c[1:] for c in COVERS],
                         ids=[c[0] for c in COVERS])
def test_covers(owner: list[PolicyRule], wanted: list[PolicyRule], covered: bool) -> None:
    assert covers(owner, wanted)[0] is covered


def test_missing_rules_are_broken_down_and_compacted() -> None:
    _, missing = covers([r("get", "", "pods")], [r("get,list,delete", ",apps", "pods,cm")])
    assert len(missing) == 11  # 2 groups x 2 resources x 3 verbs, minus the held one
    compacted = compact(missing)
    assert {c.compact_string() for c in compacted} == {
        '{APIGroups:[""], Resources:["pods"], Verbs:["list" "delete"]}',
        '{APIGroups:[""], Resources:["cm"], Verbs:["get" "list" "delete"]}',
        '{APIGroups:["apps"], Resources:["pods"], Verbs:["get" "list" "delete"]}',
        '{APIGroups:["apps"], Resources:["cm"], Verbs:["get" "list" "delete"]}',
    }
