"""The ``format`` values CRD schemas enforce, checked as kube-openapi's ``strfmt`` does.

Upstream strips every format a CRD schema may not use before validating
(``StripUnsupportedFormatsPostProcessorForVersion``): ``int32``/``int64`` on integers,
``float``/``double`` on numbers, and on strings (or untyped values) only the names listed in
:data:`SUPPORTED_STRING_FORMATS` (as of v1.37, which added ``k8s-short-name`` and
``k8s-long-name``). Names are compared with dashes removed, as go-openapi normalises them
(``date-time`` is ``datetime``). Anything else is ignored, never rejected.

:func:`validates` mirrors the registry's validator for each name. The checks follow the
Go functions they copy (``time.Parse("2006-01-02")`` for ``date``, the ``DateTimePattern``
regex for ``date-time``, ``net.ParseIP``, ``net.ParseMAC``, go-openapi's ``ParseDuration``
...); ``email`` and ``uri`` approximate Go's ``net/mail`` and ``net/url`` parsers.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
from collections.abc import Callable
from typing import Final

SUPPORTED_STRING_FORMATS: Final = frozenset({
    "bsonobjectid", "uri", "email", "hostname", "ipv4", "ipv6", "cidr", "mac", "uuid",
    "uuid3", "uuid4", "uuid5", "isbn", "isbn10", "isbn13", "creditcard", "ssn", "hexcolor",
    "rgbcolor", "byte", "password", "date", "duration", "datetime", "k8sshortname",
    "k8slongname",
})

INTEGER_FORMATS: Final = frozenset({"int32", "int64"})
NUMBER_FORMATS: Final = frozenset({"float", "double"})


def normalize(name: str) -> str:
    """go-openapi's name normaliser: dashes do not count (``date-time`` == ``datetime``)."""
    return name.replace("-", "")


def effective_format(schema_type: str, declared: str) -> str:
    """The format upstream validates for a schema node, ``""`` when it is stripped.

    ``schema_type`` is the node's single type, or ``""`` when it has none or several (an
    int-or-string node has two).
    """
    if not declared:
        return ""
    if schema_type in ("", "string"):
        return declared if normalize(declared) in SUPPORTED_STRING_FORMATS else ""
    if schema_type == "integer":
        return declared if declared in INTEGER_FORMATS else ""
    if schema_type == "number":
        return declared if declared in NUMBER_FORMATS else ""
    return ""


def is_known(name: str) -> bool:
    """Whether the registry has a validator for ``name`` (numeric formats have none)."""
    return normalize(name) in SUPPORTED_STRING_FORMATS


_UUID: Final = re.compile(
    r"(?i)[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}", re.ASCII)
_UUID3: Final = re.compile(
    r"(?i)[0-9a-f]{8}-?[0-9a-f]{4}-?3[0-9a-f]{3}-?[0-9a-f]{4}-?[0-9a-f]{12}", re.ASCII)
_UUID4: Final = re.compile(
    r"(?i)[0-9a-f]{8}-?[0-9a-f]{4}-?4[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}", re.ASCII)
_UUID5: Final = re.compile(
    r"(?i)[0-9a-f]{8}-?[0-9a-f]{4}-?5[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}", re.ASCII)
_BASE64: Final = re.compile(
    r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{4})", re.ASCII)
_DATE: Final = re.compile(r"(\d{4})-(\d{2})-(\d{2})", re.ASCII)
_TIME: Final = re.compile(
    r"([0-9]{2}):([0-9]{2}):([0-9]{2})(.[0-9]+)?(z|([+-][0-9]{2}:[0-9]{2}))", re.ASCII)
_HEXCOLOR: Final = re.compile(r"#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})", re.ASCII)
_OCTET: Final = r"(0|[1-9]\d?|1\d\d?|2[0-4]\d|25[0-5])"
_RGBCOLOR: Final = re.compile(
    rf"rgb\(\s*{_OCTET}\s*,\s*{_OCTET}\s*,\s*{_OCTET}\s*\)", re.ASCII)
