"""Runtime containers as the workers see them: reasons and termination messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubesmith.agent.pods.runs import (
    IMAGE_DIGEST,
    TERMINATION_LOG,
    TERMINATION_MESSAGE_POLICY,
    run_from_state,
)
from kubesmith.agent.runtime import spec as rt


def state(tmp: Path, *, status: str = rt.STOPPED, code: int | None = 1, oom: bool = False,
          policy: str = "File", message: str | None = None,
          log: str | None = None) -> rt.ContainerState:
    term = tmp / "term"
    if message is not None:
        term.write_text(message)
    log_path = tmp / "0.log"
    if log is not None:
        log_path.write_text(log)
    return rt.ContainerState(
        id="c" * 64, status=status, exit_code=code, created_at=1.0, started_at=2.0,
        finished_at=3.0, oom_killed=oom, annotations={
            rt.CONTAINER_NAME: "app", rt.RESTART_COUNT: "4", rt.LOG_PATH: str(log_path),
            rt.IMAGE_REF: "docker.io/library/busybox:latest", rt.IMAGE_ID: "sha256:1",
            IMAGE_DIGEST: "docker.io/library/busybox@sha256:2", TERMINATION_LOG: str(term),
            TERMINATION_MESSAGE_POLICY: policy})


def test_running(tmp_path: Path) -> None:
    run = run_from_state(state(tmp_path, status=rt.RUNNING, code=None))
    assert (run.name, run.attempt, run.state) == ("app", 4, "running")
    assert run.image_id == "docker.io/library/busybox@sha256:2"
    assert run.container_id == "runc://" + "c" * 64


@pytest.mark.parametrize(("code", "oom", "reason"), [
    (0, False, "Completed"), (1, False, "Error"), (137, True, "OOMKilled")])
def test_reasons(tmp_path: Path, code: int, oom: bool, reason: str) -> None:
    run = run_from_state(state(tmp_path, code=code, oom=oom))
    assert (run.state, run.exit_code, run.reason) == ("exited", code, reason)


def test_termination_message_file(tmp_path: Path) -> None:
    run = run_from_state(state(tmp_path, message="x" * 5000))
    assert run.message == "x" * 4096


LOG = ("2026-01-01T00:00:00.000000000+00:00 stdout F line one\n"
       "2026-01-01T00:00:00.100000000+00:00 stderr P par\n"
       "2026-01-01T00:00:00.200000000+00:00 stderr F tial\n")


def test_fallback_to_logs_on_error(tmp_path: Path) -> None:
    run = run_from_state(state(tmp_path, policy="FallbackToLogsOnError", message="", log=LOG))
    assert run.message == "line one\npartial\n"
    ok = run_from_state(state(tmp_path, code=0, policy="FallbackToLogsOnError", message="",
                              log=LOG))
    assert ok.message == ""          # only failures fall back to the log
    written = run_from_state(state(tmp_path, policy="FallbackToLogsOnError",
                                   message="from file", log=LOG))
    assert written.message == "from file"


def test_start_error_is_container_cannot_run(tmp_path: Path) -> None:
    run = run_from_state(state(tmp_path, status=rt.CREATED, code=None),
                         start_error='exec: "x": not found')
    assert (run.state, run.reason, run.exit_code, run.message) == (
        "exited", "ContainerCannotRun", 128, 'exec: "x": not found')
    assert run.started_at is None


def test_messages_are_read_once(tmp_path: Path) -> None:
    cache: dict[str, str] = {}
    first = run_from_state(state(tmp_path, message="one"), message_cache=cache)
    (tmp_path / "term").write_text("two")
    again = run_from_state(state(tmp_path), message_cache=cache)
    assert first.message == again.message == "one"
