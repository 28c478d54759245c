from __future__ import annotations

import json
import sys

from .. import colour, diffing, reading
from ..terminal import json_text, safe


def diff(a: str, b: str, patch: bool, as_json: bool) -> int:
    repo = reading.open_at(None)
    result = reading.compare(a, b, patch=patch, repo=repo)
    if as_json:
        sys.stdout.write(json_text(json.dumps(result, indent=2, ensure_ascii=False)))
        sys.stdout.write("\n")
    else:
        from ..runindex import RunIndex

        with RunIndex.open(repo) as index:
            abbrev = index.abbreviate([result["a"], result["b"]])
        # diffing.human made each value safe; this is the backstop at the edge.
        # Colour last, over text already made safe: a record cannot bring its own escapes.
        sys.stdout.write(colour.diff_text(safe(diffing.human(result, abbrev), multiline=True)))
    return 0
