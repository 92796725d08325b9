"""Go (RE2) regular expressions, as CRD ``pattern`` fields are written, run with :mod:`re`.

Upstream compiles ``pattern`` with Go's ``regexp`` and matches with ``MatchString`` (a
search, not a full match). The two dialects mostly agree; this module bridges the parts
that differ and matter in practice:

* ``$`` without the ``m`` flag matches only at the very end in Go (``\\z``), while Python's
  ``$`` also matches before a final newline, so an unescaped ``$`` becomes ``\\Z``;
* ``\\z`` is spelled ``\\Z`` in Python, ``(?<name>`` is ``(?P<name>``, ``\\Q...\\E`` quotes;
* ``\\d``, ``\\w``, ``\\s`` and ``\\b`` are ASCII-only in Go, so patterns compile with
  :data:`re.ASCII`; ``[[:alpha:]]``-style classes and the common Unicode classes (``\\pL``,
  ``\\p{L}``, ``\\p{N}``, ``\\p{Nd}`` and their negations, outside brackets) are rewritten;
* Perl syntax Go rejects (look-around, back-references, possessive ``*+``) is rejected with
  Go's wording, so a CRD that upstream refuses is refused here too.

:func:`compile_go` raises :class:`GoRegexError` whose text is Go's ``error parsing regexp:
...`` message. A pattern Go accepts but this bridge cannot express (other ``\\p{...}``
classes, flags in the middle of a pattern) raises :class:`UnsupportedRegex`: callers
accept such schemas and skip the check rather than reject valid input.
"""

from __future__ import annotations

import functools
import re
from typing import Final


class GoRegexError(ValueError):
    """The pattern is not a valid Go regular expression; ``str()`` is Go's message."""


class UnsupportedRegex(ValueError):
    """Valid for Go, but not expressible with :mod:`re` by this bridge."""


_POSIX_CLASSES: Final = {
    "alnum": "0-9A-Za-z", "alpha": "A-Za-z", "ascii": "\\x00-\\x7f", "blank": "\\t ",
    "cntrl": "\\x00-\\x1f\\x7f", "digit": "0-9", "graph": "!-~", "lower": "a-z",
    "print": " -~", "punct": "!-/:-@[-`{-~", "space": "\\t\\n\\v\\f\\r ", "upper": "A-Z",
    "word": "0-9A-Za-z_", "xdigit": "0-9A-Fa-f",
}

# Unicode classes with a faithful :mod:`re` spelling outside brackets: patterns compile with
# re.ASCII (Go's \d, \w, \s are ASCII-only), so these opt back into Unicode locally.
_UNICODE_CLASSES: Final = {
    "L": ("(?u:[^\\W\\d_])", "(?u:[\\W\\d_])"),
    "N": ("(?u:\\d)", "(?u:\\D)"),
    "Nd": ("(?u:\\d)", "(?u:\\D)"),
}

_PERL_REJECTS: Final = ("(?=", "(?!", "(?<=", "(?<!")


def _error(code: str, expr: str) -> GoRegexError:
    return GoRegexError(f"error parsing regexp: {code}: `{expr}`")


def _unicode_class(pattern: str, index: int, negated: bool, in_class: bool) -> tuple[str, int]:
    """Translate ``\\pX`` / ``\\p{Name}`` starting at ``pattern[index]`` (after ``\\p``)."""
    if index < len(pattern) and pattern[index] == "{":
        end = pattern.find("}", index)
        if end < 0:
            raise _error("invalid character class range", pattern[index - 2:])
        name = pattern[index + 1:end]
        index = end + 1
    elif index < len(pattern):
        name = pattern[index]
        index += 1
    else:
        raise _error("invalid character class range", pattern[index - 2:])
    if name.startswith("^"):
        negated, name = not negated, name[1:]
    spelling = _UNICODE_CLASSES.get(name)
    if spelling is None or in_class:
        raise UnsupportedRegex(f"unicode class \\p{{{name}}}")
    positive, negative = spelling
    return (negative if negated else positive), index


