"""Tracking refs: what this repository last saw of each remote's runs.

A remote's ``refs/runs/<id>`` are mirrored into
``refs/gitruns/remotes/<remote>/<id>`` (force-updated, like ``refs/remotes/*``
for branches) by `git run fetch`, `git run ls --remote`, or a plain `git fetch`
with the refspec `git run remote setup` adds.  This module is their one home:
their names, reading them, and moving them.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from . import gitcmd, runid

if TYPE_CHECKING:
    from .repo import Repo

TRACK_PREFIX = "refs/gitruns/remotes/"
PROMOTED_TRACK_PREFIX = "refs/gitruns/promoted/"
ZERO = "0" * 40


def track_ref(remote: str, run_id: str) -> str:
    return f"{TRACK_PREFIX}{remote}/{run_id}"


def fetch_refspec(remote: str) -> str:
    """The refspec that mirrors ``remote``'s runs into its tracking refs."""
    return f"+refs/runs/*:{TRACK_PREFIX}{remote}/*"


def promoted_track_ref(remote: str, name: str) -> str:
    return f"{PROMOTED_TRACK_PREFIX}{remote}/{name}"


def promoted_fetch_refspec(remote: str) -> str:
    """The refspec that mirrors ``remote``'s promotions into its tracking refs."""
    return f"+refs/promoted/*:{PROMOTED_TRACK_PREFIX}{remote}/*"


def tracked_promotions(repo: Repo, remote: str) -> dict[str, str]:
    """promotion name -> commit id, as last seen on ``remote`` (names that are not
    valid promotion names are left out: they came from elsewhere)."""
    from .promotion import name_problem

    prefix = f"{PROMOTED_TRACK_PREFIX}{remote}/"
    out: dict[str, str] = {}
    for ref in repo.git.references.iterator():
        if ref.name.startswith(prefix):
            name = ref.name[len(prefix):]
            if name_problem(name) is None:
                out[name] = str(ref.target)
    return out


def parse_track_ref(name: str) -> tuple[str, str] | None:
    """(remote, run id) of a tracking ref's full name, or None for any other ref."""
    if not name.startswith(TRACK_PREFIX):
        return None
    where, _, rid = name[len(TRACK_PREFIX):].rpartition("/")
    if where and runid.is_valid(rid):
        return where, rid
    return None


def all_tracked(repo: Repo) -> dict[str, dict[str, str]]:
    """remote -> (run id -> commit id) for every remote with tracking refs."""
    out: dict[str, dict[str, str]] = {}
    for ref in repo.git.references.iterator():
        parsed = parse_track_ref(ref.name)
        if parsed is not None:
            out.setdefault(parsed[0], {})[parsed[1]] = str(ref.target)
    return out


def tracked(repo: Repo, remote: str) -> dict[str, str]:
    """run id -> commit id, as last seen on ``remote``."""
    return all_tracked(repo).get(remote, {})


def set_tracking(repo: Repo, remote: str, rid: str, oid: str) -> None:
    """Note that ``remote`` has run ``rid`` at commit ``oid`` (after a push that it took)."""
    import pygit2

    repo.git.references.create(track_ref(remote, rid), pygit2.Oid(hex=oid), force=True)


def update_refs(repo: Repo, updates: list[tuple[str, str, str | None]]) -> list[str]:
    """Move many refs in one ``git update-ref --stdin`` transaction (one lock and
    one packed-refs rewrite at most, not one of each a ref).

    ``updates``: (ref, new commit, old commit); old None forces the ref (tracking
    refs), old ``ZERO`` requires that the ref does not exist yet, any other old
    value must still be the ref's (compare-and-swap: a ref moved meanwhile is not
    overwritten).  A transaction is all or nothing, so when it fails the refs are
    moved one by one and those that could not be are returned."""
    if not updates:
        return []
    if _transaction(repo, updates):
        return []
    return [ref for ref, new, old in updates if not _transaction(repo, [(ref, new, old)])]


def _transaction(repo: Repo, updates: list[tuple[str, str, str | None]]) -> bool:
    lines = [f"update {ref} {new}" + (f" {old}" if old is not None else "") for ref, new, old in updates]
    proc = gitcmd.run(["git", "update-ref", "--stdin"], cwd=repo.git_dir, check=False,
                      input=("\n".join(lines) + "\n").encode())
    return proc.returncode == 0


