"""How a run ended: its status once the record's own problems are counted in,
the problems told, and the :class:`Outcome` that ``git run exec`` ends its
output with."""
from __future__ import annotations

from dataclasses import dataclass

from . import record
from .warn import warn

# What could not be recorded, as (kind, message): "record" and "missing" ones (a
# metrics file or an output the command did not write) leave the outcome as it
# is; "storage" and "disk_full" ones (something the run declared to keep, and
# that exists, was not kept) make a succeeded run failed.
Problems = list[tuple[str, str]]


@dataclass
class Outcome:
    """How a run ended, for the line ``git run exec`` ends with."""

    run_id: str
    short_id: str
    status: str  # the record's status, or "crashed" when its final record could not be written
    exit_code: int | None
    signal: str | None
    duration_s: float
    error_type: str | None


def settle(status: str, error: record.Error | None, problems: Problems) -> tuple[str, record.Error | None]:
    """The run's status and error once the record's own problems are counted in."""
    if not problems:
        return status, error
    messages = [message for _, message in problems]
    kinds = {kind for kind, _ in problems}
    if error is None and status == "succeeded":
        if kinds & {"storage", "disk_full"}:
            return "failed", {"type": "disk_full" if "disk_full" in kinds else "storage",
                              "message": "; ".join(messages)}
        return status, {"type": "record", "message": "; ".join(messages)}
    if error is not None:
        error["record_problems"] = messages
    return status, error


def tell(problems: Problems, command_succeeded: bool) -> list[str]:
    """Problems, told once the record is written, one line each: the errors are
    returned for the caller to tell, the others are warnings.  The record holds
    the same text in its error.  A metrics file or an output missing after a
    failed command is its consequence, not news."""
    errors = []
    for kind, message in problems:
        if kind in ("storage", "disk_full"):
            errors.append(" ".join(message.split()))
        elif command_succeeded:
            warn(" ".join(message.split()))
    return errors
