"""``git run exec``: run a command as a recorded run, then say in one line how it ended.

The core (:mod:`gitruns.execute`, :mod:`gitruns.session`) never prints; this
layer prints the errors it reports, as they happen, and the final line.
"""
from __future__ import annotations

import json
import os
from typing import Any

from ..errors import UsageError
from ..execute import execute
from ..launchspec import LaunchSpec
from ..outcome import Outcome
from ..terminal import say as _say
from ..terminal import warning_text


def exec_(argv: list[str], name: str | None, tags: list[str], config_files: list[str],
          overrides: list[str], inputs: list[str], outputs: list[str], metrics_files: list[str],
          quiet: bool = False, lineage: str | None = None) -> int:
    """Run ``argv``; return the exit code to exit with (the command's own)."""
    if not argv:
        raise UsageError("exec needs a command: git run exec [OPTIONS] -- CMD [ARGS...]")
    if quiet:
        from ..progress import silence

        silence()  # hashing a large input or output draws no bar either
    spec = LaunchSpec(argv=list(argv), cwd=os.getcwd(), name=name, tags=list(tags),
                      config_files=list(config_files), overrides=list(overrides), inputs=list(inputs),
                      outputs=list(outputs), metrics_files=list(metrics_files), substitute=True,
                      lineage=parse_lineage(lineage))
    outcome = execute(spec, report=_error)
    if not quiet:
        _say(f"gitruns: {final_line(outcome)}")
    return outcome.exit_code if outcome.exit_code is not None else 1


def parse_lineage(text: str | None) -> dict[str, Any]:
    """The hidden ``--lineage JSON`` that ``git run sweep`` gives each point's run."""
    if text is None:
        return {}
    from ..session import LINEAGE_FIELDS

    try:
        data = json.loads(text)
    except ValueError:
        raise UsageError("--lineage: expected a JSON object") from None
    if not isinstance(data, dict) or any(k not in LINEAGE_FIELDS for k in data):
        raise UsageError(f"--lineage: expected a JSON object of {', '.join(LINEAGE_FIELDS)}")
    return data


def final_line(outcome: Outcome) -> str:
    """``run 01m856dw succeeded in 3.2s``, ``run ... failed (exit 2) in 0.4s``, ..."""
    run = f"run {outcome.short_id}"
    took = f"in {duration(outcome.duration_s)}"
    code = outcome.exit_code
    if outcome.status == "crashed":
        return f"{run} crashed: its final record could not be written (exit {code}) {took}"
    if outcome.status == "succeeded":
        return f"{run} succeeded {took}"
    if outcome.status == "canceled":
        return f"{run} canceled (exit {code}) {took}"
    if outcome.signal:
        return f"{run} killed by {outcome.signal} (exit {code}) {took}"
    if code == 0 and outcome.error_type:
        # The command succeeded; keeping what it declared did not.
        return f"{run} failed (exit 0, {outcome.error_type.replace('_', ' ')}) {took}"
    return f"{run} failed (exit {code}) {took}"


def duration(seconds: float) -> str:
    """``0.4s``, ``3.2s``, ``59.9s``, ``4m05s``, ``2h03m``."""
    if seconds < 59.95:
        return f"{max(seconds, 0.0):.1f}s"
    whole = int(round(seconds))
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole // 60 % 60:02d}m"


def _error(message: str) -> None:
    """An error about the run's record, told as it happens (possibly from a capture thread)."""
    _say(f"gitruns: error: {warning_text(' '.join(message.split()), 1000)}")
