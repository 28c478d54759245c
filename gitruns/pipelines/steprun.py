"""One attempt of one step: a shell command (``/bin/sh -c CMD``) in its own
process group, its output appended to the step's files under the run's working
directory (never to the terminal: ``git run log ID --step NAME`` prints it),
and the ways an attempt is stopped (timeout, cancel): SIGTERM to the group,
SIGKILL after a grace period.

A Python step (``StepSpec.func``) is started by :mod:`.pystep` instead, which
returns the same kind of :class:`~gitruns.pipelines.plan.Child`.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any

from .. import timeutil
from .plan import Child, StepContext

KILL_GRACE_S = 5.0  # between SIGTERM and SIGKILL of a step's process group


def step_dir(run_dir: str, name: str) -> str:
    """A step's own directory under the run's: its output files, and its
    GITRUNS_RUN_DIR (so gitruns.log_metric from the step lands in the step)."""
    return os.path.join(run_dir, "steps", name)


def mark_attempt(ctx: StepContext, number: int) -> None:
    """A line heading each attempt in both output files (they are appended to)."""
    line = f"[gitruns: step {ctx.step.name}, attempt {number}, started {timeutil.iso(timeutil.now())}]\n"
    for path in (ctx.stdout_path, ctx.stderr_path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(line)


def launch_shell(ctx: StepContext, command: str) -> Child:
    """Start ``command`` for the step of ``ctx``; raises OSError when it cannot start."""
    # Its own process group, so a timeout or a cancel reaches everything it started.
    # (process_group is Python 3.11+; on 3.10 a new session makes a new group too.)
    group: dict[str, Any] = {"process_group": 0} if sys.version_info >= (3, 11) else {"start_new_session": True}
    with open(ctx.stdout_path, "ab") as out, open(ctx.stderr_path, "ab") as err:
        child: subprocess.Popen[bytes] = subprocess.Popen(
            ["/bin/sh", "-c", command], cwd=ctx.cwd, env=ctx.env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
            **group)
    return child


def signal_group(pid: int, sig: int) -> None:
    """Send ``sig`` to the process group led by ``pid`` (gone already: nothing to do)."""
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


@dataclass
class Stopping:
    """An attempt being stopped: SIGTERM sent at ``since``; SIGKILL once the grace is over."""

    reason: str  # "timeout" | "canceled"
    since: float
    killed: bool = False


@dataclass
class Running:
    """An attempt in progress."""

    child: Child
    number: int
    started: float  # time.monotonic()
    started_at: str
    stopping: Stopping | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def stop(self, reason: str, now: float) -> None:
        if self.stopping is None:
            self.stopping = Stopping(reason, now)
            signal_group(self.child.pid, signal.SIGTERM)

    def escalate(self, now: float) -> None:
        """SIGKILL the group once the grace period after SIGTERM is over."""
        if self.stopping is not None and not self.stopping.killed and now - self.stopping.since >= KILL_GRACE_S:
            self.stopping.killed = True
            signal_group(self.child.pid, signal.SIGKILL)


def attempt_tail(path: str, offset: int) -> str:
    """The end of what one attempt wrote (from ``offset``, where its marker line was)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            data = fh.read()
    except OSError:
        return ""
    text = data.decode(errors="replace")
    kept = [line for line in text.splitlines() if not line.startswith("[gitruns: step ")]
    return "\n".join(kept[-20:])[-4096:]
