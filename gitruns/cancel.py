"""``git run cancel ID``: stop a running run of this machine and record it canceled.

The mechanism:

1. The run must be running here: its host is this host and its recorded pid is
   alive and the same process (start ticks and boot id, as
   :func:`gitruns.record.effective_status` judges).
2. A cancel request (who, host, when, the canceller's pid, the grace) is written
   to ``<state dir>/cancel/<run id>.json``, where the running ``git run``
   process finds it.
3. SIGTERM to the recorded pid (the ``git-run`` process).  ``exec`` sends
   SIGTERM to its command and every descendant, the pipeline engine to its
   running steps' process groups; each SIGKILLs what is left after the grace.
   The running process, ending the run, reads the request and records
   ``status: canceled``, ``cancel: {by, host, at, pid, grace_s, killed}`` and
   the error "canceled by USER at TIME".
4. After the grace, whatever of the run is still alive (the descendants of the
   ``git-run`` process, found through ``/proc/*/stat``: never a whole process
   group, which for exec's command is the user's shell's) is SIGKILLed here
   too.  If the ``git-run`` process itself has not ended a while later, it is
   SIGKILLed and the canceled record is written here (a new commit on the
   run's ref, compare-and-swap as ``Session.finish`` does).

Nothing here prints: the result is returned.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import time
from dataclasses import dataclass
from typing import Any

from . import record, timeutil
from .errors import GitrunsError
from .repo import Repo

DEFAULT_GRACE_S = 10.0
# After the grace (and the SIGKILL of its command), how long the git-run process
# gets to write the canceled record itself before it is killed and we write it.
FINISH_MARGIN_S = 15.0
_POLL_S = 0.1


class CannotCancel(GitrunsError):
    """The run is not running on this machine (exit 1)."""


@dataclass
class CancelResult:
    run_id: str
    status: str
    by: str
    at: str
    killed: bool
    written_by_cancel: bool  # the git-run process did not end: its record was written here

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.run_id, "status": self.status, "by": self.by, "at": self.at, "killed": self.killed,
                "record_written_by_cancel": self.written_by_cancel}


def request_path(repo: Repo, run_id: str) -> str:
    return os.path.join(repo.state_dir, "cancel", f"{run_id}.json")


def read_request(repo: Repo, run_id: str) -> dict[str, Any] | None:
    """The cancel request for ``run_id``, if one was written (by this user, on this machine)."""
    try:
        with open(request_path(repo, run_id), encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def record_of(request: dict[str, Any] | None, killed: bool) -> tuple[record.Cancel | None, str | None]:
    """The record's ``cancel`` field and the error message, from a request."""
    if request is None:
        return None, None
    cancel: record.Cancel = {"by": str(request.get("by")), "host": str(request.get("host")),
                             "at": str(request.get("at")), "pid": request.get("pid"),
                             "grace_s": float(request.get("grace_s") or 0.0), "killed": killed}
    return cancel, f"canceled by {cancel['by']} at {cancel['at']}"


def grace_of(repo: Repo, run_id: str, default: float = DEFAULT_GRACE_S) -> float:
    request = read_request(repo, run_id)
    try:
        return float(request["grace_s"]) if request else default
    except (KeyError, TypeError, ValueError):
        return default


# -- processes ---------------------------------------------------------------

def _ppids() -> dict[int, int]:
    out: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                raw = fh.read()
        except OSError:
            continue
        fields = raw[raw.rfind(b")") + 2:].split()
        try:
            out[int(name)] = int(fields[1])
        except (IndexError, ValueError):
            continue
    return out


def descendants(pid: int) -> dict[int, int | None]:
    """Every process below ``pid`` (children, grandchildren, ...), with its start
    ticks (so a pid reused meanwhile is not taken for it)."""
    ppids = _ppids()
    children: dict[int, list[int]] = {}
    for child, parent in ppids.items():
        children.setdefault(parent, []).append(child)
    found: dict[int, int | None] = {}
    todo = list(children.get(pid, []))
    while todo:
        p = todo.pop()
        if p in found:
            continue
        found[p] = record.process_start_ticks(p)
        todo.extend(children.get(p, []))
    return found


def signal_all(procs: dict[int, int | None], sig: int) -> int:
    """Send ``sig`` to each process still the one noted; how many were signalled."""
    sent = 0
    for pid, ticks in procs.items():
        if ticks is not None and record.process_start_ticks(pid) != ticks:
            continue  # gone, its pid reused
        try:
            os.kill(pid, sig)
            sent += 1
        except OSError:
            continue
    return sent


def _same_process(pid: int, ticks: int | None) -> bool:
    now = record.process_start_ticks(pid)
    if now is None:
        return False
    if _zombie(pid):
        return False
    return ticks is None or now == ticks


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            raw = fh.read()
    except OSError:
        return True
    return raw[raw.rfind(b")") + 2:][:1] in (b"Z", b"X")


# -- the verb ------------------------------------------------------------------

