"""``git run export``: the runs a query selects, as flat rows for other tools.

One row a run: ``id``, ``name``, ``status``, ``started``, ``ended``, ``duration``,
``kind``, ``run_group``, ``code.commit``, ``code.dirty``, then every ``params.*``,
``metrics.*`` and ``tags.*`` key any selected run has (sorted), or the fields of
``columns``.  Values come from the run index (no record is read), and rows are
written as they are read: CSV (spreadsheet-safe, as ``ls --csv``), a JSON array,
JSON Lines, or Parquet (when pyarrow is importable; a file only).  docs/queries.md.
"""
from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from .errors import UsageError

if TYPE_CHECKING:
    from .listing import Filters
    from .lookup import Run
    from .reading import RepoArg
    from .runindex import RunIndex

FORMATS = ("csv", "json", "jsonl", "parquet")
FIXED = ["id", "name", "status", "started", "ended", "duration", "kind", "run_group", "code.commit", "code.dirty"]
_PREFIXES = ("params.", "metrics.", "tags.")


@dataclass
class ExportResult:
    """What was exported: how many runs, which columns, in which format, where to (None:
    the stream given; ``text`` holds it when no stream or file was given)."""

    format: str
    count: int
    columns: list[str]
    path: str | None
    text: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"format": self.format, "count": self.count, "columns": self.columns, "path": self.path}


def rows(index: RunIndex, runs: Iterable[Run], columns: list[str]) -> Iterator[dict[str, Any]]:
    """One flat dict a run (every one of ``columns``, None where the run has no value),
    read from the index a chunk of runs at a time."""
    from .listing import CHUNK, field_values

    chunk: list[Run] = []

    def flush() -> Iterator[dict[str, Any]]:
        values = field_values(index.db, [r.commit for r in chunk], columns)
        for run in chunk:
            have = values.get(run.commit, {})
            yield {c: have.get(c) for c in columns}

    for run in runs:
        chunk.append(run)
        if len(chunk) >= CHUNK:
            yield from flush()
            chunk = []
    yield from flush()


def write_csv(items: Iterable[dict[str, Any]], columns: list[str], out: IO[str]) -> int:
    """A header line, then a line a row, as gitruns.outputformat writes CSV; the count."""
    from .outputformat import csv_cell

    writer = csv.writer(out)
    writer.writerow([csv_cell(c) for c in columns])
    count = 0
    for row in items:
        writer.writerow([csv_cell(row.get(c)) for c in columns])
        count += 1
    return count


def _counted(items: Iterable[dict[str, Any]], counter: list[int]) -> Iterator[dict[str, Any]]:
    for item in items:
        counter[0] += 1
        yield item


def _parquet(items: Iterable[dict[str, Any]], columns: list[str], path: str) -> int:
    """The rows as one Parquet file; a column whose values are of mixed types is text."""
    import importlib

    pa: Any = importlib.import_module("pyarrow")
    pq: Any = importlib.import_module("pyarrow.parquet")
    data: dict[str, list[Any]] = {c: [] for c in columns}
    count = 0
    for row in items:
        count += 1
        for c in columns:
            data[c].append(row.get(c))
    arrays = [pa.array(_typed(values)) for values in data.values()]
    pq.write_table(pa.Table.from_arrays(arrays, names=columns), path)
    return count


def _typed(values: list[Any]) -> list[Any]:
    """``values`` as one type: booleans, integers, numbers (int and float), else text."""
    present = [v for v in values if v is not None]
    if all(isinstance(v, bool) for v in present):
        return values
    if all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return values
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        return [None if v is None else float(v) for v in values]
    return [None if v is None else v if isinstance(v, str) else json.dumps(v, default=str) for v in values]


def parquet_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("pyarrow") is not None


