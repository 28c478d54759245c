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
    group: str | None = None  # a field to group by, or a run (id, prefix or name): only the runs of its group
    where: list[str] = field(default_factory=list)  # --where expressions, and-ed
    sort: list[str] = field(default_factory=list)  # --sort keys
    retired: str = "hide"  # "hide" (default), "only" (--retired) or "all" (--all)
    slow: bool = False  # only the runs far slower than the usual (gitruns.slow)

    @property
    def group_by(self) -> str | None:
        """The field ``--group`` groups by, when it names one (else it names a run)."""
        return group_field(self.group) if self.group is not None else None


RETIRED = ("hide", "only", "all")


def group_field(text: str) -> str | None:
    """The canonical field ``text`` names (``run_group``, ``params.opt``, ``status``), or
    None when it names none: ``--group`` then means a run (its group's runs only).  A run
    literally named like a field is shadowed by the field."""
    from .query import resolve_field

    stripped = text.strip()
    if not stripped or any(c in stripped for c in " \t()=!<>~,'\""):
        return None
    found = resolve_field(stripped)
    return None if found is None else found.name


def _when(value: str | dt.datetime | None) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.astimezone()  # naive means local time, as git does
    return timeutil.parse_when(value) if value else None


def _checked(f: Filters) -> tuple[set[str], dt.datetime | None, dt.datetime | None, dict[str, str]]:
    """The filters' statuses, times and tags, each checked (a usage error names the option)."""
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
    return statuses, since, until, tags


def select(runs: list[Run], f: Filters) -> list[Run]:
    statuses, since, until, tags = _checked(f)
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


def where_sql(f: Filters, index: RunIndex, now: dt.datetime | None = None) -> tuple[str, list[Any]]:
    """The filters as SQL over the run index (aliases ``v`` and ``r``), checked as
    :func:`select` checks them; the same runs :func:`select` would keep.  With
    ``--slow``, the slow runs are found first (a temporary table of the connection)."""
    statuses, since, until, tags = _checked(f)
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
        parts.append("EXISTS (SELECT 1 FROM attrs a WHERE a.run = r.n AND a.key = ? AND a.txt = ?)")
        args += [f"tags.{key}", value]
    if f.name is not None:
        pattern = f.name if any(c in f.name for c in "*?[") else f"*{f.name}*"
        parts.append("gitruns_fnmatch(?, r.name)")
        args.append(pattern)
    if f.group is not None and f.group_by is None:
        parts.append("r.run_group = ?")
        args.append(group_in_index(index, f.group))
    if f.retired not in RETIRED:
        raise UsageError(f"retired={f.retired!r}: expected one of {', '.join(RETIRED)}")
    if f.retired != "all":
        parts.append("r.retired = ?")
        args.append(1 if f.retired == "only" else 0)
    when = now or dt.datetime.now(dt.timezone.utc)
    if f.where:
        from . import query

        def probe(sql: str, params: list[Any]) -> int:
            return int(index.db.execute(sql, params).fetchone()[0])

        # With a limit (and no sort key, or one the index walks in order: lead_of), a
        # broad condition is best checked run by run in the listing's order, which
        # stops at the limit (query._has); otherwise as a set.
        limited = f.limit is not None and (not f.sort or lead_of(f) is not None)
        for text in f.where:
            sql, params = query.compile_where(query.parse(text), when, probe if limited else None)
            parts.append(sql)
            args += params
    if f.slow:
        from . import slow

        slow.mark(index.db, STATUS_SQL, when)
        parts.append(f"v.run_id IN (SELECT run_id FROM {slow.TABLE})")
    return " AND ".join(parts) or "1", args


def lead_of(f: Filters) -> tuple[str, bool] | None:
    """(attrs key, descending) of ``--sort``'s first key when the index can walk its
    numbers in order (RunIndex.runs with a limit), else None."""
    if not f.sort or f.limit is None:
        return None
    from . import query

    first = query.parse_sort(f.sort)[0]
    attr = first.field.attr
    if attr is None or first.field.kind == "version" or attr.startswith("env.packages."):
        return None
    return attr, first.descending


def order_sql(f: Filters) -> tuple[str | None, list[Any]]:
    """``--sort`` as an ORDER BY body and its parameters; None: newest first."""
    if not f.sort:
        return None, []
    from . import query

    return query.compile_order(query.parse_sort(f.sort))


def named_fields(f: Filters) -> list[str]:
    """The fields ``--where``, ``--sort`` and ``--group`` name, in the order named
    (canonical names), for the table to show."""
    from . import query

    out: list[str] = []
    for text in f.where:
        out += sorted(query.fields(query.parse(text)))
    if f.sort:
        out += [k.field.name for k in query.parse_sort(f.sort)]
    return list(dict.fromkeys(out))


