"""Warnings from the core, which never prints.

Library code calls :func:`warn`; it goes through Python's ``warnings`` module as a
:class:`GitrunsWarning`, so code using gitruns from Python can filter, record or
raise them like any other warning.  The command line (cli.py, and the hooks'
fast path) calls :func:`show_on_stderr`, which prints each as one escaped line on
stderr: ``gitruns: warning: ...``.
"""
from __future__ import annotations

import sys
import warnings
from typing import TextIO


class GitrunsWarning(UserWarning):
    """Something a user should know that did not stop the operation."""


def warn(message: str) -> None:
    """Report *message* as a :class:`GitrunsWarning` (never printed by the core itself)."""
    warnings.warn(message, GitrunsWarning, stacklevel=3)


def show_on_stderr() -> None:
    """For the command line: every GitrunsWarning is one escaped, bounded line on
    stderr, every time (not once per place, as Python's default filter would);
    other warnings are shown as Python shows them."""
    from .terminal import warning_text

    shown = warnings.showwarning

    def show(message: Warning | str, category: type[Warning], filename: str, lineno: int,
             file: TextIO | None = None, line: str | None = None) -> None:
        if not issubclass(category, GitrunsWarning):
            shown(message, category, filename, lineno, file, line)
            return
        try:
            print(f"gitruns: warning: {warning_text(str(message), 1000)}", file=sys.stderr)
        except (OSError, ValueError):
            pass

    warnings.showwarning = show
    warnings.simplefilter("always", GitrunsWarning)
