"""Finding and opening the user's repository."""
from __future__ import annotations

import os
from dataclasses import dataclass

import pygit2

from . import settings
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
    """Open the repository containing ``start`` (default: the current directory),
    as git would: GIT_DIR and GIT_WORK_TREE (what ``git --git-dir=... --work-tree=...
    run`` sets) choose the repository and its working tree, GIT_CEILING_DIRECTORIES
    and GIT_DISCOVERY_ACROSS_FILESYSTEM bound the search, and ``git -c`` values
    (GIT_CONFIG_PARAMETERS, GIT_CONFIG_COUNT) are part of its config."""
    where = os.path.abspath(start or os.getcwd())
    if os.environ.get("GIT_DIR") or os.environ.get("GIT_WORK_TREE"):
        git, root = _open_from_environment(where)
    else:
        git = _discover(where)
        root = os.path.normpath(git.workdir) if git.workdir else None
    settings.overlay_command_line(git.config)
    git_dir = os.path.normpath(git.path)
    return Repo(git=git, git_dir=git_dir, common_dir=_common_dir(git_dir), root=root)


def _discover(where: str) -> pygit2.Repository:
    across = os.environ.get("GIT_DISCOVERY_ACROSS_FILESYSTEM", "").lower() in ("1", "true", "yes", "on")
    ceilings = os.environ.get("GIT_CEILING_DIRECTORIES", "")
    try:
        found = pygit2.discover_repository(where, across, ceilings)
    except pygit2.GitError as exc:
        raise NotARepository(f"cannot open a repository at {where}: {exc}") from None
    if found is None:
        raise NotARepository(f"not a git repository (or any parent up to /): {where}")
    try:
        return pygit2.Repository(found)
    except pygit2.GitError as exc:
        raise NotARepository(f"cannot open repository {found}: {exc}") from None


def _open_from_environment(where: str) -> tuple[pygit2.Repository, str | None]:
    """The repository and working tree that GIT_DIR/GIT_WORK_TREE name, by git's rules
    (git-config(1) core.worktree, git(1) GIT_DIR): the work tree is GIT_WORK_TREE, else
    core.worktree, else (GIT_DIR given) the current directory, unless the repository
    is bare.  Git sets GIT_DIR for every hook, so this path stays free of subprocesses."""
    # Absolute from here on, as git's own setup makes them, so that git commands we
    # run from another directory still find the same repository.
    for name in ("GIT_DIR", "GIT_WORK_TREE"):
        value = os.environ.get(name)
        if value:
            os.environ[name] = os.path.abspath(value)
    git_dir, work_tree = os.environ.get("GIT_DIR"), os.environ.get("GIT_WORK_TREE")
    if git_dir:
        try:
            git = pygit2.Repository(git_dir, pygit2.enums.RepositoryOpenFlag.NO_SEARCH)
        except pygit2.GitError as exc:
            raise NotARepository(f"not a git repository: '{git_dir}' (GIT_DIR): {exc}") from None
    else:
        git = _discover(where)
    if work_tree:
        root: str | None = os.path.normpath(work_tree)
    elif git.is_bare:
        root = None
    elif _has(git, "core.worktree"):
        root = os.path.normpath(git.workdir) if git.workdir else None
    else:
        root = where if git_dir else (os.path.normpath(git.workdir) if git.workdir else None)
    if root is not None and git.workdir != root + os.sep and os.path.normpath(git.workdir or "") != root:
        git.workdir = root
    return git, root


def _has(git: pygit2.Repository, key: str) -> bool:
    try:
        return key in git.config
    except (pygit2.GitError, ValueError):
        return False


def relative_to_root(repo_root: str, path: str) -> str | None:
    """``path`` relative to the root in POSIX form, or None when outside the tree."""
    real_root = os.path.realpath(repo_root)
    real = os.path.realpath(path)
    if real == real_root:
        return "."
    if not real.startswith(real_root + os.sep):
        return None
    return os.path.relpath(real, real_root).replace(os.sep, "/")


def open_at(where: str | os.PathLike[str] | Repo | None) -> Repo:
    """What the Python API's ``repo=`` argument names: an opened repository, a path
    inside one, or None for the current directory's."""
    if isinstance(where, Repo):
        return where
    return open_repo(os.fspath(where) if where is not None else None)
