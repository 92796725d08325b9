"""The exec probe: a command run in the container; exit code 0 is success."""

from __future__ import annotations

import asyncio

from kubesmith.agent.probes.result import (
    MAX_OUTPUT,
    ExecSync,
    ProbeResult,
    errored,
    failure,
    success,
)
from kubesmith.api.types import Obj

# Extra time the runtime gets to report its own timeout before we stop waiting.
TIMEOUT_GRACE = 1.0


async def exec_probe(action: Obj, *, exec_sync: ExecSync | None,
                     time_limit: float) -> ProbeResult:
    command = [str(arg) for arg in action.get("command") or []]
    if exec_sync is None:
        return errored("exec probe without a container to run in")
    try:
        # The runtime enforces the timeout (ExecProbeTimeout); the grace only guards
        # against a runtime that hangs.
        exit_code, output = await asyncio.wait_for(exec_sync(command, time_limit),
                                                   time_limit + TIMEOUT_GRACE)
    except TimeoutError:
        return failure(f'command "{" ".join(command)}" timed out')
    except Exception as exc:  # the exec itself failed: thrown away as upstream does
        return errored(str(exc) or type(exc).__name__)
    text = output[:MAX_OUTPUT].decode(errors="replace")
    return success(text) if exit_code == 0 else failure(text)
