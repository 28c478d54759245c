from __future__ import annotations

import json
import sys

from .. import listing, store
from ..repo import open_repo
from ..settings import load as load_settings


def ls(filters: listing.Filters, as_json: bool) -> int:
    repo = open_repo()
    runs = store.all_runs(repo)
    chosen = listing.select(runs, filters)
    if as_json:
        # One record per line: a valid JSON array that is also easy to grep, and
        # written by the C encoder (indentation would force the slow pure-Python one).
        body = ",\n".join(json.dumps(listing.as_json(r), ensure_ascii=False) for r in chosen)
        sys.stdout.write(f"[\n{body}\n]\n" if chosen else "[]\n")
        return 0
    if not chosen:
        print("no runs" + (" match" if runs else " yet: record one with 'git run exec -- CMD'"), file=sys.stderr)
        return 0
    names = listing.key_metrics(chosen, load_settings(repo.git).items("gitruns.lsMetrics"))
    sys.stdout.write(listing.table(chosen, [r.id for r in runs], names))
    return 0
