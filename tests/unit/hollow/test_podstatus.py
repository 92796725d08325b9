"""The pod status a hollow kubelet renders, and the merge patch that writes only changes."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kubesmith.hollow.clock import api_time
from kubesmith.hollow.lifecycle import Behaviour, Exit, Run, advance, new_run
from kubesmith.hollow.podstatus import (
    desired_pod_status,
    merge_patch,
    next_ready_time,
)

T0 = 1_800_000_000.0
HOST, IP = "10.128.0.7", "10.244.7.2"


def make_pod(*containers: dict[str, Any], init: tuple[dict[str, Any], ...] = (),
             status: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "metadata": {"name": "web", "namespace": "shop", "uid": "u-1", "generation": 1},
        "spec": {"nodeName": "hollow-node-7",
                 "containers": list(containers) or [{"name": "app", "image": "nginx"}],
                 **spec},
        "status": status or {"phase": "Pending", "qosClass": "BestEffort"}}
    if init:
        obj["spec"]["initContainers"] = list(init)
    return obj


def render(obj: dict[str, Any], run: Run, now: float, delay: float = 0.0) -> dict[str, Any]:
    return desired_pod_status(obj, run, host_ip=HOST, pod_ip=IP, now=now, ready_delay=delay)


def conditions(status: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c.get("reason", "")) for c in status["conditions"]}


def test_running_pod_is_ready_with_addresses_and_container_status() -> None:
    status = render(make_pod(), new_run(T0), T0)
    assert status["phase"] == "Running"
    assert status["qosClass"] == "BestEffort"  # not ours: kept
    assert (status["hostIP"], status["hostIPs"]) == (HOST, [{"ip": HOST}])
    assert (status["podIP"], status["podIPs"]) == (IP, [{"ip": IP}])
    assert status["startTime"] == api_time(T0)
    assert status["observedGeneration"] == 1
    assert conditions(status) == {
        "PodReadyToStartContainers": ("True", ""), "Initialized": ("True", ""),
        "Ready": ("True", ""), "ContainersReady": ("True", ""), "PodScheduled": ("True", "")}
    [cs] = status["containerStatuses"]
    assert cs["name"] == "app" and cs["image"] == "nginx"
    assert cs["imageID"].startswith("sha256:") and cs["containerID"] == "hollow://u-1-app"
    assert cs["ready"] is True and cs["started"] is True and cs["restartCount"] == 0
    assert cs["state"] == {"running": {"startedAt": api_time(T0)}}
    assert cs["lastState"] == {}
    assert "initContainerStatuses" not in status


def test_rendering_a_current_status_again_changes_nothing() -> None:
    obj = make_pod()
    obj["status"] = render(obj, new_run(T0), T0)
    again = render(obj, new_run(T0), T0 + 3600)
    assert merge_patch(obj["status"], again) == {}


def test_readiness_probe_delays_readiness() -> None:
    obj = make_pod({"name": "app", "image": "nginx", "readinessProbe": {"httpGet": {}}},
                   {"name": "plain", "image": "busybox"})
    run = new_run(T0)
    early = render(obj, run, T0 + 1, delay=5)
    assert [c["ready"] for c in early["containerStatuses"]] == [False, True]
    assert conditions(early)["Ready"] == ("False", "ContainersNotReady")
    ready_cond = next(c for c in early["conditions"] if c["type"] == "Ready")
    assert ready_cond["message"] == "containers with unready status: [app]"
    assert next_ready_time(obj, run, T0 + 1, 5) == T0 + 5
    late = render(obj, run, T0 + 5, delay=5)
    assert conditions(late)["Ready"] == ("True", "")
    assert next_ready_time(obj, run, T0 + 5, 5) is None


def test_readiness_gates_hold_ready_until_their_condition_is_true() -> None:
    obj = make_pod(readinessGates=[{"conditionType": "example.com/lb"}])
    status = render(obj, new_run(T0), T0)
    assert conditions(status)["Ready"] == ("False", "ReadinessGatesNotReady")
    assert conditions(status)["ContainersReady"] == ("True", "")
    obj["status"] = status
    obj["status"]["conditions"].append({"type": "example.com/lb", "status": "True"})
    status = render(obj, new_run(T0), T0 + 1)
    assert conditions(status)["Ready"] == ("True", "")
    assert conditions(status)["example.com/lb"] == ("True", "")


def test_conditions_set_by_others_are_kept() -> None:
    foreign = {"type": "DisruptionTarget", "status": "True", "reason": "EvictionByEvictionAPI"}
    obj = make_pod(status={"phase": "Running", "conditions": [foreign]})
    status = render(obj, new_run(T0), T0)
    assert status["conditions"][0] == foreign


def test_transition_times_change_only_with_the_status() -> None:
    obj = make_pod({"name": "app", "image": "nginx", "readinessProbe": {"exec": {}}})
    obj["status"] = render(obj, new_run(T0), T0, delay=10)
    later = render(obj, new_run(T0), T0 + 10, delay=10)
    times = {c["type"]: c["lastTransitionTime"] for c in later["conditions"]}
    assert times["Initialized"] == api_time(T0)
    assert times["Ready"] == api_time(T0 + 10)


def test_succeeded_pod() -> None:
    obj = make_pod(restartPolicy="Never")
    run, _ = advance(new_run(T0), Behaviour("Never", 1.0), T0 + 1)
    status = render(obj, run, T0 + 1)
    assert status["phase"] == "Succeeded"
    assert conditions(status) == {
        "PodReadyToStartContainers": ("False", ""), "Initialized": ("True", "PodCompleted"),
        "Ready": ("False", "PodCompleted"), "ContainersReady": ("False", "PodCompleted"),
        "PodScheduled": ("True", "")}
    [cs] = status["containerStatuses"]
    assert cs["ready"] is False and cs["started"] is False
    assert cs["state"]["terminated"] == {
        "exitCode": 0, "reason": "Completed", "startedAt": api_time(T0),
        "finishedAt": api_time(T0 + 1), "containerID": "hollow://u-1-app"}


def test_failed_pod() -> None:
    run, _ = advance(new_run(T0), Behaviour("Never", 1.0, exit_code=3), T0 + 2)
    status = render(make_pod(restartPolicy="Never"), run, T0 + 2)
    assert status["phase"] == "Failed"
    assert conditions(status)["Ready"] == ("False", "PodFailed")
    assert conditions(status)["Initialized"] == ("True", "")
    terminated = status["containerStatuses"][0]["state"]["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (3, "Error")


def test_crash_loop_back_off_and_restart() -> None:
    obj = make_pod(restartPolicy="OnFailure")
    backoff = Run(T0, restarts=1, running_since=None, last_exit=Exit(1, T0 + 1, T0 + 2))
    status = render(obj, backoff, T0 + 2.5)
    assert status["phase"] == "Running"
    [cs] = status["containerStatuses"]
    assert cs["restartCount"] == 1 and cs["ready"] is False
    assert cs["state"]["waiting"] == {
        "reason": "CrashLoopBackOff",
        "message": "back-off 1s restarting failed container=app pod=web_shop(u-1)"}
    assert cs["lastState"]["terminated"]["exitCode"] == 1
    running = Run(T0, restarts=2, running_since=T0 + 3, last_exit=Exit(1, T0 + 1, T0 + 2))
    cs = render(obj, running, T0 + 3)["containerStatuses"][0]
    assert cs["containerID"] == "hollow://u-1-app-2"
    assert cs["lastState"]["terminated"]["containerID"] == "hollow://u-1-app-1"
    assert cs["ready"] is True and cs["restartCount"] == 2


def test_init_containers_completed_and_sidecars_running() -> None:
    obj = make_pod(init=({"name": "setup", "image": "busybox"},
                         {"name": "proxy", "image": "envoy", "restartPolicy": "Always"}))
    status = render(obj, new_run(T0), T0)
    setup, proxy = status["initContainerStatuses"]
    assert setup["state"]["terminated"]["reason"] == "Completed"
    assert setup["ready"] is True and setup["started"] is False
    assert proxy["state"] == {"running": {"startedAt": api_time(T0)}}
    assert proxy["ready"] is True and proxy["started"] is True


def test_render_does_not_modify_the_pod() -> None:
    obj = make_pod(status={"phase": "Running", "conditions": [{"type": "X", "status": "True"}]})
    before = copy.deepcopy(obj)
    render(obj, new_run(T0), T0)
    assert obj == before


@pytest.mark.parametrize(("current", "desired", "patch"), [
    ({"a": 1}, {"a": 1}, {}),
    ({"a": 1}, {"a": 2}, {"a": 2}),
    ({"a": 1, "b": 2}, {"a": 1}, {"b": None}),
    ({"s": {"waiting": {"reason": "X"}}}, {"s": {"running": {"startedAt": "t"}}},
     {"s": {"waiting": None, "running": {"startedAt": "t"}}}),
    ({"l": [1, 2]}, {"l": [1, 2, 3]}, {"l": [1, 2, 3]}),
    ({}, {"n": {"x": 1}}, {"n": {"x": 1}}),
], ids=["equal", "changed", "removed", "nested", "list-replaced", "added"])
def test_merge_patch(current: dict[str, Any], desired: dict[str, Any],
                     patch: dict[str, Any]) -> None:
    assert merge_patch(current, desired) == patch
