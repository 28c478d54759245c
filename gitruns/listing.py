"""``git run ls``: which runs, filtered, and how they are shown."""
from __future__ import annotations

import datetime as dt
import fnmatch
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import colour, record, runid, timeutil
from .errors import UsageError
from .launchspec import parse_tags
from .lookup import Run

if TYPE_CHECKING:
    from .runindex import RunIndex
from .table import clip, number, render
from .terminal import command_text


@dataclass
class Filters:
    statuses: list[str] = field(default_factory=list)
    since: str | dt.datetime | None = None  # text as the user wrote it, or an aware datetime
    until: str | dt.datetime | None = None
    tags: list[str] = field(default_factory=list)
    name: str | None = None
    limit: int | None = None
    kind: str | None = None  # "command" or "pipeline"
    group: str | None = None  # a run (id, prefix or name): only the runs of its group


def _when(value: str | dt.datetime | None) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.astimezone()  # naive means local time, as git does
    return timeutil.parse_when(value) if value else None


def select(runs: list[Run], f: Filters) -> list[Run]:
    statuses = {s.strip() for item in f.statuses for s in item.split(",") if s.strip()}
    unknown = statuses - set(record.DERIVED_STATUSES)
    if unknown:
        raise UsageError(f"--status {', '.join(sorted(unknown))}: expected {', '.join(record.DERIVED_STATUSES)}")
    since, until = _when(f.since), _when(f.until)
    tags = parse_tags(f.tags)
    if f.limit is not None and f.limit < 0:
        raise UsageError("--limit must be 0 or more")
    if f.kind is not None and f.kind not in record.KINDS:
        raise UsageError(f"--kind {f.kind}: expected {' or '.join(record.KINDS)}")
    group = group_named(runs, f.group) if f.group is not None else None
    out: list[Run] = []
    if f.limit == 0:
        return out  # as `git log -n 0`: none
    for run in runs:
        rec = run.record
        if group is not None and record.group_of(rec) != group:
            continue
        if statuses and run.status not in statuses:
            continue
        if f.kind is not None and (rec.get("kind") or "command") != f.kind:
            continue
        if since or until:
            started = rec.get("started_at")
            if not started:
                continue
            try:
                when = timeutil.parse_iso(started)
            except (TypeError, ValueError):
                continue  # not a time (a local record is only shape-checked): matches no range
            if since and when < since or until and when > until:
                continue
        if tags and any((rec.get("tags") or {}).get(k) != v for k, v in tags.items()):
            continue
        if f.name is not None:
            name = rec.get("name") or ""
            pattern = f.name if any(c in f.name for c in "*?[") else f"*{f.name}*"
            if not fnmatch.fnmatchcase(name.lower(), pattern.lower()):
                continue
        out.append(run)
        if f.limit is not None and len(out) >= f.limit:
            break
    return out


def where_sql(f: Filters, index: RunIndex) -> tuple[str, list[Any]]:
    """The filters as SQL over the run index (aliases ``v`` and ``r``), checked as
    :func:`select` checks them; the same runs :func:`select` would keep."""
    statuses = {s.strip() for item in f.statuses for s in item.split(",") if s.strip()}
    unknown = statuses - set(record.DERIVED_STATUSES)
    if unknown:
        raise UsageError(f"--status {', '.join(sorted(unknown))}: expected {', '.join(record.DERIVED_STATUSES)}")
    since, until = _when(f.since), _when(f.until)
    tags = parse_tags(f.tags)
    if f.limit is not None and f.limit < 0:
        raise UsageError("--limit must be 0 or more")
    if f.kind is not None and f.kind not in record.KINDS:
        raise UsageError(f"--kind {f.kind}: expected {' or '.join(record.KINDS)}")
    parts: list[str] = []
    args: list[Any] = []
    if statuses:
        parts.append(f"{STATUS_SQL} IN ({','.join('?' * len(statuses))})")
        args += sorted(statuses)
    if f.kind is not None:
        parts.append("r.kind = ?")
        args.append(f.kind)
    if since is not None:
        parts.append("r.started >= ?")
        args.append(since.timestamp())
    if until is not None:
        parts.append("r.started <= ?")
        args.append(until.timestamp())
    for key, value in tags.items():
        parts.append("EXISTS (SELECT 1 FROM attrs a WHERE a.commit_id = r.commit_id AND a.key = ? AND a.txt = ?)")
        args += [f"tags.{key}", value]
    if f.name is not None:
        pattern = f.name if any(c in f.name for c in "*?[") else f"*{f.name}*"
        parts.append("gitruns_fnmatch(?, r.name)")
        args.append(pattern)
    if f.group is not None:
        parts.append("r.run_group = ?")
        args.append(group_in_index(index, f.group))
    return " AND ".join(parts) or "1", args