def _is_recorder(pid: int) -> bool:
    """Whether ``pid`` runs git-run (or ``python -m gitruns``): a record, which may
    come from someone else, must not be able to make cancel signal any process
    that merely has the right start time (review).  Without /proc, True."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            argv = [a.decode(errors="replace") for a in fh.read().split(b"\0") if a]
    except FileNotFoundError:
        return not os.path.isdir("/proc/self")
    except OSError:
        return False
    for i, arg in enumerate(argv[:4]):
        if os.path.basename(arg) == "git-run" or (arg == "-m" and argv[i + 1:i + 2] == ["gitruns"]):
            return True
    return False


def cancel(run_id: str, grace_s: float = DEFAULT_GRACE_S, repo: Repo | None = None) -> CancelResult:
    """Cancel the running run ``run_id`` (any unique prefix or name) of this machine."""
    from . import lookup
    from .launchspec import user
    from .repo import open_repo

    repo = repo or open_repo(os.getcwd())
    rid = lookup.resolve(repo, run_id)
    rec = _read(repo, rid)
    if rec is None:
        raise CannotCancel(f"run {rid[:12]} is not a local run; only a run of this repository can be canceled")
    short = rid[:12]
    status = record.effective_status(rec)
    if status == "running" and rec.get("host") != socket.gethostname():
        from .terminal import safe

        raise CannotCancel(f"run {short} is running on host {safe(rec.get('host'))}; cancel it there")
    if status == "crashed":
        raise CannotCancel(f"run {short} crashed: its process {rec.get('pid')} is gone, so there is nothing "
                           "to cancel")
    if status != "running":
        raise CannotCancel(f"run {short} already ended ({status} at {rec.get('ended_at')})")
    pid = int(rec["pid"])
    if not _is_recorder(pid):
        raise CannotCancel(f"run {short} names process {pid}, which is not a git-run process (a run made by "
                           "gitruns.start_run(), or a record that does not belong here); not signalled")
    ticks = (rec.get("process") or {}).get("start_ticks")
    at = timeutil.iso(timeutil.now())
    request = {"by": user(), "host": socket.gethostname(), "at": at, "pid": os.getpid(), "grace_s": grace_s}
    path = request_path(repo, rid)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "w", encoding="utf-8") as fh:
        json.dump(request, fh)
    os.replace(path + ".tmp", path)
    try:
        # Noted before SIGTERM: a grandchild whose parent dies of it is re-parented
        # away from the run, and would not be found afterwards.
        family = descendants(pid)
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        killed = False
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and _same_process(pid, ticks):
            time.sleep(_POLL_S)
        if _same_process(pid, ticks):
            family.update(descendants(pid))
        left = {p: t for p, t in family.items() if _same_process(p, t)}
        if left:
            killed = signal_all(left, signal.SIGKILL) > 0
        deadline = time.monotonic() + FINISH_MARGIN_S
        while time.monotonic() < deadline and _same_process(pid, ticks):
            time.sleep(_POLL_S)
        written_here = False
        if _same_process(pid, ticks):
            signal_all({pid: ticks}, signal.SIGKILL)
            killed = True
            while _same_process(pid, ticks):
                time.sleep(_POLL_S)
        final = _read(repo, rid)
        if final is None or final.get("status") == "running":
            _write_canceled(repo, rid, request, killed)
            written_here = True
            final = _read(repo, rid)
    finally:
        try:
            os.unlink(path)
        except OSError:
            pass
    assert final is not None
    cancel_field: dict[str, Any] = dict(final.get("cancel") or {})
    return CancelResult(rid, str(final.get("status")), str(cancel_field.get("by", request["by"])), at,
                        bool(cancel_field.get("killed", killed)), written_here)


def _read(repo: Repo, rid: str) -> record.RunRecord | None:
    from .recordread import read_record
    from .runrefs import ref_name

    try:
        ref = repo.git.references.get(ref_name(rid))
    except (ValueError, KeyError):
        return None
    if ref is None:
        return None
    return read_record(repo.git, str(ref.target))


def _write_canceled(repo: Repo, rid: str, request: dict[str, Any], killed: bool) -> None:
    """The run's final record, written here because its own process could not: a
    new commit on its ref over the last one (compare-and-swap)."""
    from . import runrefs
    from .metricsfile import json_safe
    from .recordread import read_record

    ref = repo.git.references.get(runrefs.ref_name(rid))
    assert ref is not None
    head = str(ref.target)
    rec: dict[str, Any] = dict(read_record(repo.git, head))
    cancel_field, message = record_of(request, killed)
    ended = timeutil.now()
    rec["status"] = "canceled"
    rec["exit_code"] = 128 + signal.SIGKILL
    rec["signal"] = "SIGKILL"
    rec["ended_at"] = timeutil.iso(ended)
    try:
        rec["duration_s"] = round((ended - timeutil.parse_iso(str(rec["started_at"]))).total_seconds(), 3)
    except (KeyError, ValueError, TypeError):
        pass
    rec["cancel"] = cancel_field
    rec["error"] = {"type": "canceled", "message": f"{message}; its git run process did not end and was killed"}
    for step in rec.get("steps") or []:
        if step.get("status") == "running":
            step["status"] = "canceled"
            step["error"] = {"type": "canceled", "message": message}
        elif step.get("status") == "pending":
            step["status"] = "skipped"
            step["error"] = {"type": "skipped", "message": "not run: the run was canceled"}
    runrefs.update_record(repo, head, json_safe(rec), "canceled")
