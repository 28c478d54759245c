"""Content hashes (XXH3-128) of files and directories, with a stat cache.

A digest is written ``xxh3_128:<32 hex>``.  The stat cache maps (path, size,
mtime, inode, device) to a digest, so an unchanged input is not read again.  A
file modified within the last two seconds is not cached: its mtime may not
change on a further write within the filesystem's timestamp granularity (git's
"racy" problem).
"""
from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import xxhash

from .errors import PathError
from .manifest import manifest_bytes

PREFIX = "xxh3_128:"
CHUNK = 1024 * 1024
_RACY_SECONDS = 2.0


def digest_bytes(data: bytes) -> str:
    return PREFIX + xxhash.xxh3_128_hexdigest(data)


def digest_file(path: str, advance: Callable[[int], None] | None = None) -> str:
    h = xxhash.xxh3_128()
    try:
        with open(path, "rb") as fh:
            while True:
                chunk = fh.read(CHUNK)
                if not chunk:
                    break
                h.update(chunk)
                if advance:
                    advance(len(chunk))
    except OSError as exc:
        raise PathError(f"cannot read {path}: {exc.strerror or exc}") from None
    return PREFIX + h.hexdigest()


def copy_and_digest(src: str, dest: int) -> str:
    """Copy ``src`` into the open file descriptor ``dest`` and return the digest of
    the bytes copied (one pass).  The caller opens ``dest`` itself (exclusively, not
    following symlinks) and keeps ownership of the descriptor."""
    h = xxhash.xxh3_128()
    with open(src, "rb") as fin, os.fdopen(dest, "wb", closefd=False) as fout:
        while chunk := fin.read(CHUNK):
            h.update(chunk)
            fout.write(chunk)
    return PREFIX + h.hexdigest()


def split_digest(digest: str) -> tuple[str, str]:
    algo, _, hexpart = digest.partition(":")
    if algo != "xxh3_128" or len(hexpart) != 32 or any(c not in "0123456789abcdef" for c in hexpart):
        raise ValueError(f"not an xxh3_128 digest: {digest!r}")
    return algo, hexpart


