"""Sharing runs through git remotes, with the git CLI (users' credentials, ssh
config and helpers work unchanged).

A remote's runs are mirrored into its tracking refs (see ``tracking``), then
folded into ``refs/runs/*`` only by fast-forward: a run that changed in two
places is reported as diverged and never overwritten.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import pygit2

from . import gitcmd, runid
from .errors import GitCommandError, RecordError, UsageError
from .listingindex import ListingIndex
from .recordread import UnreadableRecord, prefetch_records, read_untrusted
from .repo import Repo
from .runrefs import REF_PREFIX, move_ref, ref_name
from .tracking import fetch_refspec, fetch_tracking, git_cwd, set_tracking, tracked


def remotes(repo: Repo) -> list[str]:
    return [n for n in repo.git.remotes.names() if n is not None]


def default_remote(repo: Repo, given: str | None = None) -> str:
    """The remote to use: the one given, the current branch's, 'origin', or the only one."""
    names = remotes(repo)
    if given:
        if given not in names:
            raise UsageError(f"no remote named '{given}' (remotes: {', '.join(names) or 'none'})")
        return given
    if not names:
        raise UsageError("this repository has no remotes: add one with 'git remote add NAME URL'")
    try:
        if not repo.git.head_is_unborn and not repo.git.head_is_detached:
            branch = repo.git.branches.local[repo.git.head.shorthand]
            upstream = branch.upstream
            if upstream is not None and upstream.remote_name in names:
                return str(upstream.remote_name)
    except (pygit2.GitError, KeyError, ValueError):
        pass
    if "origin" in names:
        return "origin"
    if len(names) == 1:
        return names[0]
    raise UsageError(f"several remotes ({', '.join(names)}): name one")


@dataclass
class SyncReport:
    new: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    ahead: list[str] = field(default_factory=list)  # local has commits the remote lacks
    behind: list[str] = field(default_factory=list)  # the remote has commits we lack
    diverged: list[str] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)
    pushed: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)


def fetch(repo: Repo, remote: str) -> SyncReport:
    """Bring the remote's runs into tracking refs, then fast-forward local runs."""
    fetch_tracking(repo, remote)
    return integrate(repo, remote)


def integrate(repo: Repo, remote: str) -> SyncReport:
    """Take the remote's valid runs into refs/runs/* (fast-forward only).

    Every record is bounded and validated before it is taken in; one refused
    record never stops the others.  Refused commits are remembered, so `ls`
    does not warn again about what fetch reported."""
    from .terminal import warning_text

    git = repo.git
    report = SyncReport()
    runs = sorted(tracked(repo, remote).items())
    locals_ = {rid: str(ref.target) for rid, ref in
               ((rid, git.references.get(ref_name(rid))) for rid, _ in runs) if ref is not None}
    # A partial clone lacks the records' blobs: one fetch for all, not one each.
    prefetch_records(git, [oid for rid, oid in runs if locals_.get(rid) != oid])
    refused: list[tuple[str, str]] = []
    for rid, oid in runs:
        name = ref_name(rid)
        local_oid = locals_.get(rid)
        if local_oid == oid:
            report.unchanged.append(rid)
            continue
        try:
            read_untrusted(git, oid, rid)
        except (RecordError, KeyError, ValueError) as exc:
            reason = str(exc).removeprefix(f"run {rid}: ")
            report.invalid.append(f"{rid}: {warning_text(exc)}")
            if isinstance(exc, RecordError) and not isinstance(exc, UnreadableRecord):
                refused.append((oid, reason))
            continue
        if local_oid is None:
            git.references.create(name, pygit2.Oid(hex=oid), force=False)
            report.new.append(rid)
        elif git.descendant_of(pygit2.Oid(hex=oid), pygit2.Oid(hex=local_oid)):
            move_ref(git, rid, local_oid, oid)
            report.updated.append(rid)
        elif git.descendant_of(pygit2.Oid(hex=local_oid), pygit2.Oid(hex=oid)):
            report.ahead.append(rid)
        else:
            report.diverged.append(rid)
    ListingIndex(repo).refuse(refused)
    return report


def remote_refs(repo: Repo, remote: str) -> dict[str, str]:
    out = gitcmd.git(["ls-remote", "--refs", remote, "refs/runs/*"], cwd=git_cwd(repo))
    refs = {}
    for line in out.splitlines():
        oid, _, name = line.partition("\t")
        rid = name.removeprefix(REF_PREFIX)
        if runid.is_valid(rid):
            refs[rid] = oid
    return refs


