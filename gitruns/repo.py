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
    """The repository and working tree that GIT_DIR/GIT_WORK_TREE name, as git itself
    resolves them (git's rules are subtle: with GIT_DIR alone, the current directory
    is the top of the working tree), asked of ``git rev-parse``."""
    from .gitcmd import run as run_cmd

    # Absolute from here on, as git's own setup makes them, so that git commands we
    # run from another directory still find the same repository.
    for name in ("GIT_DIR", "GIT_WORK_TREE"):
        value = os.environ.get(name)
        if value:
            os.environ[name] = os.path.abspath(value)
    proc = run_cmd(["git", "rev-parse", "--absolute-git-dir", "--is-bare-repository", "--show-toplevel"],
                   cwd=where, check=False)
    lines = proc.stdout.decode(errors="surrogateescape").splitlines()
    if len(lines) < 2:
        detail = proc.stderr.decode(errors="replace").strip().splitlines()
        reason = detail[-1].removeprefix("fatal: ") if detail else "not a git repository"
        raise NotARepository(f"{reason} (GIT_DIR={os.environ.get('GIT_DIR', '')!r}, "
                             f"GIT_WORK_TREE={os.environ.get('GIT_WORK_TREE', '')!r})")
    git_dir, bare = lines[0], lines[1] == "true"
    root = os.path.normpath(lines[2]) if len(lines) > 2 and proc.returncode == 0 and not bare else None
    try:
        git = pygit2.Repository(git_dir)
    except pygit2.GitError as exc:
        raise NotARepository(f"cannot open repository {git_dir}: {exc}") from None
    if root is not None:
        git.workdir = root
    return git, root


def relative_to_root(repo_root: str, path: str) -> str | None:
    """``path`` relative to the root in POSIX form, or None when outside the tree."""
    real_root = os.path.realpath(repo_root)
    real = os.path.realpath(path)
    if real == real_root:
        return "."
    if not real.startswith(real_root + os.sep):
        return None
    return os.path.relpath(real, real_root).replace(os.sep, "/")
