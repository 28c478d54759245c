"""Tracking refs: what this repository last saw of each remote's runs.

A remote's ``refs/runs/<id>`` are mirrored into
``refs/gitruns/remotes/<remote>/<id>`` (force-updated, like ``refs/remotes/*``
for branches) by `git run fetch`, `git run ls --remote`, or a plain `git fetch`
with the refspec `git run remote setup` adds.  This module is their one home:
their names, reading them, and moving them.
"""
from __future__ import annotations

import pygit2

from . import gitcmd, runid
from .repo import Repo

TRACK_PREFIX = "refs/gitruns/remotes/"


def track_ref(remote: str, run_id: str) -> str:
    return f"{TRACK_PREFIX}{remote}/{run_id}"


def fetch_refspec(remote: str) -> str:
    """The refspec that mirrors ``remote``'s runs into its tracking refs."""
    return f"+refs/runs/*:{TRACK_PREFIX}{remote}/*"


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
    repo.git.references.create(track_ref(remote, rid), pygit2.Oid(hex=oid), force=True)


def fetch_tracking(repo: Repo, remote: str) -> None:
    """Mirror the remote's runs into its tracking refs (nothing local changes)."""
    gitcmd.git(["fetch", "--quiet", "--prune", "--no-write-fetch-head", remote, fetch_refspec(remote)],
               cwd=git_cwd(repo))


def sharing_state(repo: Repo, run_id: str, commit: str, tracking: dict[str, dict[str, str]]) -> dict[str, str]:
    """remote -> 'same' | 'ahead' (local has unpushed updates) | 'other' for one local run."""
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
