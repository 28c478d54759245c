"""``git run ls --slow``: runs that took far longer than the usual runs of their kind.

A run's kind is its name; for an unnamed pipeline run, its pipeline file; for any
other unnamed run, its command.  The usual range is judged robustly, from the
median and the median absolute deviation (MAD) of the durations of the earlier
succeeded runs of that kind (the last :data:`WINDOW` of them, at least
:data:`MIN_HISTORY`): a run is slow when its duration is above
``median + 3 * 1.4826 * MAD`` (1.4826 scales the MAD to a standard deviation for
normal data), or, when the MAD is 0 (every earlier run took the same time),
above ``1.5 * median``.  A running run is judged on its time so far, so a job that
drifts shows before it misses a deadline.  Only (kind, start, duration) rows are
read from the run index, never records.  docs/queries.md.
"""
from __future__ import annotations

import bisect
import datetime as dt
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import sqlite3

MIN_HISTORY = 5
WINDOW = 100
SIGMAS = 3.0
MAD_SCALE = 1.4826
FLAT_RATIO = 1.5
TABLE = "temp.gitruns_slow"


@dataclass(frozen=True)
class Slow:
    """How far a slow run is from the usual: the median and MAD of its kind, and its
    duration over the median."""

    median_s: float
    mad_s: float
    ratio: float

    def to_dict(self) -> dict[str, Any]:
        return {"median_s": round(self.median_s, 6), "mad_s": round(self.mad_s, 6), "ratio": round(self.ratio, 3)}

    def label(self) -> str:
        return f"{self.ratio:.1f}x median"


def _median(values: list[float]) -> float:
    """The median of sorted ``values``."""
    n = len(values)
    mid = n // 2
    return values[mid] if n % 2 else (values[mid - 1] + values[mid]) / 2


def judge(history: list[float], duration: float) -> Slow | None:
    """Whether ``duration`` is slow against ``history`` (sorted durations of earlier
    succeeded runs of the same kind); None when it is not, or too few to tell."""
    if len(history) < MIN_HISTORY:
        return None
    median = _median(history)
    if duration <= median:
        return None  # the common case, without the MAD
    mid = len(history) // 2
    # The deviations as two ascending runs (below and above the median), which sort
    # merges in one pass.
    mad = _median(sorted([median - x for x in history[mid - 1::-1]] + [x - median for x in history[mid:]]))
    limit = median + SIGMAS * MAD_SCALE * mad if mad > 0 else FLAT_RATIO * median
    if duration <= limit or median <= 0 and duration <= 0:
        return None
    ratio = duration / median if median > 0 else float("inf")
    return Slow(median, mad, ratio)


def find(rows: Iterable[tuple[str, str, float | None, bool]]) -> dict[str, Slow]:
    """The slow runs of ``rows``: (kind, run id, duration, succeeded), ordered by kind
    and then by start time (each run is judged against the ones before it)."""
    out: dict[str, Slow] = {}
    kind: str | None = None
    window: deque[float] = deque()
    ordered: list[float] = []
    for key, run_id, duration, succeeded in rows:
        if key != kind:
            kind, window, ordered = key, deque(), []
        if duration is None:
            continue
        verdict = judge(ordered, duration)
        if verdict is not None:
            out[run_id] = verdict
        if succeeded:
            window.append(duration)
            bisect.insort(ordered, duration)
            if len(window) > WINDOW:
                ordered.pop(bisect.bisect_left(ordered, window.popleft()))
    return out


# The kind of a run, in SQL over the run index (``v``/``r``).
KIND_SQL = ("CASE WHEN r.name IS NOT NULL AND r.name != '' THEN 'name:' || r.name "
            "WHEN r.kind = 'pipeline' THEN 'pipeline:' || "
            "COALESCE(json_extract(CAST(r.json AS TEXT), '$.pipeline.file'), '') "
            "ELSE 'command:' || COALESCE(json_extract(CAST(r.json AS TEXT), '$.command'), '') END")


def mark(db: sqlite3.Connection, status_sql: str, now: dt.datetime) -> dict[str, Slow]:
    """Find the slow runs among every visible run and keep them in the temporary table
    :data:`TABLE` (run_id) for a listing's SQL to select; returns them by run id."""
    sql = (f"SELECT {KIND_SQL} AS k, v.run_id, r.duration, r.status, {status_sql}, r.started "
           "FROM visible v JOIN runs r ON r.commit_id = v.commit_id ORDER BY k, r.started, v.run_id")
    stamp = now.timestamp()

    def rows() -> Iterable[tuple[str, str, float | None, bool]]:
        for key, run_id, duration, recorded, status, started in db.execute(sql):
            if duration is None and status == "running" and started is not None:
                duration = max(0.0, stamp - started)  # still running: its time so far
            yield str(key), str(run_id), duration, recorded == "succeeded"

    slow = find(rows())
    db.execute(f"CREATE TEMP TABLE IF NOT EXISTS {TABLE.split('.')[1]} "
               "(run_id TEXT PRIMARY KEY, median REAL, mad REAL, ratio REAL)")
    db.execute(f"DELETE FROM {TABLE}")  # noqa: S608 - a fixed name
    db.executemany(f"INSERT INTO {TABLE} VALUES (?, ?, ?, ?)",  # noqa: S608
                   [(rid, s.median_s, s.mad_s, s.ratio) for rid, s in slow.items()])
    return slow


def found(db: sqlite3.Connection) -> dict[str, Slow]:
    """What the last :func:`mark` on this connection found (empty before any)."""
    import sqlite3

    try:
        rows = db.execute(f"SELECT run_id, median, mad, ratio FROM {TABLE}").fetchall()  # noqa: S608
    except sqlite3.OperationalError:  # no such table: nothing marked on this connection
        return {}
    return {str(rid): Slow(float(m), float(d), float(r) if r is not None else float("inf")) for rid, m, d, r in rows}
