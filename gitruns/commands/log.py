from __future__ import annotations

import sys

from .. import sharing, showing, store
from ..repo import open_repo


def log(run_id: str, stdout: bool, stderr: bool) -> int:
    """Replay captured output: stdout to stdout and stderr to stderr, or one stream to stdout."""
    repo = open_repo()
    run = store.load(repo, run_id)
    cache = sharing.local_cache(repo)
    sharing.fetch_logs(repo, run, cache)  # full logs kept outside git come from the store if need be
    sys.stdout.flush()
    if stdout or stderr:
        for stream, wanted in (("stdout", stdout), ("stderr", stderr)):
            if wanted:
                sys.stdout.buffer.write(showing.log_bytes(repo, run, stream, cache))
        sys.stdout.buffer.flush()
        return 0
    sys.stdout.buffer.write(showing.log_bytes(repo, run, "stdout", cache))
    sys.stdout.buffer.flush()
    sys.stderr.buffer.write(showing.log_bytes(repo, run, "stderr", cache))
    sys.stderr.buffer.flush()
    return 0
