"""Label and field selectors: upstream's syntax, matching, messages and field labels."""

from __future__ import annotations

from typing import Any

import pytest

from kubesmith.api.errors import StatusError
from kubesmith.api.selectors import (
    EVERYTHING,
    NOTHING,
    CustomResourceFields,
    FieldSelector,
    FieldTerm,
    LabelSelector,
    Operator,
    Requirement,
    SelectorError,
    field_set,
    format_label_selector,
    format_labels,
    label_key_errors,
    label_selector_from_object,
    label_selector_from_set,
    label_value_errors,
    parse_field_selector,
    parse_label_selector,
    supported_field_labels,
    validate_field_selector,
    validate_label_selector,
)

KEY_REGEX_ERR = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with "
    "an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
    "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
VALUE_REGEX_ERR = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' "
    "or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
    "'my_value',  or '12345', regex used for validation is "
    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)

# ---- label selector syntax -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        pytest.param("a=b", "a=b", id="equals"),
        pytest.param("a==b", "a==b", id="double-equals"),
        pytest.param("a!=b", "a!=b", id="not-equals"),
        pytest.param("a", "a", id="exists"),
        pytest.param("!a", "!a", id="does-not-exist"),
        pytest.param("a in (y,x)", "a in (x,y)", id="in-values-sorted"),
        pytest.param("a notin(b, c)", "a notin (b,c)", id="notin-whitespace"),
        pytest.param("  a = b ,  c  ", "a=b,c", id="whitespace-around-tokens"),
        pytest.param("z=1,a=2", "a=2,z=1", id="sorted-by-key"),
        pytest.param("x in (foo,,baz),y,z notin ()", "x in (,baz,foo),y,z notin ()",
                     id="upstream-doc-example"),
        pytest.param("a in ()", "a in ()", id="empty-set-is-empty-value"),
        pytest.param("a in (,)", "a in ()", id="lone-comma"),
        pytest.param("a=", "a=", id="empty-value"),
        pytest.param("a!=", "a!=", id="not-equal-empty"),
        pytest.param("in in (in,notin)", "in in (in,notin)", id="keywords-as-identifiers"),
        pytest.param("a>1,b<2", "a>1,b<2", id="gt-lt"),
        pytest.param("example.com/app=web", "example.com/app=web", id="prefixed-key"),
        pytest.param("A.b-c_D=e.F", "A.b-c_D=e.F", id="key-and-value-charset"),
        pytest.param("", "", id="empty"),
    ],
)
def test_parse_label_selector_round_trips(text: str, canonical: str) -> None:
    assert str(parse_label_selector(text)) == canonical


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("a=b=c", "found '=', expected: ',' or 'end of string'", id="double-op"),
        pytest.param("a b", "unable to parse requirement: found 'b', expected: in, notin, "
                     "=, ==, !=, gt, lt", id="missing-operator"),
        pytest.param("a in (x", "unable to parse requirement: found '', expected: ',' or ')'",
                     id="unclosed-set"),
        pytest.param("a in x", "unable to parse requirement: found 'x' expected: '('",
                     id="set-without-paren"),
        pytest.param("x in (a b)", "unable to parse requirement: found 'b', expected: ',' "
                     "or ')'", id="space-in-set"),
        pytest.param(",a", "found ',', expected: !, identifier, or 'end of string'",
                     id="leading-comma"),
        pytest.param("a=b,", "found '', expected: identifier after ','", id="trailing-comma"),
        pytest.param("a=(b)", "unable to parse requirement: found '(', expected: identifier",
                     id="paren-value"),
        pytest.param("!a=b", "found '=', expected: ',' or 'end of string'",
                     id="not-with-value"),
        pytest.param("=b", "found '=', expected: !, identifier, or 'end of string'",
                     id="no-key"),
        pytest.param("-a=b", f'unable to parse requirement: <nil>: Invalid value: "-a": '
                     f"name part {KEY_REGEX_ERR}", id="bad-key"),
        pytest.param("/a", 'unable to parse requirement: <nil>: Invalid value: "/a": '
                     "prefix part must be non-empty", id="empty-prefix"),
        pytest.param("a=-b", 'unable to parse requirement: values[0][a]: Invalid value: '
                     f'"-b": {VALUE_REGEX_ERR}', id="bad-value"),
        pytest.param("a<x", 'unable to parse requirement: values[0]: Invalid value: "x": '
                     "for 'Gt', 'Lt' operators, the value must be an integer",
                     id="gt-not-integer"),
        pytest.param("a=" + "v" * 64, "unable to parse requirement: values[0][a]: Invalid "
                     f'value: "{"v" * 64}": must be no more than 63 bytes',
                     id="value-too-long"),
    ],
)
def test_parse_label_selector_errors(text: str, message: str) -> None:
    with pytest.raises(StatusError) as info:
        parse_label_selector(text)
    assert info.value.code == 400
    assert info.value.reason == "BadRequest"
    assert info.value.message == message


