"""What one sync does: init containers in order, sidecars, restarts, probe kills, done."""

from __future__ import annotations

from typing import Any

from kubesmith.agent.pods.actions import compute_actions, container_hash, pod_is_done
from kubesmith.agent.pods.runs import ContainerRun
from tests.unit.agent.pods.builders import exited, make_pod, running

Obj = dict[str, Any]
SETUP = {"name": "setup", "image": "busybox"}
MIGRATE = {"name": "migrate", "image": "busybox"}
PROXY = {"name": "proxy", "image": "envoy", "restartPolicy": "Always"}
PROXY_WITH_STARTUP = {**PROXY, "startupProbe": {"exec": {"command": ["true"]}}}


class Probes:
    def __init__(self, results: dict[tuple[str, str], str] | None = None) -> None:
        self.results = results or {}

    def result(self, kind: str, name: str, container_id: str) -> str | None:
        return self.results.get((kind, name))


def plan(pod: Obj, runs: dict[str, list[ContainerRun]], *, sandbox: bool = True,
         probes: Probes | None = None) -> Any:
    return compute_actions(pod, runs, has_sandbox=sandbox, probes=probes or Probes())


def test_new_pod_creates_the_sandbox_and_starts_the_apps() -> None:
    pod = make_pod({"name": "a", "image": "x"}, {"name": "b", "image": "y"})
    actions = plan(pod, {}, sandbox=False)
    assert actions.create_sandbox and actions.apps_to_start == [0, 1]


def test_new_pod_with_init_containers_starts_the_first_only() -> None:
    pod = make_pod(init=(SETUP, MIGRATE))
    actions = plan(pod, {}, sandbox=False)
    assert actions.create_sandbox and actions.init_to_start == [0]
    assert actions.apps_to_start == []


def test_init_containers_run_one_at_a_time() -> None:
    pod = make_pod(init=(SETUP, MIGRATE))
    actions = plan(pod, {"setup": [running("setup")]})
    assert actions.init_to_start == [] and not actions.initialized
    actions = plan(pod, {"setup": [exited("setup", 0)]})
    assert actions.init_to_start == [1] and not actions.initialized
    actions = plan(pod, {"setup": [exited("setup", 0)], "migrate": [exited("migrate", 0)]})
    assert actions.initialized and actions.apps_to_start == [0]


def test_failed_init_container_is_retried_unless_never() -> None:
    runs = {"setup": [exited("setup", 1)]}
    actions = plan(make_pod(init=(SETUP, MIGRATE), restartPolicy="OnFailure"), runs)
    assert actions.init_to_start == [0] and not actions.kill_pod
    actions = plan(make_pod(init=(SETUP, MIGRATE), restartPolicy="Never"), runs)
    assert actions.kill_pod and actions.init_to_start == []


def test_sidecar_must_start_before_the_next_init_container() -> None:
    pod = make_pod(init=(PROXY_WITH_STARTUP, SETUP))
    runs = {"proxy": [running("proxy")]}
    assert plan(pod, runs).init_to_start == []
    started = Probes({("startup", "proxy"): "success"})
    assert plan(pod, runs, probes=started).init_to_start == [1]
    failed = Probes({("startup", "proxy"): "failure"})
    actions = plan(pod, runs, probes=failed)
    assert [k.message for k in actions.to_kill] == ["Init container proxy failed startup probe"]
    assert actions.init_to_start == [0]


def test_sidecar_without_probe_counts_as_started() -> None:
    pod = make_pod(init=(PROXY,))
    actions = plan(pod, {"proxy": [running("proxy")]})
    assert actions.initialized and actions.apps_to_start == [0]


def test_exited_sidecar_is_restarted_after_initialization() -> None:
    pod = make_pod(init=(PROXY,))
    actions = plan(pod, {"proxy": [exited("proxy", 1)], "app": [running("app")]})
    assert actions.init_to_start == [0] and actions.initialized
    assert actions.apps_to_start == []


def test_regular_init_containers_are_not_rerun_once_apps_run() -> None:
    pod = make_pod(init=(SETUP,))
    actions = plan(pod, {"app": [running("app")]})
    assert actions.init_to_start == [] and actions.initialized


def test_restart_policies_for_app_containers() -> None:
    runs = {"app": [exited("app", 1)]}
    assert plan(make_pod(restartPolicy="Always"), runs).apps_to_start == [0]
    assert plan(make_pod(restartPolicy="OnFailure"), runs).apps_to_start == [0]
    never = plan(make_pod(restartPolicy="Never"), runs)
    assert never.apps_to_start == [] and never.kill_pod
    clean = {"app": [exited("app", 0)]}
    assert plan(make_pod(restartPolicy="Always"), clean).apps_to_start == [0]
    assert plan(make_pod(restartPolicy="OnFailure"), clean).kill_pod


def test_liveness_failure_kills_and_restarts() -> None:
    pod = make_pod({"name": "app", "image": "x", "livenessProbe": {"tcpSocket": {"port": 80}}})
    probes = Probes({("liveness", "app"): "failure"})
    actions = plan(pod, {"app": [running("app")]}, probes=probes)
    assert [k.message for k in actions.to_kill] == [
        "Container app failed liveness probe, will be restarted"]
    assert actions.apps_to_start == [0] and not actions.kill_pod
    never = plan({**pod, "spec": {**pod["spec"], "restartPolicy": "Never"}},
                 {"app": [running("app")]}, probes=probes)
    assert [k.message for k in never.to_kill] == ["Container app failed liveness probe"]


def test_changed_definition_restarts_the_container() -> None:
    container = {"name": "app", "image": "nginx:1"}
    pod = make_pod(container)
    old = running("app")
    current = ContainerRun(**{**old.__dict__, "hash": container_hash(
        {**container, "image": "nginx:0"})})
    actions = plan(pod, {"app": [current]})
    assert [k.message for k in actions.to_kill] == [
        "Container app definition changed, will be restarted"]


def test_pod_is_done_when_nothing_will_run_again() -> None:
    never = make_pod(restartPolicy="Never")
    assert pod_is_done(never, {"app": [exited("app", 1)]})
    assert not pod_is_done(never, {"app": [running("app")]})
    assert not pod_is_done(make_pod(), {"app": [exited("app", 0)]})
    assert not pod_is_done(never, {})


def test_done_pod_with_a_sidecar_kills_it() -> None:
    pod = make_pod(init=(PROXY,), restartPolicy="Never")
    actions = plan(pod, {"proxy": [running("proxy")], "app": [exited("app", 0)]})
    assert actions.kill_pod and actions.init_to_start == []
