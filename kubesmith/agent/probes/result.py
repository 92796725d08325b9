"""Probe outcomes and the Go-style formatting the kubelet's messages use."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

# Output kept from a probe (exec output, HTTP body), like the kubelet's 10 KiB limit.
MAX_OUTPUT = 10 * 1024

# Runs a command in the container: (argv, timeout seconds) -> (exit code, combined output).
# Raises TimeoutError when the command outlives the timeout.
ExecSync = Callable[[list[str], float], Awaitable[tuple[int, bytes]]]


@dataclass(frozen=True)
class ProbeResult:
    """One probe run.

    ``warning`` marks a success the kubelet reports with a ``ProbeWarning`` event (an HTTP
    redirect it did not follow); ``error`` marks a probe that could not run at all (an
    unknown named port, a failed exec): its result is thrown away rather than counted.
    """

    success: bool
    message: str
    warning: bool = False
    error: bool = False


def success(message: str = "", *, warning: bool = False) -> ProbeResult:
    return ProbeResult(True, message, warning=warning)


def failure(message: str) -> ProbeResult:
    return ProbeResult(False, message)


def errored(message: str) -> ProbeResult:
    return ProbeResult(False, message, error=True)


def go_duration(seconds: float) -> str:
    """A duration as Go's ``time.Duration.String`` prints whole seconds: 1s, 1m30s, 1h0m0s."""
    total = int(seconds)
    if total < 60:
        return f"{total}s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes}m{secs}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes}m{secs}s"


def join_host_port(host: str, port: int) -> str:
    """Go's net.JoinHostPort: IPv6 literals in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
