from __future__ import annotations

import json
import sys

from .. import reading, showing
from ..terminal import json_text, safe


def show(run_id: str, as_json: bool) -> int:
    run = reading.load(run_id)
    if as_json:
        # Readable UTF-8, but no raw control or bidi character (json_text).
        sys.stdout.write(json_text(json.dumps(showing.full_json(run), indent=2, ensure_ascii=False)))
        sys.stdout.write("\n")
    else:
        # showing.human already made each value safe; this is the backstop at the edge.
        sys.stdout.write(safe(showing.human(run), multiline=True))
    return 0
