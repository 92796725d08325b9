"""Go's text forms of times and durations, as the Kubernetes JSON encoder writes them.

``metav1.Time`` marshals as ``t.UTC().Format(time.RFC3339)`` (``2026-01-02T03:04:05Z``, or
``null`` for the zero time), ``metav1.MicroTime`` with six fractional digits, and
``metav1.Duration`` as ``time.Duration.String()`` (``1h2m3.5s``, ``150ms``, ``0s``). The
conversions here work on integer seconds so they cover Go's whole range, not just the
years ``datetime`` can hold.
"""

from __future__ import annotations

from typing import Final

__all__ = ["ZERO_TIME_UNIX", "format_duration", "format_rfc3339", "normalize_unix"]

#: ``time.Time{}`` (January 1, year 1, UTC) as Unix seconds: Go's zero time.
ZERO_TIME_UNIX: Final = -62135596800
_NANO: Final = 1_000_000_000


def normalize_unix(seconds: int, nanos: int) -> tuple[int, int]:
    """``time.Unix(seconds, nanos)``: carry nanoseconds outside ``[0, 1e9)`` into seconds."""
    return seconds + nanos // _NANO, nanos % _NANO


def _civil_from_days(days: int) -> tuple[int, int, int]:
    """(year, month, day) of the proleptic Gregorian date ``days`` after 1970-01-01."""
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (month <= 2), month, day


def format_rfc3339(seconds: int, nanos: int = 0, *, micro: bool = False) -> str:
    """Go's ``Format(time.RFC3339)`` (or ``RFC3339Micro`` when ``micro``) of a UTC instant."""
    days, secs = divmod(seconds, 86400)
    year, month, day = _civil_from_days(days)
    # Go's appendInt(year, 4): at least four digits, the sign before the padding.
    year_text = f"-{-year:04d}" if year < 0 else f"{year:04d}"
    text = f"{year_text}-{month:02d}-{day:02d}T{secs // 3600:02d}:{secs // 60 % 60:02d}:" \
           f"{secs % 60:02d}"
    if micro:
        text += f".{nanos // 1000:06d}"
    return text + "Z"


def _fraction(value: int, precision: int) -> tuple[str, int]:
    """Go's ``fmtFrac``: the fraction's digits without trailing zeros, and the quotient."""
    whole, frac = divmod(value, 10**precision)
    digits = f"{frac:0{precision}d}".rstrip("0")
    return ("." + digits if digits else ""), whole


def format_duration(nanoseconds: int) -> str:
    """``time.Duration(nanoseconds).String()``."""
    if nanoseconds == 0:
        return "0s"
    sign = "-" if nanoseconds < 0 else ""
    u = abs(nanoseconds)
    if u < _NANO:
        if u < 1_000:
            return f"{sign}{u}ns"
        if u < 1_000_000:
            frac, whole = _fraction(u, 3)
            return f"{sign}{whole}{frac}\u00b5s"
        frac, whole = _fraction(u, 6)
        return f"{sign}{whole}{frac}ms"
    frac, secs = _fraction(u, 9)
    text = f"{secs % 60}{frac}s"
    minutes = secs // 60
    if minutes:
        text = f"{minutes % 60}m{text}"
        hours = minutes // 60
        if hours:
            text = f"{hours}h{text}"
    return sign + text
