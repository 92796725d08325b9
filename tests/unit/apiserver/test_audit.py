"""Audit: policy parsing and matching, event shapes, secrets redaction, the rotating writer."""

from __future__ import annotations

import os
import re
import stat
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import make_mocked_request

from kubesmith.apiserver import requestinfo
from kubesmith.apiserver.audit import (
    DECISION_ANNOTATION,
    REASON_ANNOTATION,
    REDACTED_ANNOTATION,
    AuditLogWriter,
    Auditor,
    MemoryWriter,
    Policy,
    is_long_running,
    micro_time,
    source_ips,
)
from kubesmith.apiserver.authn import UserInfo
from kubesmith.apiserver.authz import Attributes

ALICE = UserInfo("alice", uid="u-1", groups=("devs", "system:authenticated"),
                 extra={"scopes": ["a"]})
BOB = UserInfo("bob", groups=("ops", "system:authenticated"))


@dataclass
class FakeRequest:
    path_qs: str
    headers: Mapping[str, str] = field(default_factory=dict)
    remote: str | None = "10.0.0.7"


def attrs(method: str, path: str, user: UserInfo = ALICE, **query: str) -> Attributes:
    info = requestinfo.parse(method, path, query)
    return Attributes(user, info.verb, info.is_resource, info.path, info.group,
                      info.version, info.resource, info.subresource, info.namespace,
                      info.name)


def policy(rules: list[dict[str, Any]], **top: Any) -> Policy:
    return Policy.from_dict({"apiVersion": "audit.k8s.io/v1", "kind": "Policy",
                             "rules": rules, **top})


# ---- policy parsing ---------------------------------------------------------------------
POLICY_YAML = """
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: None
    users: ["system:kube-proxy"]
    verbs: ["watch"]
  - level: Metadata
    resources:
      - group: ""
        resources: ["pods/log", "pods/status"]
  - level: None
    nonResourceURLs: ["/healthz*", "/version"]
  - level: Request
    resources:
      - group: ""
        resources: ["configmaps"]
        resourceNames: ["controller-leader"]
    namespaces: ["kube-system"]
    omitStages: ["ResponseStarted"]
  - level: RequestResponse
    userGroups: ["ops"]
    omitManagedFields: true
  - level: Metadata
"""


def test_parse_yaml_policy() -> None:
    p = Policy.parse(POLICY_YAML)
    assert len(p.rules) == 6
    assert p.omit_stages == {"RequestReceived"}
    # Rule omitStages are the union with the policy's.
    assert p.rules[3].omit_stages == {"RequestReceived", "ResponseStarted"}
    assert p.rules[4].omit_managed_fields is True
    assert p.rules[1].resources[0].resources == ("pods/log", "pods/status")


