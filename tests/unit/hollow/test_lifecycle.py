"""Simulated container timelines: run times, exits, restarts with back-off, deletion."""

from __future__ import annotations

from typing import Any

import pytest

from kubesmith.hollow.lifecycle import (
    ANNOTATION_EXIT_CODE,
    ANNOTATION_RUN_SECONDS,
    ANNOTATION_TERMINATE_SECONDS,
    Behaviour,
    Deletion,
    Exit,
    Run,
    adopt_run,
    advance,
    crash_backoff,
    new_run,
    pod_behaviour,
)
from kubesmith.hollow.podstatus import desired_pod_status

T0 = 1_800_000_000.0


def pod(policy: str | None = None, **annotations: str) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "img"}]}
    if policy:
        spec["restartPolicy"] = policy
    return {"metadata": {"name": "p", "namespace": "ns", "uid": "u1",
                         "annotations": annotations}, "spec": spec}


@pytest.mark.parametrize(("policy", "annotations", "expected"), [
    (None, {}, Behaviour("Always", None, 0, 0.0)),
    ("Never", {}, Behaviour("Never", 1.0, 0, 0.0)),
    ("OnFailure", {ANNOTATION_EXIT_CODE: "3"}, Behaviour("OnFailure", 1.0, 3, 0.0)),
    ("Always", {ANNOTATION_RUN_SECONDS: "2.5"}, Behaviour("Always", 2.5, 0, 0.0)),
    ("Never", {ANNOTATION_RUN_SECONDS: "soon", ANNOTATION_EXIT_CODE: "x"},
     Behaviour("Never", 1.0, 0, 0.0)),
    ("Never", {ANNOTATION_TERMINATE_SECONDS: "7"}, Behaviour("Never", 1.0, 0, 7.0)),
], ids=["always-default", "never-default", "onfailure-exit", "always-run-seconds",
        "malformed", "terminate-seconds"])
def test_behaviour_from_annotations(policy: str | None, annotations: dict[str, str],
                                    expected: Behaviour) -> None:
    assert pod_behaviour(pod(policy, **annotations)) == expected


def test_always_pod_runs_forever() -> None:
    run, wake = advance(new_run(T0), Behaviour(), T0 + 10_000)
    assert run.running_since == T0 and not run.done and wake is None


def test_never_pod_completes_after_its_run_time() -> None:
    behaviour = Behaviour("Never", 1.0)
    run, wake = advance(new_run(T0), behaviour, T0 + 0.5)
    assert run.running_since == T0 and wake == T0 + 1.0
    run, wake = advance(run, behaviour, T0 + 1.0)
    assert run.done and run.succeeded and wake is None
    assert run.last_exit == Exit(0, T0, T0 + 1.0)


def test_never_pod_with_exit_code_fails() -> None:
    run, _ = advance(new_run(T0), Behaviour("Never", 1.0, exit_code=2), T0 + 5)
    assert run.done and not run.succeeded
    assert run.last_exit is not None and run.last_exit.reason == "Error"


def test_on_failure_restarts_with_growing_backoff() -> None:
    behaviour = Behaviour("OnFailure", 1.0, exit_code=1)
    # exit at +1, restart at once (#1), exit at +2, back-off 1 s, restart at +3 (#2),
    # exit at +4, back-off 2 s, restart at +6 (#3).
    run, wake = advance(new_run(T0), behaviour, T0 + 2.5)
    assert (run.restarts, run.running_since, wake) == (1, None, T0 + 3.0)
    assert run.last_exit == Exit(1, T0 + 1, T0 + 2)
    assert run.previous_exit is None  # not shown while restarting
    run, wake = advance(run, behaviour, T0 + 3.0)
    assert (run.restarts, run.running_since, wake) == (2, T0 + 3.0, T0 + 4.0)
    run, wake = advance(run, behaviour, T0 + 5.0)
    assert (run.restarts, run.running_since, wake) == (2, None, T0 + 6.0)
    run, _ = advance(run, behaviour, T0 + 6.0)
    assert run.restarts == 3 and run.running_since == T0 + 6.0 and not run.done


def test_on_failure_that_succeeds_is_done() -> None:
    run, _ = advance(new_run(T0), Behaviour("OnFailure", 1.0), T0 + 1)
    assert run.done and run.succeeded and run.restarts == 0


def test_backoff_is_capped_small() -> None:
    assert [crash_backoff(r) for r in range(7)] == [0, 1, 2, 4, 8, 10, 10]


def test_deletion_stops_containers_gracefully() -> None:
    behaviour = Behaviour(terminate_seconds=2.0)
    deletion = Deletion(began=T0 + 10, deadline=T0 + 40)
    run, wake = advance(new_run(T0), behaviour, T0 + 11, deletion)
    assert not run.done and wake == T0 + 12
    run, _ = advance(run, behaviour, T0 + 12, deletion)
    assert run.done and run.last_exit == Exit(0, T0, T0 + 12)


def test_deletion_kills_containers_at_the_end_of_the_grace_period() -> None:
    behaviour = Behaviour(terminate_seconds=60.0)
    deletion = Deletion(began=T0 + 10, deadline=T0 + 15)
    run, _ = advance(new_run(T0), behaviour, T0 + 20, deletion)
    assert run.done and not run.succeeded
    assert run.last_exit == Exit(137, T0, T0 + 15)


def test_deletion_during_backoff_ends_at_once() -> None:
    run = Run(T0, restarts=2, running_since=None, last_exit=Exit(1, T0, T0 + 1))
    done, wake = advance(run, Behaviour("OnFailure", 1.0, 1), T0 + 1.5,
                         Deletion(T0 + 1.5, T0 + 31.5))
    assert done.done and wake is None and done.last_exit == run.last_exit


@pytest.mark.parametrize("seconds", [0.0, 0.5, 1.5, 2.5, 3.5, 7.0],
                         ids=lambda s: f"t+{s}")
def test_adopting_a_rendered_status_gives_the_same_timeline(seconds: float) -> None:
    # Whole-second times: the API keeps seconds only.
    obj = pod("OnFailure", **{ANNOTATION_EXIT_CODE: "1"})
    run, _ = advance(new_run(T0), pod_behaviour(obj), T0 + seconds)
    status = desired_pod_status(obj, run, host_ip="10.128.0.1", pod_ip="10.244.0.2",
                                now=T0 + seconds)
    assert adopt_run(status, T0 + seconds) == run


def test_status_not_written_by_hollow_nodes_is_not_adopted() -> None:
    assert adopt_run({}, T0) is None
    assert adopt_run({"containerStatuses": [{"name": "c", "containerID": "containerd://x"}]},
                     T0) is None
