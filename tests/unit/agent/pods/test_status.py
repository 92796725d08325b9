"""The status rendered for real containers: waiting reasons, terminations, lastState,
conditions, and how an unchanged pod renders to an empty patch."""

from __future__ import annotations

import copy
from typing import Any

from kubesmith.agent.pods.runs import ContainerRun
from kubesmith.agent.pods.status import PodSnapshot, api_time, render_status
from kubesmith.podstatus.diff import merge_patch
from tests.unit.agent.pods.builders import T0, exited, make_pod, running

Obj = dict[str, Any]
HOST = ["192.168.1.5"]


class Probes:
    """Probe answers per container name."""

    def __init__(self, started: dict[str, bool] | None = None,
                 ready: dict[str, bool] | None = None) -> None:
        self._started = started or {}
        self._ready = ready or {}

    def started(self, container: Obj, container_id: str) -> bool:
        return self._started.get(container["name"], True)

    def ready(self, container: Obj, container_id: str) -> bool:
        return self._ready.get(container["name"], True)


def render(pod: Obj, runs: dict[str, list[ContainerRun]] | None = None, *,
           waiting: dict[str, tuple[str, str]] | None = None, sandbox: bool = True,
           terminal: bool = False, probes: Probes | None = None, now: float = T0 + 60) -> Obj:
    return render_status(PodSnapshot(
        pod=pod, runs=runs or {}, waiting=waiting or {}, sandbox_ready=sandbox,
        pod_ips=["10.244.0.9"] if sandbox else [], host_ips=HOST, is_terminal=terminal,
        probes=probes or Probes(), now=now))


def cond(status: Obj, type_: str) -> Obj:
    return next(c for c in status["conditions"] if c["type"] == type_)


def test_a_new_pod_is_container_creating() -> None:
    status = render(make_pod(), sandbox=False)
    assert status["phase"] == "Pending"
    [app] = status["containerStatuses"]
    assert app == {"name": "app", "state": {"waiting": {"reason": "ContainerCreating"}},
                   "lastState": {}, "ready": False, "restartCount": 0, "image": "busybox",
                   "imageID": "", "started": False}
    assert cond(status, "PodReadyToStartContainers")["status"] == "False"
    assert cond(status, "ContainersReady") == {
        "type": "ContainersReady", "status": "False", "reason": "ContainersNotReady",
        "message": "containers with unready status: [app]",
        "lastTransitionTime": api_time(T0 + 60), "observedGeneration": 1}
    assert status["startTime"] == api_time(T0 + 60)
    assert status["hostIP"] == "192.168.1.5" and "podIP" not in status


def test_running_and_ready() -> None:
    status = render(make_pod(), {"app": [running("app")]})
    [app] = status["containerStatuses"]
    assert app["state"] == {"running": {"startedAt": api_time(T0)}}
    assert app["containerID"] == "runc://app-0"
    assert app["image"] == "docker.io/library/busybox:latest"
    assert app["imageID"] == "docker.io/library/busybox@sha256:abc"
    assert app["ready"] is True and app["started"] is True
    assert status["phase"] == "Running"
    assert status["podIP"] == "10.244.0.9" and status["podIPs"] == [{"ip": "10.244.0.9"}]
    for type_ in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady",
                  "PodScheduled"):
        assert cond(status, type_)["status"] == "True"


def test_probes_decide_started_and_ready() -> None:
    status = render(make_pod(), {"app": [running("app")]},
                    probes=Probes(started={"app": False}))
    assert status["containerStatuses"][0]["started"] is False
    assert status["containerStatuses"][0]["ready"] is False
    status = render(make_pod(), {"app": [running("app")]}, probes=Probes(ready={"app": False}))
    assert status["containerStatuses"][0]["started"] is True
    assert status["containerStatuses"][0]["ready"] is False
    assert cond(status, "Ready")["reason"] == "ContainersNotReady"


def test_terminated_reasons_and_messages() -> None:
    for run, expected in [
        (exited("app", 0), {"exitCode": 0, "reason": "Completed"}),
        (exited("app", 1, message="boom"), {"exitCode": 1, "reason": "Error",
                                            "message": "boom"}),
        (exited("app", 137, reason="OOMKilled"), {"exitCode": 137, "reason": "OOMKilled"}),
    ]:
        status = render(make_pod(restartPolicy="Never"), {"app": [run]})
        terminated = status["containerStatuses"][0]["state"]["terminated"]
        assert terminated == {**expected, "startedAt": api_time(T0),
                              "finishedAt": api_time(T0 + 5), "containerID": "runc://app-0"}


def test_container_cannot_run() -> None:
    run = ContainerRun(id="c1", name="app", attempt=0, state="exited", created_at=T0,
                       exit_code=128, reason="ContainerCannotRun",
                       message='exec: "nope": executable file not found in $PATH')
    status = render(make_pod(restartPolicy="Never"), {"app": [run]})
    terminated = status["containerStatuses"][0]["state"]["terminated"]
    assert terminated["reason"] == "ContainerCannotRun"
    assert terminated["exitCode"] == 128
    assert terminated["startedAt"] == "1970-01-01T00:00:00Z"
    assert status["phase"] == "Failed"


def test_crash_loop_shows_waiting_with_the_last_termination() -> None:
    message = "back-off 10s restarting failed container=app pod=web_shop(u-1)"
    status = render(make_pod(), {"app": [exited("app", 1, attempt=1),
                                         exited("app", 1, attempt=0, cid="old")]},
                    waiting={"app": ("CrashLoopBackOff", message)})
    [app] = status["containerStatuses"]
    assert app["state"] == {"waiting": {"reason": "CrashLoopBackOff", "message": message}}
    assert app["lastState"]["terminated"]["containerID"] == "runc://app-1"
    assert app["restartCount"] == 1
    assert status["phase"] == "Running"


