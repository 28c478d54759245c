"""A rerun's inputs, brought into its temporary worktree by digest.

Each recorded input (and each untracked file too large for the code snapshot)
comes from the code tree itself (``code``); else from the user's working tree
when the file there still has the recorded digest (``working_tree``); a file
there with other content refuses the rerun before anything runs (the data
changed since the run), unless changed inputs are allowed: then it is staged
as it is now and the difference is a change (``changed``).  Only an input the
working tree lacks (deleted, or a fresh clone) is brought back by digest from
the local artifact cache (``cache``) or the default remote's store (``store``),
where kept inputs and earlier runs' outputs are; found nowhere, it is refused.

Paths come from a record (untrusted): each is checked by name
(:func:`gitruns.checkout.check_path`) and written through checkout's restore
machinery, which never follows a symlink and verifies every byte it writes.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, cast

from . import record, staging
from .artifactstore import RemoteStore
from .cache import ArtifactCache
from .checkout import Restore, _forbidden_dirs, _restore, _Tree, check_path
from .errors import GitrunsError, PathError, UsageError
from .hashing import StatCache, hash_path
from .manifest import directory_listing, parse_manifest
from .repo import Repo
from .terminal import safe


class ChangedInputs(UsageError):
    """Inputs are not where they were with their recorded digest (exit 2)."""


@dataclass
class Prepared:
    sources: list[record.InputSource] = field(default_factory=list)
    changes: list[record.Change] = field(default_factory=list)


def _digest_of(path: str) -> str | None:
    if not os.path.lexists(path):
        return None
    try:
        return hash_path(path, StatCache(None)).digest
    except PathError:
        return None


def _wanted(rec: record.RunRecord) -> list[tuple[str, str, str, bool]]:
    """(path relative to the root, digest, kind, tracked) of what the run read and the
    snapshot may lack: its inputs, its steps' inputs that no step wrote, then the
    untracked files above the snapshot's cap."""
    out: list[tuple[str, str, str, bool]] = []
    seen: set[str] = set()
    for inp in rec.get("inputs") or []:
        path, digest = str(inp.get("path", "")), str(inp.get("digest", ""))
        if path in seen:
            continue
        seen.add(path)
        out.append((path, digest, str(inp.get("kind", "file")), bool(inp.get("tracked"))))
    # A pipeline's steps read files that no step of it writes: inputs of the run too.
    for step in rec.get("steps") or []:
        for sin in step.get("inputs") or []:
            path = str(sin.get("path", ""))
            if sin.get("kind") == "value" or sin.get("from_step") or not path or path in seen:
                continue
            seen.add(path)
            out.append((path, str(sin.get("digest", "")), str(sin.get("kind", "file")), False))
    code: Any = rec.get("code") or {}
    for big in code.get("untracked_large") or []:
        path = str(big.get("path", ""))
        if path and path not in seen and big.get("digest"):
            seen.add(path)
            out.append((path, str(big["digest"]), "file", False))
    return out


def _in_cache_or_store(digest: str, kind: str, cache: ArtifactCache, store: RemoteStore | None) -> str | None:
    if cache.has(digest):
        return "cache"
    if store is not None:
        try:
            if store.has(digest):
                return "store"
        except GitrunsError:
            return None
    return None


def _restore_by_digest(repo: Repo, worktree: str, path: str, digest: str, kind: str, cache: ArtifactCache,
                       store: RemoteStore | None) -> None:
    """Write ``path`` into the worktree from the cache (or the store), verified."""
    parts = check_path(path)
    if kind == "dir":
        listing = directory_listing(cache, store, digest, safe(path))
        items = [Restore(f"{path}/{rel}", d, size, exe, check_path(f"{path}/{rel}"))
                 for d, size, exe, rel in parse_manifest(listing, safe(path))]
    else:
        items = [Restore(path, digest, 0, False, parts)]
    tree = _Tree(worktree, _forbidden_dirs(repo, worktree, cache))
    try:
        for item in items:
            _restore(tree, item, cache, store)
    finally:
        tree.close()


def _clear(worktree: str, path: str) -> None:
    """Remove what the code tree has at ``path`` in the temporary worktree (never
    through a symlink: the path's directories are checked to stay inside it)."""
    import shutil

    target = os.path.join(worktree, *check_path(path))
    parent = os.path.realpath(os.path.dirname(target))
    root = os.path.realpath(worktree)
    if parent != root and not parent.startswith(root + os.sep):
        raise PathError(f"refusing input path '{safe(path)}': it leads out of the run's code")
    if os.path.islink(target) or os.path.isfile(target):
        os.unlink(target)
    elif os.path.isdir(target):
        shutil.rmtree(target)


def prepare(repo: Repo, worktree: str, rec: record.RunRecord, cache: ArtifactCache, store: RemoteStore | None,
            allow_changed: bool) -> Prepared:
    """Bring every input of ``rec`` into ``worktree``; say where each came from.
    Refuses (:class:`ChangedInputs`) before writing anything it cannot find."""
    user_root = repo.require_worktree()
    out = Prepared()
    plan: list[tuple[str, str, str, str]] = []  # path, digest, kind, how
    refused: list[str] = []
    for path, digest, kind, _tracked in _wanted(rec):
        check_path(path)
        here = os.path.join(worktree, path)
        if os.path.lexists(here) and _digest_of(here) == digest:
            plan.append((path, digest, kind, "code"))
            continue
        # Absent from the code, or only part of it there (a directory whose tracked
        # files came with the code, its untracked ones not).  The user's copy decides
        # first: the same digest is used as it is; other content means the data changed
        # since the run, which a rerun must not hide by quietly taking the kept copy
        # (refused, or with allow_changed used as it is now).  Only a missing one is
        # brought back by digest from the cache or the store.
        current = _digest_of(os.path.join(user_root, path))
        if current == digest:
            plan.append((path, digest, kind, "working_tree"))
            continue
        if current is not None:
            if allow_changed:
                plan.append((path, current, kind, "changed"))
                out.changes.append(cast(record.Change, {"kind": "input", "name": path, "from": digest,
                                                        "to": current}))
                continue
            refused.append(f"{safe(path)}: recorded {digest}, now {current} (changed)")
            continue
        where = _in_cache_or_store(digest, kind, cache, store)
        if where is not None:
            plan.append((path, digest, kind, where))
            continue
        refused.append(f"{safe(path)}: recorded {digest}, now missing (and no copy in the artifact cache "
                       "or the remote's store)")
    if refused:
        hint = ("; --allow-changed-inputs reruns with the files as they are now"
                if any(r.endswith("(changed)") for r in refused) else "")
        raise ChangedInputs(f"cannot rerun: {len(refused)} input{'s' if len(refused) > 1 else ''} not found "
                            f"with the recorded digest: {'; '.join(refused)}{hint}")
    for path, digest, kind, how in plan:
        if how != "code":
            _clear(worktree, path)
        if how in ("cache", "store"):
            _restore_by_digest(repo, worktree, path, digest, kind, cache, store)
        elif how in ("working_tree", "changed"):
            staging.stage(user_root, worktree, path)
        out.sources.append({"path": path, "digest": digest, "source": how})
    return out
