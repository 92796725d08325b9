"""Label and field selectors, parsed, matched and reported exactly as kube-apiserver does.

Label selectors
    :func:`parse_label_selector` reads the query-string syntax (``a=b``, ``a==b``, ``a!=b``,
    ``a in (x,y)``, ``a notin (x)``, ``a``, ``!a``, ``a>1``, ``a<1``, comma = AND) with
    upstream's hand-written lexer and recursive-descent parser
    (``k8s.io/apimachinery/pkg/labels/selector.go``), so odd inputs such as ``x in (,a)``
    or ``a=`` mean what they mean upstream and bad ones fail with upstream's words
    (``unable to parse requirement: found '=', expected: ...``).
    :func:`label_selector_from_object` turns a structured ``metav1.LabelSelector``
    (``matchLabels`` + ``matchExpressions``) into the same matcher; a missing (``None``)
    selector is :data:`NOTHING` and an empty one is :data:`EVERYTHING`, which is the
    distinction workload controllers rely on. :func:`validate_label_selector` reports an
    object's mistakes as :class:`~kubesmith.api.errors.FieldError` for validation.

Field selectors
    :func:`parse_field_selector` splits on unescaped commas and takes ``=``, ``==`` or
    ``!=`` per term with upstream's escaping rules (``\\,`` ``\\=`` ``\\\\``).
    :func:`validate_field_selector` applies the per-kind field-label conversion (the
    ``AddFieldLabelConversionFunc`` tables of each API group) and fails with the exact
    message kube-apiserver gives (``field label not supported: spec.foo``), and
    :func:`field_set` computes an object's selectable fields (the strategies'
    ``ToSelectableFields``) so an index or a watch filter can match it.

Matching is the hot path of LIST and WATCH: every selector is compiled once into plain
closures over dict lookups, so :meth:`LabelSelector.matches` and
:meth:`FieldSelector.matches` do no parsing, no regular expressions and no allocation.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from kubesmith.api import gofmt
from kubesmith.api.errors import FieldError, bad_request, invalid, required

__all__ = [
    "EVERYTHING",
    "NOTHING",
    "CustomResourceFields",
    "FieldSelector",
    "FieldTerm",
    "LabelSelector",
    "Operator",
    "Requirement",
    "SelectorError",
    "field_set",
    "format_label_selector",
    "format_labels",
    "label_key_errors",
    "label_selector_from_object",
    "label_selector_from_set",
    "label_value_errors",
    "parse_field_selector",
    "parse_label_selector",
    "supported_field_labels",
    "validate_field_selector",
    "validate_label_selector",
]

Labels = Mapping[str, str]


class SelectorError(ValueError):
    """A selector that cannot be built; ``str(error)`` is upstream's message."""


# ---------------------------------------------------------------------------------------
# Label key and value syntax (k8s.io/apimachinery/pkg/api/validate/content)
# ---------------------------------------------------------------------------------------

_LABEL_KEY_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_KEY_ERR = ("must consist of alphanumeric characters, '-', '_' or '.', and must start "
                  "and end with an alphanumeric character")
_LABEL_VALUE_FMT = f"({_LABEL_KEY_FMT})?"
_LABEL_VALUE_ERR = ("a valid label must be an empty string or consist of alphanumeric "
                    "characters, '-', '_' or '.', and must start and end with an alphanumeric "
                    "character")
_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_FMT = _DNS1123_LABEL_FMT + "(\\." + _DNS1123_LABEL_FMT + ")*"
_DNS1123_SUBDOMAIN_ERR = ("a lowercase RFC 1123 subdomain must consist of lower case "
                          "alphanumeric characters, '-' or '.', and must start and end with an "
                          "alphanumeric character")
# Go's regexp.MatchString with ^...$ anchors; fullmatch is the Python spelling.
_LABEL_KEY_RE = re.compile(_LABEL_KEY_FMT)
_LABEL_VALUE_RE = re.compile(_LABEL_VALUE_FMT)
_DNS1123_SUBDOMAIN_RE = re.compile(_DNS1123_SUBDOMAIN_FMT)


def _regex_error(msg: str, fmt: str, *examples: str) -> str:
    # Upstream's RegexError, double space before "or" included.
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    text = msg + " (e.g. "
    for i, example in enumerate(examples):
        if i:
            text += " or "
        text += f"'{example}', "
    return text + f"regex used for validation is '{fmt}')"


def _max_len_error(length: int) -> str:
    return f"must be no more than {length} bytes"


def _subdomain_errors(value: str) -> list[str]:
    errs = []
    if len(value.encode()) > 253:
        errs.append(_max_len_error(253))
    if not _DNS1123_SUBDOMAIN_RE.fullmatch(value):
        errs.append(_regex_error(_DNS1123_SUBDOMAIN_ERR, _DNS1123_SUBDOMAIN_FMT, "example.com"))
    return errs


