"""Async wrapper around the runc command line, with its state under one ``--root``.

runc logs its own errors as JSON lines (``--log-format json``) on stderr, so an error
carries runc's message (``container does not exist``) rather than a whole log line. Each
call is one short-lived process; nothing here keeps state.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kubesmith.agent.runtime.errors import ContainerNotFound, RuncError

_NOT_FOUND_MARKERS = ("does not exist", "container not found", "no such file or directory")


def error_message(stderr: str) -> str:
    """The ``msg`` of runc's last error line (JSON log format), else its whole stderr."""
    message = ""
    for line in stderr.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            message = line
            continue
        if isinstance(entry, dict) and entry.get("level") in ("error", "fatal"):
            message = str(entry.get("msg", ""))
    return message or stderr.strip()


class Runc:
    """The runc binary with a state directory."""

    def __init__(self, binary: str, root: Path) -> None:
        self.binary = binary
        self.root = root

    def argv(self, *args: str, log_file: Path | None = None) -> list[str]:
        """A runc command line with the global flags (for callers that spawn it themselves);
        ``log_file`` keeps runc's own messages out of the process's stderr."""
        log = ["--log", str(log_file)] if log_file is not None else []
        return [self.binary, "--root", str(self.root), "--log-format", "json", *log, *args]

    async def run(self, *args: str, timeout: float = 60.0) -> bytes:  # noqa: ASYNC109
        """Run a runc subcommand; its stdout, or :class:`RuncError` with its stderr."""
        proc = await asyncio.create_subprocess_exec(
            *self.argv(*args), stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise RuncError(args[0], -1, f"timed out after {timeout:g}s", "") from None
        if proc.returncode != 0:
            text = stderr.decode(errors="replace")
            message = error_message(text)
            if any(marker in message.lower() for marker in _NOT_FOUND_MARKERS) and \
                    args[0] in ("state", "start", "kill", "delete", "pause", "resume"):
                raise ContainerNotFound(f"runc {args[0]}: {message}")
            raise RuncError(args[0], proc.returncode or -1, message, text)
        return stdout

    async def state(self, container_id: str) -> dict[str, Any] | None:
        """runc's state of a container (id, pid, status, bundle, created...), None if absent."""
        try:
            out = await self.run("state", container_id)
        except ContainerNotFound:
            return None
        state: dict[str, Any] = json.loads(out)
        return state

    async def list_containers(self) -> list[dict[str, Any]]:
        if not self.root.exists():
            return []
        out = await self.run("list", "--format", "json")
        entries = json.loads(out or b"null")
        return list(entries or [])

    async def start(self, container_id: str) -> None:
        await self.run("start", container_id)

    async def kill(self, container_id: str, signal: str, *, all_processes: bool = False
                   ) -> None:
        """Send ``signal`` (``TERM``, ``KILL``...) to the container's init, or to every
        process in its cgroup. A container that already stopped is not an error."""
        args = ["kill", *(["--all"] if all_processes else []), container_id, signal]
        try:
            await self.run(*args)
        except RuncError as exc:
            if "not running" in exc.reason or "process already finished" in exc.reason:
                return
            raise

    async def delete(self, container_id: str, *, force: bool = True) -> None:
        """Delete the container (killing it with ``force``); absent is fine."""
        try:
            await self.run("delete", *(["--force"] if force else []), container_id)
        except ContainerNotFound:
            return

    def exec_argv(self, container_id: str, process_file: Path, *, pid_file: Path,
                  log_file: Path, extra: Sequence[str] = ()) -> list[str]:
        """The command line of ``runc exec`` with a process spec file."""
        return self.argv("exec", "--process", str(process_file), "--pid-file", str(pid_file),
                         *extra, container_id, log_file=log_file)
