"""Reading container logs written in the CRI log format, as ``kubectl logs`` wants them.

Each line of a log file is one record::

    2026-11-27T02:09:05.172472279+00:00 stdout F hello

timestamp (RFC 3339 with nanoseconds), stream (``stdout``/``stderr``), a tag (``F`` a full
line, ``P`` a partial one the next record of the same stream continues; later tags may add
``:``-separated parts) and the content without its newline.

Output is the byte stream the container wrote: a ``P`` record's content is written as it
arrives (a prompt without a newline shows up at once, as with the kubelet) and the line
ends with the content of the ``F`` record plus a newline. Unlike the kubelet, a logical line
is the unit everywhere else: ``tailLines`` counts logical lines and ``timestamps`` prefixes
each logical line once (the kubelet counts records and stamps every record, which splits a
long line in two).

Following (``follow=true``) polls the file: at the end it waits for more data, reopens the
path when the file was rotated (renamed away and recreated, or truncated in place) and ends
once the container is no longer running and everything written has been read.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

STREAMS = ("stdout", "stderr")
POLL_INTERVAL = 0.2
#: How often an idle follower asks whether the container still runs.
RUNNING_CHECK_INTERVAL = 1.0
_BLOCK = 64 * 1024


@dataclass(frozen=True, slots=True)
class LogRecord:
    timestamp_ns: int
    stream: str
    partial: bool
    content: bytes


@dataclass(frozen=True, slots=True)
class LogOptions:
    """The kubelet's ``/containerLogs`` query, parsed."""

    follow: bool = False
    tail_lines: int | None = None
    since_ns: int | None = None
    timestamps: bool = False
    limit_bytes: int | None = None
    #: Which streams to return: ``All``, ``Stdout`` or ``Stderr`` (PodLogOptions.stream).
    stream: str = "All"

    def wants(self, stream: str) -> bool:
        return self.stream == "All" or self.stream.lower() == stream


class TimestampError(ValueError):
    pass


