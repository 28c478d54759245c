from __future__ import annotations

import sys

from .. import listing, outputformat, reading
from .. import remote as remote_mod
from .. import tracking as tracking_mod
from ..repo import open_repo
from ..settings import load as load_settings


def ls(filters: listing.Filters, output: str | None, remote: str | None = None) -> int:
    """List runs: a table for people, or ``output`` ("json", "jsonl", "csv") for programs."""
    repo = open_repo()
    with reading.select(repo, filters, remote) as selection:
        if output == "csv":
            runs = reading.RunList(reading.Run(repo, r) for r in selection.chosen)
            rows = runs.rows()
            sys.stdout.write(outputformat.csv_text(rows, runs.columns(rows)))
            return 0
        has_remotes = bool(remote_mod.remotes(repo)) and remote is None
        tracking = tracking_mod.all_tracked(repo) if has_remotes else {}
        latest = selection.latest()
        if output in ("json", "jsonl"):
            records = (listing.as_json(r, tracking_mod.sharing_state(repo, r.id, r.commit, tracking)
                                       if has_remotes and r.source is None else None, latest.get(r.id))
                       for r in selection.chosen)
            write = outputformat.write_json_array if output == "json" else outputformat.write_json_lines
            write(records, sys.stdout)
            return 0
        chosen = list(selection.chosen)
        if not chosen:
            print("no runs" + (" match" if selection.any() else " yet: record one with 'git run exec -- CMD'"),
                  file=sys.stderr)
            return 0
        shared = {r.id: tracking_mod.sharing_state(repo, r.id, r.commit, tracking)
                  for r in chosen if r.source is None} if has_remotes else None
        names = listing.key_metrics(chosen, load_settings(repo.git).items("gitruns.lsMetrics"))
        sys.stdout.write(listing.table(chosen, selection.ids(), names, shared, latest))
    return 0
