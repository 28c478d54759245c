"""``git run resume ID``: a failed, canceled or crashed pipeline run finished as a
new run of its group (see :mod:`gitruns.pipelines.resume`).

On a terminal, a line on stderr as each step starts and ends, as for ``git run
pipeline``; always (but with -q) one end line naming the new run; --json prints
the new run's record on stdout.
"""
from __future__ import annotations

import json
import os
import sys

from ..pipelines.resume import ResumeOptions
from ..pipelines.resume import resume as run_resume
from ..terminal import json_text, safe, warning_text
from ..terminal import say as _say
from ..terminal import stderr_is_tty as _stderr_is_tty
from .pipeline import _step_line, final_line


def resume(run_id: str, jobs: int | None, fail_fast: bool, name: str | None, tags: list[str], quiet: bool,
           as_json: bool) -> int:
    """Resume the run; the exit code (0, 1 a step failed, 128+N canceled by signal N)."""
    argv = ["git", "run", *sys.argv[1:]] if "resume" in sys.argv[1:] else ["git", "run", "resume", run_id]
    progress = _step_line if _stderr_is_tty() and not quiet and not as_json else None
    outcome = run_resume(run_id, ResumeOptions(jobs=jobs, fail_fast=True if fail_fast else None, name=name,
                                               tags=list(tags), argv=argv, cwd=os.getcwd(), progress=progress))
    for message in outcome.errors:
        _say(f"gitruns: error: {warning_text(' '.join(message.split()), 1000)}")
    if as_json:
        sys.stdout.write(json_text(json.dumps(outcome.to_dict(), indent=2, ensure_ascii=False)) + "\n")
    elif not quiet:
        of = safe(str(outcome.record.get("rerun_of") or "")[:12])
        _say(f"gitruns: {final_line(outcome)}, resuming {of}")
    return outcome.exit_code
