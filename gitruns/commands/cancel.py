"""``git run cancel ID``: stop a running run; one line saying it was canceled."""
from __future__ import annotations

import json
import sys

from ..cancel import cancel as cancel_run


def cancel(run_id: str, grace: float, as_json: bool) -> int:
    """Cancel the run; 0 when it ended canceled (a refusal raises, exit 1)."""
    result = cancel_run(run_id, grace_s=grace)
    if as_json:
        sys.stdout.write(json.dumps(result.to_dict(), indent=2) + "\n")
    else:
        how = " (SIGKILL was needed after the grace period)" if result.killed else ""
        sys.stdout.write(f"run {result.run_id[:12]} {result.status} by {result.by} at {result.at}{how}\n")
    return 0 if result.status == "canceled" else 1
