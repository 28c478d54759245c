"""``git run promote``: promote an artifact and say so in one line; ``--list`` the promotions."""
from __future__ import annotations

import json
import sys

from ..terminal import json_text, safe


def promote(run_id: str, artifact: str, name: str, reason: str, where: str | None, sign: bool | None,
            as_json: bool) -> int:
    from ..promoting import promote as promote_run

    result = promote_run(run_id, artifact, name, reason, where=where, sign=sign)
    if as_json:
        sys.stdout.write(json_text(json.dumps(result.to_dict(), indent=2, ensure_ascii=False)) + "\n")
        return 0
    again = f" (was {result.previous[:12]})" if result.previous else ""
    signed = ", signed" if result.signed else ""
    step = f"{result.step}:" if result.step else ""
    print(f"promoted {safe(step + result.artifact)} of run {result.run[:12]} as {safe(result.name)}: "
          f"refs/promoted/{safe(result.name)} at {result.commit[:12]}{again}{signed}")
    return 0


def promotions(include_retired: bool, as_json: bool) -> int:
    from .. import timeutil
    from ..promoting import promotions as list_promotions
    from ..table import clip, render

    entries = list_promotions(include_retired)
    if as_json:
        sys.stdout.write(json_text(json.dumps([e.to_dict() for e in entries], indent=2, ensure_ascii=False)))
        sys.stdout.write("\n")
        return 0
    if not entries:
        print("no promotions" + ("" if include_retired else " (retired ones are shown with --retired)"))
        return 0
    rows = []
    for e in entries:
        rec = e.record
        art = rec["artifact"]
        shown = (f"{art['step']}:" if art.get("step") else "") + art["path"]
        name = e.name + (" (retired)" if e.retired else "")
        rows.append([name, rec["run"][:12], shown, art["digest"].split(":", 1)[-1][:12],
                     timeutil.human_local(rec["promoted_at"]), rec["promoted_by"], clip(rec["reason"], 60)])
    sys.stdout.write(render(["NAME", "RUN", "ARTIFACT", "DIGEST", "PROMOTED", "BY", "REASON"], rows))
    return 0