@pytest.mark.parametrize(
    ("key", "errors"),
    [
        pytest.param("app", [], id="plain"),
        pytest.param("app.kubernetes.io/name", [], id="prefixed"),
        pytest.param("a" * 64, ["name part must be no more than 63 bytes"], id="long-name"),
        pytest.param("", ["name part must be non-empty", f"name part {KEY_REGEX_ERR}"],
                     id="empty"),
        pytest.param("Bad_Prefix/x", [
            "prefix part a lowercase RFC 1123 subdomain must consist of lower case "
            "alphanumeric characters, '-' or '.', and must start and end with an "
            "alphanumeric character (e.g. 'example.com', regex used for validation is "
            "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"],
            id="bad-prefix"),
    ],
)
def test_label_key_errors(key: str, errors: list[str]) -> None:
    assert label_key_errors(key) == errors


def test_label_value_errors() -> None:
    assert label_value_errors("") == []
    assert label_value_errors("ok.v-1_x") == []
    assert label_value_errors("a b") == [VALUE_REGEX_ERR]


# ---- label selector matching -----------------------------------------------------------

LABELS = {"app": "web", "tier": "frontend", "n": "7", "empty": ""}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("app=web", True, id="equals-hit"),
        pytest.param("app=db", False, id="equals-miss"),
        pytest.param("missing=", False, id="equals-empty-needs-key"),
        pytest.param("empty=", True, id="equals-empty-value"),
        pytest.param("app!=db", True, id="not-equals"),
        pytest.param("missing!=x", True, id="not-equals-missing-key"),
        pytest.param("app in (db,web)", True, id="in"),
        pytest.param("missing in (a)", False, id="in-missing-key"),
        pytest.param("app notin (web)", False, id="notin-hit"),
        pytest.param("missing notin (web)", True, id="notin-missing-key"),
        pytest.param("tier", True, id="exists"),
        pytest.param("!tier", False, id="does-not-exist"),
        pytest.param("!missing", True, id="does-not-exist-missing"),
        pytest.param("n>6", True, id="gt"),
        pytest.param("n<7", False, id="lt-equal"),
        pytest.param("app>1", False, id="gt-non-integer-label"),
        pytest.param("app=web,tier=frontend,n>1", True, id="and-all"),
        pytest.param("app=web,tier=backend", False, id="and-one-fails"),
        pytest.param("", True, id="empty-matches-all"),
    ],
)
def test_label_selector_matches(text: str, expected: bool) -> None:
    assert parse_label_selector(text).matches(LABELS) is expected


def test_required_equalities_pins_single_values_only() -> None:
    selector = parse_label_selector("a=1,b==2,c in (3),d in (4,5),e!=6,f")
    assert selector.required_equalities() == {"a": "1", "b": "2", "c": "3"}
    assert selector.requires_exact_match("c") == "3"
    assert selector.requires_exact_match("d") is None


def test_everything_and_nothing() -> None:
    assert EVERYTHING.empty
    assert EVERYTHING.matches({})
    assert not NOTHING.empty
    assert NOTHING.matches_nothing
    assert not NOTHING.matches({"a": "b"})
    assert parse_label_selector("") == EVERYTHING


def test_requirement_new_validates_like_upstream() -> None:
    with pytest.raises(SelectorError, match="exact-match compatibility requires one single"):
        Requirement.new("a", Operator.EQUALS, ["x", "y"])
    with pytest.raises(SelectorError, match="values set must be empty for exists"):
        Requirement.new("a", Operator.EXISTS, ["x"])
    assert Requirement.new("a", "in", ["x"]).matches({"a": "x"})


def test_label_selector_from_set() -> None:
    assert label_selector_from_set(None) == EVERYTHING
    selector = label_selector_from_set({"b": "2", "a": "1"})
    assert str(selector) == "a=1,b=2"
    assert selector.matches({"a": "1", "b": "2", "c": "3"})
    assert not selector.matches({"a": "1"})


