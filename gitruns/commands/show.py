from __future__ import annotations

import json
import re
import sys

from .. import colour, reading, showing
from ..terminal import json_text, safe

# Our own colour codes (colour.SLOTS and the reset), the only escapes let through.
_OWN = re.compile("(" + "|".join(re.escape(code) for code in [*colour.SLOTS.values(), "\x1b[m"]) + ")")


def show(run_id: str, as_json: bool) -> int:
    run = reading.load(run_id)
    dependents = None
    if run.record.get("retired"):
        # Who used a withdrawn result: every run and promotion downstream of it.
        from ..lineagegraph import dependents as find_dependents

        dependents = [d.to_dict() for d in find_dependents(run._repo, run_id=run.id)]
    if as_json:
        data = showing.full_json(run)
        if dependents is not None:
            data["dependents"] = dependents
        # Readable UTF-8, but no raw control or bidi character (json_text).
        sys.stdout.write(json_text(json.dumps(data, indent=2, ensure_ascii=False)))
        sys.stdout.write("\n")
        return 0
    encoding = (getattr(sys.stdout, "encoding", None) or "").lower().replace("-", "").replace("_", "")
    text = showing.human(run, paint=colour.paint, unicode=encoding == "utf8", dependents=dependents)
    # showing.human already made each value safe; this is the backstop at the edge,
    # over everything but the colour codes colour.paint put around statuses.
    sys.stdout.write("".join(part if _OWN.fullmatch(part) else safe(part, multiline=True)
                             for part in _OWN.split(text)))
    return 0