class StatCache:
    """(path, size, mtime_ns, inode, device) -> digest, kept in SQLite."""

    def __init__(self, db_path: str | None) -> None:
        self._db: sqlite3.Connection | None = None
        if db_path is None:
            return
        try:
            os.makedirs(os.path.dirname(db_path), exist_ok=True)
            self._db = sqlite3.connect(db_path, timeout=30, isolation_level=None)
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS stat (path TEXT PRIMARY KEY, size INTEGER, "
                "mtime_ns INTEGER, ino INTEGER, dev INTEGER, digest TEXT)"
            )
            # The git blob a file was stored as in a run's code snapshot, by its stat data
            # (ctime and mode too, as git compares them: a chmod changes no mtime).
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS blob (path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, "
                "ctime_ns INTEGER, ino INTEGER, dev INTEGER, st_mode INTEGER, git_mode INTEGER, oid TEXT)"
            )
        except sqlite3.Error:
            self._db = None  # the cache only saves time; never fail a run over it

    def lookup(self, path: str, st: os.stat_result) -> str | None:
        if self._db is None:
            return None
        try:
            row = self._db.execute(
                "SELECT size, mtime_ns, ino, dev, digest FROM stat WHERE path = ?", (path,)
            ).fetchone()
        except sqlite3.Error:
            return None
        if row and tuple(row[:4]) == (st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev):
            return str(row[4])
        return None

    def store(self, path: str, st: os.stat_result, digest: str) -> None:
        if self._db is None or time.time() - st.st_mtime < _RACY_SECONDS:
            return
        try:
            self._db.execute(
                "INSERT OR REPLACE INTO stat VALUES (?, ?, ?, ?, ?, ?)",
                (path, st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev, digest),
            )
        except sqlite3.Error:
            pass

    def blobs_under(self, root: str) -> BlobLookup:
        """The blobs files under ``root`` were stored as (read in one query: a dirty tree
        may have thousands)."""
        rows: dict[str, tuple[Any, ...]] = {}
        if self._db is not None:
            try:
                # Paths under root/ sort between "root/" and "root0" ('0' follows '/').
                for row in self._db.execute(
                    "SELECT path, size, mtime_ns, ctime_ns, ino, dev, st_mode, git_mode, oid FROM blob "
                    "WHERE path >= ? AND path < ?", (root + "/", root + "0"),
                ):
                    rows[row[0]] = tuple(row[1:])
            except sqlite3.Error:
                rows = {}
        return BlobLookup(rows)

    def store_blob(self, path: str, st: os.stat_result, git_mode: int, oid: str) -> None:
        if self._db is None or time.time() - max(st.st_mtime, st.st_ctime) < _RACY_SECONDS:
            return
        try:
            self._db.execute(
                "INSERT OR REPLACE INTO blob VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (path, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev, st.st_mode, git_mode, oid),
            )
        except sqlite3.Error:
            pass

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Group many stores into one transaction (one sync to disk, not one per file)."""
        began = False
        if self._db is not None and not self._db.in_transaction:
            try:
                self._db.execute("BEGIN")
                began = True
            except sqlite3.Error:
                began = False
        try:
            yield
        finally:
            if began and self._db is not None:
                try:
                    self._db.execute("COMMIT")
                except sqlite3.Error:
                    pass

    def close(self) -> None:
        if self._db is not None:
            self._db.close()


@dataclass
class BlobLookup:
    rows: dict[str, tuple[Any, ...]]

    def get(self, path: str, st: os.stat_result) -> tuple[int, str] | None:
        """(git mode, object id) of the blob ``path`` was stored as, if its stat data still match."""
        row = self.rows.get(path)
        if row and row[:6] == (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev, st.st_mode):
            return int(row[6]), str(row[7])
        return None


@dataclass
class HashedFile:
    rel: str  # path relative to the hashed root ('' for a single file)
    abspath: str
    size: int
    digest: str
    mode: int


@dataclass
class HashedPath:
    kind: str  # 'file' or 'dir'
    size: int
    digest: str
    files: list[HashedFile] = field(default_factory=list)
    bytes_read: int = 0
    cache_hits: int = 0


def _walk(root: str) -> list[str]:
    out: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != ".git")
        for name in filenames:
            out.append(os.path.join(dirpath, name))
    return sorted(out)


def hash_path(path: str, cache: StatCache, label: str | None = None) -> HashedPath:
    """Hash a file or a directory (recursively, following no symlinked dirs)."""
    from .progress import Progress

    try:
        st = os.stat(path)
    except OSError as exc:
        raise PathError(f"cannot read {path}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(st.st_mode):
        entries = []
        for f in _walk(path):
            try:
                fst = os.stat(f)
            except OSError as exc:
                raise PathError(f"cannot read {f}: {exc.strerror or exc}") from None
            if stat.S_ISREG(fst.st_mode):
                entries.append((f, fst))
    elif stat.S_ISREG(st.st_mode):
        entries = [(path, st)]
    else:
        raise PathError(f"{path} is neither a file nor a directory")
    total = sum(fst.st_size for _, fst in entries)
    progress = Progress(f"hashing {label or path}", total)
    files: list[HashedFile] = []
    read = hits = 0
    for abspath, fst in entries:
        real = os.path.realpath(abspath)
        digest = cache.lookup(real, fst)
        if digest is None:
            digest = digest_file(abspath, progress.advance)
            cache.store(real, fst, digest)
            read += fst.st_size
        else:
            hits += 1
            progress.advance(fst.st_size)
        rel = os.path.relpath(abspath, path).replace(os.sep, "/") if abspath != path else ""
        files.append(HashedFile(rel, abspath, fst.st_size, digest, fst.st_mode))
    progress.close()
    if stat.S_ISREG(st.st_mode):
        return HashedPath("file", st.st_size, files[0].digest, files, read, hits)
    return HashedPath("dir", total, digest_bytes(manifest_bytes(files)), files, read, hits)
