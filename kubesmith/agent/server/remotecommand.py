"""Exec and attach sessions: a process's stdio relayed to a client, then its exit status.

The relay is the same whatever carries it; :class:`ClientStreams` is the carrier (WebSocket
channels, :mod:`kubesmith.agent.server.channels`). The session ends when the process exits
(its output is drained first, for at most :data:`OUTPUT_GRACE` seconds: a background child
may hold the pipes open forever) or when the client goes away (the process is then killed,
so nothing is left running with nobody reading it). The exit status goes to the client as
the kubelet sends it: a ``Status`` of ``Success``, or ``Failure`` with reason
``NonZeroExitCode`` and the code in a cause of type ``ExitCode``, which is what makes
``kubectl exec`` exit with the same code.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from kubesmith.agent.server.interfaces import ExecSession

OUTPUT_GRACE = 5.0


@dataclass(frozen=True, slots=True)
class StreamOptions:
    """Which streams the client asked for (``stdin``, ``stdout``, ``stderr``, ``tty``)."""

    stdin: bool
    stdout: bool
    stderr: bool
    tty: bool

    @classmethod
    def from_query(cls, query: Any) -> StreamOptions:
        def flag(name: str) -> bool:
            return str(query.get(name, "")).lower() in ("1", "true")

        tty = flag("tty")
        # The kubelet drops stderr with a terminal: the terminal carries both.
        return cls(flag("stdin"), flag("stdout"), flag("stderr") and not tty, tty)

    def problem(self) -> str | None:
        if not (self.stdin or self.stdout or self.stderr):
            return "you must specify at least 1 of stdin, stdout, stderr"
        return None


@dataclass(frozen=True, slots=True)
class Stdin:
    data: bytes


@dataclass(frozen=True, slots=True)
class StdinClosed:
    pass


@dataclass(frozen=True, slots=True)
class Resize:
    width: int
    height: int


InputEvent = Stdin | StdinClosed | Resize


class ClientStreams(Protocol):
    async def write_stdout(self, data: bytes) -> None: ...

    async def write_stderr(self, data: bytes) -> None: ...

    async def read_input(self) -> InputEvent | None:
        """The client's next input; None once the client is gone."""
        ...

    async def finish(self, status: dict[str, Any]) -> None:
        """Send the final status and end the session."""
        ...


def success_status() -> dict[str, Any]:
    return {"metadata": {}, "status": "Success"}


def exit_status(argv: list[str], code: int) -> dict[str, Any]:
    if code == 0:
        return success_status()
    return {
        "metadata": {}, "status": "Failure",
        "message": f"command terminated with non-zero exit code: error executing command "
                   f"{argv}, exit code {code}",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
    }


def error_status(message: str) -> dict[str, Any]:
    """An InternalError, as the kubelet reports an exec it could not run."""
    text = f"Internal error occurred: {message}"
    return {"metadata": {}, "status": "Failure", "message": text, "reason": "InternalError",
            "details": {"causes": [{"message": message}]}, "code": 500}


async def relay(session: ExecSession, client: ClientStreams, opts: StreamOptions,
                status_of: Callable[[int], dict[str, Any]]) -> None:
    """Relay ``session`` to ``client`` until it exits or the client leaves."""
    out = asyncio.ensure_future(_pump(session.read_stdout, client.write_stdout, opts.stdout))
    err = asyncio.ensure_future(_pump(session.read_stderr, client.write_stderr, opts.stderr))
    inputs = asyncio.ensure_future(_feed(session, client, opts))
    exited = asyncio.ensure_future(session.wait())
    try:
        await asyncio.wait({exited, inputs}, return_when=asyncio.FIRST_COMPLETED)
        if not exited.done():
            return  # the client is gone (the finally below stops the process)
        await asyncio.wait({out, err}, timeout=OUTPUT_GRACE)
        if (out.done() and out.exception()) or (err.done() and err.exception()):
            return  # the client went away while the output was sent
        failure = exited.exception()
        status = status_of(exited.result()) if failure is None else error_status(
            f"error executing command in container: {failure}")
        with contextlib.suppress(ConnectionError):
            await client.finish(status)
    finally:
        # Also when the server cancels the handler because the connection dropped: nothing
        # will read the output any more, so the process must not go on running.
        if not exited.done():
            with contextlib.suppress(Exception):
                await session.kill()
        for task in (out, err, inputs, exited):
            task.cancel()
        await asyncio.gather(out, err, inputs, exited, return_exceptions=True)


async def _pump(read: Callable[[], Awaitable[bytes]],
                write: Callable[[bytes], Awaitable[None]], wanted: bool) -> None:
    # Output nobody asked for is still read, so the process never blocks on a full pipe.
    while chunk := await read():
        if wanted:
            await write(chunk)


async def _feed(session: ExecSession, client: ClientStreams, opts: StreamOptions) -> None:
    while (event := await client.read_input()) is not None:
        # The process may have closed its stdin or ended: the client's input then has
        # nowhere to go, which is no reason to end the session.
        with contextlib.suppress(OSError):
            if isinstance(event, Stdin):
                if opts.stdin:
                    await session.write_stdin(event.data)
            elif isinstance(event, StdinClosed):
                await session.close_stdin()
            elif opts.tty:
                await session.resize(event.width, event.height)
