"""What a verb raised, as git run's exit code, without click: both the click CLI
(``gitruns.cli``) and the verbs ``gitruns.main`` calls directly go through ``call``.

Expected errors print one line and exit with their code (1, or 2 for bad usage or
input); ^C exits 130; stdout's reader going away ends the process as git's do
(killed by SIGPIPE, 141 in the shell); a bug exits 3 with one line naming its
crash log (gitruns.crashlog), and its traceback on stderr with ``--debug`` or
GITRUNS_DEBUG=1.
"""
from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable

from .errors import GitrunsError

BUG_EXIT = 3
_broken_pipe = False  # set when stdout's reader went away


def call(fn: Callable[[], object], argv: list[str]) -> int:
    """Run ``fn`` (a verb: it returns, or ends with SystemExit) and return the exit code."""
    global _broken_pipe
    try:
        fn()
        return 0
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except GitrunsError as exc:
        from .terminal import warning_text

        # Errors may quote a record's paths or names: never raw on the terminal.
        print(f"git run: error: {warning_text(exc, 1000)}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # Our reader (head, a closed pipe) went away: git dies of SIGPIPE, silently
        # (141 in the shell); finish() does the same.  A pager quitting early is
        # handled in pager.py and is a success.
        _broken_pipe = True
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keep interpreter shutdown quiet
        except OSError:
            pass
        return 141
    except Exception as exc:  # noqa: BLE001 - the one place bugs are turned into an exit code
        return internal_error(exc, argv)


def internal_error(exc: Exception, argv: list[str]) -> int:
    """A bug: one line naming the crash log (versions, command, traceback), and the
    traceback itself on stderr with --debug or GITRUNS_DEBUG=1."""
    from .crashlog import write
    from .redact import scrub_text
    from .terminal import warning_text

    log = write(exc, argv)
    where = f"the crash log is {log}" if log else "no crash log could be written"
    if os.environ.get("GITRUNS_DEBUG"):
        traceback.print_exception(type(exc), exc, exc.__traceback__)
        print(f"git run: internal error ({where})", file=sys.stderr)
    else:
        message = warning_text(scrub_text(f"{type(exc).__name__}: {exc}"), 300)
        print(f"git run: internal error: {message} ({where}; "
              "rerun with 'git run --debug ...' for the traceback)", file=sys.stderr)
    return BUG_EXIT


def finish(code: int) -> None:
    """End the process with ``code``, or killed by SIGPIPE as git is when its reader went away."""
    if _broken_pipe:
        _die_of_sigpipe()
    sys.exit(code)


def _die_of_sigpipe() -> None:
    """End as git does when its reader goes away: killed by SIGPIPE, no message."""
    import signal

    try:
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGPIPE)
