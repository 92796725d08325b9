"""Wall-clock times as the API writes them. Hollow nodes keep times as epoch seconds
(floats) and format them only when rendering objects, so a rendering is a pure function of
its inputs and two renderings of the same state compare equal."""

from __future__ import annotations

from datetime import UTC, datetime


def api_time(epoch: float) -> str:
    """``metav1.Time``: seconds precision, UTC."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def api_micro_time(epoch: float) -> str:
    """``metav1.MicroTime`` (a Lease's ``renewTime``): microseconds, UTC."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_api_time(value: object) -> float | None:
    """Epoch seconds of an RFC 3339 timestamp; None when absent or unparseable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()
