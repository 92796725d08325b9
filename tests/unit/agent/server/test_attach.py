"""Attach through conmon's socket: packets carry a pipe byte (2 stdout, 3 stderr), stdin
goes out as packets, its end as a shutdown, resizes as lines on the control fifo. Here a
stand-in for conmon plays the other end; the integration tests attach to the real one."""

from __future__ import annotations

import asyncio
import os
import socket
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubesmith.agent.server.attach import AttachSession, write_resize


@pytest.fixture
def short_dir() -> Iterator[Path]:
    # Unix socket paths are limited to 108 bytes; pytest's tmp_path can be longer.
    with tempfile.TemporaryDirectory(prefix="ks-attach-") as name:
        yield Path(name)


async def test_packets_are_demultiplexed_and_stdin_is_sent(short_dir: Path) -> None:
    path = short_dir / "attach"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(str(path))
    listener.listen()
    listener.setblocking(False)
    loop = asyncio.get_running_loop()
    accepted = asyncio.ensure_future(loop.sock_accept(listener))
    session = await AttachSession.connect(path, short_dir / "ctl")
    conmon, _ = await accepted
    try:
        for packet in (b"\x02hello ", b"\x03oops\n", b"\x02world\n"):
            await loop.sock_sendall(conmon, packet)
        assert await session.read_stdout() == b"hello "
        assert await session.read_stderr() == b"oops\n"
        assert await session.read_stdout() == b"world\n"

        await session.write_stdin(b"x" * 20000)
        sizes = [len(await loop.sock_recv(conmon, 65536)) for _ in range(3)]
        assert sizes == [8192, 8192, 3616]  # packets small enough for conmon's reads
        await session.close_stdin()
        assert await loop.sock_recv(conmon, 65536) == b""  # conmon sees the end of input

        conmon.close()  # the container exited
        assert await asyncio.wait_for(session.wait(), 5) == 0
        assert await session.read_stdout() == b""
        assert await session.read_stderr() == b""
    finally:
        await session.kill()
        listener.close()


async def test_a_socket_path_longer_than_an_address_still_connects(short_dir: Path) -> None:
    deep = short_dir / ("d" * 100)
    deep.mkdir()
    path = deep / "attach"
    assert len(str(path)) > 108
    # Bound through a short symlink to the directory, as conmon binds its socket.
    alias = short_dir / "a"
    alias.symlink_to(deep)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(str(alias / "attach"))
    listener.listen()
    try:
        session = await AttachSession.connect(path, short_dir / "ctl")
        await session.kill()
    finally:
        listener.close()


def test_resize_goes_to_the_control_fifo(short_dir: Path) -> None:
    fifo = short_dir / "ctl"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        write_resize(fifo, width=120, height=40)
        assert os.read(reader, 100) == b"1 40 120\n"
    finally:
        os.close(reader)
    write_resize(short_dir / "missing", 1, 1)  # no conmon listening: nothing happens


def test_a_resize_waits_until_conmon_read_the_previous(short_dir: Path) -> None:
    # conmon 2.1.6 applies only the first of several lines it reads at once.
    fifo = short_dir / "ctl"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        write_resize(fifo, width=121, height=41)
        second = threading.Thread(target=write_resize, args=(fifo, 120, 40))
        second.start()
        second.join(0.2)
        assert second.is_alive()  # still waiting: the first line is unread
        assert os.read(reader, 100) == b"1 41 121\n"
        second.join(5)
        assert os.read(reader, 100) == b"1 40 120\n"
    finally:
        os.close(reader)
