"""``git run verify NAME``: each finding one line; exit 0 when all hold, 1 otherwise."""
from __future__ import annotations

import json
import sys

from ..terminal import json_text, safe


def verify(name: str, require_signature: bool, as_json: bool) -> int:
    from ..verifying import verify as verify_promotion

    result = verify_promotion(name, require_signature)
    if as_json:
        sys.stdout.write(json_text(json.dumps(result.to_dict(), indent=2, ensure_ascii=False)) + "\n")
    else:
        for f in result.findings:
            print(f"{'ok' if f.ok else 'FAIL'}  {safe(f.message)}")
        print(f"promotion {safe(result.name)} ({result.commit[:12]}): "
              + ("verified" if result.ok else "NOT verified"))
    return 0 if result.ok else 1