def test_load_from_file(tmp_path: Path) -> None:
    f = tmp_path / "policy.yaml"
    f.write_text(POLICY_YAML)
    assert len(Policy.load(f).rules) == 6
    with pytest.raises(ValueError, match="failed to read"):
        Policy.load(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: []\n")
    with pytest.raises(ValueError, match=r"0 rules: from file .*bad\.yaml"):
        Policy.load(bad)


@pytest.mark.parametrize(("doc", "problem"), [
    ("{", "failed decoding"),
    ("- 1", "not an object"),
    ("apiVersion: audit.k8s.io/v1beta1\nkind: Policy\nrules: [{level: None}]",
     "unknown group version"),
    ("apiVersion: audit.k8s.io/v1\nkind: Pod\nrules: [{level: None}]",
     "unknown group version"),
    ("apiVersion: audit.k8s.io/v1\nkind: Policy\n", "0 rules"),
    ("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{}]",
     r"rules\[0\]\.level: Required value"),
    ("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: Everything}]",
     r"rules\[0\]\.level: Unsupported value: 'Everything'"),
    ("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: None, verb: [get]}]",
     r'rules\[0\]: unknown field "verb"'),
    ("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: None, omitStages: [Done]}]",
     r"rules\[0\]\.omitStages\[0\]: Invalid value: 'Done'"),
    ("apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [Nope]\nrules: [{level: None}]",
     r"omitStages\[0\]: Invalid value"),
    ("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: None, "
     "nonResourceURLs: [healthz]}]", "must begin with a '/'"),
    ("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: None, "
     "nonResourceURLs: ['/he*lthz']}]", "must be the final character"),
    ("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: None, "
     "nonResourceURLs: ['/x'], namespaces: [a]}]", "both regular resources and non-resource"),
    ("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: None, "
     "resources: [{group: apps/v1}]}]", r"resources\[0\]\.group: Invalid value: 'apps/v1'"),
    ("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: None, "
     "resources: [{resourceNames: [x]}]}]", "requires at least one resource"),
    ("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: None, users: alice}]",
     r"rules\[0\]\.users: must be a list of strings"),
])
def test_parse_errors_name_the_problem(doc: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        Policy.parse(doc)


# ---- matching matrix --------------------------------------------------------------------
@pytest.mark.parametrize(("method", "path", "user", "query", "level", "omit"), [
    # users + verbs: only kube-proxy's watches are silenced.
    ("GET", "/api/v1/endpoints", UserInfo("system:kube-proxy"), {"watch": "true"}, "None",
     {"RequestReceived"}),
    ("GET", "/api/v1/endpoints", UserInfo("system:kube-proxy"), {}, "Metadata",
     {"RequestReceived"}),
    # Subresources are matched as resource/subresource, and only so.
    ("GET", "/api/v1/namespaces/a/pods/p/log", ALICE, {}, "Metadata", {"RequestReceived"}),
    ("GET", "/api/v1/namespaces/a/pods/p/exec", BOB, {}, "RequestResponse",
     {"RequestReceived"}),
    ("GET", "/api/v1/namespaces/a/pods/p", BOB, {}, "RequestResponse", {"RequestReceived"}),
    # Non-resource URLs: "*" suffix and exact match; other paths fall through.
    ("GET", "/healthz", ALICE, {}, "None", {"RequestReceived"}),
    ("GET", "/healthz/etcd", ALICE, {}, "None", {"RequestReceived"}),
    ("GET", "/version", ALICE, {}, "None", {"RequestReceived"}),
    ("GET", "/versions", ALICE, {}, "Metadata", {"RequestReceived"}),
    # resourceNames + namespaces + group.
    ("PUT", "/api/v1/namespaces/kube-system/configmaps/controller-leader", ALICE, {},
     "Request", {"RequestReceived", "ResponseStarted"}),
    ("PUT", "/api/v1/namespaces/default/configmaps/controller-leader", ALICE, {},
     "Metadata", {"RequestReceived"}),
    ("PUT", "/api/v1/namespaces/kube-system/configmaps/other", ALICE, {}, "Metadata",
     {"RequestReceived"}),
    ("GET", "/api/v1/namespaces/kube-system/configmaps", ALICE, {}, "Metadata",
     {"RequestReceived"}),
    # userGroups: any of the user's groups.
    ("GET", "/apis/apps/v1/deployments", BOB, {}, "RequestResponse", {"RequestReceived"}),
    ("GET", "/apis/apps/v1/deployments", ALICE, {}, "Metadata", {"RequestReceived"}),
])
def test_policy_matrix(method: str, path: str, user: UserInfo, query: dict[str, str],
                       level: str, omit: set[str]) -> None:
    p = Policy.parse(POLICY_YAML)
    got_level, got_omit = p.level_for(attrs(method, path, user, **query))
    assert (got_level, set(got_omit)) == (level, omit)


def test_resource_wildcards_and_groups() -> None:
    p = policy([
        {"level": "RequestResponse", "resources": [{"group": "apps", "resources": ["*/scale"]}]},
        {"level": "Request", "resources": [{"group": "", "resources": ["pods/*"]}]},
        {"level": "Metadata", "resources": [{"group": "batch"}]},
        {"level": "None", "resources": [{"group": "", "resources": ["*"]}]},
    ])
    assert p.level_for(attrs("PUT", "/apis/apps/v1/namespaces/a/deployments/d/scale"))[0] \
        == "RequestResponse"
    assert p.level_for(attrs("PUT", "/apis/apps/v1/namespaces/a/deployments/d"))[0] == "None"
    assert p.level_for(attrs("GET", "/api/v1/namespaces/a/pods/p/log"))[0] == "Request"
    # As upstream's checker (not its docs): "pods/*" also matches pods itself.
    assert p.level_for(attrs("GET", "/api/v1/namespaces/a/pods/p"))[0] == "Request"
    assert p.level_for(attrs("GET", "/api/v1/namespaces/a/services/s"))[0] == "None"
    assert p.level_for(attrs("GET", "/apis/batch/v1/jobs"))[0] == "Metadata"
    assert p.level_for(attrs("GET", "/api/v1/secrets"))[0] == "None"
    # "*" in group "" does not reach other groups; no rule matched: None, policy stages.
    assert p.level_for(attrs("GET", "/apis/rbac.authorization.k8s.io/v1/roles")) == (
        "None", frozenset())


def test_namespaces_rule_and_cluster_scope() -> None:
    p = policy([{"level": "Request", "namespaces": [""]},
                {"level": "Metadata", "namespaces": ["prod"]},
                {"level": "None"}])
    assert p.level_for(attrs("GET", "/api/v1/nodes"))[0] == "Request"
    assert p.level_for(attrs("GET", "/api/v1/namespaces/prod/pods"))[0] == "Metadata"
    assert p.level_for(attrs("GET", "/api/v1/namespaces/dev/pods"))[0] == "None"
    # A namespaces rule never matches a non-resource request.
    assert p.level_for(attrs("GET", "/healthz"))[0] == "None"


def test_non_resource_rule_skips_resource_requests() -> None:
    p = policy([{"level": "Metadata", "nonResourceURLs": ["*"]}])
    assert p.level_for(attrs("GET", "/metrics"))[0] == "Metadata"
    assert p.level_for(attrs("GET", "/api/v1/pods"))[0] == "None"


# ---- events -----------------------------------------------------------------------------
def auditor(rules: list[dict[str, Any]], **top: Any) -> tuple[Auditor, MemoryWriter]:
    w = MemoryWriter()
    return Auditor(policy(rules, **top), w), w


POD: dict[str, Any] = {"apiVersion": "v1", "kind": "Pod",
       "metadata": {"name": "web", "namespace": "default",
                    "managedFields": [{"manager": "kubectl"}]},
       "spec": {"containers": [{"name": "c", "image": "nginx"}]}}


def test_create_event_at_request_level() -> None:
    a, w = auditor([{"level": "Request"}])
    path = "/api/v1/namespaces/default/pods"
    info = requestinfo.parse("POST", path, {})
    request = make_mocked_request("POST", path + "?fieldManager=kubectl-client-side-apply",
                                  headers={"User-Agent": "kubectl/v1.37.0",
                                           "X-Forwarded-For": "192.0.2.1, 198.51.100.2"})
    received = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
    ctx = a.begin(info, ALICE, request, received=received)
    assert ctx is not None
    ctx.authorized(True, 'RBAC: allowed by ClusterRoleBinding "x"')
    created = {**POD, "metadata": {**POD["metadata"], "uid": "abc", "resourceVersion": "7"}}
    ctx.finish(201, None, request_object=POD, response_object=created)
    received_ev, done = w.events()
    assert received_ev["stage"] == "RequestReceived"
    assert "responseStatus" not in received_ev and "requestObject" not in received_ev
    assert "annotations" not in received_ev  # before authorization
    assert received_ev["auditID"] == done["auditID"]
    assert list(done) == ["kind", "apiVersion", "level", "auditID", "stage", "requestURI",
                          "verb", "user", "sourceIPs", "userAgent", "objectRef",
                          "responseStatus", "requestObject", "requestReceivedTimestamp",
                          "stageTimestamp", "annotations"]
    assert done["kind"] == "Event" and done["apiVersion"] == "audit.k8s.io/v1"
    assert done["level"] == "Request" and done["stage"] == "ResponseComplete"
    assert re.fullmatch(r"[0-9a-f-]{36}", done["auditID"])
    assert done["requestURI"] == path + "?fieldManager=kubectl-client-side-apply"
    assert done["verb"] == "create"
    assert done["user"] == {"username": "alice", "uid": "u-1",
                            "groups": ["devs", "system:authenticated"],
                            "extra": {"scopes": ["a"]}}
    assert done["sourceIPs"] == ["192.0.2.1", "198.51.100.2"]
    assert done["userAgent"] == "kubectl/v1.37.0"
    # The name comes from the body for a create (upstream fills objectRef from it).
    assert done["objectRef"] == {"resource": "pods", "namespace": "default", "name": "web",
                                 "apiVersion": "v1"}
    assert done["responseStatus"] == {"metadata": {}, "code": 201}
    assert done["requestObject"] == POD  # managedFields kept: omitManagedFields unset
    assert "responseObject" not in done  # Request level, not RequestResponse
    assert done["requestReceivedTimestamp"] == "2026-03-01T12:00:00.123456Z"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", done["stageTimestamp"])
    assert done["annotations"] == {DECISION_ANNOTATION: "allow",
                                   REASON_ANNOTATION: 'RBAC: allowed by ClusterRoleBinding "x"'}


def test_request_response_level_and_omit_managed_fields() -> None:
    a, w = auditor([{"level": "RequestResponse", "omitStages": ["RequestReceived"]}],
                   omitManagedFields=True)
    info = requestinfo.parse("PUT", "/api/v1/namespaces/default/pods/web", {})
    ctx = a.begin(info, ALICE, FakeRequest("/api/v1/namespaces/default/pods/web"))
    assert ctx is not None
    ctx.log_request_object({**POD, "metadata": {**POD["metadata"], "resourceVersion": "5",
                                                "uid": "u"}})
    ctx.finish(200, None, response_object={"kind": "Pod", "metadata": {
        "name": "web", "managedFields": [{}]}}, decision="allow")
    (done,) = w.events()  # RequestReceived omitted
    assert done["objectRef"] == {"resource": "pods", "namespace": "default", "name": "web",
                                 "uid": "u", "apiVersion": "v1", "resourceVersion": "5"}
    assert "managedFields" not in done["requestObject"]["metadata"]
    assert done["responseObject"] == {"kind": "Pod", "metadata": {"name": "web"}}
    assert done["sourceIPs"] == ["10.0.0.7"]
    assert "userAgent" not in done
    assert POD["metadata"]["managedFields"]  # the caller's object is untouched


def test_rule_omit_managed_fields_overrides_policy() -> None:
    a, w = auditor([{"level": "Request", "omitManagedFields": False}],
                   omitManagedFields=True)
    info = requestinfo.parse("POST", "/api/v1/namespaces/default/pods", {})
    ctx = a.begin(info, ALICE, FakeRequest("/api/v1/namespaces/default/pods"))
    assert ctx is not None
    ctx.finish(201, None, request_object=POD)
    assert w.events()[-1]["requestObject"]["metadata"]["managedFields"]


def test_denied_request_event() -> None:
    a, w = auditor([{"level": "RequestResponse"}])
    path = "/api/v1/namespaces/prod/secrets/db"
    info = requestinfo.parse("GET", path, {})
    ctx = a.begin(info, BOB, FakeRequest(path, {"User-Agent": "curl/8"}))
    assert ctx is not None
    status = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
              "message": 'secrets "db" is forbidden: User "bob" cannot get resource '
                         '"secrets" in API group "" in the namespace "prod"',
              "reason": "Forbidden", "details": {"name": "db", "kind": "secrets"},
              "code": 403}
    ctx.finish(403, status, response_object=status, decision=False, reason="")
    done = w.events()[-1]
    assert done["stage"] == "ResponseComplete"
    assert done["responseStatus"] == {"metadata": {}, "status": "Failure",
                                      "message": status["message"], "reason": "Forbidden",
                                      "code": 403}
    assert done["annotations"][DECISION_ANNOTATION] == "forbid"
    assert done["annotations"][REASON_ANNOTATION] == ""
    assert done["objectRef"] == {"resource": "secrets", "namespace": "prod", "name": "db",
                                 "apiVersion": "v1"}
    assert done["verb"] == "get"


def test_non_resource_and_list_events() -> None:
    a, w = auditor([{"level": "RequestResponse"}])
    info = requestinfo.parse("GET", "/healthz", {})
    ctx = a.begin(info, ALICE, FakeRequest("/healthz"))
    assert ctx is not None
    ctx.finish(200, None, request_object={"x": 1}, response_object={"y": 2})
    done = w.events()[-1]
    # Bodies are never logged for non-resource requests; no objectRef either.
    assert "objectRef" not in done and "requestObject" not in done
    assert "responseObject" not in done
    assert done["verb"] == "get"
    info = requestinfo.parse("GET", "/apis/apps/v1/namespaces/a/deployments", {})
    ctx = a.begin(info, ALICE, FakeRequest("/apis/apps/v1/namespaces/a/deployments"))
    assert ctx is not None
    ctx.finish(200, None)
    assert w.events()[-1]["objectRef"] == {"resource": "deployments", "namespace": "a",
                                           "apiGroup": "apps", "apiVersion": "v1"}


def test_none_level_is_not_audited() -> None:
    a, w = auditor([{"level": "None", "users": ["alice"]}, {"level": "Metadata"}])
    info = requestinfo.parse("GET", "/api/v1/pods", {})
    assert a.begin(info, ALICE, FakeRequest("/api/v1/pods")) is None
    assert a.begin(info, BOB, FakeRequest("/api/v1/pods")) is not None
    assert len(w.lines) == 1


def test_unauthenticated_request() -> None:
    a, w = auditor([{"level": "None", "userGroups": ["system:authenticated"]},
                    {"level": "Metadata"}])
    info = requestinfo.parse("GET", "/api/v1/pods", {})
    ctx = a.begin(info, None, FakeRequest("/api/v1/pods"))
    assert ctx is not None
    ctx.finish(401, {"status": "Failure", "message": "Unauthorized", "reason": "Unauthorized",
                     "code": 401})
    done = w.events()[-1]
    assert done["user"] == {}
    assert done["responseStatus"]["code"] == 401


def test_watch_stages_and_panic() -> None:
    a, w = auditor([{"level": "Metadata"}])
    info = requestinfo.parse("GET", "/api/v1/pods", {"watch": "1"})
    ctx = a.begin(info, ALICE, FakeRequest("/api/v1/pods?watch=1"))
    assert ctx is not None
    ctx.response_started(200)
    ctx.finish(200, None)
    ctx.finish(200, None)  # idempotent
    assert [e["stage"] for e in w.events()] == ["RequestReceived", "ResponseStarted",
                                                "ResponseComplete"]
    assert w.events()[1]["responseStatus"] == {"metadata": {}, "code": 200}
    ctx = a.begin(info, ALICE, FakeRequest("/api/v1/pods?watch=1"))
    assert ctx is not None
    ctx.panic(RuntimeError("boom"))
    ctx.finish(500, None)
    last = w.events()[-1]
    assert last["stage"] == "Panic"
    assert last["responseStatus"]["code"] == 500
    assert "boom" in last["responseStatus"]["message"]


def test_audit_id_header_and_user_agent_truncation() -> None:
    a, w = auditor([{"level": "Metadata"}])
    info = requestinfo.parse("GET", "/api/v1/pods", {})
    ctx = a.begin(info, ALICE, FakeRequest("/api/v1/pods", {"Audit-ID": "front-1",
                                                            "User-Agent": "x" * 2000}))
    assert ctx is not None and ctx.audit_id == "front-1"
    ev = w.events()[0]
    assert ev["auditID"] == "front-1"
    assert ev["userAgent"] == "x" * 1024 + "...TRUNCATED"


def test_source_ips() -> None:
    assert source_ips({}, "10.1.1.1") == ["10.1.1.1"]
    assert source_ips({"X-Forwarded-For": "1.1.1.1, bogus, 2.2.2.2"}, "2.2.2.2") == [
        "1.1.1.1", "2.2.2.2"]
    assert source_ips({"X-Real-Ip": "3.3.3.3"}, "4.4.4.4") == ["3.3.3.3", "4.4.4.4"]
    assert source_ips({"X-Forwarded-For": "3.3.3.3", "X-Real-Ip": "3.3.3.3"}, None) == [
        "3.3.3.3"]


def test_micro_time() -> None:
    t = datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    assert micro_time(t) == "2026-01-02T03:04:05.000006Z"


# ---- secrets redaction ------------------------------------------------------------------
SECRET: dict[str, Any] = {"apiVersion": "v1", "kind": "Secret",
          "metadata": {"name": "db", "namespace": "prod"}, "data": {"password": "aHVudGVyMg=="}}


@pytest.mark.parametrize(("method", "path", "body"), [
    ("POST", "/api/v1/namespaces/prod/secrets", SECRET),
    ("POST", "/apis/authentication.k8s.io/v1/tokenreviews",
     {"kind": "TokenReview", "spec": {"token": "eyJhbGciOi"}}),
    ("POST", "/api/v1/namespaces/prod/serviceaccounts/default/token",
     {"kind": "TokenRequest", "spec": {"audiences": ["x"]}}),
])
def test_sensitive_bodies_are_redacted_by_default(method: str, path: str,
                                                  body: dict[str, Any]) -> None:
    a, w = auditor([{"level": "RequestResponse"}])
    info = requestinfo.parse(method, path, {})
    ctx = a.begin(info, ALICE, FakeRequest(path))
    assert ctx is not None
    ctx.finish(201, None, request_object=body,
               response_object={**body, "status": {"token": "secret-token"}})
    for line in w.lines:
        assert b"aHVudGVyMg" not in line and b"eyJhbGciOi" not in line
        assert b"secret-token" not in line
    for ev in w.events():
        assert ev["level"] == "Metadata"
        assert REDACTED_ANNOTATION in ev["annotations"]
        assert "requestObject" not in ev and "responseObject" not in ev


def test_wildcards_do_not_unredact_but_explicit_rules_do() -> None:
    path = "/api/v1/namespaces/prod/secrets"
    info = requestinfo.parse("POST", path, {})
    for rules in ([{"level": "Request", "resources": [{"group": "", "resources": ["*"]}]}],
                  [{"level": "Request", "resources": [{"group": ""}]}],
                  [{"level": "Request", "namespaces": ["prod"]}]):
        a, w = auditor(rules)
        ctx = a.begin(info, ALICE, FakeRequest(path))
        assert ctx is not None
        ctx.finish(201, None, request_object=SECRET)
        assert "requestObject" not in w.events()[-1], rules
    a, w = auditor([{"level": "Request", "resources": [{"group": "",
                                                        "resources": ["secrets"]}]}])
    ctx = a.begin(info, ALICE, FakeRequest(path))
    assert ctx is not None
    ctx.finish(201, None, request_object=SECRET)
    done = w.events()[-1]
    assert done["level"] == "Request"
    assert done["requestObject"] == SECRET
    assert REDACTED_ANNOTATION not in done.get("annotations", {})
    # TokenRequest needs its subresource named.
    tr = "/api/v1/namespaces/prod/serviceaccounts/default/token"
    a, w = auditor([{"level": "Request", "resources": [
        {"group": "", "resources": ["serviceaccounts/token"]}]}])
    ctx = a.begin(requestinfo.parse("POST", tr, {}), ALICE, FakeRequest(tr))
    assert ctx is not None
    ctx.finish(201, None, request_object={"kind": "TokenRequest"})
    assert w.events()[-1]["requestObject"] == {"kind": "TokenRequest"}


def test_metadata_level_secret_is_not_marked_redacted() -> None:
    a, w = auditor([{"level": "Metadata"}])
    path = "/api/v1/namespaces/prod/secrets/db"
    ctx = a.begin(requestinfo.parse("GET", path, {}), ALICE, FakeRequest(path))
    assert ctx is not None
    ctx.finish(200, None, response_object=SECRET)
    assert "annotations" not in w.events()[-1]


# ---- the writer -------------------------------------------------------------------------
def read_lines(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def test_writer_file_mode_and_close_flushes(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "audit.log"
    old = os.umask(0)
    try:
        w = AuditLogWriter(path)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    a = Auditor(policy([{"level": "Metadata"}]), w)
    info = requestinfo.parse("GET", "/api/v1/pods", {})
    for _ in range(50):
        ctx = a.begin(info, ALICE, FakeRequest("/api/v1/pods"))
        assert ctx is not None
        ctx.finish(200, None)
    a.close()
    events = read_lines(path)
    assert len(events) == 100 and w.written == 100 and w.dropped == 0
    assert not w.write(b"{}")  # closed


def test_writer_tightens_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    path.write_text('{"old":1}\n')
    path.chmod(0o644)
    w = AuditLogWriter(path)
    w.write(b'{"new":2}')
    w.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_lines(path) == [{"old": 1}, {"new": 2}]  # appended


def test_rotation(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    w = AuditLogWriter(path, max_bytes=100, max_backups=2)
    lines = [orjson.dumps({"n": i, "pad": "x" * 30}) for i in range(10)]  # ~45 bytes each
    for line in lines:
        w.write(line)
    w.close()
    backups = sorted(tmp_path.glob("audit-*.log"))
    assert len(backups) == 2  # older ones removed
    for b in backups:
        assert re.fullmatch(r"audit-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3}\.log", b.name)
        assert stat.S_IMODE(b.stat().st_mode) == 0o600
        assert b.stat().st_size <= 100
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    kept = [e["n"] for b in backups for e in read_lines(b)] + [e["n"] for e in
                                                               read_lines(path)]
    assert kept == list(range(4, 10))  # the newest, in order; 2 per file
    assert path.stat().st_size <= 100


def test_rotation_oversized_event_and_max_age(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    stale = tmp_path / "audit-2000-01-01T00-00-00.000.log"
    stale.write_text("{}\n")
    unrelated = tmp_path / "audit-notes.log"
    unrelated.write_text("keep\n")
    w = AuditLogWriter(path, max_bytes=50, max_age=timedelta(days=30))
    w.write(b'{"a":1}')
    w.write(orjson.dumps({"big": "y" * 200}))  # larger than max_bytes: own file
    w.write(b'{"b":2}')
    w.close()
    assert not stale.exists() and unrelated.exists()
    backups = sorted(tmp_path.glob("audit-2*.log"))
    assert [read_lines(b) for b in backups] == [[{"a": 1}], [{"big": "y" * 200}]]
    assert read_lines(path) == [{"b": 2}]


def test_from_flags_rotation_units(tmp_path: Path) -> None:
    w = AuditLogWriter.from_flags(str(tmp_path / "a.log"), 1, 3, 7)
    assert (w.max_bytes, w.max_backups, w.max_age) == (1024 * 1024, 3, timedelta(days=7))
    w.close()
    w = AuditLogWriter.from_flags(str(tmp_path / "b.log"))
    assert (w.max_bytes, w.max_backups, w.max_age) == (100 * 1024 * 1024, 0, None)
    w.close()


def test_full_queue_drops_and_counts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gate = threading.Event()
    w = AuditLogWriter(tmp_path / "audit.log", queue_size=3)
    real = w._write_line

    def slow(data: bytes) -> None:
        gate.wait(5)
        real(data)

    monkeypatch.setattr(w, "_write_line", slow)
    results = [w.write(orjson.dumps({"i": i})) for i in range(10)]
    assert results.count(False) >= 6 and w.dropped == results.count(False)
    gate.set()
    w.close()
    assert w.written == results.count(True)
    assert len(read_lines(tmp_path / "audit.log")) == w.written


def test_auditor_from_flags(tmp_path: Path) -> None:
    pfile = tmp_path / "policy.yaml"
    pfile.write_text(POLICY_YAML)
    assert Auditor.from_flags("", str(tmp_path / "a.log")) is None
    assert Auditor.from_flags(str(pfile), "") is None
    with pytest.raises(ValueError, match="--audit-log-maxbackup -1 can't be a negative"):
        Auditor.from_flags(str(pfile), str(tmp_path / "a.log"), maxbackup=-1)
    a = Auditor.from_flags(str(pfile), str(tmp_path / "a.log"), maxsize=1, maxbackup=2,
                           maxage=3)
    assert a is not None
    a.close()
    assert (tmp_path / "a.log").exists()


def test_log_response_object_bytes_and_delete_status() -> None:
    a, w = auditor([{"level": "RequestResponse"}])
    path = "/api/v1/namespaces/default/pods/web"
    ctx = a.begin(requestinfo.parse("GET", path, {}), ALICE, FakeRequest(path))
    assert ctx is not None
    ctx.log_response_object(b'{"kind":"Pod","metadata":{"name":"web"}}')
    ctx.finish(200)
    assert w.events()[-1]["responseObject"] == {"kind": "Pod", "metadata": {"name": "web"}}
    ctx = a.begin(requestinfo.parse("GET", path, {}), ALICE, FakeRequest(path))
    assert ctx is not None
    ctx.log_response_object(b"k8s\x00\x0a\x0b")  # protobuf: not logged
    ctx.finish(200)
    assert "responseObject" not in w.events()[-1]
    # A delete answering with a Status: it becomes responseStatus even at Metadata level.
    a, w = auditor([{"level": "Metadata"}])
    ctx = a.begin(requestinfo.parse("DELETE", path, {}), ALICE, FakeRequest(path))
    assert ctx is not None
    ctx.log_response_object({"kind": "Status", "apiVersion": "v1", "metadata": {},
                             "status": "Success", "details": {"name": "web"}})
    ctx.finish(200)
    done = w.events()[-1]
    assert done["responseStatus"] == {"metadata": {}, "status": "Success", "code": 200}
    assert "responseObject" not in done


def test_is_long_running() -> None:
    assert is_long_running(requestinfo.parse("GET", "/api/v1/pods", {"watch": "true"}))
    assert is_long_running(requestinfo.parse("GET", "/api/v1/namespaces/a/pods/p/log", {}))
    assert is_long_running(requestinfo.parse("POST", "/api/v1/namespaces/a/pods/p/exec", {}))
    assert not is_long_running(requestinfo.parse("GET", "/api/v1/pods", {}))
    assert not is_long_running(requestinfo.parse("GET", "/healthz", {}))
