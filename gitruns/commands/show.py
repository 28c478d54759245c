from __future__ import annotations

import json
import sys

from .. import showing, store
from ..repo import open_repo


def show(run_id: str, as_json: bool) -> int:
    repo = open_repo()
    run = store.load(repo, run_id)
    if as_json:
        json.dump(showing.full_json(repo, run), sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(showing.human(repo, run))
    return 0
