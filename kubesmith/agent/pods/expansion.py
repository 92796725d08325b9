"""``$(VAR)`` references in env values, command and args, expanded as the kubelet does
(upstream's forked ``expansion`` package).

Rules: ``$(NAME)`` is replaced by the variable's value when it is defined and left as written
when not; ``$$`` is an escaped ``$``; any other ``$`` is kept with the character after it.
An unterminated ``$(`` is kept as is. Nothing else (``${X}``, ``$X``, backslashes) is
special, so shell syntax passes through to the container untouched.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

Mapping_ = Callable[[str], str]


def mapping_for(*contexts: Mapping[str, str]) -> Mapping_:
    """Look a name up in ``contexts`` in order; an unknown name maps back to ``$(name)``."""

    def lookup(name: str) -> str:
        for values in contexts:
            if name in values:
                return values[name]
        return f"$({name})"

    return lookup


def _read_reference(text: str) -> tuple[str, bool, int]:
    """After a ``$``: (what to write or the variable name, whether it is a variable name,
    how many characters were consumed)."""
    first = text[0]
    if first == "$":
        return "$", False, 1
    if first == "(":
        end = text.find(")", 1)
        if end >= 0:
            return text[1:end], True, end + 1
        # Unterminated: keep "$(" and scan on from the character after "(".
        return "$(", False, 1
    return "$" + first, False, 1


def expand(text: str, mapping: Mapping_) -> str:
    """``text`` with its ``$(VAR)`` references expanded through ``mapping``."""
    out: list[str] = []
    checkpoint = 0
    cursor = 0
    while cursor < len(text):
        if text[cursor] == "$" and cursor + 1 < len(text):
            out.append(text[checkpoint:cursor])
            read, is_name, consumed = _read_reference(text[cursor + 1:])
            out.append(mapping(read) if is_name else read)
            cursor += consumed
            checkpoint = cursor + 1
        cursor += 1
    return "".join(out) + text[checkpoint:]
