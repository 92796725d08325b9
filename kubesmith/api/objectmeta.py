"""ObjectMeta bookkeeping the server owns: uid, creationTimestamp, generateName, generation,
resourceVersion parsing, and the RFC 3339 timestamps Kubernetes writes."""

from __future__ import annotations

import os
import secrets
import time
from datetime import UTC, datetime
from typing import Any

from kubesmith.api import errors
from kubesmith.api.types import Obj

# Upstream's utilrand alphabet: no vowels (no words) and no confusable characters.
_GENERATE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_GENERATE_SUFFIX_LEN = 5
MAX_GENERATE_PREFIX = 63 - _GENERATE_SUFFIX_LEN


_last_second: list[Any] = [-1, ""]


def now_rfc3339() -> str:
    """``2026-01-02T03:04:05Z`` — metav1.Time's second-precision wire format (formatted
    once per second: every write asks for it, often twice)."""
    second = int(time.time())
    if second != _last_second[0]:
        _last_second[1] = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        _last_second[0] = second
    return str(_last_second[1])


def new_uid() -> str:
    """A random (version 4) UUID string, as ``str(uuid.uuid4())`` without the object."""
    h = os.urandom(16).hex()
    variant = "89ab"[int(h[16], 16) & 3]
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{variant}{h[17:20]}-{h[20:]}"


def now_rfc3339_micro() -> str:
    """``2026-01-02T03:04:05.123456Z`` — metav1.MicroTime (Leases, events.k8s.io)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def meta(obj: Obj) -> dict[str, Any]:
    """``obj.metadata``, created empty if missing or not an object."""
    m = obj.get("metadata")
    if not isinstance(m, dict):
        m = {}
        obj["metadata"] = m
    return m


def generate_name(prefix: str) -> str:
    """``prefix`` + 5 random characters, the prefix cut so the name fits in 63 chars."""
    suffix = "".join(secrets.choice(_GENERATE_ALPHABET) for _ in range(_GENERATE_SUFFIX_LEN))
    return prefix[:MAX_GENERATE_PREFIX] + suffix


def fill_create_metadata(obj: Obj, *, namespace: str | None) -> None:
    """Set the server-owned metadata of a new object (BeforeCreate in upstream)."""
    m = meta(obj)
    if not m.get("name") and m.get("generateName"):
        m["name"] = generate_name(str(m["generateName"]))
    if namespace is not None:
        m["namespace"] = namespace
    else:
        m.pop("namespace", None)
    m["uid"] = new_uid()
    m["creationTimestamp"] = now_rfc3339()
    for field in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds",
                  "selfLink"):
        m.pop(field, None)


def parse_resource_version(value: str | None, *, field: str = "resourceVersion") -> int:
    """'' → 0; otherwise a positive integer, or 400 as upstream (``invalid resource
    version``)."""
    if value is None or value == "":
        return 0
    if not value.isdigit() or (len(value) > 1 and value[0] == "0") or len(value) > 19:
        raise errors.bad_request(f'{field}: Invalid value: "{value}": '
                                 "resource version must be a non-negative integer")
    return int(value)
