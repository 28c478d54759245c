"""The one exception hierarchy of gitruns.

Every expected failure is a :class:`GitrunsError`; the CLI edge turns it into a
single line on stderr and its ``exit_code``.  Anything else is a bug.
"""
from __future__ import annotations


class GitrunsError(Exception):
    """An expected failure, reported to the user in one line."""

    exit_code = 1


class UsageError(GitrunsError):
    """Bad usage or bad input (exit 2)."""

    exit_code = 2


class NotARepository(UsageError):
    """The current directory is not inside a git repository."""


class UnknownRun(UsageError):
    """No run matches the id or prefix given."""


class AmbiguousRun(UsageError):
    """More than one run matches a prefix."""

    def __init__(self, prefix: str, candidates: list[str]) -> None:
        shown = ", ".join(candidates[:10])
        more = f" and {len(candidates) - 10} more" if len(candidates) > 10 else ""
        super().__init__(f"run id '{prefix}' is ambiguous: {shown}{more}")
        self.candidates = candidates


class ConfigError(UsageError):
    """A configuration file or override could not be read."""


class PathError(UsageError):
    """A path is unreadable or escapes the working tree."""


class DirtyTreeRefused(GitrunsError):
    """The working tree is dirty and gitruns.dirty is 'refuse'."""


class RecordError(GitrunsError):
    """A run record is malformed or of an unknown schema."""


class GitCommandError(GitrunsError):
    """A git subprocess failed."""

    def __init__(self, argv: list[str], returncode: int, stderr: str) -> None:
        detail = stderr.strip().splitlines()[-1] if stderr.strip() else "no output"
        super().__init__(f"'{' '.join(argv)}' exited {returncode}: {detail}")
        self.argv = argv
        self.returncode = returncode
        self.stderr = stderr


class ConcurrentUpdate(GitrunsError):
    """A run ref moved while we were updating it."""
