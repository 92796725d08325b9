"""Errors the container runtime raises.

``ContainerConfigError`` is the one the pod workers turn into the
``CreateContainerConfigError`` waiting reason (runAsNonRoot, an image user missing from
``/etc/passwd``); everything else is a runtime failure (``CreateContainerError`` /
``RunContainerError`` upstream) whose message carries what runc or conmon said.
"""

from __future__ import annotations


class RuntimeFailure(Exception):
    """A runtime operation failed; ``message`` is fit for an event or a container status."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ContainerConfigError(RuntimeFailure):
    """The container cannot be created as configured (upstream: CreateContainerConfigError)."""


class ContainerNotFound(RuntimeFailure):
    """No container (or sandbox) with this id is known to the runtime."""


class RuncError(RuntimeFailure):
    """runc exited non-zero; ``stderr`` is what it printed, ``message`` its error text."""

    def __init__(self, command: str, returncode: int, message: str, stderr: str) -> None:
        super().__init__(f"runc {command}: {message}")
        self.command = command
        self.returncode = returncode
        self.stderr = stderr
        self.reason = message


class ExecFailed(RuntimeFailure):
    """A process could not be started inside the container (runc exec failed before it ran),
    e.g. ``exec: "nope": executable file not found in $PATH``."""


class ExecTimeout(TimeoutError):
    """An exec did not finish in time; the process was killed."""