def column_list(texts: list[str]) -> list[str]:
    """``--columns params.lr,metrics.acc`` (repeatable) as canonical field names; a name
    that is no field is a usage error naming the fields."""
    from . import query
    from .terminal import safe

    out: list[str] = []
    for text in texts:
        for part in text.split(","):
            name = part.strip()
            if not name:
                continue
            found = query.resolve_field(name)
            if found is None:
                raise UsageError(f"--columns: unknown field '{safe(name[:60])}' (fields: {query.KNOWN})")
            out.append(found.name)
    if texts and not out:
        raise UsageError("--columns: expected field names, like params.lr,metrics.acc")
    return list(dict.fromkeys(out))


# --- field values from the index ---------------------------------------------------------------

CHUNK = 500


def attr_value(num: float | None, txt: str | None) -> Any:
    """A value of the index's attrs as the record had it (as near as the row tells)."""
    if num is not None:
        if txt in ("true", "false"):
            return txt == "true"
        if num.is_integer() and txt is not None and txt.lstrip("-").isdigit():
            return int(num)
        return num
    if txt == "null":
        return None
    return txt


def _column_value(kind: str, value: Any) -> Any:
    """A run column's value as a listing shows it: a time as ISO 8601 UTC, a flag as a bool."""
    if value is None:
        return None
    if kind == "time":
        return dt.datetime.fromtimestamp(float(value), dt.timezone.utc).isoformat().replace("+00:00", "Z")
    if kind == "bool":
        return bool(value)
    return value


def field_values(db: Any, commits: list[str], names: list[str]) -> dict[str, dict[str, Any]]:
    """commit -> field name -> value of ``names`` (canonical) for ``commits``, read from
    the index in chunks; a field a run lacks is absent; a key with several values (a
    run on several GPUs) a list."""
    from .query import COLUMNS, resolve_field

    out: dict[str, dict[str, Any]] = {c: {} for c in commits}
    attrs = [n for n in names if (fld := resolve_field(n)) is not None and fld.attr is not None]
    columns = [n for n in names if n in COLUMNS]
    for i in range(0, len(commits), CHUNK):
        chunk = commits[i:i + CHUNK]
        marks = ",".join("?" * len(chunk))
        if columns:
            sql = ", ".join(COLUMNS[n][0] for n in columns)
            kinds = [(n, COLUMNS[n][1]) for n in columns]
            for row in db.execute(f"SELECT r.commit_id, {sql} FROM visible v JOIN runs r ON r.commit_id = "  # noqa: S608
                                  f"v.commit_id WHERE r.commit_id IN ({marks})", chunk):
                out[row[0]].update((n, _column_value(k, x)) for (n, k), x in zip(kinds, row[1:], strict=True))
        if attrs:
            from .runindex import attr_rows

            for commit, key, num, txt in attr_rows(db, chunk, attrs):
                value = attr_value(num, txt)
                have = out[commit]
                if key in have:
                    have[key] = (have[key] if isinstance(have[key], list) else [have[key]]) + [value]
                else:
                    have[key] = value
    return out


def varying_params(db: Any, commits: list[str], most: int = 4) -> list[str]:
    """The ``params.*`` keys whose value differs among ``commits`` (or that some of them
    lack), at most ``most``, by name: what ``dvc exp show`` shows of the params."""
    seen: dict[str, list[Any]] = {}  # key -> [count, smallest, largest]
    for i in range(0, len(commits), CHUNK):
        chunk = commits[i:i + CHUNK]
        for key, count, low, high in db.execute(
                "SELECT a.key, COUNT(DISTINCT a.run), MIN(a.txt), MAX(a.txt) FROM runs r JOIN attrs a INDEXED BY "
                "attrs_commit ON a.run = r.n WHERE a.key >= 'params.' AND a.key < 'params/' "
                f"AND r.commit_id IN ({','.join('?' * len(chunk))}) GROUP BY a.key",  # noqa: S608
                chunk):
            have = seen.get(key)
            if have is None:
                seen[key] = [count, low, high]
            else:
                have[0] += count
                have[1], have[2] = min(have[1], low), max(have[2], high)
    varying = sorted(k for k, (count, low, high) in seen.items() if count < len(commits) or low != high)
    return varying[:most]


def grouped(runs: list[Run], key: dict[str, Any]) -> list[tuple[Any, list[Run]]]:
    """``runs`` in groups of equal ``key[run id]``, groups in the order of their first run."""
    groups: dict[str, tuple[Any, list[Run]]] = {}
    for run in runs:
        value = key.get(run.id)
        groups.setdefault(_json_key(value), (value, []))[1].append(run)
    return list(groups.values())


