from __future__ import annotations

import os
import sys

from .. import showing, store
from ..cache import ArtifactCache
from ..repo import open_repo
from ..settings import load as load_settings


def log(run_id: str, stdout: bool, stderr: bool) -> int:
    """Replay captured output: stdout to stdout and stderr to stderr, or one stream to stdout."""
    repo = open_repo()
    run = store.load(repo, run_id)
    settings = load_settings(repo.git)
    cache = ArtifactCache(settings.get("gitruns.cacheDir") or os.path.join(repo.state_dir, "cache"))
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
