"""Warnings from the core, which never prints.

Library code calls :func:`warn`; it goes through Python's ``warnings`` module as a
:class:`GitrunsWarning`, so code using gitruns from Python can filter, record or
raise them like any other warning.  The CLI (``cli._show_warnings``) prints
each as one escaped line on stderr: ``gitruns: warning: ...``.
"""
from __future__ import annotations

import warnings


class GitrunsWarning(UserWarning):
    """Something a user should know that did not stop the operation."""


def warn(message: str) -> None:
    """Report *message* as a :class:`GitrunsWarning` (never printed by the core itself)."""
    warnings.warn(message, GitrunsWarning, stacklevel=3)