# The status a listing shows (``crashed`` for a running run whose recorder is gone),
# in SQL: the function is called only for records that say "running".
STATUS_SQL = ("(CASE WHEN r.status = 'running' THEN gitruns_status(r.status, r.host, r.pid, r.process) "
              "ELSE r.status END)")


def group_in_index(index: RunIndex, text: str) -> str:
    """The group of the run ``text`` names (a unique id prefix or an exact name)."""
    raw = text.strip()
    prefix = runid.normalize_prefix(raw)
    rows = []
    if prefix and all(c in runid.ALPHABET for c in prefix):
        rows = index.db.execute("SELECT DISTINCT r.run_group FROM visible v JOIN runs r ON r.commit_id = v.commit_id "
                                "WHERE v.run_id >= ? AND v.run_id < ? LIMIT 3", (prefix, prefix + "\x7f")).fetchall()
    if not rows:
        rows = index.db.execute("SELECT DISTINCT r.run_group FROM visible v JOIN runs r ON r.commit_id = v.commit_id "
                                "WHERE r.name = ? LIMIT 3", (raw,)).fetchall()
    if not rows:
        raise UsageError(f"--group {text}: no run matches it")
    if len(rows) > 1:
        raise UsageError(f"--group {text}: ambiguous, it names runs of more than one group")
    return str(rows[0][0])


def group_named(runs: list[Run], text: str) -> str:
    """The group of the run ``text`` names (a unique id prefix or an exact name)."""
    raw = text.strip()
    prefix = runid.normalize_prefix(raw)
    found = [r for r in runs if prefix and r.id.startswith(prefix)] or [r for r in runs if r.record.get("name") == raw]
    groups = {record.group_of(r.record) for r in found}
    if not found:
        raise UsageError(f"--group {text}: no run matches it")
    if len(groups) > 1:
        raise UsageError(f"--group {text}: ambiguous, it names runs of {len(groups)} groups")
    return groups.pop()


def latest_of_groups(runs: list[Run]) -> dict[str, bool]:
    """For each run of a group of several (a run and its reruns, a sweep): whether it is
    the group's newest (run ids sort by creation time)."""
    groups: dict[str, list[str]] = {}
    for run in runs:
        groups.setdefault(record.group_of(run.record), []).append(run.id)
    out: dict[str, bool] = {}
    for ids in groups.values():
        if len(ids) > 1:
            newest = max(ids)
            out.update((rid, rid == newest) for rid in ids)
    return out


def as_json(run: Run, shared: dict[str, str] | None = None, latest: bool | None = None) -> dict[str, Any]:
    rec = dict(run.record)
    rec["recorded_status"] = rec.get("status")
    rec["status"] = run.status
    rec["commit"] = run.commit
    if run.record.get("kind") == "pipeline":
        # What a listing filters a pipeline run on, without walking its steps.
        rec["step_count"] = len(run.record.get("steps") or [])
        rec["failed_step"] = failed_step(run.record)
    if shared is not None or run.source is not None:
        # Where the run lives: only here, on remotes (same or behind us), or only on a remote.
        rec["source"] = run.source
        rec["remotes"] = shared or ({run.source: "same"} if run.source else {})
        rec["local_only"] = run.source is None and not shared
    if latest is not None:
        rec["latest"] = latest  # only for runs of a group of several (docs/reruns.md)
    return record.ordered(rec)


