"""The crash log: what an internal error (exit 3) leaves behind for its report.

A ten-hour run that ends in a bug cannot simply be rerun with ``--debug``, so,
as pre-commit does (``~/.cache/pre-commit/pre-commit.log``), every exit 3 writes
the versions, the command line and the traceback to a file, and the error line
names that file.  The file is ``gitruns/crash.log`` under the repository's
common git dir (beside the listing cache, shared by worktrees) when the command
ran in a repository, else ``$XDG_CACHE_HOME/gitruns/crash.log``
(``~/.cache/gitruns/crash.log``).  Each crash replaces the previous log: it is
the last crash that the error line points to.

The command line may carry secrets (``--token X``, ``https://user:pw@host``), so
it is written through :func:`gitruns.redact.argv`, as records are.  Nothing here
may raise: a crash log that cannot be written is only a missing hint.
"""
from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
import sys
import traceback

LOG_NAME = "crash.log"


def _git_common_dir() -> str | None:
    """The common git dir of the repository the command ran in (GIT_DIR honoured,
    as git itself resolves it), or None outside one."""
    try:
        proc = subprocess.run(["git", "rev-parse", "--git-common-dir"], capture_output=True, text=True,
                              timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    path = proc.stdout.strip()
    if proc.returncode != 0 or not path:
        return None
    return os.path.abspath(path)


def _cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "gitruns")


def candidates() -> list[str]:
    """Where a crash log goes, in order of preference."""
    places = []
    common = _git_common_dir()
    if common is not None:
        places.append(os.path.join(common, "gitruns", LOG_NAME))
    places.append(os.path.join(_cache_dir(), LOG_NAME))
    return places


def _git_version() -> str:
    try:
        proc = subprocess.run(["git", "--version"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"unknown ({exc})"
    return proc.stdout.strip().removeprefix("git version ") or "unknown"


def _pygit2_version() -> str:
    try:
        import pygit2
    except Exception as exc:  # noqa: BLE001 - a broken install is what a crash log must survive
        return f"not importable ({type(exc).__name__}: {exc})"
    return f"{getattr(pygit2, '__version__', '?')} (libgit2 {pygit2.LIBGIT2_VERSION})"


def versions() -> list[tuple[str, str]]:
    from . import __version__

    return [
        ("gitruns", __version__),
        ("python", sys.version.replace("\n", " ")),
        ("executable", sys.executable),
        ("git", _git_version()),
        ("pygit2", _pygit2_version()),
        ("platform", platform.platform()),
    ]


def report(exc: BaseException, argv: list[str]) -> str:
    """The text of a crash log: versions, the redacted command line, the traceback."""
    import shlex

    from .redact import argv as redact_argv
    from .redact import scrub_text

    lines = ["### gitruns crash log", "",
             f"time: {dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds')}",
             f"cwd: {os.getcwd() if os.path.isdir('.') else '?'}",
             f"command: {shlex.join(['git', 'run', *redact_argv(list(argv))])}",
             "", "### versions", ""]
    lines += [f"{name}: {value}" for name, value in versions()]
    lines += ["", "### traceback", ""]
    # Messages in the traceback may quote a URL with its password, as argv may.
    lines += [scrub_text(part.rstrip("\n")) for part in traceback.format_exception(type(exc), exc, exc.__traceback__)]
    return "\n".join(lines) + "\n"


def write(exc: BaseException, argv: list[str]) -> str | None:
    """Write the crash log for ``exc``; return its path, or None if no place took it."""
    try:
        text = report(exc, argv)
    except Exception:  # noqa: BLE001 - never let the crash log hide the crash
        text = "### gitruns crash log\n\n" + "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    for path in candidates():
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            tmp = f"{path}.{os.getpid()}.tmp"
            with open(tmp, "w", encoding="utf-8", errors="backslashreplace") as fh:
                fh.write(text)
            os.replace(tmp, path)
        except OSError:
            continue
        return path
    return None
