"""Sharing runs through git remotes, with the git CLI (users' credentials, ssh
config and helpers work unchanged).

A remote's runs are mirrored into its tracking refs (see ``tracking``), then
folded into ``refs/runs/*`` only by fast-forward: a run that changed in two
places is reported as diverged and never overwritten.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pygit2

from . import gitcmd, promotion
from .bounds import MAX_RECORD_BYTES
from .catfile import read_blobs
from .errors import GitCommandError, RecordError, UsageError
from .quickpush import RemoteRefs
from .recordread import UnreadableRecord, prefetch_records, read_untrusted
from .repo import Repo
from .runrefs import RECORD_DIR, ref_name
from .shareresult import SyncReport as SyncReport
from .tracking import (
    ZERO,
    RefScan,
    fetch_refspec,
    fetch_tracking,
    git_cwd,
    note_promotions,
    note_tracking,
    promoted_fetch_refspec,
    scan,
    update_refs,
)


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


def fetch(repo: Repo, remote: str) -> tuple[SyncReport, SyncReport]:
    """Bring the remote's runs and promotions into tracking refs (one git fetch),
    then fast-forward local runs and promotions: (runs, promotions)."""
    fetch_tracking(repo, remote)
    refs = scan(repo, remote)
    return integrate(repo, remote, refs), integrate_promotions(repo, remote, refs)


def _judge(git: pygit2.Repository, key: str, mine: str | None, theirs: str, report: SyncReport,
           updates: list[tuple[str, str, str | None]], ref: str) -> None:
    """Where a fetched commit ``theirs`` stands against the local one: a new ref or a
    fast-forward (added to ``updates``), ahead here, or diverged (never overwritten)."""
    if mine is None:
        updates.append((ref, theirs, ZERO))
        report.new.append(key)
    elif git.descendant_of(pygit2.Oid(hex=theirs), pygit2.Oid(hex=mine)):
        updates.append((ref, theirs, mine))
        report.updated.append(key)
    elif git.descendant_of(pygit2.Oid(hex=mine), pygit2.Oid(hex=theirs)):
        report.ahead.append(key)
    else:
        report.diverged.append(key)


def _apply(repo: Repo, updates: list[tuple[str, str, str | None]], report: SyncReport,
           key_of: dict[str, str]) -> None:
    """Move the refs in one transaction; one that moved meanwhile is reported as
    diverged (it changed here while we fetched) and not overwritten."""
    failed = set(update_refs(repo, updates))
    for ref in failed:
        key = key_of[ref]
        for bucket in (report.new, report.updated):
            if key in bucket:
                bucket.remove(key)
        report.diverged.append(key)


def integrate(repo: Repo, remote: str, refs: RefScan | None = None) -> SyncReport:
    """Take the remote's valid runs into refs/runs/* (fast-forward only).

    Every record is bounded and validated before it is taken in; one refused
    record never stops the others.  The records are read in one ``git cat-file
    --batch`` and the refs moved in one transaction.  Refused commits are
    remembered, so `ls` does not warn again about what fetch reported."""
    from .terminal import warning_text

    git = repo.git
    report = SyncReport()
    refs = refs or scan(repo, remote)
    runs = sorted(refs.tracked.items())
    locals_ = refs.runs
    todo = [(rid, oid) for rid, oid in runs if locals_.get(rid) != oid]
    report.unchanged = [rid for rid, oid in runs if locals_.get(rid) == oid]
    # A partial clone lacks the records' blobs: one fetch for all, not one each.
    prefetch_records(git, [oid for _, oid in todo])
    refused: list[tuple[str, str]] = []
    updates: list[tuple[str, str, str | None]] = []
    raws = read_blobs(git.path, [f"{oid}:{RECORD_DIR}/run.json" for _, oid in todo], MAX_RECORD_BYTES)
    for rid, oid in todo:
        raw = raws.get(f"{oid}:{RECORD_DIR}/run.json")
        try:
            if raw is None or not accepts(raw, rid):
                read_untrusted(git, oid, rid)  # the slow way, which says why (or accepts)
        except (RecordError, KeyError, ValueError) as exc:
            reason = str(exc).removeprefix(f"run {rid}: ")
            report.invalid.append(f"{rid}: {warning_text(exc)}")
            if isinstance(exc, RecordError) and not isinstance(exc, UnreadableRecord):
                refused.append((oid, reason))
            continue
        _judge(git, rid, locals_.get(rid), oid, report, updates, ref_name(rid))
    _apply(repo, updates, report, {ref_name(rid): rid for rid, _ in todo})
    if refused:
        _remember_refused(repo, refused)
    return report


def _remember_refused(repo: Repo, refused: list[tuple[str, str]]) -> None:
    """Note refused commits in the run index (what `ls` reads), so it does not warn
    again about what fetch reported; losing the note only costs a warning."""
    import sqlite3

    from .runindex import RunIndex

    try:
        with RunIndex.open(repo, sync=False) as index:
            index.refuse(refused)
    except (sqlite3.Error, OSError):
        pass


def integrate_promotions(repo: Repo, remote: str, refs: RefScan | None = None) -> SyncReport:
    """Take the remote's valid promotions into refs/promoted/* as runs are taken:
    created when new, fast-forwarded when behind, reported when diverged; each
    record validated first (``promotion.read_untrusted``)."""
    from .terminal import warning_text

    git = repo.git
    report = SyncReport()
    refs = refs or scan(repo, remote)
    mine = refs.promoted
    updates: list[tuple[str, str, str | None]] = []
    for name, oid in sorted(refs.tracked_promoted.items()):
        if mine.get(name) == oid:
            report.unchanged.append(name)
            continue
        try:
            promotion.read_untrusted(git, oid, name)
        except (RecordError, KeyError, ValueError) as exc:
            report.invalid.append(f"{name}: {warning_text(exc)}")
            continue
        _judge(git, name, mine.get(name), oid, report, updates, promotion.ref_name(name))
    _apply(repo, updates, report, {promotion.ref_name(n): n for n in refs.tracked_promoted})
    return report


def accepts(raw: bytes, run_id: str) -> bool:
    """Whether run.json bytes fetched as run ``run_id`` are certainly valid, checked
    fast (bounds, then the compiled schema check of ``schemacheck``).  False means
    "not certain": the caller validates with jsonschema, which says why."""
    from . import bounds, schemacheck
    from .validation import _check_times

    try:
        bounds.check_size("run.json", len(raw))
        data = bounds.load_json(raw, "run.json")
        if not isinstance(data, dict) or data.get("id") != run_id or not schemacheck.run_record_ok(data):
            return False
        _check_times(data)
    except RecordError:
        return False
    return True


def remote_refs(repo: Repo, remote: str) -> RemoteRefs:
    """The remote's runs and promotions, from one ls-remote started now (read it
    with ``result()``; ``close()`` it when it may go unread)."""
    return RemoteRefs(git_cwd(repo), remote)


def _plan(git: pygit2.Repository, keys: list[str], local: dict[str, str], theirs: dict[str, str],
          report: SyncReport, seen: dict[str, str]) -> list[str]:
    todo = []
    for key in keys:
        mine = local[key]
        other = theirs.get(key)
        if other == mine:
            report.unchanged.append(key)
            seen[key] = mine
        elif other is None:
            todo.append(key)
        elif other in git and git.descendant_of(pygit2.Oid(hex=mine), pygit2.Oid(hex=other)):
            todo.append(key)
        elif other in git and git.descendant_of(pygit2.Oid(hex=other), pygit2.Oid(hex=mine)):
            report.behind.append(key)
        else:
            todo.append(key)  # unknown to us: let the remote judge; a non-fast-forward is rejected
    return todo


@dataclass
class PushPlan:
    """What a push will send: runs and promotions the remote lacks or that
    fast-forward there, and where each stands."""

    runs: list[str]
    report: SyncReport
    promotions: list[str] = field(default_factory=list)
    promoted: dict[str, str] = field(default_factory=dict)  # name -> local commit
    promotion_report: SyncReport = field(default_factory=SyncReport)


def plan_push(repo: Repo, remote: str, refs: RefScan, ids: list[str] | None,
              with_promotions: bool = True, there: RemoteRefs | None = None) -> PushPlan:
    """Which local runs (``refs.runs``: id -> commit) to push, and which local
    promotions: those whose commit the remote does not have yet.  A promotion's
    run goes too when the remote lacks it.  Tracking refs of what the remote
    already has are brought up to date in one transaction (none when they are)."""
    git = repo.git
    local = refs.runs
    theirs, their_promoted = (there or remote_refs(repo, remote)).result()
    plan = PushPlan([], SyncReport())
    seen: dict[str, str] = {}
    plan.runs = _plan(git, ids if ids is not None else sorted(local), local, theirs, plan.report, seen)
    note_tracking(repo, remote, seen, refs.tracked)
    if with_promotions:
        plan.promoted = refs.promoted
        seen = {}
        plan.promotions = _plan(git, sorted(plan.promoted), plan.promoted, their_promoted,
                                plan.promotion_report, seen)
        note_promotions(repo, remote, seen, refs.tracked_promoted)
        wanted = set(plan.runs)
        for name in plan.promotions:
            rid = _promoted_run(git, plan.promoted[name])
            if rid in local and rid not in theirs and rid not in wanted:
                plan.runs.append(rid)
                wanted.add(rid)
    return plan


def _promoted_run(git: pygit2.Repository, commit: str) -> str | None:
    try:
        return promotion.read_untrusted(git, commit)["run"]
    except (RecordError, KeyError, ValueError):
        return None  # the promotion is pushed as it is; its run is the remote's business


# Linux allows 2 MiB of arguments; a push command line stays well under it.
_MAX_ARGS = 512 * 1024


def push_refs(repo: Repo, remote: str, refs: dict[str, str], report: SyncReport,
              promoted: dict[str, str] | None = None, promotion_report: SyncReport | None = None,
              glob: bool = False) -> None:
    """Push run refs (``refs``: id -> commit) and promotions (name -> commit)
    without force, in one ``git push`` (more only past the command line's limit);
    record what the remote took (tracking refs: one transaction) and what it
    rejected.  Not --atomic: one refused ref never holds back the others.

    ``glob``: every local ref under refs/runs/ may go (the caller checked: no
    run left out, no bad record), so the runs go as one ``refs/runs/*`` refspec,
    which git matches far faster than a thousand named ones; refs the remote
    already has are no-ops and refs it has newer are refused by it without force,
    as they would be by name.  Only the refs in ``refs`` are reported."""
    specs = [] if glob else [(ref_name(r), "run", r) for r in refs]
    specs += [(promotion.ref_name(n), "promotion", n) for n in promoted or {}]
    by_ref_all = {ref_name(r): ("run", r) for r in refs}
    if glob and refs:
        specs.insert(0, ("refs/runs/*", "glob", ""))
    took: dict[str, str] = {}
    took_promoted: dict[str, str] = {}
    start = 0
    while start < len(specs):
        size, end = 0, start
        while end < len(specs) and (end == start or size + 2 * len(specs[end][0]) + 2 < _MAX_ARGS):
            size += 2 * len(specs[end][0]) + 2
            end += 1
        chunk = specs[start:end]
        start = end
        by_ref = {ref: (what, key) for ref, what, key in chunk if what != "glob"}
        if any(what == "glob" for _, what, _ in chunk):
            by_ref.update(by_ref_all)
        proc = gitcmd.run(["git", "push", "--porcelain", remote, *(f"{ref}:{ref}" for ref, _, _ in chunk)],
                          cwd=git_cwd(repo), check=False)
        seen = set()
        for line in proc.stdout.decode(errors="replace").splitlines():
            parts = line.split("\t")
            if len(parts) < 3 or ":" not in parts[1]:
                continue
            flag, refspec, summary = parts[0], parts[1], parts[2]
            found = by_ref.get(refspec.split(":", 1)[1])
            if found is None:
                continue
            what, key = found
            seen.add(key)
            rep = report if what == "run" else (promotion_report or SyncReport())
            if flag in (" ", "*", "+", "="):
                rep.pushed.append(key)
                if what == "run":
                    took[key] = refs[key]
                else:
                    took_promoted[key] = (promoted or {})[key]
            elif flag == "!":
                if "non-fast-forward" in summary or "fetch first" in summary:
                    rep.diverged.append(key)
                else:
                    rep.rejected.append(f"{key}: {summary}")
        if proc.returncode != 0 and not seen:
            raise GitCommandError(["git", "push", remote], proc.returncode,
                                  proc.stderr.decode(errors="replace"))
    # What the remote took is new there: its tracking refs are written without reading them first.
    note_tracking(repo, remote, took, {})
    note_promotions(repo, remote, took_promoted, {})


def setup(repo: Repo, remote: str) -> list[str]:
    """Add refspecs so plain `git fetch` and `git push` carry runs. Returns what was added."""
    config = repo.git.config
    added = []
    fetch_spec = fetch_refspec(remote)
    fetches = _multivar(config, f"remote.{remote}.fetch")
    if fetch_spec not in fetches:
        gitcmd.git(["config", "--add", f"remote.{remote}.fetch", fetch_spec], cwd=git_cwd(repo))
        added.append(f"remote.{remote}.fetch {fetch_spec}")
    promoted_spec = promoted_fetch_refspec(remote)
    if promoted_spec not in fetches:
        gitcmd.git(["config", "--add", f"remote.{remote}.fetch", promoted_spec], cwd=git_cwd(repo))
        added.append(f"remote.{remote}.fetch {promoted_spec}")
    pushes = _multivar(config, f"remote.{remote}.push")
    for push_spec in ("refs/runs/*:refs/runs/*", "refs/promoted/*:refs/promoted/*"):
        if push_spec in pushes:
            continue
        if not pushes:
            # Any push refspec replaces push.default; keep `git push` pushing the current branch.
            gitcmd.git(["config", "--add", f"remote.{remote}.push", "HEAD"], cwd=git_cwd(repo))
            added.append(f"remote.{remote}.push HEAD")
            pushes.append("HEAD")
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
