"""``git run which PATH|DIGEST``: the runs that produced a file and those that used it."""
from __future__ import annotations

import json
import sys

from ..lineagegraph import short
from ..provenance import Use
from ..provenance import which as which_of
from ..terminal import json_text, safe


def _line(use: Use) -> str:
    parts = [safe(use.run[:12]), safe(use.name or "-"), safe(use.status or "?"), safe(use.path or "-")]
    if use.step:
        parts.append(f"(step {safe(use.step)})")
    parts.append(safe(use.when or "-"))
    if use.retired:
        parts.append("retired")
    if use.source:
        parts.append(f"(from {safe(use.source)})")
    return "  ".join(parts)


def which(target: str, as_json: bool) -> int:
    """Print the producers and consumers of ``target``; exit 1 (raised) when none."""
    found = which_of(target)
    if as_json:
        sys.stdout.write(json_text(json.dumps(found.to_dict(), indent=2, ensure_ascii=False)) + "\n")
        return 0
    head = f"{safe(found.path)}  " if found.path else ""
    out = [f"{head}{found.digest}"]
    if found.produced_by:
        out.append("produced by:")
        out += [f"  {_line(u)}" for u in found.produced_by]
    else:
        out.append(f"produced by: no run (digest {short(found.digest)} is only an input)")
    if found.used_by:
        out.append("used by:")
        out += [f"  {_line(u)}" for u in found.used_by]
    sys.stdout.write("".join(line + "\n" for line in out))
    return 0
