"""``git run VERB --help`` opens the verb's manual page, as ``git commit --help``
opens git-commit(1).

git itself turns ``git run --help`` into ``git help run`` (git-run(1)); for a verb,
gitruns does the same when ``--help`` directly follows the verb (git's own rule:
``git commit --help``, not ``git commit -a --help``), stdout is a terminal, and the
page is installed (``man -w``).  It is shown by ``git help``, so git's
``help.format`` and ``man.viewer`` apply.  Otherwise (piped, page not installed,
``-h``) the verb's option summary is printed, as before.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

# Global options that may come before the verb (cli.main's own).
_GLOBAL = {"-P", "--no-pager", "-p", "--paginate", "--debug"}


def page_for(args: list[str]) -> str | None:
    """The manual page ``args`` asks for with ``VERB --help`` (or ``GROUP SUB --help``:
    the group's page holds its sub-verbs), else None."""
    i = 0
    while i < len(args) and args[i] in _GLOBAL:
        i += 1
    rest = args[i:]
    if len(rest) == 2 and rest[1] == "--help" or len(rest) == 3 and rest[2] == "--help":
        verb = rest[0]
        if verb.replace("-", "").isalnum() and not verb.startswith("-"):
            return f"git-run-{verb}"
    return None


def open_page(page: str) -> int | None:
    """Show ``page`` through ``git help`` when on a terminal and installed; the exit
    status, or None when the caller should print the option summary instead."""
    if not sys.stdout.isatty() or shutil.which("man") is None:
        return None
    try:
        found = subprocess.run(["man", "-w", page], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return None
    if not found:
        return None
    try:
        return subprocess.run(["git", "help", page], env=os.environ).returncode
    except OSError:
        return None
    except KeyboardInterrupt:
        return 130