def parse_timestamp(text: str) -> int:
    """Nanoseconds since the epoch of an RFC 3339 timestamp with an optional fraction of
    up to nine digits (``...05.172472279+00:00``, ``...05Z``)."""
    import datetime as dt

    if len(text) < 20 or text[10] not in "Tt":
        raise TimestampError(f"bad timestamp {text!r}")
    base, rest = text[:19], text[19:]
    nanos = 0
    if rest.startswith("."):
        digits = len(rest) - len(rest[1:].lstrip("0123456789"))
        fraction = rest[1:digits]
        if not fraction or len(fraction) > 9:
            raise TimestampError(f"bad fraction in {text!r}")
        nanos = int(fraction.ljust(9, "0"))
        rest = rest[digits:]
    if rest in ("Z", "z"):
        offset = 0
    elif len(rest) == 6 and rest[0] in "+-" and rest[3] == ":":
        try:
            offset = (int(rest[1:3]) * 60 + int(rest[4:6])) * 60
        except ValueError:
            raise TimestampError(f"bad zone in {text!r}") from None
        offset = -offset if rest[0] == "-" else offset
    else:
        raise TimestampError(f"bad zone in {text!r}")
    try:
        naive = dt.datetime.strptime(base, "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        raise TimestampError(f"bad timestamp {text!r}") from None
    seconds = int(naive.replace(tzinfo=dt.UTC).timestamp()) - offset
    return seconds * 1_000_000_000 + nanos


def format_timestamp(ns: int) -> str:
    """RFC 3339 in UTC with exactly nine fraction digits (Go's RFC3339NanoFixed), the
    prefix ``kubectl logs --timestamps`` shows."""
    import datetime as dt

    seconds, nanos = divmod(ns, 1_000_000_000)
    moment = dt.datetime.fromtimestamp(seconds, dt.UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{nanos:09d}Z"


def parse_line(line: bytes) -> LogRecord | None:
    """One record (without its trailing newline); None when the line is malformed (the
    kubelet skips those too)."""
    parts = line.split(b" ", 3)
    if len(parts) < 3:
        return None
    stamp, stream, tag = parts[0], parts[1], parts[2]
    content = parts[3] if len(parts) == 4 else b""
    name = stream.decode("ascii", "replace")
    if name not in STREAMS:
        return None
    try:
        ns = parse_timestamp(stamp.decode("ascii", "replace"))
    except TimestampError:
        return None
    kind = tag.split(b":", 1)[0]
    if kind not in (b"F", b"P"):
        return None
    return LogRecord(ns, name, kind == b"P", content)


@dataclass
class LogFormatter:
    """Turns records into output bytes: filters by stream and time, stamps the start of
    each logical line and stops at ``limit_bytes``."""

    options: LogOptions
    written: int = 0
    _at_line_start: dict[str, bool] = field(default_factory=lambda: dict.fromkeys(STREAMS,
                                                                                   True))

    @property
    def exhausted(self) -> bool:
        limit = self.options.limit_bytes
        return limit is not None and self.written >= limit

    def render(self, record: LogRecord) -> bytes:
        opts = self.options
        if not opts.wants(record.stream) or self.exhausted:
            return b""
        if opts.since_ns is not None and record.timestamp_ns < opts.since_ns:
            return b""
        out = record.content if record.partial else record.content + b"\n"
        if opts.timestamps and self._at_line_start[record.stream]:
            out = format_timestamp(record.timestamp_ns).encode() + b" " + out
        self._at_line_start[record.stream] = not record.partial
        if opts.limit_bytes is not None:
            out = out[:opts.limit_bytes - self.written]
        self.written += len(out)
        return out


def tail_offset(path: Path, lines: int, wants: Callable[[str], bool]) -> int:
    """The byte offset where the last ``lines`` logical lines (of the wanted streams)
    start: after the (lines+1)-th full record counted from the end, scanning backwards in
    blocks so a large file costs only its tail."""
    with path.open("rb") as f:
        end = f.seek(0, os.SEEK_END)
        if lines <= 0:
            return end
        seen = 0
        position = end
        carry = b""  # the start of the earliest line seen so far, maybe cut by a block
        trailing = True  # the bytes after the last newline are no record yet
        while position > 0:
            step = min(_BLOCK, position)
            position -= step
            f.seek(position)
            data = f.read(step) + carry
            pieces = data.split(b"\n")
            carry = pieces.pop(0)
            line_end = position + len(data)
            for piece in reversed(pieces):
                start = line_end - len(piece)
                if trailing:
                    trailing = False
                elif _ends_line(piece, wants):
                    seen += 1
                    if seen > lines:
                        return start + len(piece) + 1
                line_end = start - 1
        if not trailing and _ends_line(carry, wants):
            seen += 1
            if seen > lines:
                return len(carry) + 1
        return 0


def _ends_line(raw: bytes, wants: Callable[[str], bool]) -> bool:
    record = parse_line(raw)
    return record is not None and not record.partial and wants(record.stream)


class LogReader:
    """Reads one log file from an offset, record by record, across rotations when
    following."""

    def __init__(self, path: Path, offset: int = 0) -> None:
        self.path = path
        self._file = path.open("rb")
        self._file.seek(offset)
        self._pending = b""

    def close(self) -> None:
        self._file.close()

    def read_records(self) -> list[LogRecord]:
        """The complete records written since the last call (a trailing line still
        being written waits for its newline)."""
        chunk = self._file.read(_BLOCK * 4)
        if not chunk:
            return []
        data = self._pending + chunk
        lines = data.split(b"\n")
        self._pending = lines.pop()
        return [r for r in (parse_line(line) for line in lines) if r is not None]

    def rotated(self) -> bool:
        """Whether the path now names another file, or this one was truncated; if so,
        switch to reading the path from its start (False while no new file exists)."""
        try:
            current = os.stat(self.path)
        except FileNotFoundError:
            return False
        mine = os.fstat(self._file.fileno())
        if (current.st_ino, current.st_dev) != (mine.st_ino, mine.st_dev):
            self._file.close()
            self._file = self.path.open("rb")
        elif current.st_size < self._file.tell():
            self._file.seek(0)
        else:
            return False
        self._pending = b""
        return True

    def has_more(self) -> bool:
        """Whether the file grew past what was read, or was rotated (then reading
        continues from the new file's start)."""
        size = os.fstat(self._file.fileno()).st_size
        return size > self._file.tell() or self.rotated()

    def flush_partial(self) -> list[LogRecord]:
        """A last line without its newline (a container killed mid-write), if any."""
        if not self._pending:
            return []
        record = parse_line(self._pending)
        self._pending = b""
        return [record] if record is not None else []


StillRunning = Callable[[], Awaitable[bool]]


async def stream_log(path: Path, options: LogOptions, still_running: StillRunning
                     ) -> AsyncGenerator[bytes, None]:
    """The container log at ``path`` as ``kubectl logs`` shows it, chunk by chunk.

    ``still_running`` is asked while following: once it answers False the rest of the file
    is sent and the stream ends.
    """
    offset = 0
    if options.tail_lines is not None:
        offset = await asyncio.to_thread(tail_offset, path, options.tail_lines,
                                         options.wants)
    reader = await asyncio.to_thread(LogReader, path, offset)
    formatter = LogFormatter(options)
    try:
        while True:
            records = await asyncio.to_thread(reader.read_records)
            if records:
                out = b"".join(formatter.render(r) for r in records)
                if out:
                    yield out
                if formatter.exhausted:
                    return
                continue
            if not options.follow:
                break
            if not await _wait_for_more(reader, still_running):
                break
        tail = b"".join(formatter.render(r) for r in reader.flush_partial())
        if tail:
            yield tail
    finally:
        reader.close()


async def _wait_for_more(reader: LogReader, still_running: StillRunning) -> bool:
    """Wait until the file grows or is rotated; False once the container stopped and
    nothing more came."""
    loop = asyncio.get_running_loop()
    next_check = loop.time() + RUNNING_CHECK_INTERVAL
    while True:
        await asyncio.sleep(POLL_INTERVAL)
        if await asyncio.to_thread(reader.has_more):
            return True
        if loop.time() >= next_check:
            if not await still_running():
                # One more look: the last lines may have landed since the poll above.
                return await asyncio.to_thread(reader.has_more)
            next_check = loop.time() + RUNNING_CHECK_INTERVAL
