"""timeutil.py: record times, the age and date forms of --since/--until, durations."""
from __future__ import annotations

import datetime as dt

import pytest

from gitruns import timeutil
from gitruns.errors import UsageError

UTC = dt.timezone.utc
REF = dt.datetime(2026, 3, 10, 12, 0, 0, tzinfo=UTC)


def test_iso_round_trip() -> None:
    moment = dt.datetime(2026, 1, 31, 14, 5, 6, 789_000, tzinfo=UTC)
    assert timeutil.iso(moment) == "2026-01-31T14:05:06.789Z"
    assert timeutil.parse_iso("2026-01-31T14:05:06.789Z") == moment
    plus_two = dt.timezone(dt.timedelta(hours=2))
    assert timeutil.iso(moment.astimezone(plus_two)) == "2026-01-31T14:05:06.789Z"
    assert timeutil.parse_iso("2026-01-31T14:05:06").tzinfo == UTC  # naive in a record is UTC


@pytest.mark.parametrize("text, ago", [
    ("30s", dt.timedelta(seconds=30)),
    ("30m", dt.timedelta(minutes=30)),
    ("2h", dt.timedelta(hours=2)),
    ("1.5h", dt.timedelta(minutes=90)),
    ("3d", dt.timedelta(days=3)),
    ("1w", dt.timedelta(weeks=1)),
    (" 2 h ", dt.timedelta(hours=2)),
])
def test_ages(text: str, ago: dt.timedelta) -> None:
    assert timeutil.parse_when(text, REF) == REF - ago


def test_dates_and_times() -> None:
    assert timeutil.parse_when("2026-01-31T14:00Z", REF) == dt.datetime(2026, 1, 31, 14, tzinfo=UTC)
    assert timeutil.parse_when("2026-01-31T14:00+02:00", REF) == dt.datetime(2026, 1, 31, 12, tzinfo=UTC)
    local = timeutil.parse_when("2026-01-31", REF)  # no zone: local time, as git reads it
    assert local.tzinfo is not None
    assert local == dt.datetime(2026, 1, 31).astimezone()


@pytest.mark.parametrize("text", ["", "soon", "2x", "-3d", "2026-13-01", "h2"])
def test_unreadable_times_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError) as caught:
        timeutil.parse_when(text, REF)
    message = str(caught.value)
    assert message.startswith(f"cannot read time '{text}'") and "\n" not in message


@pytest.mark.parametrize("seconds, shown", [
    (None, "-"), (0, "0.00s"), (3.14159, "3.14s"), (12.34, "12.3s"), (59.9, "59.9s"),
    (60, "1m00s"), (3599, "59m59s"), (3600, "1h00m"), (36_000 + 61, "10h01m"),
])
def test_human_duration(seconds: float | None, shown: str) -> None:
    assert timeutil.human_duration(seconds) == shown


def test_human_local(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        assert timeutil.human_local("2026-01-31T14:05:06.789Z") == "2026-01-31 14:05"
        monkeypatch.setenv("TZ", "Asia/Kolkata")
        time.tzset()
        assert timeutil.human_local("2026-01-31T14:05:06.789Z") == "2026-01-31 19:35"
    finally:
        monkeypatch.undo()
        time.tzset()
    assert timeutil.human_local(None) == "-" and timeutil.human_local("") == "-"
