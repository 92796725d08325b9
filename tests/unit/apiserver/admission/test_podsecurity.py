"""PodSecurity admission: checks, messages, namespace labels, and the plugin's decisions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from kubesmith.api.errors import StatusError
from kubesmith.api.resource_types import ResourceType
from kubesmith.apiserver.admission import AdmissionRequest
from kubesmith.apiserver.admission_plugins import podsecurity as ps
from kubesmith.apiserver.authn import UserInfo

Obj = dict[str, Any]

RESTRICTED_SC = {"allowPrivilegeEscalation": False, "runAsNonRoot": True,
                 "seccompProfile": {"type": "RuntimeDefault"},
                 "capabilities": {"drop": ["ALL"]}}


def pod(spec: Obj | None = None, *, containers: list[Obj] | None = None,
        annotations: Mapping[str, str] | None = None, name: str = "x") -> Obj:
    body: Obj = dict(spec or {})
    body["containers"] = containers if containers is not None else [{"name": "c", "image": "i"}]
    meta: Obj = {"name": name}
    if annotations:
        meta["annotations"] = dict(annotations)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": body}


def c(name: str = "c", **sc: Any) -> Obj:
    return {"name": name, "image": "i", "securityContext": sc} if sc else \
        {"name": name, "image": "i"}


def detail(level: str, p: Obj, version: str = "latest") -> str:
    return ps.forbidden_detail(ps.evaluate(ps.LevelVersion(level, version),
                                           p["metadata"], p["spec"]))


BASELINE_CASES: list[tuple[str, Obj, str]] = [
    ("ok", pod(), ""),
    ("hostProcess", pod({"securityContext": {"windowsOptions": {"hostProcess": True}}},
                        containers=[c("a", windowsOptions={"hostProcess": True}), c("b")]),
     'hostProcess (pod and container "a" must not set '
     "securityContext.windowsOptions.hostProcess=true)"),
    ("host namespaces", pod({"hostNetwork": True, "hostPID": True, "hostIPC": True}),
     "host namespaces (hostNetwork=true, hostPID=true, hostIPC=true)"),
    ("host namespaces false", pod({"hostNetwork": False}), ""),
    ("privileged", pod(containers=[c("a", privileged=True), c("b", privileged=True),
                                   c("d", privileged=False)]),
     'privileged (containers "a", "b" must not set securityContext.privileged=true)'),
    ("capabilities", pod(containers=[c("a", capabilities={"add": ["NET_RAW", "CHOWN",
                                                                   "SYS_ADMIN"]})]),
     'non-default capabilities (container "a" must not include "NET_RAW", "SYS_ADMIN" in '
     "securityContext.capabilities.add)"),
    ("capabilities default set", pod(containers=[c("a", capabilities={"add": ["KILL"]})]), ""),
    ("hostPath", pod({"volumes": [{"name": "h", "hostPath": {"path": "/"}},
                                  {"name": "e", "emptyDir": {}}]}),
     'hostPath volumes (volume "h")'),
    ("hostPorts", pod(containers=[
        {"name": "a", "image": "i", "ports": [{"containerPort": 80, "hostPort": 8080},
                                              {"containerPort": 81, "hostPort": 90}]},
        {"name": "b", "image": "i", "ports": [{"containerPort": 80, "hostPort": 0}]}]),
     'hostPort (container "a" uses hostPorts 8080, 90)'),
    ("probe host", pod(containers=[
        {"name": "a", "image": "i", "livenessProbe": {"httpGet": {"host": "1.2.3.4",
                                                                 "port": 80}},
         "lifecycle": {"preStop": {"tcpSocket": {"host": "evil", "port": 1}}}}]),
     'probe or lifecycle host (container "a" uses probe or lifecycle hosts "1.2.3.4", "evil")'),
    ("apparmor field", pod({"securityContext": {"appArmorProfile": {"type": "Unconfined"}}},
                           containers=[c("a", appArmorProfile={"type": "Localhost",
                                                               "localhostProfile": "p"})]),
     'forbidden AppArmor profile (pod must not set AppArmor profile type to "Unconfined")'),
    ("apparmor annotation", pod(annotations={
        "container.apparmor.security.beta.kubernetes.io/c": "unconfined",
        "container.apparmor.security.beta.kubernetes.io/d": "runtime/default"}),
     'forbidden AppArmor profile (annotation must not set AppArmor profile type to '
     '"container.apparmor.security.beta.kubernetes.io/c="unconfined"")'),
    ("selinux", pod({"securityContext": {"seLinuxOptions": {"type": "spc_t"}}},
                    containers=[c("a", seLinuxOptions={"user": "u", "role": "r",
                                                       "type": "container_t"})]),
     'seLinuxOptions (pod and container "a" set forbidden securityContext.seLinuxOptions: '
     'type "spc_t"; user may not be set; role may not be set)'),
    ("selinux engine type", pod({"securityContext": {
        "seLinuxOptions": {"type": "container_engine_t"}}}), ""),
    ("procMount", pod(containers=[c("a", procMount="Unmasked")]),
     'procMount (container "a" must not set securityContext.procMount to "Unmasked")'),
    ("procMount user namespace", pod({"hostUsers": False},
                                     containers=[c("a", procMount="Unmasked")]), ""),
    ("seccomp unconfined", pod(containers=[c("a", seccompProfile={"type": "Unconfined"})]),
     'seccompProfile (container "a" must not set securityContext.seccompProfile.type to '
     '"Unconfined")'),
    ("sysctls", pod({"securityContext": {"sysctls": [
        {"name": "kernel.msgmax", "value": "1"},
        {"name": "net.ipv4.tcp_notsent_lowat", "value": "1"},
        {"name": "net.core.somaxconn", "value": "1"}]}}),
     "forbidden sysctls (kernel.msgmax, net.core.somaxconn)"),
]


@pytest.mark.parametrize(("case", "p", "want"), BASELINE_CASES,
                         ids=[x[0] for x in BASELINE_CASES])
def test_baseline_checks(case: str, p: Obj, want: str) -> None:
    assert detail("baseline", p) == want
    assert detail("privileged", p) == ""


def rpod(**overrides: Any) -> Obj:
    """A pod that passes restricted, with container securityContext overrides."""
    sc = {**RESTRICTED_SC, **overrides}
    return pod(containers=[{"name": "c", "image": "i",
                            "securityContext": {k: v for k, v in sc.items() if v is not None}}])


RESTRICTED_CASES: list[tuple[str, Obj, str]] = [
    ("ok", rpod(), ""),
    ("ok pod-level", pod({"securityContext": {"runAsNonRoot": True,
                                              "seccompProfile": {"type": "Localhost",
                                                                 "localhostProfile": "p"}}},
                         containers=[c("c", allowPrivilegeEscalation=False,
                                       capabilities={"drop": ["ALL"],
                                                     "add": ["NET_BIND_SERVICE"]})]), ""),
    ("bare pod", pod(),
     'allowPrivilegeEscalation != false (container "c" must set '
     "securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container "
     '"c" must set securityContext.capabilities.drop=["ALL"]), runAsNonRoot != true (pod or '
     'container "c" must set securityContext.runAsNonRoot=true), seccompProfile (pod or '
     'container "c" must set securityContext.seccompProfile.type to "RuntimeDefault" or '
     '"Localhost")'),
    ("volumes", pod({"volumes": [{"name": "h", "hostPath": {"path": "/"}},
                                 {"name": "n", "nfs": {"server": "s", "path": "/"}},
                                 {"name": "s", "secret": {"secretName": "s"}},
                                 {"name": "w"}]},
                    containers=rpod()["spec"]["containers"]),
     'restricted volume types (volumes "h", "n", "w" use restricted volume types '
     '"hostPath", "nfs", "unknown")'),
    ("escalation true", rpod(allowPrivilegeEscalation=True),
     'allowPrivilegeEscalation != false (container "c" must set '
     "securityContext.allowPrivilegeEscalation=false)"),
    ("runAsNonRoot false", rpod(runAsNonRoot=False),
     'runAsNonRoot != true (container "c" must not set securityContext.runAsNonRoot=false)'),
    ("runAsUser 0", rpod(runAsUser=0),
     'runAsUser=0 (container "c" must not set runAsUser=0)'),
    ("runAsUser 0 in user namespace", {**rpod(), "spec": {**rpod()["spec"], "hostUsers": False,
                                                         "containers": [c(
                                                             "c", **{**RESTRICTED_SC,
                                                                     "runAsUser": 0,
                                                                     "runAsNonRoot": False})]}},
     ""),
    ("seccomp missing", rpod(seccompProfile=None),
     'seccompProfile (pod or container "c" must set securityContext.seccompProfile.type to '
     '"RuntimeDefault" or "Localhost")'),
    ("capabilities add", rpod(capabilities={"drop": ["ALL"], "add": ["NET_BIND_SERVICE",
                                                                    "SYS_TIME", "CHOWN"]}),
     'unrestricted capabilities (container "c" must not include "CHOWN", "SYS_TIME" in '
     "securityContext.capabilities.add)"),
    ("capabilities no drop", rpod(capabilities={"drop": ["NET_RAW"]}),
     'unrestricted capabilities (container "c" must set securityContext.capabilities.drop='
     '["ALL"])'),
    ("procMount restricted even in user namespace",
     {**rpod(procMount="Unmasked"), "spec": {**rpod(procMount="Unmasked")["spec"],
                                             "hostUsers": False}},
     'procMount (container "c" must not set securityContext.procMount to "Unmasked")'),
    ("windows skips linux-only checks", pod({"os": {"name": "windows"},
                                             "securityContext": {"runAsNonRoot": True}}), ""),
]


@pytest.mark.parametrize(("case", "p", "want"), RESTRICTED_CASES,
                         ids=[x[0] for x in RESTRICTED_CASES])
def test_restricted_checks(case: str, p: Obj, want: str) -> None:
    assert detail("restricted", p) == want


def test_restricted_includes_baseline_and_containers_of_every_kind() -> None:
    p = rpod()
    p["spec"]["hostNetwork"] = True
    p["spec"]["initContainers"] = [c("init")]
    p["spec"]["ephemeralContainers"] = [{**c("debug", **RESTRICTED_SC), "targetContainerName": "c"}]
    assert detail("restricted", p) == (
        "host namespaces (hostNetwork=true), "
        'allowPrivilegeEscalation != false (container "init" must set '
        "securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container "
        '"init" must set securityContext.capabilities.drop=["ALL"]), runAsNonRoot != true (pod '
        'or container "init" must set securityContext.runAsNonRoot=true), seccompProfile (pod '
        'or container "init" must set securityContext.seccompProfile.type to "RuntimeDefault" '
        'or "Localhost")')


def test_versions_change_the_checks() -> None:
    sysctl = pod({"securityContext": {"sysctls": [{"name": "net.ipv4.tcp_rmem", "value": "1"}]}})
    assert detail("baseline", sysctl, "v1.31") == "forbidden sysctls (net.ipv4.tcp_rmem)"
    assert detail("baseline", sysctl, "v1.32") == ""
    engine = pod({"securityContext": {"seLinuxOptions": {"type": "container_engine_t"}}})
    assert detail("baseline", engine, "v1.30") != ""
    # Before v1.19 seccomp is read from annotations; before v1.22 restricted keeps the
    # baseline capabilities check.
    old = pod(annotations={"seccomp.security.alpha.kubernetes.io/pod": "unconfined"})
    assert detail("baseline", old, "v1.18") == \
        'seccompProfile (forbidden annotation seccomp.security.alpha.kubernetes.io/pod=' \
        '"unconfined")'
    assert detail("baseline", old, "v1.19") == ""
    assert "unrestricted capabilities" not in detail("restricted", pod(), "v1.21")
    # Future versions evaluate as the newest known.
    assert detail("restricted", pod(), "v1.99") == detail("restricted", pod(), "latest")


# --- namespace labels ---------------------------------------------------------------------

LV = ps.LevelVersion


@pytest.mark.parametrize(("labels", "policy", "n_errors"), [
    ({}, ps.Policy(), 0),
    ({"pod-security.kubernetes.io/enforce": "baseline"},
     ps.Policy(LV("baseline", "latest"), LV("privileged", "latest"), LV("baseline", "latest")), 0),
    ({"pod-security.kubernetes.io/enforce": "restricted",
      "pod-security.kubernetes.io/enforce-version": "v1.25",
      "pod-security.kubernetes.io/warn": "baseline"},
     ps.Policy(LV("restricted", "v1.25"), LV("privileged", "latest"), LV("baseline", "latest")),
     0),
    ({"pod-security.kubernetes.io/enforce": "baseline",
      "pod-security.kubernetes.io/warn-version": "v1.20"},
     ps.Policy(LV("baseline", "latest"), LV("privileged", "latest"), LV("baseline", "v1.20")), 0),
    # An invalid enforce level enforces restricted, and does not default warn.
    ({"pod-security.kubernetes.io/enforce": "bogus"},
     ps.Policy(LV("restricted", "latest"), LV("privileged", "latest"),
               LV("privileged", "latest")), 1),
    # Invalid warn/audit levels fail open; invalid versions read as latest.
    ({"pod-security.kubernetes.io/warn": "Restricted", "pod-security.kubernetes.io/audit": "x",
      "pod-security.kubernetes.io/enforce": "baseline",
      "pod-security.kubernetes.io/enforce-version": "1.25"},
     ps.Policy(LV("baseline", "latest"), LV("privileged", "latest"),
               LV("privileged", "latest")), 3),
    ({"pod-security.kubernetes.io/enforce-version": "v1.05"},
     ps.Policy(LV("privileged", "latest"), LV("privileged", "latest"),
               LV("privileged", "latest")), 1),
])
def test_policy_from_labels(labels: dict[str, str], policy: ps.Policy, n_errors: int) -> None:
    got, errs = ps.policy_to_evaluate(labels)
    assert got == policy
    assert len(errs) == n_errors


def test_label_error_messages() -> None:
    _, errs = ps.policy_to_evaluate({"pod-security.kubernetes.io/enforce": "bogus",
                                     "pod-security.kubernetes.io/warn-version": "v2.0"})
    assert [e.message() for e in errs] == [
        'metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: "bogus": '
        "must be one of privileged, baseline, restricted",
        'metadata.labels[pod-security.kubernetes.io/warn-version]: Invalid value: "v2.0": '
        'must be "latest" or "v1.x"',
    ]


def test_check_result_enforce_warn_audit() -> None:
    labels = {"pod-security.kubernetes.io/enforce": "baseline",
              "pod-security.kubernetes.io/warn": "restricted",
              "pod-security.kubernetes.io/audit": "restricted",
              "pod-security.kubernetes.io/audit-version": "v1.30"}
    r = ps.check(labels, {}, rpod(runAsUser=0)["spec"])
    assert r.enforce_error is None
    assert r.warnings == ['would violate PodSecurity "restricted:latest": runAsUser=0 '
                          '(container "c" must not set runAsUser=0)']
    assert r.audit["pod-security.kubernetes.io/audit-violations"] == \
        'would violate PodSecurity "restricted:v1.30": runAsUser=0 (container "c" must not ' \
        "set runAsUser=0)"
    assert r.audit["pod-security.kubernetes.io/enforce-policy"] == "baseline:latest"
    # Refused requests carry no warnings.
    r = ps.check(labels, {}, pod({"hostPID": True})["spec"])
    assert r.enforce_error == 'violates PodSecurity "baseline:latest": host namespaces ' \
                              "(hostPID=true)"
    assert r.warnings == []


# --- the plugin ---------------------------------------------------------------------------

PODS = ResourceType("", "v1", "Pod", "pods", True)
NAMESPACES = ResourceType("", "v1", "Namespace", "namespaces", False)
DEPLOYMENTS = ResourceType("apps", "v1", "Deployment", "deployments", True)
CRONJOBS = ResourceType("batch", "v1", "CronJob", "cronjobs", True)


def req(rt: ResourceType, op: str = "CREATE", name: str = "x", ns: str = "ns",
        sub: str = "") -> AdmissionRequest:
    return AdmissionRequest(op, rt, ns if rt.namespaced else "", name, sub, UserInfo("u"), False)


class Harness:
    def __init__(self, labels: dict[str, str] | None, pods: list[Obj] | None = None) -> None:
        self.labels = labels
        self.pods = pods or []
        self.warnings: list[str] = []

        async def lookup(namespace: str) -> Mapping[str, str] | None:
            return self.labels

        async def list_pods(namespace: str) -> list[Obj]:
            return self.pods

        self.plugin = ps.PodSecurity(lookup, list_pods=list_pods,
                                     add_warning=lambda _r, w: self.warnings.append(w))


RESTRICTED = {"pod-security.kubernetes.io/enforce": "restricted"}


async def test_enforce_refuses_with_upstream_message() -> None:
    h = Harness(RESTRICTED)
    p = pod(containers=[c("c", capabilities={"add": ["SYS_ADMIN"]})])
    with pytest.raises(StatusError) as exc:
        await h.plugin.validate(req(PODS), p, None)
    assert exc.value.code == 403
    assert exc.value.reason == "Forbidden"
    assert exc.value.message == (
        'pods "x" is forbidden: violates PodSecurity "restricted:latest": '
        'allowPrivilegeEscalation != false (container "c" must set '
        "securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container "
        '"c" must set securityContext.capabilities.drop=["ALL"]; container "c" must not include '
        '"SYS_ADMIN" in securityContext.capabilities.add), runAsNonRoot != true (pod or '
        'container "c" must set securityContext.runAsNonRoot=true), seccompProfile (pod or '
        'container "c" must set securityContext.seccompProfile.type to "RuntimeDefault" or '
        '"Localhost")')
    assert h.warnings == []
    await h.plugin.validate(req(PODS), rpod(), None)


async def test_invalid_enforce_level_enforces_restricted() -> None:
    h = Harness({"pod-security.kubernetes.io/enforce": "nope"})
    with pytest.raises(StatusError) as exc:
        await h.plugin.validate(req(PODS), pod(), None)
    assert 'violates PodSecurity "restricted:latest"' in exc.value.message


async def test_warn_mode_adds_a_warning() -> None:
    h = Harness({"pod-security.kubernetes.io/warn": "baseline"})
    await h.plugin.validate(req(PODS), pod({"hostIPC": True}), None)
    assert h.warnings == ['would violate PodSecurity "baseline:latest": host namespaces '
                          "(hostIPC=true)"]


async def test_default_sink_is_request_warnings() -> None:
    """Without a callback, warnings go to ``req.warnings`` when the request has that list."""

    class WithWarnings:
        def __init__(self, base: AdmissionRequest) -> None:
            self.base = base
            self.warnings: list[str] = []

        def __getattr__(self, item: str) -> Any:
            return getattr(self.base, item)

    async def lookup(namespace: str) -> Mapping[str, str]:
        return {"pod-security.kubernetes.io/warn": "baseline"}

    r = WithWarnings(req(PODS))
    await ps.PodSecurity(lookup).validate(r, pod({"hostPID": True}), None)  # type: ignore[arg-type]
    assert r.warnings == ['would violate PodSecurity "baseline:latest": host namespaces '
                          "(hostPID=true)"]


async def test_privileged_and_unlabelled_namespaces_allow_everything() -> None:
    for labels in ({}, {"pod-security.kubernetes.io/enforce": "privileged"}):
        h = Harness(labels)
        await h.plugin.validate(req(PODS), pod({"hostPID": True}), None)
        assert h.warnings == []


async def test_missing_namespace_is_an_internal_error_for_pods() -> None:
    h = Harness(None)
    with pytest.raises(StatusError) as exc:
        await h.plugin.validate(req(PODS), pod(), None)
    assert exc.value.code == 500
    assert exc.value.message == 'Internal error occurred: failed to lookup namespace "ns"'
    await h.plugin.validate(req(DEPLOYMENTS), {"spec": {"template": {"spec": {}}}}, None)


async def test_pod_updates_only_checked_when_significant() -> None:
    h = Harness(RESTRICTED)
    old = pod()
    relabelled = pod()
    relabelled["metadata"]["labels"] = {"a": "b"}
    await h.plugin.validate(req(PODS, "UPDATE"), relabelled, old)
    new_image = pod(containers=[{"name": "c", "image": "other"}])
    with pytest.raises(StatusError):
        await h.plugin.validate(req(PODS, "UPDATE"), new_image, old)
    debug = pod()
    debug["spec"]["ephemeralContainers"] = [{"name": "dbg", "image": "busybox"}]
    with pytest.raises(StatusError):
        await h.plugin.validate(req(PODS, "UPDATE", sub="ephemeralcontainers"), debug, old)
    # The same ephemeral container again is not significant.
    await h.plugin.validate(req(PODS, "UPDATE", sub="ephemeralcontainers"), debug, debug)
    # Status and other subresources are never checked.
    await h.plugin.validate(req(PODS, "UPDATE", sub="status"), new_image, old)
    await h.plugin.validate(req(PODS, "DELETE"), None, old)


def test_is_significant_pod_update() -> None:
    a = pod()
    assert not ps.is_significant_pod_update(a, a)
    b = pod(containers=[c("c"), c("d")])
    assert ps.is_significant_pod_update(b, a)
    init = pod({"initContainers": [c("i")]})
    assert ps.is_significant_pod_update(init, a)


async def test_templates_warn_but_never_enforce() -> None:
    h = Harness({"pod-security.kubernetes.io/enforce": "restricted",
                 "pod-security.kubernetes.io/warn": "baseline"})
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
                  "spec": {"template": {"metadata": {}, "spec": {
                      "hostNetwork": True, "containers": [c("c")]}}}}
    await h.plugin.validate(req(DEPLOYMENTS, name="d"), deployment, None)
    assert h.warnings == ['would violate PodSecurity "baseline:latest": host namespaces '
                          "(hostNetwork=true)"]
    h.warnings.clear()
    await h.plugin.validate(req(DEPLOYMENTS, "UPDATE", name="d", sub="scale"), deployment, None)
    assert h.warnings == []
    cronjob = {"spec": {"jobTemplate": {"spec": {"template": {"spec": {
        "containers": [c("c", privileged=True)]}}}}}}
    await h.plugin.validate(req(CRONJOBS), cronjob, None)
    assert h.warnings == ['would violate PodSecurity "baseline:latest": privileged (container '
                          '"c" must not set securityContext.privileged=true)']


async def test_template_warning_defaults_to_enforce_level() -> None:
    h = Harness(RESTRICTED)
    deployment = {"spec": {"template": {"spec": {"containers": [c("c", **RESTRICTED_SC,
                                                                   runAsUser=0)]}}}}
    await h.plugin.validate(req(DEPLOYMENTS), deployment, None)
    assert h.warnings == ['would violate PodSecurity "restricted:latest": runAsUser=0 '
                          '(container "c" must not set runAsUser=0)']


def ns(name: str, labels: dict[str, str]) -> Obj:
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "labels": labels}}


async def test_namespace_labels_are_validated() -> None:
    h = Harness({})
    bad = ns("n", {"pod-security.kubernetes.io/enforce": "strict"})
    with pytest.raises(StatusError) as exc:
        await h.plugin.validate(req(NAMESPACES, name="n"), bad, None)
    assert exc.value.code == 422
    assert exc.value.message == (
        'Namespace "n" is invalid: metadata.labels[pod-security.kubernetes.io/enforce]: '
        'Invalid value: "strict": must be one of privileged, baseline, restricted')
    # Unchanged invalid labels may stay on update; new ones may not.
    await h.plugin.validate(req(NAMESPACES, "UPDATE", name="n"), bad, bad)
    with pytest.raises(StatusError):
        await h.plugin.validate(req(NAMESPACES, "UPDATE", name="n"), bad, ns("n", {}))


async def test_tightening_enforce_warns_about_existing_pods() -> None:
    pods = [pod({"hostPID": True}, name="b"), pod({"hostPID": True}, name="a"),
            pod({"hostPID": True}, name="c"), pod(name="ok"),
            pod(containers=[c("c", privileged=True)], name="p")]
    h = Harness({}, pods)
    new = ns("n", {"pod-security.kubernetes.io/enforce": "baseline"})
    await h.plugin.validate(req(NAMESPACES, "UPDATE", name="n"), new, ns("n", {}))
    assert h.warnings == [
        'existing pods in namespace "n" violate the new PodSecurity enforce level '
        '"baseline:latest"',
        "a (and 2 other pods): host namespaces",
        "p: privileged",
    ]
    # Relaxing, or leaving enforce alone, does not look at pods.
    h.warnings.clear()
    await h.plugin.validate(req(NAMESPACES, "UPDATE", name="n"), ns("n", {}), new)
    await h.plugin.validate(req(NAMESPACES, "UPDATE", name="n"), new, new)
    assert h.warnings == []


def test_pods_warnings_limit() -> None:
    h = Harness({})
    h.plugin.max_pods_to_check = 1
    warnings = h.plugin.pods_warnings("n", LV("baseline", "latest"),
                                      [pod({"hostPID": True}, name="a"), pod(name="b")])
    assert warnings[0] == "new PodSecurity enforce level only checked against the first 1 of 2 " \
                          "existing pods"
