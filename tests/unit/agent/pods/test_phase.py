"""Pod phase from container statuses (upstream getPhase), sidecars and restart policies."""

from __future__ import annotations

from typing import Any

import pytest

from kubesmith.agent.pods.phase import pod_phase

Obj = dict[str, Any]

SIDECAR = {"name": "proxy", "image": "p", "restartPolicy": "Always"}
INIT = {"name": "setup", "image": "s"}


def pod(policy: str = "Always", *, init: list[Obj] | None = None,
        apps: tuple[str, ...] = ("app",)) -> Obj:
    spec: Obj = {"restartPolicy": policy, "containers": [{"name": n} for n in apps]}
    if init:
        spec["initContainers"] = init
    return {"spec": spec}


def waiting(name: str, last_code: int | None = None) -> Obj:
    out: Obj = {"name": name, "state": {"waiting": {"reason": "X"}}, "lastState": {}}
    if last_code is not None:
        out["lastState"] = {"terminated": {"exitCode": last_code}}
    return out


def run(name: str, started: bool = True) -> Obj:
    return {"name": name, "state": {"running": {}}, "started": started}


def done(name: str, code: int) -> Obj:
    return {"name": name, "state": {"terminated": {"exitCode": code}}}


CASES = [
    ("all waiting", pod(), [waiting("app")], False, "Pending"),
    ("running", pod(), [run("app")], False, "Running"),
    ("unknown container", pod(apps=("a", "b")), [run("a")], False, "Pending"),
    ("one waits to start", pod(apps=("a", "b")), [run("a"), waiting("b")], False, "Pending"),
    ("Always restarting", pod(), [waiting("app", last_code=1)], False, "Running"),
    ("Always, exited 0, restarting", pod(), [done("app", 0)], False, "Running"),
    ("Never, success", pod("Never"), [done("app", 0)], False, "Succeeded"),
    ("Never, failure", pod("Never"), [done("app", 2)], False, "Failed"),
    ("Never, mixed", pod("Never", apps=("a", "b")), [done("a", 0), done("b", 1)], False,
     "Failed"),
    ("Never, one still running", pod("Never", apps=("a", "b")), [done("a", 0), run("b")],
     False, "Running"),
    ("OnFailure, success", pod("OnFailure"), [done("app", 0)], False, "Succeeded"),
    ("OnFailure, restarting", pod("OnFailure"), [waiting("app", last_code=1)], False,
     "Running"),
    ("terminal pod, killed", pod(), [done("app", 137)], True, "Failed"),
    ("terminal pod, clean exit", pod(), [done("app", 0)], True, "Succeeded"),
    ("init running", pod(init=[INIT]), [run("setup"), waiting("app")], False, "Pending"),
    ("init failed, Never", pod("Never", init=[INIT]), [done("setup", 1), waiting("app")],
     False, "Failed"),
    ("init failed, retrying", pod("OnFailure", init=[INIT]),
     [waiting("setup", last_code=1), waiting("app")], False, "Pending"),
    ("init failed, Never, waiting", pod("Never", init=[INIT]),
     [waiting("setup", last_code=1), waiting("app")], False, "Failed"),
    ("init done", pod(init=[INIT]), [done("setup", 0), run("app")], False, "Running"),
    ("sidecar not started yet", pod(init=[SIDECAR]), [run("proxy", False), waiting("app")],
     False, "Pending"),
    ("sidecar and app running", pod(init=[SIDECAR]), [run("proxy"), run("app")], False,
     "Running"),
    ("sidecar outlives a finished app (Never)", pod("Never", init=[SIDECAR]),
     [run("proxy"), done("app", 0)], False, "Running"),
    ("sidecar stopped after the app succeeded", pod("Never", init=[SIDECAR]),
     [done("proxy", 137), done("app", 0)], True, "Succeeded"),
    ("sidecar restarting after initialization", pod(init=[SIDECAR]),
     [run("proxy", False), run("app")], True, "Running"),
]


@pytest.mark.parametrize(("the_pod", "statuses", "initialized", "phase"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_phase(the_pod: Obj, statuses: list[Obj], initialized: bool, phase: str) -> None:
    terminal = initialized and phase in ("Succeeded", "Failed")
    assert pod_phase(the_pod, statuses, is_terminal=terminal,
                     has_initialized=initialized) == phase


def test_container_restart_policy_overrides_the_pod() -> None:
    the_pod = {"spec": {"restartPolicy": "Always", "containers": [
        {"name": "app", "restartPolicy": "Never"}]}}
    assert pod_phase(the_pod, [done("app", 3)], is_terminal=False,
                     has_initialized=True) == "Failed"
    rules = {"spec": {"restartPolicy": "Never", "containers": [
        {"name": "app", "restartPolicy": "Never", "restartPolicyRules": [
            {"action": "Restart", "exitCodes": {"operator": "In", "values": [42]}}]}]}}
    assert pod_phase(rules, [done("app", 42)], is_terminal=False,
                     has_initialized=True) == "Running"
