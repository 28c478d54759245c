"""``git run exec``: run a command and record it.

Signals: SIGTERM and SIGHUP sent to us are forwarded to the command and the run
is recorded as ``canceled``.  SIGINT is forwarded too, except when it came from
the terminal: then the command, being in our foreground process group, has
already received it, and a second one would interrupt its own clean-up.

Nothing here prints: errors about the record go to the ``report`` callback
(``git run exec`` prints them, one line each), warnings through
:func:`gitruns.warn.warn`, and the outcome is returned for the caller to tell.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

from .capture import CaptureProblems, StreamCapture
from .launchspec import LaunchSpec
from .outcome import Outcome
from .session import Session

_FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# After the command exits, stdout and stderr together get this long to reach
# end-of-file; a background process still holding them is then left behind.
CAPTURE_DEADLINE_S = 5.0


class _Signals:
    def __init__(self) -> None:
        self.received: list[int] = []
        self.child: subprocess.Popen[bytes] | None = None
        self.previous: dict[int, Any] = {}
        # Set once the run is launched: the grace of a 'git run cancel' request, if
        # one was written for this run (None: SIGTERM came from elsewhere).
        self.cancel_grace: Callable[[], float | None] = lambda: None
        self.killer: threading.Timer | None = None
        self.killed = False

    def install(self) -> None:
        for sig in _FORWARDED:
            self.previous[sig] = signal.signal(sig, self._handle)

    def restore(self) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.received.append(signum)
        child = self.child
        if child is None or child.returncode is not None:
            return
        if signum == signal.SIGINT and _terminal_sent_it():
            return
        grace = self.cancel_grace() if signum == signal.SIGTERM and self.killer is None else None
        if grace is not None:
            self._cancel(grace)
            return
        try:
            child.send_signal(signum)
        except OSError:
            pass

    def _cancel(self, grace: float) -> None:
        """'git run cancel': SIGTERM to the command and everything below it (it runs in
        our process group, which may hold the user's shell: never killpg), then
        SIGKILL to what is left after the grace period."""
        from .cancel import descendants, signal_all

        family = descendants(os.getpid())
        signal_all(family, signal.SIGTERM)

        def kill() -> None:
            left = {**family, **descendants(os.getpid())}
            if signal_all(left, signal.SIGKILL):
                self.killed = True

        self.killer = threading.Timer(grace, kill)
        self.killer.daemon = True
        self.killer.start()


def _terminal_sent_it() -> bool:
    """True when we are the terminal's foreground group (so ^C reached the child too)."""
    for fd in (0, 1, 2):
        try:
            if os.isatty(fd):
                return os.tcgetpgrp(fd) == os.getpgrp()
        except OSError:
            continue
    return False


def _ignore(message: str) -> None:
    pass


def execute(spec: LaunchSpec, report: Callable[[str], None] = _ignore, session: Session | None = None) -> Outcome:
    """Run the command of ``spec`` as a recorded run; return how it ended (its
    ``exit_code`` is the code to exit with).  ``report`` is told each error about the
    run's record as it happens (it may be called from a capture thread).  ``session``:
    one made for ``spec`` on another repository (rerun's temporary worktree)."""
    session = session or Session(spec)
    signals = _Signals()
    signals.install()
    try:
        session.launch()
        signals.cancel_grace = lambda: _cancel_grace(session)
        outcome = _run_child(session, signals, report)
    finally:
        signals.restore()
    for message in session.errors:
        report(message)
    return outcome


def _cancel_grace(session: Session) -> float | None:
    from .cancel import read_request

    request = read_request(session.repo, session.run_id)
    if request is None:
        return None
    try:
        return max(0.0, float(request.get("grace_s", 10.0)))
    except (TypeError, ValueError):
        return 10.0


def _run_child(session: Session, signals: _Signals, report: Callable[[str], None]) -> Outcome:
    out_spool = os.path.join(session.run_dir, "stdout.spool")
    err_spool = os.path.join(session.run_dir, "stderr.spool")
    if signals.received:  # canceled before the command could start
        sig = signals.received[0]
        return session.finish("canceled", 128 + sig, None,
                              {"type": "canceled", "message": f"{signal.Signals(sig).name} before the command started"})
    problems = CaptureProblems(report=report)
    out = StreamCapture(sys.stdout.fileno(), out_spool, problems)
    err = StreamCapture(sys.stderr.fileno(), err_spool, problems)
    try:
        child = subprocess.Popen(
            session.argv, cwd=session.spec.cwd, env=session.command_env(),
            stdout=out.child_fd, stderr=err.child_fd,
        )
    except (FileNotFoundError, PermissionError, NotADirectoryError, OSError) as exc:
        out.abandon()
        err.abandon()
        not_found = isinstance(exc, FileNotFoundError)
        code = 127 if not_found else 126
        what = "command not found" if not_found else "command could not be started"
        message = f"{what}: {session.argv[0]} ({exc.strerror or exc})"
        report(message)
        return session.finish("failed", code, None, {"type": "launch", "message": message})
    signals.child = child
    out.start()
    err.start()
    while True:
        try:
            returncode = child.wait()
            break
        except KeyboardInterrupt:  # pragma: no cover - handlers are installed
            continue
    deadline = time.monotonic() + CAPTURE_DEADLINE_S  # one deadline for both streams
    out.finish(deadline - time.monotonic())
    err.finish(deadline - time.monotonic())
    canceled_by = next((s for s in signals.received), None)
    signal_num = -returncode if returncode < 0 else None
    exit_code = 128 + signal_num if signal_num else returncode
    error: dict[str, Any] | None = None
    if signals.killer is not None:
        signals.killer.cancel()
    if canceled_by is not None:
        status = "canceled"
        how = f"command {'killed by ' + signal.Signals(signal_num).name if signal_num else f'exited {returncode}'}"
        error = {"type": "canceled", "message": f"{signal.Signals(canceled_by).name} received; {how}"}
        if signals.killer is not None:
            from .cancel import read_request, record_of

            killed = signals.killed or signal_num == signal.SIGKILL
            cancel, said = record_of(read_request(session.repo, session.run_id), killed)
            if cancel is not None:
                session.rec["cancel"] = cancel
                error["message"] = f"{said}; {how}"
    elif returncode == 0:
        status = "succeeded"
    else:
        status = "failed"
        if signal_num:
            message = f"command killed by signal {signal.Signals(signal_num).name}"
        else:
            message = f"command exited with code {returncode}"
        if out.reader_gone or err.reader_gone:
            message += " (the reader of git run's output went away)"
        error = {"type": "exit", "message": message, "stderr_tail": _tail(err_spool)}
    status, error = _capture_outcome(status, error, problems, [s for s in (out, err) if s.cut_short])
    return session.finish(status, exit_code, signal_num, error, out_spool, err_spool)


def _capture_outcome(status: str, error: dict[str, Any] | None, problems: CaptureProblems,
                     held: list[StreamCapture]) -> tuple[str, dict[str, Any] | None]:
    """Fold what went wrong while capturing into the run's status and error.

    A spool that could not be written makes the run failed (its record lacks
    output), with error.type "disk_full" when the disk was full.  A stream still
    held open at the deadline leaves the status alone: everything the command
    printed before it exited was taken; the note says output after that is not.
    """
    notes = []
    if held:
        names = " and ".join("stdout" if s.spool_path.endswith("stdout.spool") else "stderr" for s in held)
        notes.append(f"output capture stopped {CAPTURE_DEADLINE_S:g} s after the command exited: {names} "
                     "still held open by another process (a background child?); its later output is not recorded")
    if problems.type is not None and status == "canceled" and error is not None:
        # Canceled stays the reason; the capture problem is told alongside it.
        return status, {**error, "message": "; ".join([str(error.get("message")),
                                                       problems.message or "output capture failed", *notes])}
    if problems.type is not None:
        message = problems.message or "output capture failed"
        if error is not None:
            message = f"{message}; {error.get('message')}"
        new_error: dict[str, Any] = {"type": problems.type, "message": "; ".join([message, *notes])}
        if error is not None and error.get("stderr_tail"):
            new_error["stderr_tail"] = error["stderr_tail"]
        return "failed", new_error
    if notes:
        if error is None:
            return status, {"type": "capture", "message": "; ".join(notes)}
        return status, {**error, "message": "; ".join([str(error.get("message")), *notes])}
    return status, error


def _tail(path: str, lines: int = 20, limit: int = 4096) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - limit))
            data = fh.read()
    except OSError:
        return ""
    text = data.decode(errors="replace")
    return "\n".join(text.splitlines()[-lines:])
