"""The exact code a run was launched from, written as a git tree.

The tree is built from a private copy of the index, updated with what the
working tree holds: modified tracked files as they are on disk, deletions, and
untracked files that are not ignored and not larger than a cap.  The user's
index file is only read; objects are written with pygit2.
"""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from typing import Any

import pygit2

from .errors import GitrunsError
from .hashing import StatCache, digest_file
from .repo import Repo

GITLINK = pygit2.enums.FileMode.COMMIT
FS = pygit2.enums.FileStatus


@dataclass
class CodeState:
    commit: str | None
    branch: str | None
    detached: bool
    dirty: bool
    snapshot_tree: str
    changed_files: list[dict[str, str]] = field(default_factory=list)
    untracked_files: list[str] = field(default_factory=list)
    untracked_large: list[dict[str, Any]] = field(default_factory=list)
    submodules: list[dict[str, Any]] = field(default_factory=list)

    def to_record(self) -> dict[str, Any]:
        return {
            "commit": self.commit,
            "branch": self.branch,
            "detached": self.detached,
            "dirty": self.dirty,
            "changed_files": self.changed_files,
            "untracked_files": self.untracked_files,
            "untracked_large": self.untracked_large,
            "submodules": self.submodules,
            "snapshot_tree": self.snapshot_tree,
            "reproducible_from": None,
        }


def _head(git: pygit2.Repository) -> tuple[pygit2.Commit | None, str | None, bool]:
    if git.head_is_unborn:
        target = git.references.get("HEAD")
        branch = None
        if target is not None and target.type == pygit2.enums.ReferenceType.SYMBOLIC:
            branch = str(target.target).removeprefix("refs/heads/")
        return None, branch, False
    head = git.head
    commit = head.peel(pygit2.Commit)
    if git.head_is_detached:
        return commit, None, True
    return commit, head.shorthand, False


def _status_letter(flags: int) -> str:
    if flags & (FS.INDEX_DELETED | FS.WT_DELETED):
        return "D"
    if flags & FS.INDEX_NEW:
        return "A"
    if flags & (FS.INDEX_RENAMED | FS.WT_RENAMED):
        return "R"
    if flags & (FS.INDEX_TYPECHANGE | FS.WT_TYPECHANGE):
        return "T"
    return "M"


def _blob_for(git: pygit2.Repository, root: str, rel: str) -> tuple[pygit2.Oid, pygit2.enums.FileMode] | None:
    full = os.path.join(root, rel)
    try:
        st = os.lstat(full)
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(st.st_mode):
        return git.create_blob(os.fsencode(os.readlink(full))), pygit2.enums.FileMode.LINK
    if not stat.S_ISREG(st.st_mode):
        return None
    mode = pygit2.enums.FileMode.BLOB_EXECUTABLE if st.st_mode & 0o100 else pygit2.enums.FileMode.BLOB
    try:
        oid = git.create_blob_fromworkdir(rel)  # applies .gitattributes filters, like git add
    except (pygit2.GitError, OSError, KeyError):
        try:
            oid = git.create_blob_fromdisk(full)
        except (pygit2.GitError, OSError) as exc:
            raise GitrunsError(f"cannot read {rel} for the code snapshot: {exc}") from None
    return oid, mode


def _private_index(repo: Repo, head: pygit2.Commit | None) -> pygit2.Index:
    try:
        return pygit2.Index(os.path.join(repo.git_dir, "index"))
    except (pygit2.GitError, OSError):
        # An index libgit2 cannot read (a split index, say): start from HEAD instead.
        idx = pygit2.Index()
        if head is not None:
            idx.read_tree(head.tree)
        return idx


def _submodule_head(root: str, rel: str) -> tuple[str | None, bool]:
    try:
        sub = pygit2.Repository(os.path.join(root, rel))
    except pygit2.GitError:
        return None, False
    if sub.head_is_unborn:
        return None, False
    dirty = any(
        f != FS.IGNORED and not (f == FS.WT_NEW) for f in sub.status(untracked_files="no").values()
    )
    return str(sub.head.target), dirty


def capture(repo: Repo, untracked_max: int, statcache: StatCache, exclude: tuple[str, ...] = ()) -> CodeState:
    """Describe the code at launch and write its exact tree into the object store.

    ``exclude`` names paths (relative to the root) of the run's declared
    outputs: untracked files there are results of earlier runs, not code.
    """
    root = repo.require_worktree()
    git = repo.git
    head, branch, detached = _head(git)
    idx = _private_index(repo, head)
    try:
        status = git.status(untracked_files="all", ignored=False)
    except pygit2.GitError as exc:
        raise GitrunsError(f"cannot read the working tree status: {exc}") from None

    changed: list[dict[str, str]] = []
    untracked: list[str] = []
    large: list[dict[str, Any]] = []
    conflicted = {p for p, f in status.items() if f & FS.CONFLICTED}
    if conflicted:
        for path in conflicted:
            try:
                del idx.conflicts[path]
            except (KeyError, pygit2.GitError):
                pass

    gitlinks = {e.path for e in idx if e.mode == GITLINK}
    for path, flags in sorted(status.items()):
        if flags & FS.IGNORED or path.endswith("/"):
            continue
        if path in gitlinks:
            changed.append({"path": path, "status": "M"})
            continue  # a submodule's commit is taken from its own HEAD below
        if flags == FS.WT_NEW:
            if any(path == e or path.startswith(e + "/") for e in exclude):
                continue
            full = os.path.join(root, path)
            try:
                st = os.lstat(full)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode) and st.st_size > untracked_max:
                large.append({"path": path, "size": st.st_size, "digest": _digest(full, st, statcache)})
                continue
            made = _blob_for(git, root, path)
            if made is not None:
                idx.add(pygit2.IndexEntry(path, made[0], made[1]))
                untracked.append(path)
            continue
        changed.append({"path": path, "status": _status_letter(flags)})
        if flags & (FS.WT_MODIFIED | FS.WT_TYPECHANGE | FS.WT_RENAMED | FS.WT_DELETED) or path in conflicted:
            made = _blob_for(git, root, path)
            if made is None:
                try:
                    idx.remove(path)
                except (pygit2.GitError, OSError, KeyError):
                    pass
            else:
                idx.add(pygit2.IndexEntry(path, made[0], made[1]))

    submodules: list[dict[str, Any]] = []
    for entry in list(idx):
        if entry.mode == GITLINK:
            commit, sub_dirty = _submodule_head(root, entry.path)
            if commit and commit != str(entry.id):
                idx.add(pygit2.IndexEntry(entry.path, pygit2.Oid(hex=commit), GITLINK))
            submodules.append({"path": entry.path, "commit": commit or str(entry.id), "dirty": sub_dirty})
    try:
        tree_oid = idx.write_tree(git)
    except pygit2.GitError as exc:
        raise GitrunsError(f"cannot write the code snapshot: {exc}") from None
    dirty = head is None and len(idx) > 0 or head is not None and head.tree.id != tree_oid
    return CodeState(
        commit=str(head.id) if head is not None else None,
        branch=branch,
        detached=detached,
        dirty=bool(dirty),
        snapshot_tree=str(tree_oid),
        changed_files=changed,
        untracked_files=untracked,
        untracked_large=large,
        submodules=submodules,
    )


def _digest(full: str, st: os.stat_result, statcache: StatCache) -> str:
    real = os.path.realpath(full)
    digest = statcache.lookup(real, st)
    if digest is None:
        digest = digest_file(full)
        statcache.store(real, st, digest)
    return digest