def failed_step(rec: Mapping[str, Any]) -> str | None:
    """The step a pipeline run failed at: ``error.step``, else its first failed step."""
    error = rec.get("error")
    if isinstance(error, Mapping) and isinstance(error.get("step"), str):
        return str(error["step"])
    return next((str(s.get("name")) for s in rec.get("steps") or []
                 if isinstance(s, Mapping) and s.get("status") == "failed"), None)


def pipeline_label(rec: Mapping[str, Any]) -> str:
    """The COMMAND cell of a pipeline run: "pipeline gitruns.yaml: 4 steps, failed at train"
    (the file and the step clipped, so the failing step stays in sight)."""
    pipe: Mapping[str, Any] = rec.get("pipeline") or {}
    pipe = pipe if isinstance(pipe, Mapping) else {}
    steps = rec.get("steps")
    steps = steps if isinstance(steps, list) else []
    text = f"pipeline {clip(str(pipe.get('file') or 'python'), 20)}: {len(steps)} step{'s' if len(steps) != 1 else ''}"
    failed = failed_step(rec)
    if failed is not None:
        text += f", failed at {clip(failed, 16)}"
    elif rec.get("status") == "running":
        done = sum(1 for s in steps if isinstance(s, Mapping)
                   and s.get("status") in ("succeeded", "cached", "failed", "skipped", "canceled"))
        text += f", {done} done"
    return text


def command_label(rec: Mapping[str, Any]) -> str:
    if rec.get("kind") == "pipeline":
        return pipeline_label(rec)
    return clip(command_text(rec.get("command") or []), 40)


def shared_label(run: Run, shared: dict[str, str]) -> str:
    if run.source is not None:
        return f"{run.source} only"
    if not shared:
        return "local only"
    return ",".join(name + ("" if state == "same" else "+" if state == "ahead" else "!")
                    for name, state in sorted(shared.items()))


def code_label(code: Mapping[str, Any]) -> str:
    """The commit the code is (clean, or noted later by the post-commit hook), or 'dirty'."""
    if code.get("reproducible_from"):
        return str(code["reproducible_from"])[:8]
    if not code.get("dirty") and code.get("commit"):
        return str(code["commit"])[:8]
    return "dirty"


def _local_time(text: Any) -> str:
    try:
        return timeutil.human_local(text)
    except (TypeError, ValueError, OverflowError):
        return str(text)  # shown as it is (made safe by the table)


def key_metrics(runs: list[Run], wanted: list[str], most: int = 3) -> list[str]:
    if wanted:
        return wanted
    counts: Counter[str] = Counter()
    for run in runs:
        counts.update((run.record.get("metrics") or {}).keys())
    return [name for name, _ in counts.most_common(most)]


def table(runs: list[Run], all_ids: list[str], metric_names: list[str],
          shared: dict[str, dict[str, str]] | None = None, latest: dict[str, bool] | None = None) -> str:
    abbrev = runid.abbreviations(all_ids)
    headers = ["ID", "NAME", "STATUS", "STARTED", "DURATION", "CODE", "COMMAND", *metric_names]
    if shared is not None:
        headers.append("SHARED")
    rows = []
    for run in runs:
        rec = run.record
        metrics = rec.get("metrics") or {}
        rows.append([
            abbrev.get(run.id, run.id[:12]),
            clip(rec.get("name") or "-", 24) + (" (latest)" if (latest or {}).get(run.id) else ""),
            run.status,
            _local_time(rec.get("started_at")),
            timeutil.human_duration(rec.get("duration_s")),
            code_label(rec.get("code") or {}),
            command_label(rec),
            *(number(metrics.get(m)) for m in metric_names),
            *([shared_label(run, shared.get(run.id, {}))] if shared is not None else []),
        ])
    return render(headers, rows, right={4, *range(7, 7 + len(metric_names))}, paint=_paint_status)


def _paint_status(column: int, cell: str) -> str:
    """The STATUS column in its colour when colour is on (colour.py; cells are safe already)."""
    return colour.paint(cell, cell) if column == 2 else cell