def plan_push(repo: Repo, remote: str, local: dict[str, str],
              ids: list[str] | None) -> tuple[list[str], SyncReport]:
    """Which of the ``local`` runs (id -> commit) to push: those whose commit the
    remote does not have yet."""
    git = repo.git
    theirs = remote_refs(repo, remote)
    report = SyncReport()
    todo = []
    for rid in ids if ids is not None else sorted(local):
        mine = local[rid]
        other = theirs.get(rid)
        if other == mine:
            report.unchanged.append(rid)
            set_tracking(repo, remote, rid, mine)
        elif other is None:
            todo.append(rid)
        elif other in git and git.descendant_of(pygit2.Oid(hex=mine), pygit2.Oid(hex=other)):
            todo.append(rid)
        elif other in git and git.descendant_of(pygit2.Oid(hex=other), pygit2.Oid(hex=mine)):
            report.behind.append(rid)
        else:
            todo.append(rid)  # unknown to us: let the remote judge; a non-fast-forward is rejected
    return todo, report


def push_refs(repo: Repo, remote: str, local: dict[str, str], ids: list[str], report: SyncReport,
              batch: int = 400) -> None:
    """Push run refs without force; record what the remote took and what it rejected."""
    for start in range(0, len(ids), batch):
        chunk = ids[start:start + batch]
        proc = gitcmd.run(["git", "push", "--porcelain", remote,
                           *(f"{ref_name(r)}:{ref_name(r)}" for r in chunk)],
                          cwd=git_cwd(repo), check=False)
        seen = set()
        for line in proc.stdout.decode(errors="replace").splitlines():
            parts = line.split("\t")
            if len(parts) < 3 or ":" not in parts[1]:
                continue
            flag, refspec, summary = parts[0], parts[1], parts[2]
            rid = refspec.split(":", 1)[1].removeprefix(REF_PREFIX)
            seen.add(rid)
            if flag in (" ", "*", "+", "="):
                report.pushed.append(rid)
                set_tracking(repo, remote, rid, local[rid])
            elif flag == "!":
                if "non-fast-forward" in summary or "fetch first" in summary:
                    report.diverged.append(rid)
                else:
                    report.rejected.append(f"{rid}: {summary}")
        if proc.returncode != 0 and not seen:
            raise GitCommandError(["git", "push", remote], proc.returncode,
                                         proc.stderr.decode(errors="replace"))


def setup(repo: Repo, remote: str) -> list[str]:
    """Add refspecs so plain `git fetch` and `git push` carry runs. Returns what was added."""
    config = repo.git.config
    added = []
    fetch_spec = fetch_refspec(remote)
    fetches = _multivar(config, f"remote.{remote}.fetch")
    if fetch_spec not in fetches:
        gitcmd.git(["config", "--add", f"remote.{remote}.fetch", fetch_spec], cwd=git_cwd(repo))
        added.append(f"remote.{remote}.fetch {fetch_spec}")
    pushes = _multivar(config, f"remote.{remote}.push")
    push_spec = "refs/runs/*:refs/runs/*"
    if push_spec not in pushes:
        if not pushes:
            # Any push refspec replaces push.default; keep `git push` pushing the current branch.
            gitcmd.git(["config", "--add", f"remote.{remote}.push", "HEAD"], cwd=git_cwd(repo))
            added.append(f"remote.{remote}.push HEAD")
        gitcmd.git(["config", "--add", f"remote.{remote}.push", push_spec], cwd=git_cwd(repo))
        added.append(f"remote.{remote}.push {push_spec}")
    return added


def _multivar(config: pygit2.Config, key: str) -> list[str]:
    try:
        return [v for v in config.get_multivar(key) if v is not None]
    except (pygit2.GitError, KeyError):
        return []


def remote_url(repo: Repo, remote: str) -> str:
    return str(repo.git.remotes[remote].url or "")


def local_path_of(url: str, base: str) -> str | None:
    """The filesystem path of a remote given as a path or file:// URL, else None."""
    if url.startswith("file://"):
        return url[len("file://"):]
    if "://" in url or (":" in url.split("/", 1)[0] and not os.path.exists(url)):
        return None  # a URL or scp-like host:path
    return os.path.normpath(os.path.join(base, url))
