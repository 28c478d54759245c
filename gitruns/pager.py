"""Paging a verb's output through git's pager, by git's rules.

A read verb (ls, show, diff, log) pages when its stdout is a terminal, through
the pager git would use (``git var GIT_PAGER``: GIT_PAGER, core.pager, PAGER,
git's default; ``cat`` or empty means none), with ``LESS=FRX`` and ``LV=-c``
when those are unset, as git sets them.  Never when stdout is not a terminal,
nor when git already started a pager (GIT_PAGER_IN_USE, set by
``git -p run ...`` and ``pager.run=true``).  ``git --no-pager run ...`` reaches
us as GIT_PAGER=cat; ``git run --no-pager VERB`` and ``git run --paginate VERB``
decide for one invocation.  ``pager.run.<verb>`` in git config works like
git's ``pager.<cmd>``: false turns paging off for that verb, true on, any other
value is the pager command to use for it.

The pager quitting before everything was written (``q`` in less) is not an
error: the user has seen what they wanted.

Use::

    with pager.paged("ls"):
        ...write the output...
"""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

READ_VERBS = ("ls", "show", "diff", "log")
_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")

_requested: bool | None = None  # --paginate (True) / --no-pager (False) on the command line


def request(choice: bool | None) -> None:
    """Remember ``--paginate`` (True) or ``--no-pager`` (False); None: neither."""
    global _requested
    _requested = choice


def in_use() -> bool:
    """Whether git (or we) already started a pager that our stdout goes to."""
    return os.environ.get("GIT_PAGER_IN_USE", "").lower() in _TRUE


def _git(args: list[str]) -> tuple[int, str]:
    try:
        proc = subprocess.run(["git", *args], capture_output=True, text=True, check=False)
    except OSError:
        return 127, ""
    return proc.returncode, proc.stdout


def verb_setting(verb: str) -> bool | str | None:
    """``pager.run.<verb>``: True, False, a pager command, or None when unset."""
    code, out = _git(["config", "--get", f"pager.run.{verb}"])
    if code != 0:
        return None
    value = out.rstrip("\n")
    if value.lower() in _TRUE or value == "":
        return True
    if value.lower() in _FALSE:
        return False
    return value


def git_pager() -> str | None:
    """The pager git would use, or None for none (``cat`` or empty)."""
    value = os.environ.get("GIT_PAGER")  # git's first choice: no need to ask
    if value is None:
        code, out = _git(["var", "GIT_PAGER"])
        value = out.strip() if code == 0 else ""
    value = value.strip()
    if not value or value == "cat":
        return None
    return value


def pager_for(verb: str) -> str | None:
    """The pager command for ``verb`` now, or None not to page."""
    if _requested is False or in_use():
        return None
    try:
        if not os.isatty(sys.stdout.fileno()):
            return None
    except (OSError, ValueError, AttributeError):
        return None
    if verb not in READ_VERBS:
        return None
    setting = verb_setting(verb)
    if _requested is None and setting is False:
        return None
    if isinstance(setting, str):
        return setting if setting.strip() and setting.strip() != "cat" else None
    return git_pager()


def _stderr_is_tty() -> bool:
    try:
        return os.isatty(2)
    except OSError:
        return False


@contextmanager
def paged(verb: str) -> Iterator[bool]:
    """Send stdout (and stderr, when it is the terminal too, as git does) to the
    pager for the duration; yields whether a pager was started."""
    command = pager_for(verb)
    if command is None:
        yield False
        return
    env = dict(os.environ)
    env.setdefault("LESS", "FRX")
    env.setdefault("LV", "-c")
    env["GIT_PAGER_IN_USE"] = "true"
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        # A shell command, as git runs it (core.pager may hold options and pipes).
        proc = subprocess.Popen(command, shell=True, stdin=subprocess.PIPE, env=env)
    except OSError:
        yield False
        return
    assert proc.stdin is not None
    saved_out = os.dup(1)
    saved_err = os.dup(2) if _stderr_is_tty() else None
    os.dup2(proc.stdin.fileno(), 1)
    if saved_err is not None:
        os.dup2(proc.stdin.fileno(), 2)
    proc.stdin.close()
    # git commands we run from here on know a pager is there (and colour for it).
    previous = os.environ.get("GIT_PAGER_IN_USE")
    os.environ["GIT_PAGER_IN_USE"] = "true"
    try:
        yield True
    except BrokenPipeError:
        pass  # the pager quit early: not an error
    finally:
        _drain(sys.stdout, 1)
        _drain(sys.stderr, 2)
        # Putting the terminal back closes our ends of the pipe: the pager sees the end.
        os.dup2(saved_out, 1)
        os.close(saved_out)
        if saved_err is not None:
            os.dup2(saved_err, 2)
            os.close(saved_err)
        if previous is None:
            os.environ.pop("GIT_PAGER_IN_USE", None)
        else:
            os.environ["GIT_PAGER_IN_USE"] = previous
        _wait(proc)


def _drain(stream: object, fd: int) -> None:
    """Flush what Python still buffers for ``fd`` into the pager; if the pager is
    gone, into /dev/null, so it cannot spill onto the terminal afterwards."""
    flush = getattr(stream, "flush", None)
    if flush is None:
        return
    try:
        flush()
        return
    except (BrokenPipeError, OSError, ValueError):
        pass
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
        try:
            flush()
        except (OSError, ValueError):
            pass
    finally:
        os.close(devnull)


def _wait(proc: subprocess.Popen[bytes]) -> None:
    """Wait for the pager; ^C meanwhile goes to the pager (less ignores it), not to us."""
    while True:
        try:
            proc.wait()
            return
        except KeyboardInterrupt:
            continue
