"""IP address and CIDR checks matching upstream's legacy ("sloppy") parsing.

Kubernetes parses IPs with ``netutils.ParseIPSloppy``, which — unlike Python's
:mod:`ipaddress` — still accepts IPv4 octets with leading zeros (``010.0.0.1``) for backward
compatibility; the strict mode is an opt-in feature gate we do not enable.
"""

from __future__ import annotations

import ipaddress
import re

from kubesmith.api.errors import FieldError, invalid

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

IP_ERROR = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
_IPV4_SLOPPY = re.compile(r"(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})")


def parse_ip_sloppy(value: str) -> IPAddress | None:
    """Parse an IPv4 or IPv6 address the way ``ParseIPSloppy`` does, or return None."""
    match = _IPV4_SLOPPY.fullmatch(value)
    if match:
        octets = [int(part) for part in match.groups()]
        if all(octet <= 255 for octet in octets):
            return ipaddress.IPv4Address(".".join(str(octet) for octet in octets))
        return None
    if ":" not in value or "%" in value:
        return None
    try:
        return ipaddress.IPv6Address(value)
    except ValueError:
        return None


def parse_cidr_sloppy(value: str) -> IPNetwork | None:
    """Parse ``ip/prefix`` (host bits allowed, as upstream masks them), or return None."""
    address, sep, prefix = value.partition("/")
    if not sep or not prefix.isdigit() or (len(prefix) > 1 and prefix[0] == "0"):
        return None
    ip = parse_ip_sloppy(address)
    if ip is None:
        return None
    bits = int(prefix)
    if bits > ip.max_prefixlen:
        return None
    return ipaddress.ip_network(f"{ip}/{bits}", strict=False)


def is_ipv4(value: str) -> bool:
    """True for a parseable IPv4 address (IPv4-mapped IPv6 counts, as in Go)."""
    ip = parse_ip_sloppy(value)
    if isinstance(ip, ipaddress.IPv6Address):
        return ip.ipv4_mapped is not None
    return ip is not None


def is_ipv6(value: str) -> bool:
    """True for a parseable IPv6 address (IPv4-mapped ones count as IPv4 upstream)."""
    ip = parse_ip_sloppy(value)
    return isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is None


def validate_ip(path: str, value: str, valid_old: list[str] | None = None) -> list[FieldError]:
    """Upstream ``IsValidIPForLegacyField`` (non-strict)."""
    if valid_old and value in valid_old:
        return []
    if parse_ip_sloppy(value) is None:
        return [invalid(path, value, IP_ERROR)]
    return []


def validate_cidr(path: str, value: str, valid_old: list[str] | None = None) -> list[FieldError]:
    """Upstream ``IsValidCIDRForLegacyField`` (non-strict)."""
    if valid_old and value in valid_old:
        return []
    if parse_cidr_sloppy(value) is None:
        return [invalid(path, value,
                        "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)")]
    return []


def validate_ip_strict(path: str, value: str) -> list[FieldError]:
    """Upstream ``IsValidIP``: parseable, no leading zeros, canonical spelling."""
    ip = parse_ip_sloppy(value)
    if ip is None:
        return [invalid(path, value, IP_ERROR)]
    errs: list[FieldError] = []
    if isinstance(ip, ipaddress.IPv4Address) and str(ip) != value:
        errs.append(invalid(path, value, "must not have leading 0s"))
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        errs.append(invalid(path, value, "must not be an IPv4-mapped IPv6 address"))
    if errs:
        return errs
    if str(ip) != value:
        errs.append(invalid(path, value, f'must be in canonical form ("{ip}")'))
    return errs


def is_dual_stack(ips: list[str]) -> bool:
    """Exactly one IPv4 and one IPv6 among the (parseable) addresses."""
    families = {4 if is_ipv4(ip) else 6 for ip in ips if parse_ip_sloppy(ip) is not None}
    return families == {4, 6}
