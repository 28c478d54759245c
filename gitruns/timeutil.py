"""Times in records: UTC, ISO 8601, second precision with milliseconds."""
from __future__ import annotations

import datetime as dt
import re

from .errors import UsageError

UTC = dt.timezone.utc
_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def now() -> dt.datetime:
    return dt.datetime.now(UTC)


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


def parse_when(text: str, reference: dt.datetime | None = None) -> dt.datetime:
    """Parse ``2h``/``3d``/``1w`` (ago) or an ISO date/time (local if no zone)."""
    ref = reference or now()
    match = _RELATIVE.match(text.strip())
    if match:
        return ref - dt.timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])
    try:
        value = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"cannot read time '{text}': use a date like 2026-01-31, "
            "a time like 2026-01-31T14:00, or an age like 30m, 2h, 3d, 1w"
        ) from None
    if value.tzinfo is None:
        value = value.astimezone()  # naive means local time, as git does
    return value


def human_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.2f}s"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, sec = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{sec:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def human_local(text: str | None) -> str:
    if not text:
        return "-"
    return parse_iso(text).astimezone().strftime("%Y-%m-%d %H:%M")
