"""``git run rerun ID``: run an earlier run again from its record, then say how it ended."""
from __future__ import annotations

import json
import sys

from ..rerunning import RerunOptions, RerunOutcome
from ..rerunning import rerun as run_again
from ..terminal import json_text, stdout_to_stderr, warning_text
from ..terminal import say as _say
from .exec_ import duration


def rerun(run_id: str, overrides: list[str], config_files: list[str], from_step: str | None,
          allow_changed_inputs: bool, name: str | None, tags: list[str], quiet: bool, as_json: bool) -> int:
    """Rerun ``run_id``; return the exit code to exit with (the command's or the pipeline's)."""
    if quiet or as_json:
        from ..progress import silence

        silence()
    options = RerunOptions(overrides=list(overrides), config_files=list(config_files), from_step=from_step,
                           allow_changed_inputs=allow_changed_inputs, name=name, tags=list(tags), quiet=quiet)
    with stdout_to_stderr(as_json):
        outcome = run_again(run_id, options)
    for message in outcome.errors:
        _say(f"gitruns: error: {warning_text(' '.join(message.split()), 1000)}")
    if as_json:
        sys.stdout.write(json_text(json.dumps(outcome.to_dict(), indent=2, ensure_ascii=False)) + "\n")
    elif not quiet:
        _say(f"gitruns: {final_line(outcome)}")
    return outcome.exit_code


def final_line(outcome: RerunOutcome, relation: str = "rerun of") -> str:
    """``run 01m8... (rerun of 01m7...) succeeded in 0.3s``."""
    run = f"run {outcome.run_id[:12]} ({relation} {outcome.original[:12]})"
    took = f"in {duration(outcome.duration_s)}"
    if outcome.status == "succeeded":
        return f"{run} succeeded {took}"
    if outcome.status == "canceled":
        return f"{run} canceled (exit {outcome.exit_code}) {took}"
    return f"{run} {outcome.status} (exit {outcome.exit_code}) {took}"
