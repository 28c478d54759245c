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
    selection = reading.select(repo, filters, remote)
    chosen = selection.chosen
    if output == "csv":
        runs = reading.RunList(reading.Run(repo, r) for r in chosen)
        rows = runs.rows()
        sys.stdout.write(outputformat.csv_text(rows, runs.columns(rows)))
        return 0
    has_remotes = bool(remote_mod.remotes(repo)) and remote is None
    tracking = tracking_mod.all_tracked(repo) if has_remotes else {}
    shared = {r.id: tracking_mod.sharing_state(repo, r.id, r.commit, tracking)
              for r in chosen if r.source is None} if has_remotes else None
    latest = listing.latest_of_groups(selection.seen)
    if output in ("json", "jsonl"):
        records = (listing.as_json(r, shared.get(r.id) if shared is not None else None, latest.get(r.id))
                   for r in chosen)
        sys.stdout.write(outputformat.json_array(records) if output == "json" else outputformat.json_lines(records))
        return 0
    if not chosen:
        print("no runs" + (" match" if selection.seen else " yet: record one with 'git run exec -- CMD'"),
              file=sys.stderr)
        return 0
    names = listing.key_metrics(chosen, load_settings(repo.git).items("gitruns.lsMetrics"))
    sys.stdout.write(listing.table(chosen, [r.id for r in selection.seen], names, shared, latest))
    return 0