# ---- structured selectors --------------------------------------------------------------


@pytest.mark.parametrize(
    ("selector", "canonical", "labels", "expected"),
    [
        pytest.param(None, "", {"a": "b"}, False, id="nil-matches-nothing"),
        pytest.param({}, "", {"a": "b"}, True, id="empty-matches-everything"),
        pytest.param({"matchLabels": {}, "matchExpressions": []}, "", {}, True,
                     id="empty-lists"),
        pytest.param({"matchLabels": {"app": "web"}}, "app=web", {"app": "web"}, True,
                     id="match-labels"),
        pytest.param({"matchLabels": {"z": "1"}, "matchExpressions": [
            {"key": "a", "operator": "In", "values": ["y", "x"]},
            {"key": "b", "operator": "NotIn", "values": ["q"]},
            {"key": "c", "operator": "Exists"},
            {"key": "d", "operator": "DoesNotExist"},
        ]}, "a in (x,y),b notin (q),c,!d,z=1", {"a": "x", "c": "", "z": "1"}, True,
            id="all-operators"),
        pytest.param({"matchExpressions": [{"key": "c", "operator": "Exists"}]}, "c",
                     {"a": "x"}, False, id="exists-miss"),
    ],
)
def test_label_selector_from_object(selector: dict[str, Any] | None, canonical: str,
                                    labels: dict[str, str], expected: bool) -> None:
    built = label_selector_from_object(selector)
    assert str(built) == canonical
    assert built.matches(labels) is expected


def test_label_selector_from_object_rejects_bad_operator() -> None:
    with pytest.raises(SelectorError) as info:
        label_selector_from_object({"matchExpressions": [{"key": "a", "operator": "Gt"}]})
    assert str(info.value) == '"Gt" is not a valid label selector operator'


def test_label_selector_from_object_rejects_bad_values() -> None:
    with pytest.raises(SelectorError) as info:
        label_selector_from_object({"matchExpressions": [{"key": "a", "operator": "In"}]})
    assert str(info.value) == ("values: Invalid value: []string{}: for 'in', 'notin' "
                               "operators, values set can't be empty")


@pytest.mark.parametrize(
    ("selector", "messages"),
    [
        pytest.param(None, [], id="nil"),
        pytest.param({"matchLabels": {"app": "web"}}, [], id="valid"),
        pytest.param({"matchExpressions": [{"key": "a", "operator": "In"}]},
                     ["spec.selector.matchExpressions[0].values: Required value: must be "
                      "specified when `operator` is 'In' or 'NotIn'"], id="in-needs-values"),
        pytest.param({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": []}]},
                     ["spec.selector.matchExpressions[0].values: Required value: must be "
                      "specified when `operator` is 'In' or 'NotIn'"],
                     id="notin-needs-values"),
        pytest.param({"matchExpressions": [{"key": "a", "operator": "Exists",
                                            "values": ["x"]}]},
                     ["spec.selector.matchExpressions[0].values: Forbidden: may not be "
                      "specified when `operator` is 'Exists' or 'DoesNotExist'"],
                     id="exists-forbids-values"),
        pytest.param({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]},
                     ['spec.selector.matchExpressions[0].operator: Invalid value: "Gt": not '
                      "a valid selector operator"], id="unknown-operator"),
        pytest.param({"matchLabels": {"-bad": "x y"}},
                     [f'spec.selector.matchLabels: Invalid value: "-bad": name part '
                      f"{KEY_REGEX_ERR}",
                      f'spec.selector.matchLabels: Invalid value: "x y": {VALUE_REGEX_ERR}'],
                     id="bad-match-labels"),
        pytest.param({"matchExpressions": [{"key": "a", "operator": "In",
                                            "values": ["ok", "-no"]}]},
                     ['spec.selector.matchExpressions[0].values[1]: Invalid value: "-no": '
                      f"{VALUE_REGEX_ERR}"], id="bad-expression-value"),
    ],
)
def test_validate_label_selector(selector: dict[str, Any] | None,
                                 messages: list[str]) -> None:
    assert [e.message() for e in validate_label_selector(selector)] == messages


def test_validate_label_selector_options() -> None:
    selector = {"matchExpressions": [{"key": "a", "operator": "Weird", "values": ["-x"]}]}
    assert validate_label_selector(selector, "spec.podSelector",
                                   allow_invalid_label_value=True,
                                   allow_unknown_operator=True) == []