def _json_key(value: Any) -> str:
    import json

    return json.dumps(value, sort_keys=True, default=str)


def group_header(name: str, value: Any, runs: list[Run], abbrev: dict[str, str]) -> str:
    """``== group 01jd3k (sweep, 12 runs) ==`` or ``== params.opt = adam (5 runs) ==``
    (made safe for a terminal: a value comes from a record)."""
    from .terminal import safe

    return safe(_group_header(name, value, runs, abbrev))


def _group_header(name: str, value: Any, runs: list[Run], abbrev: dict[str, str]) -> str:
    count = f"{len(runs)} run{'s' if len(runs) != 1 else ''}"
    if name == "run_group":
        what = ("sweep, " if any(r.record.get("sweep") for r in runs)
                else "reruns, " if any(r.record.get("rerun_of") for r in runs) else "")
        shown = abbrev.get(str(value)) or clip(str(value), 12)
        return f"== group {shown} ({what}{count}) =="
    if value is None:
        return f"== no {name} ({count}) =="
    return f"== {name} = {clip(cell(value), 40)} ({count}) =="


def cell(value: Any) -> str:
    """A field's value in a table cell."""
    if isinstance(value, list):
        return ",".join(cell(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return number(value) if value is None or isinstance(value, (int, float)) else str(value)


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
          shared: dict[str, dict[str, str]] | None = None, latest: dict[str, bool] | None = None, *,
          fields: list[str] | None = None, values: dict[str, dict[str, Any]] | None = None,
          columns: list[str] | None = None, slow: dict[str, Any] | None = None,
          group_by: str | None = None) -> str:
    """The human listing.  ``columns``: ID, NAME, STATUS and these fields instead of the
    default columns; ``fields``: more fields after COMMAND (varying params, fields a query
    names); ``values``: commit -> field -> value of both, from the index; ``slow``: run
    id -> gitruns.slow.Slow, a SLOW column; ``group_by``: rows under a line per group."""
    abbrev = runid.abbreviations(all_ids)
    values = values or {}
    if columns is not None:
        headers = ["ID", "NAME", "STATUS", *columns]
        right = {3 + i for i, c in enumerate(columns) if not c.startswith(("tags.", "env."))}
    else:
        extra = fields or []
        headers = ["ID", "NAME", "STATUS", "STARTED", "DURATION", "CODE", "COMMAND", *extra, *metric_names]
        right = {4, *range(7, 7 + len(extra) + len(metric_names))}
    if slow is not None:
        right.add(len(headers))
        headers.append("SLOW")
    if shared is not None:
        headers.append("SHARED")
    order = runs
    groups: list[tuple[Any, list[Run]]] = []
    if group_by is not None:
        groups = grouped(runs, {r.id: values.get(r.commit, {}).get(group_by) for r in runs})
        order = [r for _, members in groups for r in members]
    rows = []
    for run in order:
        rec = run.record
        have = values.get(run.commit, {})
        name = clip(rec.get("name") or "-", 24) + (" (latest)" if (latest or {}).get(run.id) else "") + \
            (" (retired)" if rec.get("retired") else "")
        if columns is not None:
            row = [abbrev.get(run.id, run.id[:12]), name, run.status, *(clip(cell(have.get(c)), 40) for c in columns)]
        else:
            metrics = rec.get("metrics") or {}
            row = [
                abbrev.get(run.id, run.id[:12]), name, run.status,
                _local_time(rec.get("started_at")),
                timeutil.human_duration(rec.get("duration_s")),
                code_label(rec.get("code") or {}),
                command_label(rec),
                *(clip(cell(have.get(c)), 24) for c in fields or []),
                *(number(metrics.get(m)) for m in metric_names),
            ]
        if slow is not None:
            verdict = slow.get(run.id)
            row.append(verdict.label() if verdict is not None else "-")
        if shared is not None:
            row.append(shared_label(run, shared.get(run.id, {})))
        rows.append(row)
    text = render(headers, rows, right=right, paint=_paint_status)
    if group_by is None:
        return text
    lines = text.splitlines()
    out = [lines[0]]
    at = 1
    for value, members in groups:
        out.append(group_header(group_by, value, members, abbrev))
        out += lines[at:at + len(members)]
        at += len(members)
    return "\n".join(out) + "\n"


def _paint_status(column: int, cell: str) -> str:
    """The STATUS column in its colour when colour is on (colour.py; cells are safe already)."""
    return colour.paint(cell, cell) if column == 2 else cell
