"""The listing index (``records.sqlite`` in the state dir): run.json bytes by commit id.

Listing 10,000 runs reads 10,000 small rows, not 10,000 commits, trees and
blobs.  Keyed by commit id, it never goes stale.  It also remembers the commits
whose record was refused (and why), so a bad run fetched into a tracking ref is
reported once, not on every listing.  Losing it only costs time.
"""
from __future__ import annotations

import os
import sqlite3

from . import record
from .repo import Repo


class ListingIndex:
    """commit id -> run.json bytes, and commit id -> why its record was refused."""

    def __init__(self, repo: Repo) -> None:
        self.db: sqlite3.Connection | None = None
        try:
            os.makedirs(repo.state_dir, exist_ok=True)
            self.db = sqlite3.connect(os.path.join(repo.state_dir, "records.sqlite"), timeout=30,
                                      isolation_level=None)
            self.db.execute("CREATE TABLE IF NOT EXISTS records (commit_id TEXT PRIMARY KEY, json BLOB)")
            # A refusal holds for the reader that made it: another gitruns
            # version (newer schemas, other limits) judges again.
            self.db.execute("CREATE TABLE IF NOT EXISTS refused (commit_id TEXT PRIMARY KEY, reason TEXT, "
                            "reader TEXT)")
        except (sqlite3.Error, OSError):
            self.db = None

    def get_many(self, commits: list[str]) -> dict[str, bytes]:
        if self.db is None:
            return {}
        try:
            rows = self.db.execute("SELECT commit_id, json FROM records").fetchall()
        except sqlite3.Error:
            return {}
        wanted = set(commits)
        return {c: j for c, j in rows if c in wanted}

    def put_many(self, items: list[tuple[str, bytes]]) -> None:
        if self.db is None or not items:
            return
        try:
            self.db.execute("BEGIN")
            self.db.executemany("INSERT OR REPLACE INTO records VALUES (?, ?)", items)
            self.db.execute("COMMIT")
        except sqlite3.Error:
            pass

    def refused(self) -> dict[str, str]:
        """commit id -> why its record was refused."""
        if self.db is None:
            return {}
        try:
            return dict(self.db.execute("SELECT commit_id, reason FROM refused WHERE reader = ?",
                                        (_reader(),)).fetchall())
        except sqlite3.Error:
            return {}

    def refuse(self, items: list[tuple[str, str]]) -> None:
        if self.db is None or not items:
            return
        try:
            self.db.execute("BEGIN")
            self.db.executemany("INSERT OR REPLACE INTO refused VALUES (?, ?, ?)",
                                [(c, r, _reader()) for c, r in items])
            self.db.execute("COMMIT")
        except sqlite3.Error:
            pass


def _reader() -> str:
    from . import __version__

    return f"{__version__} schema {record.SCHEMA_VERSION}"