@pytest.mark.parametrize(
    ("selector", "text"),
    [
        pytest.param(None, "<none>", id="nil"),
        pytest.param({}, "<none>", id="empty"),
        pytest.param({"matchLabels": {"b": "2", "a": "1"}}, "a=1,b=2", id="labels"),
        pytest.param({"matchExpressions": [{"key": "a", "operator": "Nope"}]}, "<error>",
                     id="invalid"),
    ],
)
def test_format_label_selector(selector: dict[str, Any] | None, text: str) -> None:
    assert format_label_selector(selector) == text


def test_format_labels() -> None:
    assert format_labels(None) == "<none>"
    assert format_labels({"b": "2", "a": "1"}) == "a=1,b=2"


# ---- field selectors -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "terms", "canonical"),
    [
        pytest.param("a=b", [FieldTerm("a", "b")], "a=b", id="equals"),
        pytest.param("a==b", [FieldTerm("a", "b")], "a=b", id="double-equals"),
        pytest.param("a!=b", [FieldTerm("a", "b", equals=False)], "a!=b", id="not-equals"),
        pytest.param("z=1,a=2", [FieldTerm("a", "2"), FieldTerm("z", "1")], "a=2,z=1",
                     id="terms-sorted"),
        pytest.param("a=", [FieldTerm("a", "")], "a=", id="empty-value"),
        pytest.param(r"a=x\,y\=z\\w", [FieldTerm("a", "x,y=z\\w")], r"a=x\,y\=z\\w",
                     id="escapes"),
        pytest.param("a = b", [FieldTerm("a ", " b")], "a = b", id="whitespace-kept"),
        pytest.param("a=b,,c=d", [FieldTerm("a", "b"), FieldTerm("c", "d")], "a=b,c=d",
                     id="empty-term-skipped"),
        pytest.param("", [], "", id="empty"),
    ],
)
def test_parse_field_selector(text: str, terms: list[FieldTerm], canonical: str) -> None:
    selector = parse_field_selector(text)
    assert list(selector.terms) == terms
    assert str(selector) == canonical


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("abc", "invalid selector: 'abc'; can't understand 'abc'", id="no-op"),
        pytest.param("a=b,c", "invalid selector: 'a=b,c'; can't understand 'c'",
                     id="second-term-no-op"),
        pytest.param("a=b=c", "invalid field selector: unescaped character in value: 61",
                     id="unescaped-equals"),
        pytest.param(r"a=b\x", r"invalid field selector: invalid escape sequence: \x",
                     id="bad-escape"),
        pytest.param("a=b\\", "invalid field selector: invalid escape sequence: \\",
                     id="trailing-backslash"),
    ],
)
def test_parse_field_selector_errors(text: str, message: str) -> None:
    with pytest.raises(StatusError) as info:
        parse_field_selector(text)
    assert (info.value.code, info.value.message) == (400, message)


@pytest.mark.parametrize(
    ("text", "fields", "expected"),
    [
        pytest.param("status.phase=Running", {"status.phase": "Running"}, True, id="eq"),
        pytest.param("status.phase!=Running", {"status.phase": "Running"}, False, id="neq"),
        pytest.param("spec.nodeName=", {}, True, id="missing-reads-empty"),
        pytest.param("a=1,b!=2", {"a": "1", "b": "3"}, True, id="and"),
        pytest.param("", {}, True, id="empty"),
    ],
)
def test_field_selector_matches(text: str, fields: dict[str, str], expected: bool) -> None:
    assert parse_field_selector(text).matches(fields) is expected


def test_field_selector_equalities() -> None:
    selector = parse_field_selector("spec.nodeName=n1,status.phase!=Failed")
    assert selector.required_equalities() == {"spec.nodeName": "n1"}
    assert selector.requires_exact_match("spec.nodeName") == "n1"
    assert selector.requires_exact_match("status.phase") is None
    assert FieldSelector().empty


