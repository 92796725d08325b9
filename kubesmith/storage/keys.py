"""Key-range arithmetic shared by the backends.

A prefix read is the half-open range ``[prefix, prefix_end(prefix))``. etcd works on bytes and
bumps the last byte that is not 0xff; SQLite compares ``TEXT`` with the BINARY collation, i.e.
``memcmp`` over UTF-8, which orders strings exactly like their code points. So for ``str``
keys we bump the last code point instead, which keeps the bound a valid string SQLite can
bind.
"""

from __future__ import annotations

_MAX_CODE_POINT = 0x10FFFF
_SURROGATES = range(0xD800, 0xE000)


def prefix_end(prefix: str) -> str | None:
    """The smallest string greater than every string starting with ``prefix``.

    None means "no upper bound" (the empty prefix, or one made only of U+10FFFF).
    """
    chars = list(prefix)
    while chars:
        code = ord(chars[-1]) + 1
        if code in _SURROGATES:
            # Surrogates cannot be encoded as UTF-8; nothing sorts between them anyway.
            code = _SURROGATES.stop
        if code <= _MAX_CODE_POINT:
            chars[-1] = chr(code)
            return "".join(chars)
        chars.pop()
    return None


def prefix_end_bytes(prefix: bytes) -> bytes:
    """etcd's ``range_end`` for a prefix; ``b"\\0"`` means "every key from ``key`` on"."""
    end = bytearray(prefix)
    while end:
        if end[-1] < 0xFF:
            end[-1] += 1
            return bytes(end)
        end.pop()
    return b"\0"
