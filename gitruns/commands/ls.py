from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import Any

from .. import listing, outputformat, reading
from .. import remote as remote_mod
from .. import tracking as tracking_mod
from ..lookup import Run
from ..repo import open_repo
from ..settings import load as load_settings


def ls(filters: listing.Filters, output: str | None, remote: str | None = None,
       columns: list[str] | None = None) -> int:
    """List runs: a table for people, or ``output`` ("json", "jsonl", "csv") for programs.
    ``columns``: the fields to show (``--columns``) instead of the default ones."""
    repo = open_repo()
    if remote is not None and columns:
        from ..errors import UsageError

        raise UsageError("--columns does not work with --remote: take the remote's runs in with "
                         "'git run fetch', then list them here")
    group_by = filters.group_by
    with reading.select(repo, filters, remote) as selection:
        index = selection.index
        if output == "csv":
            if columns and index is not None:
                from ..exporting import rows, write_csv

                wanted = ["id", "name", "status", *columns]
                write_csv(rows(index, selection.chosen, wanted), wanted, sys.stdout)
                return 0
            runs = reading.RunList(reading.Run(repo, r) for r in selection.chosen)
            rows_ = runs.rows()
            sys.stdout.write(outputformat.csv_text(rows_, runs.columns(rows_)))
            return 0
        has_remotes = bool(remote_mod.remotes(repo)) and remote is None
        tracking = tracking_mod.all_tracked(repo) if has_remotes else {}
        latest = selection.latest()
        slow = dict(selection.slow) if selection.slow is not None else None
        if output in ("json", "jsonl"):
            def records() -> Iterator[dict[str, Any]]:
                for run, group in _with_group(selection.chosen, index.db if index else None, group_by):
                    rec = listing.as_json(run, tracking_mod.sharing_state(repo, run.id, run.commit, tracking)
                                          if has_remotes and run.source is None else None, latest(run))
                    if group_by is not None:
                        rec["group"] = group
                    if slow is not None and run.id in slow:
                        rec["slow"] = slow[run.id].to_dict()
                    yield rec

            write = outputformat.write_json_array if output == "json" else outputformat.write_json_lines
            write(records(), sys.stdout)
            return 0
        chosen = list(selection.chosen)
        if not chosen:
            print("no runs" + (" match" if selection.any() else " yet: record one with 'git run exec -- CMD'"),
                  file=sys.stderr)
            return 0
        shared = {r.id: tracking_mod.sharing_state(repo, r.id, r.commit, tracking)
                  for r in chosen if r.source is None} if has_remotes else None
        names = listing.key_metrics(chosen, load_settings(repo.git).items("gitruns.lsMetrics"))
        fields: list[str] = []
        values: dict[str, dict[str, Any]] = {}
        if index is not None:
            commits = [r.commit for r in chosen]
            if not columns:
                shown = {"id", "name", "status", "started", "duration", *(f"metrics.{m}" for m in names)}
                fields = [f for f in [*listing.varying_params(index.db, commits), *listing.named_fields(filters)]
                          if f not in shown]
                fields = list(dict.fromkeys(fields))
            wanted = [*(columns or fields), *([group_by] if group_by else [])]
            if wanted:
                values = listing.field_values(index.db, commits, wanted)
        marks = {r.id: mark for r in chosen if (mark := latest(r)) is not None}
        sys.stdout.write(listing.table(chosen, selection.ids([r.id for r in chosen]), names, shared, marks,
                                       fields=fields, values=values,
                                       columns=columns or None, slow=slow, group_by=group_by))
    return 0


def _with_group(runs: Iterable[Run], db: Any, group_by: str | None) -> Iterator[tuple[Run, Any]]:
    """The runs, each with its value of ``group_by`` (read from the index a chunk at a time)."""
    if group_by is None or db is None:
        for run in runs:
            yield run, None
        return
    chunk: list[Run] = []

    def flush() -> Iterator[tuple[Run, Any]]:
        values = listing.field_values(db, [r.commit for r in chunk], [group_by])
        for run in chunk:
            yield run, values.get(run.commit, {}).get(group_by)

    for run in runs:
        chunk.append(run)
        if len(chunk) >= listing.CHUNK:
            yield from flush()
            chunk = []
    yield from flush()
