"""What the commit hooks say.

Before a commit (warnings; they block only with ``gitruns.hooks.block``):
- runs made since the last commit from uncommitted changes that the commit
  being made does not contain: their results would rest on code no branch holds;
- runs never pushed while the branch has an upstream;
- staged files that are declared outputs of runs (they belong in the cache).

After a commit: runs whose code is exactly the new commit's tree get an update
commit noting ``code.reproducible_from``.

Both run on every commit, so they read records through the listing cache and
print a few lines however many runs there are.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pygit2

from . import lookup, record, runid, runrefs, tracking
from .errors import ConcurrentUpdate
from .repo import Repo
from .terminal import safe

NEWEST = 3
RECORD_DIR = runrefs.RECORD_DIR


@dataclass
class Warnings:
    uncontained: list[tuple[str, str]] = field(default_factory=list)  # (run id, first differing path)
    unpushed: list[str] = field(default_factory=list)
    upstream: str | None = None
    staged_outputs: list[tuple[str, str]] = field(default_factory=list)  # (path, run id)
    all_ids: list[str] = field(default_factory=list)  # every visible run, for abbreviating ids

    def any(self) -> bool:
        return bool(self.uncontained or self.unpushed or self.staged_outputs)


def _staged_tree(repo: Repo) -> pygit2.Tree:
    # During `git commit -a` or `git commit -- path` git hands hooks a temporary
    # index in GIT_INDEX_FILE; the commit is made from that one.
    path = os.environ.get("GIT_INDEX_FILE") or os.path.join(repo.git_dir, "index")
    if not os.path.isabs(path):
        path = os.path.join(os.getcwd(), path)
    index = pygit2.Index(path)
    return repo.git[index.write_tree(repo.git)].peel(pygit2.Tree)


def _blob_at(tree: pygit2.Tree, path: str) -> str | None:
    try:
        return str(tree[path].id)
    except KeyError:
        return None


def _run_code_paths(rec: Mapping[str, Any]) -> list[str]:
    code = rec.get("code") or {}
    paths = [c["path"] for c in code.get("changed_files") or []]
    return paths + list(code.get("untracked_files") or [])


def pre_commit(repo: Repo) -> Warnings:
    git = repo.git
    out = Warnings()
    head = None if git.head_is_unborn else git.head.peel(pygit2.Commit)
    head_id = str(head.id) if head is not None else None
    staged = _staged_tree(repo)
    visible = lookup.all_runs(repo)
    out.all_ids = [r.id for r in visible]
    runs = [r for r in visible if r.source is None]

    verdicts: dict[str, str | None] = {}  # snapshot tree -> first path the commit lacks
    for run in runs:
        code: Mapping[str, Any] = run.record.get("code") or {}
        if code.get("commit") != head_id or not code.get("dirty") or code.get("reproducible_from"):
            continue
        snapshot = str(code.get("snapshot_tree"))
        if snapshot not in verdicts:
            # Runs from the same code share a verdict: judge each distinct snapshot once.
            run_tree = git[pygit2.Oid(hex=run.commit)].peel(pygit2.Tree)
            verdicts[snapshot] = next((p for p in _run_code_paths(run.record)
                                       if _blob_at(run_tree, p) != _blob_at(staged, p)), None)
        missing = verdicts[snapshot]
        if missing is not None:
            out.uncontained.append((run.id, missing))

    try:
        if head is not None and not git.head_is_detached:
            branch = git.branches.local[git.head.shorthand]
            upstream = branch.upstream
            if upstream is not None:
                out.upstream = str(upstream.remote_name)
                theirs = tracking.tracked(repo, out.upstream)
                out.unpushed = [r.id for r in runs if theirs.get(r.id) != r.commit]
    except (pygit2.GitError, KeyError, ValueError):
        pass

    base = head.tree if head is not None else None
    changed = staged.diff_to_tree(base, swap=True) if base is not None else staged.diff_to_tree(swap=True)
    staged_paths = {d.new_file.path for d in changed.deltas if d.status_char() in "AMRT"}
    if staged_paths:
        outputs: dict[str, str] = {}
        for run in reversed(runs):  # newest last, so the newest run names a path
            for art in run.record.get("artifacts") or []:
                if art.get("status") == "stored" and art.get("source") == "output":
                    outputs[str(art["path"])] = run.id
        for path in sorted(staged_paths):
            owner = outputs.get(path) or next(
                (rid for out_path, rid in outputs.items() if path.startswith(out_path + "/")), None)
            if owner:
                out.staged_outputs.append((path, owner))
    return out


def _ids(ids: list[str], abbrev: dict[str, str]) -> str:
    shown = ", ".join(abbrev.get(i, i[:10]) for i in ids[:NEWEST])
    return shown + (f" and {len(ids) - NEWEST} more" if len(ids) > NEWEST else "")


def render(w: Warnings) -> list[str]:
    abbrev = runid.abbreviations(w.all_ids)
    lines = []
    if w.uncontained:
        first_id, first_path = w.uncontained[0]
        lines.append(f"gitruns: {len(w.uncontained)} run(s) since the last commit used uncommitted code this "
                     f"commit does not contain ({safe(first_path)} differs for {abbrev.get(first_id, first_id)}): "
                     f"{_ids([i for i, _ in w.uncontained], abbrev)}")
    if w.unpushed:
        lines.append(f"gitruns: {len(w.unpushed)} run(s) not pushed to {w.upstream}: "
                     f"{_ids(w.unpushed, abbrev)} (git run push)")
    if w.staged_outputs:
        path, rid = w.staged_outputs[0]
        more = f" and {len(w.staged_outputs) - 1} more" if len(w.staged_outputs) > 1 else ""
        lines.append(f"gitruns: staged {safe(path)}{more} is an output of run {abbrev.get(rid, rid)}; "
                     "it belongs in the artifact cache, not in git")
    return lines


def post_commit(repo: Repo) -> list[str]:
    """Note on each run whose code is exactly HEAD's tree that HEAD reproduces it."""
    git = repo.git
    if git.head_is_unborn:
        return []
    head = git.head.peel(pygit2.Commit)
    tree = str(head.tree.id)
    noted = []
    for run in lookup.all_runs(repo):
        code: Mapping[str, Any] = run.record.get("code") or {}
        if run.source is not None or code.get("snapshot_tree") != tree or code.get("reproducible_from"):
            continue
        if not code.get("dirty"):
            continue  # already launched from a commit
        if record.effective_status(run.record) == "running":
            continue  # exec still owns the ref; it will be noted at the next commit
        rec = dict(run.record)
        rec["code"] = dict(code, reproducible_from=str(head.id))
        try:
            runrefs.update_record(repo, run.commit, rec, f"code = commit {str(head.id)[:12]}")
        except ConcurrentUpdate:
            continue
        noted.append(run.id)
    return noted
