from __future__ import annotations

import sys

from .. import logs, lookup, sharing
from ..cache import local_cache
from ..repo import open_repo


def log(run_id: str, stdout: bool, stderr: bool) -> int:
    """Replay captured output: stdout to stdout and stderr to stderr, or one stream to stdout.

    Streamed in 1 MiB chunks straight to the file descriptors, so a log of any
    size costs little memory and every byte is written; a reader that goes
    away (``| head``) ends us quietly (the CLI maps EPIPE to exit 141)."""
    repo = open_repo()
    run = lookup.load(repo, run_id)
    cache = local_cache(repo)
    sharing.fetch_logs(repo, run, cache)  # full logs kept outside git come from the store if need be
    sys.stdout.flush()
    sys.stderr.flush()
    out_fd, err_fd = sys.stdout.fileno(), sys.stderr.fileno()
    if stdout or stderr:
        plan = [(stream, out_fd) for stream, wanted in (("stdout", stdout), ("stderr", stderr)) if wanted]
    else:
        plan = [("stdout", out_fd), ("stderr", err_fd)]
    for stream, fd in plan:
        for chunk in logs.chunks(repo, run, stream, cache):
            logs.write_all(fd, chunk)
    return 0