@pytest.mark.parametrize(
    ("group", "kind", "text", "converted"),
    [
        pytest.param("", "Pod", "spec.nodeName=n1,status.phase=Running",
                     "spec.nodeName=n1,status.phase=Running", id="pod"),
        pytest.param("", "Pod", "spec.host=n1", "spec.nodeName=n1", id="pod-spec-host"),
        pytest.param("", "Pod", "status.podIPs=10.0.0.1", "status.podIPs=10.0.0.1",
                     id="pod-ips"),
        pytest.param("", "Event", "involvedObject.name=x,source=kubelet",
                     "involvedObject.name=x,source=kubelet", id="core-event"),
        pytest.param("events.k8s.io", "Event", "regarding.name=x,reportingController=c",
                     "involvedObject.name=x,reportingComponent=c", id="events-v1-mapping"),
        pytest.param("", "Secret", "type=Opaque", "type=Opaque", id="secret"),
        pytest.param("", "Namespace", "status.phase=Active", "status.phase=Active",
                     id="namespace"),
        pytest.param("", "Node", "spec.unschedulable=true", "spec.unschedulable=true",
                     id="node"),
        pytest.param("", "Service", "spec.type=NodePort", "spec.type=NodePort",
                     id="service"),
        pytest.param("batch", "Job", "status.successful=1", "status.successful=1", id="job"),
        pytest.param("", "ConfigMap", "metadata.name=a,metadata.namespace=b",
                     "metadata.name=a,metadata.namespace=b", id="default-kind"),
        pytest.param("certificates.k8s.io", "CertificateSigningRequest",
                     "spec.signerName=x", "spec.signerName=x", id="csr"),
    ],
)
def test_validate_field_selector_accepts(group: str, kind: str, text: str,
                                         converted: str) -> None:
    selector = validate_field_selector(group, kind, parse_field_selector(text))
    assert str(selector) == converted


@pytest.mark.parametrize(
    ("group", "kind", "text", "message"),
    [
        pytest.param("", "Pod", "spec.foo=x", "field label not supported: spec.foo",
                     id="pod"),
        pytest.param("", "Node", "metadata.namespace=x",
                     "field label not supported: metadata.namespace", id="node-namespace"),
        pytest.param("", "ConfigMap", "data.x=y",
                     '"data.x" is not a known field selector: only "metadata.name", '
                     '"metadata.namespace"', id="default-kind"),
        pytest.param("apps", "ReplicaSet", "status.replicas=1",
                     '"status.replicas" is not a known field selector: only '
                     '"metadata.name", "metadata.namespace"', id="replicaset-not-converted"),
        pytest.param("", "ReplicationController", "spec.replicas=1",
                     "field label not supported: spec.replicas", id="rc"),
        pytest.param("batch", "Job", "status.active=1",
                     'field label "status.active" not supported for Job', id="job-wording"),
        pytest.param("events.k8s.io", "Event", "involvedObject.name=x",
                     "field label not supported: involvedObject.name",
                     id="events-v1-core-label"),
        pytest.param("events.k8s.io", "Event", "source=x",
                     "field label not supported: source", id="events-v1-source"),
        pytest.param("resource.k8s.io", "ResourceSlice", "spec.pool=x",
                     "field label not supported for resource.k8s.io/v1, Kind=ResourceSlice: "
                     "spec.pool", id="resource-slice-wording"),
    ],
)
def test_validate_field_selector_rejects(group: str, kind: str, text: str,
                                         message: str) -> None:
    with pytest.raises(StatusError) as info:
        validate_field_selector(group, kind, parse_field_selector(text))
    assert (info.value.code, info.value.reason, info.value.message) == \
        (400, "BadRequest", message)


def test_validate_field_selector_for_custom_resources() -> None:
    custom = CustomResourceFields(cluster_scoped=False, selectable_fields=(".spec.color",))
    selector = validate_field_selector("example.com", "Widget",
                                       parse_field_selector("spec.color=red,metadata.name=a"),
                                       custom=custom)
    assert str(selector) == "metadata.name=a,spec.color=red"
    with pytest.raises(StatusError, match=r"field label not supported: metadata\.namespace"):
        validate_field_selector("example.com", "Widget",
                                parse_field_selector("metadata.namespace=x"),
                                custom=CustomResourceFields(cluster_scoped=True))


def test_supported_field_labels() -> None:
    assert "spec.host" in supported_field_labels("", "Pod")
    assert supported_field_labels("", "ConfigMap") == {"metadata.name", "metadata.namespace"}
    assert "regarding.kind" in supported_field_labels("events.k8s.io", "Event")


