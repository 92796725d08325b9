"""The JSONPath dialect of ``k8s.io/client-go/util/jsonpath``, as CRD printer columns use it.

CustomResourceDefinitions name their ``additionalPrinterColumns`` with expressions such as
``.spec.replicas``, ``.metadata.labels['app\\.kubernetes\\.io/name']``,
``.status.conditions[?(@.type=="Ready")].status`` or ``.spec.containers[0].image``.
:func:`compile_jsonpath` parses one such expression (the text between upstream's ``{`` and
``}``) into a :class:`JSONPath` whose :meth:`~JSONPath.find` returns the values it selects,
following client-go with ``AllowMissingKeys(true)``:

* a missing key, or a key looked up on something that is not an object, selects nothing;
* an index outside a list, indexing something that is not a list, filtering something that
  is not a list and comparing values of different kinds are errors
  (:class:`JSONPathError`), which a printer column shows as an empty cell;
* ``..name`` searches recursively, ``*`` and ``[*]`` take every child, ``[a,b]`` is a
  union, ``[start:end:step]`` a slice, ``[?(@.x)]`` keeps elements where ``x`` exists.

The expression is compiled once per column into a list of step functions; evaluation walks
plain Python lists and dicts.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubesmith.api import gofmt

__all__ = ["JSONPath", "JSONPathError", "compile_jsonpath"]

_Step = Callable[[list[Any]], list[Any]]


class JSONPathError(ValueError):
    """The expression does not parse, or evaluating it hit an upstream error."""


@dataclass(frozen=True, slots=True)
class JSONPath:
    """A compiled expression; :meth:`find` evaluates it against one object."""

    expression: str
    steps: tuple[_Step, ...]

    def find(self, data: Any) -> list[Any]:
        """The selected values (``None`` stands for a JSON ``null`` that was found).

        Raises :class:`JSONPathError` where client-go's evaluation fails.
        """
        values = [data]
        for step in self.steps:
            values = step(values)
        return values


# ---- evaluation steps ------------------------------------------------------------------


def _field_step(name: str) -> _Step:
    def step(values: list[Any]) -> list[Any]:
        return [v[name] for v in values if isinstance(v, dict) and name in v]

    return step


def _children(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return list(value.values())
    if isinstance(value, list):
        return list(value)
    return []


def _wildcard_step(values: list[Any]) -> list[Any]:
    out: list[Any] = []
    for value in values:
        out.extend(_children(value))
    return out


def _recursive_step(values: list[Any]) -> list[Any]:
    # client-go keeps every container it descends through; the next step picks from them.
    out: list[Any] = []
    for value in values:
        children = _children(value)
        if children:
            out.append(value)
            out.extend(_recursive_step(children))
    return out


def _slice_step(start: int | None, end: int | None, step_size: int | None,
                single: bool) -> _Step:
    def step(values: list[Any]) -> list[Any]:
        out: list[Any] = []
        for value in values:
            if value is None:
                continue
            if not isinstance(value, list):
                raise JSONPathError(f"{type(value).__name__} is not array or slice")
            length = len(value)
            first = 0 if start is None else start
            if first < 0:
                first += length
            if single:
                last = first + 1
            else:
                last = length if end is None else end
                if last < 0:
                    last += length
            if last == first:
                continue
            if first >= length or first < 0:
                raise JSONPathError(f"array index out of bounds: index {first}, length "
                                    f"{length}")
            if last > length or last < 0:
                raise JSONPathError(f"array index out of bounds: index {last - 1}, length "
                                    f"{length}")
            if first > last:
                raise JSONPathError(f"starting index {first} is greater than ending index "
                                    f"{last}")
            stride = 1 if step_size is None else step_size
            if stride <= 0:
                raise JSONPathError("step must be > 0")
            out.extend(value[first:last:stride])
        return out

    return step


def _union_step(branches: list[tuple[_Step, ...]]) -> _Step:
    def step(values: list[Any]) -> list[Any]:
        out: list[Any] = []
        for branch in branches:
            selected = values
            for sub in branch:
                selected = sub(selected)
            out.extend(selected)
        return out

    return step


def _kind(value: Any) -> str:
    # text/template's basicKind: what may be compared with what.
    kind = gofmt.kind_of(value)
    if kind not in ("bool", "int", "float", "string"):
        raise JSONPathError("invalid type for comparison")
    return kind


def _compare(left: Any, op: str, right: Any) -> bool:
    kind = _kind(left)
    if kind != _kind(right):
        raise JSONPathError("incompatible types for comparison")
    if op == "==":
        return bool(left == right)
    if op == "!=":
        return bool(left != right)
    if kind == "bool":
        raise JSONPathError("invalid type for comparison")
    if op == "<":
        return bool(left < right)
    if op == ">":
        return bool(left > right)
    if op == "<=":
        return bool(left <= right)
    return bool(left >= right)


_Operand = Callable[[Any], list[Any]]


def _filter_step(left: _Operand, op: str | None, right: _Operand | None) -> _Step:
    def step(values: list[Any]) -> list[Any]:
        out: list[Any] = []
        for value in values:
            if not isinstance(value, list):
                raise JSONPathError(f"{value!r} is not array or slice and cannot be filtered")
            for item in value:
                lefts = left(item)
                if op is None:
                    if lefts:
                        out.append(item)
                    continue
                if not lefts:
                    continue
                if len(lefts) > 1:
                    raise JSONPathError("can only compare one element at a time")
                assert right is not None
                rights = right(item)
                if not rights:
                    continue
                if len(rights) > 1:
                    raise JSONPathError("can only compare one element at a time")
                if _compare(lefts[0], op, rights[0]):
                    out.append(item)
        return out

    return step


# ---- parsing ---------------------------------------------------------------------------

_TERMINATORS = frozenset(" \t\r\n.,[]$@{}")
_FILTER_OPS = ("==", "!=", "<=", ">=", "<", ">")
_NUMBER = re.compile(r"-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")
_SLICE = re.compile(r"(-?\d*)(?::(-?\d*))?(?::(-?\d*))?")


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def error(self, why: str) -> JSONPathError:
        return JSONPathError(f"unrecognized JSONPath {self.text!r}: {why}")

    def peek(self, offset: int = 0) -> str:
        index = self.pos + offset
        return self.text[index] if index < len(self.text) else ""

    def parse_path(self, stop: frozenset[str] = frozenset()) -> list[_Step]:
        steps: list[_Step] = []
        if self.peek() in ("$", "@"):
            self.pos += 1
        while self.pos < len(self.text) and self.peek() not in stop:
            ch = self.peek()
            if ch == ".":
                if self.peek(1) == ".":
                    self.pos += 2
                    steps.append(_recursive_step)
                    if self.peek() == "[":
                        continue
                else:
                    self.pos += 1
                steps.append(self.parse_name())
            elif ch == "[":
                steps.append(self.parse_bracket())
            elif ch in " \t":
                self.pos += 1
            else:
                raise self.error(f"unexpected {ch!r} at {self.pos}")
        return steps

    def parse_name(self) -> _Step:
        name: list[str] = []
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch == "\\" and self.pos + 1 < len(self.text):
                # A backslash keeps the next character (\. in a label key).
                name.append(self.text[self.pos + 1])
                self.pos += 2
                continue
            if ch in _TERMINATORS or ch in "()=!<>":
                break
            name.append(ch)
            self.pos += 1
        text = "".join(name)
        if text == "*":
            return _wildcard_step
        if not text:
            raise self.error(f"missing field name at {self.pos}")
        return _field_step(text)

    def parse_bracket(self) -> _Step:
        end = self._matching_bracket(self.pos)
        inner = self.text[self.pos + 1:end].strip()
        self.pos = end + 1
        if inner == "*":
            return _wildcard_step
        if inner.startswith("?"):
            return self.parse_filter(inner[1:].strip())
        parts = _split_top_level(inner, ",")
        if len(parts) > 1:
            return _union_step([tuple([self.parse_subscript(p.strip())]) for p in parts])
        return self.parse_subscript(inner)

    def _matching_bracket(self, start: int) -> int:
        depth = 0
        quote = ""
        for index in range(start, len(self.text)):
            ch = self.text[index]
            if quote:
                if ch == quote:
                    quote = ""
            elif ch in "'\"":
                quote = ch
            elif ch == "[":
                depth += 1
            elif ch == "]":
                depth -= 1
                if depth == 0:
                    return index
        raise self.error("unterminated array")

    def parse_subscript(self, text: str) -> _Step:
        if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
            return _field_step(text[1:-1])
        match = _SLICE.fullmatch(text)
        if not match or not text:
            raise self.error(f"invalid array index {text!r}")
        start_s, end_s, step_s = match.groups()
        single = ":" not in text

        def number(part: str | None) -> int | None:
            return int(part) if part not in (None, "") else None

        return _slice_step(number(start_s), number(end_s), number(step_s), single)

    def parse_filter(self, text: str) -> _Step:
        if not (text.startswith("(") and text.endswith(")")):
            raise self.error(f"invalid filter {text!r}")
        body = text[1:-1].strip()
        for op in _FILTER_OPS:
            index = _find_operator(body, op)
            if index >= 0:
                left = _operand(body[:index].strip(), self)
                right = _operand(body[index + len(op):].strip(), self)
                return _filter_step(left, op, right)
        return _filter_step(_operand(body, self), None, None)


def _find_operator(text: str, op: str) -> int:
    quote = ""
    for index, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif text.startswith(op, index):
            # "<" must not be the start of "<=" (likewise ">").
            if op in ("<", ">") and text.startswith(op + "=", index):
                continue
            return index
    return -1


def _split_top_level(text: str, sep: str) -> list[str]:
    parts: list[str] = []
    quote = ""
    start = 0
    for index, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == sep:
            parts.append(text[start:index])
            start = index + 1
    parts.append(text[start:])
    return parts


def _operand(text: str, parent: _Parser) -> _Operand:
    if not text:
        raise parent.error("empty filter operand")
    if text[0] == "@":
        steps = tuple(_Parser(text).parse_path())

        def path(item: Any) -> list[Any]:
            values = [item]
            for step in steps:
                values = step(values)
            return values

        return path
    literal: Any
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        literal = text[1:-1]
    elif text in ("true", "false"):
        literal = text == "true"
    elif _NUMBER.fullmatch(text):
        literal = float(text) if any(c in text for c in ".eE") else int(text)
    else:
        raise parent.error(f"unrecognized filter operand {text!r}")
    return lambda item: [literal]


def compile_jsonpath(expression: str) -> JSONPath:
    """Compile a CRD column ``jsonPath`` (``.status.replicas``) — the text upstream wraps in
    ``{...}``. Surrounding braces are accepted too. Raises :class:`JSONPathError`."""
    text = expression.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1].strip()
    return JSONPath(expression, tuple(_Parser(text).parse_path()))