def translate(pattern: str) -> str:
    """Rewrite a Go regexp into :mod:`re` syntax (see the module docstring)."""
    for marker in _PERL_REJECTS:
        at = pattern.find(marker)
        if at >= 0:
            raise _error("invalid or unsupported Perl syntax", marker)
    out: list[str] = []
    i = 0
    in_class = False
    multiline = False
    length = len(pattern)
    while i < length:
        char = pattern[i]
        if char == "\\":
            if i + 1 >= length:
                raise _error("trailing backslash at end of expression", "")
            nxt = pattern[i + 1]
            if nxt == "Q":
                end = pattern.find("\\E", i + 2)
                literal = pattern[i + 2:] if end < 0 else pattern[i + 2:end]
                out.append(re.escape(literal))
                i = length if end < 0 else end + 2
                continue
            if nxt.isdigit() and nxt != "0":
                raise _error("invalid escape sequence", "\\" + nxt)
            if nxt == "z":
                out.append("\\Z")
            elif nxt == "Z":
                raise _error("invalid escape sequence", "\\Z")
            elif nxt in "pP":
                spelled, i = _unicode_class(pattern, i + 2, nxt == "P", in_class)
                out.append(spelled)
                continue
            else:
                out.append(pattern[i:i + 2])
            i += 2
            continue
        if in_class:
            if char == "[" and pattern.startswith("[:", i):
                end = pattern.find(":]", i + 2)
                name = pattern[i + 2:end] if end > 0 else ""
                negate = name.startswith("^")
                body = _POSIX_CLASSES.get(name.lstrip("^"))
                if body is None:
                    raise _error("invalid character class range", pattern[i:end + 2])
                if negate:
                    raise UnsupportedRegex("negated POSIX class")
                out.append(body)
                i = end + 2
                continue
            if char == "[":
                out.append("\\[")
                i += 1
                continue
            if char == "]":
                in_class = False
            out.append(char)
            i += 1
            continue
        if char == "[":
            in_class = True
            out.append(char)
            i += 1
            # A leading "]" (or "^]") is a literal in both dialects.
            if pattern.startswith("^", i):
                out.append("^")
                i += 1
            if pattern.startswith("]", i):
                out.append("\\]")
                i += 1
            continue
        if char == "(" and pattern.startswith("(?", i):
            if pattern.startswith("(?<", i) and not pattern.startswith("(?<=", i):
                out.append("(?P<")
                i += 3
                continue
            flags = re.match(r"\(\?([imsU-]*)\)", pattern[i:])
            if flags:
                if i != 0 or "U" in flags.group(1) or "-" in flags.group(1):
                    raise UnsupportedRegex("flags other than a leading (?ims)")
                multiline = "m" in flags.group(1)
        if char in "*+?" and pattern.startswith(("*+", "++", "?+"), i):
            raise _error("invalid nested repetition operator", pattern[i:i + 2])
        if char == "$" and not multiline:
            out.append("\\Z")
            i += 1
            continue
        out.append(char)
        i += 1
    if in_class:
        start = pattern.rfind("[")
        raise _error("missing closing ]", pattern[start:])
    return "".join(out)


def _go_error_from(exc: re.error, pattern: str) -> GoRegexError:
    """Word a :mod:`re` failure as Go's parser would for the same mistake."""
    message = exc.msg
    if "missing )" in message:
        return _error("missing closing )", pattern)
    if "unbalanced parenthesis" in message:
        return _error("unexpected )", pattern)
    if "nothing to repeat" in message:
        at = exc.pos if exc.pos is not None else 0
        return _error("missing argument to repetition operator", pattern[at:at + 1])
    if "multiple repeat" in message:
        at = exc.pos if exc.pos is not None else 0
        return _error("invalid nested repetition operator", pattern[max(at - 1, 0):at + 1])
    if "bad escape" in message:
        at = exc.pos if exc.pos is not None else 0
        return _error("invalid escape sequence", pattern[at:at + 2])
    if "bad character range" in message:
        return _error("invalid character class range", message.split()[-1])
    return GoRegexError(f"error parsing regexp: {message}: `{pattern}`")


@functools.lru_cache(maxsize=1024)
def compile_go(pattern: str) -> re.Pattern[str]:
    """Compile a Go regexp; :class:`GoRegexError` or :class:`UnsupportedRegex` on failure."""
    translated = translate(pattern)
    try:
        return re.compile(translated, re.ASCII)
    except re.error as exc:
        raise _go_error_from(exc, pattern) from None