@dataclass
class RefScan:
    """One pass over the refs, for one remote: local runs and promotions, and what
    was last seen of each there."""

    runs: dict[str, str] = field(default_factory=dict)  # run id -> commit
    promoted: dict[str, str] = field(default_factory=dict)  # promotion name -> commit
    tracked: dict[str, str] = field(default_factory=dict)  # run id -> commit last seen on the remote
    tracked_promoted: dict[str, str] = field(default_factory=dict)
    only_runs: bool = True  # every ref under refs/runs/ names a run


def scan(repo: Repo, remote: str) -> RefScan:
    """Local runs and promotions, and what was last seen of each on ``remote``, in one pass over the refs."""
    return scan_refs(((ref.name, str(ref.target)) for ref in repo.git.references.iterator()), remote)


def scan_refs(refs: Iterable[tuple[str, str]], remote: str) -> RefScan:
    """:func:`scan` of (ref name, commit) pairs, however they were read."""
    from .promotion import REF_PREFIX as PROMOTED
    from .promotion import name_problem

    RUNS = runid.REF_PREFIX  # noqa: N806 - as the promotions' prefix is named
    out = RefScan()
    track = f"{TRACK_PREFIX}{remote}/"
    track_promoted = f"{PROMOTED_TRACK_PREFIX}{remote}/"
    for name, target in refs:
        if name.startswith(RUNS):
            rid = name[len(RUNS):]
            if runid.is_valid(rid):
                out.runs[rid] = target
            else:
                out.only_runs = False
        elif name.startswith(PROMOTED):
            if name_problem(name[len(PROMOTED):]) is None:
                out.promoted[name[len(PROMOTED):]] = target
        elif name.startswith(track):
            if runid.is_valid(name[len(track):]):
                out.tracked[name[len(track):]] = target
        elif name.startswith(track_promoted):
            if name_problem(name[len(track_promoted):]) is None:
                out.tracked_promoted[name[len(track_promoted):]] = target
    return out


def note_tracking(repo: Repo, remote: str, seen: dict[str, str], current: dict[str, str] | None = None) -> None:
    """Note, in one transaction, that ``remote`` has each run (id -> commit) of
    ``seen``; tracking refs already right (``current``: as last read) are not
    written again."""
    if not seen:
        return
    current = tracked(repo, remote) if current is None else current
    update_refs(repo, [(track_ref(remote, rid), oid, None) for rid, oid in seen.items() if current.get(rid) != oid])


def note_promotions(repo: Repo, remote: str, seen: dict[str, str], current: dict[str, str] | None = None) -> None:
    """As note_tracking, for promotions (name -> commit)."""
    if not seen:
        return
    current = tracked_promotions(repo, remote) if current is None else current
    update_refs(repo, [(promoted_track_ref(remote, n), oid, None) for n, oid in seen.items()
                       if current.get(n) != oid])


def fetch_tracking(repo: Repo, remote: str) -> None:
    """Mirror the remote's runs and promotions into its tracking refs (nothing
    local changes), in one fetch."""
    gitcmd.git(["fetch", "--quiet", "--prune", "--no-write-fetch-head", remote, fetch_refspec(remote),
                promoted_fetch_refspec(remote)], cwd=git_cwd(repo))


def sharing_state(repo: Repo, run_id: str, commit: str, tracking: dict[str, dict[str, str]]) -> dict[str, str]:
    """remote -> 'same' | 'ahead' (local has unpushed updates) | 'other' for one local run."""
    import pygit2

    out = {}
    for name, runs in tracking.items():
        theirs = runs.get(run_id)
        if theirs is None:
            continue
        if theirs == commit:
            out[name] = "same"
        elif theirs in repo.git and repo.git.descendant_of(pygit2.Oid(hex=commit), pygit2.Oid(hex=theirs)):
            out[name] = "ahead"
        else:
            out[name] = "other"
    return out


def git_cwd(repo: Repo) -> str:
    """Where to run git for this repository: the working tree's top, as git itself
    does, so a remote given as a relative path (`../origin.git`) resolves as it
    does for `git push` and `git fetch`; the git dir of a bare repository."""
    return repo.root or repo.git_dir