def label_key_errors(key: str) -> list[str]:
    """Why ``key`` is not a label key (upstream ``IsLabelKey``); empty when it is one."""
    errs: list[str] = []
    parts = key.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            errs.extend("prefix part " + msg for msg in _subdomain_errors(prefix))
    else:
        return [
            "a valid label key "
            + _regex_error(_LABEL_KEY_ERR, _LABEL_KEY_FMT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        errs.append("name part must be non-empty")
    elif len(name.encode()) > 63:
        errs.append("name part " + _max_len_error(63))
    if not _LABEL_KEY_RE.fullmatch(name):
        errs.append("name part " + _regex_error(_LABEL_KEY_ERR, _LABEL_KEY_FMT, "MyName",
                                                "my.name", "123-abc"))
    return errs


def label_value_errors(value: str) -> list[str]:
    """Why ``value`` is not a label value (upstream ``IsLabelValue``); empty when valid."""
    errs: list[str] = []
    if len(value.encode()) > 63:
        errs.append(_max_len_error(63))
    if not _LABEL_VALUE_RE.fullmatch(value):
        errs.append(_regex_error(_LABEL_VALUE_ERR, _LABEL_VALUE_FMT, "MyValue", "my_value",
                                 "12345"))
    return errs




def _go_string_slice(values: Sequence[str]) -> str:
    # %#v of a []string, as field.Invalid prints a slice value.
    return "[]string{" + ", ".join(gofmt.quote(v) for v in values) + "}"


def _aggregate(messages: list[str]) -> str:
    # utilerrors.NewAggregate(...).Error(): duplicates dropped, brackets only for several.
    unique = list(dict.fromkeys(messages))
    if len(unique) == 1:
        return unique[0]
    return "[" + ", ".join(unique) + "]"


# ---------------------------------------------------------------------------------------
# Label selectors
# ---------------------------------------------------------------------------------------


class Operator(StrEnum):
    """``selection.Operator``; the values are upstream's spellings."""

    IN = "in"
    NOT_IN = "notin"
    EQUALS = "="
    DOUBLE_EQUALS = "=="
    NOT_EQUALS = "!="
    EXISTS = "exists"
    DOES_NOT_EXIST = "!"
    GREATER_THAN = "gt"
    LESS_THAN = "lt"


_BINARY_OPERATORS = "in, notin, =, ==, !=, gt, lt"
_VALID_OPERATORS = ("in", "notin", "=", "==", "!=", "gt", "lt", "exists", "!")
_MATCHER = Callable[[Labels], bool]


def _parse_go_int64(text: str) -> int | None:
    # strconv.ParseInt(s, 10, 64): optional sign, ASCII digits only, int64 range. No
    # regex: Gt/Lt requirements call this for every object they test.
    digits = text[1:] if text[:1] in ("+", "-") else text
    if not digits or not digits.isascii() or not digits.isdigit():
        return None
    number = int(text)
    if -(2**63) <= number < 2**63:
        return number
    return None


@dataclass(frozen=True, slots=True)
class Requirement:
    """One ``key <op> values`` term; build it with :meth:`new` to get upstream's checks."""

    key: str
    operator: Operator
    values: tuple[str, ...] = ()
    _match: _MATCHER = field(init=False, repr=False, compare=False)

    @classmethod
    def new(cls, key: str, operator: Operator | str, values: Iterable[str] = (),
            path: str | None = None) -> Requirement:
        """Upstream's ``NewRequirement``: validates, raising :class:`SelectorError`.

        ``path`` prefixes field paths in messages the way ``field.WithPath`` does; ``None``
        reproduces the bare paths of the query-string parser (``values[0][key]``).
        """
        vals = tuple(values)
        errs: list[str] = []
        key_path = _child(path, "key")
        value_path = _child(path, "values")
        if key_msgs := label_key_errors(key):
            errs.append(f"{key_path}: Invalid value: {gofmt.quote(key)}: {'; '.join(key_msgs)}")
        try:
            op = Operator(operator)
        except ValueError:
            supported = ", ".join(f'"{o}"' for o in _VALID_OPERATORS)
            errs.append(f"{_child(path, 'operator')}: Unsupported value: "
                        f"{gofmt.quote(str(operator))}: supported values: {supported}")
            raise SelectorError(_aggregate(errs)) from None
        if op in (Operator.IN, Operator.NOT_IN):
            if not vals:
                errs.append(f"{value_path}: Invalid value: {_go_string_slice(vals)}: for 'in', "
                            "'notin' operators, values set can't be empty")
        elif op in (Operator.EQUALS, Operator.DOUBLE_EQUALS, Operator.NOT_EQUALS):
            if len(vals) != 1:
                errs.append(f"{value_path}: Invalid value: {_go_string_slice(vals)}: "
                            "exact-match compatibility requires one single value")
        elif op in (Operator.EXISTS, Operator.DOES_NOT_EXIST):
            if vals:
                errs.append(f"{value_path}: Invalid value: {_go_string_slice(vals)}: values "
                            "set must be empty for exists and does not exist")
        else:
            if len(vals) != 1:
                errs.append(f"{value_path}: Invalid value: {_go_string_slice(vals)}: for 'Gt', "
                            "'Lt' operators, exactly one value is required")
            for i, value in enumerate(vals):
                if _parse_go_int64(value) is None:
                    errs.append(f"{value_path}[{i}]: Invalid value: {gofmt.quote(value)}: for "
                                "'Gt', 'Lt' operators, the value must be an integer")
        for i, value in enumerate(vals):
            if value_msgs := label_value_errors(value):
                errs.append(f"{value_path}[{i}][{key}]: Invalid value: {gofmt.quote(value)}: "
                            + "; ".join(value_msgs))
        if errs:
            raise SelectorError(_aggregate(errs))
        return cls(key, op, vals)

    def __post_init__(self) -> None:
        # Frozen dataclass: normalise the operator and attach the compiled matcher once.
        object.__setattr__(self, "operator", Operator(self.operator))
        object.__setattr__(self, "_match",
                           _compile_requirement(self.key, self.operator, self.values))

    def matches(self, labels: Labels) -> bool:
        """Whether ``labels`` satisfy this requirement (upstream ``Requirement.Matches``)."""
        return self._match(labels)

    def __str__(self) -> str:
        op = self.operator
        if op is Operator.EXISTS:
            return self.key
        if op is Operator.DOES_NOT_EXIST:
            return "!" + self.key
        # Upstream prints several values sorted, without reordering the requirement itself.
        values = self.values[0] if len(self.values) == 1 else ",".join(sorted(self.values))
        if op is Operator.IN:
            return f"{self.key} in ({values})"
        if op is Operator.NOT_IN:
            return f"{self.key} notin ({values})"
        symbol = {Operator.EQUALS: "=", Operator.DOUBLE_EQUALS: "==", Operator.NOT_EQUALS: "!=",
                  Operator.GREATER_THAN: ">", Operator.LESS_THAN: "<"}[op]
        return f"{self.key}{symbol}{values}"


def _child(path: str | None, name: str) -> str:
    return f"{path}.{name}" if path else name


def _compile_requirement(key: str, op: Operator, values: tuple[str, ...]) -> _MATCHER:
    """A closure answering :meth:`Requirement.matches` with one or two dict operations."""
    positive = op in (Operator.EQUALS, Operator.DOUBLE_EQUALS, Operator.IN)
    if positive and len(values) == 1:
        wanted = values[0]
        # A missing key yields None, which never equals a string.
        return lambda labels: labels.get(key) == wanted
    if positive:
        allowed = frozenset(values)  # empty (only if built unvalidated): matches nothing
        return lambda labels: labels.get(key) in allowed
    negative = op in (Operator.NOT_EQUALS, Operator.NOT_IN)
    if negative and len(values) == 1:
        unwanted = values[0]
        return lambda labels: labels.get(key) != unwanted
    if negative:
        denied = frozenset(values)
        return lambda labels: labels.get(key) not in denied
    if op is Operator.EXISTS:
        return lambda labels: key in labels
    if op is Operator.DOES_NOT_EXIST:
        return lambda labels: key not in labels
    bound = _parse_go_int64(values[0]) if len(values) == 1 else None
    if bound is None:
        return lambda labels: False
    greater = op is Operator.GREATER_THAN

    def compare(labels: Labels) -> bool:
        raw = labels.get(key)
        if raw is None:
            return False
        number = _parse_go_int64(raw)
        if number is None:
            return False
        return number > bound if greater else number < bound

    return compare


def _always(labels: Labels) -> bool:
    return True


def _never(labels: Labels) -> bool:
    return False


class LabelSelector:
    """An AND of :class:`Requirement`; sorted by key like upstream's ``internalSelector``.

    Two special values exist: :data:`EVERYTHING` (no requirements, matches all) and
    :data:`NOTHING` (matches none — what a missing structured selector means).
    """

    __slots__ = ("_matches_nothing", "matches", "requirements")

    requirements: tuple[Requirement, ...]
    matches: Callable[[Labels], bool]

    def __init__(self, requirements: Iterable[Requirement] = (), *,
                 matches_nothing: bool = False) -> None:
        # sorted() is stable, which keeps upstream's order for repeated keys.
        self.requirements = tuple(sorted(requirements, key=lambda r: r.key))
        self._matches_nothing = matches_nothing
        self.matches = self._compile()

    def _compile(self) -> Callable[[Labels], bool]:
        if self._matches_nothing:
            return _never
        checks = tuple(r._match for r in self.requirements)
        if not checks:
            return _always
        if len(checks) == 1:
            return checks[0]
        if len(checks) == 2:
            first, second = checks
            return lambda labels: first(labels) and second(labels)

        # A plain loop: twice as fast as all() over a generator, and this is the hot path.
        def match_all(labels: Labels) -> bool:
            for check in checks:  # noqa: SIM110
                if not check(labels):
                    return False
            return True

        return match_all

    @property
    def empty(self) -> bool:
        """True when the selector does not restrict anything (upstream ``Empty()``)."""
        return not self._matches_nothing and not self.requirements

    @property
    def matches_nothing(self) -> bool:
        """True for :data:`NOTHING`, the selector of a missing structured selector."""
        return self._matches_nothing

    def required_equalities(self) -> dict[str, str]:
        """Keys the selector pins to one value (``=``, ``==``, single-value ``in``).

        An index over label values can narrow candidates with any of these before
        :meth:`matches` checks the rest.
        """
        pinned: dict[str, str] = {}
        for req in self.requirements:
            if req.operator in (Operator.EQUALS, Operator.DOUBLE_EQUALS, Operator.IN) \
                    and len(req.values) == 1:
                pinned.setdefault(req.key, req.values[0])
        return pinned

    def requires_exact_match(self, key: str) -> str | None:
        """Upstream ``RequiresExactMatch``: the value ``key`` must have, judged by the first
        requirement on that key only."""
        for req in self.requirements:
            if req.key == key:
                if req.operator in (Operator.EQUALS, Operator.DOUBLE_EQUALS, Operator.IN) \
                        and len(req.values) == 1:
                    return req.values[0]
                return None
        return None

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)

    def __repr__(self) -> str:
        if self._matches_nothing:
            return "LabelSelector(<nothing>)"
        return f"LabelSelector({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LabelSelector):
            return NotImplemented
        return (self._matches_nothing == other._matches_nothing
                and self.requirements == other.requirements)

    def __hash__(self) -> int:
        return hash((self._matches_nothing, self.requirements))


EVERYTHING: Final = LabelSelector()
NOTHING: Final = LabelSelector(matches_nothing=True)


# The lexer's tokens (labels.Token); the names follow upstream.
_ERROR, _EOS, _CLOSE, _COMMA, _NOT, _DEQ, _EQ, _GT, _ID, _IN, _LT, _NEQ, _NOTIN, _OPEN = \
    range(14)
_STRING_TO_TOKEN: Final = {")": _CLOSE, ",": _COMMA, "!": _NOT, "==": _DEQ, "=": _EQ,
                           ">": _GT, "in": _IN, "<": _LT, "!=": _NEQ, "notin": _NOTIN,
                           "(": _OPEN}
_SPECIAL = frozenset("=!(),><")
_WHITESPACE = frozenset(" \t\r\n")


def _lex(text: str) -> list[tuple[int, str]]:
    """Upstream's ``Lexer`` run to the end (the parser scans everything first)."""
    items: list[tuple[int, str]] = []
    pos, end = 0, len(text)
    while True:
        while pos < end and text[pos] in _WHITESPACE:
            pos += 1
        if pos >= end:
            items.append((_EOS, ""))
            return items
        if text[pos] in _SPECIAL:
            buffer = ""
            last: tuple[int, str] | None = None
            while pos < end and text[pos] in _SPECIAL:
                buffer += text[pos]
                token = _STRING_TO_TOKEN.get(buffer)
                if token is not None:
                    last = (token, buffer)
                elif last is not None:
                    break
                pos += 1
            items.append(last if last is not None
                         else (_ERROR, f"error expected: keyword found '{buffer}'"))
        else:
            start = pos
            while pos < end and text[pos] not in _SPECIAL and text[pos] not in _WHITESPACE:
                pos += 1
            word = text[start:pos]
            items.append((_STRING_TO_TOKEN.get(word, _ID), word))


class _LabelParser:
    """Upstream's recursive-descent ``Parser``, messages and quirks included."""

    def __init__(self, text: str) -> None:
        self.items = _lex(text)
        self.position = 0

    def lookahead(self, values: bool = True) -> tuple[int, str]:
        tok, lit = self.items[self.position]
        # In the "values" context the keywords in/notin are plain identifiers.
        if values and tok in (_IN, _NOTIN):
            tok = _ID
        return tok, lit

    def consume(self, values: bool = True) -> tuple[int, str]:
        item = self.lookahead(values)
        self.position += 1
        return item

    def parse(self) -> list[Requirement]:
        requirements: list[Requirement] = []
        while True:
            tok, lit = self.lookahead()
            if tok in (_ID, _NOT):
                try:
                    requirements.append(self.parse_requirement())
                except SelectorError as exc:
                    raise SelectorError(f"unable to parse requirement: {exc}") from None
                tok, lit = self.consume()
                if tok == _EOS:
                    return requirements
                if tok == _COMMA:
                    tok2, lit2 = self.lookahead()
                    if tok2 not in (_ID, _NOT):
                        raise SelectorError(f"found '{lit2}', expected: identifier after ','")
                else:
                    raise SelectorError(f"found '{lit}', expected: ',' or 'end of string'")
            elif tok == _EOS:
                return requirements
            else:
                raise SelectorError(f"found '{lit}', expected: !, identifier, or "
                                    "'end of string'")

    def parse_requirement(self) -> Requirement:
        key, operator = self.parse_key_and_infer_operator()
        if operator in (Operator.EXISTS, Operator.DOES_NOT_EXIST):
            return Requirement.new(key, operator)
        operator = self.parse_operator()
        if operator in (Operator.IN, Operator.NOT_IN):
            values = self.parse_values()
        else:
            values = self.parse_exact_value()
        return Requirement.new(key, operator, sorted(values))

    def parse_key_and_infer_operator(self) -> tuple[str, Operator | None]:
        operator: Operator | None = None
        tok, lit = self.consume()
        if tok == _NOT:
            operator = Operator.DOES_NOT_EXIST
            tok, lit = self.consume()
        if tok != _ID:
            raise SelectorError(f"found '{lit}', expected: identifier")
        if msgs := label_key_errors(lit):
            raise SelectorError(f"<nil>: Invalid value: {gofmt.quote(lit)}: {'; '.join(msgs)}")
        if self.lookahead()[0] in (_EOS, _COMMA) and operator is not Operator.DOES_NOT_EXIST:
            operator = Operator.EXISTS
        return lit, operator

    def parse_operator(self) -> Operator:
        tok, lit = self.consume(values=False)
        operator = {_IN: Operator.IN, _EQ: Operator.EQUALS, _DEQ: Operator.DOUBLE_EQUALS,
                    _GT: Operator.GREATER_THAN, _LT: Operator.LESS_THAN,
                    _NOTIN: Operator.NOT_IN, _NEQ: Operator.NOT_EQUALS}.get(tok)
        if operator is None:
            raise SelectorError(f"found '{lit}', expected: {_BINARY_OPERATORS}")
        return operator

    def parse_values(self) -> set[str]:
        tok, lit = self.consume()
        if tok != _OPEN:
            raise SelectorError(f"found '{lit}' expected: '('")
        tok, lit = self.lookahead()
        if tok in (_ID, _COMMA):
            values = self.parse_identifiers_list()
            if self.consume()[0] != _CLOSE:
                # Upstream reports the literal seen after '(' here, not the offending one.
                raise SelectorError(f"found '{lit}', expected: ')'")
            return values
        if tok == _CLOSE:
            self.consume()
            return {""}
        raise SelectorError(f"found '{lit}', expected: ',', ')' or identifier")

    def parse_identifiers_list(self) -> set[str]:
        values: set[str] = set()
        while True:
            tok, lit = self.consume()
            if tok == _ID:
                values.add(lit)
                tok2, lit2 = self.lookahead()
                if tok2 == _COMMA:
                    continue
                if tok2 == _CLOSE:
                    return values
                raise SelectorError(f"found '{lit2}', expected: ',' or ')'")
            if tok == _COMMA:
                # Empty entries ("(,a)", "(a,)", "(a,,b)") stand for the empty value.
                if not values:
                    values.add("")
                tok2, _ = self.lookahead()
                if tok2 == _CLOSE:
                    values.add("")
                    return values
                if tok2 == _COMMA:
                    values.add("")
                continue
            raise SelectorError(f"found '{lit}', expected: ',', or identifier")

    def parse_exact_value(self) -> set[str]:
        tok, _ = self.lookahead()
        if tok in (_EOS, _COMMA):
            return {""}
        tok, lit = self.consume()
        if tok == _ID:
            return {lit}
        raise SelectorError(f"found '{lit}', expected: identifier")


def parse_label_selector(text: str | None) -> LabelSelector:
    """Parse the ``labelSelector`` query parameter.

    Raises :class:`~kubesmith.api.errors.StatusError` 400 BadRequest carrying upstream's
    message when the text is not a valid selector. An empty string selects everything.
    """
    if not text:
        return EVERYTHING
    try:
        return LabelSelector(_LabelParser(text).parse())
    except SelectorError as exc:
        raise bad_request(str(exc)) from None


def label_selector_from_set(labels: Mapping[str, str] | None) -> LabelSelector:
    """A selector requiring every ``key=value`` of ``labels`` (upstream ``SelectorFromSet``).

    No validation, like upstream; ``None`` and ``{}`` both select everything (a Service's
    selector map is read this way).
    """
    if not labels:
        return EVERYTHING
    return LabelSelector(Requirement(k, Operator.EQUALS, (v,)) for k, v in labels.items())


_STRUCTURED_OPERATORS: Final = {"In": Operator.IN, "NotIn": Operator.NOT_IN,
                                "Exists": Operator.EXISTS,
                                "DoesNotExist": Operator.DOES_NOT_EXIST}


def label_selector_from_object(selector: Mapping[str, Any] | None) -> LabelSelector:
    """Upstream ``LabelSelectorAsSelector`` for a ``metav1.LabelSelector`` object.

    ``None`` gives :data:`NOTHING` (a missing selector matches no object) and a selector
    with neither ``matchLabels`` nor ``matchExpressions`` gives :data:`EVERYTHING`.
    Raises :class:`SelectorError` with upstream's message for an invalid selector.
    """
    if selector is None:
        return NOTHING
    match_labels: Mapping[str, Any] = selector.get("matchLabels") or {}
    expressions: Sequence[Mapping[str, Any]] = selector.get("matchExpressions") or []
    if not match_labels and not expressions:
        return EVERYTHING
    requirements = [Requirement.new(str(k), Operator.EQUALS, (str(v),))
                    for k, v in match_labels.items()]
    for expr in expressions:
        raw_op = expr.get("operator", "")
        operator = _STRUCTURED_OPERATORS.get(raw_op)
        if operator is None:
            raise SelectorError(f"{gofmt.quote(str(raw_op))} is not a valid label selector "
                                "operator")
        values = [str(v) for v in expr.get("values") or []]
        requirements.append(Requirement.new(str(expr.get("key", "")), operator, values))
    return LabelSelector(requirements)


def validate_label_selector(selector: Mapping[str, Any] | None, path: str = "spec.selector",
                            *, allow_invalid_label_value: bool = False,
                            allow_unknown_operator: bool = False) -> list[FieldError]:
    """Upstream ``ValidateLabelSelector``: field errors for a structured selector.

    ``In``/``NotIn`` need values, ``Exists``/``DoesNotExist`` must have none, keys must be
    label keys and (unless ``allow_invalid_label_value``) values label values.
    """
    errs: list[FieldError] = []
    if selector is None:
        return errs
    labels_path = f"{path}.matchLabels"
    for key, value in (selector.get("matchLabels") or {}).items():
        for msg in label_key_errors(str(key)):
            errs.append(invalid(labels_path, key, msg))
        for msg in label_value_errors(str(value)):
            errs.append(invalid(labels_path, value, msg))
    for i, expr in enumerate(selector.get("matchExpressions") or []):
        expr_path = f"{path}.matchExpressions[{i}]"
        operator = expr.get("operator", "")
        values = expr.get("values") or []
        if operator in ("In", "NotIn"):
            if not values:
                errs.append(required(f"{expr_path}.values",
                                     "must be specified when `operator` is 'In' or 'NotIn'"))
        elif operator in ("Exists", "DoesNotExist"):
            if values:
                errs.append(FieldError("FieldValueForbidden", f"{expr_path}.values",
                                       "may not be specified when `operator` is 'Exists' or "
                                       "'DoesNotExist'"))
        elif not allow_unknown_operator:
            errs.append(invalid(f"{expr_path}.operator", operator, "not a valid selector "
                                                                   "operator"))
        key = str(expr.get("key", ""))
        for msg in label_key_errors(key):
            errs.append(invalid(f"{expr_path}.key", key, msg))
        if not allow_invalid_label_value:
            for j, value in enumerate(values):
                for msg in label_value_errors(str(value)):
                    errs.append(invalid(f"{expr_path}.values[{j}]", value, msg))
    return errs


def format_labels(labels: Mapping[str, str] | None) -> str:
    """``k1=v1,k2=v2`` sorted by key, or ``<none>`` (upstream ``labels.FormatLabels``)."""
    if not labels:
        return "<none>"
    return ",".join(f"{k}={labels[k]}" for k in sorted(labels))


def format_label_selector(selector: Mapping[str, Any] | None) -> str:
    """Upstream ``metav1.FormatLabelSelector``: the selector string, ``<none>`` when it is
    empty or missing, ``<error>`` when it cannot be converted."""
    try:
        text = str(label_selector_from_object(selector))
    except SelectorError:
        return "<error>"
    return text or "<none>"


# ---------------------------------------------------------------------------------------
# Field selectors
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FieldTerm:
    """One ``field=value`` (``equals=True``) or ``field!=value`` term."""

    field: str
    value: str
    equals: bool = True

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")
        return f"{self.field}{'=' if self.equals else '!='}{escaped}"


class FieldSelector:
    """An AND of :class:`FieldTerm`, matched against a flat ``{label: value}`` mapping.

    A label the mapping lacks reads as ``""``, like upstream's ``fields.Set.Get``.
    """

    __slots__ = ("matches", "terms")

    terms: tuple[FieldTerm, ...]
    matches: Callable[[Mapping[str, str]], bool]

    def __init__(self, terms: Iterable[FieldTerm] = ()) -> None:
        self.terms = tuple(terms)
        self.matches = self._compile()

    def _compile(self) -> Callable[[Mapping[str, str]], bool]:
        checks = [_compile_term(t) for t in self.terms]
        if not checks:
            return lambda fields: True
        if len(checks) == 1:
            return checks[0]
        frozen = tuple(checks)

        def match_all(fields: Mapping[str, str]) -> bool:
            for check in frozen:  # noqa: SIM110 (a loop beats all() on this hot path)
                if not check(fields):
                    return False
            return True

        return match_all

    @property
    def empty(self) -> bool:
        """True when no term restricts anything."""
        return not self.terms

    def requires_exact_match(self, field_label: str) -> str | None:
        """The value an equality term pins ``field_label`` to (first such term), or None."""
        for term in self.terms:
            if term.field == field_label and term.equals:
                return term.value
        return None

    def required_equalities(self) -> dict[str, str]:
        """Every ``field=value`` term, for narrowing candidates through an index."""
        pinned: dict[str, str] = {}
        for term in self.terms:
            if term.equals:
                pinned.setdefault(term.field, term.value)
        return pinned

    def transform(self, fn: Callable[[str, str], tuple[str, str]]) -> FieldSelector:
        """Rewrite every term through ``fn(field, value)`` (upstream ``Transform``); terms
        mapped to an empty field and value disappear."""
        out = []
        for term in self.terms:
            new_field, new_value = fn(term.field, term.value)
            if new_field or new_value:
                out.append(FieldTerm(new_field, new_value, term.equals))
        return FieldSelector(out)

    def __str__(self) -> str:
        return ",".join(str(t) for t in self.terms)

    def __repr__(self) -> str:
        return f"FieldSelector({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FieldSelector):
            return NotImplemented
        return self.terms == other.terms

    def __hash__(self) -> int:
        return hash(self.terms)


def _compile_term(term: FieldTerm) -> Callable[[Mapping[str, str]], bool]:
    name, value = term.field, term.value
    if term.equals:
        return lambda fields: fields.get(name, "") == value
    return lambda fields: fields.get(name, "") != value


def _split_terms(text: str) -> list[str]:
    terms: list[str] = []
    start = 0
    in_slash = False
    for i, ch in enumerate(text):
        if in_slash:
            in_slash = False
        elif ch == "\\":
            in_slash = True
        elif ch == ",":
            terms.append(text[start:i])
            start = i + 1
    terms.append(text[start:])
    return terms


def _split_term(term: str) -> tuple[str, str, str] | None:
    for i in range(len(term)):
        for op in ("!=", "==", "="):
            if term.startswith(op, i):
                return term[:i], op, term[i + len(op):]
    return None


def _unescape_value(text: str) -> str:
    if "\\" not in text and "," not in text and "=" not in text:
        return text
    out: list[str] = []
    in_slash = False
    for ch in text:
        if in_slash:
            if ch not in "\\,=":
                raise SelectorError("invalid field selector: invalid escape sequence: \\" + ch)
            out.append(ch)
            in_slash = False
        elif ch == "\\":
            in_slash = True
        elif ch in ",=":
            # Upstream formats the rune with %v, i.e. as its code point.
            raise SelectorError(f"invalid field selector: unescaped character in value: "
                                f"{ord(ch)}")
        else:
            out.append(ch)
    if in_slash:
        raise SelectorError("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


def parse_field_selector(text: str | None) -> FieldSelector:
    """Parse the ``fieldSelector`` query parameter (upstream ``fields.ParseSelector``).

    Terms are sorted as upstream sorts them; whitespace is significant. Raises
    :class:`~kubesmith.api.errors.StatusError` 400 BadRequest with upstream's message.
    """
    if not text:
        return FieldSelector()
    terms: list[FieldTerm] = []
    for part in sorted(_split_terms(text)):
        if not part:
            continue
        split = _split_term(part)
        if split is None:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{part}'")
        lhs, op, rhs = split
        try:
            value = _unescape_value(rhs)
        except SelectorError as exc:
            raise bad_request(str(exc)) from None
        terms.append(FieldTerm(lhs, value, op != "!="))
    return FieldSelector(terms)


# -- per-kind field labels ---------------------------------------------------------------

_Extractor = Callable[[Mapping[str, Any]], dict[str, str]]


def _not_supported(label: str) -> str:
    return f"field label not supported: {label}"


def _not_known(label: str) -> str:
    # runtime.DefaultMetaV1FieldSelectorConversion, used by kinds without their own.
    return (f"{gofmt.quote(label)} is not a known field selector: only "
            '"metadata.name", "metadata.namespace"')


@dataclass(frozen=True, slots=True)
class _FieldKind:
    """A kind's field labels: how to read them off an object and which labels a client may
    write (mapped to the label :func:`field_set` uses), with the kind's refusal message."""

    extract: _Extractor
    accepted: Mapping[str, str]
    refuse: Callable[[str], str] = _not_supported


def _same(*labels: str) -> dict[str, str]:
    return {label: label for label in labels}


def _meta(obj: Mapping[str, Any]) -> dict[str, str]:
    meta = obj.get("metadata") or {}
    return {"metadata.name": meta.get("name") or "",
            "metadata.namespace": meta.get("namespace") or ""}


def _str(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _pod_fields(obj: Mapping[str, Any]) -> dict[str, str]:
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    pod_ips = status.get("podIPs") or []
    # Upstream reads the primary IP from podIPs; status.podIPs itself is accepted by the
    # label conversion but has no value in the set, so it only ever matches "".
    pod_ip = (pod_ips[0] or {}).get("ip", "") if pod_ips else ""
    out = _meta(obj)
    out.update({
        "spec.nodeName": _str(spec.get("nodeName")),
        "spec.restartPolicy": _str(spec.get("restartPolicy")),
        "spec.schedulerName": _str(spec.get("schedulerName")),
        "spec.serviceAccountName": _str(spec.get("serviceAccountName")),
        "spec.hostNetwork": "true" if spec.get("hostNetwork") else "false",
        "status.phase": _str(status.get("phase")),
        "status.podIP": _str(pod_ip),
        "status.nominatedNodeName": _str(status.get("nominatedNodeName")),
    })
    return out


def _event_fields(obj: Mapping[str, Any], involved: Mapping[str, Any], reporting: Any,
                  source: Any) -> dict[str, str]:
    out = _meta(obj)
    for name in _INVOLVED_FIELDS:
        out[f"involvedObject.{name}"] = _str(involved.get(name))
    out["reason"] = _str(obj.get("reason"))
    out["reportingComponent"] = _str(reporting)
    out["source"] = _str(source)
    out["type"] = _str(obj.get("type"))
    return out


def _core_event_fields(obj: Mapping[str, Any]) -> dict[str, str]:
    reporting = obj.get("reportingComponent")
    source = (obj.get("source") or {}).get("component") or reporting
    return _event_fields(obj, obj.get("involvedObject") or {}, reporting, source)


def _events_v1_fields(obj: Mapping[str, Any]) -> dict[str, str]:
    # events.k8s.io Events are the same internal object: regarding is involvedObject,
    # reportingController is reportingComponent, deprecatedSource is source.
    reporting = obj.get("reportingController")
    source = (obj.get("deprecatedSource") or {}).get("component") or reporting
    return _event_fields(obj, obj.get("regarding") or {}, reporting, source)


def _namespace_fields(obj: Mapping[str, Any]) -> dict[str, str]:
    out = _meta(obj)
    out["status.phase"] = _str((obj.get("status") or {}).get("phase"))
    out["name"] = out["metadata.name"]  # a legacy label upstream still puts in the set
    return out


def _replicas_fields(obj: Mapping[str, Any]) -> dict[str, str]:
    out = _meta(obj)
    out["status.replicas"] = str(int((obj.get("status") or {}).get("replicas") or 0))
    return out


def _job_fields(obj: Mapping[str, Any]) -> dict[str, str]:
    out = _meta(obj)
    out["status.successful"] = str(int((obj.get("status") or {}).get("succeeded") or 0))
    return out


def _secret_fields(obj: Mapping[str, Any]) -> dict[str, str]:
    out = _meta(obj)
    out["type"] = _str(obj.get("type"))
    return out


def _service_fields(obj: Mapping[str, Any]) -> dict[str, str]:
    spec = obj.get("spec") or {}
    out = _meta(obj)
    out["spec.clusterIP"] = _str(spec.get("clusterIP"))
    out["spec.type"] = _str(spec.get("type"))
    return out


def _node_fields(obj: Mapping[str, Any]) -> dict[str, str]:
    out = _meta(obj)
    unschedulable = (obj.get("spec") or {}).get("unschedulable")
    out["spec.unschedulable"] = "true" if unschedulable else "false"
    return out


def _signer_fields(obj: Mapping[str, Any]) -> dict[str, str]:
    out = _meta(obj)
    out["spec.signerName"] = _str((obj.get("spec") or {}).get("signerName"))
    return out


def _resource_slice_fields(obj: Mapping[str, Any]) -> dict[str, str]:
    spec = obj.get("spec") or {}
    out = _meta(obj)
    out["spec.nodeName"] = _str(spec.get("nodeName"))
    out["spec.driver"] = _str(spec.get("driver"))
    return out


def _volume_fields(obj: Mapping[str, Any]) -> dict[str, str]:
    out = _meta(obj)
    out["name"] = out["metadata.name"]  # the legacy label of PVs and PVCs
    return out


_META_LABELS = ("metadata.name", "metadata.namespace")
_INVOLVED_FIELDS = ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion",
                    "fieldPath")
_DEFAULT_ACCEPTED: Final = _same(*_META_LABELS)

_FIELD_KINDS: Final[dict[tuple[str, str], _FieldKind]] = {
    ("", "Pod"): _FieldKind(_pod_fields, {
        **_same(*_META_LABELS, "spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
                "spec.serviceAccountName", "spec.hostNetwork", "status.phase",
                "status.podIP", "status.podIPs", "status.nominatedNodeName"),
        "spec.host": "spec.nodeName",  # what old v1 clients send
    }),
    ("", "Node"): _FieldKind(_node_fields, _same("metadata.name", "spec.unschedulable")),
    ("", "ReplicationController"): _FieldKind(_replicas_fields,
                                              _same(*_META_LABELS, "status.replicas")),
    ("", "Event"): _FieldKind(_core_event_fields, _same(
        *(f"involvedObject.{n}" for n in _INVOLVED_FIELDS), "reason", "reportingComponent",
        "source", "type", *_META_LABELS)),
    ("", "Namespace"): _FieldKind(_namespace_fields, _same("status.phase", "metadata.name")),
    ("", "Secret"): _FieldKind(_secret_fields, _same("type", *_META_LABELS)),
    ("", "Service"): _FieldKind(_service_fields,
                                _same(*_META_LABELS, "spec.clusterIP", "spec.type")),
    ("", "PersistentVolume"): _FieldKind(_volume_fields, _DEFAULT_ACCEPTED, _not_known),
    ("", "PersistentVolumeClaim"): _FieldKind(_volume_fields, _DEFAULT_ACCEPTED, _not_known),
    # apps/v1 registers no conversion: status.replicas is in the set yet not selectable.
    ("apps", "ReplicaSet"): _FieldKind(_replicas_fields, _DEFAULT_ACCEPTED, _not_known),
    ("batch", "Job"): _FieldKind(_job_fields, _same(*_META_LABELS, "status.successful"),
                                 lambda label: f"field label {gofmt.quote(label)} not "
                                               "supported for Job"),
    ("events.k8s.io", "Event"): _FieldKind(_events_v1_fields, {
        **_same("reason", "type", *_META_LABELS),
        "reportingController": "reportingComponent",
        **{f"regarding.{n}": f"involvedObject.{n}" for n in _INVOLVED_FIELDS},
    }),
    ("certificates.k8s.io", "CertificateSigningRequest"): _FieldKind(
        _signer_fields, _same("metadata.name", "spec.signerName")),
    ("certificates.k8s.io", "ClusterTrustBundle"): _FieldKind(
        _signer_fields, _same("metadata.name", "spec.signerName")),
}
_DEFAULT_FIELD_KIND: Final = _FieldKind(_meta, _DEFAULT_ACCEPTED, _not_known)


@dataclass(frozen=True, slots=True)
class CustomResourceFields:
    """What a CustomResourceDefinition version contributes to field selection.

    ``selectable_fields`` are the ``spec.versions[].selectableFields[].jsonPath`` values
    (``.spec.color``); the label a client writes is the path without its leading dot.
    """

    cluster_scoped: bool = False
    selectable_fields: tuple[str, ...] = ()

    def field_kind(self) -> _FieldKind:
        """The custom-resource rules of upstream's ``crConverter.ConvertFieldLabel``."""
        accepted = _same("metadata.name")
        if not self.cluster_scoped:
            accepted["metadata.namespace"] = "metadata.namespace"
        accepted.update(_same(*(_selectable_label(p) for p in self.selectable_fields)))
        return _FieldKind(_meta, accepted)


def _selectable_label(path: str) -> str:
    return path[1:] if path.startswith(".") else path


def _kind_for(group: str, kind: str, version: str) -> _FieldKind:
    if group == "resource.k8s.io" and kind == "ResourceSlice":
        gvk = f"resource.k8s.io/{version}, Kind=ResourceSlice"
        return _FieldKind(_resource_slice_fields,
                          _same("metadata.name", "spec.nodeName", "spec.driver"),
                          lambda label: f"field label not supported for {gvk}: {label}")
    return _FIELD_KINDS.get((group, kind), _DEFAULT_FIELD_KIND)


def supported_field_labels(group: str, kind: str) -> frozenset[str]:
    """Labels a ``fieldSelector`` may name for a built-in kind, as a client writes them."""
    return frozenset(_kind_for(group, kind, "v1").accepted)


def validate_field_selector(group: str, kind: str, selector: FieldSelector, *,
                            version: str = "v1",
                            custom: CustomResourceFields | None = None) -> FieldSelector:
    """Check every label against the kind's field-label conversion and return the selector
    rewritten to the labels :func:`field_set` produces (``spec.host`` becomes
    ``spec.nodeName``, ``regarding.name`` becomes ``involvedObject.name``).

    Raises :class:`~kubesmith.api.errors.StatusError` 400 BadRequest with upstream's
    message (``field label not supported: spec.foo``) for the first unsupported label.
    ``custom`` switches to custom-resource rules (name, namespace unless cluster-scoped,
    and the CRD's selectable fields).
    """
    spec = custom.field_kind() if custom is not None else _kind_for(group, kind, version)

    def rewrite(label: str, value: str) -> tuple[str, str]:
        new_label = spec.accepted.get(label)
        if new_label is None:
            raise bad_request(spec.refuse(label))
        return new_label, value

    return selector.transform(rewrite)


def field_set(group: str, kind: str, obj: Mapping[str, Any], *,
              selectable_fields: Sequence[str] = ()) -> dict[str, str]:
    """The selectable fields of ``obj`` (upstream strategies' ``ToSelectableFields``).

    Every kind has ``metadata.name`` and ``metadata.namespace`` (empty for cluster-scoped
    objects, which is what upstream's missing key reads as). Labels are the ones
    :func:`validate_field_selector` rewrites to, so events.k8s.io objects answer to
    ``involvedObject.*``. For custom resources pass the CRD's ``selectable_fields``
    JSONPaths (``.spec.color``); their values print like Go's ``fmt.Sprint``.
    """
    out = _kind_for(group, kind, "v1").extract(obj)
    for path in selectable_fields:
        out[_selectable_label(path)] = _selectable_value(obj, path)
    return out


def _selectable_value(obj: Mapping[str, Any], path: str) -> str:
    current: Any = obj
    for part in path.lstrip(".").split("."):
        if not isinstance(current, Mapping) or part not in current:
            return ""
        current = current[part]
    if current is None:
        return ""
    if isinstance(current, bool):
        return "true" if current else "false"
    # Imported here because the tables package imports this module at load time.
    from kubesmith.api.tables._values import go_sprint

    return go_sprint(current)

