"""A linked worktree holding a given code tree, for runs that must not touch the
user's working tree (rerun, reproduce, resume, sweep).

The worktree is moved to the commit the code was based on (``git reset --hard``,
which writes only the files that differ and leaves an index whose stat data
matches them), emptied of anything else (``git clean -ffdx``), and the run's
uncommitted changes are written into its files (the index stays at the commit):
it looks exactly as the user's did when the run was launched (HEAD at the same
commit, the same uncommitted changes), so the new run records the same code.
The user's index, HEAD, branches and working tree are not touched; git keeps
the worktree's administrative files under ``.git/worktrees/``.

Worktrees live under the common git dir (``gitruns/worktrees/pool-<n>``), on
the same file system as the artifact cache, and are kept between uses, locked
(``git worktree lock``) against ``git worktree prune``: a fresh checkout of
20,000 files costs seconds, moving a kept one costs what differs.  Each is held
with a file lock while in use, so concurrent reruns and sweep points take one
each; a process that is killed releases its lock, and the next use cleans the
worktree.  Deleting ``gitruns/worktrees/`` (then ``git worktree prune``) is safe
when nothing runs.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from collections.abc import Iterator

import pygit2

from . import gitcmd
from .errors import GitrunsError, PathError
from .gitnames import names_git_dir
from .repo import Repo
from .terminal import safe

# The git environment variables that would point git at the user's worktree.
_LOCAL_VARS = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_COMMON_DIR",
               "GIT_NAMESPACE", "GIT_PREFIX")


def git_env() -> dict[str, str]:
    """The environment for git commands run on a temporary worktree: the user's,
    without the variables that choose a repository, index or worktree."""
    env = {k: v for k, v in os.environ.items() if k not in _LOCAL_VARS}
    env["GIT_TERMINAL_PROMPT"] = "0"
    return env


def _git(args: list[str], cwd: str, check: bool = True) -> None:
    proc = gitcmd.run(["git", *args], cwd=cwd, env=git_env(), check=False)
    if check and proc.returncode != 0:
        detail = " ".join(proc.stderr.decode(errors="replace").split())[:300] or f"exit {proc.returncode}"
        raise GitrunsError(f"cannot make a temporary worktree: git {args[0]} {args[1] if len(args) > 1 else ''}"
                           f" failed: {detail}")


def base_dir(repo: Repo) -> str:
    return os.path.join(repo.state_dir, "worktrees")


def _remove(repo: Repo, path: str) -> None:
    _git(["worktree", "unlock", path], repo.common_dir, check=False)
    _git(["worktree", "remove", "--force", "--force", path], repo.common_dir, check=False)
    shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def temporary_worktree(repo: Repo, commit: str | None, tree: str, run_commit: str | None = None) -> Iterator[str]:
    """A worktree whose HEAD is ``commit`` (detached) and whose files are ``tree``,
    for this block only; its path.

    Worktrees are kept between uses (``pool-<n>`` under :func:`base_dir`, each held
    with a lock while in use): checking out 20,000 files costs seconds, while moving
    a kept one to another commit writes only the files that differ.  Each use starts
    from ``git reset --hard`` to the commit and ``git clean -ffdx`` (nothing of an
    earlier use survives), and the block's end cleans again.

    ``run_commit`` (a commit of the run's ref) lets a snapshot tree that is not an
    object of its own here (a dirty run fetched from a remote) be rebuilt: the run
    commit's tree less ``.gitruns``, checked to be ``tree``.  Every path the tree
    adds to the commit's is checked as git checks paths (no ``.git`` in any
    spelling, no ``..``, no symlinked ``.gitmodules``): a record is untrusted."""
    if commit is None:
        raise GitrunsError("the run was made in a repository with no commits yet; "
                           "a temporary worktree needs a commit to start from")
    try:
        repo.git[commit]
        if run_commit is not None and tree not in repo.git:
            _rebuild(repo, run_commit, tree)
        repo.git[tree]
    except (KeyError, ValueError, pygit2.GitError):
        raise GitrunsError(f"the code of the run is not in this repository (commit {commit[:12]}, "
                           f"tree {tree[:12]}); fetch it with git run fetch") from None
    base = base_dir(repo)
    os.makedirs(base, exist_ok=True)
    path, lock = _acquire(repo, base, commit)
    try:
        # The commit's files, with an index whose stat data matches them (so the new
        # run's snapshot finds them unchanged without hashing them again) ...
        _git(["reset", "--hard", "--quiet", "--no-recurse-submodules", commit], path)
        _git(["clean", "-ffdxq"], path)
        # ... then the run's uncommitted changes, as changes in the files only.
        _apply(repo, commit, tree, path)
        yield path
    finally:
        try:
            _git(["clean", "-ffdxq"], path, check=False)  # outputs and staged inputs go now
            _git(["reset", "--hard", "--quiet", "--no-recurse-submodules"], path, check=False)
        finally:
            os.close(lock)


def _busy(path: str) -> bool:
    """Whether a process has its working directory in ``path`` (the command of a
    rerun whose git-run was killed lives on; its worktree must not be reused yet).
    Linux's /proc; elsewhere nothing is known, and False is said."""
    real = os.path.realpath(path)
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return False
    for pid in pids:
        try:
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            continue
        if cwd == real or cwd.startswith(real + os.sep):
            return True
    return False


