"""Finding and opening the user's repository."""
from __future__ import annotations

import os
from dataclasses import dataclass

import pygit2

from .errors import NotARepository, UsageError


@dataclass
class Repo:
    """An opened repository and the places gitruns keeps its own files."""

    git: pygit2.Repository
    git_dir: str  # this worktree's git dir
    common_dir: str  # shared by all worktrees
    root: str | None  # working tree root; None for a bare repository

    @property
    def state_dir(self) -> str:
        """Where gitruns keeps its cache and working files (shared by worktrees)."""
        return os.path.join(self.common_dir, "gitruns")

    def require_worktree(self) -> str:
        if self.root is None:
            raise UsageError("this command needs a working tree, and this repository is bare")
        return self.root


def _common_dir(git_dir: str) -> str:
    marker = os.path.join(git_dir, "commondir")
    try:
        with open(marker, encoding="utf-8") as fh:
            rel = fh.read().strip()
    except OSError:
        return git_dir
    return os.path.normpath(os.path.join(git_dir, rel))


def open_repo(start: str | None = None) -> Repo:
    """Open the repository containing ``start`` (default: the current directory)."""
    where = os.path.abspath(start or os.getcwd())
    try:
        found = pygit2.discover_repository(where)
    except pygit2.GitError as exc:
        raise NotARepository(f"cannot open a repository at {where}: {exc}") from None
    if found is None:
        raise NotARepository(f"not a git repository (or any parent up to /): {where}")
    try:
        git = pygit2.Repository(found)
    except pygit2.GitError as exc:
        raise NotARepository(f"cannot open repository {found}: {exc}") from None
    git_dir = os.path.normpath(git.path)
    root = os.path.normpath(git.workdir) if git.workdir else None
    return Repo(git=git, git_dir=git_dir, common_dir=_common_dir(git_dir), root=root)


def relative_to_root(repo_root: str, path: str) -> str | None:
    """``path`` relative to the root in POSIX form, or None when outside the tree."""
    real_root = os.path.realpath(repo_root)
    real = os.path.realpath(path)
    if real == real_root:
        return "."
    if not real.startswith(real_root + os.sep):
        return None
    return os.path.relpath(real, real_root).replace(os.sep, "/")
