"""What the pod workers know of one runtime container: a :class:`ContainerRun`, one attempt
of one container of the pod's spec, built from the runtime's state and the annotations the
workers stored in the container when they created it (so an agent that restarts reads back
the same facts, upstream's ``getContainerInfoFromAnnotations``).

Terminated reasons are the runtime's: ``Completed`` (exit 0), ``Error``, ``OOMKilled``, and
``ContainerCannotRun`` for a container that was created but could not be started. The
termination message comes from the file behind ``terminationMessagePath`` (at most 4 KiB),
or with ``FallbackToLogsOnError`` and a failure, from the last 80 lines (at most 2 KiB) of
the container's log.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from kubesmith.agent.runtime import spec as rt

# Annotations the pod workers add to the runtime's own keys (kubesmith.agent.runtime.spec).
HASH = "io.kubernetes.container.hash"
TERMINATION_MESSAGE_PATH = "io.kubernetes.container.terminationMessagePath"
TERMINATION_MESSAGE_POLICY = "io.kubernetes.container.terminationMessagePolicy"
TERMINATION_LOG = "kubesmith.io/termination-log"
IMAGE_DIGEST = "kubesmith.io/image-digest"
GRACE_PERIOD = "io.kubernetes.pod.terminationGracePeriod"
ROOTFS_DIR = "kubesmith.io/rootfs-dir"

MAX_MESSAGE_BYTES = 4096
MAX_LOG_MESSAGE_LINES = 80
MAX_LOG_MESSAGE_BYTES = 2048

CREATED = "created"
RUNNING = "running"
EXITED = "exited"
UNKNOWN = "unknown"

#: Exit code a runtime reports for a container it could not start (containerd's too).
CANNOT_RUN_EXIT_CODE = 128


@dataclass(frozen=True)
class ContainerRun:
    """One runtime container of a pod (see the module docstring)."""

    id: str
    name: str
    attempt: int                 # the restart count it was created with
    state: str                   # created | running | exited | unknown
    created_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    exit_code: int = 0
    reason: str = ""
    message: str = ""
    image: str = ""              # as the runtime reports it (normalized reference)
    image_id: str = ""           # repo digest (or the image id for imported images)
    hash: str = ""
    log_path: str = ""
    sandbox_id: str = ""
    rootfs_dir: str = ""             # where the image store mounted its root filesystem

    @property
    def container_id(self) -> str:
        """The ID as statuses carry it (``runc://<id>``)."""
        return f"runc://{self.id}"


def _annotation_int(annotations: Mapping[str, str], key: str) -> int:
    try:
        return int(annotations.get(key, "0"))
    except ValueError:
        return 0


def read_termination_message(path: str) -> str | None:
    """The container's termination message file (its last 4 KiB); None when absent."""
    if not path:
        return None
    try:
        with open(path, "rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(max(0, size - MAX_MESSAGE_BYTES))
            return handle.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"Error on reading termination log {path}: {exc}"


def log_tail_message(log_path: str) -> str:
    """The last lines of a CRI-format log as one text (FallbackToLogsOnError)."""
    try:
        raw = Path(log_path).read_bytes()
    except FileNotFoundError:
        return ""
    except OSError as exc:
        return f"Error on reading termination message from logs: {exc}"
    pieces: list[bytes] = []
    for line in raw.splitlines()[-MAX_LOG_MESSAGE_LINES:]:
        parts = line.split(b" ", 3)
        if len(parts) < 3:
            continue
        content = parts[3] if len(parts) == 4 else b""
        pieces.append(content if parts[2] == b"P" else content + b"\n")
    return b"".join(pieces)[-MAX_LOG_MESSAGE_BYTES:].decode("utf-8", "replace")


def _terminated_reason(state: rt.ContainerState, start_error: str | None) -> tuple[str, str]:
    if start_error is not None:
        return "ContainerCannotRun", start_error
    if state.oom_killed:
        return "OOMKilled", ""
    return ("Completed" if state.exit_code == 0 else "Error"), ""


def termination_message(annotations: Mapping[str, str], exit_code: int, reason: str,
                        log_path: str) -> str:
    """The termination message per ``terminationMessagePolicy`` (see the module
    docstring); ``log_path`` is read for ``FallbackToLogsOnError``."""
    fallback = annotations.get(TERMINATION_MESSAGE_POLICY) == "FallbackToLogsOnError" and \
        exit_code != 0 and reason != "ContainerCannotRun"
    message = read_termination_message(annotations.get(TERMINATION_LOG, ""))
    if message is None or (fallback and not message):
        return log_tail_message(log_path) if fallback else ""
    return message


def run_from_state(state: rt.ContainerState, *, start_error: str | None = None,
                   message_cache: dict[str, str] | None = None) -> ContainerRun:
    """A :class:`ContainerRun` from what the runtime reports (and the error of a failed
    start, which the runtime does not know). ``message_cache`` keeps termination messages
    by container id, as they do not change once a container exited."""
    notes = state.annotations
    status = {rt.CREATED: CREATED, rt.RUNNING: RUNNING, rt.STOPPED: EXITED}.get(
        state.status, UNKNOWN)
    if start_error is not None and status in (CREATED, EXITED):
        status = EXITED
    exit_code, reason, message = 0, "", ""
    if status == EXITED:
        reason, message = _terminated_reason(state, start_error)
        exit_code = CANNOT_RUN_EXIT_CODE if start_error is not None else \
            (state.exit_code if state.exit_code is not None else 0)
        cached = message_cache.get(state.id) if message_cache is not None else None
        if cached is None:
            found = termination_message(notes, exit_code, reason, notes.get(rt.LOG_PATH, ""))
            if found:
                message = f"{message}: {found}" if message else found
            if message_cache is not None:
                message_cache[state.id] = message
        else:
            message = cached
    return ContainerRun(
        id=state.id, name=notes.get(rt.CONTAINER_NAME, ""),
        attempt=_annotation_int(notes, rt.RESTART_COUNT), state=status,
        created_at=state.created_at or 0.0,
        started_at=state.started_at if start_error is None else None,
        finished_at=state.finished_at, exit_code=exit_code, reason=reason, message=message,
        image=notes.get(rt.IMAGE_REF, ""),
        image_id=notes.get(IMAGE_DIGEST) or notes.get(rt.IMAGE_ID, ""),
        hash=notes.get(HASH, ""), log_path=notes.get(rt.LOG_PATH, ""),
        sandbox_id=notes.get(rt.SANDBOX_ID, ""), rootfs_dir=notes.get(ROOTFS_DIR, ""))


def newest_first(runs: list[ContainerRun]) -> list[ContainerRun]:
    """Runs of one container, the latest attempt first."""
    return sorted(runs, key=lambda r: (r.attempt, r.created_at), reverse=True)


def remove_quietly(path: str) -> None:
    """Delete a file we own (a log or termination message), tolerating its absence."""
    if path:
        with contextlib.suppress(FileNotFoundError):
            Path(path).unlink()
