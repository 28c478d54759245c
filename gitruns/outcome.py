"""How a run ended: its status once the record's own problems are counted in,
the problems told, and the :class:`Outcome` that ``git run exec`` ends its
output with."""
from __future__ import annotations

from dataclasses import dataclass

from . import record, runid, timeutil
from .repo import Repo
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


def of(rec: record.RunRecord, repo: Repo, exit_code: int | None, final_written: bool) -> Outcome:
    """The outcome of the run ``rec`` records ("crashed" when its final record was not written)."""
    duration = rec.get("duration_s")
    if not isinstance(duration, (int, float)):
        started = timeutil.parse_iso(rec["started_at"])
        duration = round((timeutil.now() - started).total_seconds(), 3)
    error = rec.get("error")
    return Outcome(
        run_id=rec["id"], short_id=short_id(repo, rec["id"]),
        status=str(rec["status"]) if final_written else "crashed",
        exit_code=exit_code, signal=rec.get("signal"), duration_s=float(duration),
        error_type=error.get("type") if isinstance(error, dict) else None,
    )


def short_id(repo: Repo, run_id: str) -> str:
    """The shortest unique prefix of a run's id among the repository's runs (as ls shows it)."""
    prefix = "refs/runs/" + run_id[:runid.MIN_ABBREV]
    try:
        near = [name.removeprefix("refs/runs/") for name in repo.git.references if name.startswith(prefix)]
    except Exception:  # noqa: BLE001 - only for display
        near = []
    return runid.abbreviations([*{run_id, *near}]).get(run_id, run_id)


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


def incomplete(error: record.Error | None, detail: str) -> record.Error:
    """The error of a run whose record could not be completed: the run's own error
    (if any), its message saying what gitruns could not do."""
    failure: record.Error = error.copy() if error else {"type": "record", "message": ""}
    failure["message"] = ((error.get("message", "") + "; " if error else "")
                          + f"gitruns could not complete the record: {detail}")
    return failure
