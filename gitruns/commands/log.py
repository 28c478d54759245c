from __future__ import annotations

import sys

from .. import reading, runlogs


def log(run_id: str, stdout: bool, stderr: bool, step: str | None = None) -> int:
    """Replay captured output: stdout to stdout and stderr to stderr, or one stream to stdout;
    with ``step``, that step's of a pipeline run.

    Streamed in 1 MiB chunks straight to the file descriptors, so a log of any
    size costs little memory and every byte is written; a reader that goes
    away (``| head``) ends us quietly (the CLI maps EPIPE to exit 141)."""
    run = reading.load(run_id)
    logs = run.logs if step is None else run.step_logs(step)  # an unknown step: exit 2, before any output
    sys.stdout.flush()
    sys.stderr.flush()
    out_fd, err_fd = sys.stdout.fileno(), sys.stderr.fileno()
    if stdout or stderr:
        plan = [(stream, out_fd) for stream, wanted in (("stdout", stdout), ("stderr", stderr)) if wanted]
    else:
        plan = [("stdout", out_fd), ("stderr", err_fd)]
    for stream, fd in plan:
        for chunk in logs.chunks(stream):
            runlogs.write_all(fd, chunk)
    return 0
