"""postStart and preStop lifecycle handlers, run as the kubelet's handler runner does.

* ``exec``: the command runs in the container; a non-zero exit fails the hook.
* ``httpGet``: a GET to the pod IP (or ``host``) and port; only a failed exchange fails the
  hook — upstream does not judge the status code.
* ``sleep``: waits ``seconds``.

A failed hook raises :class:`HookError` with upstream's message (it goes to the container's
``waiting.message``, never to an event: it may hold secrets).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from kubesmith.agent.probes.http_get import http_get_probe
from kubesmith.agent.runtime.errors import ExecTimeout, RuntimeFailure
from kubesmith.api.gofmt import quote
from kubesmith.api.types import Obj

#: Runs a command in the container: (argv, timeout) -> (exit code, output).
ExecSync = Callable[[list[str], float], Awaitable[tuple[int, bytes]]]

#: How long an exec or HTTP hook may run when nothing else bounds it.
DEFAULT_HOOK_TIMEOUT = 600.0


class HookError(Exception):
    """A lifecycle hook failed; ``message`` is upstream's text for it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _go_strings(items: list[str]) -> str:
    return "[" + " ".join(items) + "]"


async def run_handler(handler: Obj, *, container: Obj, pod_description: str, pod_ip: str,
                      exec_sync: ExecSync, time_limit: float = DEFAULT_HOOK_TIMEOUT) -> None:
    """Run one lifecycle handler (see the module docstring); raises :class:`HookError`."""
    name = str(container.get("name") or "")
    if handler.get("exec") is not None:
        command = [str(c) for c in handler["exec"].get("command") or ()]
        try:
            code, output = await exec_sync(command, time_limit)
        except (RuntimeFailure, ExecTimeout, OSError) as exc:
            error, code, output = str(exc), -1, b""
        else:
            error = f"command '{' '.join(command)}' exited with {code}: " \
                    f"{output.decode('utf-8', 'replace')}" if code else ""
        if code:
            text = output.decode("utf-8", "replace")
            raise HookError(f"Exec lifecycle hook ({_go_strings(command)}) for Container "
                            f"\"{name}\" in Pod \"{pod_description}\" failed - error: {error}, "
                            f"message: {quote(text)}")
        return
    if handler.get("httpGet") is not None:
        action = handler["httpGet"]
        result = await http_get_probe(action, pod_ip=pod_ip, container=container,
                                      time_limit=time_limit)
        # Only a failed exchange fails a hook; a status code is not judged (upstream).
        if not result.success and not result.message.startswith("HTTP probe failed"):
            raise HookError(f"HTTP lifecycle hook ({action.get('path') or ''}) for Container "
                            f"\"{name}\" in Pod \"{pod_description}\" failed - error: "
                            f"{result.message}")
        return
    if handler.get("sleep") is not None:
        await asyncio.sleep(max(0.0, float(handler["sleep"].get("seconds") or 0)))
        return
    raise HookError("a lifecycle handler must set exec, httpGet or sleep")