def columns_of(index: RunIndex, where: str, args: list[Any], order: str | None, order_args: list[Any],
               limit: int | None) -> list[str]:
    """The default columns: :data:`FIXED`, then every params.*, metrics.* and tags.* key
    of the selected runs, each group sorted."""
    sql = ("SELECT DISTINCT a.key FROM attrs a WHERE a.run IN (SELECT r.n FROM visible v "
           f"JOIN runs r ON r.commit_id = v.commit_id WHERE ({where}) ORDER BY {order or 'v.run_id DESC'}"
           + (" LIMIT ?" if limit is not None else "") + ") AND ("
           + " OR ".join("(a.key >= ? AND a.key < ?)" for _ in _PREFIXES) + ")")
    bounds = [x for p in _PREFIXES for x in (p, p[:-1] + "/")]
    params = [*args, *order_args, *([limit] if limit is not None else []), *bounds]
    keys = [str(k) for (k,) in index.db.execute(sql, params)]
    return FIXED + [k for p in _PREFIXES for k in sorted(x for x in keys if x.startswith(p))]


def export(repo: RepoArg = None, format: str = "csv", *, where: str | Iterable[str] = (),
           sort: str | Iterable[str] = (), limit: int | None = None, columns: Iterable[str] | None = None,
           retired: bool | str = False, path: str | os.PathLike[str] | None = None, out: IO[str] | None = None,
           filters: Filters | None = None) -> ExportResult:
    """Write the runs a query selects (``where``, ``sort``, ``limit``; retired runs only
    with ``retired=True``, or only them with "only") as ``format`` to the file ``path``,
    or to the text stream ``out``, or (neither) into the result's ``text``.  ``columns``:
    the fields of each row (default: see the module).  ``filters``: ls's other filters."""
    from . import listing, lookup
    from .reading import _retired, _strings, open_at
    from .runindex import RunIndex

    if format not in FORMATS:
        raise UsageError(f"--format {format}: expected one of {', '.join(FORMATS)}")
    if format == "parquet":
        if path is None:
            raise UsageError("--format parquet writes a file: give it with -o FILE")
        if not parquet_available():
            raise UsageError("parquet needs pyarrow: pip install pyarrow")
    f = filters or listing.Filters()
    f.where = [*f.where, *_strings(where)]
    f.sort = [*f.sort, *_strings(sort)]
    f.limit = limit if limit is not None else f.limit
    f.retired = _retired(retired)
    chosen = listing.column_list(list(columns)) if columns is not None else None
    r = open_at(repo)
    with RunIndex.open(r) as index:
        sql, args = listing.where_sql(f, index)
        order, order_args = listing.order_sql(f)
        lookup.warn_refusals(index)
        fields = (["id", *[c for c in chosen if c != "id"]] if chosen is not None
                  else columns_of(index, sql, args, order, order_args, f.limit))
        runs: Iterable[Run] = [] if f.limit == 0 else index.runs(sql, args, order, order_args, limit=f.limit,
                                                                  lead=listing.lead_of(f))
        items = rows(index, runs, fields)
        target = os.fspath(path) if path is not None else None
        if target is not None:
            _check_target(target)
        if format == "parquet":
            assert target is not None
            return ExportResult(format, _parquet(items, fields, target), fields, target)
        if target is not None:
            with open(target, "w", encoding="utf-8", newline="") as fh:
                return ExportResult(format, _write(format, items, fields, fh), fields, target)
        if out is not None:
            return ExportResult(format, _write(format, items, fields, out), fields, None)
        buffer = io.StringIO()
        count = _write(format, items, fields, buffer)
        return ExportResult(format, count, fields, None, buffer.getvalue())


def _check_target(target: str) -> None:
    """-o FILE must be a file we can write, in a directory that exists: one line otherwise."""
    from .errors import GitrunsError
    from .terminal import safe

    if os.path.isdir(target):
        raise GitrunsError(f"cannot export to {safe(target)}: it is a directory")
    parent = os.path.dirname(os.path.abspath(target))
    if not os.path.isdir(parent):
        raise GitrunsError(f"cannot export to {safe(target)}: no directory {safe(parent)}")
    try:
        with open(target, "a", encoding="utf-8"):
            pass
    except OSError as exc:
        raise GitrunsError(f"cannot export to {safe(target)}: {exc.strerror or exc}") from None


def _write(format: str, items: Iterable[dict[str, Any]], fields: list[str], out: IO[str]) -> int:
    from . import outputformat

    if format == "csv":
        return write_csv(items, fields, out)
    counter = [0]
    write = outputformat.write_json_array if format == "json" else outputformat.write_json_lines
    write(_counted(items, counter), out)
    return counter[0]