_SSN: Final = re.compile(r"\d{3}[- ]?\d{2}[- ]?\d{4}", re.ASCII)
_ISBN10: Final = re.compile(r"(?:[0-9]{9}X|[0-9]{10})", re.ASCII)
_ISBN13: Final = re.compile(r"[0-9]{13}", re.ASCII)
_CREDIT_CARD: Final = re.compile(
    r"(?:4[0-9]{12}(?:[0-9]{3})?|5[1-5][0-9]{14}|6(?:011|5[0-9][0-9])[0-9]{12}|3[47][0-9]{13}"
    r"|3(?:0[0-5]|[68][0-9])[0-9]{11}|(?:2131|1800|35\d{3})\d{11})", re.ASCII)
_SHORT_NAME: Final = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", re.ASCII)
_LONG_NAME: Final = re.compile(
    r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*", re.ASCII)
_HOSTNAME: Final = re.compile(
    r"([a-zA-Z0-9]((-?[a-zA-Z0-9]{0,62})?)|([a-zA-Z0-9](([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)"
    r"(\.)){1,}([a-zA-Z]){2,63})", re.ASCII)
_MAC: Final = re.compile(
    r"(?:[0-9A-Fa-f]{2}(?:[:-][0-9A-Fa-f]{2}){5}|[0-9A-Fa-f]{2}(?:[:-][0-9A-Fa-f]{2}){7}"
    r"|[0-9A-Fa-f]{2}(?:[:-][0-9A-Fa-f]{2}){19}"
    r"|[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}"
    r"|[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}"
    r"|(?:[0-9A-Fa-f]{4}\.){9}[0-9A-Fa-f]{4})", re.ASCII)
_EMAIL: Final = re.compile(r"[^\s@<>()\[\],;:\"]+@[^\s@<>()\[\],;:\"]+", re.ASCII)
_DURATION_PART: Final = re.compile(r"((\d+)\s*([A-Za-zµ]+))", re.ASCII)
_GO_DURATION: Final = re.compile(
    r"[-+]?((\d+(\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h))+|[-+]?0", re.ASCII)
_DURATION_UNITS: Final = (
    ("ns", "nano"), ("us", "µs", "micro"), ("ms", "milli"), ("s", "sec"), ("m", "min"),
    ("h", "hr", "hour"), ("d", "day"), ("w", "wk", "week"),
)


def is_date(value: str) -> bool:
    """``time.Parse("2006-01-02", value)`` succeeds (real calendar days only)."""
    match = _DATE.fullmatch(value)
    if not match:
        return False
    try:
        datetime.date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return False
    return True


def is_date_time(value: str) -> bool:
    """strfmt's ``IsDateTime``: a valid date, ``t``, then ``hh:mm:ss[.frac](z|±hh:mm)``."""
    if len(value) < 4:
        return False
    parts = value.lower().split("t")
    if len(parts) < 2 or not is_date(parts[0]):
        return False
    match = _TIME.fullmatch(parts[1])
    if not match:
        return False
    return match[1] <= "23" and match[2] <= "59" and match[3] <= "59"


def is_duration(value: str) -> bool:
    """go-openapi's ``ParseDuration``: Go durations, or ``<n> <unit>`` pairs (``3 days``)."""
    if _GO_DURATION.fullmatch(value):
        return True
    for match in _DURATION_PART.finditer(value):
        unit = match[3].strip().lower()
        for variants in _DURATION_UNITS:
            last = len(variants) - 1
            for index, variant in enumerate(variants):
                if (index == last and unit.startswith(variant)) or variant == unit:
                    return True
    return False


def is_hostname(value: str) -> bool:
    """strfmt's ``IsHostname`` (ASCII subset of its pattern), 255 bytes, labels <= 63."""
    if not _HOSTNAME.fullmatch(value) or len(value) > 255:
        return False
    return all(len(part) <= 63 for part in value.split("."))


def _is_ip(value: str, version: int) -> bool:
    # net.ParseIP accepts IPv4-in-IPv6 forms; ipaddress needs the zone-free text.
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return ("." in value) if version == 4 else (":" in value)


def is_cidr(value: str) -> bool:
    """``net.ParseCIDR``: an address with a prefix length (host bits may be set)."""
    address, sep, prefix = value.partition("/")
    if not sep or not prefix.isdigit() or (len(prefix) > 1 and prefix[0] == "0"):
        return False
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return False
    return int(prefix) <= parsed.max_prefixlen


def is_isbn(value: str, version: int) -> bool:
    """govalidator's ``IsISBN`` with its checksum."""
    sanitized = re.sub(r"[\s-]+", "", value, flags=re.ASCII)
    if version == 10:
        if not _ISBN10.fullmatch(sanitized):
            return False
        checksum = sum((i + 1) * int(sanitized[i]) for i in range(9))
        checksum += 100 if sanitized[9] == "X" else 10 * int(sanitized[9])
        return checksum % 11 == 0
    if not _ISBN13.fullmatch(sanitized):
        return False
    checksum = sum((1, 3)[i % 2] * int(sanitized[i]) for i in range(12))
    return int(sanitized[12]) - (10 - checksum % 10) % 10 == 0


def is_credit_card(value: str) -> bool:
    """govalidator's ``IsCreditCard``: the issuer pattern over the digits, then Luhn."""
    sanitized = re.sub(r"[^0-9]+", "", value)
    if not _CREDIT_CARD.fullmatch(sanitized):
        return False
    total = 0
    double = False
    for char in reversed(sanitized):
        digit = int(char)
        if double:
            digit *= 2
            total += digit % 10 + 1 if digit >= 10 else digit
        else:
            total += digit
        double = not double
    return total % 10 == 0


def is_uri(value: str) -> bool:
    """Approximates ``url.ParseRequestURI``: an absolute URI or an absolute path."""
    if not value or any(c in value for c in " \t\n\r") or "#" in value:
        return False
    if value.startswith("/"):
        return True
    scheme, sep, _rest = value.partition(":")
    return bool(sep) and bool(re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", scheme))


_VALIDATORS: Final[dict[str, Callable[[str], bool]]] = {
    "bsonobjectid": lambda v: bool(re.fullmatch(r"[0-9a-fA-F]{24}", v)),
    "uri": is_uri,
    "email": lambda v: bool(_EMAIL.fullmatch(v.strip().strip("<>"))),
    "hostname": is_hostname,
    "ipv4": lambda v: _is_ip(v, 4),
    "ipv6": lambda v: _is_ip(v, 6),
    "cidr": is_cidr,
    "mac": lambda v: bool(_MAC.fullmatch(v)),
    "uuid": lambda v: bool(_UUID.fullmatch(v)),
    "uuid3": lambda v: bool(_UUID3.fullmatch(v)),
    "uuid4": lambda v: bool(_UUID4.fullmatch(v)),
    "uuid5": lambda v: bool(_UUID5.fullmatch(v)),
    "isbn": lambda v: is_isbn(v, 10) or is_isbn(v, 13),
    "isbn10": lambda v: is_isbn(v, 10),
    "isbn13": lambda v: is_isbn(v, 13),
    "creditcard": is_credit_card,
    "ssn": lambda v: len(v) == 11 and bool(_SSN.fullmatch(v)),
    "hexcolor": lambda v: bool(_HEXCOLOR.fullmatch(v)),
    "rgbcolor": lambda v: bool(_RGBCOLOR.fullmatch(v)),
    "byte": lambda v: bool(_BASE64.fullmatch(v)),
    "password": lambda v: True,
    "date": is_date,
    "duration": is_duration,
    "datetime": is_date_time,
    "k8sshortname": lambda v: len(v) <= 63 and bool(_SHORT_NAME.fullmatch(v)),
    "k8slongname": lambda v: len(v) <= 253 and bool(_LONG_NAME.fullmatch(v)),
}


def validates(name: str, value: str) -> bool:
    """Whether ``value`` is valid for the (known) format ``name``."""
    check = _VALIDATORS.get(normalize(name))
    return True if check is None else check(value)
