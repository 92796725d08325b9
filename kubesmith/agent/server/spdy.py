"""SPDY/3.1 framing, as much as Kubernetes' streaming uses (moby/spdystream's subset).

A frame starts with 8 bytes. Control frames: the high bit set, 15 bits version (3), 16
bits type, then 8 bits flags and 24 bits length. Data frames: the high bit clear, 31 bits
stream id, 8 bits flags, 24 bits length. Header blocks (SYN_STREAM, SYN_REPLY, HEADERS)
are ``count, (len, name, len, value)*`` with 32-bit big-endian lengths, lowercase names and
NUL-joined multiple values, compressed with zlib primed with the SPDY/3 dictionary. Each
direction keeps one compression context for the whole connection and flushes it after
every block (``Z_SYNC_FLUSH``), so decoding must also keep one context per connection.

Flow control (WINDOW_UPDATE) is parsed and ignored, as spdystream ignores it.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

VERSION = 3

SYN_STREAM = 1
SYN_REPLY = 2
RST_STREAM = 3
SETTINGS = 4
PING = 6
GOAWAY = 7
HEADERS = 8
WINDOW_UPDATE = 9

FLAG_FIN = 0x01
FLAG_UNIDIRECTIONAL = 0x02

# RST_STREAM status codes.
PROTOCOL_ERROR = 1
INVALID_STREAM = 2
REFUSED_STREAM = 3
CANCEL = 5
INTERNAL_ERROR = 6

MAX_DATA_LENGTH = (1 << 24) - 1

# The SPDY/3 header compression dictionary (draft 3, section 2.6.10.1): length-prefixed
# tokens, then a run of common values. Peers inflate with it, so it must be byte-exact
# (1423 bytes, zlib dictionary id 0xe3c6a7c2; a unit test checks both).
_DICTIONARY_TOKENS = (
    "options", "head", "post", "put", "delete", "trace", "accept", "accept-charset",
    "accept-encoding", "accept-language", "accept-ranges", "age", "allow", "authorization",
    "cache-control", "connection", "content-base", "content-encoding", "content-language",
    "content-length", "content-location", "content-md5", "content-range", "content-type",
    "date", "etag", "expect", "expires", "from", "host", "if-match", "if-modified-since",
    "if-none-match", "if-range", "if-unmodified-since", "last-modified", "location",
    "max-forwards", "pragma", "proxy-authenticate", "proxy-authorization", "range", "referer",
    "retry-after", "server", "te", "trailer", "transfer-encoding", "upgrade", "user-agent",
    "vary", "via", "warning", "www-authenticate", "method", "get", "status", "200 OK",
    "version", "HTTP/1.1", "url", "public", "set-cookie", "keep-alive", "origin",
)
_DICTIONARY_TAIL = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504"
    "505203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request"
    "401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented"
    "503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, "
    "Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,"
    "application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age="
    "gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
)
DICTIONARY = b"".join(struct.pack(">I", len(t)) + t.encode() for t in _DICTIONARY_TOKENS) \
    + _DICTIONARY_TAIL.encode()

Headers = dict[str, list[str]]


class ProtocolError(Exception):
    """The peer sent something that is not SPDY/3: the connection must end."""


@dataclass(frozen=True, slots=True)
class SynStream:
    stream_id: int
    headers: Headers
    flags: int = 0
    associated_to: int = 0
    priority: int = 0


@dataclass(frozen=True, slots=True)
class SynReply:
    stream_id: int
    headers: Headers = field(default_factory=dict)
    flags: int = 0


@dataclass(frozen=True, slots=True)
class RstStream:
    stream_id: int
    status: int


@dataclass(frozen=True, slots=True)
class Settings:
    entries: tuple[tuple[int, int, int], ...]  # (flags, id, value)
    flags: int = 0


@dataclass(frozen=True, slots=True)
class Ping:
    ping_id: int


@dataclass(frozen=True, slots=True)
class GoAway:
    last_good_stream_id: int
    status: int = 0


@dataclass(frozen=True, slots=True)
class HeadersFrame:
    stream_id: int
    headers: Headers
    flags: int = 0


@dataclass(frozen=True, slots=True)
class WindowUpdate:
    stream_id: int
    delta: int


@dataclass(frozen=True, slots=True)
class Data:
    stream_id: int
    data: bytes
    flags: int = 0


Frame = (SynStream | SynReply | RstStream | Settings | Ping | GoAway | HeadersFrame
         | WindowUpdate | Data)


def encode_header_block(headers: Headers) -> bytes:
    out = [struct.pack(">I", len(headers))]
    for name, values in headers.items():
        key = name.lower().encode()
        value = "\x00".join(values).encode()
        out.append(struct.pack(">I", len(key)) + key + struct.pack(">I", len(value)) + value)
    return b"".join(out)


def decode_header_block(block: bytes) -> Headers:
    try:
        (count,) = struct.unpack_from(">I", block, 0)
        offset = 4
        headers: Headers = {}
        for _ in range(count):
            (n,) = struct.unpack_from(">I", block, offset)
            name = block[offset + 4:offset + 4 + n].decode().lower()
            offset += 4 + n
            (n,) = struct.unpack_from(">I", block, offset)
            value = block[offset + 4:offset + 4 + n].decode()
            offset += 4 + n
            headers.setdefault(name, []).extend(value.split("\x00"))
    except (struct.error, UnicodeDecodeError) as exc:
        raise ProtocolError(f"bad header block: {exc}") from None
    return headers


class FrameCodec:
    """Encodes and decodes the frames of one connection (one compression context per
    direction, for the connection's life)."""

    def __init__(self) -> None:
        self._deflate = zlib.compressobj(zlib.Z_BEST_COMPRESSION, zdict=DICTIONARY)
        self._inflate = zlib.decompressobj(zdict=DICTIONARY)
        self._buffer = bytearray()

    # ---- writing -------------------------------------------------------------------------
    def _compress(self, headers: Headers) -> bytes:
        raw = encode_header_block(headers)
        return self._deflate.compress(raw) + self._deflate.flush(zlib.Z_SYNC_FLUSH)

    @staticmethod
    def _control(kind: int, flags: int, payload: bytes) -> bytes:
        return struct.pack(">HHI", 0x8000 | VERSION, kind,
                           (flags << 24) | len(payload)) + payload

    def encode(self, frame: Frame) -> bytes:
        if isinstance(frame, Data):
            if len(frame.data) > MAX_DATA_LENGTH:
                raise ValueError("data frame too large")
            return struct.pack(">II", frame.stream_id & 0x7FFFFFFF,
                               (frame.flags << 24) | len(frame.data)) + frame.data
        if isinstance(frame, SynStream):
            payload = struct.pack(">IIBB", frame.stream_id, frame.associated_to,
                                  (frame.priority & 7) << 5, 0) + self._compress(frame.headers)
            return self._control(SYN_STREAM, frame.flags, payload)
        if isinstance(frame, SynReply):
            payload = struct.pack(">I", frame.stream_id) + self._compress(frame.headers)
            return self._control(SYN_REPLY, frame.flags, payload)
        if isinstance(frame, HeadersFrame):
            payload = struct.pack(">I", frame.stream_id) + self._compress(frame.headers)
            return self._control(HEADERS, frame.flags, payload)
        if isinstance(frame, RstStream):
            return self._control(RST_STREAM, 0, struct.pack(">II", frame.stream_id,
                                                            frame.status))
        if isinstance(frame, Ping):
            return self._control(PING, 0, struct.pack(">I", frame.ping_id))
        if isinstance(frame, GoAway):
            return self._control(GOAWAY, 0, struct.pack(">II", frame.last_good_stream_id,
                                                        frame.status))
        if isinstance(frame, WindowUpdate):
            return self._control(WINDOW_UPDATE, 0, struct.pack(">II", frame.stream_id,
                                                               frame.delta))
        payload = struct.pack(">I", len(frame.entries)) + b"".join(
            struct.pack(">II", (f << 24) | i, v) for f, i, v in frame.entries)
        return self._control(SETTINGS, frame.flags, payload)

    # ---- reading -------------------------------------------------------------------------
    def feed(self, data: bytes) -> list[Frame]:
        """The frames completed by ``data`` (bytes of a frame not yet complete wait)."""
        self._buffer += data
        frames: list[Frame] = []
        while len(self._buffer) >= 8:
            word, length_word = struct.unpack_from(">II", self._buffer, 0)
            length = length_word & 0xFFFFFF
            if len(self._buffer) < 8 + length:
                break
            flags = length_word >> 24
            payload = bytes(self._buffer[8:8 + length])
            del self._buffer[:8 + length]
            if word & 0x80000000:
                version = (word >> 16) & 0x7FFF
                if version != VERSION:
                    raise ProtocolError(f"unsupported SPDY version {version}")
                frame = self._decode_control(word & 0xFFFF, flags, payload)
                if frame is not None:
                    frames.append(frame)
            else:
                stream_id = word & 0x7FFFFFFF
                if stream_id == 0:
                    raise ProtocolError("data frame for stream 0")
                frames.append(Data(stream_id, payload, flags))
        return frames

    def _decompress(self, block: bytes) -> Headers:
        try:
            raw = self._inflate.decompress(block)
        except zlib.error as exc:
            raise ProtocolError(f"bad compressed headers: {exc}") from None
        return decode_header_block(raw)

    def _decode_control(self, kind: int, flags: int, payload: bytes) -> Frame | None:
        try:
            if kind == SYN_STREAM:
                stream_id, assoc, prio, _slot = struct.unpack_from(">IIBB", payload, 0)
                return SynStream(stream_id & 0x7FFFFFFF, self._decompress(payload[10:]),
                                 flags, assoc & 0x7FFFFFFF, prio >> 5)
            if kind in (SYN_REPLY, HEADERS):
                (stream_id,) = struct.unpack_from(">I", payload, 0)
                headers = self._decompress(payload[4:])
                if kind == SYN_REPLY:
                    return SynReply(stream_id & 0x7FFFFFFF, headers, flags)
                return HeadersFrame(stream_id & 0x7FFFFFFF, headers, flags)
            if kind == RST_STREAM:
                stream_id, status = struct.unpack_from(">II", payload, 0)
                return RstStream(stream_id & 0x7FFFFFFF, status)
            if kind == PING:
                return Ping(struct.unpack_from(">I", payload, 0)[0])
            if kind == GOAWAY:
                last, status = struct.unpack_from(">II", payload, 0)
                return GoAway(last & 0x7FFFFFFF, status)
            if kind == WINDOW_UPDATE:
                stream_id, delta = struct.unpack_from(">II", payload, 0)
                return WindowUpdate(stream_id & 0x7FFFFFFF, delta & 0x7FFFFFFF)
            if kind == SETTINGS:
                (count,) = struct.unpack_from(">I", payload, 0)
                entries = []
                for i in range(count):
                    word, value = struct.unpack_from(">II", payload, 4 + 8 * i)
                    entries.append((word >> 24, word & 0xFFFFFF, value))
                return Settings(tuple(entries), flags)
        except struct.error as exc:
            raise ProtocolError(f"truncated control frame type {kind}: {exc}") from None
        return None  # unknown control frame types are ignored (SPDY/3 section 2.2.1)