POD = {
    "metadata": {"name": "web-1", "namespace": "default"},
    "spec": {"nodeName": "n1", "restartPolicy": "Always", "schedulerName": "default-scheduler",
             "serviceAccountName": "default", "hostNetwork": True},
    "status": {"phase": "Running", "podIP": "10.244.0.5",
               "podIPs": [{"ip": "10.244.0.5"}, {"ip": "fd00::5"}],
               "nominatedNodeName": ""},
}


@pytest.mark.parametrize(
    ("group", "kind", "obj", "expected"),
    [
        pytest.param("", "Pod", POD, {
            "metadata.name": "web-1", "metadata.namespace": "default",
            "spec.nodeName": "n1", "spec.restartPolicy": "Always",
            "spec.schedulerName": "default-scheduler", "spec.serviceAccountName": "default",
            "spec.hostNetwork": "true", "status.phase": "Running",
            "status.podIP": "10.244.0.5", "status.nominatedNodeName": ""}, id="pod"),
        pytest.param("", "Pod", {"metadata": {"name": "p"}}, {
            "metadata.name": "p", "metadata.namespace": "", "spec.nodeName": "",
            "spec.restartPolicy": "", "spec.schedulerName": "", "spec.serviceAccountName": "",
            "spec.hostNetwork": "false", "status.phase": "", "status.podIP": "",
            "status.nominatedNodeName": ""}, id="pod-bare"),
        pytest.param("", "Node", {"metadata": {"name": "n1"}, "spec": {}}, {
            "metadata.name": "n1", "metadata.namespace": "",
            "spec.unschedulable": "false"}, id="node"),
        pytest.param("", "Secret", {"metadata": {"name": "s", "namespace": "d"},
                                    "type": "Opaque"},
                     {"metadata.name": "s", "metadata.namespace": "d", "type": "Opaque"},
                     id="secret"),
        pytest.param("batch", "Job", {"metadata": {"name": "j", "namespace": "d"},
                                      "status": {"succeeded": 2}},
                     {"metadata.name": "j", "metadata.namespace": "d",
                      "status.successful": "2"}, id="job"),
        pytest.param("", "ReplicationController", {"metadata": {"name": "r"}},
                     {"metadata.name": "r", "metadata.namespace": "", "status.replicas": "0"},
                     id="rc"),
        pytest.param("example.com", "Widget", {"metadata": {"name": "w", "namespace": "d"}},
                     {"metadata.name": "w", "metadata.namespace": "d"}, id="unknown-kind"),
    ],
)
def test_field_set(group: str, kind: str, obj: dict[str, Any],
                   expected: dict[str, str]) -> None:
    assert field_set(group, kind, obj) == expected


def test_field_set_events_use_internal_labels() -> None:
    core = {"metadata": {"name": "e", "namespace": "d"}, "reason": "Pulled", "type": "Normal",
            "involvedObject": {"kind": "Pod", "name": "p", "namespace": "d", "uid": "u1"},
            "reportingComponent": "kubelet", "source": {}}
    v1 = {"metadata": {"name": "e", "namespace": "d"}, "reason": "Pulled", "type": "Normal",
          "regarding": {"kind": "Pod", "name": "p", "namespace": "d", "uid": "u1"},
          "reportingController": "kubelet"}
    core_fields = field_set("", "Event", core)
    assert core_fields["source"] == "kubelet"  # falls back to the reporting component
    assert core_fields == field_set("events.k8s.io", "Event", v1)
    selector = validate_field_selector("events.k8s.io", "Event",
                                       parse_field_selector("regarding.name=p,type=Normal"))
    assert selector.matches(field_set("events.k8s.io", "Event", v1))


def test_field_set_selectable_fields() -> None:
    widget = {"metadata": {"name": "w"}, "spec": {"color": "red", "size": 3, "big": False,
                                                  "ratio": 1e6}}
    fields = field_set("example.com", "Widget", widget,
                       selectable_fields=[".spec.color", ".spec.size", ".spec.big",
                                          ".spec.ratio", ".spec.missing"])
    assert fields["spec.color"] == "red"
    assert fields["spec.size"] == "3"
    assert fields["spec.big"] == "false"
    assert fields["spec.ratio"] == "1e+06"
    assert fields["spec.missing"] == ""


def test_compiled_selectors_are_reusable_values() -> None:
    first = parse_label_selector("a=1,b in (2,3)")
    second = parse_label_selector("b in (3,2),a=1")
    assert first == second
    assert hash(first) == hash(second)
    assert isinstance(first, LabelSelector)
    assert parse_field_selector("a=1") == parse_field_selector("a==1")