def test_restarted_container_shows_the_previous_one_as_last_state() -> None:
    status = render(make_pod(), {"app": [running("app", 2), exited("app", 1, attempt=1)]})
    [app] = status["containerStatuses"]
    assert app["restartCount"] == 2
    assert app["lastState"] == {"terminated": {
        "exitCode": 1, "reason": "Error", "startedAt": api_time(T0),
        "finishedAt": api_time(T0 + 5), "containerID": "runc://app-1"}}


def test_start_failures_before_any_container() -> None:
    for reason, message in [
        ("ErrImagePull", "failed to pull and unpack image \"docker.io/library/nope:1\": "
                         "not found"),
        ("ImagePullBackOff", 'Back-off pulling image "nope:1": ErrImagePull: not found'),
        ("CreateContainerConfigError", 'configmap "app-config" not found'),
        ("CreateContainerError", "no command specified"),
    ]:
        status = render(make_pod(), waiting={"app": (reason, message)})
        assert status["containerStatuses"][0]["state"] == {
            "waiting": {"reason": reason, "message": message}}
        assert status["phase"] == "Pending"


def test_a_reason_does_not_hide_a_running_container() -> None:
    status = render(make_pod(), {"app": [running("app")]},
                    waiting={"app": ("ErrImagePull", "stale")})
    assert "running" in status["containerStatuses"][0]["state"]


def test_init_containers() -> None:
    pod = make_pod(init=({"name": "setup", "image": "busybox"},
                         {"name": "migrate", "image": "busybox"}))
    status = render(pod, {"setup": [running("setup")]})
    assert status["phase"] == "Pending"
    setup, migrate = status["initContainerStatuses"]
    assert setup["name"] == "setup" and "running" in setup["state"]
    assert setup["ready"] is False
    assert migrate["state"] == {"waiting": {"reason": "ContainerCreating"}}
    assert status["containerStatuses"][0]["state"] == {
        "waiting": {"reason": "PodInitializing"}}
    assert cond(status, "Initialized") == {
        "type": "Initialized", "status": "False", "reason": "ContainersNotInitialized",
        "message": "containers with incomplete status: [setup migrate]",
        "lastTransitionTime": api_time(T0 + 60), "observedGeneration": 1}
    status = render(pod, {"setup": [exited("setup")], "migrate": [exited("migrate")],
                          "app": [running("app")]})
    assert [s["ready"] for s in status["initContainerStatuses"]] == [True, True]
    assert cond(status, "Initialized")["status"] == "True"
    assert status["phase"] == "Running"


def test_app_statuses_are_sorted_by_name() -> None:
    pod = make_pod({"name": "zeta", "image": "z"}, {"name": "alpha", "image": "a"})
    status = render(pod, {"zeta": [running("zeta")], "alpha": [running("alpha")]})
    assert [s["name"] for s in status["containerStatuses"]] == ["alpha", "zeta"]


def test_readiness_gates() -> None:
    pod = make_pod(readinessGates=[{"conditionType": "example.com/lb"}])
    status = render(pod, {"app": [running("app")]})
    assert cond(status, "ContainersReady")["status"] == "True"
    assert cond(status, "Ready") == {
        "type": "Ready", "status": "False", "reason": "ReadinessGatesNotReady",
        "message": 'corresponding condition of pod readiness gate "example.com/lb" does '
                   "not exist.", "lastTransitionTime": api_time(T0 + 60),
        "observedGeneration": 1}
    pod["status"]["conditions"] = [{"type": "example.com/lb", "status": "True"}]
    status = render(pod, {"app": [running("app")]})
    assert cond(status, "Ready")["status"] == "True"
    assert status["conditions"][0] == {"type": "example.com/lb", "status": "True"}


def test_terminal_phase_and_conditions() -> None:
    status = render(make_pod(restartPolicy="Never"), {"app": [exited("app", 0)]},
                    sandbox=False, terminal=True)
    assert status["phase"] == "Succeeded"
    assert cond(status, "Ready")["reason"] == "PodCompleted"
    assert cond(status, "Initialized")["reason"] == "PodCompleted"
    assert cond(status, "PodReadyToStartContainers")["status"] == "False"


def test_a_terminal_phase_never_changes() -> None:
    pod = make_pod(status={"phase": "Failed", "reason": "Evicted", "message": "low memory"})
    status = render(pod, {"app": [running("app")]})
    assert status["phase"] == "Failed"
    assert status["reason"] == "Evicted"


def test_pod_ips_are_kept_once_the_sandbox_is_gone() -> None:
    pod = make_pod(status={"phase": "Running", "podIP": "10.244.0.9",
                           "podIPs": [{"ip": "10.244.0.9"}]})
    status = render(pod, {"app": [exited("app")]}, sandbox=False, terminal=True)
    assert status["podIP"] == "10.244.0.9"


def test_host_network_pods_use_the_node_ips() -> None:
    status = render(make_pod(hostNetwork=True), {"app": [running("app")]}, sandbox=False)
    assert status["podIP"] == "192.168.1.5"


def test_rendering_an_unchanged_pod_gives_an_empty_patch() -> None:
    pod = make_pod()
    runs = {"app": [running("app")]}
    first = render(pod, runs, now=T0 + 10)
    pod["status"] = copy.deepcopy(first)
    second = render(pod, runs, now=T0 + 500)
    assert merge_patch(pod["status"], second) == {}


def test_qos_class_comes_from_the_status_or_the_spec() -> None:
    pod = make_pod({"name": "app", "image": "x", "resources": {
        "limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1", "memory": "1Gi"}}},
        status={})
    assert render(pod)["qosClass"] == "Guaranteed"
