from __future__ import annotations

import json
import sys

from .. import diffing, runid, store
from ..repo import open_repo


def diff(a: str, b: str, patch: bool, as_json: bool) -> int:
    repo = open_repo()
    run_a, run_b = store.load(repo, a), store.load(repo, b)
    result = diffing.compare(repo, run_a, run_b, patch=patch)
    if as_json:
        json.dump(result, sys.stdout, indent=2, ensure_ascii=False, default=str)
        sys.stdout.write("\n")
    else:
        abbrev = runid.abbreviations([rid for rid, _, _ in store.visible_refs(repo)])
        sys.stdout.write(diffing.human(result, abbrev))
    return 0