def _check_path(rel: str, mode: int) -> None:
    """Refuse a path git itself would not check out (its verify_path): a record is untrusted."""
    parts = rel.split("/")
    if rel.startswith("/") or any(p in ("", ".", "..") for p in parts) or any(names_git_dir(p) for p in parts):
        raise PathError(f"refusing the run's code: the path {safe(rel)!s} would be written into the git "
                        "directory or out of the worktree")
    if mode == pygit2.GIT_FILEMODE_LINK and parts[-1].lower() in (".gitmodules", ".gitattributes", ".gitignore",
                                                                   ".mailmap"):
        raise PathError(f"refusing the run's code: {safe(rel)} is a symbolic link git would not check out")


def _rebuild(repo: Repo, run_commit: str, tree: str) -> None:
    """Write the snapshot tree ``tree`` from the run commit's tree (its entries less
    ``.gitruns``); nothing is written unless it is exactly ``tree``."""
    top = repo.git[run_commit].peel(pygit2.Tree)
    builder = repo.git.TreeBuilder(top)
    if builder.get(".gitruns") is not None:
        builder.remove(".gitruns")
    built = builder.write()
    if str(built) != tree:
        raise GitrunsError(f"the code of the run is not in this repository (its snapshot tree {tree[:12]} "
                           "does not match the run's commit)")


def _lock(path: str, wait: bool) -> int | None:
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except OSError:
        os.close(fd)
        return None
    return fd


def _usable(repo: Repo, path: str) -> bool:
    """A kept worktree whose own git dir is git's record of it (not something a
    run wrote over its ``.git`` file) and whose top level is itself."""
    proc = gitcmd.run(["git", "rev-parse", "--show-toplevel", "--absolute-git-dir"], cwd=path, env=git_env(),
                      check=False)
    lines = proc.stdout.decode(errors="replace").splitlines()
    if proc.returncode != 0 or len(lines) != 2:
        return False
    admin = os.path.realpath(os.path.join(repo.common_dir, "worktrees"))
    git_dir = os.path.realpath(lines[1])
    return os.path.realpath(lines[0]) == os.path.realpath(path) and os.path.dirname(git_dir) == admin


