"""What fetch tells the run index: commits whose record it refused (and why), so a
bad run fetched into a tracking ref is reported once, not on every listing.

Kept apart from ``runindex`` so that fetching does not sync the whole index.
"""
from __future__ import annotations

from .repo import Repo


class ListingIndex:
    """The refusals part of the run index (gitruns.runindex)."""

    def __init__(self, repo: Repo) -> None:
        self.repo = repo

    def refuse(self, items: list[tuple[str, str]]) -> None:
        """Note that the records of these commits (commit id, reason) were refused."""
        if not items:
            return
        from .runindex import RunIndex

        with RunIndex.open(self.repo, sync=False) as index:
            index.refuse(items)
