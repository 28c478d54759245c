"""``git run sweep``: run the grid, show progress on a terminal, then a table."""
from __future__ import annotations

import json
import sys

from .. import table
from ..sweep import SweepOptions, SweepProgress, SweepResult
from ..sweep import sweep as run_sweep
from ..terminal import safe, warning_text
from ..terminal import stderr_is_tty as _stderr_is_tty


def sweep(options: SweepOptions, as_json: bool) -> int:
    """Run the sweep; return 0 when every point succeeded, 1 when any failed, 130 when interrupted."""
    tty = _stderr_is_tty()
    if tty:
        options.progress = _progress
    result = run_sweep(options)
    if tty:
        sys.stderr.write("\r\x1b[K")
        sys.stderr.flush()
    if as_json:
        sys.stdout.write(json.dumps(result.to_dict(), indent=2, ensure_ascii=False, default=str) + "\n")
    else:
        sys.stdout.write(render(result))
    failed = sum(1 for p in result.points if p.status != "succeeded")
    how = "interrupted; " if result.interrupted else ""
    _say(f"gitruns: sweep {result.id[:12]}: {how}{result.size - failed} of {result.size} points succeeded"
         + (f", {failed} did not" if failed else "")
         + (f" (random {result.size} points, seed {result.seed})" if result.random else "")
         + f"; git run ls --tag sweep={result.id}")
    return result.exit_code


def render(result: SweepResult) -> str:
    """The runs, their swept params and key metrics; failed points last with their error."""
    headers = ["RUN", "STATUS", *result.keys, *result.metric_columns, "ERROR"]
    rows = []
    for p in result.ordered():
        rows.append([p.run_id[:12] if p.run_id else "-", p.status,
                     *(_value(p.point.get(k)) for k in result.keys),
                     *(table.number(p.metrics.get(m)) for m in result.metric_columns),
                     table.clip(p.error, 80) if p.error and p.status != "succeeded" else ""])
    if not any(r[-1] for r in rows):
        headers.pop()
        rows = [r[:-1] for r in rows]
    return table.render(headers, rows)


def _value(value: object) -> str:
    if isinstance(value, str):
        return value
    return table.number(value)


def _progress(p: SweepProgress) -> None:
    text = f"sweep: {p.done}/{p.size} done" + (f", {p.failed} failed" if p.failed else "") \
        + (f", {p.running} running" if p.running else "")
    try:
        sys.stderr.write(f"\r{safe(text)}\x1b[K")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass



def _say(line: str) -> None:
    try:
        sys.stderr.write(warning_text(line, 1000) + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