def _acquire(repo: Repo, base: str, commit: str) -> tuple[str, int]:
    """A kept worktree not in use (made when all are), locked: its path and the lock."""
    guard = _lock(os.path.join(base, "pool.lock"), wait=True)
    assert guard is not None
    try:
        n = 0
        while True:
            path = os.path.join(base, f"pool-{n}")
            lock = _lock(f"{path}.lock", wait=False)
            if lock is None:
                n += 1  # in use
                continue
            if os.path.isdir(path) and _busy(path):
                os.close(lock)  # a process of an earlier use (killed rerun) still works in it
                n += 1
                continue
            if os.path.isdir(path) and _usable(repo, path):
                return path, lock
            try:
                _remove(repo, path)  # half made, or its git record pruned: made again
                _git(["worktree", "prune"], repo.common_dir, check=False)
                _git(["worktree", "add", "--detach", "--no-checkout", "--quiet", path, commit], repo.common_dir)
                _git(["worktree", "lock", "--reason", "gitruns: kept for reruns (safe to remove)", path],
                     repo.common_dir, check=False)
            except BaseException:
                os.close(lock)
                raise
            return path, lock
    finally:
        os.close(guard)


def _apply(repo: Repo, commit: str, tree: str, root: str) -> None:
    """Make the files under ``root`` (the commit's) those of ``tree``, leaving the
    index alone: what differs becomes uncommitted changes, as it was in the run."""
    git = repo.git
    base = git[commit].peel(pygit2.Tree)
    if str(base.id) == tree:
        return
    diff = base.diff_to_tree(git[tree].peel(pygit2.Tree))
    real_root = os.path.realpath(root)
    emptied: set[str] = set()
    deltas = list(diff.deltas)
    for delta in deltas:  # every path checked before any is written
        _check_path(delta.new_file.path, delta.new_file.mode)
        _check_path(delta.old_file.path, delta.old_file.mode)
    for delta in deltas:
        old, new = delta.old_file, delta.new_file
        if delta.status in (pygit2.GIT_DELTA_DELETED, pygit2.GIT_DELTA_MODIFIED, pygit2.GIT_DELTA_TYPECHANGE):
            target = _inside(real_root, old.path)
            if old.mode != pygit2.GIT_FILEMODE_COMMIT and os.path.lexists(target):
                if os.path.isdir(target) and not os.path.islink(target):
                    shutil.rmtree(target)
                else:
                    os.unlink(target)
                emptied.add(os.path.dirname(target))
        if delta.status in (pygit2.GIT_DELTA_ADDED, pygit2.GIT_DELTA_MODIFIED, pygit2.GIT_DELTA_TYPECHANGE):
            if new.mode == pygit2.GIT_FILEMODE_COMMIT:
                continue  # a submodule's commit: nothing to write
            target = _inside(real_root, new.path)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            data = git[new.id].read_raw()
            if new.mode == pygit2.GIT_FILEMODE_LINK:
                os.symlink(os.fsdecode(data), target)
            else:
                with open(target, "wb") as fh:
                    fh.write(data)
                if new.mode == pygit2.GIT_FILEMODE_BLOB_EXECUTABLE:
                    os.chmod(target, 0o755 & ~_umask())
    for parent in sorted(emptied, key=len, reverse=True):
        while parent != real_root and parent.startswith(real_root + os.sep):
            try:
                os.rmdir(parent)  # a directory whose last file the run had deleted
            except OSError:
                break
            parent = os.path.dirname(parent)


def _inside(real_root: str, rel: str) -> str:
    """``rel`` (a path git wrote into a tree) under the worktree; parents are real
    directories inside it (never a symlink out)."""
    target = os.path.join(real_root, rel)
    parent = os.path.realpath(os.path.dirname(target))
    if parent != real_root and not parent.startswith(real_root + os.sep):
        raise GitrunsError(f"cannot make a temporary worktree: {rel!r} leads out of it")
    return target


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def open_worktree(path: str) -> Repo:
    """The temporary worktree as a :class:`Repo`, whatever GIT_DIR says."""
    from . import settings
    from .repo import _common_dir

    git = pygit2.Repository(path)
    settings.overlay_command_line(git.config)
    git_dir = os.path.normpath(git.path)

    return Repo(git=git, git_dir=git_dir, common_dir=_common_dir(git_dir),
                root=os.path.normpath(git.workdir) if git.workdir else path)
