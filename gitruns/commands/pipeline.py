"""``git run pipeline``: run a pipeline's steps as one recorded run.

On a terminal, a line on stderr as each step starts and ends (the steps' own
output goes to the record: ``git run log ID --step NAME``); always one end line
naming the run, how it ended, and how many steps did what.
"""
from __future__ import annotations

import os
import sys

from ..pipelines.engine import PipelineOutcome, StepEvent
from ..pipelines.engine import pipeline as run_pipeline
from ..terminal import safe, warning_text
from ..terminal import say as _say
from ..terminal import stderr_is_tty as _stderr_is_tty
from .exec_ import duration, parse_lineage

_ORDER = ("succeeded", "cached", "failed", "skipped", "canceled")


def pipeline(targets: list[str], file: str | None, jobs: int, overrides: list[str], config_files: list[str],
             force: bool, force_steps: list[str], fail_fast: bool, name: str | None, tags: list[str],
             lineage: str | None = None) -> int:
    """Run the pipeline; return the exit code (0, 1 a step failed, 128+N canceled by signal N)."""
    # What the user typed, as the record keeps it (exec keeps the command it ran).
    argv = ["git", "run", *sys.argv[1:]] if "pipeline" in sys.argv[1:] else ["git", "run", "pipeline", *targets]
    if lineage is not None and "--lineage" in argv:  # sweep's bookkeeping, not what the user typed
        at = argv.index("--lineage")
        del argv[at:at + 2]
    outcome = run_pipeline(file, targets, jobs=jobs, config_files=config_files, overrides=overrides, force=force,
                           force_steps=force_steps, fail_fast=fail_fast, name=name, tags=tags, argv=argv,
                           cwd=os.getcwd(), progress=_step_line if _stderr_is_tty() else None,
                           lineage=parse_lineage(lineage))
    for message in outcome.errors:
        _say(f"gitruns: error: {warning_text(' '.join(message.split()), 1000)}")
    _say(f"gitruns: {final_line(outcome)}")
    return outcome.exit_code


def final_line(outcome: PipelineOutcome) -> str:
    """``run 01m856dw0a1b failed at step train in 3.2s (2 succeeded, 1 cached, 1 skipped)``."""
    rec = outcome.record
    took = f"in {duration(float(rec.get('duration_s') or 0.0))}"
    counts = outcome.counts
    summary = ", ".join(f"{counts[s]} {s}" for s in _ORDER if counts.get(s))
    run = f"run {outcome.run_id[:12]}"
    error = rec.get("error")
    if outcome.status == "failed" and error and error.get("step"):
        head = f"{run} failed at step {safe(error.get('step'))}"
    elif outcome.status == "canceled":
        head = f"{run} canceled (exit {outcome.exit_code})"
    else:
        head = f"{run} {outcome.status}"
    return f"{head} {took}" + (f" ({summary})" if summary else "")


def _step_line(event: StepEvent) -> None:
    name = safe(event.step)
    if event.status == "running":
        text = f"step {name} started" + (f" (attempt {event.attempt})" if event.attempt > 1 else "")
    elif event.status == "retrying":
        text = f"step {name} attempt {event.attempt} failed ({warning_text(event.message or '', 200)}); retrying"
    elif event.status == "cached":
        origin = event.cached_from or {"run": "?", "step": "?"}
        text = f"step {name} cached (from run {safe(origin['run'][:12])} step {safe(origin['step'])})"
    elif event.status in ("skipped", "canceled") or event.duration_s is None:
        text = f"step {name} {event.status}" + (f": {warning_text(event.message, 200)}" if event.message else "")
    else:
        text = f"step {name} {event.status} in {duration(event.duration_s)}"
        if event.status == "failed" and event.message:
            text += f": {warning_text(event.message, 200)}"
    _say(f"gitruns: {text}")
