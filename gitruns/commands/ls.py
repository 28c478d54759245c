from __future__ import annotations

import json
import sys

from .. import listing, lookup
from .. import remote as remote_mod
from .. import tracking as tracking_mod
from ..repo import open_repo
from ..settings import load as load_settings
from ..terminal import json_text


def ls(filters: listing.Filters, as_json: bool, remote: str | None = None) -> int:
    repo = open_repo()
    if remote is not None:
        # A remote's runs, as they are there now (fetched into its tracking refs only).
        name = remote_mod.default_remote(repo, remote or None)
        tracking_mod.fetch_tracking(repo, name)
        runs = lookup.all_runs(repo, [(rid, oid, name) for rid, oid in tracking_mod.tracked(repo, name).items()])
    else:
        runs = lookup.all_runs(repo)
    chosen = listing.select(runs, filters)
    has_remotes = bool(remote_mod.remotes(repo)) and remote is None
    tracking = tracking_mod.all_tracked(repo) if has_remotes else {}
    shared = {r.id: tracking_mod.sharing_state(repo, r.id, r.commit, tracking)
              for r in chosen if r.source is None} if has_remotes else None
    if as_json:
        # One record per line: a valid JSON array that is also easy to grep, and
        # written by the C encoder (indentation would force the slow pure-Python one).
        # json_text escapes what json.dumps leaves raw (DEL, C1, bidi controls).
        body = ",\n".join(json.dumps(listing.as_json(r, shared.get(r.id) if shared is not None else None),
                                     ensure_ascii=False) for r in chosen)
        sys.stdout.write(json_text(f"[\n{body}\n]\n") if chosen else "[]\n")
        return 0
    if not chosen:
        print("no runs" + (" match" if runs else " yet: record one with 'git run exec -- CMD'"), file=sys.stderr)
        return 0
    names = listing.key_metrics(chosen, load_settings(repo.git).items("gitruns.lsMetrics"))
    sys.stdout.write(listing.table(chosen, [r.id for r in runs], names, shared))
    return 0
