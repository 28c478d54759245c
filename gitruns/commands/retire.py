"""``git run retire``: retire a run or a promotion; one line saying what was retired."""
from __future__ import annotations

import json
import sys

from ..terminal import json_text, safe


def retire(target: str, reason: str, superseded_by: str | None, as_json: bool) -> int:
    from ..retiring import retire as retire_target

    result = retire_target(target, reason, superseded_by)
    if as_json:
        sys.stdout.write(json_text(json.dumps(result.to_dict(), indent=2, ensure_ascii=False)) + "\n")
        return 0
    what = f"run {result.target}" if result.kind == "run" else f"promotion {safe(result.target)}"
    by = f", superseded by {safe(result.superseded_by)}" if result.superseded_by else ""
    print(f"retired {what} ({result.ref} at {result.commit[:12]}){by}")
    from ..showing import dependents_lines

    for line in dependents_lines(result.dependents):
        print(safe(line))
    return 0
