"""Times in records: UTC, ISO 8601, second precision with milliseconds."""
from __future__ import annotations

import datetime as dt
import os
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
    """Parse a time as ``git log --since`` does, plus ``2h``/``3d``/``1w`` (ago).

    Ages like ``30m``, ``2h``, ``3d``, ``1w`` and ISO dates/times (local if no zone;
    a bare date is midnight) are read here; everything else (``yesterday``,
    ``2.weeks.ago``, ``noon yesterday``, ``last monday``, RFC 2822 dates) is handed
    to git's own approxidate, in its careful mode that rejects what it cannot read
    (plain ``--since`` silently takes garbage as "now")."""
    ref = reference or now()
    stripped = text.strip()
    match = _RELATIVE.match(stripped)
    if match:
        return ref - dt.timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])
    try:
        value = dt.datetime.fromisoformat(stripped.replace("Z", "+00:00"))
    except ValueError:
        if _LOOKS_OURS.match(stripped):
            # A mistyped age (2x, -3d) or an impossible date (2026-02-30): git would
            # take it as some other day without a word; say so instead.
            raise _unreadable(text) from None
        return _approxidate(text, ref)
    if value.tzinfo is None:
        value = value.astimezone()  # naive means local time, as git does
    return value


# What git's parse_expiry_date answers for "now" and "all" (TIME_MAX).
_GIT_TIME_MAX = 2**64 - 1


# Text shaped like an age or an ISO date that did not parse as one is a typo, never
# left to git's approxidate (which reads "2x" as the 2nd of the month).
_LOOKS_OURS = re.compile(
    r"^([-+]?\d+(\.\d+)?\s*[a-zA-Z]|[a-zA-Z]\s*[-+]?\d+|[-+]\d+(\.\d+)?|\d{4}-\d{1,2}-\d{1,2}([T ].*)?)$")


def _unreadable(text: str) -> UsageError:
    return UsageError(
        f"cannot read time '{text}': use a date like 2026-01-31, a time like 2026-01-31T14:00, "
        "an age like 30m, 2h, 3d, 1w, or what 'git log --since' takes (yesterday, 2.weeks.ago)"
    )


def _approxidate(text: str, ref: dt.datetime) -> dt.datetime:
    """``text`` read by git itself.  ``git config --type=expiry-date`` runs git's
    approxidate_careful and fails on text it cannot read, unlike ``rev-parse --since``."""
    import subprocess

    stripped = text.strip()
    if stripped.lower() in ("now", "all"):  # git's special case: "expire everything"
        return ref
    error = _unreadable(text)
    if not stripped or "\n" in text or "\0" in text:
        raise error
    # Only the text matters: no repository, no user or system config, no `git -c`.
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull)
    try:
        proc = subprocess.run(
            ["git", "-c", f"gitruns.when={stripped}", "config", "--type=expiry-date", "gitruns.when"],
            capture_output=True, text=True, env=env, check=False, cwd=os.path.abspath(os.sep),
        )
    except OSError:
        raise error from None
    try:
        seconds = int(proc.stdout.strip()) if proc.returncode == 0 else None
    except ValueError:
        seconds = None
    if seconds is None:
        raise error
    if seconds >= _GIT_TIME_MAX:
        return ref
    return dt.datetime.fromtimestamp(seconds, UTC)


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
