"""A push with nothing new, answered without libgit2, and the pieces of push that
need no repository object (the remote's refs, a remote's local path, the runs a
store is known to hold).

`git run push` when the remote already has every run and promotion spent most of
its time importing pygit2 (90 ms of 250 ms at 1,000 runs).  ``nothing_to_push``
answers that case with four git commands (rev-parse, config, for-each-ref,
ls-remote) and the store's own files, and only when it is certain; anything else
(a run to send, a tracking ref to correct, a store not known to hold every run's
objects, an object to repair, a setting it does not read the way libgit2 does)
returns None, and the full push decides everything again.
"""
from __future__ import annotations

import os
import sqlite3
import subprocess
import urllib.parse
from typing import Any

from . import gitcmd, promotion, runid
from .cache import QUARANTINE, default_root
from .errors import GitCommandError, GitrunsError
from .hashing import digest_bytes
from .shareresult import PushResult, SyncReport


class _NotSure(Exception):
    """The answer is not certain here: the full push decides."""


class RemoteRefs:
    """The remote's runs (id -> commit) and promotions (name -> commit), from one
    ``git ls-remote`` started at once and read with :meth:`result`, so that the
    remote answers while the local refs are read.  Run in ``cwd``, the working
    tree's top (see tracking.git_cwd).  ``close`` ends it if it is not read."""

    def __init__(self, cwd: str, remote: str) -> None:
        self.argv = ["git", "ls-remote", "--refs", remote, "refs/runs/*", "refs/promoted/*"]
        self.proc: subprocess.Popen[bytes] | None = None
        try:
            self.proc = subprocess.Popen(self.argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE)
        except OSError as exc:
            self.error = GitCommandError(self.argv, 127, str(exc))

    def result(self) -> tuple[dict[str, str], dict[str, str]]:
        if self.proc is None:
            raise self.error
        out, err = self.proc.communicate()
        if self.proc.returncode != 0:
            raise GitCommandError(self.argv, self.proc.returncode, err.decode(errors="replace"))
        refs, promoted = {}, {}
        for line in out.decode(errors="replace").splitlines():
            oid, _, name = line.partition("\t")
            if name.startswith(promotion.REF_PREFIX):
                pname = name[len(promotion.REF_PREFIX):]
                if promotion.name_problem(pname) is None:
                    promoted[pname] = oid
                continue
            rid = name.removeprefix(runid.REF_PREFIX)
            if runid.is_valid(rid):
                refs[rid] = oid
        return refs, promoted

    def close(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            self.proc.communicate()


def local_path_of(url: str, base: str) -> str | None:
    """The filesystem path of a remote given as a path or file:// URL, else None."""
    if url.startswith("file://"):
        return url[len("file://"):]
    if "://" in url or (":" in url.split("/", 1)[0] and not os.path.exists(url)):
        return None  # a URL or scp-like host:path
    return os.path.normpath(os.path.join(base, url))


class Confirmed:
    """Run commits whose objects (those this clone holds) are known to be in a store.

    So that push can upload what the store lacks for runs the remote already has
    (pushed with plain git, or before a store was configured) without asking the
    store about every object of every run on every push: each run commit is
    checked once per store.  Kept in SQLite in the state dir; losing it only
    costs one more check."""

    def __init__(self, state_dir: str, store_url: str) -> None:
        self.key = digest_bytes(store_url.encode())  # the URL may hold a password
        self.db: Any = None
        self.added: list[str] = []
        try:
            os.makedirs(state_dir, exist_ok=True)
            self.db = sqlite3.connect(os.path.join(state_dir, "stores.sqlite"), timeout=30,
                                      isolation_level=None)
            self.db.execute("CREATE TABLE IF NOT EXISTS confirmed (store TEXT, run_commit TEXT, "
                            "PRIMARY KEY (store, run_commit))")
            self.done = {row[0] for row in self.db.execute(
                "SELECT run_commit FROM confirmed WHERE store = ?", (self.key,))}
        except sqlite3.Error:
            self.db, self.done = None, set()

    def add(self, commit: str) -> None:
        self.added.append(commit)

    def close(self) -> None:
        """Keep what was confirmed, in one transaction (one disk sync, not one a run)."""
        if self.db is None:
            return
        try:
            if self.added:
                with self.db:
                    self.db.execute("BEGIN")
                    self.db.executemany("INSERT OR IGNORE INTO confirmed VALUES (?, ?)",
                                        [(self.key, c) for c in self.added])
        except sqlite3.Error:
            pass  # only costs one more check next time
        finally:
            self.db.close()


def nothing_to_push(remote: str | None, start: str | None = None) -> PushResult | None:
    """What ``sharing.push(remote)`` (every run, no ids) would return when the remote
    already has every local run and promotion, the tracking refs say so, and the
    remote's directory store (if any) is known to hold their objects; None when
    that is not certain.  ``start``: a directory inside the repository (default:
    the current one)."""
    if os.environ.get("GIT_DIR") or os.environ.get("GIT_WORK_TREE"):
        return None  # repo.open_repo's rules for these are not repeated here
    try:
        return _nothing_to_push(remote, os.path.abspath(start or os.getcwd()))
    except (_NotSure, GitrunsError, OSError, ValueError, UnicodeDecodeError):
        return None  # the full push runs, and reports whatever is wrong


def _nothing_to_push(given: str | None, cwd: str) -> PushResult:
    proc = gitcmd.run(["git", "rev-parse", "--path-format=absolute", "--git-common-dir", "--show-toplevel"],
                      cwd=cwd, check=False)
    lines = proc.stdout.decode().splitlines()
    if proc.returncode != 0 or len(lines) != 2:
        raise _NotSure("a bare repository has no top level")
    common_dir, top = lines
    config = _config(top)
    names = {key[len("remote."):].rsplit(".", 1)[0] for key in config
             if key.startswith("remote.") and key.rsplit(".", 1)[1] in ("url", "pushurl")}
    if given:
        if given not in names:
            raise _NotSure("no such remote: the full push says so")
        name = given
    elif len(names) == 1:
        name = next(iter(names))  # the only remote is the default whatever the branch's upstream
    else:
        raise _NotSure("the current branch's upstream decides, as libgit2 reads it")
    if any(c in name for c in "*?[\\"):
        raise _NotSure("a for-each-ref pattern would read the name as a glob")
    store = _store(config, name, top)
    there = RemoteRefs(top, name)
    try:
        return _compare(name, top, common_dir, store, there)
    finally:
        there.close()


def _compare(name: str, top: str, common_dir: str, store: tuple[str, str] | None, there: RemoteRefs) -> PushResult:
    pairs = []
    out = gitcmd.git(["for-each-ref", "--format=%(objectname) %(symref) %(refname)", "refs/runs", "refs/promoted",
                      f"refs/gitruns/remotes/{name}", f"refs/gitruns/promoted/{name}"], cwd=top)
    for line in out.splitlines():
        oid, symref, ref = line.split(" ", 2)
        if symref:
            raise _NotSure("libgit2 reads a symbolic ref's target differently")
        pairs.append((ref, oid))
    from .tracking import scan_refs

    refs = scan_refs(pairs, name)
    theirs, their_promoted = there.result()
    for mine, remote_has, tracked in ((refs.runs, theirs, refs.tracked),
                                      (refs.promoted, their_promoted, refs.tracked_promoted)):
        if any(remote_has.get(key) != oid or tracked.get(key) != oid for key, oid in mine.items()):
            raise _NotSure("something to push, or a tracking ref to correct")
    if store is not None:
        url, root = store
        confirmed = Confirmed(os.path.join(common_dir, "gitruns"), url)
        try:
            if any(oid not in confirmed.done for oid in refs.runs.values()):
                raise _NotSure("objects to check (and maybe upload) first")
        finally:
            confirmed.close()
        try:
            if os.listdir(os.path.join(root, QUARANTINE)):
                raise _NotSure("objects the store set aside, maybe to repair from here")
        except (FileNotFoundError, NotADirectoryError):
            pass
    return PushResult(name, SyncReport(unchanged=sorted(refs.runs)), has_store=store is not None,
                      promotions=SyncReport(unchanged=sorted(refs.promoted)))


def _config(top: str) -> dict[str, list[str]]:
    """remote.* and url.* settings, each key's values in git's order (the last wins)."""
    proc = gitcmd.run(["git", "config", "-z", "--get-regexp", r"^(remote|url)\."], cwd=top, check=False)
    if proc.returncode not in (0, 1):  # 1: none set
        raise _NotSure("git config failed")
    out: dict[str, list[str]] = {}
    for entry in proc.stdout.decode().split("\0"):
        if entry:
            key, _, value = entry.partition("\n")
            out.setdefault(key, []).append(value)
    if any(key.startswith("url.") for key in out):
        raise _NotSure("insteadOf rewrites the remote's URL: libgit2 applies it")
    return out


def _store(config: dict[str, list[str]], name: str, top: str) -> tuple[str, str] | None:
    """(URL as push keys it, directory) of the remote's store, as artifactstore.store_for
    finds it; None for no store."""
    configured = config.get(f"remote.{name}.gitrunsstore")
    if configured:
        url = configured[-1]
        parts = urllib.parse.urlsplit(url)
        if parts.scheme.lower() not in ("", "file"):
            raise _NotSure("a store elsewhere: its quarantine is listed through fsspec")
        path = parts.path if parts.scheme.lower() == "file" else url
        return url, os.path.abspath(os.path.expanduser(path))
    urls = config.get(f"remote.{name}.url") or []
    if len(urls) != 1:
        raise _NotSure("several URLs: which one libgit2 takes")
    there = local_path_of(urls[0], top)
    if there is None:
        return None
    git_dir = os.path.join(there, ".git") if os.path.isdir(os.path.join(there, ".git")) else there
    url = default_root(os.path.join(git_dir, "gitruns"))
    return url, url
