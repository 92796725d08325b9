"""An exec's terminal plumbing on the event loop the agent runs (uvloop): input written to
the pty master must not take the process's output away from the reader."""

from __future__ import annotations

import asyncio
import os
from tty import setraw

import pytest

from kubesmith.agent.runtime.execs import _pty_reader, _TerminalWriter

uvloop = pytest.importorskip("uvloop")


async def _converse() -> bytes:
    master, slave = os.openpty()
    setraw(slave)
    proc = await asyncio.create_subprocess_exec(
        "sh", "-c", "echo one; read x; echo got:$x; echo two", stdin=slave, stdout=slave,
        stderr=slave, start_new_session=True)
    os.close(slave)
    reader = await _pty_reader(os.dup(master))
    writer = _TerminalWriter(os.dup(master))
    output = b""
    try:
        while b"one" not in output:
            output += await asyncio.wait_for(reader.read(1024), 10)
        writer.write(b"typed\n")
        await writer.drain()
        while chunk := await asyncio.wait_for(reader.read(1024), 10):
            output += chunk
    finally:
        writer.close()
        os.close(master)
        await proc.wait()
    return output


def test_terminal_output_survives_input_on_uvloop() -> None:
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        output = runner.run(_converse())
    assert output.replace(b"\r", b"") == b"one\ngot:typed\ntwo\n"
